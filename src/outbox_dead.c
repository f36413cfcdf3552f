/*
 * outbox_dead.c: dead letters. Pages go by outbox id from the newest, as a
 * stable key over existing rows (ids interleave on Galera, so a page is no
 * "since" marker, only a place in this list).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "outbox_dead.h"
#include "store.h"

#define OUTBOX_DEAD_COLS                                                       \
	"id, msg_id, callback_id, channel, kind, status, attempts, due_at, "   \
	"lease_until, last_error, created_at"
/* Which rows each listed status means. */
#define OUTBOX_DEAD_WHERE                                                      \
	"((? = 'dead' AND status = 'dead') OR (? = 'failed' AND status = "     \
	"'pending' AND last_error IS NOT NULL))"

static json_t *
outbox_dead_row_json(const struct store_rows *r, size_t i)
{
	const char *cb = store_rows_str(r, i, 2),
		   *last = store_rows_str(r, i, 9);
	const char *status = store_rows_str(r, i, 5);
	int is_failed = strcmp(status, "pending") == 0 && last != NULL;
	int64_t due = store_rows_int(r, i, 7, 0);
	int64_t lease = store_rows_int(r, i, 8, 0);
	int64_t next = lease > due ? lease : due;
	json_t *o;

	o = json_pack("{s:I, s:s, s:o, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}",
		      "outbox_id", (json_int_t)store_rows_int(r, i, 0, 0), "id",
		      store_rows_str(r, i, 1), "callback_id",
		      cb ? json_integer(strtoll(cb, NULL, 10)) : json_null(),
		      "channel", store_rows_str(r, i, 3), "kind",
		      store_rows_str(r, i, 4), "status",
		      is_failed ? "failed" : status, "attempts",
		      (json_int_t)store_rows_int(r, i, 6, 0), "due_at",
		      api_time(due, NULL), "next_attempt_at",
		      strcmp(status, "pending") == 0 ? api_time(next, NULL)
						     : json_null(),
		      "last_error", last ? json_string(last) : json_null(),
		      "created_at",
		      api_time(store_rows_int(r, i, 10, 0), NULL));
	return o;
}

int
outbox_dead_list(struct store_tx *tx, const char *status, int64_t before_id,
		 int64_t limit, json_t **items, int64_t *last_id,
		 struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT " OUTBOX_DEAD_COLS " FROM outbox WHERE "
		"" OUTBOX_DEAD_WHERE " AND id < ? ORDER BY id DESC LIMIT ?",
		"ssii", status, status, before_id > 0 ? before_id : INT64_MAX,
		limit);
	size_t n;

	if (r == NULL)
		return -1;
	*items = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*items, outbox_dead_row_json(r, i));
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
outbox_dead_requeue(struct store_tx *tx, int64_t id, json_t **out,
		    struct cbd_err *err)
{
	struct store_rows *r;
	int64_t now = clock_now(), n;

	/* The status check and the change are one statement. A failed
	 * message may be in flight again at this moment: then it can go out
	 * twice, under one message id, which receivers dedupe. */
	n = store_exec(tx, err,
		       "UPDATE outbox SET status = 'pending', attempts = 0, "
		       "due_at = ?, lease_until = 0, last_error = NULL WHERE "
		       "id = ? AND (status = 'dead' OR (status = 'pending' "
		       "AND last_error IS NOT NULL AND lease_until > ?))",
		       "iii", now, id, now);
	if (n < 0)
		return -1;
	r = store_query(tx, err,
			"SELECT " OUTBOX_DEAD_COLS " FROM outbox WHERE id = ?",
			"i", id);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		cbd_err_set(err, 404, "not-found", "", "no such message");
		return -1;
	}
	if (n == 0) {
		cbd_err_set(err, 409, "not-requeueable", "",
			    "the message is %s: only a dead message, or one "
			    "whose last attempt failed, can be requeued",
			    store_rows_str(r, 0, 5));
		store_rows_free(r);
		return -1;
	}
	*out = outbox_dead_row_json(r, 0);
	store_rows_free(r);
	return 0;
}

int
outbox_dead_annotate(struct store_tx *tx, int64_t callback_id, json_t *items,
		     struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT msg_id, id, status, due_at, lease_until FROM outbox "
		"WHERE callback_id = ?",
		"i", callback_id);
	json_t *item;
	size_t i;

	if (r == NULL)
		return -1;
	json_array_foreach(items, i, item)
	{
		const char *msg_id =
			json_string_value(json_object_get(item, "id"));

		for (size_t k = 0; msg_id && k < store_rows_count(r); k++) {
			int64_t due = store_rows_int(r, k, 3, 0);
			int64_t lease = store_rows_int(r, k, 4, 0);

			if (strcmp(store_rows_str(r, k, 0), msg_id) != 0)
				continue;
			json_object_set_new(
				item, "outbox_id",
				json_integer(store_rows_int(r, k, 1, 0)));
			json_object_set_new(
				item, "next_attempt_at",
				strcmp(store_rows_str(r, k, 2), "pending") == 0
					? api_time(lease > due ? lease : due,
						   NULL)
					: json_null());
			break;
		}
	}
	store_rows_free(r);
	return 0;
}
