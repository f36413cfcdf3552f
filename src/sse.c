/*
 * sse.c: the event stream hub (see sse.h).
 *
 * Ownership. A stream's evhttp_request is taken over with
 * evhttp_request_own, so libevent never frees it behind our back: when the
 * connection closes (the client left, a write failed, or we closed it),
 * the listener calls sse_closed, which unlinks the stream and puts it on
 * the dead list; a reaper event then frees the request and the record,
 * outside libevent's callback stack. We end streams only by freeing their
 * connection, which runs that same path, so there is one way out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "changefeed.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "sse.h"
#include "timefmt.h"
#include "xalloc.h"

/* Bytes a stream may have waiting for a client that does not read. */
#define SSE_MAX_BACKLOG (1024 * 1024)

struct sse_stream {
	struct sse_hub *hub;
	struct evhttp_request *req; /* owned (evhttp_request_own) */
	struct sse_stream *prev, *next;
	int64_t agent_id;
	char team[65];
	int64_t who_agent_id, who_key_id, expires_at; /* see sse_request */
	struct sse_stream *next_dead;
};

struct sse_hub {
	struct event_base *base;
	const struct config *cfg;
	struct http_server *http;
	struct metrics *metrics;
	struct changefeed *feed;
	struct sse_stream *streams; /* open, doubly linked */
	int count;
	struct sse_stream *dead; /* closed, waiting for the reaper */
	struct event *heartbeat;
	struct event *reap;
};

void
sse_request_free(void *arg)
{
	struct sse_request *q = arg;

	if (q == NULL)
		return;
	free(q->replay);
	free(q);
}

static void
sse_gauge(struct sse_hub *hub)
{
	metrics_set(hub->metrics, "callbackd_event_streams",
		    "Open server push (text/event-stream) streams.",
		    (double)hub->count);
}

/* Does change c concern stream st? */
static int
sse_wants(const struct sse_stream *st, const struct changefeed_change *c)
{
	if (st->agent_id > 0)
		return c->owner_id == st->agent_id ||
		       c->previous_owner_id == st->agent_id;
	return st->team[0] == '\0' || strcmp(st->team, c->owner_team) == 0 ||
	       (c->previous_owner_id > 0 &&
		strcmp(st->team, c->previous_team) == 0);
}

/* The event's text, "id: ...\nevent: callback\ndata: {...}\n\n". */
static char *
sse_format(const struct changefeed_change *c)
{
	char at[40];
	json_t *o;
	char *data, *text;

	timefmt_rfc3339(c->at, NULL, at, sizeof(at));
	o = json_pack(
		"{s:o, s:I, s:I, s:o, s:s, s:s, s:s}", "callback_id",
		c->callback_id > 0 ? json_integer(c->callback_id) : json_null(),
		"case_id", (json_int_t)c->case_id, "owner_id",
		(json_int_t)c->owner_id, "previous_owner_id",
		c->previous_owner_id > 0 ? json_integer(c->previous_owner_id)
					 : json_null(),
		"state", c->state, "kind", c->kind, "at", at);
	data = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	text = xasprintf("id: %lld\nevent: callback\ndata: %s\n\n",
			 (long long)c->id, data);
	free(data);
	return text;
}

static void
sse_write(struct sse_stream *st, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply_chunk(st->req, b);
	evbuffer_free(b);
}

/* Close st's connection; sse_closed follows from the listener. */
static void
sse_close(struct sse_stream *st)
{
	struct evhttp_connection *evcon =
		evhttp_request_get_connection(st->req);

	if (evcon != NULL)
		evhttp_connection_free(evcon);
}

/* The listener: st's connection is closing. Unlink now, free later. */
static void
sse_closed(void *arg)
{
	struct sse_stream *st = arg;
	struct sse_hub *hub = st->hub;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		hub->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	hub->count--;
	sse_gauge(hub);
	st->next_dead = hub->dead;
	hub->dead = st;
	event_active(hub->reap, EV_TIMEOUT, 0);
}

static void
sse_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sse_hub *hub = arg;

	(void)fd;
	(void)what;
	while (hub->dead != NULL) {
		struct sse_stream *st = hub->dead;
		hub->dead = st->next_dead;
		/* Detached from its (freed) connection; ours to free. */
		evhttp_request_free(st->req);
		free(st);
	}
}

static int
sse_is_access_change(const struct changefeed_change *c)
{
	return strcmp(c->kind, CHANGEFEED_ACCESS_ENDED) == 0;
}

/* Someone's access ended: close every stream they opened. Browsers
 * reconnect; a session or key still valid gets its stream back and
 * resumes by Last-Event-ID, the rest get 401. */
static void
sse_end_access(struct sse_hub *hub, const struct changefeed_change *c)
{
	struct sse_stream *st, *next;

	for (st = hub->streams; st != NULL; st = next) {
		next = st->next;
		if ((c->owner_id > 0 && c->owner_id == st->who_agent_id) ||
		    (c->key_id > 0 && c->key_id == st->who_key_id)) {
			log_info("event stream closed: access ended",
				 "agent=%lld key=%lld",
				 (long long)st->who_agent_id,
				 (long long)st->who_key_id);
			sse_close(st);
		}
	}
}

/* The feed delivered a change: to every stream it concerns. */
static void
sse_deliver(void *arg, const struct changefeed_change *c)
{
	struct sse_hub *hub = arg;
	char *text = NULL;

	if (sse_is_access_change(c)) {
		sse_end_access(hub, c);
		return;
	}
	for (struct sse_stream *st = hub->streams; st != NULL; st = st->next) {
		if (!sse_wants(st, c))
			continue;
		if (text == NULL)
			text = sse_format(c);
		sse_write(st, text);
	}
	free(text);
}

static void
sse_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sse_hub *hub = arg;
	struct sse_stream *st, *next;
	int64_t now;

	(void)fd;
	(void)what;
	now = clock_now();
	for (st = hub->streams; st != NULL; st = next) {
		struct evhttp_connection *evcon =
			evhttp_request_get_connection(st->req);
		struct bufferevent *bev =
			evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

		next = st->next;
		if (bev != NULL && evbuffer_get_length(bufferevent_get_output(
					   bev)) > SSE_MAX_BACKLOG) {
			log_info("event stream dropped: client not reading",
				 "agent=%lld", (long long)st->agent_id);
			sse_close(st);
			continue;
		}
		/* The session it was opened with is over: so is the stream
		 * (the browser's reconnect then gets 401). */
		if (st->expires_at > 0 && now >= st->expires_at) {
			log_info("event stream closed: session expired",
				 "agent=%lld", (long long)st->who_agent_id);
			sse_close(st);
			continue;
		}
		/* A comment: keeps proxies and the client's own idle
		 * timers from closing a quiet stream. */
		sse_write(st, ": heartbeat\n\n");
	}
}

/* Replay, for a resumed stream: rows from the database and from this
 * instance's recent deliveries, each once, without the one last seen.
 * Each source has distinct ids; the database's, sorted once, are looked
 * up for the recent ones. */
struct sse_replay {
	struct sse_stream *st;
	int64_t skip_id;
	const int64_t *sent; /* sorted; NULL while replaying the database */
	size_t nsent;
};

static int
sse_cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
sse_replay_one(void *arg, const struct changefeed_change *c)
{
	struct sse_replay *rp = arg;
	char *text;

	if (c->id == rp->skip_id || sse_is_access_change(c) ||
	    !sse_wants(rp->st, c))
		return;
	if (rp->sent != NULL && bsearch(&c->id, rp->sent, rp->nsent,
					sizeof(*rp->sent), sse_cmp_id) != NULL)
		return;
	text = sse_format(c);
	sse_write(rp->st, text);
	free(text);
}

static void
sse_replay(struct sse_hub *hub, struct sse_stream *st,
	   const struct sse_request *q)
{
	struct sse_replay rp = { st, q->last_id, NULL, 0 };
	int64_t *ids;

	if (q->is_resync) {
		sse_write(st, "event: resync\ndata: {}\n\n");
		return;
	}
	ids = xcalloc(q->nreplay + 1, sizeof(*ids));
	for (size_t i = 0; i < q->nreplay; i++) {
		sse_replay_one(&rp, &q->replay[i]);
		ids[i] = q->replay[i].id;
	}
	qsort(ids, q->nreplay, sizeof(*ids), sse_cmp_id);
	rp.sent = ids;
	rp.nsent = q->nreplay;
	/* What the poller delivered while this request was on its way. */
	changefeed_recent(hub->feed, q->since_ms, sse_replay_one, &rp);
	free(ids);
}

/* http.c hands over an HTTP_F_STREAM request whose work succeeded. */
static void
sse_start(void *arg, struct evhttp_request *ev, struct http_req *r)
{
	struct sse_hub *hub = arg;
	struct sse_request *q = r->ctx;
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	struct sse_stream *st = xcalloc(1, sizeof(*st));
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct timeval wtv;
	char retry[40];

	r->ctx = NULL; /* ours now */
	st->hub = hub;
	st->req = ev;
	st->agent_id = q->agent_id;
	snprintf(st->team, sizeof(st->team), "%s", q->team);
	st->who_agent_id = q->who_agent_id;
	st->who_key_id = q->who_key_id;
	st->expires_at = q->expires_at;
	evhttp_request_own(ev);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(ev, 200, "OK");
	evcon = evhttp_request_get_connection(ev);
	bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	if (bev == NULL ||
	    http_watch_close(hub->http, ev, sse_closed, st) != 0) {
		/* Not a connection of ours (it is closing already). */
		evhttp_send_reply_end(ev);
		free(st);
		sse_request_free(q);
		return;
	}
	/* evhttp's read timeout would cut a stream whose client (rightly)
	 * sends nothing; a write that makes no progress for a while still
	 * ends it. */
	wtv.tv_sec = 3 * hub->cfg->events_heartbeat_sec > 60
			     ? 3 * hub->cfg->events_heartbeat_sec
			     : 60;
	wtv.tv_usec = 0;
	bufferevent_set_timeouts(bev, NULL, &wtv);
	st->next = hub->streams;
	if (hub->streams != NULL)
		hub->streams->prev = st;
	hub->streams = st;
	hub->count++;
	sse_gauge(hub);
	snprintf(retry, sizeof(retry), "retry: %d\n\n",
		 hub->cfg->events_retry_ms);
	sse_write(st, retry);
	if (q->has_last)
		sse_replay(hub, st, q);
	sse_request_free(q);
}

struct sse_hub *
sse_hub_new(struct event_base *base, const struct config *cfg,
	    struct store_pool *pool, struct http_server *http,
	    struct metrics *metrics)
{
	struct sse_hub *hub = xcalloc(1, sizeof(*hub));
	struct timeval tv = { cfg->events_heartbeat_sec, 0 };

	hub->base = base;
	hub->cfg = cfg;
	hub->http = http;
	hub->metrics = metrics;
	hub->reap = event_new(base, -1, 0, sse_reap_cb, hub);
	hub->heartbeat = event_new(base, -1, EV_PERSIST, sse_heartbeat_cb, hub);
	event_add(hub->heartbeat, &tv);
	hub->feed = changefeed_new(base, cfg, pool, sse_deliver, hub);
	http_server_set_stream_handler(http, sse_start, hub);
	sse_gauge(hub);
	return hub;
}

int
sse_hub_count(const struct sse_hub *hub)
{
	return hub ? hub->count : 0;
}

void
sse_hub_stop(struct sse_hub *hub)
{
	struct sse_stream *st, *next;

	if (hub == NULL)
		return;
	changefeed_stop(hub->feed);
	event_del(hub->heartbeat);
	for (st = hub->streams; st != NULL; st = next) {
		next = st->next;
		sse_close(st);
	}
}

void
sse_hub_free(struct sse_hub *hub)
{
	if (hub == NULL)
		return;
	sse_hub_stop(hub);
	sse_reap_cb(-1, 0, hub);
	changefeed_free(hub->feed);
	event_free(hub->heartbeat);
	event_free(hub->reap);
	free(hub);
}
