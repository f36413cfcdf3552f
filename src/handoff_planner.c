/*
 * handoff_planner.c: when calls move. A pass lists the candidates (calls
 * of agents about to leave, calls due soon), decides each against the
 * world snapshot (handoff_world.c), drafts the notes (handoff_plan.c) and
 * applies the moves (handoff_apply.c), all in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "callback_row.h"
#include "clock.h"
#include "config.h"
#include "handoff_apply.h"
#include "handoff_plan.h"
#include "handoff_planner.h"
#include "handoff_world.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "routing_figures.h"
#include "shift.h"
#include "store.h"
#include "xalloc.h"

/* Most candidates one query adds to a pass. */
#define HANDOFF_PLANNER_BATCH 5000

/* A growing list of callback ids. */
struct handoff_ids {
	int64_t *v;
	size_t n, cap;
};

static void
handoff_ids_add_rows(struct handoff_ids *ids, const struct store_rows *r)
{
	for (size_t k = 0; k < store_rows_count(r); k++) {
		if (ids->n == ids->cap) {
			ids->cap = ids->cap ? ids->cap * 2 : 256;
			ids->v = xrealloc(ids->v, ids->cap * sizeof(int64_t));
		}
		ids->v[ids->n++] = store_rows_int(r, k, 0, 0);
	}
}

/* Sorted and without repeats: locked in id order, like every other
 * multi-row lock here. */
static void
handoff_ids_sort_unique(struct handoff_ids *ids)
{
	size_t m = 0;

	if (ids->n == 0)
		return;
	qsort(ids->v, ids->n, sizeof(int64_t), handoff_cmp_int);
	for (size_t i = 0; i < ids->n; i++)
		if (m == 0 || ids->v[m - 1] != ids->v[i])
			ids->v[m++] = ids->v[i];
	ids->n = m;
}

/*
 * Take the planner's lock: 1 held, 0 another instance holds it (skip this
 * pass), -1 with err. The lock is the "planner" lease row (lease.h), which
 * this pass writes (renewing it while we hold it) and keeps after commit,
 * so the other instances' passes skip until it runs out; two instances
 * taking it at once on different Galera nodes conflict at certification,
 * and the loser's retry finds it held. GET_LOCK excluded only passes on
 * the same node.
 */
static int
handoff_planner_lock(struct store_tx *tx, const struct config *cfg,
		     struct cbd_err *err)
{
	return lease_take(tx, "planner", 2 * cfg->planner_interval_sec + 30,
			  err);
}

/* Candidates: callbacks of agents leaving within the lead time that are
 * due after they leave (up to tmax), and anything due within look. */
static int
handoff_planner_candidates(struct store_tx *tx, const struct config *cfg,
			   const struct handoff_world *w, int64_t now,
			   int64_t tmax, struct handoff_ids *ids,
			   struct cbd_err *err)
{
	int64_t lead = (int64_t)cfg->handoff_lead_min * 60;
	int64_t look = (int64_t)cfg->handoff_lookahead_hours * 3600;
	struct store_rows *r;

	for (size_t i = 0; i < w->nagents; i++) {
		const struct handoff_agent *a = &w->agents[i];
		int64_t end;
		if (!a->is_rostered || !shift_plan_on_duty(w->plan, a->id, now))
			continue;
		end = shift_plan_shift_end(w->plan, a->id, now);
		if (end < 0 || end - now > lead)
			continue;
		r = store_query(tx, err,
				"SELECT id FROM callbacks WHERE owner_id = ? "
				"AND state IN (" HANDOFF_OPEN ") AND due_at >= "
				"? AND due_at < ? ORDER BY due_at LIMIT ?",
				"iiii", a->id, end, tmax,
				(int64_t)HANDOFF_PLANNER_BATCH);
		if (r == NULL)
			return -1;
		handoff_ids_add_rows(ids, r);
		store_rows_free(r);
	}
	r = store_query(tx, err,
			"SELECT id FROM callbacks WHERE state IN (" HANDOFF_OPEN
			") AND due_at <= ? ORDER BY due_at LIMIT ?",
			"ii", now + look, (int64_t)HANDOFF_PLANNER_BATCH);
	if (r == NULL)
		return -1;
	handoff_ids_add_rows(ids, r);
	store_rows_free(r);
	handoff_ids_sort_unique(ids);
	return 0;
}

/* What a pass did, for its report. */
struct handoff_planner_counts {
	size_t kept, at_risk, moved;
};

/*
 * Decide row i of cbs: nothing to do (owner on duty then), kept (owner
 * back within the tolerance), at risk (nobody else on duty) or a move,
 * which is appended to p.
 */
static void
handoff_planner_decide(const struct config *cfg, struct handoff_world *w,
		       const struct store_rows *cbs, size_t i, int64_t now,
		       struct handoff_plan *p, struct handoff_planner_counts *c)
{
	int64_t tol = (int64_t)cfg->handoff_tolerance_min * 60;
	struct handoff_item *it = &p->items[p->n];
	const struct handoff_agent *owner;
	struct handoff_agent *to;
	int64_t t, ns;

	memset(it, 0, sizeof(*it)); /* the slot of an item that stayed */
	if (strcmp(store_rows_str(cbs, i, CALLBACK_COL_STATE), "in_progress") ==
	    0)
		return;
	it->callback_id = store_rows_int(cbs, i, CALLBACK_COL_ID, 0);
	it->case_id = store_rows_int(cbs, i, CALLBACK_COL_CASE, 0);
	it->due_at = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
	it->from_agent = store_rows_int(cbs, i, CALLBACK_COL_OWNER, 0);
	it->queue_id = store_rows_int(cbs, i, CALLBACK_COL_QUEUE, 0);
	owner = handoff_world_agent(w, it->from_agent);
	t = it->due_at > now ? it->due_at : now;
	/* A call already due stays with its owner while they are on duty:
	 * they may still make it, and moving it would only add a name. */
	if (handoff_world_on_duty(w, owner, t))
		return;
	ns = owner ? shift_plan_next_start(w->plan, owner->id, t) : -1;
	if (owner != NULL && ns > 0 && ns - t <= tol) {
		c->kept++;
		return;
	}
	if (it->due_at >= now) {
		to = handoff_world_pick(w, it->queue_id, it->case_id,
					it->from_agent, t, cfg->avg_handle_sec);
		snprintf(it->why, sizeof(it->why),
			 "owner off shift at due time");
	} else {
		/* Late, the owner gone: once, to whoever stays longest, so
		 * it is not handed on again at the next shift end. */
		to = handoff_world_pick_late(w, it->queue_id, it->case_id,
					     it->from_agent, now,
					     cfg->avg_handle_sec);
		snprintf(it->why, sizeof(it->why),
			 "owner's shift ended before the call was made");
		if (handoff_is_overdue(cfg, it->due_at, now))
			it->kind = "overdue";
	}
	if (to == NULL) {
		c->at_risk++;
		return;
	}
	it->to_agent = to->id;
	handoff_world_give(to, it->due_at);
	handoff_world_take(handoff_world_agent(w, it->from_agent), it->due_at);
	p->n++;
	c->moved++;
}

/* Decide and apply the moves among the candidate ids (locks them). */
static int
handoff_planner_move(struct store_tx *tx, const struct config *cfg,
		     const struct handoff_ids *ids, int64_t now, int64_t tmax,
		     struct handoff_planner_counts *c, struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	struct handoff_plan p;
	struct handoff_world w;
	int64_t(*order)[2] = NULL;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	memset(&w, 0, sizeof(w));
	cbs = callback_load_many(tx, ids->v, ids->n, err);
	if (cbs == NULL)
		goto out;
	if (handoff_world_load(tx, &w, now - 86400, tmax, cbs, err) != 0)
		goto out;
	p.items = xcalloc(store_rows_count(cbs) + 1, sizeof(*p.items));
	/* In due order, as a lead's plan: the earliest call picks first. */
	order = xcalloc(store_rows_count(cbs) + 1, sizeof(*order));
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		order[i][0] = store_rows_int(cbs, i, CALLBACK_COL_DUE, 0);
		order[i][1] = store_rows_int(cbs, i, CALLBACK_COL_ID, 0);
	}
	qsort(order, store_rows_count(cbs), sizeof(*order), handoff_cmp_pair);
	for (size_t i = 0; i < store_rows_count(cbs); i++)
		handoff_planner_decide(
			cfg, &w, cbs,
			(size_t)callback_row_find(cbs, order[i][1]), now, &p,
			c);
	if (p.n > 0 &&
	    (handoff_plan_draft_notes(tx, cfg, &p, &w, cbs, err) != 0 ||
	     handoff_apply_plan(tx, cfg, &p, NULL, "planned", "planner", err) !=
		     0))
		goto out;
	rc = 0;
out:
	handoff_plan_clear(&p);
	handoff_world_clear(&w);
	store_rows_free(cbs);
	free(order);
	return rc;
}

/* Open callbacks overdue at now (calls being made are not). */
static int
handoff_planner_count_overdue(struct store_tx *tx, const struct config *cfg,
			      int64_t now, int64_t *n, struct cbd_err *err)
{
	struct store_rows *r;

	r = store_query(tx, err,
			"SELECT COUNT(*) FROM callbacks WHERE state IN "
			"(" HANDOFF_OPEN ") AND due_at < ?",
			"i", now - (int64_t)cfg->overdue_grace_min * 60);
	if (r == NULL)
		return -1;
	*n = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	return 0;
}

/*
 * Callbacks that became overdue since the last pass: a case event and the
 * callback.overdue webhook, once per callback (the event is the mark).
 */
static int
handoff_planner_mark_overdue(struct store_tx *tx, const struct config *cfg,
			     int64_t now, struct cbd_err *err)
{
	struct store_rows *r, *cbs = NULL;
	struct handoff_ids ids = { NULL, 0, 0 };
	int rc = -1;

	r = store_query(tx, err,
			"SELECT c.id FROM callbacks c WHERE c.state IN "
			"(" HANDOFF_OPEN ") AND c.due_at < ? AND NOT EXISTS "
			"(SELECT 1 FROM events e WHERE e.callback_id = c.id "
			"AND e.kind = 'overdue') ORDER BY c.id LIMIT ?",
			"ii", now - (int64_t)cfg->overdue_grace_min * 60,
			(int64_t)HANDOFF_PLANNER_BATCH);
	if (r == NULL)
		return -1;
	handoff_ids_add_rows(&ids, r);
	store_rows_free(r);
	if (ids.n == 0) {
		rc = 0;
		goto out;
	}
	cbs = callback_load_many(tx, ids.v, ids.n, err);
	if (cbs == NULL)
		goto out;
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		struct notify_ctx nc;

		callback_ctx_at(cbs, i, &nc);
		if (callback_event(
			    tx, nc.case_id, nc.callback_id, "overdue",
			    "planner",
			    json_pack("{s:I, s:I, s:I}", "due_at",
				      (json_int_t)nc.start, "owner_id",
				      (json_int_t)nc.owner_id, "minutes_late",
				      (json_int_t)((now - nc.start) / 60)),
			    err) != 0 ||
		    notify_change(tx, cfg, &nc, NOTIFY_OVERDUE, err) != 0)
			goto out;
	}
	rc = 0;
out:
	store_rows_free(cbs);
	free(ids.v);
	return rc;
}

int
handoff_planner_pass(struct store_tx *tx, const struct config *cfg,
		     json_t **report, struct cbd_err *err)
{
	int64_t now = clock_now();
	int64_t tmax =
		now + (int64_t)cfg->handoff_lookahead_hours * 3600 + 8 * 86400;
	struct handoff_planner_counts c = { 0, 0, 0 };
	struct handoff_ids ids = { NULL, 0, 0 };
	struct handoff_world w;
	int64_t overdue = 0;
	int rc = -1, locked;

	memset(&w, 0, sizeof(w));
	*report = NULL;
	/* Counted by every instance, for its own metrics. */
	if (handoff_planner_count_overdue(tx, cfg, now, &overdue, err) != 0)
		return -1;
	/* One planner at a time across instances; the others skip. */
	locked = handoff_planner_lock(tx, cfg, err);
	if (locked < 0)
		return -1;
	if (!locked) {
		*report = json_pack("{s:b, s:I}", "skipped", 1, "overdue",
				    (json_int_t)overdue);
		return 0;
	}
	if (handoff_world_load(tx, &w, now - 86400, tmax, NULL, err) != 0 ||
	    handoff_planner_candidates(tx, cfg, &w, now, tmax, &ids, err) != 0)
		goto out;
	if (ids.n > 0 &&
	    handoff_planner_move(tx, cfg, &ids, now, tmax, &c, err) != 0)
		goto out;
	if (handoff_planner_mark_overdue(tx, cfg, now, err) != 0)
		goto out;
	*report = json_pack("{s:I, s:I, s:I, s:I}", "kept", (json_int_t)c.kept,
			    "handed_off", (json_int_t)c.moved, "at_risk",
			    (json_int_t)c.at_risk, "overdue",
			    (json_int_t)overdue);
	rc = 0;
out:
	handoff_world_clear(&w);
	free(ids.v);
	return rc;
}

/* ---- the timer ---- */

struct handoff_planner {
	const struct config *cfg;
	struct store_pool *pool;
	struct metrics *metrics;
	struct event *tick;
	/* owned by the loop thread */
	int is_running;
	/* written by the store thread running the pass, read back on the
	 * loop after it completes */
	json_t *report;
	json_t *figures; /* per routing queue, for /metrics */
};

static int
handoff_planner_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct handoff_planner *hp = arg;

	json_decref(hp->report);
	hp->report = NULL;
	json_decref(hp->figures);
	hp->figures = NULL;
	/* Every instance keeps its own /metrics: the figures are read on
	 * each pass, whether or not this instance plans. */
	if (routing_figures(tx, hp->cfg, &hp->figures, err) != 0)
		return -1;
	return handoff_planner_pass(tx, hp->cfg, &hp->report, err);
}

static long long
handoff_planner_count(const json_t *report, const char *key)
{
	return (long long)json_integer_value(json_object_get(report, key));
}

static void
handoff_planner_done(void *arg, int rc, struct cbd_err *err)
{
	struct handoff_planner *hp = arg;

	hp->is_running = 0;
	if (rc == 0 && hp->report != NULL)
		metrics_set(
			hp->metrics, "callbackd_overdue_callbacks",
			"Open callbacks past their due time by more than "
			"overdue_grace_min, at the last planner pass.",
			(double)handoff_planner_count(hp->report, "overdue"));
	if (rc == 0 && hp->figures != NULL) {
		char *text = routing_figures_metrics(hp->figures);
		metrics_set_lines(hp->metrics, "queue", text);
		free(text);
	}
	if (rc != 0)
		log_warn("planner pass failed", "error=\"%s\"", err->detail);
	else if (hp->report != NULL &&
		 handoff_planner_count(hp->report, "handed_off") +
				 handoff_planner_count(hp->report, "at_risk") >
			 0)
		log_info("planner pass",
			 "handed_off=%lld at_risk=%lld kept=%lld",
			 handoff_planner_count(hp->report, "handed_off"),
			 handoff_planner_count(hp->report, "at_risk"),
			 handoff_planner_count(hp->report, "kept"));
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
		    struct store_pool *pool, struct metrics *metrics)
{
	struct handoff_planner *hp = xcalloc(1, sizeof(*hp));
	struct timeval tv = { cfg->planner_interval_sec, 0 };

	hp->cfg = cfg;
	hp->pool = pool;
	hp->metrics = metrics;
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
	json_decref(hp->figures);
	free(hp);
}
