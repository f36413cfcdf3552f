/*
 * coverage.c: what leads see: the roster held against the open calls,
 * hour by hour, from the same world snapshot the planner decides with
 * (handoff_world.c), so "at risk" here means exactly what the planner
 * would find.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "coverage.h"
#include "handoff_plan.h"
#include "handoff_world.h"
#include "routing_figures.h"
#include "slots.h"
#include "store.h"

/* Open callbacks in a range, columns in this order. */
enum { COVERAGE_ID, COVERAGE_OWNER, COVERAGE_DUE, COVERAGE_QUEUE };

/* Agents on duty in the hour at h, how much that gives, and who is booked
 * over it. */
static json_t *
coverage_over(const struct config *cfg, const struct handoff_world *w,
	      const struct store_rows *cbs, int64_t h, int *on, int *cap)
{
	int per_hour = 60 / cfg->slot_minutes < 1 ? 1 : 60 / cfg->slot_minutes;
	json_t *over = json_array();

	*on = *cap = 0;
	for (size_t i = 0; i < w->nagents; i++) {
		int mine = 0;
		if (!handoff_world_on_duty(w, &w->agents[i], h + 1800))
			continue;
		(*on)++;
		*cap += per_hour;
		for (size_t k = 0; k < store_rows_count(cbs); k++) {
			int64_t due = store_rows_int(cbs, k, COVERAGE_DUE, 0);
			if (due >= h && due < h + 3600 &&
			    store_rows_int(cbs, k, COVERAGE_OWNER, 0) ==
				    w->agents[i].id)
				mine++;
		}
		if (mine > per_hour * cfg->max_per_agent_per_slot)
			json_array_append_new(
				over, json_pack("{s:I, s:i}", "agent_id",
						(json_int_t)w->agents[i].id,
						"booked", mine));
	}
	return over;
}

/* Why a call is at risk: its owner is off then, and in a routing queue,
 * when nobody else with its skills is on duty either, until when. */
static void
coverage_reason(const struct handoff_world *w, int64_t queue_id, int64_t owner,
		int64_t due, char *buf, size_t size)
{
	for (size_t i = 0; queue_id > 0 && i < w->nagents; i++) {
		const struct handoff_agent *a = &w->agents[i];
		if (a->id != owner && handoff_world_on_duty(w, a, due) &&
		    handoff_world_skilled(w, queue_id, a->id)) {
			snprintf(buf, size, "owner off shift at the due time");
			return;
		}
	}
	if (queue_id > 0)
		handoff_world_gap(w, queue_id, due, buf, size);
	else
		snprintf(buf, size, "owner off shift at the due time");
}

/* Callbacks due in the hour at h whose owner is off then. */
static json_t *
coverage_at_risk(const struct handoff_world *w, const struct store_rows *cbs,
		 int64_t h, int *booked, size_t *nrisk)
{
	json_t *risk = json_array();
	char reason[200];

	*booked = 0;
	for (size_t k = 0; k < store_rows_count(cbs); k++) {
		int64_t due = store_rows_int(cbs, k, COVERAGE_DUE, 0);
		int64_t owner = store_rows_int(cbs, k, COVERAGE_OWNER, 0);
		if (due < h || due >= h + 3600)
			continue;
		(*booked)++;
		if (handoff_world_on_duty(w, handoff_world_agent(w, owner),
					  due))
			continue;
		coverage_reason(w, store_rows_int(cbs, k, COVERAGE_QUEUE, 0),
				owner, due, reason, sizeof(reason));
		json_array_append_new(
			risk, json_pack("{s:I, s:I, s:o, s:s}", "callback_id",
					(json_int_t)store_rows_int(
						cbs, k, COVERAGE_ID, 0),
					"owner_id", (json_int_t)owner, "due_at",
					api_time(due, NULL), "reason", reason));
		(*nrisk)++;
	}
	return risk;
}

/* Columns of the overdue query, in this order. */
enum {
	OVERDUE_ID,
	OVERDUE_CASE,
	OVERDUE_STATE,
	OVERDUE_ASAP,
	OVERDUE_DUE,
	OVERDUE_OWNER,
	OVERDUE_OWNER_NAME,
};

/* Where a page after after_id starts in due order; 400 for a cursor that
 * names no callback. */
static int
coverage_cursor_due(struct store_tx *tx, int64_t after_id, int64_t *due,
		    struct cbd_err *err)
{
	struct store_rows *r;

	*due = INT64_MIN;
	if (after_id <= 0)
		return 0;
	r = store_query(tx, err, "SELECT due_at FROM callbacks WHERE id = ?",
			"i", after_id);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		cbd_err_set(err, 400, "invalid-query", "cursor",
			    "cursor is not one this server issued");
		return -1;
	}
	*due = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	return 0;
}

static json_t *
coverage_overdue_item(const struct handoff_world *w, const struct store_rows *r,
		      size_t i, int64_t now)
{
	int64_t due = store_rows_int(r, i, OVERDUE_DUE, 0);
	int64_t owner = store_rows_int(r, i, OVERDUE_OWNER, 0);

	return json_pack(
		"{s:I, s:I, s:s, s:b, s:o, s:I, s:{s:I, s:s, s:b}}",
		"callback_id", (json_int_t)store_rows_int(r, i, OVERDUE_ID, 0),
		"case_id", (json_int_t)store_rows_int(r, i, OVERDUE_CASE, 0),
		"state", store_rows_str(r, i, OVERDUE_STATE), "asap",
		(int)store_rows_int(r, i, OVERDUE_ASAP, 0), "due_at",
		api_time(due, NULL), "minutes_late",
		(json_int_t)((now - due) / 60), "owner", "id",
		(json_int_t)owner, "display_name",
		store_rows_str(r, i, OVERDUE_OWNER_NAME), "on_duty",
		handoff_world_on_duty(w, handoff_world_agent(w, owner), now));
}

int
coverage_overdue(struct store_tx *tx, const struct config *cfg, int64_t limit,
		 int64_t after_id, json_t **items, int64_t *last_id,
		 struct cbd_err *err)
{
	int64_t now = clock_now(), after_due;
	struct store_rows *r = NULL;
	struct handoff_world w;
	size_t n;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	if (coverage_cursor_due(tx, after_id, &after_due, err) != 0 ||
	    handoff_world_load(tx, &w, now - 86400, now + 86400, NULL, err) !=
		    0)
		goto out;
	r = store_query(
		tx, err,
		"SELECT c.id, c.case_id, c.state, c.is_asap, c.due_at, "
		"c.owner_id, a.display_name FROM callbacks c JOIN agents a ON "
		"a.id = c.owner_id WHERE c.state IN (" HANDOFF_OPEN ") AND "
		"c.due_at < ? AND (c.due_at > ? OR (c.due_at = ? AND c.id > "
		"?)) ORDER BY c.due_at, c.id LIMIT ?",
		"iiiii", now - (int64_t)cfg->overdue_grace_min * 60, after_due,
		after_due, after_id, limit);
	if (r == NULL)
		goto out;
	*items = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*items,
				      coverage_overdue_item(&w, r, i, now));
	*last_id = n ? store_rows_int(r, n - 1, OVERDUE_ID, 0) : 0;
	rc = 0;
out:
	store_rows_free(r);
	handoff_world_clear(&w);
	return rc;
}

/* The look back of the coverage report: how many are overdue now, and the
 * most late of them. */
static int
coverage_look_back(struct store_tx *tx, const struct config *cfg, json_t *out,
		   struct cbd_err *err)
{
	struct store_rows *r;
	json_t *items;
	int64_t last;

	r = store_query(tx, err,
			"SELECT COUNT(*) FROM callbacks WHERE state IN "
			"(" HANDOFF_OPEN ") AND due_at < ?",
			"i",
			clock_now() - (int64_t)cfg->overdue_grace_min * 60);
	if (r == NULL)
		return -1;
	json_object_set_new(out, "overdue_total",
			    json_integer(store_rows_int(r, 0, 0, 0)));
	store_rows_free(r);
	if (coverage_overdue(tx, cfg, 50, 0, &items, &last, err) != 0)
		return -1;
	json_object_set_new(out, "overdue", items);
	return 0;
}

/* Each routing queue against its service-level target (routing_figures.h). */
static int
coverage_queues(struct store_tx *tx, const struct config *cfg, json_t *out,
		struct cbd_err *err)
{
	json_t *fig;

	if (routing_figures(tx, cfg, &fig, err) != 0)
		return -1;
	json_object_set(out, "queues", json_object_get(fig, "queues"));
	json_decref(fig);
	return 0;
}

int
coverage_report(struct store_tx *tx, const struct config *cfg, int64_t from,
		int64_t to, json_t **out, struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	struct handoff_world w;
	int64_t h0 = from - ((from % 3600) + 3600) % 3600;
	json_t *hours = json_array();
	size_t nrisk = 0;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	if (handoff_world_load(tx, &w, from - 86400, to + 86400, NULL, err) !=
	    0)
		goto out;
	cbs = store_query(tx, err,
			  "SELECT id, owner_id, due_at, COALESCE(queue_id, 0) "
			  "FROM callbacks WHERE "
			  "state IN (" HANDOFF_OPEN ",'in_progress') AND "
			  "due_at >= ? AND due_at < ? ORDER BY due_at",
			  "ii", h0, to);
	if (cbs == NULL)
		goto out;
	for (int64_t h = h0; h < to; h += 3600) {
		int on, cap, booked;
		json_t *over = coverage_over(cfg, &w, cbs, h, &on, &cap);
		json_t *risk = coverage_at_risk(&w, cbs, h, &booked, &nrisk);

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
	if (coverage_look_back(tx, cfg, *out, err) != 0 ||
	    coverage_queues(tx, cfg, *out, err) != 0) {
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	json_decref(hours);
	store_rows_free(cbs);
	handoff_world_clear(&w);
	return rc;
}
