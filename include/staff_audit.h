/*
 * staff_audit.h: the trail of changes to access and to the outbox made by
 * staff (API keys created and revoked, messages requeued): who, when, what.
 * Append-only; written in the transaction of the change it records.
 */
#ifndef CBD_STAFF_AUDIT_H
#define CBD_STAFF_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/* Record action ("key.created", "key.revoked", "message.requeued") by
 * actor on subject_id with details body (stolen). */
int staff_audit_add(struct store_tx *tx, const char *actor, const char *action,
		    int64_t subject_id, json_t *body,
		    struct cbd_err *err) CBD_MUSTCHECK;
/* A page, newest first: entries with id < before_id (0: from the newest),
 * of one action when action is not NULL. *last_id is the last one given. */
int staff_audit_list(struct store_tx *tx, const char *action, int64_t before_id,
		     int64_t limit, json_t **items, int64_t *last_id,
		     struct cbd_err *err) CBD_MUSTCHECK;

#endif
