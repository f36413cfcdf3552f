/*
 * routing_figures.h: how each routing queue meets its service-level
 * target, over the last ROUTING_FIGURES_DAYS days: ASAP first response
 * (booking to the first call attempt, i.e. the first claim) and the
 * scheduled calls' kept-on-time rate (first attempt within the queue's
 * scheduled_minutes of the promised time).
 */
#ifndef CBD_ROUTING_FIGURES_H
#define CBD_ROUTING_FIGURES_H

#include <jansson.h>

#include "common.h"

struct config;
struct store_tx;

#define ROUTING_FIGURES_DAYS 7

/* {"since", "queues": [{queue, target: {...}, asap: {booked, answered,
 * within_target, within_target_pct, avg_first_response_sec},
 * scheduled: {due, on_time, on_time_pct}, meets_target}]}; the default
 * queue is named "default" (targets: 80 % in 10 min, 5 min). */
int routing_figures(struct store_tx *tx, const struct config *cfg, json_t **out,
		    struct cbd_err *err) CBD_MUSTCHECK;

/* The figures (as routing_figures gives them) as Prometheus gauges with a
 * queue label; caller frees. */
char *routing_figures_metrics(const json_t *figures);

#endif
