/*
 * sse.h: server push to the web console (Server-Sent Events).
 *
 * The hub owns this instance's open event streams and its change feed
 * poller (changefeed.h): each change the feed delivers is written, once
 * formatted, to every stream it concerns: an agent's stream gets changes
 * to callbacks they own or that were handed to or from them; a lead's
 * stream their team's (a lead key belonging to no agent, and admins: all).
 *
 * A stream answers 200 text/event-stream and then, per change,
 *   id: <change id>\nevent: callback\ndata: {...}\n\n
 * with a comment line every events_heartbeat_sec and a retry: hint first.
 * Last-Event-ID resumes: the changes written since that one's time less
 * the lookback are replayed (a change may come twice across a reconnect:
 * clients de-duplicate by id); when that change is no longer kept, an
 * "event: resync" tells the client to reload instead.
 *
 * Each stream is one connection, counted against the listener's caps like
 * any other; a stream whose client left is dropped when the connection
 * closes, and one whose client stops reading (over SSE_MAX_BACKLOG bytes
 * waiting) is closed. Loop thread only.
 */
#ifndef CBD_SSE_H
#define CBD_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct config;
struct event_base;
struct http_server;
struct metrics;
struct store_pool;
struct changefeed_change;
struct sse_hub;

/* What a stream is to get, worked out by its route on a store thread. */
struct sse_request {
	int64_t agent_id; /* > 0: an agent's own stream */
	char team[65];    /* a lead's team; "" with agent_id 0: everything */
	/* Whose credentials opened it: the stream ends when their access
	 * does (a CHANGEFEED_ACCESS_ENDED change) or the session expires. */
	int64_t who_agent_id; /* 0: no agent */
	int64_t who_key_id;   /* 0: a session from an agent's sign-in link */
	int64_t expires_at;   /* 0: a key, which has no end */
	int has_last;         /* Last-Event-ID given ... */
	int64_t last_id;
	int is_resync;                    /* ... but no longer kept */
	int64_t since_ms;                 /* replay rows written since */
	struct changefeed_change *replay; /* read from the database */
	size_t nreplay;
};
void sse_request_free(void *req); /* NULL ok; an http_req ctx_free */

/* Start the hub and its feed poller; it takes http's HTTP_F_STREAM
 * requests (their ctx is a struct sse_request). */
struct sse_hub *sse_hub_new(struct event_base *base, const struct config *cfg,
			    struct store_pool *pool, struct http_server *http,
			    struct metrics *metrics);
/* Open streams now. */
int sse_hub_count(const struct sse_hub *hub);
/* Close every stream (browsers reconnect, elsewhere when this instance is
 * going away) and stop following the feed. */
void sse_hub_stop(struct sse_hub *hub);
/* After the store pool is freed (its jobs' callbacks use the hub). */
void sse_hub_free(struct sse_hub *hub); /* NULL ok */

#endif
