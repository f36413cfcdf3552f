/*
 * sms.c: the Twilio-compatible form POST.
 *
 * Twilio's Messages resource takes application/x-www-form-urlencoded fields
 * (To, From or MessagingServiceSid, Body) with HTTP basic auth of the
 * account SID and auth token. The outbox id goes out as Twilio's
 * idempotency token, so a retry after a lost response does not text the
 * customer twice. The generic gateway needs no code here: it is a signed
 * webhook whose JSON body the outbox builds.
 */
#include <stdlib.h>
#include <string.h>

#include "curlloop.h"
#include "sms.h"
#include "webhook.h" /* WEBHOOK_USER_AGENT */
#include "xalloc.h"

/*
 * Append "&name=<escaped value>" (no '&' on the first field) to *form.
 * curl_easy_escape percent-encodes everything but unreserved characters,
 * which is valid form encoding. Returns 0, or -1 if curl fails.
 */
static int
sms_form_add(CURL *easy, char **form, const char *name, const char *value)
{
	char *esc = curl_easy_escape(easy, value, 0);
	char *joined;

	if (esc == NULL)
		return -1;
	if (*form == NULL)
		joined = xasprintf("%s=%s", name, esc);
	else
		joined = xasprintf("%s&%s=%s", *form, name, esc);
	curl_free(esc);
	free(*form);
	*form = joined;
	return 0;
}

/* True when s would break out of a URL path segment or a header line. */
static int
sms_is_unsafe(const char *s)
{
	return s == NULL || *s == '\0' || strpbrk(s, "/?#\r\n") != NULL;
}

CURL *
sms_twilio_easy_new(const struct sms_twilio *tw, const struct sms_msg *m)
{
	struct curl_slist *headers = NULL;
	const char *sender_field, *sender;
	CURL *easy = NULL;
	char *form = NULL;
	char *url = NULL;
	size_t base_len;
	int bad = 0;

	if (tw->messaging_service_sid != NULL &&
	    tw->messaging_service_sid[0] != '\0') {
		/* Twilio prefers the service when given; send only one. */
		sender_field = "MessagingServiceSid";
		sender = tw->messaging_service_sid;
	} else {
		sender_field = "From";
		sender = tw->from;
	}
	if (sender == NULL || m->to == NULL || m->body == NULL ||
	    tw->auth_token == NULL || sms_is_unsafe(tw->account_sid) ||
	    sms_is_unsafe(m->msg_id))
		goto out;
	easy = curl_easy_init();
	if (easy == NULL)
		goto out;

	base_len = strlen(tw->base_url);
	while (base_len > 0 && tw->base_url[base_len - 1] == '/')
		base_len--;
	url = xasprintf("%.*s/2010-04-01/Accounts/%s/Messages.json",
			(int)base_len, tw->base_url, tw->account_sid);
	if (sms_form_add(easy, &form, "To", m->to) != 0 ||
	    sms_form_add(easy, &form, sender_field, sender) != 0 ||
	    sms_form_add(easy, &form, "Body", m->body) != 0 ||
	    (tw->status_callback != NULL &&
	     sms_form_add(easy, &form, "StatusCallback", tw->status_callback) !=
		     0)) {
		bad = 1;
		goto out;
	}

	headers = curlloop_slist_add(
		headers, "Content-Type: application/x-www-form-urlencoded");
	headers = curlloop_slist_add(headers, "Accept: application/json");
	headers = curlloop_slist_add(headers, "Expect:");
	headers = curlloop_slist_add(headers, "I-Twilio-Idempotency-Token: %s",
				     m->msg_id);
	bad |= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	curlloop_easy_attach(easy, headers, NULL, NULL);
	headers = NULL; /* the handle owns it now */

	bad |= curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_USERAGENT, WEBHOOK_USER_AGENT) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_USERNAME, tw->account_sid) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_PASSWORD, tw->auth_token) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, form) != CURLE_OK;
out:
	if (bad) {
		curlloop_easy_cleanup(easy);
		easy = NULL;
	}
	free(url);
	free(form);
	return easy;
}

int
sms_status_is_retriable(long http_status)
{
	/* 0: no response at all (connect failure, timeout): try again. */
	return http_status == 0 || http_status == 429 ||
	       (http_status >= 500 && http_status <= 599);
}
