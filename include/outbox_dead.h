/*
 * outbox_dead.h: the outbox's dead letters, for staff. A message is dead
 * when the dispatcher gave up on it, failed while it is still pending but
 * its last attempt failed (it waits for its next one). Staff list them
 * across callbacks and requeue one: it goes out again at once, under the
 * same message id, so a receiver that got it after all dedupes it.
 */
#ifndef CBD_OUTBOX_DEAD_H
#define CBD_OUTBOX_DEAD_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/*
 * A page of status "dead" or "failed" messages, newest first: outbox ids
 * below before_id (0: from the newest). *last_id is the last one given.
 */
int outbox_dead_list(struct store_tx *tx, const char *status, int64_t before_id,
		     int64_t limit, json_t **items, int64_t *last_id,
		     struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Send message id (the outbox row id) again now, with a fresh count of
 * attempts. Only a dead or failed message: 404 for none, 409 for any other
 * status. *out is the message as listed.
 */
int outbox_dead_requeue(struct store_tx *tx, int64_t id, json_t **out,
			struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Add to each message of a callback's list (outbox_list: items with "id")
 * "next_attempt_at" (when a pending one goes out next; null otherwise) and
 * "outbox_id" (what POST /v1/messages/{id}/requeue takes).
 */
int outbox_dead_annotate(struct store_tx *tx, int64_t callback_id,
			 json_t *items, struct cbd_err *err) CBD_MUSTCHECK;

#endif
