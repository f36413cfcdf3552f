/*
 * case_close.h: a case ends when its customer has had no open callback for
 * case_close_days. It is closed when that customer books again, in the
 * booking's transaction: that is the one moment the answer matters (does
 * the new callback join the old case and prefer its owner of months ago?),
 * so no periodic job, lease or window between a sweep and a booking is
 * needed. The new case names the old one on its timeline.
 */
#ifndef CBD_CASE_CLOSE_H
#define CBD_CASE_CLOSE_H

#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;

/*
 * Close customer_id's open cases that have no open callback and nothing on
 * their timeline for case_close_days (0: never). *previous is the newest
 * one closed (0: none), for case_close_link.
 */
int case_close_stale(struct store_tx *tx, const struct config *cfg,
		     int64_t customer_id, int64_t now, int64_t *previous,
		     struct cbd_err *err) CBD_MUSTCHECK;
/* Record on new case case_id that it continues case previous. */
int case_close_link(struct store_tx *tx, int64_t case_id, int64_t previous,
		    struct cbd_err *err) CBD_MUSTCHECK;

#endif
