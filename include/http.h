/*
 * http.h: the HTTP front: evhttp on the loop, route tables that carry the
 * roles allowed to call each route, body limits, authentication,
 * Idempotency-Key replay and problem+json errors.
 *
 * A request flows: framing (400) -> match route (404/405) -> read limits
 * (413) -> Content-Type (415) -> JSON body (400) -> credentials present?
 * (401) -> parse (loop thread, validation) ->
 * store job: resolve the API key and check its role (401/403), replay or
 * record the Idempotency-Key, run the route's work function in the same
 * transaction -> answer on the loop thread, exactly once.
 */
#ifndef CBD_HTTP_H
#define CBD_HTTP_H

#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common.h"

struct event_base;
struct config;
struct store_pool;
struct store_tx;
struct http_server;
struct metrics;

/* Who may call a route; a route's roles field is a mask of these. */
enum http_role {
	HTTP_ROLE_PUBLIC = 1 << 0,   /* anyone, no credentials */
	HTTP_ROLE_CUSTOMER = 1 << 1, /* a callback's manage token */
	HTTP_ROLE_AGENT = 1 << 2,
	HTTP_ROLE_LEAD = 1 << 3,
	HTTP_ROLE_ADMIN = 1 << 4,
	HTTP_ROLE_FEED = 1 << 5, /* an agent's calendar feed token */
};
#define HTTP_ROLES_STAFF (HTTP_ROLE_AGENT | HTTP_ROLE_LEAD | HTTP_ROLE_ADMIN)
#define HTTP_ROLES_LEADS (HTTP_ROLE_LEAD | HTTP_ROLE_ADMIN)

enum http_flag {
	HTTP_F_IDEMPOTENT = 1 << 0, /* honours Idempotency-Key */
	HTTP_F_RAW_BODY = 1 << 1,   /* body is not JSON (text/calendar) */
	HTTP_F_BIG_BODY = 1 << 2,   /* up to HTTP_BIG_BODY_BYTES */
	HTTP_F_ARRAY_BODY = 1 << 3, /* a JSON array body is allowed too */
	HTTP_F_STREAM = 1 << 4,    /* work ends in a stream (text/event-stream):
				    * handed to the stream handler, not answered */
	HTTP_F_NO_CORS = 1 << 5,   /* never CORS headers, even on a public
				    * route (sign-in: cookie routes) */
	HTTP_F_FORM_BODY = 1 << 6, /* application/x-www-form-urlencoded */
	/* Signed by the SMS provider, not by a key: parse checks the
	 * signature (from headers and target) and refuses with 401/403. */
	HTTP_F_SIGNED = 1 << 7,
	/* A page of the console (web_forms.c): answers and errors alike are
	 * HTML, written by web_forms_answer; parse sees the headers. */
	HTTP_F_PAGE = 1 << 8,
	/* Matched only when Accept names text/html (a browser following a
	 * link); a program asking the same path gets the next route. */
	HTTP_F_BROWSER = 1 << 9,
};
#define HTTP_BIG_BODY_BYTES (2 * 1024 * 1024)
#define HTTP_MAX_PARAMS     4

struct http_req;

/* Loop thread: validate input; 0, or -1 with err. Routes without work
 * answer here (set status and resp). */
typedef int (*http_parse_fn)(struct http_req *r, struct cbd_err *err);
/* Store thread, inside the request's transaction: 0, or -1 with err. */
typedef int (*http_work_fn)(struct store_tx *tx, struct http_req *r,
			    struct cbd_err *err);

struct http_route {
	enum evhttp_cmd_type method;
	const char *path; /* "/v1/callbacks/:id": ':' segments are params */
	unsigned roles;   /* mask of enum http_role */
	unsigned flags;   /* mask of enum http_flag */
	const char *name; /* metrics label */
	http_parse_fn parse;
	http_work_fn work;
};

/* One request. Owned by the loop, lent to one store job at a time. */
struct http_req {
	/* Set on the loop before parse; read-only afterwards. */
	const struct http_route *route;
	const struct config *cfg;
	struct http_server *srv;
	char *params[HTTP_MAX_PARAMS];
	struct evkeyvalq query;
	json_t *body;   /* parsed JSON object, or NULL */
	char *raw_body; /* NUL-terminated copy of the body */
	size_t raw_len;
	char *bearer;   /* credential from Authorization or ?token= */
	char *idem_key; /* Idempotency-Key header */
	/* HTTP_F_SIGNED routes, loop thread (parse) only: the request's
	 * headers and its target as sent ("/path?query"), borrowed. */
	const struct evkeyvalq *headers;
	const char *target;
	/* The client as per-address limits and anonymous idempotency scopes
	 * see it: the peer, or the address a trusted proxy reports; IPv4
	 * dotted, IPv6 as its /64 ("2001:db8:1:2::/64"). */
	char client_ip[64];
	/* Random per request (or a trusted proxy's X-Request-Id): it names
	 * the request in logs without telling how busy the service is. */
	char req_id[40];
	int64_t start_mono_ms;

	/* Set by the store job before work runs. */
	unsigned role; /* the caller's one role */
	int64_t key_id;
	int64_t agent_id;   /* agent keys: the agent; else 0 */
	int64_t session_id; /* authenticated by a console session cookie */
	int64_t session_expires_at; /* that session's absolute end */

	/* The answer, set by parse or work. */
	int status;
	json_t *resp;          /* JSON body (owned) */
	char *resp_raw;        /* or a raw body (owned) ... */
	const char *resp_type; /* ... of this static content type */
	char *location;        /* Location header (owned) */
	char *etag;            /* ETag header of a 2xx or 304 (owned) */
	char *if_none_match;   /* the If-None-Match header (owned) */
	int is_replay;         /* answered from the idempotency record */
	/* What the idempotency record keeps instead of the answer, for an
	 * answer that holds a secret (owned; NULL: the answer itself). */
	char *idem_record;
	int idem_record_status;

	/* The console session cookie's value (owned), when one was sent and
	 * the route takes staff credentials; the request's Origin (owned). */
	char *session_token;
	char *origin;
	char *set_cookie; /* a Set-Cookie header for the answer (owned) */
	/* HTTP_F_STREAM routes: Accept names text/event-stream; the
	 * Last-Event-ID header, owned. */
	int accepts_event_stream;
	char *last_event_id;
	/* Accept names text/csv (a report's download). */
	int accepts_csv;
	/* Content-Disposition: attachment with this file name (owned). */
	char *resp_filename;

	/* Route-private state; freed with ctx_free when set. */
	void *ctx;
	void (*ctx_free)(void *ctx);
};

struct http_server *http_server_new(struct event_base *base,
				    const struct config *cfg,
				    struct store_pool *pool,
				    struct metrics *metrics,
				    const struct http_route *const *tables);
/* Start listening; 0, or -1 (logged) when the address is taken. */
int http_server_listen(struct http_server *s) CBD_MUSTCHECK;
/* Stop accepting; in-flight requests still get answers. */
void http_server_stop_accepting(struct http_server *s);
/* Requests not yet answered. */
int http_server_inflight(const struct http_server *s);
void http_server_free(struct http_server *s); /* NULL ok */
struct store_pool *http_server_pool(const struct http_server *s);
struct metrics *http_server_metrics(const struct http_server *s);

/*
 * Streams (HTTP_F_STREAM routes): after the route's work succeeded, the
 * request is handed to fn on the loop thread instead of being answered;
 * fn owns ev from then on (it answers with evhttp_send_reply_start...).
 * r is borrowed for the call only (ctx may be taken: set it NULL).
 */
typedef void (*http_stream_fn)(void *arg, struct evhttp_request *ev,
			       struct http_req *r);
void http_server_set_stream_handler(struct http_server *s, http_stream_fn fn,
				    void *arg);
/* Call fn(arg) when the connection of ev closes (a stream's client went
 * away); 0, or -1 when the connection is not known. One watcher per
 * connection; http_unwatch_close removes it. Loop thread. */
int http_watch_close(struct http_server *s, struct evhttp_request *ev,
		     void (*fn)(void *arg), void *arg);
void http_unwatch_close(struct http_server *s, struct evhttp_request *ev);
/* Whether origin (an Origin header's value) is public_url's origin or one
 * of cors_origins. */
int http_origin_allowed(const struct config *cfg, const char *origin);
/* Whether origin is one of cors_origins (other sites allowed to call the
 * public endpoints from a browser). */
int http_cors_origin_listed(const struct config *cfg, const char *origin);

/* Query parameter value (borrowed) or NULL. */
const char *http_query(const struct http_req *r, const char *name);
/* Path parameter i as a positive id; 0 when not a valid id. */
int64_t http_param_id(const struct http_req *r, int i);
/* Who is calling, for timelines and audit: "customer", "agent:7",
 * "lead:3" (key id), "admin:1". Writes buf and returns it. */
const char *http_actor(const struct http_req *r, char *buf, size_t size);
/* Set the JSON answer (steals body). */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* problem+json text for err (caller frees); instance may be NULL. */
char *http_problem_json(const struct cbd_err *err, const char *instance);
/*
 * Reject keys of obj not in the NULL-terminated allowed list: 400
 * unknown-field naming the first one, under prefix ("customer.").
 */
int http_check_fields(json_t *obj, const char *const *allowed,
		      const char *prefix, struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Fetch a string member: *out borrowed or NULL when absent. Wrong type,
 * invalid text or more than max_chars code points: -1 with a field error.
 */
int http_get_str(json_t *obj, const char *key, const char *field,
		 size_t max_chars, int required, const char **out,
		 struct cbd_err *err) CBD_MUSTCHECK;
/* Integer member in [lo, hi]; *out untouched when absent and optional. */
int http_get_int(json_t *obj, const char *key, const char *field, int64_t lo,
		 int64_t hi, int required, int64_t *out,
		 struct cbd_err *err) CBD_MUSTCHECK;

#endif
