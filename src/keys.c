/* keys.c: secret generation and hashing with libcrypto. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "keys.h"
#include "log.h"
#include "xalloc.h"

static void
keys_random(unsigned char *buf, int n)
{
	/* Without randomness no secret is safe to hand out: stop. */
	if (RAND_bytes(buf, n) != 1)
		log_fatal("no randomness", "source=RAND_bytes");
}

/* base64url without padding (safe in URLs and headers) of n <= 32 bytes
 * into b64, which holds 64. */
static void
keys_b64url(const unsigned char *raw, int len, char b64[64])
{
	int n = EVP_EncodeBlock((unsigned char *)b64, raw, len);

	for (int i = 0; i < n; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
}

char *
keys_generate(const char *prefix)
{
	unsigned char raw[32];
	char b64[64];

	keys_random(raw, sizeof(raw));
	keys_b64url(raw, sizeof(raw), b64);
	return xasprintf("%s%s", prefix, b64);
}

void
keys_digest_hex(const void *data, unsigned long len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		log_fatal("sha256 failed", "len=%lu", len);
	for (unsigned int i = 0; i < mdlen; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[2 * mdlen] = '\0';
}

void
keys_hash_hex(const char *token, char *out)
{
	keys_digest_hex(token, strlen(token), out);
}

void
keys_uuid(char *out)
{
	unsigned char b[16];

	keys_random(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Set once at start-up before any thread reads it. */
static char *keys_link_secret;

void
keys_set_link_secret(const char *secret)
{
	free(keys_link_secret);
	keys_link_secret = secret ? xstrdup(secret) : NULL;
}

/* The link secret's HMAC-SHA256 of msg, base64url: tokens the daemon can
 * check again without storing them. */
static void
keys_link_mac(const char *msg, char b64[64])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (keys_link_secret == NULL)
		log_fatal("link secret not loaded", "%s", "");
	HMAC(EVP_sha256(), keys_link_secret, (int)strlen(keys_link_secret),
	     (const unsigned char *)msg, strlen(msg), mac, &maclen);
	keys_b64url(mac, (int)maclen, b64);
}

void
keys_manage_token(int64_t id, char *out, size_t size)
{
	char msg[48], b64[64];

	snprintf(msg, sizeof(msg), "manage:%lld", (long long)id);
	keys_link_mac(msg, b64);
	/* a SHA-256 MAC is 43 characters of base64url */
	snprintf(out, size, "%s%.43s", KEYS_MANAGE_PREFIX, b64);
}

int
keys_manage_token_ok(int64_t id, const char *token)
{
	char want[64];

	if (token == NULL)
		return 0;
	keys_manage_token(id, want, sizeof(want));
	return keys_equal(want, token);
}

void
keys_csrf_token(const char *session_token, char *out, size_t size)
{
	char *msg = xasprintf("csrf:%s", session_token), b64[64];

	keys_link_mac(msg, b64);
	free(msg);
	snprintf(out, size, "%s", b64);
}

int
keys_equal(const char *a, const char *b)
{
	size_t n;

	if (a == NULL || b == NULL)
		return 0;
	n = strlen(a);
	return strlen(b) == n && CRYPTO_memcmp(a, b, n) == 0;
}
