/*
 * api_sessions.c: the web console's sign-in. Leads and admins issue
 * one-time sign-in links; a link, or an API key presented once, opens a
 * browser session (an HttpOnly SameSite=Strict cookie); leads list and
 * revoke sessions. See session.h for the rules, http.c for how a cookie
 * authenticates a request and the CSRF check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "keys.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"

/* What GET /v1/sessions/current and POST /v1/sessions answer. */
static json_t *
api_sessions_body(const struct session_who *who, const char *token)
{
	char csrf[64];

	keys_csrf_token(token, csrf, sizeof(csrf));
	return json_pack("{s:I, s:s, s:s, s:o, s:s, s:o}", "session_id",
			 (json_int_t)who->id, "csrf_token", csrf, "role",
			 who->role, "agent_id",
			 who->agent_id > 0 ? json_integer(who->agent_id)
					   : json_null(),
			 "name", who->name, "expires_at",
			 api_time(who->expires_at, NULL));
}

/* The cookie: HttpOnly (no script reads it), SameSite=Strict (no other
 * site's page sends it), Secure when the console is served over https. */
static char *
api_sessions_cookie(const struct config *cfg, const char *token, int64_t ttl)
{
	return xasprintf("cbd_session=%s; HttpOnly; SameSite=Strict; Path=/; "
			 "Max-Age=%lld%s",
			 token, (long long)ttl,
			 strncmp(cfg->public_url, "https:", 6) == 0 ? "; Secure"
								    : "");
}

static int
api_sessions_link_reply(struct store_tx *tx, struct http_req *r,
			const struct session_who *who, struct cbd_err *err)
{
	char actor[64];
	char *token = NULL, *url;
	int64_t expires_at;

	if (session_link_issue(tx, r->cfg, who,
			       http_actor(r, actor, sizeof(actor)), &token,
			       &expires_at, err) != 0)
		return -1;
	/* The token travels in the fragment: browsers send no fragment to
	 * any server, so it stays out of access logs and Referer headers. */
	url = xasprintf("%s/signin#%s", r->cfg->public_url, token);
	http_reply_json(r, 201,
			json_pack("{s:s, s:o}", "url", url, "expires_at",
				  api_time(expires_at, NULL)));
	free(url);
	free(token);
	return 0;
}

/* POST /v1/agents/{id}/sign-in-links: a lead of the agent's team, or an
 * admin, lets the agent sign in. */
static int
api_sessions_link_agent(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0);
	struct session_who who;
	struct store_rows *a;
	char team[65];

	if (http_check_fields(r->body, (const char *const[]){ NULL }, "",
			      err) != 0 ||
	    session_lead_team(tx, r->role == HTTP_ROLE_LEAD, r->key_id,
			      r->agent_id, team, sizeof(team), err) != 0)
		return -1;
	a = store_query_one(tx, err, "agent",
			    "SELECT team, is_active FROM agents WHERE id = ?",
			    "i", id);
	if (a == NULL)
		return -1;
	if (team[0] != '\0' && strcmp(team, store_rows_str(a, 0, 0)) != 0) {
		store_rows_free(a);
		cbd_err_set(err, 403, "other-team", "",
			    "a lead issues sign-in links for their own team "
			    "only");
		return -1;
	}
	if (store_rows_int(a, 0, 1, 0) == 0) {
		store_rows_free(a);
		cbd_err_set(err, 409, "agent-inactive", "",
			    "the agent is deactivated");
		return -1;
	}
	store_rows_free(a);
	memset(&who, 0, sizeof(who));
	snprintf(who.role, sizeof(who.role), "agent");
	who.agent_id = id;
	return api_sessions_link_reply(tx, r, &who, err);
}

/* POST /v1/me/sign-in-links: a lead or admin signs in as themselves (the
 * key they call with) on a browser, without pasting the key there. */
static int
api_sessions_link_me(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	struct session_who who;

	if (http_check_fields(r->body, (const char *const[]){ NULL }, "",
			      err) != 0)
		return -1;
	/* A session may not mint itself a successor: the link would open a
	 * fresh session_ttl_sec, so a stolen cookie could outlive its
	 * absolute expiry for ever. The key itself must ask. */
	if (r->key_id <= 0 || r->session_id > 0) {
		cbd_err_set(err, 409, "no-key", "",
			    "a sign-in link for yourself needs your key, not a "
			    "browser session");
		return -1;
	}
	memset(&who, 0, sizeof(who));
	snprintf(who.role, sizeof(who.role), "%s",
		 r->role == HTTP_ROLE_ADMIN ? "admin" : "lead");
	who.agent_id = r->agent_id;
	who.key_id = r->key_id;
	return api_sessions_link_reply(tx, r, &who, err);
}

static int
api_sessions_open_parse(struct http_req *r, struct cbd_err *err)
{
	static const char *const fields[] = { "token", "api_key", NULL };
	const char *token = NULL, *key = NULL;

	if (http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "token", "token", 200, 0, &token, err) != 0 ||
	    http_get_str(r->body, "api_key", "api_key", 200, 0, &key, err) != 0)
		return -1;
	if ((token == NULL) == (key == NULL)) {
		cbd_err_set(err, 400, "missing-field", "token",
			    "give either token (from a sign-in link) or "
			    "api_key");
		return -1;
	}
	/* Signing a victim's browser in as someone else is an attack too:
	 * only the console's own pages may open a session. */
	if (r->origin != NULL && !http_origin_allowed(r->cfg, r->origin)) {
		cbd_err_set(err, 403, "origin-refused", "Origin",
			    "sign-in must come from the console's own origin");
		return -1;
	}
	return 0;
}

/* POST /v1/sessions */
static int
api_sessions_open(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	const char *token =
		json_string_value(json_object_get(r->body, "token"));
	const char *key =
		json_string_value(json_object_get(r->body, "api_key"));
	struct session_who who;
	char *cookie = NULL;
	int rc;

	if (token != NULL)
		rc = session_open_link(tx, r->cfg, token, r->client_ip, &cookie,
				       &who, err);
	else
		rc = session_open_key(tx, r->cfg, key, r->client_ip, &cookie,
				      &who, err);
	if (rc != 0)
		return -1;
	free(r->set_cookie);
	r->set_cookie =
		api_sessions_cookie(r->cfg, cookie, r->cfg->session_ttl_sec);
	http_reply_json(r, 201, api_sessions_body(&who, cookie));
	free(cookie);
	return 0;
}

/* The current session; 404 for a request made with a bearer key. */
static int
api_sessions_need_session(const struct http_req *r, struct cbd_err *err)
{
	if (r->session_id > 0 && r->session_token != NULL)
		return 0;
	cbd_err_set(err, 404, "no-session", "",
		    "this request was not made with a session cookie");
	return -1;
}

/* GET /v1/sessions/current: a reloaded page learns its CSRF token. */
static int
api_sessions_current(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	struct session_who who;
	char hash[KEYS_HASH_HEX_LEN + 1];

	if (api_sessions_need_session(r, err) != 0)
		return -1;
	keys_hash_hex(r->session_token, hash);
	if (session_lookup(tx, r->cfg, hash, &who, err) != 0)
		return -1;
	http_reply_json(r, 200, api_sessions_body(&who, r->session_token));
	return 0;
}

/* DELETE /v1/sessions/current: sign out. */
static int
api_sessions_sign_out(struct store_tx *tx, struct http_req *r,
		      struct cbd_err *err)
{
	char actor[64];

	if (api_sessions_need_session(r, err) != 0 ||
	    session_revoke(tx, r->session_id,
			   http_actor(r, actor, sizeof(actor)), err) != 0)
		return -1;
	free(r->set_cookie);
	r->set_cookie = api_sessions_cookie(r->cfg, "", 0);
	r->status = 204;
	return 0;
}

/* GET /v1/sessions?agent_id=: open sessions (a lead: of their team). */
static int
api_sessions_list(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	const char *aid = http_query(r, "agent_id");
	int64_t agent_id = 0, limit, after, now = clock_now();
	struct store_rows *rows;
	char team[65];
	json_t *items;
	size_t n;

	if (aid != NULL) {
		char *end;
		long long v = strtoll(aid, &end, 10);
		if (*aid == '\0' || *end != '\0' || v <= 0) {
			cbd_err_set(err, 400, "invalid-query", "agent_id",
				    "agent_id must be a positive integer");
			return -1;
		}
		agent_id = v;
	}
	if (api_page_parse(r, &limit, &after, err) != 0 ||
	    session_lead_team(tx, r->role == HTTP_ROLE_LEAD, r->key_id,
			      r->agent_id, team, sizeof(team), err) != 0)
		return -1;
	rows = store_query(
		tx, err,
		"SELECT s.id, s.role, s.agent_id, s.name, s.via, s.created_at,"
		" s.last_seen_at, s.expires_at FROM sessions s LEFT JOIN "
		"agents a ON a.id = s.agent_id WHERE s.id > ? AND "
		"s.revoked_at IS NULL AND s.expires_at > ? AND "
		"s.last_seen_at > ? AND (? = 0 OR s.agent_id = ?) AND (? = '' "
		"OR a.team = ?) ORDER BY s.id LIMIT ?",
		"iiiiissi", after, now, now - r->cfg->session_idle_sec,
		agent_id, agent_id, team, team, limit);
	if (rows == NULL)
		return -1;
	items = json_array();
	n = store_rows_count(rows);
	for (size_t i = 0; i < n; i++) {
		int64_t a = store_rows_int(rows, i, 2, 0);
		json_array_append_new(
			items,
			json_pack(
				"{s:I, s:s, s:o, s:s, s:s, s:o, s:o, s:o}",
				"id", (json_int_t)store_rows_int(rows, i, 0, 0),
				"role", store_rows_str(rows, i, 1), "agent_id",
				a > 0 ? json_integer(a) : json_null(), "name",
				store_rows_str(rows, i, 3), "via",
				store_rows_str(rows, i, 4), "created_at",
				api_time(store_rows_int(rows, i, 5, 0), NULL),
				"last_seen_at",
				api_time(store_rows_int(rows, i, 6, 0), NULL),
				"expires_at",
				api_time(store_rows_int(rows, i, 7, 0), NULL)));
	}
	http_reply_json(
		r, 200,
		api_page_wrap(items, limit,
			      n ? store_rows_int(rows, n - 1, 0, 0) : 0));
	store_rows_free(rows);
	return 0;
}

/* DELETE /v1/sessions/{id}: a lead (their team's) or admin ends one. */
static int
api_sessions_revoke(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0);
	struct store_rows *row;
	char team[65], actor[64];
	int visible;

	if (session_lead_team(tx, r->role == HTTP_ROLE_LEAD, r->key_id,
			      r->agent_id, team, sizeof(team), err) != 0)
		return -1;
	row = store_query(tx, err,
			  "SELECT COALESCE(a.team, '') FROM sessions s LEFT "
			  "JOIN agents a ON a.id = s.agent_id WHERE s.id = ? "
			  "AND s.revoked_at IS NULL",
			  "i", id);
	if (row == NULL)
		return -1;
	visible = store_rows_count(row) > 0 &&
		  (team[0] == '\0' || !strcmp(team, store_rows_str(row, 0, 0)));
	store_rows_free(row);
	if (!visible) {
		cbd_err_set(err, 404, "not-found", "", "no such open session");
		return -1;
	}
	if (session_revoke(tx, id, http_actor(r, actor, sizeof(actor)), err) !=
	    0)
		return -1;
	r->status = 204;
	return 0;
}

const struct http_route api_sessions_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/agents/:id/sign-in-links", HTTP_ROLES_LEADS, 0,
	  "signin_link_agent", NULL, api_sessions_link_agent },
	{ EVHTTP_REQ_POST, "/v1/me/sign-in-links", HTTP_ROLES_LEADS, 0,
	  "signin_link_me", NULL, api_sessions_link_me },
	{ EVHTTP_REQ_POST, "/v1/sessions", HTTP_ROLE_PUBLIC, HTTP_F_NO_CORS,
	  "sessions_open", api_sessions_open_parse, api_sessions_open },
	{ EVHTTP_REQ_GET, "/v1/sessions/current", HTTP_ROLES_STAFF, 0,
	  "sessions_current", NULL, api_sessions_current },
	{ EVHTTP_REQ_DELETE, "/v1/sessions/current", HTTP_ROLES_STAFF, 0,
	  "sessions_sign_out", NULL, api_sessions_sign_out },
	{ EVHTTP_REQ_GET, "/v1/sessions", HTTP_ROLES_LEADS, 0, "sessions_list",
	  NULL, api_sessions_list },
	{ EVHTTP_REQ_DELETE, "/v1/sessions/:id", HTTP_ROLES_LEADS, 0,
	  "sessions_revoke", NULL, api_sessions_revoke },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
