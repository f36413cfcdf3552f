/*
 * cases.c: case timelines and notes. The timeline is the events table (one
 * append-only log per case) merged with the outbox rows of the case's
 * callbacks, so "what did we tell the customer" sits beside "what did we
 * do", in time order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cases.h"
#include "changefeed.h"
#include "clock.h"
#include "event_hooks.h"
#include "optout.h"
#include "store.h"
#include "xalloc.h"

/*
 * Event bodies keep the epoch seconds they were written with (rows are
 * append-only, and the planner reads some of them); the API speaks RFC
 * 3339, so the times in them are turned into strings on the way out.
 */
static const struct {
	const char *kind;
	const char *key;
} cases_event_times[] = {
	{ "booked", "due_at" },
	{ "rescheduled", "from" },
	{ "rescheduled", "to" },
	{ "attempt", "next_at" },
	{ "overdue", "due_at" },
	{ "claimed", "lease_until" },
	{ "case_closed", "last_activity_at" },
};

static void
cases_event_times_rfc3339(const char *kind, json_t *body)
{
	for (size_t k = 0; k < CBD_ARRAY_LEN(cases_event_times); k++) {
		json_t *v = json_object_get(body, cases_event_times[k].key);
		if (strcmp(kind, cases_event_times[k].kind) != 0 ||
		    !json_is_integer(v))
			continue;
		json_object_set_new(body, cases_event_times[k].key,
				    api_time(json_integer_value(v), NULL));
	}
}

static json_t *
cases_event_json(const struct store_rows *r, size_t i)
{
	json_t *body = json_loads(store_rows_str(r, i, 4), 0, NULL);
	const char *cb = store_rows_str(r, i, 1);

	if (json_is_object(body))
		cases_event_times_rfc3339(store_rows_str(r, i, 2), body);

	return json_pack("{s:I, s:o, s:s, s:s, s:o, s:o}", "id",
			 (json_int_t)store_rows_int(r, i, 0, 0), "callback_id",
			 cb ? json_integer(strtoll(cb, NULL, 10)) : json_null(),
			 "kind", store_rows_str(r, i, 2), "actor",
			 store_rows_str(r, i, 3), "at",
			 api_time(store_rows_int(r, i, 5, 0), NULL), "data",
			 body ? body : json_object());
}

int
cases_get(struct store_tx *tx, int64_t id, json_t **out, struct cbd_err *err)
{
	struct store_rows *c = NULL, *ev = NULL, *cbs = NULL, *msgs = NULL;
	json_t *timeline, *callbacks;
	size_t ne, nm, ie = 0, im = 0;
	int rc = -1;

	c = store_query(tx, err,
			"SELECT k.id, k.is_open, k.opened_at, k.owner_id, "
			"a.display_name, cu.id, cu.name, cu.phone, cu.email, "
			"cu.timezone FROM cases k JOIN customers cu ON cu.id = "
			"k.customer_id JOIN agents a ON a.id = k.owner_id "
			"WHERE k.id = ?",
			"i", id);
	if (c == NULL)
		goto out;
	if (store_rows_count(c) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such case");
		goto out;
	}
	ev = store_query(tx, err,
			 "SELECT id, callback_id, kind, actor, body, at FROM "
			 "events WHERE case_id = ? ORDER BY id LIMIT 5000",
			 "i", id);
	cbs = ev ? store_query(tx, err,
			       "SELECT c.id, c.state, c.topic, c.is_asap, "
			       "c.due_at, c.attempts, a.display_name FROM "
			       "callbacks c JOIN agents a ON a.id = c.owner_id "
			       "WHERE c.case_id = ? ORDER BY c.id",
			       "i", id)
		 : NULL;
	msgs = cbs ? store_query(tx, err,
				 "SELECT o.msg_id, o.callback_id, o.channel, "
				 "o.kind, o.status, o.attempts, o.created_at, "
				 "o.sent_at FROM outbox o JOIN callbacks c ON "
				 "c.id = o.callback_id WHERE c.case_id = ? AND "
				 "o.status NOT IN ('skipped', 'withdrawn') "
				 "AND o.kind NOT IN (" EVENT_HOOKS_KINDS_SQL
				 ") "
				 "ORDER BY o.created_at, "
				 "o.id LIMIT 5000",
				 "i", id)
		   : NULL;
	if (msgs == NULL)
		goto out;
	callbacks = json_array();
	for (size_t i = 0; i < store_rows_count(cbs); i++)
		json_array_append_new(
			callbacks,
			json_pack("{s:I, s:s, s:s, s:b, s:o, s:I, s:s}", "id",
				  (json_int_t)store_rows_int(cbs, i, 0, 0),
				  "state", store_rows_str(cbs, i, 1), "topic",
				  store_rows_str(cbs, i, 2), "asap",
				  (int)store_rows_int(cbs, i, 3, 0), "due_at",
				  api_time(store_rows_int(cbs, i, 4, 0), NULL),
				  "attempts",
				  (json_int_t)store_rows_int(cbs, i, 5, 0),
				  "owner", store_rows_str(cbs, i, 6)));
	/* Merge two time-ordered lists; on a tie the event comes first,
	 * since it is what caused the message. */
	timeline = json_array();
	ne = store_rows_count(ev);
	nm = store_rows_count(msgs);
	while (ie < ne || im < nm) {
		if (im >= nm ||
		    (ie < ne && store_rows_int(ev, ie, 5, 0) <=
					store_rows_int(msgs, im, 6, 0))) {
			json_array_append_new(timeline,
					      cases_event_json(ev, ie++));
			continue;
		}
		{
			const char *sent = store_rows_str(msgs, im, 7);
			json_array_append_new(
				timeline,
				json_pack(
					"{s:s, s:I, s:s, s:s, s:o, s:{s:s, "
					"s:s, s:s, s:I, s:o}}",
					"kind", "message", "callback_id",
					(json_int_t)store_rows_int(msgs, im, 1,
								   0),
					"actor", "system", "id",
					store_rows_str(msgs, im, 0), "at",
					api_time(store_rows_int(msgs, im, 6, 0),
						 NULL),
					"data", "channel",
					store_rows_str(msgs, im, 2), "type",
					store_rows_str(msgs, im, 3), "status",
					store_rows_str(msgs, im, 4), "attempts",
					(json_int_t)store_rows_int(msgs, im, 5,
								   0),
					"sent_at",
					sent ? api_time(strtoll(sent, NULL, 10),
							NULL)
					     : json_null()));
			im++;
		}
	}
	{
		const char *email = store_rows_str(c, 0, 8);
		*out = json_pack(
			"{s:I, s:b, s:o, s:{s:I, s:s}, s:{s:I, s:s, s:s, s:o, "
			"s:s}, s:o, s:o}",
			"id", (json_int_t)id, "open",
			(int)store_rows_int(c, 0, 1, 0), "opened_at",
			api_time(store_rows_int(c, 0, 2, 0), NULL), "owner",
			"id", (json_int_t)store_rows_int(c, 0, 3, 0),
			"display_name", store_rows_str(c, 0, 4), "customer",
			"id", (json_int_t)store_rows_int(c, 0, 5, 0), "name",
			store_rows_str(c, 0, 6), "phone",
			store_rows_str(c, 0, 7), "email",
			email ? json_string(email) : json_null(), "timezone",
			store_rows_str(c, 0, 9), "callbacks", callbacks,
			"timeline", timeline);
	}
	if (optout_annotate(tx, json_object_get(*out, "customer"), err) != 0) {
		json_decref(*out);
		goto out;
	}
	rc = 0;
out:
	store_rows_free(c);
	store_rows_free(ev);
	store_rows_free(cbs);
	store_rows_free(msgs);
	return rc;
}

int
cases_add_note(struct store_tx *tx, int64_t case_id, const char *actor,
	       const char *text, int64_t corrects, json_t **out,
	       struct cbd_err *err)
{
	struct store_rows *r;
	int64_t now = clock_now(), id;
	json_t *body;
	char *s;

	r = store_query_one(tx, err, "case",
			    "SELECT id FROM cases WHERE id = ?", "i", case_id);
	if (r == NULL)
		return -1;
	store_rows_free(r);
	if (corrects > 0) {
		r = store_query(tx, err,
				"SELECT id FROM events WHERE id = ? AND "
				"case_id = ? AND kind = 'note'",
				"ii", corrects, case_id);
		if (r == NULL)
			return -1;
		if (store_rows_count(r) == 0) {
			store_rows_free(r);
			cbd_err_set(err, 400, "invalid-field", "corrects",
				    "corrects must name a note of this case");
			return -1;
		}
		store_rows_free(r);
	}
	body = json_pack("{s:s}", "text", text);
	if (corrects > 0)
		json_object_set_new(body, "corrects", json_integer(corrects));
	s = json_dumps(body, JSON_COMPACT);
	if (store_exec(tx, err,
		       "INSERT INTO events (case_id, kind, actor, body, at) "
		       "VALUES (?, 'note', ?, ?, ?)",
		       "issi", case_id, actor, s, now) < 0) {
		free(s);
		json_decref(body);
		return -1;
	}
	free(s);
	id = store_last_id(tx);
	if (changefeed_record_note(tx, case_id, err) != 0) {
		json_decref(body);
		return -1;
	}
	*out = json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "id", (json_int_t)id,
			 "case_id", (json_int_t)case_id, "kind", "note",
			 "actor", actor, "at", api_time(now, NULL), "data",
			 body);
	return 0;
}

int
cases_by_phone(struct store_tx *tx, const char *phone, int64_t before_id,
	       int64_t limit, json_t **out, int64_t *last_id,
	       struct cbd_err *err)
{
	struct store_rows *c, *k;
	json_t *cases;
	int64_t cid;

	c = store_query_one(tx, err, "customer",
			    "SELECT id, name, email, timezone FROM customers "
			    "WHERE phone = ?",
			    "s", phone);
	if (c == NULL)
		return -1;
	cid = store_rows_int(c, 0, 0, 0);
	k = store_query(tx, err,
			"SELECT k.id, k.is_open, k.opened_at, a.display_name, "
			"(SELECT COUNT(*) FROM callbacks c WHERE c.case_id = "
			"k.id) FROM cases k JOIN agents a ON a.id = k.owner_id "
			"WHERE k.customer_id = ? AND k.id < ? ORDER BY k.id "
			"DESC LIMIT ?",
			"iii", cid, before_id > 0 ? before_id : INT64_MAX,
			limit);
	if (k == NULL) {
		store_rows_free(c);
		return -1;
	}
	cases = json_array();
	for (size_t i = 0; i < store_rows_count(k); i++)
		json_array_append_new(
			cases,
			json_pack("{s:I, s:b, s:o, s:s, s:I}", "id",
				  (json_int_t)store_rows_int(k, i, 0, 0),
				  "open", (int)store_rows_int(k, i, 1, 0),
				  "opened_at",
				  api_time(store_rows_int(k, i, 2, 0), NULL),
				  "owner", store_rows_str(k, i, 3), "callbacks",
				  (json_int_t)store_rows_int(k, i, 4, 0)));
	{
		const char *email = store_rows_str(c, 0, 2);
		*out = json_pack(
			"{s:{s:I, s:s, s:s, s:o, s:s}, s:o}", "customer", "id",
			(json_int_t)cid, "name", store_rows_str(c, 0, 1),
			"phone", phone, "email",
			email ? json_string(email) : json_null(), "timezone",
			store_rows_str(c, 0, 3), "cases", cases);
	}
	*last_id = store_rows_count(k)
			   ? store_rows_int(k, store_rows_count(k) - 1, 0, 0)
			   : 0;
	store_rows_free(c);
	store_rows_free(k);
	if (optout_annotate(tx, json_object_get(*out, "customer"), err) != 0) {
		json_decref(*out);
		return -1;
	}
	return 0;
}

int
cases_annotate(struct store_tx *tx, json_t *items, struct cbd_err *err)
{
	struct store_rows *r = NULL, *h = NULL;
	json_t *item;
	size_t i, n = json_array_size(items);
	char *cases = NULL, *cbs = NULL, *sql = NULL;
	size_t len = 0, len2 = 0;
	FILE *f, *g;
	int rc = -1;

	if (n == 0)
		return 0;
	/* Three queries for the page, whatever its size: ids are integers
	 * from our own rows, never client text. */
	f = open_memstream(&cases, &len);
	g = open_memstream(&cbs, &len2);
	json_array_foreach(items, i, item)
	{
		fprintf(f, "%s%lld", i ? "," : "",
			(long long)json_integer_value(
				json_object_get(item, "case_id")));
		fprintf(g, "%s%lld", i ? "," : "",
			(long long)json_integer_value(
				json_object_get(item, "id")));
	}
	fclose(f);
	fclose(g);
	sql = xasprintf("SELECT case_id, kind, body, actor, at FROM events "
			"WHERE kind IN ('note','attempt') AND case_id IN (%s) "
			"ORDER BY id DESC LIMIT 2000",
			cases);
	r = store_query_built(tx, err, sql, "");
	free(sql);
	if (r == NULL)
		goto out;
	/* The note of the latest handoff of each callback, as annotated. */
	sql = xasprintf(
		"SELECT h.callback_id, h.id, fa.display_name, h.reason, "
		"h.summary, h.next_step, h.annotation, h.author, h.at, "
		"h.from_agent, h.to_agent FROM handoffs h JOIN agents fa ON "
		"fa.id = h.from_agent "
		"WHERE h.callback_id IN (%s) ORDER BY h.id DESC",
		cbs);
	h = store_query_built(tx, err, sql, "");
	free(sql);
	if (h == NULL)
		goto out;
	json_array_foreach(items, i, item)
	{
		int64_t case_id =
			json_integer_value(json_object_get(item, "case_id"));
		int64_t cb_id = json_integer_value(json_object_get(item, "id"));
		json_t *last_outcome = NULL, *last_note = NULL, *handoff = NULL;

		for (size_t k = 0; k < store_rows_count(r); k++) {
			const char *kind = store_rows_str(r, k, 1);
			json_t *body;

			if (store_rows_int(r, k, 0, 0) != case_id ||
			    (last_outcome != NULL && last_note != NULL))
				continue;
			body = json_loads(store_rows_str(r, k, 2), 0, NULL);
			if (body == NULL)
				continue;
			if (!strcmp(kind, "attempt") && last_outcome == NULL) {
				last_outcome = json_pack(
					"{s:O, s:o}", "result",
					json_object_get(body, "result"), "at",
					api_time(store_rows_int(r, k, 4, 0),
						 NULL));
				if (json_object_get(body, "note") &&
				    last_note == NULL)
					last_note = json_pack(
						"{s:O, s:s, s:o}", "text",
						json_object_get(body, "note"),
						"actor",
						store_rows_str(r, k, 3), "at",
						api_time(store_rows_int(r, k, 4,
									0),
							 NULL));
			} else if (!strcmp(kind, "note") && last_note == NULL) {
				last_note = json_pack(
					"{s:O, s:s, s:o}", "text",
					json_object_get(body, "text"), "actor",
					store_rows_str(r, k, 3), "at",
					api_time(store_rows_int(r, k, 4, 0),
						 NULL));
			}
			json_decref(body);
		}
		for (size_t k = 0; k < store_rows_count(h); k++) {
			const char *ann = store_rows_str(h, k, 6);
			if (store_rows_int(h, k, 0, 0) != cb_id)
				continue;
			handoff = json_pack(
				"{s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:s, "
				"s:o}",
				"handoff_id",
				(json_int_t)store_rows_int(h, k, 1, 0), "from",
				(json_int_t)store_rows_int(h, k, 9, 0), "to",
				(json_int_t)store_rows_int(h, k, 10, 0),
				"from_name", store_rows_str(h, k, 2), "reason",
				store_rows_str(h, k, 3), "summary",
				store_rows_str(h, k, 4), "next_step",
				store_rows_str(h, k, 5), "annotation",
				ann ? json_string(ann) : json_null(), "author",
				store_rows_str(h, k, 7), "at",
				api_time(store_rows_int(h, k, 8, 0), NULL));
			break;
		}
		json_object_set_new(
			item, "case_summary",
			json_pack("{s:o, s:o}", "last_outcome",
				  last_outcome ? last_outcome : json_null(),
				  "last_note",
				  last_note ? last_note : json_null()));
		json_object_set_new(item, "handoff_note",
				    handoff ? handoff : json_null());
	}
	/* The agent sees a STOP or a dead number before calling. */
	if (optout_annotate_callbacks(tx, items, cbs, err) != 0)
		goto out;
	rc = 0;
out:
	free(cases);
	free(cbs);
	store_rows_free(r);
	store_rows_free(h);
	return rc;
}
