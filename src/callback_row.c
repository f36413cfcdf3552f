/*
 * callback_row.c: a callback as stored. Loading, locking and the case
 * event; see callback_row.h for why this sits below callback.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback_row.h"
#include "changefeed.h"
#include "clock.h"
#include "notify.h"
#include "store.h"
#include "xalloc.h"

void
callback_ctx_at(const struct store_rows *r, size_t i, struct notify_ctx *c)
{
	const char *notify = store_rows_str(r, i, CALLBACK_COL_NOTIFY);

	memset(c, 0, sizeof(*c));
	c->callback_id = store_rows_int(r, i, CALLBACK_COL_ID, 0);
	c->case_id = store_rows_int(r, i, CALLBACK_COL_CASE, 0);
	c->start = store_rows_int(r, i, CALLBACK_COL_DUE, 0);
	c->is_asap = (int)store_rows_int(r, i, CALLBACK_COL_ASAP, 0);
	c->sequence = (int)store_rows_int(r, i, CALLBACK_COL_SEQ, 0);
	c->state = store_rows_str(r, i, CALLBACK_COL_STATE);
	c->topic = store_rows_str(r, i, CALLBACK_COL_TOPIC);
	c->customer_name = store_rows_str(r, i, CALLBACK_COL_CNAME);
	c->phone = store_rows_str(r, i, CALLBACK_COL_PHONE);
	c->email = store_rows_str(r, i, CALLBACK_COL_EMAIL);
	c->tz = store_rows_str(r, i, CALLBACK_COL_TZ);
	c->language = store_rows_str(r, i, CALLBACK_COL_LANGUAGE);
	c->owner_id = store_rows_int(r, i, CALLBACK_COL_OWNER, 0);
	c->owner_name = store_rows_str(r, i, CALLBACK_COL_OWNER_NAME);
	c->notify_email = strstr(notify, "email") != NULL;
	c->notify_sms = strstr(notify, "sms") != NULL;
}

struct store_rows *
callback_load_many(struct store_tx *tx, const int64_t *ids, size_t n,
		   struct cbd_err *err)
{
	struct store_rows *r = NULL;
	char *in = NULL, *sql;
	size_t len = 0;
	FILE *f = open_memstream(&in, &len);

	/* Ids are integers, never text from a client. */
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%lld", i ? "," : "", (long long)ids[i]);
	fclose(f);
	sql = xasprintf("SELECT id FROM callbacks WHERE id IN (%s) ORDER BY "
			"id FOR UPDATE",
			n ? in : "0");
	r = store_query_built(tx, err, sql, "");
	free(sql);
	if (r == NULL)
		goto out;
	store_rows_free(r);
	sql = xasprintf(CALLBACK_ROW_SELECT "WHERE c.id IN (%s) ORDER BY c.id",
			n ? in : "0");
	r = store_query_built(tx, err, sql, "");
	free(sql);
out:
	free(in);
	return r;
}

ptrdiff_t
callback_row_find(const struct store_rows *r, int64_t id)
{
	size_t lo = 0, hi = store_rows_count(r);

	/* Rows are in id order (callback_load_many). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (store_rows_int(r, mid, CALLBACK_COL_ID, 0) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < store_rows_count(r) &&
	    store_rows_int(r, lo, CALLBACK_COL_ID, 0) == id)
		return (ptrdiff_t)lo;
	return -1;
}

int
callback_event(struct store_tx *tx, int64_t case_id, int64_t callback_id,
	       const char *kind, const char *actor, json_t *body,
	       struct cbd_err *err)
{
	char *s = json_dumps(body, JSON_COMPACT);
	int64_t n = store_exec(tx, err,
			       "INSERT INTO events (case_id, callback_id, kind,"
			       " actor, body, at) VALUES (?, ?, ?, ?, ?, ?)",
			       "insssi", case_id,
			       callback_id > 0 ? callback_id : STORE_NULL, kind,
			       actor, s, clock_now());

	free(s);
	json_decref(body);
	if (n < 0)
		return -1;
	/* Every change a case's timeline records is also one for the
	 * consoles that show the callback, or the case (server push). */
	return callback_id > 0 ? changefeed_record(tx, callback_id, kind, err)
			       : changefeed_record_note(tx, case_id, err);
}
