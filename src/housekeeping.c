/*
 * housekeeping.c: rows that have served their purpose are deleted, every
 * housekeeping_interval_sec, by one instance at a time (the "housekeeping"
 * lease, a real write, so on Galera two instances never delete the same
 * rows at once and fail each other at certification):
 *
 *   changes      written more than events_keep_sec ago (Last-Event-ID
 *                resume reads no further back);
 *   idempotency  older than idempotency_ttl_sec (the key may be reused
 *                then anyway);
 *   sessions, signin_links
 *                expired more than sessions_keep_days ago (until then they
 *                are the record of who signed in, when and from where).
 *
 * Each table loses at most HOUSEKEEPING_BATCH rows a pass, so a backlog
 * drains over several short transactions instead of one long one.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "housekeeping.h"
#include "lease.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define HOUSEKEEPING_BATCH 5000

struct housekeeping {
	const struct config *cfg;
	struct store_pool *pool;
	struct event *tick;
	int is_running; /* loop thread only */
};

/* Delete up to HOUSEKEEPING_BATCH rows of sql's table older than cutoff;
 * the rows deleted, or -1 with err. */
static int64_t
housekeeping_trim(struct store_tx *tx, const char *sql, int64_t cutoff,
		  struct cbd_err *err)
{
	return store_exec(tx, err, sql, "ii", cutoff,
			  (int64_t)HOUSEKEEPING_BATCH);
}

int
housekeeping_pass(struct store_tx *tx, const struct config *cfg,
		  struct cbd_err *err)
{
	int64_t now = clock_now();
	int64_t kept_until = now - (int64_t)cfg->sessions_keep_days * 86400;
	int64_t n[4];
	int held = lease_take(tx, "housekeeping",
			      2 * cfg->housekeeping_interval_sec + 30, err);

	if (held <= 0)
		return held;
	/* The change feed follows the writers' real clocks (written_ms). */
	n[0] = housekeeping_trim(
		tx, "DELETE FROM changes WHERE written_ms < ? LIMIT ?",
		clock_real_ms() - (int64_t)cfg->events_keep_sec * 1000, err);
	if (n[0] < 0)
		return -1;
	n[1] = housekeeping_trim(
		tx, "DELETE FROM idempotency WHERE created_at < ? LIMIT ?",
		now - cfg->idempotency_ttl_sec, err);
	if (n[1] < 0)
		return -1;
	n[2] = housekeeping_trim(
		tx, "DELETE FROM sessions WHERE expires_at < ? LIMIT ?",
		kept_until, err);
	if (n[2] < 0)
		return -1;
	n[3] = housekeeping_trim(
		tx, "DELETE FROM signin_links WHERE expires_at < ? LIMIT ?",
		kept_until, err);
	if (n[3] < 0)
		return -1;
	if (n[0] + n[1] + n[2] + n[3] > 0)
		log_info("housekeeping",
			 "changes=%lld idempotency=%lld sessions=%lld "
			 "signin_links=%lld",
			 (long long)n[0], (long long)n[1], (long long)n[2],
			 (long long)n[3]);
	return 1;
}

static int
housekeeping_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct housekeeping *hk = arg;

	return housekeeping_pass(tx, hk->cfg, err) < 0 ? -1 : 0;
}

static void
housekeeping_done(void *arg, int rc, struct cbd_err *err)
{
	struct housekeeping *hk = arg;

	hk->is_running = 0;
	if (rc != 0)
		log_warn("housekeeping pass failed", "error=\"%s\"",
			 err ? err->detail : "");
}

static void
housekeeping_tick(evutil_socket_t fd, short what, void *arg)
{
	struct housekeeping *hk = arg;

	(void)fd;
	(void)what;
	if (hk->is_running)
		return;
	hk->is_running = 1;
	if (store_submit(hk->pool, housekeeping_work, housekeeping_done, hk) !=
	    0)
		hk->is_running = 0;
}

struct housekeeping *
housekeeping_new(struct event_base *base, const struct config *cfg,
		 struct store_pool *pool)
{
	struct housekeeping *hk = xcalloc(1, sizeof(*hk));
	struct timeval tv = { cfg->housekeeping_interval_sec, 0 };

	hk->cfg = cfg;
	hk->pool = pool;
	hk->tick = event_new(base, -1, EV_PERSIST, housekeeping_tick, hk);
	event_add(hk->tick, &tv);
	return hk;
}

void
housekeeping_free(struct housekeeping *hk)
{
	if (hk == NULL)
		return;
	event_free(hk->tick);
	free(hk);
}
