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
	int64_t queue_id; /* routing queue; 0: default */
	int is_override;  /* a lead gave it to someone without the skills */
	char why[200];
	char *summary; /* drafted notes (planner); NULL: the plan's note */
	char *next_step;
	char *reason;
	const char *kind; /* static; NULL: the plan's kind ("overdue" ...) */
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
	/* to_agent lacks a call's skills: it moves only with
	 * override_skills, and its note's reason (note_reason and what was
	 * overridden) says so; without, the call stays, saying why. */
	int override_skills;
	const char *note_reason;
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
/* Is a call due at due_at, and not made, overdue at now? */
int handoff_is_overdue(const struct config *cfg, int64_t due_at, int64_t now);
/* Is it late enough that the customer must not be given a time again: a
 * scheduled call past its time, or an ASAP one overdue? */
int handoff_is_late(const struct config *cfg, int is_asap, int64_t due_at,
		    int64_t now);

/*
 * Draft a note for each moving item from its case's latest attempt and
 * note (callbacks: their rows, from callback_load_many). The reason says
 * truthfully why it moves: the owner is off at the due time, or, for a
 * call already due, their shift ended before it was made.
 */
int handoff_plan_draft_notes(struct store_tx *tx, const struct config *cfg,
			     struct handoff_plan *p,
			     const struct handoff_world *w,
			     const struct store_rows *callbacks,
			     struct cbd_err *err) CBD_MUSTCHECK;
/* The plan as the API shows it: {moves, stays, counts}. */
json_t *handoff_plan_json(const struct handoff_plan *p);
void handoff_plan_clear(struct handoff_plan *p);

#endif
