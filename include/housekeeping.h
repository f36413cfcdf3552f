/*
 * housekeeping.h: deleting rows that are no longer kept, on one instance
 * at a time.
 */
#ifndef CBD_HOUSEKEEPING_H
#define CBD_HOUSEKEEPING_H

#include "common.h"

struct config;
struct event_base;
struct store_pool;
struct store_tx;
struct housekeeping;

/* One pass, if this instance takes the "housekeeping" lease: 1 done, 0
 * another instance holds it, -1 with err. */
int housekeeping_pass(struct store_tx *tx, const struct config *cfg,
		      struct cbd_err *err) CBD_MUSTCHECK;
/* The timer: a pass every housekeeping_interval_sec. */
struct housekeeping *housekeeping_new(struct event_base *base,
				      const struct config *cfg,
				      struct store_pool *pool);
void housekeeping_free(struct housekeeping *hk); /* NULL ok */

#endif
