/*
 * sms_sign.c: inbound signature checks for the SMS provider's requests.
 *
 * Both schemes are HMACs over exactly what was sent, so the caller passes
 * the URL the provider was configured with (public_url plus the path and
 * query it asked for: behind a proxy the daemon's own view of its address
 * differs) and the body bytes as they came. Every comparison of a secret
 * value is constant-time (CRYPTO_memcmp), so timing tells an attacker
 * nothing about how much of a forged signature was right.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "keys.h"
#include "sms_sign.h"
#include "webhook.h"
#include "xalloc.h"

static int
sms_sign_cmp_kv(const void *a, const void *b)
{
	const struct evkeyval *x = *(const struct evkeyval *const *)a;
	const struct evkeyval *y = *(const struct evkeyval *const *)b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

char *
sms_sign_twilio(const char *auth_token, const char *url,
		const struct evkeyvalq *fields)
{
	const struct evkeyval **v = NULL;
	const struct evkeyval *kv;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *content = NULL, *out;
	size_t n = 0, len = 0;
	FILE *f;

	TAILQ_FOREACH(kv, fields, next)
	n++;
	v = xcalloc(n ? n : 1, sizeof(*v));
	n = 0;
	TAILQ_FOREACH(kv, fields, next)
	v[n++] = kv;
	qsort(v, n, sizeof(*v), sms_sign_cmp_kv);
	f = open_memstream(&content, &len);
	fputs(url, f);
	for (size_t i = 0; i < n; i++) {
		fputs(v[i]->key, f);
		fputs(v[i]->value, f);
	}
	fclose(f);
	HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token),
	     (const unsigned char *)content, len, md, &md_len);
	out = xmalloc(4 * ((md_len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
	free(content);
	free(v);
	return out;
}

int
sms_sign_twilio_ok(const char *auth_token, const char *url,
		   const struct evkeyvalq *fields, const char *header)
{
	char *want;
	int ok;

	if (header == NULL || auth_token == NULL || auth_token[0] == '\0')
		return 0;
	want = sms_sign_twilio(auth_token, url, fields);
	ok = keys_equal(header, want);
	free(want);
	return ok;
}

/* Is one of the space-separated signatures in have among those in want? */
static int
sms_sign_any_match(const char *have, const char *want)
{
	int found = 0;

	for (const char *h = have; *h != '\0';) {
		size_t hl = strcspn(h, " ");
		for (const char *w = want; *w != '\0';) {
			size_t wl = strcspn(w, " ");
			/* Every pair is compared: no early exit on a match. */
			if (hl == wl && hl > 3 && CRYPTO_memcmp(h, w, hl) == 0)
				found = 1;
			w += wl;
			w += strspn(w, " ");
		}
		h += hl;
		h += strspn(h, " ");
	}
	return found;
}

int
sms_sign_webhook_check(const char *secrets, const char *id, const char *ts,
		       const char *sigs, const char *body, size_t len,
		       int64_t now, struct cbd_err *err)
{
	char *want = NULL, *end = NULL;
	long long t;
	int rc = -1;

	if (id == NULL || ts == NULL || sigs == NULL) {
		cbd_err_set(err, 401, "unauthorized", "webhook-signature",
			    "webhook-id, webhook-timestamp and "
			    "webhook-signature are required");
		return -1;
	}
	t = strtoll(ts, &end, 10);
	if (end == ts || *end != '\0' || t < now - SMS_SIGN_TOLERANCE_SEC ||
	    t > now + SMS_SIGN_TOLERANCE_SEC) {
		cbd_err_set(err, 403, "invalid-signature", "webhook-timestamp",
			    "webhook-timestamp is not within %d seconds of now",
			    SMS_SIGN_TOLERANCE_SEC);
		return -1;
	}
	if (strpbrk(id, "\r\n") == NULL && secrets != NULL &&
	    secrets[strspn(secrets, " ")] != '\0')
		want = webhook_signature(secrets, id, t, body, len);
	if (want == NULL || !sms_sign_any_match(sigs, want)) {
		cbd_err_set(err, 403, "invalid-signature", "webhook-signature",
			    "no signature matches a configured secret");
		goto out;
	}
	rc = 0;
out:
	free(want);
	return rc;
}
