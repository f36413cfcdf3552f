/*
 * handoff_plan.h: who gets what, and why. A plan is a list of callbacks,
 * each with where it goes (or why it stays), computed from one locked
 * snapshot (handoff_world.h) without writing anything; handoff_apply.h
 * carries it out. A lead's dry run shows exactly the plan the real run
 * applies.
 */
#ifndef CBD_HANDOFF_PLAN_H
#define CBD_HANDOFF_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;
struct store_rows;
struct handoff_world;

/* Most callbacks one plan may hold. */
#define HANDOFF_MAX_ITEMS 20000
/* SQL list of the states a callback can be handed off in. */
#define HANDOFF_OPEN "'pending','scheduled','retry_wait'"

struct handoff_note {
	const char *summary;
	const char *next_step;
	const char *reason;
};

/* One line of a plan: a callback and where it goes, or why it stays. */
struct handoff_item {
	int64_t callback_id;
	int64_t case_id;
	int64_t due_at;
	int64_t from_agent;
	int64_t to_agent; /* 0: stays with from_agent */
	int is_at_risk;   /* the owner after the plan is off at due time */
	char why[200];
	char *summary; /* drafted notes (planner); NULL: the plan's note */
	char *next_step;
	char *reason;
};

struct handoff_plan {
	struct handoff_item *items;
	size_t n;
};

/* What to plan: given callbacks, or an agent's open ones due in a range. */
struct handoff_request {
	const int64_t *callback_ids;
	size_t ncallbacks;
	int64_t from_agent; /* when no ids */
	int64_t from;       /* due range, 0: open */
	int64_t to;
	int64_t to_agent; /* 0: best agent on duty at each due time */
};

/*
 * Build the plan for req, locking the callbacks. Deterministic: the same
 * database state gives the same plan, so a dry run shows exactly what the
 * real run does. 400/404 with err on a bad request.
 */
int handoff_plan_build(struct store_tx *tx, const struct config *cfg,
		       const struct handoff_request *req,
		       struct handoff_plan *out,
		       struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Draft a note for each moving item from its case's latest attempt and
 * note (callbacks: their rows, from callback_load_many).
 */
int handoff_plan_draft_notes(struct store_tx *tx, struct handoff_plan *p,
			     const struct handoff_world *w,
			     const struct store_rows *callbacks,
			     struct cbd_err *err) CBD_MUSTCHECK;
/* The plan as the API shows it: {moves, stays, counts}. */
json_t *handoff_plan_json(const struct handoff_plan *p);
void handoff_plan_clear(struct handoff_plan *p);

#endif
