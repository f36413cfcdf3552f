/*
 * sms_sign.h: checking that an inbound SMS request (a reply, a delivery
 * receipt) really comes from the SMS provider. Twilio signs its form POSTs
 * with X-Twilio-Signature; the generic gateway signs per Standard
 * Webhooks, as the daemon signs what it sends.
 */
#ifndef CBD_SMS_SIGN_H
#define CBD_SMS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct evkeyvalq;

/* Receivers reject timestamps further than this from now (the spec's
 * "about five minutes"). */
#define SMS_SIGN_TOLERANCE_SEC 300

/*
 * Twilio's signature of a POST to url with these form fields:
 * base64(HMAC-SHA1(auth_token, url + each name and value, sorted by name
 * then value)). Returns a string the caller frees.
 */
char *sms_sign_twilio(const char *auth_token, const char *url,
		      const struct evkeyvalq *fields);
/*
 * Does header (X-Twilio-Signature, may be NULL) match? Compared in
 * constant time. 1 yes, 0 no.
 */
int sms_sign_twilio_ok(const char *auth_token, const char *url,
		       const struct evkeyvalq *fields, const char *header);
/*
 * Standard Webhooks check of an inbound request: id, ts and sigs are the
 * webhook-id, webhook-timestamp and webhook-signature headers (NULL when
 * absent); any one v1 signature by any one of secrets will do; ts must be
 * within SMS_SIGN_TOLERANCE_SEC of now. Returns 0, or -1 with err: 401
 * when headers are missing, 403 invalid-signature otherwise.
 */
int sms_sign_webhook_check(const char *secrets, const char *id, const char *ts,
			   const char *sigs, const char *body, size_t len,
			   int64_t now, struct cbd_err *err) CBD_MUSTCHECK;

#endif
