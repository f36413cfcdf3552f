/*
 * http.c: evhttp glue, routing, authentication and answers.
 *
 * Every route is declared in a table (api_*.c) with the roles allowed to
 * call it; this file is the only place that checks them, so no route can
 * be added without an authorization decision, and a test can walk the
 * tables. Requests that need the database become one store job that runs
 * key lookup, role check, idempotency and the route's work in a single
 * transaction, then come back to the loop to be answered exactly once.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

#include "clock.h"
#include "config.h"
#include "http.h"
#include "keys.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "session.h"
#include "store.h"
#include "valid.h"
#include "web.h"
#include "web_forms.h"
#include "xalloc.h"

/* evhttp's own hard cap; our per-route limits answer with problem+json
 * below it, so only absurd bodies get evhttp's plain 413. */
#define HTTP_HARD_BODY_CAP (8 * 1024 * 1024)

struct http_server {
	struct event_base *base;
	const struct config *cfg;
	struct store_pool *pool;
	struct metrics *metrics;
	const struct http_route *const *tables;
	struct evhttp *evh;
	struct listener *listener;
	struct netaddr_list *trusted; /* proxies whose client header counts */
	struct web *web;              /* the console's pages and files */
	int inflight;
	int is_draining;
	http_stream_fn stream_fn; /* takes HTTP_F_STREAM requests */
	void *stream_arg;
};

/* A request travelling to a store job and back. */
struct http_job {
	struct http_req r;
	struct evhttp_request *ev; /* loop only */
	char key_hash[KEYS_HASH_HEX_LEN + 1];
	int need_key_lookup;
	char body_hash[KEYS_HASH_HEX_LEN + 1];
	/* The body's Content-Type is not what the route takes: 415, told
	 * after the key's role is checked (a caller who may not use the
	 * route learns nothing about its input). */
	const char *wrong_type_wanted;
	int is_head;
	int must_close; /* framing in doubt: close after the answer */
	int is_session; /* key_hash is a console session cookie's hash */
};

static const struct {
	int status;
	const char *title;
} http_titles[] = {
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" },
	{ 503, "Service Unavailable" },
};

static const char *
http_title(int status)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(http_titles); i++)
		if (http_titles[i].status == status)
			return http_titles[i].title;
	return status < 500 ? "Client Error" : "Server Error";
}

char *
http_problem_json(const struct cbd_err *err, const char *instance)
{
	json_t *o = json_object();
	char type[80];
	char *s;

	snprintf(type, sizeof(type), "/problems/%s",
		 err->type[0] ? err->type : "internal");
	json_object_set_new(o, "type", json_string(type));
	json_object_set_new(o, "title", json_string(http_title(err->status)));
	json_object_set_new(o, "status", json_integer(err->status));
	json_object_set_new(o, "detail", json_string(err->detail));
	if (instance != NULL)
		json_object_set_new(o, "instance", json_string(instance));
	if (err->field[0] != '\0') {
		json_t *e = json_object();
		json_object_set_new(e, "field", json_string(err->field));
		json_object_set_new(e, "message", json_string(err->detail));
		json_object_set_new(o, "errors", json_pack("[o]", e));
	}
	if (err->extra_json != NULL) {
		json_t *x = json_loads(err->extra_json, 0, NULL);
		if (json_is_object(x))
			json_object_update_missing(o, x);
		json_decref(x);
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

const char *
http_query(const struct http_req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

int64_t
http_param_id(const struct http_req *r, int i)
{
	const char *s = r->params[i];
	char *end;
	long long v;

	if (s == NULL || *s < '1' || *s > '9' || strlen(s) > 18)
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

const char *
http_actor(const struct http_req *r, char *buf, size_t size)
{
	switch (r->role) {
	case HTTP_ROLE_CUSTOMER:
		snprintf(buf, size, "customer");
		break;
	case HTTP_ROLE_AGENT:
		snprintf(buf, size, "agent:%lld", (long long)r->agent_id);
		break;
	case HTTP_ROLE_LEAD:
	case HTTP_ROLE_ADMIN:
		snprintf(buf, size, "%s:%lld",
			 r->role == HTTP_ROLE_LEAD ? "lead" : "admin",
			 (long long)r->key_id);
		break;
	default:
		snprintf(buf, size, "anonymous");
	}
	return buf;
}

void
http_reply_json(struct http_req *r, int status, json_t *body)
{
	json_decref(r->resp);
	r->status = status;
	r->resp = body;
}

int
http_check_fields(json_t *obj, const char *const *allowed, const char *prefix,
		  struct cbd_err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		int known = 0;
		(void)v;
		for (const char *const *a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				known = 1;
		if (!known) {
			char field[64];
			snprintf(field, sizeof(field), "%s%.40s", prefix, key);
			cbd_err_set(err, 400, "unknown-field", field,
				    "unknown field '%s'", field);
			return -1;
		}
	}
	return 0;
}

int
http_get_str(json_t *obj, const char *key, const char *field, size_t max_chars,
	     int required, const char **out, struct cbd_err *err)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		cbd_err_set(err, 400, "missing-field", field, "%s is required",
			    field);
		return -1;
	}
	if (!json_is_string(v)) {
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s must be a string", field);
		return -1;
	}
	s = json_string_value(v);
	if (!valid_text(s, json_string_length(v))) {
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s contains control characters or NUL", field);
		return -1;
	}
	if (valid_utf8_len(s) > max_chars) {
		cbd_err_set(err, 400, "too-long", field,
			    "%s is longer than %zu characters", field,
			    max_chars);
		return -1;
	}
	if (required && valid_is_blank(s)) {
		cbd_err_set(err, 400, "missing-field", field,
			    "%s must not be blank", field);
		return -1;
	}
	*out = s;
	return 0;
}

int
http_get_int(json_t *obj, const char *key, const char *field, int64_t lo,
	     int64_t hi, int required, int64_t *out, struct cbd_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		cbd_err_set(err, 400, "missing-field", field, "%s is required",
			    field);
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s must be an integer from %lld to %lld", field,
			    (long long)lo, (long long)hi);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static void
http_job_free(struct http_job *j)
{
	for (int i = 0; i < HTTP_MAX_PARAMS; i++)
		free(j->r.params[i]);
	evhttp_clear_headers(&j->r.query);
	json_decref(j->r.body);
	free(j->r.raw_body);
	free(j->r.bearer);
	free(j->r.idem_key);
	json_decref(j->r.resp);
	free(j->r.resp_raw);
	free(j->r.resp_filename);
	free(j->r.location);
	free(j->r.etag);
	free(j->r.if_none_match);
	free(j->r.idem_record);
	free(j->r.session_token);
	free(j->r.origin);
	free(j->r.set_cookie);
	free(j->r.last_event_id);
	if (j->r.ctx_free != NULL)
		j->r.ctx_free(j->r.ctx);
	free(j);
}

/* The origin (scheme://host[:port]) a URL's text starts with, lowercased,
 * into out; "" when it has none. */
static void
http_url_origin(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://");
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	n = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
	if (n >= size)
		return;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)url[i]);
	out[n] = '\0';
}

int
http_cors_origin_listed(const struct config *cfg, const char *origin)
{
	const char *p = cfg->cors_origins;
	char want[256], item[256];

	if (origin == NULL || *origin == '\0' || strcmp(origin, "null") == 0)
		return 0;
	http_url_origin(origin, want, sizeof(want));
	if (want[0] == '\0')
		return 0;
	while (*p != '\0') {
		size_t n;
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0 && n < sizeof(item)) {
			char *copy = xstrndup(p, n);
			http_url_origin(copy, item, sizeof(item));
			free(copy);
			if (item[0] != '\0' && strcmp(item, want) == 0)
				return 1;
		}
		p += n;
	}
	return 0;
}

int
http_origin_allowed(const struct config *cfg, const char *origin)
{
	char own[256], want[256];

	if (origin == NULL)
		return 0;
	http_url_origin(cfg->public_url, own, sizeof(own));
	http_url_origin(origin, want, sizeof(want));
	if (want[0] != '\0' && strcmp(own, want) == 0)
		return 1;
	return http_cors_origin_listed(cfg, origin);
}

/*
 * Public customer routes (booking, slots, ETA, manage) answer browsers of
 * the origins in cors_origins, so a company can embed booking in its own
 * site. Never with credentials: the console's cookie routes are staff
 * routes or marked HTTP_F_NO_CORS, and get no CORS header at all.
 */
static int
http_route_is_cors(const struct http_route *rt)
{
	return rt != NULL && !(rt->flags & HTTP_F_NO_CORS) &&
	       (rt->roles & (HTTP_ROLE_PUBLIC | HTTP_ROLE_CUSTOMER)) &&
	       strncmp(rt->path, "/v1/", 4) == 0;
}

static void
http_add_cors(struct http_job *j, struct evkeyvalq *h)
{
	if (!http_route_is_cors(j->r.route) ||
	    !http_cors_origin_listed(j->r.cfg, j->r.origin))
		return;
	evhttp_add_header(h, "Access-Control-Allow-Origin", j->r.origin);
	evhttp_add_header(h, "Access-Control-Expose-Headers",
			  "Location, Retry-After, Idempotent-Replayed, "
			  "X-Request-Id");
	evhttp_add_header(h, "Vary", "Origin");
}

/* Answer the request, record metrics, free the job. Loop thread. */
static void
http_finish(struct http_job *j, const struct cbd_err *err)
{
	struct http_server *s = j->r.srv;
	struct evkeyvalq *h = evhttp_request_get_output_headers(j->ev);
	struct evbuffer *out = evbuffer_new();
	int status;

	evhttp_add_header(h, "X-Request-Id", j->r.req_id);
	evhttp_add_header(h, "Cache-Control", "no-store");
	http_add_cors(j, h);
	if (j->r.set_cookie != NULL && (err == NULL || err->status < 400))
		evhttp_add_header(h, "Set-Cookie", j->r.set_cookie);
	if (j->r.route != NULL && (j->r.route->flags & HTTP_F_PAGE)) {
		status = web_forms_answer(s->web, &j->r, err, h, out);
	} else if (err != NULL && err->status >= 400) {
		char *p = http_problem_json(err, NULL);
		status = err->status;
		evhttp_add_header(h, "Content-Type",
				  "application/problem+json");
		if (err->retry_after_sec > 0) {
			char ra[16];
			snprintf(ra, sizeof(ra), "%d", err->retry_after_sec);
			evhttp_add_header(h, "Retry-After", ra);
		}
		evbuffer_add(out, p, strlen(p));
		free(p);
		if (status >= 500)
			log_error("request failed",
				  "req=%s route=%s status=%d type=%s",
				  j->r.req_id,
				  j->r.route ? j->r.route->name : "-", status,
				  err->type);
	} else {
		status = j->r.status ? j->r.status : 200;
		if (j->r.location != NULL)
			evhttp_add_header(h, "Location", j->r.location);
		if (j->r.etag != NULL)
			evhttp_add_header(h, "ETag", j->r.etag);
		if (j->r.is_replay)
			evhttp_add_header(h, "Idempotent-Replayed", "true");
		if (j->r.resp_raw != NULL) {
			evhttp_add_header(h, "Content-Type", j->r.resp_type);
			if (j->r.resp_filename != NULL) {
				char cd[160];
				snprintf(cd, sizeof(cd),
					 "attachment; filename=\"%s\"",
					 j->r.resp_filename);
				evhttp_add_header(h, "Content-Disposition", cd);
			}
			evbuffer_add(out, j->r.resp_raw, strlen(j->r.resp_raw));
		} else if (j->r.resp != NULL) {
			char *b = json_dumps(j->r.resp, JSON_COMPACT);
			evhttp_add_header(h, "Content-Type",
					  "application/json");
			evbuffer_add(out, b, strlen(b));
			free(b);
		}
	}
	if (s->is_draining || j->must_close)
		evhttp_add_header(h, "Connection", "close");
	if (j->is_head) {
		/* The GET answer's headers, its length, and no body: evhttp
		 * would send the body and leave the length out. */
		char n[24];
		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(out));
		evhttp_add_header(h, "Content-Length", n);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	evhttp_send_reply(j->ev, status, http_title(status), out);
	evbuffer_free(out);
	metrics_request(s->metrics, j->r.route ? j->r.route->name : "unmatched",
			status, clock_mono_ms() - j->r.start_mono_ms);
	log_debug("request", "req=%s route=%s status=%d ms=%lld", j->r.req_id,
		  j->r.route ? j->r.route->name : "-", status,
		  (long long)(clock_mono_ms() - j->r.start_mono_ms));
	s->inflight--;
	http_job_free(j);
}

static void
http_fail(struct http_job *j, int status, const char *type, const char *field,
	  const char *detail)
{
	struct cbd_err err;

	memset(&err, 0, sizeof(err));
	cbd_err_set(&err, status, type, field, "%s", detail);
	http_finish(j, &err);
}

/* Match path against a pattern, capturing ':' segments. */
static int
http_match(const char *pattern, const char *path, char **params)
{
	int np = 0;

	while (*pattern && *path) {
		if (*pattern == ':') {
			const char *pe = strchr(pattern, '/');
			const char *se = strchr(path, '/');
			size_t n = se ? (size_t)(se - path) : strlen(path);
			if (n == 0 || np >= HTTP_MAX_PARAMS)
				goto fail;
			params[np++] = xstrndup(path, n);
			pattern = pe ? pe : pattern + strlen(pattern);
			path += n;
			continue;
		}
		if (*pattern != *path)
			goto fail;
		pattern++;
		path++;
	}
	if (*pattern == '\0' && *path == '\0')
		return 1;
fail:
	for (int i = 0; i < np; i++) {
		free(params[i]);
		params[i] = NULL;
	}
	return 0;
}

static const char *
http_method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

static void
http_err_media_type(struct cbd_err *err, const char *wanted)
{
	cbd_err_set(err, 415, "unsupported-media-type", "Content-Type",
		    "the body must be sent as Content-Type: %s", wanted);
}

/* RFC 9110 token characters, which a header name must consist of. */
static int
http_is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return 0;
	return 1;
}

/*
 * Framing a proxy in front might read differently from evhttp (request
 * smuggling): RFC 9112 makes each of these a 400 and a closed connection.
 * evhttp takes the first of two Content-Lengths, ignores a
 * "Transfer-Encoding :" (the space makes it another header) and reads
 * Content-Length past an unknown transfer coding.
 */
static int
http_check_framing(struct evkeyvalq *in, struct cbd_err *err)
{
	const char *length = NULL;
	int chunked = 0;
	struct evkeyval *h;

	TAILQ_FOREACH(h, in, next)
	{
		if (!http_is_token(h->key)) {
			cbd_err_set(err, 400, "invalid-framing", "",
				    "a header name holds a space or other "
				    "character not allowed there");
			return -1;
		}
		if (strcasecmp(h->key, "Content-Length") == 0) {
			if (length != NULL && strcmp(length, h->value) != 0) {
				cbd_err_set(err, 400, "invalid-framing",
					    "Content-Length",
					    "two different Content-Length "
					    "headers");
				return -1;
			}
			length = h->value;
		} else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
			if (chunked || strcasecmp(h->value, "chunked") != 0) {
				cbd_err_set(err, 400, "invalid-framing",
					    "Transfer-Encoding",
					    "only one Transfer-Encoding: "
					    "chunked is understood");
				return -1;
			}
			chunked = 1;
		}
	}
	if (chunked && length != NULL) {
		cbd_err_set(err, 400, "invalid-framing", "Transfer-Encoding",
			    "Content-Length and Transfer-Encoding together");
		return -1;
	}
	return 0;
}

/* Whether the media type of a Content-Type value (parameters aside) is
 * want; value may be NULL. */
static int
http_media_type_is(const char *value, const char *want)
{
	size_t n;

	if (value == NULL)
		return 0;
	value += strspn(value, " \t");
	n = strcspn(value, "; \t");
	return n == strlen(want) && strncasecmp(value, want, n) == 0;
}

/*
 * The address text of one list element [p, end) into out (size 64), ""
 * when there is none: for X-Forwarded-For the element itself, for
 * Forwarded (RFC 7239) its for= parameter, unquoted.
 */
static void
http_forwarded_value(const char *p, const char *end, int is_rfc7239, char *out)
{
	const char *v = p;
	size_t vl;

	out[0] = '\0';
	if (is_rfc7239) {
		v = NULL;
		while (p < end) {
			p += strspn(p, " \t;");
			if (p < end && strncasecmp(p, "for=", 4) == 0) {
				v = p + 4;
				break;
			}
			p += strcspn(p, ";,");
		}
		if (v == NULL)
			return;
	}
	v += strspn(v, " \t\"");
	vl = strcspn(v, ";,\" \t");
	if (v + vl > end)
		vl = v < end ? (size_t)(end - v) : 0;
	if (vl < 64) {
		memcpy(out, v, vl);
		out[vl] = '\0';
	}
}

/*
 * The addresses a trusted proxy reports, in order, over all header lines
 * of that name. Only the last max are kept, in a ring (items[k % max]):
 * the nearest hops are at the end, and a client could pad the front.
 * Returns how many there were in all.
 */
static int
http_forwarded_items(struct evkeyvalq *in, int is_rfc7239, char (*items)[64],
		     int max)
{
	const char *name = is_rfc7239 ? "Forwarded" : "X-Forwarded-For";
	struct evkeyval *h;
	int n = 0;

	TAILQ_FOREACH(h, in, next)
	{
		const char *p = h->value;

		if (strcasecmp(h->key, name) != 0)
			continue;
		while (*p != '\0') {
			const char *end = p + strcspn(p, ",");

			http_forwarded_value(p, end, is_rfc7239,
					     items[n % max]);
			n++;
			p = *end ? end + 1 : end;
		}
	}
	return n;
}

/*
 * Who is calling: the peer, unless the peer is a trusted proxy; then the
 * nearest address in its header that is not itself a trusted proxy. An
 * entry that is no address stops the walk (whatever lies beyond it came
 * from the client and may be forged).
 */
static void
http_resolve_client(struct http_server *s, struct http_job *j,
		    struct evkeyvalq *in)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(j->ev);
	struct netaddr client;
	char items[16][64];
	int n;

	if (evcon == NULL ||
	    netaddr_from_sockaddr(evhttp_connection_get_addr(evcon), &client) !=
		    0) {
		char *host = NULL;
		ev_uint16_t port = 0;
		if (evcon != NULL)
			evhttp_connection_get_peer(evcon, &host, &port);
		snprintf(j->r.client_ip, sizeof(j->r.client_ip), "%s",
			 host ? host : "");
		return;
	}
	if (netaddr_list_has(s->trusted, &client)) {
		const char *rid = evhttp_find_header(in, "X-Request-Id");

		n = http_forwarded_items(
			in,
			strcmp(s->cfg->client_addr_header, "forwarded") == 0,
			items, (int)CBD_ARRAY_LEN(items));
		for (int i = n - 1;
		     i >= 0 && i >= n - (int)CBD_ARRAY_LEN(items); i--) {
			const char *t = items[i % (int)CBD_ARRAY_LEN(items)];
			struct netaddr a;
			if (netaddr_parse(t, strlen(t), &a) != 0)
				break;
			client = a;
			if (!netaddr_list_has(s->trusted, &a))
				break;
		}
		/* The proxy's request id ties its log to ours. */
		if (rid != NULL && *rid != '\0' &&
		    strlen(rid) < sizeof(j->r.req_id) &&
		    strspn(rid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
				"UVWXYZ0123456789._:-") == strlen(rid))
			snprintf(j->r.req_id, sizeof(j->r.req_id), "%s", rid);
	}
	netaddr_key(&client, j->r.client_ip, sizeof(j->r.client_ip));
}

/* 96 random bits: unique in practice, and says nothing of the traffic. */
static void
http_new_req_id(char *buf, size_t size)
{
	unsigned char b[12];

	if (RAND_bytes(b, sizeof(b)) != 1)
		log_fatal("no randomness", "source=RAND_bytes");
	for (size_t i = 0; i < sizeof(b) && 2 * i + 2 < size; i++)
		snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

/*
 * Store thread: who is calling, from an API key or a console session
 * cookie (the same person either way: role, agent and key). 0, or -1
 * with 401/403 in err.
 */
static int
http_lookup_caller(struct store_tx *tx, struct http_job *j, struct cbd_err *err)
{
	struct http_req *r = &j->r;

	if (j->is_session) {
		struct session_who who;

		if (session_lookup(tx, r->cfg, j->key_hash, &who, err) != 0) {
			/* A public route (slots) answers a stale console
			 * cookie as it answers anyone: a booking page open
			 * in an agent's browser must not start failing. */
			if (err->status == 401 &&
			    (r->route->roles & HTTP_ROLE_PUBLIC)) {
				cbd_err_clear(err);
				r->role = HTTP_ROLE_PUBLIC;
				return 0;
			}
			return -1;
		}
		r->session_id = who.id;
		r->session_expires_at = who.expires_at;
		r->key_id = who.key_id;
		r->agent_id = who.agent_id;
		r->role = !strcmp(who.role, "admin")  ? HTTP_ROLE_ADMIN
			  : !strcmp(who.role, "lead") ? HTTP_ROLE_LEAD
						      : HTTP_ROLE_AGENT;
		return 0;
	}
	{
		/* A key tied to an agent works only while the agent is
		 * active: deactivating someone cuts their access at once. */
		struct store_rows *k = store_query(
			tx, err,
			"SELECT k.id, k.role, k.agent_id, "
			"COALESCE(a.is_active, 1) FROM api_keys k "
			"LEFT JOIN agents a ON a.id = k.agent_id "
			"WHERE k.key_hash = ? AND k.revoked_at IS NULL",
			"s", j->key_hash);
		const char *role;

		if (k == NULL)
			return -1;
		if (store_rows_count(k) == 0) {
			store_rows_free(k);
			cbd_err_set(err, 401, "unauthorized", "",
				    "the API key is not valid");
			return -1;
		}
		if (store_rows_int(k, 0, 3, 1) == 0) {
			store_rows_free(k);
			cbd_err_set(err, 403, "agent-inactive", "",
				    "the agent of this API key is deactivated");
			return -1;
		}
		r->key_id = store_rows_int(k, 0, 0, 0);
		role = store_rows_str(k, 0, 1);
		r->agent_id = store_rows_int(k, 0, 2, 0);
		r->role = !strcmp(role, "admin")  ? HTTP_ROLE_ADMIN
			  : !strcmp(role, "lead") ? HTTP_ROLE_LEAD
						  : HTTP_ROLE_AGENT;
		store_rows_free(k);
	}
	return 0;
}

/*
 * Store thread: authenticate, authorise, replay or record the idempotency
 * key, and run the route's work, all in one transaction. Re-runnable: the
 * pool may call it again after a deadlock, so it resets the answer first.
 */
static int
http_job_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct http_job *j = arg;
	struct http_req *r = &j->r;
	const struct http_route *rt = r->route;
	char scope[80];
	int use_idem, rc;

	json_decref(r->resp);
	r->resp = NULL;
	free(r->resp_raw);
	r->resp_raw = NULL;
	free(r->resp_filename);
	r->resp_filename = NULL;
	free(r->location);
	r->location = NULL;
	free(r->etag);
	r->etag = NULL;
	r->status = 0;
	r->is_replay = 0;
	free(r->idem_record);
	r->idem_record = NULL;

	if (j->need_key_lookup) {
		if (http_lookup_caller(tx, j, err) != 0)
			return -1;
		if ((rt->roles & r->role) == 0) {
			cbd_err_set(err, 403, "forbidden", "",
				    "a%s %s key may not call this endpoint",
				    r->role == HTTP_ROLE_ADMIN ? "n" : "",
				    r->role == HTTP_ROLE_ADMIN  ? "admin"
				    : r->role == HTTP_ROLE_LEAD ? "lead"
								: "agent");
			return -1;
		}
		/* Validation comes after authorisation: a caller who may
		 * not use the endpoint learns nothing about its input. */
		if (j->wrong_type_wanted != NULL) {
			http_err_media_type(err, j->wrong_type_wanted);
			return -1;
		}
		/* A deadlock runs this job again: drop the last run's
		 * parse state before parsing anew. */
		if (r->ctx != NULL && r->ctx_free != NULL) {
			r->ctx_free(r->ctx);
			r->ctx = NULL;
		}
		if (rt->parse != NULL && rt->parse(r, err) != 0)
			return -1;
	}

	use_idem = (rt->flags & HTTP_F_IDEMPOTENT) && r->idem_key != NULL;
	if (use_idem) {
		int64_t now = clock_now();
		struct store_rows *row = NULL;

		/* Keys belong to a caller: an API key, or for anonymous
		 * bookings the client address, so two customers who happen
		 * to pick the same key never see each other's answer. */
		if (r->key_id > 0)
			snprintf(scope, sizeof(scope), "%s:k%lld", rt->name,
				 (long long)r->key_id);
		else if (r->session_id > 0)
			snprintf(scope, sizeof(scope), "%s:s%lld", rt->name,
				 (long long)r->session_id);
		else
			snprintf(scope, sizeof(scope), "%s:a%s", rt->name,
				 r->client_ip);
		for (int pass = 0; pass < 2; pass++) {
			row = store_query(
				tx, err,
				"SELECT body_hash, status, response, "
				"created_at, location FROM idempotency WHERE "
				"scope = ? AND idem_key = ?",
				"ss", scope, r->idem_key);
			if (row == NULL)
				return -1;
			if (store_rows_count(row) > 0 &&
			    store_rows_int(row, 0, 3, 0) <
				    now - r->cfg->idempotency_ttl_sec) {
				/* Expired: the key may be used afresh. */
				store_rows_free(row);
				row = NULL;
				if (store_exec(tx, err,
					       "DELETE FROM idempotency WHERE "
					       "scope = ? AND idem_key = ?",
					       "ss", scope, r->idem_key) < 0)
					return -1;
				continue;
			}
			if (store_rows_count(row) > 0)
				break;
			store_rows_free(row);
			row = NULL;
			/* Claim the key first: a concurrent twin blocks on
			 * this unique row until we commit, then replays. */
			if (store_exec(
				    tx, err,
				    "INSERT INTO idempotency (scope, "
				    "idem_key, body_hash, status, response,"
				    " created_at) VALUES (?, ?, ?, 0, '', ?)",
				    "sssi", scope, r->idem_key, j->body_hash,
				    now) >= 0)
				break;
			if (store_errno(tx) != 1062)
				return -1;
			cbd_err_clear(err);
		}
		if (row != NULL) {
			int same = strcmp(store_rows_str(row, 0, 0),
					  j->body_hash) == 0;
			int status = (int)store_rows_int(row, 0, 1, 0);

			if (!same) {
				store_rows_free(row);
				cbd_err_set(err, 409, "idempotency-key-reused",
					    "Idempotency-Key",
					    "this Idempotency-Key was used with"
					    " a different request");
				return -1;
			}
			r->status = status;
			/* The stored text is the answer: no re-parsing. A
			 * stored problem stands for an answer that held a
			 * secret (idem_record). */
			if (status != 204) {
				r->resp_raw =
					xstrdup(store_rows_str(row, 0, 2));
				r->resp_type =
					status >= 400
						? "application/problem+json"
						: "application/json";
			}
			if (store_rows_str(row, 0, 4) != NULL)
				r->location =
					xstrdup(store_rows_str(row, 0, 4));
			r->is_replay = 1;
			store_rows_free(row);
			return 0;
		}
	}

	rc = rt->work(tx, r, err);
	if (rc == 0 && r->resp != NULL && r->resp_raw == NULL) {
		/* Serialise here, off the loop thread. */
		r->resp_raw = json_dumps(r->resp, JSON_COMPACT);
		r->resp_type = "application/json";
	}
	if (rc == 0 && use_idem) {
		char *body = r->idem_record != NULL ? xstrdup(r->idem_record)
			     : r->resp ? json_dumps(r->resp, JSON_COMPACT)
				       : xstrdup("null");
		int status = r->idem_record != NULL ? r->idem_record_status
			     : r->status            ? r->status
						    : 200;
		int64_t n = store_exec(
			tx, err,
			"UPDATE idempotency SET status = ?, response = ?, "
			"location = ? WHERE scope = ? AND idem_key = ?",
			"issss", (int64_t)status, body, r->location, scope,
			r->idem_key);
		free(body);
		if (n < 0)
			return -1;
	}
	return rc;
}

static void
http_job_done(void *arg, int rc, struct cbd_err *err)
{
	struct http_job *j = arg;
	struct http_server *s = j->r.srv;

	if (rc == 0 && (j->r.route->flags & HTTP_F_STREAM) && s->is_draining) {
		struct cbd_err e;

		memset(&e, 0, sizeof(e));
		cbd_err_set(&e, 503, "shutting-down", "",
			    "the server is shutting down");
		e.retry_after_sec = 1;
		http_finish(j, &e);
		return;
	}
	/* HEAD gets the headers of an empty answer, not a stream. */
	if (rc == 0 && (j->r.route->flags & HTTP_F_STREAM) &&
	    s->stream_fn != NULL && !j->is_head && j->r.status == 0) {
		/* A stream: the handler answers, for as long as it lasts;
		 * the request is no longer in flight (draining ends
		 * streams rather than waiting for them). */
		evhttp_add_header(evhttp_request_get_output_headers(j->ev),
				  "X-Request-Id", j->r.req_id);
		s->stream_fn(s->stream_arg, j->ev, &j->r);
		metrics_request(s->metrics, j->r.route->name, 200,
				clock_mono_ms() - j->r.start_mono_ms);
		s->inflight--;
		http_job_free(j);
		return;
	}
	http_finish(j, rc == 0 ? NULL : err);
}

void
http_server_set_stream_handler(struct http_server *s, http_stream_fn fn,
			       void *arg)
{
	s->stream_fn = fn;
	s->stream_arg = arg;
}

int
http_watch_close(struct http_server *s, struct evhttp_request *ev,
		 void (*fn)(void *arg), void *arg)
{
	return listener_watch_close(s->listener, ev, fn, arg);
}

void
http_unwatch_close(struct http_server *s, struct evhttp_request *ev)
{
	(void)listener_watch_close(s->listener, ev, NULL, NULL);
}

/* The console session cookie (cbd_session=cbs_...) of the request, if any. */
static void
http_extract_session(struct http_job *j, struct evkeyvalq *in)
{
	struct evkeyval *h;

	TAILQ_FOREACH(h, in, next)
	{
		const char *p = h->value;

		if (strcasecmp(h->key, "Cookie") != 0)
			continue;
		while (*p != '\0') {
			size_t n;
			p += strspn(p, " \t;");
			n = strcspn(p, ";");
			if (n > 12 && strncmp(p, "cbd_session=", 12) == 0 &&
			    n - 12 < 200 && j->r.session_token == NULL) {
				char *v = xstrndup(p + 12, n - 12);
				if (strncmp(v, KEYS_SESSION_PREFIX,
					    strlen(KEYS_SESSION_PREFIX)) == 0)
					j->r.session_token = v;
				else
					free(v);
			}
			p += n;
		}
	}
}

/*
 * A browser sends the cookie with any request to this host, whoever made
 * the page: so a request that changes something must prove it comes from
 * the console (the session's CSRF token, which only a page of the console
 * can read from GET /v1/sessions/current), and an Origin, when the browser
 * sends one, must be ours or a configured one. 0, or -1 answered 403.
 */
static int
http_check_csrf(struct http_job *j, struct evkeyvalq *in)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(j->ev);
	const char *given = evhttp_find_header(in, "X-CSRF-Token");
	char want[64];

	if (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_PUT &&
	    m != EVHTTP_REQ_PATCH && m != EVHTTP_REQ_DELETE)
		return 0;
	if (j->r.origin != NULL &&
	    !http_origin_allowed(j->r.cfg, j->r.origin)) {
		http_fail(j, 403, "origin-refused", "Origin",
			  "requests signed in with a session cookie must come "
			  "from the console's own origin");
		return -1;
	}
	keys_csrf_token(j->r.session_token, want, sizeof(want));
	if (!keys_equal(given, want)) {
		http_fail(j, 403, "csrf-failed", "X-CSRF-Token",
			  "a request signed in with a session cookie needs the "
			  "session's X-CSRF-Token header");
		return -1;
	}
	return 0;
}

static void
http_extract_bearer(struct http_job *j, struct evkeyvalq *in)
{
	const char *auth = evhttp_find_header(in, "Authorization");
	const char *tok = http_query(&j->r, "token");

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *v = auth + 7;
		v += strspn(v, " ");
		if (*v != '\0' && strlen(v) < 200)
			j->r.bearer = xstrdup(v);
	} else if (tok != NULL && strlen(tok) < 200 &&
		   strncmp(tok, KEYS_STAFF_PREFIX, strlen(KEYS_STAFF_PREFIX)) !=
			   0) {
		/* Only links' tokens travel in URLs: API keys would end up
		 * in proxy and browser logs, so they are not looked for. */
		j->r.bearer = xstrdup(tok);
	}
}

/* A new job for ev; counts as in flight until http_finish. */
static struct http_job *
http_job_new(struct http_server *s, struct evhttp_request *ev)
{
	struct http_job *j = xcalloc(1, sizeof(*j));

	j->ev = ev;
	j->r.srv = s;
	j->r.cfg = s->cfg;
	j->r.start_mono_ms = clock_mono_ms();
	j->is_head = evhttp_request_get_command(ev) == EVHTTP_REQ_HEAD;
	TAILQ_INIT(&j->r.query);
	http_new_req_id(j->r.req_id, sizeof(j->r.req_id));
	s->inflight++;
	return j;
}

/* Find the route for the request's path and method; 0, or -1 answered. */
static int
http_route_find(struct http_server *s, struct http_job *j)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(j->ev);
	enum evhttp_cmd_type method = evhttp_request_get_command(j->ev);
	const char *path = evhttp_uri_get_path(uri);
	const char *qs = evhttp_uri_get_query(uri);
	const struct http_route *found = NULL;
	int path_matched = 0;
	char allow[64] = "";
	char *decoded;
	size_t dlen = 0;
	const char *accept = evhttp_find_header(
		evhttp_request_get_input_headers(j->ev), "Accept");
	int wants_html = accept != NULL && strstr(accept, "text/html") != NULL;

	if (path == NULL || *path == '\0')
		path = "/";
	decoded = evhttp_uridecode(path, 0, &dlen);
	/* "%00" would cut the path short: refuse rather than guess. */
	if (decoded == NULL || strlen(decoded) != dlen) {
		free(decoded);
		http_fail(j, 400, "invalid-path", "", "malformed request path");
		return -1;
	}
	if (qs != NULL && evhttp_parse_query_str(qs, &j->r.query) != 0) {
		free(decoded);
		http_fail(j, 400, "invalid-query", "",
			  "malformed query string");
		return -1;
	}
	for (const struct http_route *const *t = s->tables; *t && !found; t++) {
		for (const struct http_route *rt = *t; rt->path; rt++) {
			char *params[HTTP_MAX_PARAMS] = { 0 };
			if ((rt->flags & HTTP_F_BROWSER) && !wants_html)
				continue;
			if (!http_match(rt->path, decoded, params))
				continue;
			path_matched = 1;
			snprintf(allow + strlen(allow),
				 sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "",
				 http_method_name(rt->method));
			if (rt->method == method ||
			    (method == EVHTTP_REQ_HEAD &&
			     rt->method == EVHTTP_REQ_GET)) {
				found = rt;
				memcpy(j->r.params, params, sizeof(params));
				break;
			}
			for (int i = 0; i < HTTP_MAX_PARAMS; i++)
				free(params[i]);
		}
	}
	free(decoded);
	if (found == NULL) {
		if (path_matched) {
			evhttp_add_header(
				evhttp_request_get_output_headers(j->ev),
				"Allow", allow);
			http_fail(j, 405, "method-not-allowed", "",
				  "method not allowed on this path");
		} else
			http_fail(j, 404, "not-found", "", "no such endpoint");
		return -1;
	}
	j->r.route = found;
	log_debug("request start", "req=%s method=%s route=%s", j->r.req_id,
		  http_method_name(method), found->name);
	return 0;
}

/*
 * Body: size (413), media type (415: a form or text/plain post is what a
 * web page of another site can send without asking, so JSON must say it
 * is JSON), then JSON unless the route takes raw text. 0, or -1 answered.
 */
static int
http_read_body(struct http_server *s, struct http_job *j)
{
	const struct http_route *found = j->r.route;
	enum evhttp_cmd_type method = evhttp_request_get_command(j->ev);
	struct evbuffer *body = evhttp_request_get_input_buffer(j->ev);
	const char *ctype = evhttp_find_header(
		evhttp_request_get_input_headers(j->ev), "Content-Type");
	const char *wanted = (found->flags & HTTP_F_RAW_BODY) ? "text/calendar"
			     : (found->flags & HTTP_F_FORM_BODY)
				     ? "application/x-www-form-urlencoded"
				     : "application/json";
	size_t limit, blen;
	int takes_body =
		method == EVHTTP_REQ_POST || method == EVHTTP_REQ_PUT ||
		method == EVHTTP_REQ_PATCH || method == EVHTTP_REQ_DELETE;

	limit = (found->flags & HTTP_F_BIG_BODY)
			? HTTP_BIG_BODY_BYTES
			: (size_t)s->cfg->max_body_bytes;
	blen = evbuffer_get_length(body);
	if (blen > limit) {
		char d[96];
		snprintf(d, sizeof(d), "request body over %zu bytes", limit);
		http_fail(j, 413, "body-too-large", "body", d);
		return -1;
	}
	j->r.raw_body = xmalloc(blen + 1);
	evbuffer_copyout(body, j->r.raw_body, blen);
	j->r.raw_body[blen] = '\0';
	j->r.raw_len = blen;
	/* A body-less POST or DELETE has nothing to mistype. */
	if (takes_body && blen > 0 && !http_media_type_is(ctype, wanted)) {
		j->wrong_type_wanted = wanted;
		return 0; /* told now or after the key's role: see caller */
	}
	if (!(found->flags & (HTTP_F_RAW_BODY | HTTP_F_FORM_BODY)) &&
	    (method == EVHTTP_REQ_POST || method == EVHTTP_REQ_PUT ||
	     method == EVHTTP_REQ_PATCH)) {
		json_error_t jerr;
		if (blen == 0)
			j->r.body = json_object();
		else
			j->r.body = json_loadb(j->r.raw_body, blen,
					       JSON_REJECT_DUPLICATES, &jerr);
		if (j->r.body == NULL) {
			char d[200];
			snprintf(d, sizeof(d), "malformed JSON: %s", jerr.text);
			http_fail(j, 400, "invalid-json", "body", d);
			return -1;
		}
		if (!json_is_object(j->r.body) &&
		    !((found->flags & HTTP_F_ARRAY_BODY) &&
		      json_is_array(j->r.body))) {
			http_fail(j, 400, "invalid-json", "body",
				  "the body must be a JSON object");
			return -1;
		}
	}
	return 0;
}

/* Credentials: staff keys are resolved in the store job; manage tokens
 * are checked by the route against the callback. 0, or -1 answered. */
static int
http_check_credentials(struct http_job *j, struct evkeyvalq *in)
{
	const struct http_route *found = j->r.route;
	unsigned role;

	http_extract_bearer(j, in);
	http_extract_session(j, in);
	if (j->r.session_token != NULL && j->r.bearer == NULL &&
	    (found->roles & HTTP_ROLES_STAFF)) {
		/* The console's cookie stands for its person's key. */
		if (http_check_csrf(j, in) != 0)
			return -1;
		j->need_key_lookup = 1;
		j->is_session = 1;
		keys_hash_hex(j->r.session_token, j->key_hash);
		return 0;
	}
	if (found->roles & HTTP_ROLE_PUBLIC) {
		if (j->r.bearer != NULL && (found->roles & HTTP_ROLES_STAFF) &&
		    strncmp(j->r.bearer, KEYS_STAFF_PREFIX,
			    strlen(KEYS_STAFF_PREFIX)) == 0) {
			/* A public route that also lists staff (GET
			 * /v1/slots, whose case= needs credentials): a key
			 * given is checked, so the route can tell who asks. */
			j->need_key_lookup = 1;
			keys_hash_hex(j->r.bearer, j->key_hash);
		} else if (j->r.bearer != NULL &&
			   (found->roles & HTTP_ROLE_CUSTOMER) &&
			   strncmp(j->r.bearer, KEYS_MANAGE_PREFIX,
				   strlen(KEYS_MANAGE_PREFIX)) == 0)
			j->r.role =
				HTTP_ROLE_CUSTOMER; /* checked by the route */
		else
			j->r.role = HTTP_ROLE_PUBLIC;
		return 0;
	}
	if (j->r.bearer == NULL) {
		http_fail(j, 401, "unauthorized", "",
			  "credentials required: Authorization: "
			  "Bearer <key>");
		return -1;
	}
	if (strncmp(j->r.bearer, KEYS_STAFF_PREFIX,
		    strlen(KEYS_STAFF_PREFIX)) == 0) {
		j->need_key_lookup = 1;
		keys_hash_hex(j->r.bearer, j->key_hash);
		return 0;
	}
	if (strncmp(j->r.bearer, KEYS_MANAGE_PREFIX,
		    strlen(KEYS_MANAGE_PREFIX)) != 0 &&
	    strncmp(j->r.bearer, KEYS_FEED_PREFIX, strlen(KEYS_FEED_PREFIX)) !=
		    0) {
		http_fail(j, 401, "unauthorized", "",
			  "unrecognised credentials");
		return -1;
	}
	/* Tokens are checked against their object by the route; here only
	 * whether this kind may call it. */
	role = j->r.bearer[2] == 't' ? HTTP_ROLE_CUSTOMER : HTTP_ROLE_FEED;
	if (!(found->roles & role)) {
		http_fail(j, 403, "forbidden", "",
			  "this token does not grant access to this endpoint");
		return -1;
	}
	j->r.role = role;
	return 0;
}

/* The Idempotency-Key and the fingerprint of what the request asks. */
static int
http_read_idem_key(struct http_job *j, struct evkeyvalq *in)
{
	const char *ik = evhttp_find_header(in, "Idempotency-Key");
	char *fp;

	if (ik == NULL)
		return 0;
	if (*ik == '\0' || strlen(ik) > 255 || !valid_text(ik, strlen(ik))) {
		http_fail(j, 400, "invalid-header", "Idempotency-Key",
			  "Idempotency-Key must be 1 to 255 printable "
			  "characters");
		return -1;
	}
	j->r.idem_key = xstrdup(ik);
	fp = xasprintf("%s %s\n%s",
		       http_method_name(evhttp_request_get_command(j->ev)),
		       evhttp_request_get_uri(j->ev), j->r.raw_body);
	keys_digest_hex(fp, strlen(fp), j->body_hash);
	free(fp);
	return 0;
}

/* The console's pages and files (web.c) answer for themselves; the
 * request is counted and freed here. 1 when answered. */
static int
http_web_answered(struct http_server *s, struct http_job *j)
{
	int status = web_handle(s->web, j->ev, j->r.req_id);

	if (status == 0)
		return 0;
	metrics_request(s->metrics, "web", status,
			clock_mono_ms() - j->r.start_mono_ms);
	s->inflight--;
	http_job_free(j);
	return 1;
}

/* What a stream route needs from the headers (see struct http_req). */
static void
http_read_stream_headers(struct http_job *j, struct evkeyvalq *in)
{
	const char *accept = evhttp_find_header(in, "Accept");
	const char *last = evhttp_find_header(in, "Last-Event-ID");

	j->r.accepts_event_stream =
		accept != NULL && strstr(accept, "text/event-stream") != NULL;
	if (last != NULL && strlen(last) < 32)
		j->r.last_event_id = xstrdup(last);
}

/*
 * A CORS preflight (OPTIONS with an Origin of cors_origins) for a path of
 * a public customer route: 204 with what such a request may send. Returns
 * 1 when answered; 0 to go on (then OPTIONS gets its usual 405).
 */
static int
http_preflight(struct http_server *s, struct http_job *j)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(j->ev);
	const char *path = evhttp_uri_get_path(uri);
	struct evkeyvalq *h = evhttp_request_get_output_headers(j->ev);
	char methods[64] = "";
	char *decoded;

	if (!http_cors_origin_listed(s->cfg, j->r.origin) || path == NULL)
		return 0;
	decoded = evhttp_uridecode(path, 0, NULL);
	for (const struct http_route *const *t = s->tables; *t; t++)
		for (const struct http_route *rt = *t; rt->path; rt++) {
			char *params[HTTP_MAX_PARAMS] = { 0 };
			if (!http_route_is_cors(rt) ||
			    !http_match(rt->path, decoded, params))
				continue;
			for (int i = 0; i < HTTP_MAX_PARAMS; i++)
				free(params[i]);
			snprintf(methods + strlen(methods),
				 sizeof(methods) - strlen(methods), "%s%s",
				 methods[0] ? ", " : "",
				 http_method_name(rt->method));
		}
	free(decoded);
	if (methods[0] == '\0')
		return 0;
	evhttp_add_header(h, "Access-Control-Allow-Origin", j->r.origin);
	evhttp_add_header(h, "Access-Control-Allow-Methods", methods);
	evhttp_add_header(h, "Access-Control-Allow-Headers",
			  "Content-Type, Authorization, Idempotency-Key");
	evhttp_add_header(h, "Access-Control-Max-Age", "600");
	evhttp_add_header(h, "Vary", "Origin");
	j->r.status = 204;
	http_finish(j, NULL);
	return 1;
}

/* Loop thread: everything up to the store job, one step after another;
 * a step that fails has answered. */
static void
http_dispatch(struct evhttp_request *ev, void *arg)
{
	struct http_server *s = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(ev);
	struct http_job *j;
	struct cbd_err err;

	/* The whole request is in: no read deadline until the next one. */
	listener_request_read(s->listener, ev);
	j = http_job_new(s, ev);
	memset(&err, 0, sizeof(err));
	http_resolve_client(s, j, in);
	if (http_check_framing(in, &err) != 0) {
		j->must_close = 1;
		http_finish(j, &err);
		return;
	}
	if (s->is_draining) {
		cbd_err_set(&err, 503, "shutting-down", "",
			    "the server is shutting down");
		err.retry_after_sec = 1;
		http_finish(j, &err);
		return;
	}
	{
		const char *origin = evhttp_find_header(in, "Origin");
		if (origin != NULL && strlen(origin) < 256)
			j->r.origin = xstrdup(origin);
	}
	if (evhttp_request_get_command(ev) == EVHTTP_REQ_OPTIONS &&
	    http_preflight(s, j))
		return;
	if (http_web_answered(s, j))
		return;
	if (http_route_find(s, j) != 0 || http_read_body(s, j) != 0 ||
	    http_check_credentials(j, in) != 0)
		return;
	if (j->r.route->flags & HTTP_F_STREAM)
		http_read_stream_headers(j, in);
	{
		const char *accept = evhttp_find_header(in, "Accept");
		j->r.accepts_csv =
			accept != NULL && strstr(accept, "text/csv") != NULL;
	}
	if (j->wrong_type_wanted != NULL && !j->need_key_lookup) {
		http_err_media_type(&err, j->wrong_type_wanted);
		http_finish(j, &err);
		return;
	}
	if (http_read_idem_key(j, in) != 0)
		return;
	{
		/* For a work function that answers 304 (store threads do not
		 * see the headers). A longer one is no tag of ours. */
		const char *inm = evhttp_find_header(in, "If-None-Match");
		if (inm != NULL && strlen(inm) <= 1024)
			j->r.if_none_match = xstrdup(inm);
	}
	if (j->r.route->flags & (HTTP_F_SIGNED | HTTP_F_PAGE)) {
		j->r.headers = in;
		j->r.target = evhttp_request_get_uri(ev);
	}
	if (j->r.route->parse != NULL && !j->need_key_lookup &&
	    j->r.route->parse(&j->r, &err) != 0) {
		http_finish(j, &err);
		cbd_err_clear(&err);
		return;
	}
	j->r.headers = NULL; /* the loop's own: not for store threads */
	j->r.target = NULL;
	if (j->r.route->work == NULL) {
		http_finish(j, NULL);
		return;
	}
	if (store_submit(s->pool, http_job_work, http_job_done, j) != 0) {
		cbd_err_set(&err, 503, "overloaded", "",
			    "too many requests in progress; try again");
		err.retry_after_sec = 1;
		http_finish(j, &err);
	}
}

struct http_server *
http_server_new(struct event_base *base, const struct config *cfg,
		struct store_pool *pool, struct metrics *metrics,
		const struct http_route *const *tables)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	struct cbd_err err;

	memset(&err, 0, sizeof(err));
	s->base = base;
	s->cfg = cfg;
	s->pool = pool;
	s->metrics = metrics;
	s->tables = tables;
	/* config_load_all checked it already; defaults parse by construction */
	s->trusted = netaddr_list_parse(cfg->trusted_proxies, "trusted_proxies",
					&err);
	if (s->trusted == NULL)
		log_fatal("bad trusted_proxies", "error=\"%s\"", err.detail);
	s->web = web_new(cfg);
	s->evh = evhttp_new(base);
	evhttp_set_allowed_methods(
		s->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
				EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_body_size(s->evh, HTTP_HARD_BODY_CAP);
	evhttp_set_max_headers_size(s->evh, 16384);
	/* An idle timer only; the listener adds the read deadlines. */
	evhttp_set_timeout(s->evh, cfg->request_timeout_sec);
	evhttp_set_gencb(s->evh, http_dispatch, s);
	return s;
}

int
http_server_listen(struct http_server *s)
{
	s->listener =
		listener_new(s->base, s->evh, s->cfg, s->metrics, s->trusted);
	return s->listener != NULL ? 0 : -1;
}

void
http_server_stop_accepting(struct http_server *s)
{
	listener_stop(s->listener, s->evh);
	s->is_draining = 1;
}

int
http_server_inflight(const struct http_server *s)
{
	return s->inflight;
}

struct store_pool *
http_server_pool(const struct http_server *s)
{
	return s->pool;
}

struct metrics *
http_server_metrics(const struct http_server *s)
{
	return s->metrics;
}

void
http_server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	/* evhttp closes its connections first: the listener counts them
	 * out as they go. */
	evhttp_free(s->evh);
	listener_free(s->listener);
	netaddr_list_free(s->trusted);
	web_free(s->web);
	free(s);
}
