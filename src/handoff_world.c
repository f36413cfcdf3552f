/*
 * handoff_world.c: who is there to take a call (read this first of the
 * handoff modules; the order is in handoff_world.h).
 *
 * Design note. Ownership decisions are computed first, from one locked
 * snapshot (this "world"): for each callback, who should own it at its due
 * time. Candidates are the agents on duty then (agents without shift rules
 * count as always on duty), ranked by (1) has worked this case before, (2)
 * fewest open callbacks, counting what the plan itself has already given
 * them, (3) same team as the current owner, (4) lowest id. No randomness:
 * a dry run and the real run of the same request in the same state produce
 * the same plan (handoff_plan.c). Applying a plan is set-based (grouped
 * UPDATEs, multi-row INSERTs, batched outbox rows), so a lead can move
 * thousands of calls in one short transaction (handoff_apply.c).
 *
 * The planner (handoff_planner.c) is a loop timer. Each pass, with only one
 * instance planning at a time, it looks at the callbacks of agents whose
 * shift ends within handoff_lead_min (due after that end) and at every
 * callback due within handoff_lookahead_hours whose owner will be off duty
 * then. A callback is kept when its owner is on duty at the due time or
 * back within handoff_tolerance_min; otherwise it goes, with a note drafted
 * from the case, to the best agent on duty then; with nobody on duty it
 * stays, at risk, and shows in the coverage report (coverage.c).
 *
 * Layering: these modules read and lock callbacks through callback_row.c
 * and write messages through notify.c; callback.c (the state machine)
 * calls handoff_apply_move when a reschedule changes owner. Nothing here
 * calls back up into callback.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "callback_row.h"
#include "handoff_world.h"
#include "roster.h"
#include "routing_queue.h"
#include "shift.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

int
handoff_cmp_int(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

int
handoff_cmp_pair(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return x[0] < y[0]   ? -1
	       : x[0] > y[0] ? 1
			     : (x[1] > y[1]) - (x[1] < y[1]);
}

void
handoff_world_clear(struct handoff_world *w)
{
	for (size_t i = 0; i < w->nagents; i++)
		free(w->agents[i].dues);
	free(w->agents);
	shift_plan_free(w->plan);
	free(w->worked);
	free(w->queues);
	free(w->skilled);
	memset(w, 0, sizeof(*w));
}

struct handoff_agent *
handoff_world_agent(const struct handoff_world *w, int64_t id)
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

int
handoff_world_on_duty(const struct handoff_world *w,
		      const struct handoff_agent *a, int64_t t)
{
	return a != NULL &&
	       (!a->is_rostered || shift_plan_on_duty(w->plan, a->id, t));
}

/* Pairs are sorted (handoff_world_load), so this is a binary search. */
int
handoff_world_worked(const struct handoff_world *w, int64_t case_id,
		     int64_t agent_id)
{
	int64_t key[2] = { case_id, agent_id };

	return w->nworked > 0 &&
	       bsearch(key, w->worked, w->nworked, sizeof(*w->worked),
		       handoff_cmp_pair) != NULL;
}

/* Active agents, ascending id, with their load and whether rostered. */
static int
handoff_world_load_agents(struct store_tx *tx, struct handoff_world *w,
			  struct cbd_err *err)
{
	struct store_rows *a;

	a = store_query(tx, err,
			"SELECT a.id, a.team, " AGENT_ROSTERED_SQL(
				"a") ", "
				     "a.display_name FROM agents a WHERE "
				     "a.is_active = 1 "
				     "ORDER BY a.id",
			"");
	if (a == NULL)
		return -1;
	w->nagents = store_rows_count(a);
	w->agents = xcalloc(w->nagents ? w->nagents : 1, sizeof(*w->agents));
	for (size_t i = 0; i < w->nagents; i++) {
		w->agents[i].id = store_rows_int(a, i, 0, 0);
		snprintf(w->agents[i].team, sizeof(w->agents[i].team), "%s",
			 store_rows_str(a, i, 1));
		w->agents[i].is_rostered = store_rows_int(a, i, 2, 0) != 0;
		snprintf(w->agents[i].name, sizeof(w->agents[i].name), "%s",
			 store_rows_str(a, i, 3));
	}
	store_rows_free(a);
	return 0;
}

/* First index of a's dues at or after t. */
static size_t
handoff_world_due_index(const struct handoff_agent *a, int64_t t)
{
	size_t lo = 0, hi = a->ndues;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->dues[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
handoff_world_give(struct handoff_agent *a, int64_t due_at)
{
	size_t k;

	if (a == NULL)
		return;
	if (a->ndues == a->capdues) {
		a->capdues = a->capdues ? a->capdues * 2 : 16;
		a->dues = xrealloc(a->dues, a->capdues * sizeof(int64_t));
	}
	k = handoff_world_due_index(a, due_at);
	memmove(&a->dues[k + 1], &a->dues[k], (a->ndues - k) * sizeof(int64_t));
	a->dues[k] = due_at;
	a->ndues++;
}

void
handoff_world_take(struct handoff_agent *a, int64_t due_at)
{
	size_t k;

	if (a == NULL)
		return;
	k = handoff_world_due_index(a, due_at);
	if (k == a->ndues || a->dues[k] != due_at)
		return; /* outside the window */
	memmove(&a->dues[k], &a->dues[k + 1],
		(a->ndues - k - 1) * sizeof(int64_t));
	a->ndues--;
}

/* Every agent's open calls due in [from, to), for the picks' work. */
static int
handoff_world_load_dues(struct store_tx *tx, struct handoff_world *w,
			int64_t from, int64_t to, struct cbd_err *err)
{
	struct store_rows *r;

	r = store_query(tx, err,
			"SELECT owner_id, due_at FROM callbacks WHERE state IN "
			"('pending','scheduled','retry_wait','in_progress') "
			"AND due_at >= ? AND due_at < ? ORDER BY owner_id, "
			"due_at",
			"ii", from, to);
	if (r == NULL)
		return -1;
	for (size_t k = 0; k < store_rows_count(r); k++) {
		struct handoff_agent *a =
			handoff_world_agent(w, store_rows_int(r, k, 0, 0));
		if (a == NULL)
			continue;
		if (a->ndues == a->capdues) {
			a->capdues = a->capdues ? a->capdues * 2 : 16;
			a->dues =
				xrealloc(a->dues, a->capdues * sizeof(int64_t));
		}
		a->dues[a->ndues++] = store_rows_int(r, k, 1, 0);
	}
	store_rows_free(r);
	return 0;
}

static void
handoff_world_add_worked(struct handoff_world *w, size_t *cap, int64_t case_id,
			 int64_t agent_id)
{
	if (w->nworked == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		w->worked = xrealloc(w->worked, *cap * sizeof(*w->worked));
	}
	w->worked[w->nworked][0] = case_id;
	w->worked[w->nworked][1] = agent_id;
	w->nworked++;
}

/* Who worked the cases of callbacks: every agent an event of the case
 * names (claimed, attempted, was handed it, was booked for it). */
static int
handoff_world_load_worked(struct store_tx *tx, struct handoff_world *w,
			  const struct store_rows *callbacks,
			  struct cbd_err *err)
{
	static const char *const keys[] = { "agent_id", "owner_id", "from",
					    "to" };
	size_t n = callbacks ? store_rows_count(callbacks) : 0, cap = 0;
	struct store_rows *ev;
	char *sql = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 0)
		return 0;
	f = open_memstream(&sql, &len);
	fprintf(f, "SELECT case_id, kind, body FROM events WHERE kind "
		   "IN ('claimed','attempt','handoff','booked') AND "
		   "case_id IN (");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%lld", i ? "," : "",
			(long long)store_rows_int(callbacks, i,
						  CALLBACK_COL_CASE, 0));
	fprintf(f, ")");
	fclose(f);
	ev = store_query_built(tx, err, sql, "");
	free(sql);
	if (ev == NULL)
		return -1;
	for (size_t i = 0; i < store_rows_count(ev); i++) {
		json_t *b = json_loads(store_rows_str(ev, i, 2), 0, NULL);
		for (size_t k = 0; b && k < CBD_ARRAY_LEN(keys); k++) {
			json_t *v = json_object_get(b, keys[k]);
			if (json_is_integer(v))
				handoff_world_add_worked(
					w, &cap, store_rows_int(ev, i, 0, 0),
					json_integer_value(v));
		}
		json_decref(b);
	}
	store_rows_free(ev);
	if (w->nworked > 1)
		qsort(w->worked, w->nworked, sizeof(*w->worked),
		      handoff_cmp_pair);
	return 0;
}

/* The routing queues and who has the skills of each. */
static int
handoff_world_load_skills(struct store_tx *tx, struct handoff_world *w,
			  struct cbd_err *err)
{
	struct store_rows *q, *p;

	q = store_query(
		tx, err,
		"SELECT q.id, q.name, q.timezone, COALESCE(GROUP_CONCAT("
		"s.skill ORDER BY s.skill SEPARATOR ', '), '') FROM "
		"routing_queues q LEFT JOIN routing_queue_skills s ON "
		"s.queue_id = q.id GROUP BY q.id, q.name, q.timezone "
		"ORDER BY q.id",
		"");
	if (q == NULL)
		return -1;
	w->nqueues = store_rows_count(q);
	w->queues = xcalloc(w->nqueues + 1, sizeof(*w->queues));
	for (size_t i = 0; i < w->nqueues; i++) {
		struct handoff_queue *hq = &w->queues[i];
		hq->id = store_rows_int(q, i, 0, 0);
		snprintf(hq->name, sizeof(hq->name), "%s",
			 store_rows_str(q, i, 1));
		snprintf(hq->tz, sizeof(hq->tz), "%s", store_rows_str(q, i, 2));
		snprintf(hq->needs, sizeof(hq->needs), "%s",
			 store_rows_str(q, i, 3));
	}
	store_rows_free(q);
	p = store_query(tx, err,
			"SELECT q.id, a.id FROM routing_queues q JOIN agents a "
			"ON a.is_active = 1 WHERE " ROUTING_SKILLED_SQL(
				"a.id", "q.id") " ORDER BY q.id, a.id",
			"");
	if (p == NULL)
		return -1;
	w->nskilled = store_rows_count(p);
	w->skilled = xcalloc(w->nskilled + 1, sizeof(*w->skilled));
	for (size_t i = 0; i < w->nskilled; i++) {
		w->skilled[i][0] = store_rows_int(p, i, 0, 0);
		w->skilled[i][1] = store_rows_int(p, i, 1, 0);
	}
	store_rows_free(p);
	return 0;
}

static const struct handoff_queue *
handoff_world_queue(const struct handoff_world *w, int64_t queue_id)
{
	for (size_t i = 0; i < w->nqueues; i++)
		if (w->queues[i].id == queue_id)
			return &w->queues[i];
	return NULL;
}

int
handoff_world_skilled(const struct handoff_world *w, int64_t queue_id,
		      int64_t agent_id)
{
	int64_t key[2] = { queue_id, agent_id };

	/* The default queue needs nothing; so does a queue deleted since
	 * (a queue with open calls cannot be deleted). */
	if (queue_id <= 0 || handoff_world_queue(w, queue_id) == NULL)
		return 1;
	return w->nskilled > 0 &&
	       bsearch(key, w->skilled, w->nskilled, sizeof(*w->skilled),
		       handoff_cmp_pair) != NULL;
}

void
handoff_world_gap(const struct handoff_world *w, int64_t queue_id, int64_t t,
		  char *buf, size_t size)
{
	const struct handoff_queue *q = handoff_world_queue(w, queue_id);
	int64_t next = -1;
	char when[64];

	for (size_t i = 0; i < w->nagents; i++) {
		const struct handoff_agent *a = &w->agents[i];
		int64_t ns;
		if (!handoff_world_skilled(w, queue_id, a->id))
			continue;
		ns = handoff_world_on_duty(w, a, t)
			     ? t
			     : shift_plan_next_start(w->plan, a->id, t);
		if (ns >= 0 && (next < 0 || ns < next))
			next = ns;
	}
	if (q == NULL) {
		snprintf(buf, size, "nobody else is on duty");
		return;
	}
	if (next < 0) {
		snprintf(buf, size,
			 "no agent with %.60s (queue %.32s) is on duty in the "
			 "days ahead",
			 q->needs, q->name);
		return;
	}
	timefmt_strftime(next, q->tz, "%a %H:%M", when, sizeof(when));
	snprintf(buf, size,
		 "no agent with %.60s (queue %.32s) on duty until %.20s %.40s",
		 q->needs, q->name, when, q->tz);
}

int
handoff_world_load(struct store_tx *tx, struct handoff_world *w, int64_t from,
		   int64_t to, const struct store_rows *callbacks,
		   struct cbd_err *err)
{
	memset(w, 0, sizeof(*w));
	if (handoff_world_load_agents(tx, w, err) != 0 ||
	    roster_load_plan(tx, 0, from, to, &w->plan, err) != 0 ||
	    handoff_world_load_dues(tx, w, from, to, err) != 0 ||
	    handoff_world_load_worked(tx, w, callbacks, err) != 0 ||
	    handoff_world_load_skills(tx, w, err) != 0)
		return -1;
	return 0;
}

/* Seconds a's stretch on duty has left at t (INT64_MAX: no shift rules,
 * always on); -1 when off duty at t. */
static int64_t
handoff_world_left(const struct handoff_world *w, const struct handoff_agent *a,
		   int64_t t)
{
	int64_t end;

	if (!a->is_rostered)
		return INT64_MAX;
	end = shift_plan_shift_end(w->plan, a->id, t);
	return end < 0 ? -1 : end - t;
}

/*
 * How busy a's shift around t would be with one more call, as work and
 * span seconds (compared as (work + 1) / span): the calls due in its
 * stretch on duty, or for a call already due (is_late) the calls waiting
 * and the rest of the stretch against the time left.
 */
static void
handoff_world_busy(const struct handoff_world *w, const struct handoff_agent *a,
		   int64_t t, int is_late, int64_t *work, int64_t *span)
{
	int64_t start, end;

	if (a->is_rostered) {
		start = shift_plan_shift_start(w->plan, a->id, t);
		end = shift_plan_shift_end(w->plan, a->id, t);
	} else {
		start = t - 43200; /* always on: the day around t */
		end = t + 43200;
	}
	if (is_late)
		start = t - 86400;
	*work = (int64_t)(handoff_world_due_index(a, end) -
			  handoff_world_due_index(a, start));
	*span = end - (is_late ? t : start);
	if (*span <= 0)
		*span = 1;
}

/*
 * Walk the agents on duty at t other than from, keeping the best by
 * (1) how long they stay: for a call already due (is_late), the most shift
 * left, leaving out anyone with less than handle_sec; for one ahead,
 * staying at least handle_sec past t before not; then (2) has worked the
 * case, (3) least busy shift with the call added, (4) same team as from,
 * (5) lowest id.
 */
static struct handoff_agent *
handoff_world_best(const struct handoff_world *w, int64_t queue_id,
		   int64_t case_id, int64_t from, int64_t t, int is_late,
		   int64_t handle_sec)
{
	const struct handoff_agent *owner = handoff_world_agent(w, from);
	struct handoff_agent *best = NULL;
	int best_worked = 0, best_team = 0;
	int64_t best_stay = 0, best_work = 0, best_span = 1;

	for (size_t i = 0; i < w->nagents; i++) {
		struct handoff_agent *a = &w->agents[i];
		int64_t stay, work, span, mine, theirs;
		int worked, team;

		/* Never to someone without the queue's skills. */
		if (a->id == from || !handoff_world_on_duty(w, a, t) ||
		    !handoff_world_skilled(w, queue_id, a->id))
			continue;
		stay = handoff_world_left(w, a, t);
		if (is_late && stay < handle_sec)
			continue;
		if (!is_late)
			stay = stay >= handle_sec;
		worked = handoff_world_worked(w, case_id, a->id);
		team = owner != NULL && strcmp(owner->team, a->team) == 0;
		handoff_world_busy(w, a, t, is_late, &work, &span);
		/* (work + 1) / span against the best's, without division */
		mine = (work + 1) * best_span;
		theirs = (best_work + 1) * span;
		if (best == NULL || stay > best_stay ||
		    (stay == best_stay &&
		     (worked > best_worked ||
		      (worked == best_worked &&
		       (mine < theirs ||
			(mine == theirs && team > best_team)))))) {
			best = a;
			best_stay = stay;
			best_worked = worked;
			best_team = team;
			best_work = work;
			best_span = span;
		}
	}
	return best;
}

struct handoff_agent *
handoff_world_pick(const struct handoff_world *w, int64_t queue_id,
		   int64_t case_id, int64_t from, int64_t t, int64_t handle_sec)
{
	return handoff_world_best(w, queue_id, case_id, from, t, 0, handle_sec);
}

struct handoff_agent *
handoff_world_pick_late(const struct handoff_world *w, int64_t queue_id,
			int64_t case_id, int64_t from, int64_t now,
			int64_t min_left)
{
	return handoff_world_best(w, queue_id, case_id, from, now, 1, min_left);
}
