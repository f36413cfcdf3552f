/*
 * sms.h: text messages out through an HTTP gateway: either the generic
 * signed webhook (JSON {to, body, ...}) or a Twilio-compatible form POST to
 * .../Accounts/{sid}/Messages.json with basic auth, so a real account works
 * by configuration alone.
 */
#ifndef CBD_SMS_H
#define CBD_SMS_H

#include <curl/curl.h>
#include <stdint.h>

struct sms_msg {
	const char *msg_id; /* outbox id: idempotency key */
	const char *to;     /* E.164 */
	const char *body;   /* UTF-8 text */
};

struct sms_twilio {
	const char *base_url; /* https://api.twilio.com or a test receiver */
	const char *account_sid;
	const char *auth_token;
	const char *from; /* E.164, or NULL when service_sid is set */
	const char *messaging_service_sid;
	const char *status_callback; /* StatusCallback URL, or NULL */
};

/*
 * Twilio-compatible form POST of m, with msg_id as the
 * I-Twilio-Idempotency-Token. Strings are copied; the header list is
 * attached with curlloop_easy_attach(), so give the handle to curlloop_add()
 * or free it with curlloop_easy_cleanup(). Returns NULL when neither from nor
 * messaging_service_sid is set, the SID or msg_id would break the URL or a
 * header, or curl refuses an option.
 */
CURL *sms_twilio_easy_new(const struct sms_twilio *tw, const struct sms_msg *m);
/*
 * Is this HTTP status worth retrying (429, 5xx, or 0 for no response at
 * all) rather than final?
 */
int sms_status_is_retriable(long http_status);

#endif
