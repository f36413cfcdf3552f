/*
 * api_cases.c: case timelines, notes and customer lookup, for staff, plus an
 * agent's calendar feed (subscribed to with a per-agent feed token).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cases.h"
#include "clock.h"
#include "config.h"
#include "event_hooks.h"
#include "ics.h"
#include "keys.h"
#include "phone.h"
#include "store.h"
#include "valid.h"
#include "xalloc.h"

static int
api_cases_id_parse(struct http_req *r, struct cbd_err *err)
{
	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such case");
		return -1;
	}
	return 0;
}

static int
api_cases_get_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	json_t *out;

	if (cases_get(tx, http_param_id(r, 0), &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_cases_note_read(struct http_req *r, const char **text, int64_t *corrects,
		    struct cbd_err *err)
{
	static const char *const fields[] = { "text", "corrects", NULL };

	*corrects = 0;
	return api_cases_id_parse(r, err) ||
			       http_check_fields(r->body, fields, "", err) ||
			       http_get_str(r->body, "text", "text", 4000, 1,
					    text, err) ||
			       http_get_int(r->body, "corrects", "corrects", 1,
					    INT64_MAX, 0, corrects, err)
		       ? -1
		       : 0;
}

static int
api_cases_note_parse(struct http_req *r, struct cbd_err *err)
{
	const char *text;
	int64_t corrects;

	return api_cases_note_read(r, &text, &corrects, err);
}

static int
api_cases_note_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	const char *text;
	int64_t corrects;
	char actor[48];
	json_t *out = NULL;

	if (api_cases_note_read(r, &text, &corrects, err) != 0)
		return -1;
	http_actor(r, actor, sizeof(actor));
	if (cases_add_note(tx, http_param_id(r, 0), actor, text, corrects, &out,
			   err) != 0 ||
	    event_hooks_emit(tx, r->cfg, "callback.note_added", 0,
			     json_pack("{s:I, s:O, s:s, s:s, s:o, s:O}",
				       "case_id",
				       (json_int_t)http_param_id(r, 0),
				       "note_id", json_object_get(out, "id"),
				       "actor", actor, "text", text, "corrects",
				       corrects > 0 ? json_integer(corrects)
						    : json_null(),
				       "at", json_object_get(out, "at")),
			     err) != 0) {
		json_decref(out);
		return -1;
	}
	http_reply_json(r, 201, out);
	return 0;
}

/* ?phone= as an agent types it: E.164, or a national form read in
 * ?region=, else in the country of ?tz= (the console's zone), else in
 * default_region. */
static int
api_cases_customers_phone(const struct http_req *r, struct phone_number *pn,
			  struct cbd_err *err)
{
	const char *phone = http_query(r, "phone");
	char read_in[8];

	if (phone == NULL) {
		cbd_err_set(err, 400, "invalid-phone", "phone",
			    "phone is required, e.g. ?phone=%%2B15551234567");
		return -1;
	}
	return valid_phone_region(http_query(r, "region"), http_query(r, "tz"),
				  r->cfg->default_region, "region", read_in,
				  sizeof(read_in), err) ||
			       valid_phone(phone, read_in, "phone", pn, err)
		       ? -1
		       : 0;
}

static int
api_cases_customers_parse(struct http_req *r, struct cbd_err *err)
{
	struct phone_number pn;
	const char *tz;
	int64_t limit, before;

	return api_tz_parse(r, &tz, err) ||
			       api_cases_customers_phone(r, &pn, err) ||
			       api_page_parse(r, &limit, &before, err)
		       ? -1
		       : 0;
}

static int
api_cases_customers_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	int64_t limit, before, last;
	struct phone_number pn;
	const char *tz;
	json_t *out, *page;

	/* Newest case first; the cursor is the last case id of the page. */
	if (api_tz_parse(r, &tz, err) != 0 ||
	    api_cases_customers_phone(r, &pn, err) != 0 ||
	    api_page_parse(r, &limit, &before, err) != 0 ||
	    cases_by_phone(tx, pn.e164, before, limit, &out, &last, err) != 0)
		return -1;
	page = api_page_wrap(json_incref(json_object_get(out, "cases")), limit,
			     last);
	json_object_set(out, "next_cursor",
			json_object_get(page, "next_cursor"));
	json_decref(page);
	api_localize(json_object_get(out, "cases"), tz);
	http_reply_json(r, 200, out);
	return 0;
}

/* Agents may manage only their own feed; leads and admins any. */
static int
api_cases_feed_allowed(const struct http_req *r, struct cbd_err *err)
{
	if (r->role == HTTP_ROLE_AGENT && r->agent_id != http_param_id(r, 0)) {
		cbd_err_set(err, 403, "forbidden", "",
			    "agents may read only their own calendar");
		return -1;
	}
	return 0;
}

static int
api_cases_feed_token_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0);
	char hash[KEYS_HASH_HEX_LEN + 1];
	char *tok, *url;
	int64_t n;

	if (api_cases_feed_allowed(r, err) != 0)
		return -1;
	tok = keys_generate(KEYS_FEED_PREFIX);
	keys_hash_hex(tok, hash);
	/* A new token replaces the old: subscribing again revokes it. */
	n = store_exec(tx, err,
		       "UPDATE agents SET feed_token_hash = ? WHERE id = ?",
		       "si", hash, id);
	if (n <= 0) {
		free(tok);
		if (n == 0)
			cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	url = xasprintf("%s/v1/agents/%lld/calendar.ics?token=%s",
			r->cfg->public_url, (long long)id, tok);
	http_reply_json(r, 201,
			json_pack("{s:s, s:s}", "token", tok, "url", url));
	free(tok);
	free(url);
	return 0;
}

static int
api_cases_feed_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0), now = clock_now();
	struct ics_feed_item *items = NULL;
	struct store_rows *a, *c;
	char calname[160];
	char **uids = NULL, **descs = NULL;
	size_t n;

	if (api_cases_feed_allowed(r, err) != 0)
		return -1;
	a = store_query(tx, err,
			"SELECT display_name, feed_token_hash, is_active FROM "
			"agents WHERE id = ?",
			"i", id);
	if (a == NULL)
		return -1;
	if (store_rows_count(a) == 0) {
		store_rows_free(a);
		cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	if (r->role == HTTP_ROLE_FEED) {
		char hash[KEYS_HASH_HEX_LEN + 1];
		const char *want = store_rows_str(a, 0, 1);
		keys_hash_hex(r->bearer, hash);
		/* A feed token of another agent reads as no such feed. */
		if (want == NULL || strcmp(want, hash) != 0) {
			store_rows_free(a);
			cbd_err_set(err, 404, "not-found", "",
				    "no such calendar");
			return -1;
		}
		/* A deactivated agent's feed stops with their keys. */
		if (store_rows_int(a, 0, 2, 1) == 0) {
			store_rows_free(a);
			cbd_err_set(err, 410, "agent-inactive", "",
				    "this calendar's agent is deactivated");
			return -1;
		}
	}
	snprintf(calname, sizeof(calname), "Callbacks: %s",
		 store_rows_str(a, 0, 0));
	store_rows_free(a);
	c = store_query(tx, err,
			"SELECT c.id, c.due_at, c.topic, c.ics_sequence, "
			"cu.name, cu.phone, c.state FROM callbacks c JOIN "
			"customers cu ON cu.id = c.customer_id WHERE "
			"c.owner_id = ? AND c.state IN "
			"('pending','scheduled','retry_wait','in_progress') "
			"AND c.due_at >= ? ORDER BY c.due_at LIMIT 1000",
			"ii", id, now - 3600);
	if (c == NULL)
		return -1;
	n = store_rows_count(c);
	items = xcalloc(n ? n : 1, sizeof(*items));
	uids = xcalloc(n ? n : 1, sizeof(char *));
	descs = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		uids[i] = xasprintf("callback-%lld-agent@callbackd",
				    (long long)store_rows_int(c, i, 0, 0));
		descs[i] = xasprintf("Call %s on %s (%s). Callback %lld.",
				     store_rows_str(c, i, 4),
				     store_rows_str(c, i, 5),
				     store_rows_str(c, i, 6),
				     (long long)store_rows_int(c, i, 0, 0));
		items[i].uid = uids[i];
		items[i].sequence = (int)store_rows_int(c, i, 3, 0);
		items[i].start = store_rows_int(c, i, 1, 0);
		items[i].end = items[i].start + 15 * 60;
		items[i].summary = store_rows_str(c, i, 2);
		items[i].description = descs[i];
	}
	r->status = 200;
	r->resp_raw = ics_feed_build(calname, items, n, now);
	r->resp_type = "text/calendar; charset=utf-8";
	for (size_t i = 0; i < n; i++) {
		free(uids[i]);
		free(descs[i]);
	}
	free(uids);
	free(descs);
	free(items);
	store_rows_free(c);
	return 0;
}

const struct http_route api_cases_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/cases/:id", HTTP_ROLES_STAFF, 0, "cases_get",
	  api_cases_id_parse, api_cases_get_work },
	{ EVHTTP_REQ_POST, "/v1/cases/:id/notes", HTTP_ROLES_STAFF,
	  HTTP_F_IDEMPOTENT, "cases_note", api_cases_note_parse,
	  api_cases_note_work },
	{ EVHTTP_REQ_GET, "/v1/customers", HTTP_ROLES_STAFF, 0, "customers_get",
	  api_cases_customers_parse, api_cases_customers_work },
	{ EVHTTP_REQ_POST, "/v1/agents/:id/feed-token",
	  HTTP_ROLE_AGENT | HTTP_ROLES_LEADS, 0, "agents_feed_token",
	  api_cases_id_parse, api_cases_feed_token_work },
	{ EVHTTP_REQ_GET, "/v1/agents/:id/calendar.ics",
	  HTTP_ROLE_FEED | HTTP_ROLE_AGENT | HTTP_ROLES_LEADS, 0,
	  "agents_calendar", api_cases_id_parse, api_cases_feed_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
