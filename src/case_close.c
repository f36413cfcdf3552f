/*
 * case_close.c: closing cases nobody has touched for case_close_days, and
 * linking the customer's next case to the last one (see case_close.h for
 * why this happens at booking time).
 */
#include "case_close.h"
#include "callback.h"
#include "callback_row.h"
#include "config.h"
#include "store.h"

int
case_close_stale(struct store_tx *tx, const struct config *cfg,
		 int64_t customer_id, int64_t now, int64_t *previous,
		 struct cbd_err *err)
{
	struct store_rows *r;
	int rc = -1;

	*previous = 0;
	if (cfg->case_close_days <= 0)
		return 0;
	/* Last activity: the newest timeline entry (every change of a
	 * callback and every note writes one), else the opening. */
	r = store_query(
		tx, err,
		"SELECT k.id, COALESCE((SELECT MAX(e.at) FROM events e WHERE "
		"e.case_id = k.id), k.opened_at) AS last_at FROM cases k "
		"WHERE k.customer_id = ? AND k.is_open = 1 AND NOT EXISTS "
		"(SELECT 1 FROM callbacks c WHERE c.case_id = k.id AND "
		"c.state IN (" CALLBACK_OPEN_STATES ")) HAVING last_at < ? "
		"ORDER BY k.id",
		"ii", customer_id, now - (int64_t)cfg->case_close_days * 86400);
	if (r == NULL)
		return -1;
	for (size_t i = 0; i < store_rows_count(r); i++) {
		int64_t id = store_rows_int(r, i, 0, 0);
		int64_t n = store_exec(tx, err,
				       "UPDATE cases SET is_open = 0, "
				       "closed_at = ? WHERE id = ? AND "
				       "is_open = 1",
				       "ii", now, id);
		if (n < 0 ||
		    (n == 1 &&
		     callback_event(
			     tx, id, 0, "case_closed", "system",
			     json_pack("{s:I, s:i}", "last_activity_at",
				       (json_int_t)store_rows_int(r, i, 1, 0),
				       "case_close_days", cfg->case_close_days),
			     err) != 0))
			goto out;
		*previous = id;
	}
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

int
case_close_link(struct store_tx *tx, int64_t case_id, int64_t previous,
		struct cbd_err *err)
{
	if (previous <= 0)
		return 0;
	if (store_exec(tx, err,
		       "UPDATE cases SET previous_case_id = ? WHERE id = ?",
		       "ii", previous, case_id) < 0)
		return -1;
	return callback_event(
		tx, case_id, 0, "previous_case", "system",
		json_pack("{s:I}", "previous_case_id", (json_int_t)previous),
		err);
}
