/*
 * webhook.c: Standard Webhooks signing and the signed JSON POST.
 *
 * The receiver recomputes HMAC-SHA256 over "{id}.{timestamp}.{body}" with
 * the shared secret, so the id, the timestamp and the exact body bytes that
 * were signed must be the ones sent: the handle copies the body, and the
 * headers are built from the same values in the same call.
 *
 * Several secrets (rotation) give several space-separated signatures; the
 * receiver accepts the message when any one of them matches.
 */
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "curlloop.h"
#include "webhook.h"
#include "xalloc.h"

#define WEBHOOK_SECRET_PREFIX "whsec_"

static const char webhook_b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Decode standard, padded base64 into a new buffer of *out_len bytes.
 * EVP_DecodeBlock alone accepts '=' anywhere and counts padding as zero
 * bytes, so the input is checked and the padding subtracted here. Returns
 * NULL on anything but well-formed, non-empty base64.
 */
static unsigned char *
webhook_b64_decode(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out;
	size_t pad = 0;
	size_t i;
	int n;

	if (len == 0 || len % 4 != 0 || len > INT32_MAX)
		return NULL;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		if (in[i] == '\0' ||
		    strchr(webhook_b64_alphabet, in[i]) == NULL)
			return NULL;
	}
	out = xmalloc(len / 4 * 3);
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad == 0) {
		free(out);
		return NULL;
	}
	*out_len = (size_t)n - pad;
	return out;
}

/* "v1,<base64>" for content signed with one secret, or NULL. */
static char *
webhook_sign_one(const char *secret, size_t secret_len,
		 const unsigned char *content, size_t content_len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned char *key = NULL;
	size_t key_len = 0;
	size_t plen = strlen(WEBHOOK_SECRET_PREFIX);
	char *sig = NULL;

	if (secret_len >= plen &&
	    strncmp(secret, WEBHOOK_SECRET_PREFIX, plen) == 0) {
		secret += plen;
		secret_len -= plen;
	}
	key = webhook_b64_decode(secret, secret_len, &key_len);
	if (key == NULL)
		goto out;
	if (HMAC(EVP_sha256(), key, (int)key_len, content, content_len, md,
		 &md_len) == NULL)
		goto out;
	EVP_EncodeBlock(b64, md, (int)md_len);
	sig = xasprintf("v1,%s", (const char *)b64);
out:
	if (key != NULL) {
		/* The key is the shared secret: leave no copy in the heap. */
		OPENSSL_cleanse(key, key_len);
		free(key);
	}
	return sig;
}

char *
webhook_signature(const char *secrets, const char *msg_id, int64_t ts,
		  const char *body, size_t len)
{
	static const char sep[] = " \t";
	unsigned char *content = NULL;
	char *prefix = NULL;
	char *result = NULL;
	size_t prefix_len;
	const char *p;
	int ok = 0;

	prefix = xasprintf("%s.%" PRId64 ".", msg_id, ts);
	prefix_len = strlen(prefix);
	content = xmalloc(prefix_len + len);
	memcpy(content, prefix, prefix_len);
	memcpy(content + prefix_len, body, len);

	for (p = secrets + strspn(secrets, sep); *p != '\0';
	     p += strspn(p, sep)) {
		size_t n = strcspn(p, sep);
		char *one = webhook_sign_one(p, n, content, prefix_len + len);
		char *joined;

		if (one == NULL)
			goto out;
		joined = result == NULL ? xstrdup(one)
					: xasprintf("%s %s", result, one);
		free(one);
		free(result);
		result = joined;
		p += n;
	}
	ok = result != NULL;
out:
	free(prefix);
	free(content);
	if (!ok) {
		free(result);
		result = NULL;
	}
	return result;
}

CURL *
webhook_easy_new(const char *url, const char *secrets, const char *msg_id,
		 int64_t ts, const char *body)
{
	struct curl_slist *headers = NULL;
	CURL *easy = NULL;
	char *sig = NULL;
	size_t len = strlen(body);
	int bad = 0;

	/* msg_id goes into a header line; a line break would forge headers. */
	if (strpbrk(msg_id, "\r\n") != NULL)
		goto out;
	/* No secret configured: the message goes unsigned (the operator was
	 * warned at start-up) rather than not at all. A secret that is set
	 * but not valid base64 is refused by the config check. */
	if (secrets != NULL && secrets[strspn(secrets, " ")] != '\0') {
		sig = webhook_signature(secrets, msg_id, ts, body, len);
		if (sig == NULL)
			goto out;
	}
	easy = curl_easy_init();
	if (easy == NULL)
		goto out;

	headers = curlloop_slist_add(headers, "Content-Type: application/json");
	/* An empty Expect: stops curl waiting for 100-continue on big bodies.
	 */
	headers = curlloop_slist_add(headers, "Expect:");
	headers = curlloop_slist_add(headers, "webhook-id: %s", msg_id);
	headers =
		curlloop_slist_add(headers, "webhook-timestamp: %" PRId64, ts);
	if (sig != NULL)
		headers = curlloop_slist_add(headers, "webhook-signature: %s",
					     sig);
	bad |= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	curlloop_easy_attach(easy, headers, NULL, NULL);
	headers = NULL; /* the handle owns it now */

	bad |= curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK;
	/* A configured URL may not reach file:// or other schemes. */
	bad |= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_USERAGENT, WEBHOOK_USER_AGENT) !=
	       CURLE_OK;
	/* The size first, so COPYPOSTFIELDS copies exactly the signed bytes. */
	bad |= curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
				(curl_off_t)len) != CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK;
	if (bad) {
		curlloop_easy_cleanup(easy);
		easy = NULL;
	}
out:
	curl_slist_free_all(headers);
	free(sig);
	return easy;
}
