/*
 * handoff.h: moving a callback to another owner, always with a note, and
 * the planner that does it before an owner goes off shift.
 *
 * Invariant: every open callback has exactly one owner, and every change of
 * owner writes a handoff row with its note, a case event and the customer's
 * message ("Sam will call you at 15:00; Sam has Alex's notes") in the same
 * transaction as the change itself.
 */
#ifndef CBD_HANDOFF_H
#define CBD_HANDOFF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct config;
struct store_pool;
struct store_tx;
struct handoff_planner;

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
 * Carry out a plan: owners, loads, handoff rows with the note (note, or each
 * item's drafted note), case events and the customers' messages. kind is
 * "lead", "planned" ...; author who made it ("lead:3", "planner").
 */
int handoff_plan_apply(struct store_tx *tx, const struct config *cfg,
		       const struct handoff_plan *p,
		       const struct handoff_note *note, const char *kind,
		       const char *author, struct cbd_err *err) CBD_MUSTCHECK;
/* Move one callback (already locked by the caller) with a note. */
int handoff_move(struct store_tx *tx, const struct config *cfg,
		 int64_t callback_id, int64_t case_id, int64_t due_at,
		 int64_t from, int64_t to, const struct handoff_note *note,
		 const char *kind, const char *author,
		 struct cbd_err *err) CBD_MUSTCHECK;
json_t *handoff_plan_json(const struct handoff_plan *p);
void handoff_plan_clear(struct handoff_plan *p);

/*
 * One pass of the automatic planner at clock_now(): callbacks of agents
 * whose shift ends within handoff_lead_min and that are due after it, and
 * any callback due within handoff_lookahead_hours whose owner will be off,
 * are kept (owner back within handoff_tolerance_min) or handed off with a
 * drafted note. *report says what it did.
 */
int handoff_planner_pass(struct store_tx *tx, const struct config *cfg,
			 json_t **report, struct cbd_err *err) CBD_MUSTCHECK;
struct handoff_planner *handoff_planner_new(struct event_base *base,
					    const struct config *cfg,
					    struct store_pool *pool);
void handoff_planner_free(struct handoff_planner *hp); /* NULL ok */

/* Handoffs an agent gave (still open to annotation) and received. */
int handoff_list_agent(struct store_tx *tx, int64_t agent_id, json_t **out,
		       struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Add to a handoff's note until its call starts: by the agent who handed it
 * over (agent_id) or a lead (agent_id 0).
 */
int handoff_annotate(struct store_tx *tx, int64_t id, int64_t agent_id,
		     const char *annotation, const char *next_step,
		     json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* Ownership changes of a callback or involving an agent, newest first. */
int handoff_audit(struct store_tx *tx, int64_t callback_id, int64_t agent_id,
		  int64_t before_id, int64_t limit, json_t **items,
		  int64_t *last_id, struct cbd_err *err) CBD_MUSTCHECK;
/* Per hour of [from, to): at-risk callbacks, unstaffed open hours and
 * agents booked over capacity. */
int handoff_coverage(struct store_tx *tx, const struct config *cfg,
		     int64_t from, int64_t to, json_t **out,
		     struct cbd_err *err) CBD_MUSTCHECK;

#endif
