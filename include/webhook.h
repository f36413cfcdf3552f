/*
 * webhook.h: signed JSON POSTs per the Standard Webhooks spec: headers
 * webhook-id (the outbox message id, the same on every retry),
 * webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>", one signature per configured whsec_ secret.
 */
#ifndef CBD_WEBHOOK_H
#define CBD_WEBHOOK_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The webhook-signature header value for body, signed with each secret of
 * the space-separated list ("whsec_<base64>", prefix optional). Returns a
 * string the caller frees, or NULL when a secret is not valid base64.
 */
char *webhook_signature(const char *secrets, const char *msg_id, int64_t ts,
			const char *body, size_t len);

/*
 * A configured easy handle that POSTs body to url with the three headers.
 * The handle owns copies of everything it sends (COPYPOSTFIELDS) and frees its
 * header list when cleaned up by curlloop (stored as CURLOPT_PRIVATE is NOT
 * used: see webhook.c). Returns NULL when signing fails.
 */
CURL *webhook_easy_new(const char *url, const char *secrets,
		       const char *msg_id, int64_t ts, const char *body);

#endif
