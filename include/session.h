/*
 * session.h: the web console's sign-in links and browser sessions.
 *
 * A lead or admin issues a sign-in link: a one-time token (KEYS_SIGNIN_
 * PREFIX) kept only as its SHA-256, valid signin_link_ttl_sec. Redeeming
 * it, or presenting an API key once, opens a session: a random cookie
 * value (KEYS_SESSION_PREFIX), also kept only hashed, standing for the
 * same person as their bearer key (role, agent, key), ending
 * session_ttl_sec after sign-in or session_idle_sec after its last
 * request, or when revoked. The rows live in MariaDB, so every instance
 * sees a sign-in and a revocation at once. Store threads only.
 */
#ifndef CBD_SESSION_H
#define CBD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;

/* Who a session (or a link) stands for. */
struct session_who {
	int64_t id;       /* the session; 0 for a link not yet redeemed */
	char role[8];     /* "agent", "lead" or "admin" */
	int64_t agent_id; /* 0: none (a lead or admin key without agent) */
	int64_t key_id;   /* 0: a session from an agent's link, no key */
	char name[101];
	int64_t expires_at; /* absolute end of the session */
};

/*
 * A new sign-in link for who (id unused). issued_by is the actor for the
 * audit ("lead:3"). *token receives the secret (caller frees); it is shown
 * once and stored only hashed.
 */
int session_link_issue(struct store_tx *tx, const struct config *cfg,
		       const struct session_who *who, const char *issued_by,
		       char **token, int64_t *expires_at,
		       struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Open a session from a sign-in link token (used once: a second use is
 * refused) or from an API key. *token receives the session's cookie value
 * (caller frees); who is filled. 401 sign-in-failed when the token or key
 * is unknown, used, expired or revoked.
 */
int session_open_link(struct store_tx *tx, const struct config *cfg,
		      const char *link_token, const char *client_ip,
		      char **token, struct session_who *who,
		      struct cbd_err *err) CBD_MUSTCHECK;
int session_open_key(struct store_tx *tx, const struct config *cfg,
		     const char *api_key, const char *client_ip, char **token,
		     struct session_who *who,
		     struct cbd_err *err) CBD_MUSTCHECK;
/*
 * The session whose cookie hashes to token_hash, if it is still open (not
 * revoked, neither expired nor idle too long, its key not revoked, its
 * agent active): fills who and records the request's time (at most once a
 * minute, a real write). 401 or 403 otherwise.
 */
int session_lookup(struct store_tx *tx, const struct config *cfg,
		   const char *token_hash, struct session_who *who,
		   struct cbd_err *err) CBD_MUSTCHECK;
/* End session id; 404 when there is no such open session. */
int session_revoke(struct store_tx *tx, int64_t id, const char *by,
		   struct cbd_err *err) CBD_MUSTCHECK;
/*
 * The team a lead's requests are limited to: the team their key names,
 * else that of the agent the key belongs to; "" (every team) for admins
 * and for lead keys with neither.
 */
int session_lead_team(struct store_tx *tx, int is_lead, int64_t key_id,
		      int64_t agent_id, char *team, size_t size,
		      struct cbd_err *err) CBD_MUSTCHECK;

#endif
