/*
 * coverage.c: what leads see: the roster held against the open calls,
 * hour by hour, from the same world snapshot the planner decides with
 * (handoff_world.c), so "at risk" here means exactly what the planner
 * would find.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "coverage.h"
#include "handoff_plan.h"
#include "handoff_world.h"
#include "slots.h"
#include "store.h"

/* Open callbacks in a range, columns in this order. */
enum { COVERAGE_ID, COVERAGE_OWNER, COVERAGE_DUE };

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

/* Callbacks due in the hour at h whose owner is off then. */
static json_t *
coverage_at_risk(const struct handoff_world *w, const struct store_rows *cbs,
		 int64_t h, int *booked, size_t *nrisk)
{
	json_t *risk = json_array();

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
		json_array_append_new(
			risk, json_pack("{s:I, s:I, s:o}", "callback_id",
					(json_int_t)store_rows_int(
						cbs, k, COVERAGE_ID, 0),
					"owner_id", (json_int_t)owner, "due_at",
					api_time(due, NULL)));
		(*nrisk)++;
	}
	return risk;
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
			  "SELECT id, owner_id, due_at FROM callbacks WHERE "
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
	rc = 0;
out:
	json_decref(hours);
	store_rows_free(cbs);
	handoff_world_clear(&w);
	return rc;
}
