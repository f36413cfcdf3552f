/*
 * outbox.h: the durable queue of messages to send later: invites by e-mail,
 * SMS, and signed event webhooks. A message is a row written inside the
 * transaction of the change that causes it, so a committed change always
 * has its messages and a rolled-back one never does. The dispatcher claims
 * due rows with SELECT ... FOR UPDATE SKIP LOCKED and a lease, sends them
 * through curlloop, and records the result; several daemons may dispatch
 * from one database at once.
 */
#ifndef CBD_OUTBOX_H
#define CBD_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct config;
struct store_pool;
struct store_tx;
struct metrics;
struct outbox;

enum outbox_channel {
	OUTBOX_EMAIL,   /* iMIP invite over SMTP */
	OUTBOX_SMS,     /* text through the SMS gateway */
	OUTBOX_WEBHOOK, /* signed JSON event to the integration URL */
};

/*
 * Queue a message inside tx. kind names what it is ("invite",
 * "sms.reminder", "callback.booked" ...); payload is borrowed and stored as
 * JSON; due_at is when it may be sent (UTC). Returns 0, or -1 with err.
 */
int outbox_enqueue(struct store_tx *tx, enum outbox_channel channel,
		   const char *kind, int64_t callback_id, json_t *payload,
		   int64_t due_at, struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Mark a callback's unsent messages of these kinds as withdrawn: they
 * speak of a time, an owner or a call that no longer holds. kinds must be
 * a static list of literals (batch mode keeps the pointer; they go into
 * the SQL). A message already being sent is recorded as sent when its send
 * ends: that is what happened.
 */
int outbox_withdraw_pending(struct store_tx *tx, int64_t callback_id,
			    const char *const *kinds, size_t nkinds,
			    struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Bulk changes: between begin and end, outbox_enqueue and
 * outbox_withdraw_pending on this thread only gather their work, and end writes
 * it in a few statements. abort drops it (on a failed job).
 */
void outbox_batch_begin(void);
int outbox_batch_end(struct store_tx *tx, struct cbd_err *err) CBD_MUSTCHECK;
void outbox_batch_abort(void);

/* A callback's messages, oldest first, for staff. */
int outbox_list(struct store_tx *tx, int64_t callback_id, json_t **out,
		struct cbd_err *err) CBD_MUSTCHECK;

struct outbox *outbox_new(struct event_base *base, const struct config *cfg,
			  struct store_pool *pool, struct metrics *metrics);
/* Stop claiming and record what has finished (on SIGTERM). */
void outbox_stop(struct outbox *ob);
/* Stop dispatching; transfers in flight are abandoned (their leases
 * expire and another dispatcher sends them again). NULL ok. */
void outbox_free(struct outbox *ob);
/* Sends in flight (for drain on shutdown). */
int outbox_inflight(const struct outbox *ob);

#endif
