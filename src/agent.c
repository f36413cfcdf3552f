/* agent.c: agent rows and owner selection. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "api.h"
#include "changefeed.h"
#include "clock.h"
#include "roster.h"
#include "store.h"

#define AGENT_COLS                                                             \
	"id, name, display_name, email, timezone, team, capacity, "            \
	"is_active, open_count, created_at, updated_at, "                      \
	"on_duty_without_shifts"

static json_t *
agent_row_json(const struct store_rows *r, size_t i)
{
	const char *email = store_rows_str(r, i, 3);
	json_t *o;

	o = json_pack("{s:I, s:s, s:s, s:o, s:s, s:s, s:I, s:b, s:I, s:o, s:o}",
		      "id", (json_int_t)store_rows_int(r, i, 0, 0), "name",
		      store_rows_str(r, i, 1), "display_name",
		      store_rows_str(r, i, 2), "email",
		      email ? json_string(email) : json_null(), "timezone",
		      store_rows_str(r, i, 4), "team", store_rows_str(r, i, 5),
		      "capacity", (json_int_t)store_rows_int(r, i, 6, 0),
		      "active", (int)store_rows_int(r, i, 7, 0),
		      "open_callbacks", (json_int_t)store_rows_int(r, i, 8, 0),
		      "created_at", api_time(store_rows_int(r, i, 9, 0), NULL),
		      "updated_at",
		      api_time(store_rows_int(r, i, 10, 0), NULL));
	json_object_set_new(o, "on_duty_without_shifts",
			    json_boolean(store_rows_int(r, i, 11, 0)));
	return o;
}

int
agent_get(struct store_tx *tx, int64_t id, json_t **out, struct cbd_err *err)
{
	struct store_rows *r = store_query_one(
		tx, err, "agent",
		"SELECT " AGENT_COLS " FROM agents WHERE id = ?", "i", id);

	if (r == NULL)
		return -1;
	*out = agent_row_json(r, 0);
	store_rows_free(r);
	return 0;
}

int
agent_insert(struct store_tx *tx, const struct agent_fields *f, json_t **out,
	     struct cbd_err *err)
{
	int64_t now = clock_now();

	/* Who is active is part of the roster every plan is built from. */
	if (roster_bump(tx, err) != 0)
		return -1;
	if (store_exec(tx, err,
		       "INSERT INTO agents (name, display_name, email, "
		       "timezone, team, capacity, is_active, created_at, "
		       "updated_at, on_duty_without_shifts) VALUES (?, ?, ?, "
		       "?, ?, ?, ?, ?, ?, ?)",
		       "sssssiiiii", f->name, f->display_name, f->email,
		       f->timezone, f->team ? f->team : "",
		       f->capacity >= 0 ? f->capacity : 1,
		       (int64_t)(f->is_active >= 0 ? f->is_active : 1), now,
		       now, (int64_t)(f->on_duty_without_shifts > 0)) < 0) {
		if (store_errno(tx) == 1062)
			cbd_err_set(err, 409, "agent-exists", "name",
				    "an agent with this name exists");
		return -1;
	}
	return agent_get(tx, store_last_id(tx), out, err);
}

/*
 * Say what a deactivation cut off: while an agent is inactive, every API
 * key tied to them is refused (403 agent-inactive, checked with the key in
 * http.c) and their calendar feed answers 410; reactivating restores both.
 */
static int
agent_access_note(struct store_tx *tx, int64_t id, json_t *out,
		  struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT (SELECT COUNT(*) FROM api_keys WHERE agent_id = ? AND "
		"revoked_at IS NULL), feed_token_hash IS NOT NULL FROM agents "
		"WHERE id = ?",
		"ii", id, id);

	if (r == NULL)
		return -1;
	json_object_set_new(
		out, "access",
		json_pack("{s:I, s:b, s:s}", "api_keys_refused",
			  (json_int_t)store_rows_int(r, 0, 0, 0),
			  "calendar_feed_refused",
			  (int)store_rows_int(r, 0, 1, 0), "detail",
			  "the agent is deactivated: their API keys and "
			  "calendar feed are refused until they are active "
			  "again"));
	store_rows_free(r);
	return 0;
}

int
agent_update(struct store_tx *tx, int64_t id, const struct agent_fields *f,
	     json_t **out, struct cbd_err *err)
{
	int64_t n;

	if (roster_bump(tx, err) != 0)
		return -1;
	n = store_exec(
		tx, err,
		"UPDATE agents SET display_name = COALESCE(?, display_name), "
		"email = COALESCE(?, email), timezone = COALESCE(?, timezone), "
		"team = COALESCE(?, team), capacity = COALESCE(?, capacity), "
		"is_active = COALESCE(?, is_active), on_duty_without_shifts = "
		"COALESCE(?, on_duty_without_shifts), updated_at = ? "
		"WHERE id = ?",
		"ssssnnnii", f->display_name, f->email, f->timezone, f->team,
		f->capacity >= 0 ? f->capacity : STORE_NULL,
		f->is_active >= 0 ? (int64_t)f->is_active : STORE_NULL,
		f->on_duty_without_shifts >= 0
			? (int64_t)f->on_duty_without_shifts
			: STORE_NULL,
		clock_now(), id);

	if (n < 0 || agent_get(tx, id, out, err) != 0)
		return -1;
	/* Deactivated, or moved to another team (what their lead streams
	 * show): their open event streams end, and reopen if still allowed. */
	if ((f->is_active == 0 || f->team != NULL) &&
	    changefeed_record_access_ended(tx, id, 0, err) != 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	if (f->is_active == 0 && agent_access_note(tx, id, *out, err) != 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
agent_list(struct store_tx *tx, int64_t after_id, int64_t limit, json_t **items,
	   int64_t *last_id, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT " AGENT_COLS " FROM agents WHERE id > ? ORDER BY id "
		"LIMIT ?",
		"ii", after_id, limit);
	size_t n;

	if (r == NULL)
		return -1;
	*items = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*items, agent_row_json(r, i));
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
agent_add_load(struct store_tx *tx, int64_t id, int delta, struct cbd_err *err)
{
	return store_exec(tx, err,
			  "UPDATE agents SET open_count = GREATEST(0, "
			  "CAST(open_count AS SIGNED) + ?) WHERE id = ?",
			  "ii", (int64_t)delta, id) < 0
		       ? -1
		       : 0;
}
