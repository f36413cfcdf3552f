/*
 * fuzz_request.c: request validation, the parse step of every route in the
 * route tables (api_*.c), on the loop thread, before any SQL: JSON bodies,
 * path parameters, query strings and calendar uploads.
 *
 * Input: a first line "route[ role]", the route's metrics name as in the
 * tables ("callbacks_create") and a role it allows ("agent"; default: the
 * first allowed); a line that names no route still picks one, by hash, so
 * mutated names keep exercising code. Then optionally a line "/p1/p2" of
 * path parameters and a line "?a=b&c=d" of query string; the rest is the
 * body: JSON (refused here as http.c refuses it) or raw text for
 * text/calendar routes. Seeds name their route, so they keep hitting it
 * when routes are added.
 *
 * Properties: a refusal is a 4xx problem with a type (never a 500, never a
 * crash), and its problem+json text is JSON.
 */
#include <sys/queue.h>

#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "fuzz.h"
#include "http.h"
#include "xalloc.h"

/* Fixed "now" (2026-11-20T08:00:00Z) so findings replay the same way. */
#define FUZZ_NOW_MS 1795161600000LL

static struct config fuzz_cfg;
static const struct http_route *fuzz_routes[128];
static size_t fuzz_nroutes;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	config_init(&fuzz_cfg);
	fuzz_cfg.test_clock = 1; /* so the clock route parses too */
	/* Routes answered in parse alone (healthz, metrics) need a server. */
	for (const struct http_route *const *t = api_tables; *t; t++)
		for (const struct http_route *rt = *t; rt->path; rt++)
			if (rt->parse != NULL && rt->work != NULL &&
			    fuzz_nroutes < CBD_ARRAY_LEN(fuzz_routes))
				fuzz_routes[fuzz_nroutes++] = rt;
	return 0;
}

static const char *const fuzz_role_names[] = {
	"public", "customer", "agent", "lead", "admin", "feed",
};

/* The route named by line (else one by hash) and the role asked for. */
static void
fuzz_pick_route(struct http_req *r, const char *line)
{
	const char *sp = strchr(line, ' ');
	size_t len = sp != NULL ? (size_t)(sp - line) : strlen(line);
	unsigned h = 2166136261u;
	size_t i;

	r->route = NULL;
	for (i = 0; i < fuzz_nroutes && r->route == NULL; i++)
		if (strlen(fuzz_routes[i]->name) == len &&
		    strncmp(fuzz_routes[i]->name, line, len) == 0)
			r->route = fuzz_routes[i];
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)line[i]) * 16777619u;
	if (r->route == NULL)
		r->route = fuzz_routes[h % fuzz_nroutes];
	r->role = 0;
	for (i = 0; i < CBD_ARRAY_LEN(fuzz_role_names); i++)
		if (sp != NULL && strcmp(sp + 1, fuzz_role_names[i]) == 0)
			r->role = 1u << i;
	if (!(r->role & r->route->roles)) /* the first role allowed */
		r->role = r->route->roles & -r->route->roles;
}

/*
 * Take the line at *p, NUL-terminated in place, without its first byte
 * when lead is set and that byte is lead; NULL when it does not start with
 * lead. Moves *p past the line.
 */
static char *
fuzz_take_line(char **p, char lead)
{
	char *line = *p, *nl;

	if (lead != 0 && *line != lead)
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else
		*p = line + strlen(line);
	return lead != 0 ? line + 1 : line;
}

static void
fuzz_fill_params(struct http_req *r, char *line)
{
	int i = 0, want = 0;
	char *save = NULL, *seg;

	for (const char *c = r->route->path; *c; c++)
		want += *c == ':';
	seg = line != NULL ? strtok_r(line, "/", &save) : NULL;
	for (i = 0; i < want && i < HTTP_MAX_PARAMS; i++) {
		r->params[i] = xstrdup(seg != NULL ? seg : "1");
		seg = seg != NULL ? strtok_r(NULL, "/", &save) : NULL;
	}
}

/* Parse the body as http_dispatch does; 0 when it would get that far. */
static int
fuzz_body(struct http_req *r, const char *body)
{
	enum evhttp_cmd_type m = r->route->method;
	size_t len = strlen(body);

	r->raw_body = xstrdup(body);
	r->raw_len = len;
	if ((r->route->flags & HTTP_F_RAW_BODY) ||
	    (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_PUT &&
	     m != EVHTTP_REQ_PATCH))
		return 0;
	r->body = len == 0
			  ? json_object()
			  : json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (r->body == NULL)
		return -1;
	if (!json_is_object(r->body) &&
	    !((r->route->flags & HTTP_F_ARRAY_BODY) && json_is_array(r->body)))
		return -1;
	return 0;
}

static void
fuzz_check_refusal(const struct http_req *r, struct cbd_err *err)
{
	char *problem;
	json_t *parsed;

	FUZZ_ASSERT(
		err->status >= 400 && err->status < 500 && err->type[0] != '\0',
		"%s refused with %d \"%s\" field \"%s\": %s", r->route->name,
		err->status, err->type, err->field, err->detail);
	problem = http_problem_json(err, "/fuzz");
	parsed = json_loads(problem, 0, NULL);
	FUZZ_ASSERT(parsed != NULL, "problem+json is not JSON: %s", problem);
	json_decref(parsed);
	free(problem);
}

static void
fuzz_req_clear(struct http_req *r)
{
	for (int i = 0; i < HTTP_MAX_PARAMS; i++)
		free(r->params[i]);
	evhttp_clear_headers(&r->query);
	json_decref(r->body);
	free(r->raw_body);
	json_decref(r->resp);
	free(r->resp_raw);
	free(r->location);
	if (r->ctx != NULL && r->ctx_free != NULL)
		r->ctx_free(r->ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	struct cbd_err err;
	/* http.c hands signed routes the request's headers: none here, so
	 * their parse meets a request that carries no signature. */
	struct evkeyvalq headers;
	char *text, *p, *params, *query;

	if (fuzz_nroutes == 0)
		return 0;
	clock_set_ms(FUZZ_NOW_MS);
	memset(&r, 0, sizeof(r));
	memset(&err, 0, sizeof(err));
	TAILQ_INIT(&r.query);
	TAILQ_INIT(&headers);
	r.headers = &headers;
	p = text = fuzz_text(data, size);
	fuzz_pick_route(&r, fuzz_take_line(&p, 0));
	r.cfg = &fuzz_cfg;
	r.agent_id = r.role == HTTP_ROLE_AGENT ? 1 : 0;
	r.key_id = r.role & HTTP_ROLES_STAFF ? 1 : 0;
	snprintf(r.client_ip, sizeof(r.client_ip), "127.0.0.1");
	snprintf(r.req_id, sizeof(r.req_id), "fuzz");
	params = fuzz_take_line(&p, '/');
	query = fuzz_take_line(&p, '?');
	fuzz_fill_params(&r, params);
	if (query != NULL && evhttp_parse_query_str(query, &r.query) != 0)
		goto out; /* http.c answers 400 invalid-query */
	if (fuzz_body(&r, p) != 0)
		goto out; /* http.c answers 400 invalid-json */
	if (r.route->parse(&r, &err) != 0)
		fuzz_check_refusal(&r, &err);
out:
	cbd_err_clear(&err);
	fuzz_req_clear(&r);
	free(text);
	return 0;
}
