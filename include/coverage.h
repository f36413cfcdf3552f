/*
 * coverage.h: what leads see of the roster against the calls: per hour,
 * who is on duty, what is booked, which callbacks are at risk (owner off
 * shift at the due time) and who is booked over capacity.
 */
#ifndef CBD_COVERAGE_H
#define CBD_COVERAGE_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;

/* Per hour of [from, to): at-risk callbacks, unstaffed open hours and
 * agents booked over capacity; and, looking back, the calls overdue now
 * ("overdue_total" and the first "overdue" items, most late first). */
int coverage_report(struct store_tx *tx, const struct config *cfg, int64_t from,
		    int64_t to, json_t **out,
		    struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Open callbacks overdue at clock_now() (due more than overdue_grace_min
 * ago, not being called), most late first, a page of limit after the
 * callback after_id (0: from the start): {callback_id, case_id, state,
 * asap, due_at, minutes_late, owner: {id, display_name, on_duty}}.
 * *last_id is the last one's id (0: none).
 */
int coverage_overdue(struct store_tx *tx, const struct config *cfg,
		     int64_t limit, int64_t after_id, json_t **items,
		     int64_t *last_id, struct cbd_err *err) CBD_MUSTCHECK;

#endif
