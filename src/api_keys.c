/*
 * api_keys.c: staff API keys. Only the SHA-256 of a key is stored; the
 * secret is shown once, in the answer that creates it.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "changefeed.h"
#include "clock.h"
#include "keys.h"
#include "log.h"
#include "staff_audit.h"
#include "store.h"
#include "xalloc.h"

int
api_keys_insert(struct store_tx *tx, const char *role, const char *name,
		int64_t agent_id, int64_t *id, char **key, struct cbd_err *err)
{
	char hash[KEYS_HASH_HEX_LEN + 1];
	char *secret;

	if (strcmp(role, "admin") && strcmp(role, "lead") &&
	    strcmp(role, "agent")) {
		cbd_err_set(err, 400, "invalid-field", "role",
			    "role must be admin, lead or agent");
		return -1;
	}
	if (!strcmp(role, "agent") && agent_id <= 0) {
		cbd_err_set(err, 400, "missing-field", "agent_id",
			    "an agent key needs agent_id");
		return -1;
	}
	if (agent_id > 0) {
		struct store_rows *a = store_query(
			tx, err, "SELECT id FROM agents WHERE id = ?", "i",
			agent_id);
		size_t n;
		if (a == NULL)
			return -1;
		n = store_rows_count(a);
		store_rows_free(a);
		if (n == 0) {
			cbd_err_set(err, 400, "invalid-field", "agent_id",
				    "no agent %lld", (long long)agent_id);
			return -1;
		}
	}
	secret = keys_generate(KEYS_STAFF_PREFIX);
	keys_hash_hex(secret, hash);
	if (store_exec(tx, err,
		       "INSERT INTO api_keys (name, role, key_hash, agent_id, "
		       "created_at) VALUES (?, ?, ?, ?, ?)",
		       "sssni", name, role, hash,
		       agent_id > 0 ? agent_id : STORE_NULL, clock_now()) < 0) {
		free(secret);
		return -1;
	}
	*id = store_last_id(tx);
	*key = secret;
	log_info("api key created", "id=%lld role=%s", (long long)*id, role);
	return 0;
}

static int
api_keys_create_parse(struct http_req *r, struct cbd_err *err)
{
	static const char *const fields[] = { "role", "name", "agent_id",
					      "team", NULL };
	const char *s, *role, *team = NULL;
	int64_t id = 0;

	if (http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "role", "role", 16, 1, &role, err) != 0 ||
	    http_get_str(r->body, "name", "name", 100, 1, &s, err) != 0 ||
	    http_get_int(r->body, "agent_id", "agent_id", 1, INT64_MAX, 0, &id,
			 err) != 0 ||
	    http_get_str(r->body, "team", "team", 64, 0, &team, err) != 0)
		return -1;
	if (team != NULL && strcmp(role, "lead") != 0) {
		cbd_err_set(err, 400, "invalid-field", "team",
			    "team is for lead keys: the team whose agents' "
			    "keys the lead manages");
		return -1;
	}
	/* A lead hands out agent keys only: never a key that outranks an
	 * agent, nor one that picks its own team. */
	if (r->role == HTTP_ROLE_LEAD && strcmp(role, "agent") != 0) {
		cbd_err_set(err, 403, "forbidden", "role",
			    "leads may create agent keys only");
		return -1;
	}
	if (r->role == HTTP_ROLE_LEAD && team != NULL) {
		cbd_err_set(err, 403, "forbidden", "team",
			    "leads may not create lead keys");
		return -1;
	}
	return 0;
}

/*
 * The team a lead's key runs ("" when none: such a lead manages no keys),
 * and whether agent agent_id is in it. Admins pass. Returns 0, or -1 with
 * a 403 naming field.
 */
static int
api_keys_lead_may(struct store_tx *tx, const struct http_req *r,
		  int64_t agent_id, const char *field, struct cbd_err *err)
{
	struct store_rows *k;
	int is_ok;

	if (r->role != HTTP_ROLE_LEAD)
		return 0;
	k = store_query(tx, err,
			"SELECT COALESCE(k.team, ''), (SELECT a.team FROM "
			"agents a WHERE a.id = ?) FROM api_keys k WHERE "
			"k.id = ?",
			"ii", agent_id, r->key_id);
	if (k == NULL)
		return -1;
	is_ok = store_rows_count(k) == 1 && store_rows_str(k, 0, 0)[0] &&
		store_rows_str(k, 0, 1) != NULL &&
		strcmp(store_rows_str(k, 0, 0), store_rows_str(k, 0, 1)) == 0;
	if (!is_ok)
		cbd_err_set(err, 403, "forbidden", field,
			    store_rows_count(k) == 1 &&
					    store_rows_str(k, 0, 0)[0] == '\0'
				    ? "this lead key names no team: an admin "
				      "gives lead keys a team"
				    : "leads manage the keys of agents of "
				      "their own team only");
	store_rows_free(k);
	return is_ok ? 0 : -1;
}

/*
 * The secret is shown once and stored nowhere, the idempotency table
 * included: a replay of the same request answers 409 secret-shown-once
 * with the key's id, so a client that lost the first answer knows the key
 * exists, can revoke it and create another under a new Idempotency-Key.
 */
static void
api_keys_replay_record(struct http_req *r, int64_t id)
{
	struct cbd_err e;

	memset(&e, 0, sizeof(e));
	cbd_err_set(&e, 409, "secret-shown-once", "Idempotency-Key",
		    "key %lld was created by the first request with this "
		    "Idempotency-Key; its secret is shown only once. Revoke "
		    "it if the secret was lost, and create another with a "
		    "new Idempotency-Key",
		    (long long)id);
	e.extra_json = xasprintf("{\"key_id\":%lld}", (long long)id);
	free(r->idem_record);
	r->idem_record = http_problem_json(&e, NULL);
	r->idem_record_status = 409;
	cbd_err_clear(&e);
}

static int
api_keys_create_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	const char *role = json_string_value(json_object_get(r->body, "role"));
	const char *name = json_string_value(json_object_get(r->body, "name"));
	json_t *aid = json_object_get(r->body, "agent_id");
	int64_t agent_id = aid ? json_integer_value(aid) : 0;
	const char *team = json_string_value(json_object_get(r->body, "team"));
	char actor[48];
	int64_t id;
	char *key;

	if (agent_id > 0 &&
	    api_keys_lead_may(tx, r, agent_id, "agent_id", err) != 0)
		return -1;
	if (api_keys_insert(tx, role, name, agent_id, &id, &key, err) != 0)
		return -1;
	if ((team != NULL &&
	     store_exec(tx, err, "UPDATE api_keys SET team = ? WHERE id = ?",
			"si", team, id) < 0) ||
	    staff_audit_add(
		    tx, http_actor(r, actor, sizeof(actor)), "key.created", id,
		    json_pack("{s:s, s:s, s:o, s:o}", "role", role, "name",
			      name, "agent_id",
			      agent_id > 0 ? json_integer(agent_id)
					   : json_null(),
			      "team", team ? json_string(team) : json_null()),
		    err) != 0) {
		free(key);
		return -1;
	}
	api_keys_replay_record(r, id);
	http_reply_json(
		r, 201,
		json_pack("{s:I, s:s, s:s, s:s, s:o}", "id", (json_int_t)id,
			  "key", key, "role", role, "name", name, "agent_id",
			  agent_id > 0 ? json_integer(agent_id) : json_null()));
	free(key);
	return 0;
}

static int
api_keys_list_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct store_rows *rows;
	int64_t limit, after;
	json_t *items;
	size_t n;

	if (api_page_parse(r, &limit, &after, err) != 0)
		return -1;
	rows = store_query(tx, err,
			   "SELECT id, name, role, agent_id, created_at, "
			   "revoked_at FROM api_keys WHERE id > ? ORDER BY id "
			   "LIMIT ?",
			   "ii", after, limit);
	if (rows == NULL)
		return -1;
	items = json_array();
	n = store_rows_count(rows);
	for (size_t i = 0; i < n; i++) {
		int64_t aid = store_rows_int(rows, i, 3, 0);
		json_array_append_new(
			items,
			json_pack("{s:I, s:s, s:s, s:o, s:o, s:o}", "id",
				  (json_int_t)store_rows_int(rows, i, 0, 0),
				  "name", store_rows_str(rows, i, 1), "role",
				  store_rows_str(rows, i, 2), "agent_id",
				  aid ? json_integer(aid) : json_null(),
				  "created_at",
				  api_time(store_rows_int(rows, i, 4, 0), NULL),
				  "revoked",
				  json_boolean(store_rows_str(rows, i, 5) !=
					       NULL)));
	}
	http_reply_json(
		r, 200,
		api_page_wrap(items, limit,
			      n ? store_rows_int(rows, n - 1, 0, 0) : 0));
	store_rows_free(rows);
	return 0;
}

static int
api_keys_delete_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0);
	struct store_rows *k;
	char actor[48];
	int64_t n, agent_id;

	if (id == r->key_id) {
		cbd_err_set(err, 409, "conflict", "",
			    "a key cannot revoke itself");
		return -1;
	}
	k = store_query(tx, err,
			"SELECT role, COALESCE(agent_id, 0), name FROM "
			"api_keys WHERE id = ? AND revoked_at IS NULL",
			"i", id);
	if (k == NULL)
		return -1;
	if (store_rows_count(k) == 0) {
		store_rows_free(k);
		cbd_err_set(err, 404, "not-found", "", "no such active key");
		return -1;
	}
	agent_id = store_rows_int(k, 0, 1, 0);
	if (r->role == HTTP_ROLE_LEAD &&
	    (strcmp(store_rows_str(k, 0, 0), "agent") != 0 ||
	     api_keys_lead_may(tx, r, agent_id, "", err) != 0)) {
		if (err->status == 0)
			cbd_err_set(err, 403, "forbidden", "",
				    "leads may revoke agent keys only");
		store_rows_free(k);
		return -1;
	}
	if (staff_audit_add(tx, http_actor(r, actor, sizeof(actor)),
			    "key.revoked", id,
			    json_pack("{s:s, s:s, s:o}", "role",
				      store_rows_str(k, 0, 0), "name",
				      store_rows_str(k, 0, 2), "agent_id",
				      agent_id > 0 ? json_integer(agent_id)
						   : json_null()),
			    err) != 0) {
		store_rows_free(k);
		return -1;
	}
	store_rows_free(k);
	n = store_exec(tx, err,
		       "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND "
		       "revoked_at IS NULL",
		       "ii", clock_now(), id);
	if (n < 0)
		return -1;
	if (n == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such active key");
		return -1;
	}
	/* Its open event streams (bearer or a session it opened) end. */
	if (changefeed_record_access_ended(tx, 0, id, err) != 0)
		return -1;
	log_info("api key revoked", "id=%lld by=%lld", (long long)id,
		 (long long)r->key_id);
	r->status = 204;
	return 0;
}

const struct http_route api_keys_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/keys", HTTP_ROLES_LEADS, HTTP_F_IDEMPOTENT,
	  "keys_create", api_keys_create_parse, api_keys_create_work },
	{ EVHTTP_REQ_GET, "/v1/keys", HTTP_ROLE_ADMIN, 0, "keys_list", NULL,
	  api_keys_list_work },
	{ EVHTTP_REQ_DELETE, "/v1/keys/:id", HTTP_ROLES_LEADS, 0, "keys_delete",
	  NULL, api_keys_delete_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
