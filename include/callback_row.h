/*
 * callback_row.h: a callback as stored, the layer below both the state
 * machine (callback.c) and ownership (handoff_*.c): its columns, loading
 * and locking many at once, the notify context of a row, and the case
 * timeline event every change appends. Nothing here decides anything, so
 * callback.c and the handoff modules can both build on it without calling
 * each other in a circle.
 */
#ifndef CBD_CALLBACK_ROW_H
#define CBD_CALLBACK_ROW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct store_tx;
struct store_rows;
struct notify_ctx;

/* Columns of CALLBACK_ROW_SELECT, in this order. */
enum callback_col {
	CALLBACK_COL_ID,
	CALLBACK_COL_CASE,
	CALLBACK_COL_CUSTOMER,
	CALLBACK_COL_OWNER,
	CALLBACK_COL_STATE,
	CALLBACK_COL_TOPIC,
	CALLBACK_COL_ASAP,
	CALLBACK_COL_DUE,
	CALLBACK_COL_NOTIFY,   /* "email,sms" */
	CALLBACK_COL_ATTEMPTS, /* calls tried so far */
	CALLBACK_COL_SEQ,      /* invite SEQUENCE */
	CALLBACK_COL_CREATED,
	CALLBACK_COL_UPDATED,
	CALLBACK_COL_CNAME, /* customer's name, as given with this booking */
	CALLBACK_COL_PHONE,
	CALLBACK_COL_EMAIL, /* NULL: none */
	CALLBACK_COL_TZ,    /* customer's zone, as given with this booking */
	CALLBACK_COL_OWNER_NAME,
	CALLBACK_COL_CLAIMED_BY,
	CALLBACK_COL_LEASE,
	CALLBACK_COL_LANGUAGE, /* canonical BCP 47; NULL: default_language */
	CALLBACK_COL_QUEUE,    /* routing queue id; 0: the default queue */
	CALLBACK_COL_PRIORITY, /* as booked (routing_queue.h) */
};

/* A callback with its customer and owner; append "WHERE ...". Name,
 * e-mail and zone are the ones given with this booking (the customer row
 * only for callbacks booked before they were kept): a booking by someone
 * who only knows the phone number never redirects another's messages. */
#define CALLBACK_ROW_SELECT                                                    \
	"SELECT c.id, c.case_id, c.customer_id, c.owner_id, c.state, "         \
	"c.topic, c.is_asap, c.due_at, c.notify, c.attempts, "                 \
	"c.ics_sequence, c.created_at, c.updated_at, "                         \
	"IF(c.contact_tz IS NULL, cu.name, c.contact_name), cu.phone, "        \
	"IF(c.contact_tz IS NULL, cu.email, c.contact_email), "                \
	"COALESCE(c.contact_tz, cu.timezone), a.display_name, c.claimed_by, "  \
	"c.lease_until, c.language, COALESCE(c.queue_id, 0), c.priority "      \
	"FROM callbacks c JOIN customers cu ON cu.id = c.customer_id "         \
	"JOIN agents a ON a.id = c.owner_id "

/*
 * Lock (FOR UPDATE, in id order, the one order every multi-row lock here
 * uses) and load callbacks by id; rows come back ordered by id, ids that do
 * not exist are simply absent. Caller frees; NULL with err.
 */
struct store_rows *callback_load_many(struct store_tx *tx, const int64_t *ids,
				      size_t n, struct cbd_err *err);
/* Row index of id in rows loaded by callback_load_many, or -1. */
ptrdiff_t callback_row_find(const struct store_rows *r, int64_t id);
/* The notify context of row i of such rows (borrows the rows' text). */
void callback_ctx_at(const struct store_rows *r, size_t i,
		     struct notify_ctx *c);
/* Append an event to the case timeline at clock_now() (steals body). */
int callback_event(struct store_tx *tx, int64_t case_id, int64_t callback_id,
		   const char *kind, const char *actor, json_t *body,
		   struct cbd_err *err) CBD_MUSTCHECK;

#endif
