/*
 * staff_audit.c: the staff_audit table. Paged by id from the newest, like
 * GET /v1/audit: a page is a stable range of existing rows, and a row
 * added meanwhile (with any id, on Galera) is simply on an earlier page.
 */
#include <stdlib.h>

#include "api.h"
#include "clock.h"
#include "staff_audit.h"
#include "store.h"

int
staff_audit_add(struct store_tx *tx, const char *actor, const char *action,
		int64_t subject_id, json_t *body, struct cbd_err *err)
{
	char *s = json_dumps(body, JSON_COMPACT);
	int64_t n = store_exec(tx, err,
			       "INSERT INTO staff_audit (at, actor, action, "
			       "subject_id, body) VALUES (?, ?, ?, ?, ?)",
			       "issns", clock_now(), actor, action,
			       subject_id > 0 ? subject_id : STORE_NULL, s);

	free(s);
	json_decref(body);
	return n < 0 ? -1 : 0;
}

int
staff_audit_list(struct store_tx *tx, const char *action, int64_t before_id,
		 int64_t limit, json_t **items, int64_t *last_id,
		 struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT id, at, actor, action, subject_id, body FROM "
		"staff_audit WHERE (? = '' OR action = ?) AND id < ? ORDER "
		"BY id DESC LIMIT ?",
		"ssii", action ? action : "", action ? action : "",
		before_id > 0 ? before_id : INT64_MAX, limit);
	size_t n;

	if (r == NULL)
		return -1;
	*items = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++) {
		json_t *body = json_loads(store_rows_str(r, i, 5), 0, NULL);
		const char *subject = store_rows_str(r, i, 4);

		json_array_append_new(
			*items,
			json_pack("{s:I, s:o, s:s, s:s, s:o, s:o}", "id",
				  (json_int_t)store_rows_int(r, i, 0, 0), "at",
				  api_time(store_rows_int(r, i, 1, 0), NULL),
				  "actor", store_rows_str(r, i, 2), "action",
				  store_rows_str(r, i, 3), "subject_id",
				  subject ? json_integer(
						    strtoll(subject, NULL, 10))
					  : json_null(),
				  "data", body ? body : json_object()));
	}
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}
