/*
 * api_events.c: server push for the web console. GET /v1/me/events is an
 * agent's stream of changes to their callbacks; GET /v1/events a lead's
 * (their team) or an admin's (everything). The work here runs on a store
 * thread: who gets what, and the rows to replay for Last-Event-ID; then
 * http.c hands the request to the stream hub (sse.c), which answers.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "changefeed.h"
#include "config.h"
#include "session.h"
#include "sse.h"
#include "store.h"
#include "xalloc.h"

/* Rows one resume replays at most: older ones get "resync". */
#define API_EVENTS_REPLAY_MAX 20000

/* Where a resumed stream starts: the time of the change last seen. */
static int
api_events_resume(struct store_tx *tx, struct http_req *r,
		  struct sse_request *q, struct cbd_err *err)
{
	/* EventSource sends the header when it reconnects; a page that
	 * reloads passes the last id it kept in the query. */
	const char *s = r->last_event_id != NULL
				? r->last_event_id
				: http_query(r, "last_event_id");
	struct store_rows *row;
	char *end;
	long long id;

	if (s == NULL || *s == '\0')
		return 0;
	id = strtoll(s, &end, 10);
	if (*end != '\0' || id <= 0) {
		cbd_err_set(err, 400, "invalid-header", "Last-Event-ID",
			    "Last-Event-ID must be an event id this server "
			    "sent");
		return -1;
	}
	q->has_last = 1;
	q->last_id = id;
	row = store_query(tx, err,
			  "SELECT written_ms FROM changes WHERE id = ?", "i",
			  (int64_t)id);
	if (row == NULL)
		return -1;
	if (store_rows_count(row) == 0) {
		store_rows_free(row);
		q->is_resync = 1; /* purged, or never ours */
		return 0;
	}
	q->since_ms = store_rows_int(row, 0, 0, 0) -
		      (int64_t)r->cfg->events_lookback_sec * 1000;
	store_rows_free(row);
	if (changefeed_read(tx, q->since_ms, API_EVENTS_REPLAY_MAX, &q->replay,
			    &q->nreplay, err) != 0)
		return -1;
	if (q->nreplay == API_EVENTS_REPLAY_MAX) {
		free(q->replay);
		q->replay = NULL;
		q->nreplay = 0;
		q->is_resync = 1;
	}
	return 0;
}

static int
api_events_open(struct store_tx *tx, struct http_req *r, int own,
		struct cbd_err *err)
{
	struct sse_request *q;

	/* A stream speaks text/event-stream only (EventSource asks for it);
	 * a client that cannot read one gets a plain answer, not a request
	 * that never ends. */
	if (!r->accepts_event_stream) {
		cbd_err_set(err, 406, "not-acceptable", "Accept",
			    "this endpoint streams Server-Sent Events: send "
			    "Accept: text/event-stream");
		return -1;
	}
	sse_request_free(r->ctx); /* a retried run starts afresh */
	r->ctx = q = xcalloc(1, sizeof(*q));
	r->ctx_free = sse_request_free;
	q->who_agent_id = r->agent_id;
	q->who_key_id = r->key_id;
	q->expires_at = r->session_id > 0 ? r->session_expires_at : 0;
	if (own)
		q->agent_id = r->agent_id;
	else if (session_lead_team(tx, r->role == HTTP_ROLE_LEAD, r->key_id,
				   r->agent_id, q->team, sizeof(q->team),
				   err) != 0)
		return -1;
	return api_events_resume(tx, r, q, err);
}

static int
api_events_mine(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	return api_events_open(tx, r, 1, err);
}

static int
api_events_team(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	return api_events_open(tx, r, 0, err);
}

const struct http_route api_events_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/me/events", HTTP_ROLE_AGENT,
	  HTTP_F_STREAM | HTTP_F_NO_CORS, "events_mine", NULL,
	  api_events_mine },
	{ EVHTTP_REQ_GET, "/v1/events", HTTP_ROLES_LEADS,
	  HTTP_F_STREAM | HTTP_F_NO_CORS, "events_team", NULL,
	  api_events_team },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
