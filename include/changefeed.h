/*
 * changefeed.h: the database's change feed, which server push follows.
 *
 * Writers add one row per change to a callback (every case event, every
 * change of owner) to the changes table, in the transaction of the change,
 * so a row exists exactly when the change is committed, whichever instance
 * made it. Each instance reads the feed once (one poll job at a time, every
 * events_poll_ms) and hands each new row to one deliver function on the
 * loop thread, which fans it out to that instance's streams.
 *
 * Following the feed on Galera: ids interleave between nodes (1, 4, 7 ...)
 * and a row becomes visible at its commit, not at its insert, so "id > last
 * seen" would skip rows. Rows carry written_ms, the writer's real clock at
 * the insert; the poller re-reads every row written since (newest seen -
 * events_lookback_sec) and drops the ids it has delivered already. A row
 * is missed only if its transaction commits more than the lookback after
 * its insert (transactions here take milliseconds; lock waits are capped
 * at 5 s) or the writers' clocks differ by more than that.
 */
#ifndef CBD_CHANGEFEED_H
#define CBD_CHANGEFEED_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct config;
struct event_base;
struct store_pool;
struct store_tx;
struct changefeed;

/* One row of the feed, as delivered. */
struct changefeed_change {
	int64_t id;
	int64_t callback_id; /* 0: a case note (no callback) */
	int64_t case_id;
	int64_t owner_id;
	int64_t previous_owner_id; /* 0: none */
	int64_t key_id;            /* access_ended: the key; 0: none */
	int64_t at;                /* the change's time (daemon clock) */
	int64_t written_ms;        /* writer's real clock, for the window */
	char state[16];
	char kind[33];
	char owner_team[65];    /* team of owner_id */
	char previous_team[65]; /* team of previous_owner_id */
};

/* --- writers (store threads, inside the change's transaction) --- */

/* A change to callback_id of this kind ("booked", "claimed", ...): its
 * owner and state are read from the row as the transaction left it. */
int changefeed_record(struct store_tx *tx, int64_t callback_id,
		      const char *kind, struct cbd_err *err) CBD_MUSTCHECK;
/* A note on case_id (no callback), for the case's owner. */
int changefeed_record_note(struct store_tx *tx, int64_t case_id,
			   struct cbd_err *err) CBD_MUSTCHECK;
/* Someone's access ended (kind CHANGEFEED_ACCESS_ENDED): the open
 * streams of agent_id and of key_id (either may be 0) close on every
 * instance; those still entitled reconnect and resume. */
#define CHANGEFEED_ACCESS_ENDED "access_ended"
int changefeed_record_access_ended(struct store_tx *tx, int64_t agent_id,
				   int64_t key_id,
				   struct cbd_err *err) CBD_MUSTCHECK;
/* Owner changes: callback ids[i] moved from from[i] (to its new owner, as
 * stored now). One statement per distinct previous owner. */
int changefeed_record_moves(struct store_tx *tx, const int64_t *ids,
			    const int64_t *from, size_t n,
			    struct cbd_err *err) CBD_MUSTCHECK;

/* --- readers --- */

/*
 * Rows written at or after since_ms, in (written_ms, id) order, at most
 * max; *out is allocated (caller frees), *n set. Store thread.
 */
int changefeed_read(struct store_tx *tx, int64_t since_ms, size_t max,
		    struct changefeed_change **out, size_t *n,
		    struct cbd_err *err) CBD_MUSTCHECK;

typedef void (*changefeed_deliver_fn)(void *arg,
				      const struct changefeed_change *c);
/* Start polling; deliver gets each new row once, on the loop thread. */
struct changefeed *changefeed_new(struct event_base *base,
				  const struct config *cfg,
				  struct store_pool *pool,
				  changefeed_deliver_fn deliver, void *arg);
/*
 * Rows this instance delivered that were written at or after since_ms
 * (what a resuming stream may have missed while it reconnected), oldest
 * first; fn is called for each. Loop thread.
 */
void changefeed_recent(const struct changefeed *cf, int64_t since_ms,
		       changefeed_deliver_fn fn, void *arg);
/* Stop polling; a poll in flight finishes harmlessly. */
void changefeed_stop(struct changefeed *cf);
void changefeed_free(struct changefeed *cf); /* NULL ok */

#endif
