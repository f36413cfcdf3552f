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

#define WEBHOOK_USER_AGENT "callbackd/0.1"

/*
 * The webhook-signature header value for body, signed with each secret of
 * the space-separated list ("whsec_<base64>", prefix optional). Returns a
 * string the caller frees, or NULL when a secret is not valid base64 or
 * the list holds no secret at all.
 */
char *webhook_signature(const char *secrets, const char *msg_id, int64_t ts,
			const char *body, size_t len);

/*
 * A configured easy handle that POSTs body to url with Content-Type
 * application/json and the three webhook- headers. The handle holds a copy
 * of body (COPYPOSTFIELDS); its header list is attached with
 * curlloop_easy_attach(), so it is freed with the handle: give the handle
 * to curlloop_add(), or free it with curlloop_easy_cleanup(), never with
 * plain curl_easy_cleanup(). Returns NULL when signing fails, msg_id holds
 * a line break, or curl refuses an option.
 */
CURL *webhook_easy_new(const char *url, const char *secrets, const char *msg_id,
		       int64_t ts, const char *body);

#endif
