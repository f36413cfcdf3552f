/*
 * keys.h: secrets handed to clients (staff API keys, customers' manage
 * tokens, calendar feed tokens). Each is 32 random bytes, base64url, behind a
 * prefix that says what it is; the database keeps only its SHA-256.
 */
#ifndef CBD_KEYS_H
#define CBD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_STAFF_PREFIX   "cbk_"
#define KEYS_MANAGE_PREFIX  "cbt_"
#define KEYS_FEED_PREFIX    "cbf_"
#define KEYS_SESSION_PREFIX "cbs_" /* a console session's cookie */
#define KEYS_SIGNIN_PREFIX  "cbl_" /* a one-time sign-in link */
#define KEYS_HASH_HEX_LEN   64

/* A new secret "prefix<43 base64url chars>"; caller frees. */
char *keys_generate(const char *prefix);
/* SHA-256 of token as lowercase hex into out[KEYS_HASH_HEX_LEN + 1]. */
void keys_hash_hex(const char *token, char *out);
/* A random UUID-shaped id (v4) into out[37], for message ids. */
void keys_uuid(char *out);
/* SHA-256 hex of arbitrary bytes, for request-body fingerprints. */
void keys_digest_hex(const void *data, unsigned long len, char *out);

/*
 * Manage tokens are not stored at all: a callback's token is
 * HMAC-SHA256(link secret, "manage:<id>"), so every message about the
 * callback can carry its link, and checking one needs no lookup. The link
 * secret lives in the settings table, shared by all instances.
 */
void keys_set_link_secret(const char *secret);
/* The manage token of callback id into out[64]. */
void keys_manage_token(int64_t id, char *out, size_t size);
/* Constant-time check that token is callback id's manage token. */
int keys_manage_token_ok(int64_t id, const char *token);

/*
 * The CSRF token of a console session: HMAC-SHA256(link secret,
 * "csrf:<session token>") into out (at least 64 bytes). Derived, so it is
 * stored nowhere and every instance computes the same one.
 */
void keys_csrf_token(const char *session_token, char *out, size_t size);
/* Constant-time comparison of two NUL-terminated secrets. */
int keys_equal(const char *a, const char *b);

#endif
