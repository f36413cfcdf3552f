/*
 * handoff_plan.c: who gets what, and why. A lead's request (given
 * callbacks, or all of an agent's) becomes a plan, one item per callback,
 * decided from the world snapshot; and the planner's moves get their notes
 * drafted here. Nothing is written: handoff_apply.c does that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "callback_row.h"
#include "clock.h"
#include "config.h"
#include "handoff_plan.h"
#include "handoff_world.h"
#include "shift.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

void
handoff_plan_clear(struct handoff_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].summary);
		free(p->items[i].next_step);
		free(p->items[i].reason);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}

/* Due order, then id: the order a plan is shown and applied in. */
static int
handoff_plan_cmp_item(const void *a, const void *b)
{
	const struct handoff_item *x = a, *y = b;

	if (x->due_at != y->due_at)
		return x->due_at < y->due_at ? -1 : 1;
	return (x->callback_id > y->callback_id) -
	       (x->callback_id < y->callback_id);
}

/* The open callbacks of req->from_agent due in req's range; 404 when the
 * agent does not exist. *ids is the caller's to free. */
static int
handoff_plan_ids_of_agent(struct store_tx *tx,
			  const struct handoff_request *req, int64_t **ids,
			  size_t *n, struct cbd_err *err)
{
	struct store_rows *r;

	r = store_query(tx, err, "SELECT id FROM agents WHERE id = ?", "i",
			req->from_agent);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		cbd_err_set(err, 404, "not-found", "from_agent",
			    "no such agent");
		return -1;
	}
	store_rows_free(r);
	r = store_query(tx, err,
			"SELECT id FROM callbacks WHERE owner_id = ? AND state "
			"IN (" HANDOFF_OPEN ",'in_progress') AND due_at >= ? "
			"AND due_at < ? ORDER BY due_at, id LIMIT ?",
			"iiii", req->from_agent, req->from,
			req->to > 0 ? req->to : INT64_MAX,
			(int64_t)HANDOFF_MAX_ITEMS + 1);
	if (r == NULL)
		return -1;
	*n = store_rows_count(r);
	*ids = xcalloc(*n ? *n : 1, sizeof(int64_t));
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = store_rows_int(r, i, 0, 0);
	store_rows_free(r);
	return 0;
}

/* The ids req asks about (given, or the agent's), within the limit. */
static int
handoff_plan_ids(struct store_tx *tx, const struct handoff_request *req,
		 int64_t **ids, size_t *n, struct cbd_err *err)
{
	if (req->ncallbacks > 0) {
		*n = req->ncallbacks;
		*ids = xcalloc(*n, sizeof(int64_t));
		memcpy(*ids, req->callback_ids, *n * sizeof(int64_t));
	} else if (handoff_plan_ids_of_agent(tx, req, ids, n, err) != 0)
		return -1;
	if (*n > HANDOFF_MAX_ITEMS) {
		cbd_err_set(err, 400, "too-many", "callback_ids",
			    "at most %d callbacks per handoff",
			    HANDOFF_MAX_ITEMS);
		return -1;
	}
	return 0;
}

/* 400 unless req->to_agent (when given) is an active agent. */
static int
handoff_plan_check_to_agent(struct store_tx *tx,
			    const struct handoff_request *req,
			    struct cbd_err *err)
{
	struct store_rows *a;
	size_t found;

	if (req->to_agent <= 0)
		return 0;
	a = store_query(tx, err,
			"SELECT id FROM agents WHERE id = ? AND is_active = 1",
			"i", req->to_agent);
	if (a == NULL)
		return -1;
	found = store_rows_count(a);
	store_rows_free(a);
	if (found == 0) {
		cbd_err_set(err, 400, "invalid-field", "to_agent",
			    "to_agent is not an active agent");
		return -1;
	}
	return 0;
}

int
handoff_is_overdue(const struct config *cfg, int64_t due_at, int64_t now)
{
	return due_at + (int64_t)cfg->overdue_grace_min * 60 < now;
}

int
handoff_is_late(const struct config *cfg, int is_asap, int64_t due_at,
		int64_t now)
{
	return is_asap ? handoff_is_overdue(cfg, due_at, now) : due_at < now;
}

/* The best new owner for it at t: for a call already due, whoever has the
 * most shift left (not leaving within the handle time); else the usual
 * pick at the due time. */
static struct handoff_agent *
handoff_plan_pick(const struct config *cfg, struct handoff_world *w,
		  const struct handoff_item *it, int64_t now)
{
	if (it->due_at <= now)
		return handoff_world_pick_late(w, it->queue_id, it->case_id,
					       it->from_agent, now,
					       cfg->avg_handle_sec);
	return handoff_world_pick(w, it->queue_id, it->case_id, it->from_agent,
				  it->due_at, cfg->avg_handle_sec);
}

/*
 * A lead named to, who lacks the skills of the item's queue: without
 * override_skills it stays (1, why saying so); with it, it goes, marked,
 * and its reason says what was overridden (0). 0 too when to has them.
 */
static int
handoff_plan_unskilled(const struct handoff_world *w,
		       const struct handoff_request *req,
		       struct handoff_item *it, const struct handoff_agent *to)
{
	if (to == NULL || handoff_world_skilled(w, it->queue_id, to->id))
		return 0;
	for (size_t k = 0; k < w->nqueues; k++) {
		const struct handoff_queue *q = &w->queues[k];
		if (q->id != it->queue_id)
			continue;
		if (!req->override_skills) {
			snprintf(it->why, sizeof(it->why),
				 "%.40s lacks %.60s (queue %.32s); "
				 "override_skills gives it anyway",
				 to->name, q->needs, q->name);
			return 1;
		}
		it->is_override = 1;
		free(it->reason);
		it->reason = xasprintf(
			"%s%sSkills overridden by the lead: %s lacks %s "
			"(queue %s).",
			req->note_reason ? req->note_reason : "",
			req->note_reason ? " " : "", to->name, q->needs,
			q->name);
	}
	return 0;
}

/* Decide one item whose callback is row i of cbs: it goes to to_agent (as
 * asked, or the best pick), or stays with why saying so. */
static void
handoff_plan_decide(const struct config *cfg, struct handoff_world *w,
		    const struct handoff_request *req,
		    const struct store_rows *cbs, size_t i, int64_t now,
		    struct handoff_item *it)
{
	const char *state = store_rows_str(cbs, i, CALLBACK_COL_STATE);
	struct handoff_agent *to, *from;
	int64_t t;

	it->case_id = store_rows_int(cbs, i, CALLBACK_COL_CASE, 0);
	it->due_at = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
	it->from_agent = store_rows_int(cbs, i, CALLBACK_COL_OWNER, 0);
	it->queue_id = store_rows_int(cbs, i, CALLBACK_COL_QUEUE, 0);
	t = it->due_at > now ? it->due_at : now;
	if (!strcmp(state, "in_progress")) {
		snprintf(it->why, sizeof(it->why), "call in progress");
		return;
	}
	if (strcmp(state, "pending") && strcmp(state, "scheduled") &&
	    strcmp(state, "retry_wait")) {
		snprintf(it->why, sizeof(it->why), "callback is %s", state);
		return;
	}
	from = handoff_world_agent(w, it->from_agent);
	if (req->to_agent > 0) {
		if (req->to_agent == it->from_agent) {
			snprintf(it->why, sizeof(it->why), "already the owner");
			return;
		}
		to = handoff_world_agent(w, req->to_agent);
		if (handoff_plan_unskilled(w, req, it, to))
			return;
		it->to_agent = req->to_agent;
		it->is_at_risk = !handoff_world_on_duty(w, to, t);
		snprintf(it->why, sizeof(it->why), "%s",
			 it->is_at_risk
				 ? "the new owner is off shift at the due time"
			 : it->is_override ? "as asked, overriding the skills"
					   : "as asked");
	} else {
		to = handoff_plan_pick(cfg, w, it, now);
		if (to == NULL) {
			it->is_at_risk = !handoff_world_on_duty(w, from, t);
			if (it->queue_id > 0)
				handoff_world_gap(w, it->queue_id, t, it->why,
						  sizeof(it->why));
			else
				snprintf(it->why, sizeof(it->why), "%s",
					 it->due_at <= now
						 ? "nobody else on duty stays "
						   "long enough to make the "
						   "call"
						 : "nobody else is on duty at "
						   "the due time");
			return;
		}
		it->to_agent = to->id;
		snprintf(it->why, sizeof(it->why), "%s",
			 handoff_world_worked(w, it->case_id, to->id)
				 ? "on duty and has worked this case"
				 : "on duty, least busy shift");
	}
	/* Later picks in this plan see the work it already moved. */
	handoff_world_give(to, it->due_at);
	handoff_world_take(from, it->due_at);
}

int
handoff_plan_build(struct store_tx *tx, const struct config *cfg,
		   const struct handoff_request *req, struct handoff_plan *out,
		   struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	struct handoff_world w;
	int64_t *ids = NULL, now = clock_now(), tmax = now + 1;
	size_t n = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	if (handoff_plan_ids(tx, req, &ids, &n, err) != 0 ||
	    handoff_plan_check_to_agent(tx, req, err) != 0)
		goto out;
	cbs = callback_load_many(tx, ids, n, err);
	if (cbs == NULL)
		goto out;
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		int64_t due = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
		if (due > tmax)
			tmax = due;
	}
	if (handoff_world_load(tx, &w, now - 86400, tmax + 86400, cbs, err) !=
	    0)
		goto out;

	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	/* Ids asked for that do not exist are reported, not fatal. Each is
	 * found among the rows by id, whatever order it was booked or asked
	 * in, and the calls are decided in due order, so the earliest call
	 * gets the first pick of who is free. */
	for (size_t k = 0; k < n; k++) {
		struct handoff_item *it = &out->items[out->n++];
		ptrdiff_t row = callback_row_find(cbs, ids[k]);

		it->callback_id = ids[k];
		it->due_at = row < 0 ? INT64_MAX
				     : store_rows_int(cbs, (size_t)row,
						      CALLBACK_COL_DUE, 0);
		if (row < 0)
			snprintf(it->why, sizeof(it->why), "no such callback");
	}
	qsort(out->items, out->n, sizeof(*out->items), handoff_plan_cmp_item);
	for (size_t k = 0; k < out->n; k++) {
		struct handoff_item *it = &out->items[k];
		ptrdiff_t row = callback_row_find(cbs, it->callback_id);

		if (row >= 0)
			handoff_plan_decide(cfg, &w, req, cbs, (size_t)row, now,
					    it);
	}
	rc = 0;
out:
	if (rc != 0)
		handoff_plan_clear(out);
	free(ids);
	store_rows_free(cbs);
	handoff_world_clear(&w);
	return rc;
}

json_t *
handoff_plan_json(const struct handoff_plan *p)
{
	json_t *moves = json_array(), *stays = json_array();
	size_t nrisk = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct handoff_item *it = &p->items[i];
		json_t *o =
			json_pack("{s:I, s:s}", "callback_id",
				  (json_int_t)it->callback_id, "why", it->why);
		if (it->due_at != INT64_MAX) {
			json_object_set_new(o, "due_at",
					    api_time(it->due_at, NULL));
			json_object_set_new(o, "from_agent",
					    json_integer(it->from_agent));
		}
		json_object_set_new(o, "at_risk", json_boolean(it->is_at_risk));
		nrisk += it->is_at_risk != 0;
		if (it->to_agent > 0) {
			json_object_set_new(o, "to_agent",
					    json_integer(it->to_agent));
			json_array_append_new(moves, o);
		} else
			json_array_append_new(stays, o);
	}
	return json_pack("{s:o, s:o, s:{s:I, s:I, s:I}}", "moves", moves,
			 "stays", stays, "counts", "moves",
			 (json_int_t)json_array_size(moves), "stays",
			 (json_int_t)json_array_size(stays), "at_risk",
			 (json_int_t)nrisk);
}

/* The latest attempt and note of each case, newest first. */
static struct store_rows *
handoff_plan_case_history(struct store_tx *tx, const struct handoff_plan *p,
			  struct cbd_err *err, int *is_empty)
{
	struct store_rows *ev;
	char *sql = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&sql, &len);

	fprintf(f, "SELECT case_id, kind, body FROM events WHERE kind IN "
		   "('attempt','note') AND case_id IN (");
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].to_agent > 0)
			fprintf(f, "%s%lld", n++ ? "," : "",
				(long long)p->items[i].case_id);
	fprintf(f, ") ORDER BY id DESC LIMIT 20000");
	fclose(f);
	*is_empty = n == 0;
	ev = n > 0 ? store_query_built(tx, err, sql, "") : NULL;
	free(sql);
	return ev;
}

/* " Last attempt: no_answer (note)." and " Last note: ..." of one case
 * from its history (newest first); each NULL when there is none. */
static void
handoff_plan_case_lines(const struct store_rows *ev, int64_t case_id,
			char **attempt, char **note)
{
	*attempt = *note = NULL;
	for (size_t k = 0; ev && k < store_rows_count(ev); k++) {
		const char *kind = store_rows_str(ev, k, 1);
		json_t *b, *nv;
		if (store_rows_int(ev, k, 0, 0) != case_id)
			continue;
		b = json_loads(store_rows_str(ev, k, 2), 0, NULL);
		if (b == NULL)
			continue;
		nv = json_object_get(b, "note");
		if (*attempt == NULL && !strcmp(kind, "attempt"))
			*attempt = xasprintf(
				" Last attempt: %s%s%s%s.",
				json_string_value(json_object_get(b, "result")),
				nv ? " (" : "", nv ? json_string_value(nv) : "",
				nv ? ")" : "");
		if (*note == NULL && !strcmp(kind, "note"))
			*note = xasprintf(
				" Last note: %s",
				json_string_value(json_object_get(b, "text")));
		json_decref(b);
	}
}

/* Why it moves, in words the next agent and the audit can trust. */
static char *
handoff_plan_reason(const struct config *cfg, const struct handoff_world *w,
		    const struct handoff_item *it, int64_t now)
{
	const struct handoff_agent *from =
		handoff_world_agent(w, it->from_agent);
	const char *name = from ? from->name : "The owner";
	int64_t ns;

	if (it->due_at < now) {
		const char *what = handoff_is_overdue(cfg, it->due_at, now)
					   ? "overdue"
					   : "late";
		if (shift_plan_on_duty(w->plan, it->from_agent, it->due_at))
			return xasprintf("%s: %s's shift ended before the call "
					 "was made",
					 what, name);
		return xasprintf("%s: %s was off shift when it was due", what,
				 name);
	}
	ns = shift_plan_next_start(w->plan, it->from_agent, it->due_at);
	return xasprintf("%s is off shift at the due time%s", name,
			 ns > 0 ? "" : " and has no shift soon after");
}

int
handoff_plan_draft_notes(struct store_tx *tx, const struct config *cfg,
			 struct handoff_plan *p, const struct handoff_world *w,
			 const struct store_rows *callbacks,
			 struct cbd_err *err)
{
	struct store_rows *ev;
	int64_t now = clock_now();
	int is_empty;

	ev = handoff_plan_case_history(tx, p, err, &is_empty);
	if (ev == NULL && !is_empty)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		struct handoff_item *it = &p->items[i];
		const char *topic = "", *cname = "", *tz = "UTC";
		char *attempt, *note, when[64];
		ptrdiff_t row;

		if (it->to_agent <= 0)
			continue;
		row = callback_row_find(callbacks, it->callback_id);
		if (row >= 0) {
			topic = store_rows_str(callbacks, (size_t)row,
					       CALLBACK_COL_TOPIC);
			cname = store_rows_str(callbacks, (size_t)row,
					       CALLBACK_COL_CNAME);
			tz = store_rows_str(callbacks, (size_t)row,
					    CALLBACK_COL_TZ);
		}
		handoff_plan_case_lines(ev, it->case_id, &attempt, &note);
		it->summary = xasprintf("%s.%s%s", topic,
					attempt ? attempt : " No attempts yet.",
					note ? note : "");
		timefmt_strftime(it->due_at, tz, "%a %d %b %H:%M", when,
				 sizeof(when));
		it->next_step =
			it->due_at <= now
				? xasprintf("Call %s as soon as possible (it "
					    "was due %s, their time).",
					    cname, when)
				: xasprintf("Call %s at %s (their time).",
					    cname, when);
		it->reason = handoff_plan_reason(cfg, w, it, now);
		free(attempt);
		free(note);
	}
	store_rows_free(ev);
	return 0;
}
