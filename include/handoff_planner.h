/*
 * handoff_planner.h: when calls move without a lead asking. A loop timer
 * runs one pass every planner_interval_sec on a store thread; one instance
 * plans at a time across the cluster.
 */
#ifndef CBD_HANDOFF_PLANNER_H
#define CBD_HANDOFF_PLANNER_H

#include <jansson.h>

#include "common.h"

struct event_base;
struct config;
struct store_pool;
struct metrics;
struct store_tx;
struct handoff_planner;

/*
 * One pass at clock_now(): callbacks of agents whose shift ends within
 * handoff_lead_min and that are due after it, and any callback due within
 * handoff_lookahead_hours whose owner will be off, are kept (owner back
 * within handoff_tolerance_min) or handed off with a drafted note. A call
 * already due stays while its owner is on duty, and at their shift end
 * moves once, to the agent on duty with the most shift left (never one
 * leaving within avg_handle_sec). Calls newly overdue get their event and
 * webhook. *report: {kept, handed_off, at_risk, overdue} ({skipped: true,
 * overdue} when another instance is planning).
 */
int handoff_planner_pass(struct store_tx *tx, const struct config *cfg,
			 json_t **report, struct cbd_err *err) CBD_MUSTCHECK;
/* The timer; after each pass sets the callbackd_overdue_callbacks gauge. */
struct handoff_planner *handoff_planner_new(struct event_base *base,
					    const struct config *cfg,
					    struct store_pool *pool,
					    struct metrics *metrics);
void handoff_planner_free(struct handoff_planner *hp); /* NULL ok */

#endif
