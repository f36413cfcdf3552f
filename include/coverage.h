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
 * agents booked over capacity. */
int coverage_report(struct store_tx *tx, const struct config *cfg, int64_t from,
		    int64_t to, json_t **out,
		    struct cbd_err *err) CBD_MUSTCHECK;

#endif
