/*
 * changefeed.c: the change feed's writers and its one poller per instance
 * (see changefeed.h for why it follows a time window and not ids).
 *
 * Design note. The poller keeps `recent`: every row it delivered that is
 * still inside the window, in delivery order, and the same ids sorted for
 * lookups. A poll reads every row written since (the start of the last
 * successful poll - lookback), pages through them in (written_ms, id)
 * order, and delivers those whose id is not in `recent`. Rows that fall
 * out of the window leave `recent`: they can no longer come back from a
 * poll. Only one poll job is out at a time; if the store is busy the next
 * one simply waits for the timer. Rows older than events_keep_sec are
 * deleted by housekeeping.c, on one instance at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "changefeed.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define CHANGEFEED_PAGE     2000
#define CHANGEFEED_MAX_POLL 100000 /* rows one poll reads at most */

struct changefeed {
	struct event_base *base;
	const struct config *cfg;
	struct store_pool *pool;
	changefeed_deliver_fn deliver;
	void *arg;
	struct event *timer;
	/* loop thread */
	int is_polling; /* a poll job is out */
	int is_stopped;
	int64_t last_poll_ms; /* start of the last successful poll */
	struct changefeed_change *recent; /* delivered, in delivery order */
	size_t nrecent, recent_cap;
	int64_t *ids; /* the ids of recent, sorted */
};

/* A poll: built on the loop, filled by a store thread, read on the loop. */
struct changefeed_poll {
	struct changefeed *cf;
	int64_t since_ms, started_ms;
	struct changefeed_change *rows;
	size_t n;
};

/* The feed speaks of what a console shows: a note on a handoff is a note. */
static const char *
changefeed_kind(const char *event_kind)
{
	if (strcmp(event_kind, "handoff_note") == 0)
		return "note";
	if (strcmp(event_kind, "handoff") == 0)
		return "owner_changed";
	return event_kind;
}

int
changefeed_record(struct store_tx *tx, int64_t callback_id, const char *kind,
		  struct cbd_err *err)
{
	return store_exec(
		       tx, err,
		       "INSERT INTO changes (callback_id, case_id, owner_id,"
		       " state, kind, at, written_ms) SELECT id, case_id, "
		       "owner_id, state, ?, ?, ? FROM callbacks WHERE id = ?",
		       "siii", changefeed_kind(kind), clock_now(),
		       clock_real_ms(), callback_id) < 0
		       ? -1
		       : 0;
}

int
changefeed_record_note(struct store_tx *tx, int64_t case_id,
		       struct cbd_err *err)
{
	return store_exec(tx, err,
			  "INSERT INTO changes (callback_id, case_id, owner_id,"
			  " state, kind, at, written_ms) SELECT NULL, id, "
			  "owner_id, '', 'note', ?, ? FROM cases WHERE id = ?",
			  "iii", clock_now(), clock_real_ms(), case_id) < 0
		       ? -1
		       : 0;
}

int
changefeed_record_access_ended(struct store_tx *tx, int64_t agent_id,
			       int64_t key_id, struct cbd_err *err)
{
	return store_exec(tx, err,
			  "INSERT INTO changes (callback_id, case_id, owner_id,"
			  " key_id, state, kind, at, written_ms) VALUES (NULL,"
			  " 0, ?, ?, '', ?, ?, ?)",
			  "insii", agent_id > 0 ? agent_id : 0,
			  key_id > 0 ? key_id : STORE_NULL,
			  CHANGEFEED_ACCESS_ENDED, clock_now(),
			  clock_real_ms()) < 0
		       ? -1
		       : 0;
}

int
changefeed_record_moves(struct store_tx *tx, const int64_t *ids,
			const int64_t *from, size_t n, struct cbd_err *err)
{
	char *done = xcalloc(n + 1, 1);
	int rc = -1;

	/* One INSERT ... SELECT per previous owner: a lead moving a
	 * thousand calls off one agent writes one statement. */
	for (size_t i = 0; i < n; i++) {
		char *list = NULL, *sql;
		size_t len = 0, k = 0;
		FILE *f;
		int64_t w;

		if (done[i])
			continue;
		f = open_memstream(&list, &len);
		for (size_t j = i; j < n; j++)
			if (!done[j] && from[j] == from[i]) {
				fprintf(f, "%s%lld", k++ ? "," : "",
					(long long)ids[j]);
				done[j] = 1;
			}
		fclose(f);
		/* Ids are integers the daemon holds, never client text. */
		sql = xasprintf("INSERT INTO changes (callback_id, case_id, "
				"owner_id, previous_owner_id, state, kind, at, "
				"written_ms) SELECT id, case_id, owner_id, ?, "
				"state, 'owner_changed', ?, ? FROM callbacks "
				"WHERE id IN (%s)",
				list);
		w = store_exec_built(tx, err, sql, "iii", from[i], clock_now(),
				     clock_real_ms());
		free(sql);
		free(list);
		if (w < 0)
			goto out;
	}
	rc = 0;
out:
	free(done);
	return rc;
}

int
changefeed_read(struct store_tx *tx, int64_t since_ms, size_t max,
		struct changefeed_change **out, size_t *n, struct cbd_err *err)
{
	struct changefeed_change *rows = NULL;
	size_t count = 0, cap = 0;
	int64_t after_ms = since_ms - 1, after_id = INT64_MAX;

	*out = NULL;
	*n = 0;
	/* Pages in (written_ms, id) order; the first starts at since_ms. */
	while (count < max) {
		struct store_rows *r = store_query(
			tx, err,
			"SELECT ch.id, ch.callback_id, ch.case_id, ch.owner_id,"
			" ch.previous_owner_id, ch.at, ch.written_ms, ch.state,"
			" ch.kind, COALESCE(ao.team, ''), COALESCE(ap.team, "
			"''), ch.key_id FROM changes ch LEFT JOIN agents ao ON "
			"ao.id = "
			"ch.owner_id LEFT JOIN agents ap ON ap.id = "
			"ch.previous_owner_id WHERE ch.written_ms > ? OR "
			"(ch.written_ms = ? AND ch.id > ?) ORDER BY "
			"ch.written_ms, ch.id LIMIT ?",
			"iiii", after_ms, after_ms, after_id,
			(int64_t)CHANGEFEED_PAGE);
		size_t k;

		if (r == NULL) {
			free(rows);
			return -1;
		}
		k = store_rows_count(r);
		for (size_t i = 0; i < k && count < max; i++) {
			struct changefeed_change *c;
			if (count == cap) {
				cap = cap ? cap * 2 : 64;
				rows = xrealloc(rows, cap * sizeof(*rows));
			}
			c = &rows[count++];
			memset(c, 0, sizeof(*c));
			c->id = store_rows_int(r, i, 0, 0);
			c->callback_id = store_rows_int(r, i, 1, 0);
			c->case_id = store_rows_int(r, i, 2, 0);
			c->owner_id = store_rows_int(r, i, 3, 0);
			c->previous_owner_id = store_rows_int(r, i, 4, 0);
			c->at = store_rows_int(r, i, 5, 0);
			c->written_ms = store_rows_int(r, i, 6, 0);
			snprintf(c->state, sizeof(c->state), "%s",
				 store_rows_str(r, i, 7));
			snprintf(c->kind, sizeof(c->kind), "%s",
				 store_rows_str(r, i, 8));
			snprintf(c->owner_team, sizeof(c->owner_team), "%s",
				 store_rows_str(r, i, 9));
			snprintf(c->previous_team, sizeof(c->previous_team),
				 "%s", store_rows_str(r, i, 10));
			c->key_id = store_rows_int(r, i, 11, 0);
			after_ms = c->written_ms;
			after_id = c->id;
		}
		store_rows_free(r);
		if (k < CHANGEFEED_PAGE)
			break;
	}
	*out = rows;
	*n = count;
	return 0;
}

/* --- the poller --------------------------------------------------------- */

static int
changefeed_cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
changefeed_poll_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct changefeed_poll *p = arg;

	free(p->rows);
	p->rows = NULL;
	p->n = 0;
	return changefeed_read(tx, p->since_ms, CHANGEFEED_MAX_POLL, &p->rows,
			       &p->n, err);
}

/* Drop what fell out of the window; rebuild the sorted ids. */
static void
changefeed_prune(struct changefeed *cf, int64_t since_ms)
{
	size_t k = 0;

	for (size_t i = 0; i < cf->nrecent; i++)
		if (cf->recent[i].written_ms >= since_ms)
			cf->recent[k++] = cf->recent[i];
	cf->nrecent = k;
	cf->ids = xrealloc(cf->ids, (k + 1) * sizeof(*cf->ids));
	for (size_t i = 0; i < k; i++)
		cf->ids[i] = cf->recent[i].id;
	qsort(cf->ids, k, sizeof(*cf->ids), changefeed_cmp_id);
}

static void
changefeed_poll_done(void *arg, int rc, struct cbd_err *err)
{
	struct changefeed_poll *p = arg;
	struct changefeed *cf = p->cf;
	size_t nids;

	cf->is_polling = 0;
	if (rc != 0) {
		log_warn("change feed poll failed", "error=\"%s\"",
			 err ? err->detail : "");
		goto out;
	}
	/* cf->ids holds the ids delivered before this poll (sorted at the
	 * last prune); rows appended below are not in it, and one poll's
	 * rows are distinct, so search only the ids it holds. */
	nids = cf->nrecent;
	for (size_t i = 0; i < p->n; i++) {
		const struct changefeed_change *c = &p->rows[i];

		if (bsearch(&c->id, cf->ids, nids, sizeof(*cf->ids),
			    changefeed_cmp_id) != NULL)
			continue;
		if (cf->nrecent == cf->recent_cap) {
			cf->recent_cap =
				cf->recent_cap ? cf->recent_cap * 2 : 256;
			cf->recent = xrealloc(cf->recent,
					      cf->recent_cap * sizeof(*c));
		}
		cf->recent[cf->nrecent++] = *c;
		if (!cf->is_stopped)
			cf->deliver(cf->arg, c);
	}
	cf->last_poll_ms = p->started_ms;
	/* A poll that hit its cap read only up to its last row: the next
	 * one reads on from there rather than from this poll's start. */
	if (p->n >= CHANGEFEED_MAX_POLL) {
		int64_t resume = p->rows[p->n - 1].written_ms +
				 (int64_t)cf->cfg->events_lookback_sec * 1000;

		if (resume < cf->last_poll_ms)
			cf->last_poll_ms = resume;
	}
	changefeed_prune(cf, p->since_ms);
out:
	free(p->rows);
	free(p);
}

static void
changefeed_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct changefeed *cf = arg;
	struct changefeed_poll *p;
	int64_t now = clock_real_ms();

	(void)fd;
	(void)what;
	if (cf->is_polling || cf->is_stopped)
		return;
	p = xcalloc(1, sizeof(*p));
	p->cf = cf;
	p->started_ms = now;
	/* From the last poll that worked, so a database outage or a busy
	 * store loses nothing that is still kept. */
	p->since_ms = (cf->last_poll_ms < now ? cf->last_poll_ms : now) -
		      (int64_t)cf->cfg->events_lookback_sec * 1000;
	if (store_submit(cf->pool, changefeed_poll_work, changefeed_poll_done,
			 p) != 0) {
		free(p);
		return;
	}
	cf->is_polling = 1;
}

struct changefeed *
changefeed_new(struct event_base *base, const struct config *cfg,
	       struct store_pool *pool, changefeed_deliver_fn deliver,
	       void *arg)
{
	struct changefeed *cf = xcalloc(1, sizeof(*cf));
	struct timeval tv;

	cf->base = base;
	cf->cfg = cfg;
	cf->pool = pool;
	cf->deliver = deliver;
	cf->arg = arg;
	cf->last_poll_ms = clock_real_ms();
	cf->ids = xcalloc(1, sizeof(*cf->ids));
	cf->timer = event_new(base, -1, EV_PERSIST, changefeed_timer_cb, cf);
	tv.tv_sec = cfg->events_poll_ms / 1000;
	tv.tv_usec = (cfg->events_poll_ms % 1000) * 1000;
	event_add(cf->timer, &tv);
	return cf;
}

void
changefeed_recent(const struct changefeed *cf, int64_t since_ms,
		  changefeed_deliver_fn fn, void *arg)
{
	for (size_t i = 0; i < cf->nrecent; i++)
		if (cf->recent[i].written_ms >= since_ms)
			fn(arg, &cf->recent[i]);
}

void
changefeed_stop(struct changefeed *cf)
{
	if (cf == NULL)
		return;
	cf->is_stopped = 1;
	event_del(cf->timer);
}

void
changefeed_free(struct changefeed *cf)
{
	if (cf == NULL)
		return;
	event_free(cf->timer);
	free(cf->recent);
	free(cf->ids);
	free(cf);
}
