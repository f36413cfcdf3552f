/*
 * session.c: sign-in links and console sessions (see session.h).
 *
 * Redeeming a link is a real write to its row (used_at set where it was
 * NULL, one row changed or a conflict): on Galera two nodes redeeming the
 * same link at once cannot both win, since certification sees the write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changefeed.h"
#include "clock.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "session.h"
#include "store.h"

/* last_seen_at is written at most this often: a console polling every
 * second must not turn each read into a write. */
#define SESSION_TOUCH_SEC 60

int
session_link_issue(struct store_tx *tx, const struct config *cfg,
		   const struct session_who *who, const char *issued_by,
		   char **token, int64_t *expires_at, struct cbd_err *err)
{
	char hash[KEYS_HASH_HEX_LEN + 1];
	int64_t now = clock_now();
	char *secret = keys_generate(KEYS_SIGNIN_PREFIX);

	keys_hash_hex(secret, hash);
	*expires_at = now + cfg->signin_link_ttl_sec;
	if (store_exec(tx, err,
		       "INSERT INTO signin_links (token_hash, role, agent_id, "
		       "key_id, issued_by, created_at, expires_at) VALUES (?, "
		       "?, ?, ?, ?, ?, ?)",
		       "ssnnsii", hash, who->role,
		       who->agent_id > 0 ? who->agent_id : STORE_NULL,
		       who->key_id > 0 ? who->key_id : STORE_NULL, issued_by,
		       now, *expires_at) < 0) {
		free(secret);
		return -1;
	}
	log_info("sign-in link issued", "link=%lld role=%s agent=%lld by=%s",
		 (long long)store_last_id(tx), who->role,
		 (long long)who->agent_id, issued_by);
	*token = secret;
	return 0;
}

static void
session_err_sign_in(struct cbd_err *err, const char *field)
{
	cbd_err_set(err, 401, "sign-in-failed", field,
		    "%s is not valid: unknown, used, expired or revoked",
		    !strcmp(field, "token") ? "the sign-in link" : "the key");
}

/* Insert the session row for who; fills who->id and expires_at. */
static int
session_insert(struct store_tx *tx, const struct config *cfg,
	       struct session_who *who, const char *via, const char *client_ip,
	       char **token, struct cbd_err *err)
{
	char hash[KEYS_HASH_HEX_LEN + 1];
	int64_t now = clock_now();
	char *secret = keys_generate(KEYS_SESSION_PREFIX);

	keys_hash_hex(secret, hash);
	who->expires_at = now + cfg->session_ttl_sec;
	if (store_exec(tx, err,
		       "INSERT INTO sessions (token_hash, role, agent_id, "
		       "key_id, name, via, client_ip, created_at, "
		       "last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
		       " ?, ?, ?)",
		       "ssnnsssiii", hash, who->role,
		       who->agent_id > 0 ? who->agent_id : STORE_NULL,
		       who->key_id > 0 ? who->key_id : STORE_NULL, who->name,
		       via, client_ip ? client_ip : "", now, now,
		       who->expires_at) < 0) {
		free(secret);
		return -1;
	}
	who->id = store_last_id(tx);
	log_info("session opened", "session=%lld role=%s agent=%lld via=%s",
		 (long long)who->id, who->role, (long long)who->agent_id, via);
	*token = secret;
	return 0;
}

/* The display name of who: the agent's, else the key's name. */
static int
session_fill_name(struct store_tx *tx, struct session_who *who,
		  struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT COALESCE((SELECT display_name FROM agents WHERE id = "
		"?), (SELECT name FROM api_keys WHERE id = ?), '')",
		"ii", who->agent_id, who->key_id);

	if (r == NULL)
		return -1;
	snprintf(who->name, sizeof(who->name), "%s", store_rows_str(r, 0, 0));
	store_rows_free(r);
	return 0;
}

int
session_open_link(struct store_tx *tx, const struct config *cfg,
		  const char *link_token, const char *client_ip, char **token,
		  struct session_who *who, struct cbd_err *err)
{
	char hash[KEYS_HASH_HEX_LEN + 1];
	int64_t now = clock_now(), link_id;
	struct store_rows *r;
	int ok;

	memset(who, 0, sizeof(*who));
	keys_hash_hex(link_token, hash);
	/* The link's agent must still be active and its key unrevoked. */
	r = store_query(
		tx, err,
		"SELECT l.id, l.role, l.agent_id, l.key_id FROM "
		"signin_links l LEFT JOIN agents a ON a.id = l.agent_id"
		" LEFT JOIN api_keys k ON k.id = l.key_id WHERE "
		"l.token_hash = ? AND l.used_at IS NULL AND "
		"l.expires_at > ? AND COALESCE(a.is_active, 1) = 1 AND"
		" (l.key_id IS NULL OR k.revoked_at IS NULL) FOR UPDATE",
		"si", hash, now);
	if (r == NULL)
		return -1;
	ok = store_rows_count(r) == 1;
	if (ok) {
		link_id = store_rows_int(r, 0, 0, 0);
		snprintf(who->role, sizeof(who->role), "%s",
			 store_rows_str(r, 0, 1));
		who->agent_id = store_rows_int(r, 0, 2, 0);
		who->key_id = store_rows_int(r, 0, 3, 0);
	}
	store_rows_free(r);
	if (!ok) {
		session_err_sign_in(err, "token");
		return -1;
	}
	{
		int64_t n = store_exec(tx, err,
				       "UPDATE signin_links SET used_at = ? "
				       "WHERE id = ? AND used_at IS NULL",
				       "ii", now, link_id);
		if (n < 0)
			return -1;
		if (n != 1)
			return store_conflict(tx, err, "sign-in link");
	}
	if (session_fill_name(tx, who, err) != 0 ||
	    session_insert(tx, cfg, who, "link", client_ip, token, err) != 0)
		return -1;
	if (store_exec(tx, err,
		       "UPDATE signin_links SET session_id = ? WHERE id = ?",
		       "ii", who->id, link_id) < 0) {
		free(*token);
		*token = NULL;
		return -1;
	}
	return 0;
}

int
session_open_key(struct store_tx *tx, const struct config *cfg,
		 const char *api_key, const char *client_ip, char **token,
		 struct session_who *who, struct cbd_err *err)
{
	char hash[KEYS_HASH_HEX_LEN + 1];
	struct store_rows *r;
	int ok;

	memset(who, 0, sizeof(*who));
	keys_hash_hex(api_key, hash);
	r = store_query(tx, err,
			"SELECT k.id, k.role, k.agent_id FROM api_keys k LEFT "
			"JOIN agents a ON a.id = k.agent_id WHERE k.key_hash = "
			"? AND k.revoked_at IS NULL AND COALESCE(a.is_active, "
			"1) = 1",
			"s", hash);
	if (r == NULL)
		return -1;
	ok = store_rows_count(r) == 1;
	if (ok) {
		who->key_id = store_rows_int(r, 0, 0, 0);
		snprintf(who->role, sizeof(who->role), "%s",
			 store_rows_str(r, 0, 1));
		who->agent_id = store_rows_int(r, 0, 2, 0);
	}
	store_rows_free(r);
	if (!ok) {
		session_err_sign_in(err, "api_key");
		return -1;
	}
	if (session_fill_name(tx, who, err) != 0)
		return -1;
	return session_insert(tx, cfg, who, "api_key", client_ip, token, err);
}

int
session_lookup(struct store_tx *tx, const struct config *cfg,
	       const char *token_hash, struct session_who *who,
	       struct cbd_err *err)
{
	int64_t now = clock_now(), last_seen;
	struct store_rows *r;
	const char *why = NULL;

	memset(who, 0, sizeof(*who));
	r = store_query(tx, err,
			"SELECT s.id, s.role, s.agent_id, s.key_id, s.name, "
			"s.expires_at, s.last_seen_at, COALESCE(a.is_active, "
			"1), s.key_id IS NULL OR k.revoked_at IS NULL FROM "
			"sessions s LEFT JOIN agents a ON a.id = s.agent_id "
			"LEFT JOIN api_keys k ON k.id = s.key_id WHERE "
			"s.token_hash = ? AND s.revoked_at IS NULL",
			"s", token_hash);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0)
		why = "the session is not valid (signed out or revoked)";
	else if (store_rows_int(r, 0, 5, 0) <= now)
		why = "the session has expired: sign in again";
	else if (store_rows_int(r, 0, 6, 0) + cfg->session_idle_sec <= now)
		why = "the session was idle too long: sign in again";
	else if (store_rows_int(r, 0, 8, 0) == 0)
		why = "the key this session was opened with is revoked";
	if (why != NULL) {
		store_rows_free(r);
		cbd_err_set(err, 401, "unauthorized", "", "%s", why);
		return -1;
	}
	if (store_rows_int(r, 0, 7, 1) == 0) {
		store_rows_free(r);
		cbd_err_set(err, 403, "agent-inactive", "",
			    "the agent of this session is deactivated");
		return -1;
	}
	who->id = store_rows_int(r, 0, 0, 0);
	snprintf(who->role, sizeof(who->role), "%s", store_rows_str(r, 0, 1));
	who->agent_id = store_rows_int(r, 0, 2, 0);
	who->key_id = store_rows_int(r, 0, 3, 0);
	snprintf(who->name, sizeof(who->name), "%s", store_rows_str(r, 0, 4));
	who->expires_at = store_rows_int(r, 0, 5, 0);
	last_seen = store_rows_int(r, 0, 6, 0);
	store_rows_free(r);
	if (now - last_seen >= SESSION_TOUCH_SEC || now < last_seen) {
		if (store_exec(tx, err,
			       "UPDATE sessions SET last_seen_at = ? WHERE id "
			       "= ?",
			       "ii", now, who->id) < 0)
			return -1;
	}
	return 0;
}

/* The open event streams of the session's person end (streams do not
 * know their session: a key's or an agent's other streams reconnect). */
static int
session_end_streams(struct store_tx *tx, int64_t id, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT COALESCE(agent_id, 0), COALESCE(key_id, 0) FROM "
		"sessions WHERE id = ?",
		"i", id);
	int64_t agent_id, key_id;

	if (r == NULL)
		return -1;
	agent_id = store_rows_int(r, 0, 0, 0);
	key_id = store_rows_int(r, 0, 1, 0);
	store_rows_free(r);
	return changefeed_record_access_ended(tx, key_id > 0 ? 0 : agent_id,
					      key_id, err);
}

int
session_revoke(struct store_tx *tx, int64_t id, const char *by,
	       struct cbd_err *err)
{
	int64_t n = store_exec(tx, err,
			       "UPDATE sessions SET revoked_at = ?, revoked_by "
			       "= ? WHERE id = ? AND revoked_at IS NULL",
			       "isi", clock_now(), by, id);

	if (n < 0)
		return -1;
	if (n == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such open session");
		return -1;
	}
	if (session_end_streams(tx, id, err) != 0)
		return -1;
	log_info("session revoked", "session=%lld by=%s", (long long)id, by);
	return 0;
}

int
session_lead_team(struct store_tx *tx, int is_lead, int64_t key_id,
		  int64_t agent_id, char *team, size_t size,
		  struct cbd_err *err)
{
	struct store_rows *r;

	team[0] = '\0';
	if (!is_lead || (key_id <= 0 && agent_id <= 0))
		return 0;
	/* The team a lead key names, else that of the key's agent: the
	 * rule key management (api_keys.c) follows too. */
	r = key_id > 0 ? store_query(tx, err,
				     "SELECT COALESCE(NULLIF(k.team, ''), "
				     "a.team, '') FROM api_keys k LEFT JOIN "
				     "agents a ON a.id = k.agent_id WHERE "
				     "k.id = ?",
				     "i", key_id)
		       : store_query(tx, err,
				     "SELECT team FROM agents WHERE id = ?",
				     "i", agent_id);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) > 0)
		snprintf(team, size, "%s", store_rows_str(r, 0, 0));
	store_rows_free(r);
	return 0;
}
