/*
 * handoff.c: changes of owner, lead reassignments and the planner.
 *
 * Design note. A plan is computed first, from one locked snapshot: for each
 * callback, who should own it at its due time. Candidates are the agents on
 * duty then (agents without shift rules count as always on duty), ranked by
 * (1) has worked this case before, (2) fewest open callbacks, counting what
 * the plan itself has already given them, (3) same team as the current
 * owner, (4) lowest id. No randomness: a dry run and the real run of the
 * same request in the same state produce the same plan. Applying a plan is
 * set-based (grouped UPDATEs, multi-row INSERTs, batched outbox rows), so a
 * lead can move thousands of calls in one short transaction.
 *
 * The planner is a loop timer. Each pass, under a named lock so only one
 * instance plans at a time, it looks at the callbacks of agents whose shift
 * ends within handoff_lead_min (due after that end) and at every callback
 * due within handoff_lookahead_hours whose owner will be off duty then. A
 * callback is kept when its owner is on duty at the due time or back within
 * handoff_tolerance_min; otherwise it goes, with a note drafted from the
 * case, to the best agent on duty then; with nobody on duty it stays, at
 * risk, and shows in the coverage report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api.h"
#include "callback.h"
#include "clock.h"
#include "config.h"
#include "handoff.h"
#include "lease.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "roster.h"
#include "shift.h"
#include "slots.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

#define HANDOFF_MAX_ITEMS 20000
#define HANDOFF_OPEN      "'pending','scheduled','retry_wait'"

struct ho_agent {
	int64_t id;
	char team[64];
	char name[104];
	int load;
	int is_rostered;
};

/* Everything a plan is computed from. */
struct ho_world {
	struct ho_agent *agents; /* ascending id */
	size_t nagents;
	struct shift_plan *plan;
	/* agents who worked each case: pairs sorted by case id */
	int64_t (*worked)[2];
	size_t nworked;
};

static void
ho_world_clear(struct ho_world *w)
{
	free(w->agents);
	shift_plan_free(w->plan);
	free(w->worked);
	memset(w, 0, sizeof(*w));
}

static struct ho_agent *
ho_agent(const struct ho_world *w, int64_t id)
{
	size_t lo = 0, hi = w->nagents;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->agents[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nagents && w->agents[lo].id == id ? &w->agents[lo]
							 : NULL;
}

static int
ho_on_duty(const struct ho_world *w, const struct ho_agent *a, int64_t t)
{
	return a != NULL &&
	       (!a->is_rostered || shift_plan_on_duty(w->plan, a->id, t));
}

static int ho_cmp_pair(const void *a, const void *b);

/* Pairs are sorted (ho_world_load), so this is a binary search. */
static int
ho_worked(const struct ho_world *w, int64_t case_id, int64_t agent_id)
{
	int64_t key[2] = { case_id, agent_id };

	return w->nworked > 0 &&
	       bsearch(key, w->worked, w->nworked, sizeof(*w->worked),
		       ho_cmp_pair) != NULL;
}

static int
ho_cmp_int(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

static int
ho_cmp_first(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return (x[0] > y[0]) - (x[0] < y[0]);
}

static int
ho_cmp_pair(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return x[0] < y[0]   ? -1
	       : x[0] > y[0] ? 1
			     : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Load agents, shifts over [from, to) and who worked which of the cases. */
static int
ho_world_load(struct store_tx *tx, struct ho_world *w, int64_t from, int64_t to,
	      const struct store_rows *cbs, struct cbd_err *err)
{
	struct store_rows *a = NULL, *ev = NULL;
	size_t n, cap = 0;
	char *sql = NULL;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	memset(w, 0, sizeof(*w));
	a = store_query(tx, err,
			"SELECT a.id, a.team, a.open_count, EXISTS (SELECT 1 "
			"FROM shifts s WHERE s.agent_id = a.id), "
			"a.display_name FROM agents a WHERE a.is_active = 1 "
			"ORDER BY a.id",
			"");
	if (a == NULL)
		goto out;
	w->nagents = store_rows_count(a);
	w->agents = xcalloc(w->nagents ? w->nagents : 1, sizeof(*w->agents));
	for (size_t i = 0; i < w->nagents; i++) {
		w->agents[i].id = store_rows_int(a, i, 0, 0);
		snprintf(w->agents[i].team, sizeof(w->agents[i].team), "%s",
			 store_rows_str(a, i, 1));
		w->agents[i].load = (int)store_rows_int(a, i, 2, 0);
		w->agents[i].is_rostered = store_rows_int(a, i, 3, 0) != 0;
		snprintf(w->agents[i].name, sizeof(w->agents[i].name), "%s",
			 store_rows_str(a, i, 4));
	}
	if (roster_load_plan(tx, 0, from, to, &w->plan, err) != 0)
		goto out;
	n = cbs ? store_rows_count(cbs) : 0;
	if (n > 0) {
		f = open_memstream(&sql, &len);
		fprintf(f, "SELECT case_id, kind, body FROM events WHERE kind "
			   "IN ('claimed','attempt','handoff','booked') AND "
			   "case_id IN (");
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%lld", i ? "," : "",
				(long long)store_rows_int(
					cbs, i, CALLBACK_COL_CASE, 0));
		fprintf(f, ")");
		fclose(f);
		ev = store_query_built(tx, err, sql, "");
		if (ev == NULL)
			goto out;
		for (size_t i = 0; i < store_rows_count(ev); i++) {
			json_t *b =
				json_loads(store_rows_str(ev, i, 2), 0, NULL);
			static const char *const keys[] = { "agent_id",
							    "owner_id", "from",
							    "to" };
			for (size_t k = 0; b && k < CBD_ARRAY_LEN(keys); k++) {
				json_t *v = json_object_get(b, keys[k]);
				if (!json_is_integer(v))
					continue;
				if (w->nworked == cap) {
					cap = cap ? cap * 2 : 256;
					w->worked = xrealloc(
						w->worked,
						cap * sizeof(*w->worked));
				}
				w->worked[w->nworked][0] =
					store_rows_int(ev, i, 0, 0);
				w->worked[w->nworked][1] =
					json_integer_value(v);
				w->nworked++;
			}
			json_decref(b);
		}
		if (w->nworked > 1)
			qsort(w->worked, w->nworked, sizeof(*w->worked),
			      ho_cmp_pair);
	}
	rc = 0;
out:
	free(sql);
	store_rows_free(a);
	store_rows_free(ev);
	return rc;
}

/* The best agent other than from to own case_id's call at t; NULL if none. */
static struct ho_agent *
ho_pick(const struct ho_world *w, int64_t case_id, int64_t from, int64_t t)
{
	const struct ho_agent *owner = ho_agent(w, from);
	struct ho_agent *best = NULL;
	int best_worked = 0, best_team = 0;

	for (size_t i = 0; i < w->nagents; i++) {
		struct ho_agent *a = &w->agents[i];
		int worked, team;

		if (a->id == from || !ho_on_duty(w, a, t))
			continue;
		worked = ho_worked(w, case_id, a->id);
		team = owner != NULL && strcmp(owner->team, a->team) == 0;
		if (best == NULL || worked > best_worked ||
		    (worked == best_worked &&
		     (a->load < best->load ||
		      (a->load == best->load && team > best_team)))) {
			best = a;
			best_worked = worked;
			best_team = team;
		}
	}
	return best;
}

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

static int
ho_cmp_item(const void *a, const void *b)
{
	const struct handoff_item *x = a, *y = b;

	if (x->due_at != y->due_at)
		return x->due_at < y->due_at ? -1 : 1;
	return (x->callback_id > y->callback_id) -
	       (x->callback_id < y->callback_id);
}

static int
handoff_ids_for_agent(struct store_tx *tx, const struct handoff_request *req,
		      int64_t **ids, size_t *n, struct cbd_err *err)
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

int
handoff_plan_build(struct store_tx *tx, const struct config *cfg,
		   const struct handoff_request *req, struct handoff_plan *out,
		   struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	struct ho_world w;
	int64_t *ids = NULL, now = clock_now(), tmin, tmax;
	size_t n = 0;
	int rc = -1;

	(void)cfg;
	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	if (req->ncallbacks > 0) {
		n = req->ncallbacks;
		ids = xcalloc(n, sizeof(int64_t));
		memcpy(ids, req->callback_ids, n * sizeof(int64_t));
	} else if (handoff_ids_for_agent(tx, req, &ids, &n, err) != 0)
		goto out;
	if (n > HANDOFF_MAX_ITEMS) {
		cbd_err_set(err, 400, "too-many", "callback_ids",
			    "at most %d callbacks per handoff",
			    HANDOFF_MAX_ITEMS);
		goto out;
	}
	if (req->to_agent > 0) {
		struct store_rows *a = store_query(
			tx, err,
			"SELECT id FROM agents WHERE id = ? AND is_active = 1",
			"i", req->to_agent);
		size_t found;
		if (a == NULL)
			goto out;
		found = store_rows_count(a);
		store_rows_free(a);
		if (found == 0) {
			cbd_err_set(err, 400, "invalid-field", "to_agent",
				    "to_agent is not an active agent");
			goto out;
		}
	}
	cbs = callback_load_many(tx, ids, n, err);
	if (cbs == NULL)
		goto out;
	tmin = now;
	tmax = now + 1;
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		int64_t due = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
		if (due > tmax)
			tmax = due;
	}
	if (ho_world_load(tx, &w, tmin - 86400, tmax + 86400, cbs, err) != 0)
		goto out;

	out->items = xcalloc(n ? n : 1, sizeof(*out->items));
	/* Ids asked for that do not exist are reported, not fatal. */
	for (size_t k = 0, i = 0; k < n; k++) {
		struct handoff_item *it = &out->items[out->n++];
		int64_t t;
		const char *state;
		struct ho_agent *to;

		it->callback_id = ids[k];
		while (i < store_rows_count(cbs) &&
		       store_rows_int(cbs, i, CALLBACK_COL_ID, 0) < ids[k])
			i++;
		if (i >= store_rows_count(cbs) ||
		    store_rows_int(cbs, i, CALLBACK_COL_ID, 0) != ids[k]) {
			snprintf(it->why, sizeof(it->why), "no such callback");
			it->due_at = INT64_MAX;
			continue;
		}
		it->case_id = store_rows_int(cbs, i, CALLBACK_COL_CASE, 0);
		it->due_at = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
		it->from_agent = store_rows_int(cbs, i, CALLBACK_COL_OWNER, 0);
		state = store_rows_str(cbs, i, CALLBACK_COL_STATE);
		t = it->due_at > now ? it->due_at : now;
		if (!strcmp(state, "in_progress")) {
			snprintf(it->why, sizeof(it->why), "call in progress");
			continue;
		}
		if (strcmp(state, "pending") && strcmp(state, "scheduled") &&
		    strcmp(state, "retry_wait")) {
			snprintf(it->why, sizeof(it->why), "callback is %s",
				 state);
			continue;
		}
		if (req->to_agent > 0) {
			if (req->to_agent == it->from_agent) {
				snprintf(it->why, sizeof(it->why),
					 "already the owner");
				continue;
			}
			to = ho_agent(&w, req->to_agent);
			it->to_agent = req->to_agent;
			it->is_at_risk = !ho_on_duty(&w, to, t);
			snprintf(it->why, sizeof(it->why), "%s",
				 it->is_at_risk ? "the new owner is off shift "
						  "at the due time"
						: "as asked");
		} else {
			to = ho_pick(&w, it->case_id, it->from_agent, t);
			if (to == NULL) {
				it->is_at_risk = !ho_on_duty(
					&w, ho_agent(&w, it->from_agent), t);
				snprintf(it->why, sizeof(it->why),
					 "nobody else is on duty at the due "
					 "time");
				continue;
			}
			it->to_agent = to->id;
			snprintf(it->why, sizeof(it->why), "%s",
				 ho_worked(&w, it->case_id, to->id)
					 ? "on duty and has worked this case"
					 : "on duty, least loaded");
		}
		if (to != NULL)
			to->load++;
		if (ho_agent(&w, it->from_agent) != NULL)
			ho_agent(&w, it->from_agent)->load--;
	}
	qsort(out->items, out->n, sizeof(*out->items), ho_cmp_item);
	rc = 0;
out:
	if (rc != 0)
		handoff_plan_clear(out);
	free(ids);
	store_rows_free(cbs);
	ho_world_clear(&w);
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

/* Ids of moving items as "1,2,3" (ints only); NULL when none. */
static char *
ho_id_list(const struct handoff_plan *p, int64_t to_agent, int use_case)
{
	char *s = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&s, &len);

	for (size_t i = 0; i < p->n; i++) {
		if (p->items[i].to_agent <= 0 ||
		    (to_agent > 0 && p->items[i].to_agent != to_agent))
			continue;
		fprintf(f, "%s%lld", n++ ? "," : "",
			(long long)(use_case ? p->items[i].case_id
					     : p->items[i].callback_id));
	}
	fclose(f);
	if (n == 0) {
		free(s);
		return NULL;
	}
	return s;
}

int
handoff_plan_apply(struct store_tx *tx, const struct config *cfg,
		   const struct handoff_plan *p,
		   const struct handoff_note *note, const char *kind,
		   const char *author, struct cbd_err *err)
{
	struct store_batch *hb = NULL, *eb = NULL;
	struct store_rows *names = NULL, *cbs = NULL;
	int64_t now = clock_now(), *moved = NULL, *targets = NULL;
	int64_t(*from_of)[2] = NULL;
	size_t nmoved = 0, ntargets = 0;
	char *list = NULL, *sql = NULL;
	int rc = -1;

	outbox_batch_begin();
	/* Owners, grouped by new owner: one UPDATE each. */
	targets = xcalloc(p->n + 1, sizeof(int64_t));
	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].to_agent > 0)
			targets[ntargets++] = p->items[i].to_agent;
	qsort(targets, ntargets, sizeof(int64_t), ho_cmp_int);
	for (size_t i = 0; i < ntargets; i++) {
		int64_t to = targets[i];
		if (i > 0 && targets[i - 1] == to)
			continue;
		list = ho_id_list(p, to, 0);
		sql = xasprintf("UPDATE callbacks SET owner_id = ?, "
				"ics_sequence = ics_sequence + 1, updated_at = "
				"? WHERE id IN (%s)",
				list);
		if (store_exec_built(tx, err, sql, "ii", to, now) < 0)
			goto out;
		free(sql);
		free(list);
		list = ho_id_list(p, to, 1);
		sql = xasprintf(
			"UPDATE cases SET owner_id = ? WHERE id IN (%s)", list);
		if (store_exec_built(tx, err, sql, "i", to) < 0)
			goto out;
		free(sql);
		free(list);
		sql = list = NULL;
	}
	/* Loads: what each agent gains and loses. */
	{
		int64_t(*delta)[2] = xcalloc(p->n * 2 + 1, sizeof(*delta));
		size_t nd = 0;
		for (size_t i = 0; i < p->n; i++) {
			int64_t who[2] = { p->items[i].to_agent,
					   p->items[i].from_agent };
			if (who[0] <= 0)
				continue;
			for (int s = 0; s < 2; s++) {
				size_t k;
				for (k = 0; k < nd && delta[k][0] != who[s];
				     k++)
					;
				if (k == nd) {
					delta[nd][0] = who[s];
					delta[nd][1] = 0;
					nd++;
				}
				delta[k][1] += s == 0 ? 1 : -1;
			}
		}
		for (size_t k = 0; k < nd; k++) {
			if (delta[k][1] == 0)
				continue;
			if (store_exec(tx, err,
				       "UPDATE agents SET open_count = "
				       "GREATEST(0, CAST(open_count AS SIGNED) "
				       "+ ?) WHERE id = ?",
				       "ii", delta[k][1], delta[k][0]) < 0) {
				free(delta);
				goto out;
			}
		}
		free(delta);
	}
	/* The notes: a handoff row and a case event per move. */
	hb = store_batch_new("INSERT INTO handoffs (callback_id, case_id, "
			     "from_agent, to_agent, kind, author, reason, "
			     "summary, next_step, due_at, at) VALUES",
			     "iiiisssssii");
	eb = store_batch_new("INSERT INTO events (case_id, callback_id, kind, "
			     "actor, body, at) VALUES",
			     "iisssi");
	moved = xcalloc(p->n + 1, sizeof(int64_t));
	from_of = xcalloc(p->n + 1, sizeof(*from_of));
	for (size_t i = 0; i < p->n; i++) {
		const struct handoff_item *it = &p->items[i];
		const char *summary, *next_step, *reason;
		json_t *body;
		char *s;

		if (it->to_agent <= 0)
			continue;
		summary = it->summary ? it->summary : note->summary;
		next_step = it->next_step ? it->next_step : note->next_step;
		reason = it->reason ? it->reason : note->reason;
		store_batch_add(hb, it->callback_id, it->case_id,
				it->from_agent, it->to_agent, kind, author,
				reason, summary, next_step, it->due_at, now);
		body = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "from",
				 (json_int_t)it->from_agent, "to",
				 (json_int_t)it->to_agent, "kind", kind,
				 "author", author, "reason", reason, "summary",
				 summary, "next_step", next_step);
		s = json_dumps(body, JSON_COMPACT);
		store_batch_add(eb, it->case_id, it->callback_id, "handoff",
				author, s, now);
		free(s);
		json_decref(body);
		from_of[nmoved][0] = it->callback_id;
		from_of[nmoved][1] = it->from_agent;
		moved[nmoved++] = it->callback_id;
	}
	/* Sorted by callback id, to find each one's previous owner. */
	qsort(from_of, nmoved, sizeof(*from_of), ho_cmp_pair);
	if (store_batch_flush(tx, hb, err) != 0 ||
	    store_batch_flush(tx, eb, err) != 0)
		goto out;
	/* Tell each customer who will call now, from the rows as they are. */
	if (nmoved > 0) {
		cbs = callback_load_many(tx, moved, nmoved, err);
		if (cbs == NULL)
			goto out;
		names = store_query(tx, err,
				    "SELECT id, display_name FROM agents", "");
		if (names == NULL)
			goto out;
		for (size_t i = 0; i < store_rows_count(cbs); i++) {
			struct notify_ctx nc;
			int64_t cid =
				store_rows_int(cbs, i, CALLBACK_COL_ID, 0);
			int64_t key[2] = { cid, 0 }, from = 0;
			int64_t(*hit)[2];

			callback_ctx_at(cbs, i, &nc);
			hit = bsearch(key, from_of, nmoved, sizeof(*from_of),
				      ho_cmp_first);
			if (hit != NULL)
				from = (*hit)[1];
			for (size_t k = 0; k < store_rows_count(names); k++)
				if (store_rows_int(names, k, 0, 0) == from)
					nc.prev_owner_name =
						store_rows_str(names, k, 1);
			if (notify_change(tx, cfg, &nc, NOTIFY_OWNER_CHANGED,
					  err) != 0)
				goto out;
		}
	}
	if (outbox_batch_end(tx, err) != 0)
		goto out;
	if (nmoved > 0)
		log_info("handoffs applied", "n=%zu kind=%s author=%s", nmoved,
			 kind, author);
	rc = 0;
out:
	if (rc != 0)
		outbox_batch_abort();
	free(list);
	free(sql);
	free(moved);
	free(targets);
	free(from_of);
	store_batch_free(hb);
	store_batch_free(eb);
	store_rows_free(cbs);
	store_rows_free(names);
	return rc;
}

int
handoff_move(struct store_tx *tx, const struct config *cfg, int64_t callback_id,
	     int64_t case_id, int64_t due_at, int64_t from, int64_t to,
	     const struct handoff_note *note, const char *kind,
	     const char *author, struct cbd_err *err)
{
	struct handoff_item it;
	struct handoff_plan p = { &it, 1 };

	memset(&it, 0, sizeof(it));
	it.callback_id = callback_id;
	it.case_id = case_id;
	it.due_at = due_at;
	it.from_agent = from;
	it.to_agent = to;
	return handoff_plan_apply(tx, cfg, &p, note, kind, author, err);
}

/* ---- the planner ---- */

/* Draft notes for planned moves from each case's latest attempt and note. */
static int
ho_draft_notes(struct store_tx *tx, struct handoff_plan *p,
	       const struct ho_world *w, const struct store_rows *cbs,
	       struct cbd_err *err)
{
	struct store_rows *ev = NULL;
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
	if (n > 0) {
		ev = store_query_built(tx, err, sql, "");
		if (ev == NULL) {
			free(sql);
			return -1;
		}
	}
	free(sql);
	for (size_t i = 0; i < p->n; i++) {
		struct handoff_item *it = &p->items[i];
		const struct ho_agent *from = ho_agent(w, it->from_agent);
		const char *topic = "", *cname = "", *tz = "UTC";
		char *attempt = NULL, *note = NULL, when[64];
		int64_t ns;

		if (it->to_agent <= 0)
			continue;
		for (size_t k = 0; k < store_rows_count(cbs); k++) {
			if (store_rows_int(cbs, k, CALLBACK_COL_ID, 0) !=
			    it->callback_id)
				continue;
			topic = store_rows_str(cbs, k, CALLBACK_COL_TOPIC);
			cname = store_rows_str(cbs, k, 13); /* customer name */
			tz = store_rows_str(cbs, k, 16);    /* customer zone */
		}
		for (size_t k = 0; ev && k < store_rows_count(ev); k++) {
			json_t *b;
			if (store_rows_int(ev, k, 0, 0) != it->case_id)
				continue;
			b = json_loads(store_rows_str(ev, k, 2), 0, NULL);
			if (b == NULL)
				continue;
			if (attempt == NULL &&
			    !strcmp(store_rows_str(ev, k, 1), "attempt"))
				attempt = xasprintf(
					" Last attempt: %s%s%s%s.",
					json_string_value(
						json_object_get(b, "result")),
					json_object_get(b, "note") ? " (" : "",
					json_object_get(b, "note")
						? json_string_value(
							  json_object_get(
								  b, "note"))
						: "",
					json_object_get(b, "note") ? ")" : "");
			if (note == NULL &&
			    !strcmp(store_rows_str(ev, k, 1), "note"))
				note = xasprintf(
					" Last note: %s",
					json_string_value(
						json_object_get(b, "text")));
			json_decref(b);
		}
		it->summary = xasprintf("%s.%s%s", topic,
					attempt ? attempt : " No attempts yet.",
					note ? note : "");
		timefmt_strftime(it->due_at, tz, "%a %d %b %H:%M", when,
				 sizeof(when));
		it->next_step =
			it->due_at <= clock_now()
				? xasprintf("Call %s as soon as possible.",
					    cname)
				: xasprintf("Call %s at %s (their time).",
					    cname, when);
		ns = shift_plan_next_start(w->plan, it->from_agent, it->due_at);
		it->reason =
			xasprintf("%s is off shift at the due time%s",
				  from ? from->name : "The owner",
				  ns > 0 ? "" : " and has no shift soon after");
		free(attempt);
		free(note);
	}
	store_rows_free(ev);
	return 0;
}

int
handoff_planner_pass(struct store_tx *tx, const struct config *cfg,
		     json_t **report, struct cbd_err *err)
{
	int64_t now = clock_now(), *ids = NULL, tmax;
	int64_t lead = (int64_t)cfg->handoff_lead_min * 60;
	int64_t look = (int64_t)cfg->handoff_lookahead_hours * 3600;
	int64_t tol = (int64_t)cfg->handoff_tolerance_min * 60;
	struct store_rows *r = NULL, *cbs = NULL;
	struct handoff_plan p;
	struct ho_world w;
	size_t n = 0, cap = 0, kept = 0, risk = 0, moved = 0;
	int rc = -1, locked = 0;

	memset(&p, 0, sizeof(p));
	memset(&w, 0, sizeof(w));
	*report = NULL;
	/* One planner at a time across instances; the others skip. The
	 * planner lease is a row that this pass writes (renewing it while we
	 * hold it) and keeps after commit, so the other instances' passes skip
	 * until it runs out; two instances taking it at once on different
	 * Galera nodes conflict at certification, and the loser's retry finds
	 * it held. GET_LOCK excluded only passes on the same node. */
	locked = lease_take(tx, "planner", 2 * cfg->planner_interval_sec + 30,
			    err);
	if (locked < 0) {
		locked = 0;
		goto out;
	}
	if (!locked) {
		*report = json_pack("{s:b}", "skipped", 1);
		rc = 0;
		goto out;
	}
	tmax = now + look + 8 * 86400;
	if (ho_world_load(tx, &w, now - 86400, tmax, NULL, err) != 0)
		goto out;
	/* Candidates: callbacks of agents leaving within the lead time that
	 * are due after they leave, and anything due soon. */
	for (size_t i = 0; i < w.nagents; i++) {
		const struct ho_agent *a = &w.agents[i];
		int64_t end;
		if (!a->is_rostered || !shift_plan_on_duty(w.plan, a->id, now))
			continue;
		end = shift_plan_shift_end(w.plan, a->id, now);
		if (end < 0 || end - now > lead)
			continue;
		r = store_query(tx, err,
				"SELECT id FROM callbacks WHERE owner_id = ? "
				"AND state IN (" HANDOFF_OPEN ") AND due_at >= "
				"? AND due_at < ? ORDER BY due_at LIMIT 5000",
				"iii", a->id, end, tmax);
		if (r == NULL)
			goto out;
		for (size_t k = 0; k < store_rows_count(r); k++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				ids = xrealloc(ids, cap * sizeof(int64_t));
			}
			ids[n++] = store_rows_int(r, k, 0, 0);
		}
		store_rows_free(r);
		r = NULL;
	}
	r = store_query(tx, err,
			"SELECT id FROM callbacks WHERE state IN (" HANDOFF_OPEN
			") AND due_at <= ? ORDER BY due_at LIMIT 5000",
			"i", now + look);
	if (r == NULL)
		goto out;
	for (size_t k = 0; k < store_rows_count(r); k++) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			ids = xrealloc(ids, cap * sizeof(int64_t));
		}
		ids[n++] = store_rows_int(r, k, 0, 0);
	}
	store_rows_free(r);
	r = NULL;
	if (n == 0) {
		*report = json_pack("{s:i, s:i, s:i}", "kept", 0, "handed_off",
				    0, "at_risk", 0);
		rc = 0;
		goto out;
	}
	/* Locked in id order, like every other multi-row lock here. */
	{
		int64_t *sorted = xcalloc(n, sizeof(int64_t));
		size_t m = 0;
		memcpy(sorted, ids, n * sizeof(int64_t));
		qsort(sorted, n, sizeof(int64_t), ho_cmp_int);
		for (size_t i = 0; i < n; i++)
			if (m == 0 || sorted[m - 1] != sorted[i])
				sorted[m++] = sorted[i];
		free(ids);
		ids = sorted;
		n = m;
	}
	cbs = callback_load_many(tx, ids, n, err);
	if (cbs == NULL)
		goto out;
	ho_world_clear(&w);
	if (ho_world_load(tx, &w, now - 86400, tmax, cbs, err) != 0)
		goto out;
	p.items = xcalloc(store_rows_count(cbs) + 1, sizeof(*p.items));
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		struct handoff_item *it = &p.items[p.n];
		const struct ho_agent *owner;
		struct ho_agent *to;
		int64_t t, ns;

		if (strcmp(store_rows_str(cbs, i, CALLBACK_COL_STATE),
			   "in_progress") == 0)
			continue;
		it->callback_id = store_rows_int(cbs, i, CALLBACK_COL_ID, 0);
		it->case_id = store_rows_int(cbs, i, CALLBACK_COL_CASE, 0);
		it->due_at = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
		it->from_agent = store_rows_int(cbs, i, CALLBACK_COL_OWNER, 0);
		owner = ho_agent(&w, it->from_agent);
		t = it->due_at > now ? it->due_at : now;
		if (ho_on_duty(&w, owner, t))
			continue; /* on duty then: nothing to decide */
		ns = owner ? shift_plan_next_start(w.plan, owner->id, t) : -1;
		if (owner != NULL && ns > 0 && ns - t <= tol) {
			kept++;
			continue;
		}
		to = ho_pick(&w, it->case_id, it->from_agent, t);
		if (to == NULL) {
			risk++;
			continue;
		}
		it->to_agent = to->id;
		snprintf(it->why, sizeof(it->why),
			 "owner off shift at due time");
		to->load++;
		p.n++;
		moved++;
	}
	if (p.n > 0 && (ho_draft_notes(tx, &p, &w, cbs, err) != 0 ||
			handoff_plan_apply(tx, cfg, &p, NULL, "planned",
					   "planner", err) != 0))
		goto out;
	*report = json_pack("{s:I, s:I, s:I}", "kept", (json_int_t)kept,
			    "handed_off", (json_int_t)moved, "at_risk",
			    (json_int_t)risk);
	rc = 0;
out:
	handoff_plan_clear(&p);
	ho_world_clear(&w);
	store_rows_free(r);
	store_rows_free(cbs);
	free(ids);
	return rc;
}

struct handoff_planner {
	const struct config *cfg;
	struct store_pool *pool;
	struct event *tick;
	int is_running;
	json_t *report;
};

static int
handoff_planner_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct handoff_planner *hp = arg;

	json_decref(hp->report);
	hp->report = NULL;
	return handoff_planner_pass(tx, hp->cfg, &hp->report, err);
}

static void
handoff_planner_done(void *arg, int rc, struct cbd_err *err)
{
	struct handoff_planner *hp = arg;

	hp->is_running = 0;
	if (rc != 0)
		log_warn("planner pass failed", "error=\"%s\"", err->detail);
	else if (hp->report != NULL &&
		 json_integer_value(json_object_get(hp->report, "handed_off")) +
				 json_integer_value(json_object_get(
					 hp->report, "at_risk")) >
			 0)
		log_info("planner pass",
			 "handed_off=%lld at_risk=%lld kept=%lld",
			 (long long)json_integer_value(
				 json_object_get(hp->report, "handed_off")),
			 (long long)json_integer_value(
				 json_object_get(hp->report, "at_risk")),
			 (long long)json_integer_value(
				 json_object_get(hp->report, "kept")));
	json_decref(hp->report);
	hp->report = NULL;
}

static void
handoff_planner_tick(evutil_socket_t fd, short what, void *arg)
{
	struct handoff_planner *hp = arg;

	(void)fd;
	(void)what;
	if (hp->is_running)
		return;
	hp->is_running = 1;
	if (store_submit(hp->pool, handoff_planner_work, handoff_planner_done,
			 hp) != 0)
		hp->is_running = 0;
}

struct handoff_planner *
handoff_planner_new(struct event_base *base, const struct config *cfg,
		    struct store_pool *pool)
{
	struct handoff_planner *hp = xcalloc(1, sizeof(*hp));
	struct timeval tv = { cfg->planner_interval_sec, 0 };

	hp->cfg = cfg;
	hp->pool = pool;
	hp->tick = event_new(base, -1, EV_PERSIST, handoff_planner_tick, hp);
	event_add(hp->tick, &tv);
	return hp;
}

void
handoff_planner_free(struct handoff_planner *hp)
{
	if (hp == NULL)
		return;
	event_free(hp->tick);
	json_decref(hp->report);
	free(hp);
}

/* ---- reading and annotating ---- */

#define HANDOFF_COLS                                                           \
	"h.id, h.callback_id, h.case_id, h.from_agent, h.to_agent, h.kind, "   \
	"h.author, h.reason, h.summary, h.next_step, h.annotation, h.due_at, " \
	"h.at, c.state, fa.display_name, ta.display_name "
#define HANDOFF_FROM                                                           \
	"FROM handoffs h JOIN callbacks c ON c.id = h.callback_id JOIN "       \
	"agents fa ON fa.id = h.from_agent JOIN agents ta ON ta.id = "         \
	"h.to_agent "

static json_t *
ho_row_json(const struct store_rows *r, size_t i)
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
ho_rows_json(const struct store_rows *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < store_rows_count(r); i++)
		json_array_append_new(a, ho_row_json(r, i));
	return a;
}

int
handoff_list_agent(struct store_tx *tx, int64_t agent_id, json_t **out,
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
	*out = json_pack("{s:o, s:o}", "given", ho_rows_json(given), "received",
			 ho_rows_json(got));
	store_rows_free(given);
	store_rows_free(got);
	return 0;
}

int
handoff_annotate(struct store_tx *tx, int64_t id, int64_t agent_id,
		 const char *annotation, const char *next_step, json_t **out,
		 struct cbd_err *err)
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
	*out = ho_row_json(r, 0);
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

int
handoff_audit(struct store_tx *tx, int64_t callback_id, int64_t agent_id,
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
	*items = ho_rows_json(r);
	n = store_rows_count(r);
	*last_id = n ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
handoff_coverage(struct store_tx *tx, const struct config *cfg, int64_t from,
		 int64_t to, json_t **out, struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	struct ho_world w;
	int64_t h0 = from - ((from % 3600) + 3600) % 3600;
	int slots_per_hour = 60 / cfg->slot_minutes;
	json_t *hours = json_array();
	size_t nrisk = 0;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	if (ho_world_load(tx, &w, from - 86400, to + 86400, NULL, err) != 0)
		goto out;
	cbs = store_query(tx, err,
			  "SELECT id, owner_id, due_at FROM callbacks WHERE "
			  "state IN (" HANDOFF_OPEN ",'in_progress') AND "
			  "due_at >= ? AND due_at < ? ORDER BY due_at",
			  "ii", h0, to);
	if (cbs == NULL)
		goto out;
	for (int64_t h = h0; h < to; h += 3600) {
		json_t *risk = json_array(), *over = json_array();
		int on = 0, booked = 0, cap = 0;
		int64_t mid = h + 1800;

		for (size_t i = 0; i < w.nagents; i++) {
			int mine = 0;
			if (!ho_on_duty(&w, &w.agents[i], mid))
				continue;
			on++;
			cap += slots_per_hour < 1 ? 1 : slots_per_hour;
			for (size_t k = 0; k < store_rows_count(cbs); k++) {
				int64_t due = store_rows_int(cbs, k, 2, 0);
				if (due >= h && due < h + 3600 &&
				    store_rows_int(cbs, k, 1, 0) ==
					    w.agents[i].id)
					mine++;
			}
			if (mine > (slots_per_hour < 1 ? 1 : slots_per_hour) *
					   cfg->max_per_agent_per_slot)
				json_array_append_new(
					over,
					json_pack("{s:I, s:i}", "agent_id",
						  (json_int_t)w.agents[i].id,
						  "booked", mine));
		}
		for (size_t k = 0; k < store_rows_count(cbs); k++) {
			int64_t due = store_rows_int(cbs, k, 2, 0);
			const struct ho_agent *o;
			if (due < h || due >= h + 3600)
				continue;
			booked++;
			o = ho_agent(&w, store_rows_int(cbs, k, 1, 0));
			if (!ho_on_duty(&w, o, due)) {
				json_array_append_new(
					risk,
					json_pack("{s:I, s:I, s:o}",
						  "callback_id",
						  (json_int_t)store_rows_int(
							  cbs, k, 0, 0),
						  "owner_id",
						  (json_int_t)store_rows_int(
							  cbs, k, 1, 0),
						  "due_at",
						  api_time(due, NULL)));
				nrisk++;
			}
		}
		json_array_append_new(
			hours,
			json_pack("{s:o, s:i, s:i, s:i, s:b, s:o, s:o}", "hour",
				  api_time(h, NULL), "on_duty", on, "booked",
				  booked, "capacity",
				  cap * cfg->max_per_agent_per_slot,
				  "unstaffed",
				  on == 0 && slots_is_open(cfg, h, 3600),
				  "at_risk", risk, "over_capacity", over));
	}
	*out = json_pack("{s:o, s:o, s:I, s:o}", "from", api_time(from, NULL),
			 "to", api_time(to, NULL), "at_risk_total",
			 (json_int_t)nrisk, "hours", hours);
	hours = NULL;
	rc = 0;
out:
	json_decref(hours);
	store_rows_free(cbs);
	ho_world_clear(&w);
	return rc;
}
