/*
 * api_queue.c: an agent's working day: their queue in due order with the
 * case context, claiming calls, and recording outcomes.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "callback.h"
#include "cases.h"
#include "clock.h"
#include "config.h"
#include "queue.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

static int
api_queue_need_agent(const struct http_req *r, struct cbd_err *err)
{
	if (r->agent_id <= 0) {
		cbd_err_set(err, 403, "forbidden", "",
			    "this key belongs to no agent");
		return -1;
	}
	return 0;
}

/* A queue page is short: what an agent works through next. */
#define API_QUEUE_PAGE_DEFAULT 25

/*
 * Does an If-None-Match header name etag? A list of entity tags, each
 * maybe weak (W/), or "*". Weak comparison, as RFC 9110 asks for
 * If-None-Match.
 */
static int
api_queue_etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	if (inm == NULL)
		return 0;
	while (*inm) {
		inm += strspn(inm, " \t,");
		if (*inm == '*')
			return 1;
		if (strncmp(inm, "W/", 2) == 0)
			inm += 2;
		if (strncmp(inm, etag, n) == 0 &&
		    (inm[n] == '\0' || inm[n] == ',' || inm[n] == ' ' ||
		     inm[n] == '\t'))
			return 1;
		inm += strcspn(inm, ",");
	}
	return 0;
}

/*
 * The page's entity tag: the agent, their queue version, and what the
 * request asked for (page size, cursor, zone). The version is read before
 * the page, in its own statement: a change committed in between shows in
 * the page under the older version, so the tag can only be older than the
 * page, never newer (the next request then gets a 200, not a stale 304).
 * Nothing on the page is computed from the clock, so time passing alone
 * changes nothing.
 */
static char *
api_queue_etag(int64_t agent_id, uint64_t version, int64_t limit, int64_t after,
	       const char *tz)
{
	uint32_t h = 2166136261u; /* FNV-1a of the zone */

	for (const unsigned char *p = (const unsigned char *)(tz ? tz : ""); *p;
	     p++)
		h = (h ^ *p) * 16777619u;
	return xasprintf("\"q1-%lld-%llu-%lld-%lld-%08x\"", (long long)agent_id,
			 (unsigned long long)version, (long long)limit,
			 (long long)after, (unsigned)h);
}

static int
api_queue_get_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	int64_t limit, after;
	json_t *items, *page;
	const char *tz;
	uint64_t version;
	size_t n;

	if (api_queue_need_agent(r, err) != 0 ||
	    api_tz_parse(r, &tz, err) != 0 ||
	    api_page_parse(r, &limit, &after, err) != 0 ||
	    queue_version(tx, r->agent_id, &version, err) != 0)
		return -1;
	if (http_query(r, "limit") == NULL)
		limit = API_QUEUE_PAGE_DEFAULT;
	free(r->etag);
	r->etag = api_queue_etag(r->agent_id, version, limit, after, tz);
	if (api_queue_etag_matches(r->if_none_match, r->etag)) {
		r->status = 304;
		return 0;
	}
	if (callback_queue(tx, r->agent_id, limit, after, &items, err) != 0)
		return -1;
	if (cases_annotate(tx, items, err) != 0) {
		json_decref(items);
		return -1;
	}
	n = json_array_size(items);
	api_localize(items, tz);
	page = api_page_wrap(items, limit,
			     n ? json_integer_value(json_object_get(
					 json_array_get(items, n - 1), "id"))
			       : 0);
	json_object_set_new(page, "agent_id", json_integer(r->agent_id));
	http_reply_json(r, 200, page);
	return 0;
}

static int
api_queue_next_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	json_t *out = NULL;

	if (api_queue_need_agent(r, err) != 0 ||
	    queue_claim_next(tx, r->cfg, r->agent_id, &out, err) != 0)
		return -1;
	if (out == NULL) {
		/* Nothing due: a plain "no content", not an error. */
		r->status = 204;
		return 0;
	}
	{
		json_t *one = json_pack("[O]", out);
		if (cases_annotate(tx, one, err) != 0) {
			json_decref(one);
			json_decref(out);
			return -1;
		}
		json_decref(out);
		out = json_incref(json_array_get(one, 0));
		json_decref(one);
	}
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_queue_id_parse(struct http_req *r, struct cbd_err *err)
{
	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such callback");
		return -1;
	}
	return 0;
}

static int
api_queue_claim_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];
	json_t *out;

	api_caller(r, &who, actor, sizeof(actor));
	if (queue_claim(tx, r->cfg, http_param_id(r, 0), &who, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

/* Checked on the loop and again in the job (pure, cheap). */
static int
api_queue_outcome_read(struct http_req *r, const char **result,
		       const char **note, int64_t *when, struct cbd_err *err)
{
	static const char *const fields[] = { "result", "note", "when", NULL };
	static const char *const results[] = { "reached",    "no_answer",
					       "busy",       "wrong_number",
					       "reschedule", NULL };
	const char *w = NULL;
	int known = 0;

	*when = 0;
	if (api_queue_id_parse(r, err) != 0 ||
	    http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "result", "result", 20, 1, result, err) ||
	    http_get_str(r->body, "note", "note", 2000, 0, note, err) ||
	    http_get_str(r->body, "when", "when", 40, 0, &w, err))
		return -1;
	for (const char *const *k = results; *k; k++)
		if (!strcmp(*k, *result))
			known = 1;
	if (!known) {
		cbd_err_set(err, 400, "invalid-field", "result",
			    "result must be reached, no_answer, busy, "
			    "wrong_number or reschedule");
		return -1;
	}
	if (!strcmp(*result, "reschedule")) {
		if (w == NULL) {
			cbd_err_set(err, 400, "missing-field", "when",
				    "reschedule needs when");
			return -1;
		}
		if (timefmt_parse_rfc3339(w, when) != 0) {
			cbd_err_set(err, 400, "invalid-time", "when",
				    "when must be an RFC 3339 time");
			return -1;
		}
	} else if (w != NULL) {
		cbd_err_set(err, 400, "invalid-field", "when",
			    "when goes only with result reschedule");
		return -1;
	}
	return 0;
}

static int
api_queue_outcome_parse(struct http_req *r, struct cbd_err *err)
{
	const char *result, *note;
	int64_t when;

	return api_queue_outcome_read(r, &result, &note, &when, err);
}

static int
api_queue_outcome_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	struct callback_caller who;
	const char *result, *note;
	char actor[48];
	int64_t when;
	json_t *out;

	api_caller(r, &who, actor, sizeof(actor));
	if (api_queue_outcome_read(r, &result, &note, &when, err) != 0)
		return -1;
	if (when != 0 &&
	    (when <= clock_now() ||
	     when > clock_now() +
			     (int64_t)r->cfg->booking_horizon_days * 86400)) {
		cbd_err_set(err, 422, "invalid-time", "when",
			    "when must be in the future, within %d days",
			    r->cfg->booking_horizon_days);
		return -1;
	}
	if (queue_outcome(tx, r->cfg, http_param_id(r, 0), &who, result, note,
			  when, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_queue_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/me/queue", HTTP_ROLE_AGENT, 0, "queue_get", NULL,
	  api_queue_get_work },
	{ EVHTTP_REQ_POST, "/v1/me/queue/next", HTTP_ROLE_AGENT, 0,
	  "queue_next", NULL, api_queue_next_work },
	{ EVHTTP_REQ_POST, "/v1/callbacks/:id/claim",
	  HTTP_ROLE_AGENT | HTTP_ROLES_LEADS, 0, "callbacks_claim",
	  api_queue_id_parse, api_queue_claim_work },
	{ EVHTTP_REQ_POST, "/v1/callbacks/:id/outcome",
	  HTTP_ROLE_AGENT | HTTP_ROLES_LEADS, 0, "callbacks_outcome",
	  api_queue_outcome_parse, api_queue_outcome_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
