/*
 * handoff_notes.c: reading and annotating handoff notes. The notes are the
 * handoff rows written by handoff_apply.c; the agent who handed a call
 * over (or a lead) may add to its note until the call starts, and each
 * addition is a case event too.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "callback_row.h"
#include "clock.h"
#include "handoff_notes.h"
#include "handoff_plan.h"
#include "store.h"

#define HANDOFF_COLS                                                           \
	"h.id, h.callback_id, h.case_id, h.from_agent, h.to_agent, h.kind, "   \
	"h.author, h.reason, h.summary, h.next_step, h.annotation, h.due_at, " \
	"h.at, c.state, fa.display_name, ta.display_name "
#define HANDOFF_FROM                                                           \
	"FROM handoffs h JOIN callbacks c ON c.id = h.callback_id JOIN "       \
	"agents fa ON fa.id = h.from_agent JOIN agents ta ON ta.id = "         \
	"h.to_agent "

static json_t *
handoff_notes_row_json(const struct store_rows *r, size_t i)
{
	const char *ann = store_rows_str(r, i, 10);

	return json_pack(
		"{s:I, s:I, s:I, s:{s:I, s:s}, s:{s:I, s:s}, s:s, s:s, "
		"s:{s:s, s:s, s:s, s:o}, s:o, s:o, s:s}",
		"id", (json_int_t)store_rows_int(r, i, 0, 0), "callback_id",
		(json_int_t)store_rows_int(r, i, 1, 0), "case_id",
		(json_int_t)store_rows_int(r, i, 2, 0), "from", "id",
		(json_int_t)store_rows_int(r, i, 3, 0), "display_name",
		store_rows_str(r, i, 14), "to", "id",
		(json_int_t)store_rows_int(r, i, 4, 0), "display_name",
		store_rows_str(r, i, 15), "kind", store_rows_str(r, i, 5),
		"author", store_rows_str(r, i, 6), "note", "reason",
		store_rows_str(r, i, 7), "summary", store_rows_str(r, i, 8),
		"next_step", store_rows_str(r, i, 9), "annotation",
		ann ? json_string(ann) : json_null(), "due_at",
		api_time(store_rows_int(r, i, 11, 0), NULL), "at",
		api_time(store_rows_int(r, i, 12, 0), NULL), "callback_state",
		store_rows_str(r, i, 13));
}

static json_t *
handoff_notes_rows_json(const struct store_rows *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < store_rows_count(r); i++)
		json_array_append_new(a, handoff_notes_row_json(r, i));
	return a;
}

int
handoff_notes_of_agent(struct store_tx *tx, int64_t agent_id, json_t **out,
		       struct cbd_err *err)
{
	struct store_rows *given, *got;

	/* Given: still open to annotation until the call starts. */
	given = store_query(tx, err,
			    "SELECT " HANDOFF_COLS HANDOFF_FROM
			    "WHERE h.from_agent = ? AND c.state IN "
			    "(" HANDOFF_OPEN ") AND c.owner_id = h.to_agent "
			    "ORDER BY h.due_at, h.id LIMIT 200",
			    "i", agent_id);
	if (given == NULL)
		return -1;
	got = store_query(tx, err,
			  "SELECT " HANDOFF_COLS HANDOFF_FROM
			  "WHERE h.to_agent = ? AND c.owner_id = h.to_agent "
			  "AND c.state IN (" HANDOFF_OPEN ",'in_progress') "
			  "ORDER BY h.due_at, h.id LIMIT 200",
			  "i", agent_id);
	if (got == NULL) {
		store_rows_free(given);
		return -1;
	}
	*out = json_pack("{s:o, s:o}", "given", handoff_notes_rows_json(given),
			 "received", handoff_notes_rows_json(got));
	store_rows_free(given);
	store_rows_free(got);
	return 0;
}

int
handoff_notes_of_agent_page(struct store_tx *tx, int64_t agent_id, int is_given,
			    int64_t after_id, int64_t limit, json_t **items,
			    int64_t *last_id, struct cbd_err *err)
{
	/* The same rows as handoff_notes_of_agent, a page at a time. */
	struct store_rows *r = store_query(
		tx, err,
		is_given ? "SELECT " HANDOFF_COLS HANDOFF_FROM
			   "WHERE h.from_agent = ? AND c.state IN "
			   "(" HANDOFF_OPEN ") AND c.owner_id = h.to_agent AND "
			   "(? = 0 OR (h.due_at, h.id) > (SELECT x.due_at, "
			   "x.id FROM handoffs x WHERE x.id = ?)) ORDER BY "
			   "h.due_at, h.id LIMIT ?"
			 : "SELECT " HANDOFF_COLS HANDOFF_FROM
			   "WHERE h.to_agent = ? AND c.owner_id = h.to_agent "
			   "AND c.state IN (" HANDOFF_OPEN
			   ",'in_progress') AND "
			   "(? = 0 OR (h.due_at, h.id) > (SELECT x.due_at, "
			   "x.id FROM handoffs x WHERE x.id = ?)) ORDER BY "
			   "h.due_at, h.id LIMIT ?",
		"iiii", agent_id, after_id, after_id, limit);
	size_t n;

	if (r == NULL)
		return -1;
	*items = handoff_notes_rows_json(r);
	n = store_rows_count(r);
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
handoff_notes_annotate(struct store_tx *tx, int64_t id, int64_t agent_id,
		       const char *annotation, const char *next_step,
		       json_t **out, struct cbd_err *err)
{
	struct store_rows *r;
	int64_t cb, case_id;
	int rc = -1;

	r = store_query(
		tx, err,
		"SELECT h.from_agent, h.callback_id, h.case_id, "
		"c.state, c.owner_id = h.to_agent FROM handoffs h JOIN "
		"callbacks c ON c.id = h.callback_id WHERE h.id = ? FOR "
		"UPDATE",
		"i", id);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such handoff");
		goto out;
	}
	if (agent_id > 0 && store_rows_int(r, 0, 0, 0) != agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "only the agent who handed over may annotate");
		goto out;
	}
	if (strstr(HANDOFF_OPEN, store_rows_str(r, 0, 3)) == NULL ||
	    !store_rows_int(r, 0, 4, 0)) {
		cbd_err_set(err, 409, "call-started", "",
			    "the call has started or moved on: the note is "
			    "closed");
		goto out;
	}
	cb = store_rows_int(r, 0, 1, 0);
	case_id = store_rows_int(r, 0, 2, 0);
	if (store_exec(tx, err,
		       "UPDATE handoffs SET annotation = COALESCE(?, "
		       "annotation), next_step = COALESCE(?, next_step), "
		       "annotated_at = ? WHERE id = ?",
		       "ssii", annotation, next_step, clock_now(), id) < 0)
		goto out;
	{
		json_t *b = json_pack("{s:I}", "handoff_id", (json_int_t)id);
		char actor[40];
		if (annotation)
			json_object_set_new(b, "annotation",
					    json_string(annotation));
		if (next_step)
			json_object_set_new(b, "next_step",
					    json_string(next_step));
		if (agent_id > 0)
			snprintf(actor, sizeof(actor), "agent:%lld",
				 (long long)agent_id);
		else
			snprintf(actor, sizeof(actor), "lead");
		if (callback_event(tx, case_id, cb, "handoff_note", actor, b,
				   err) != 0)
			goto out;
	}
	store_rows_free(r);
	r = store_query(tx, err,
			"SELECT " HANDOFF_COLS HANDOFF_FROM "WHERE h.id = ?",
			"i", id);
	if (r == NULL)
		goto out;
	*out = handoff_notes_row_json(r, 0);
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

int
handoff_notes_audit(struct store_tx *tx, int64_t callback_id, int64_t agent_id,
		    int64_t before_id, int64_t limit, json_t **items,
		    int64_t *last_id, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT " HANDOFF_COLS HANDOFF_FROM
		"WHERE (? = 0 OR h.callback_id = ?) AND (? = 0 OR "
		"h.from_agent = ? OR h.to_agent = ?) AND h.id < ? ORDER BY "
		"h.id DESC LIMIT ?",
		"iiiiiii", callback_id, callback_id, agent_id, agent_id,
		agent_id, before_id > 0 ? before_id : INT64_MAX, limit);
	size_t n;

	if (r == NULL)
		return -1;
	*items = handoff_notes_rows_json(r);
	n = store_rows_count(r);
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}
