/*
 * test_webhook.c: Standard Webhooks signatures against the spec's published
 * test vector, secret rotation, malformed secrets, and the request builders
 * of webhook, sms and mailer (without sending; test_curlloop sends).
 */
#include <stdlib.h>
#include <string.h>

#include "curlloop.h"
#include "mailer.h"
#include "sms.h"
#include "tap.h"
#include "webhook.h"

/* The test vector of the Standard Webhooks reference libraries. */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS     1614265330
#define VEC_BODY   "{\"test\": 2432232314}"
#define VEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static char *
sign(const char *secrets)
{
	return webhook_signature(secrets, VEC_ID, VEC_TS, VEC_BODY,
				 strlen(VEC_BODY));
}

static void
test_vector(void)
{
	char *sig = sign(VEC_SECRET);

	is_str(sig, VEC_SIG, "official test vector");
	free(sig);
	sig = sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
	is_str(sig, VEC_SIG, "whsec_ prefix is optional");
	free(sig);
	sig = webhook_signature(VEC_SECRET, VEC_ID, VEC_TS + 1, VEC_BODY,
				strlen(VEC_BODY));
	ok(sig != NULL && strcmp(sig, VEC_SIG) != 0,
	   "another timestamp gives another signature");
	free(sig);
	/* len, not strlen, bounds the signed body. */
	sig = webhook_signature(VEC_SECRET, VEC_ID, VEC_TS, VEC_BODY "tail",
				strlen(VEC_BODY));
	is_str(sig, VEC_SIG, "only len bytes of body are signed");
	free(sig);
}

static void
test_rotation(void)
{
	char *a = sign(VEC_SECRET);
	char *b = sign("whsec_c2Vjb25kLXNlY3JldC1rZXk=");
	char *both = sign(VEC_SECRET " whsec_c2Vjb25kLXNlY3JldC1rZXk=");
	char *spaced =
		sign("  " VEC_SECRET "   whsec_c2Vjb25kLXNlY3JldC1rZXk= ");
	char *want = NULL;

	ok(a != NULL && b != NULL, "both secrets sign");
	if (a != NULL && b != NULL) {
		want = malloc(strlen(a) + strlen(b) + 2);
		strcpy(want, a);
		strcat(want, " ");
		strcat(want, b);
	}
	is_str(both, want, "two secrets give two space-separated signatures");
	is_str(spaced, want, "extra spaces between secrets are ignored");
	free(a);
	free(b);
	free(both);
	free(spaced);
	free(want);
}

static void
test_bad_secrets(void)
{
	static const struct {
		const char *secrets;
		const char *why;
	} cases[] = {
		{ "whsec_!!!!", "characters outside base64" },
		{ "whsec_abc", "length not a multiple of four" },
		{ "whsec_a=bc", "padding in the middle" },
		{ "whsec_a===", "three padding characters" },
		{ "whsec_", "prefix without a key" },
		{ "", "no secret at all" },
		{ "   ", "only spaces" },
		{ VEC_SECRET " whsec_%%%%", "one bad secret among good ones" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *sig = sign(cases[i].secrets);

		ok(sig == NULL, "rejected: %s", cases[i].why);
		free(sig);
	}
}

static void
test_webhook_easy(void)
{
	CURL *easy;

	easy = webhook_easy_new("http://127.0.0.1:9/hook", VEC_SECRET, VEC_ID,
				VEC_TS, VEC_BODY);
	ok(easy != NULL, "webhook handle built");
	curlloop_easy_cleanup(easy);
	easy = webhook_easy_new("http://127.0.0.1:9/hook", "whsec_!!!!", VEC_ID,
				VEC_TS, VEC_BODY);
	ok(easy == NULL, "no handle when signing fails");
	easy = webhook_easy_new("http://127.0.0.1:9/hook", VEC_SECRET,
				"msg_1\r\nX-Evil: 1", VEC_TS, VEC_BODY);
	ok(easy == NULL, "no handle when msg_id holds a line break");
	curlloop_easy_cleanup(NULL);
	ok(1, "curlloop_easy_cleanup(NULL) is a no-op");
}

static void
test_sms_easy(void)
{
	struct sms_twilio tw = {
		.base_url = "http://127.0.0.1:9/",
		.account_sid = "AC123",
		.auth_token = "token",
		.from = "+15550001111",
	};
	struct sms_msg m = {
		.msg_id = "out_1",
		.to = "+15552223333",
		.body = "Your callback is at 10:30 & on time",
	};
	static const struct {
		long status;
		int want;
	} statuses[] = {
		{ 0, 1 },   { 200, 0 }, { 201, 0 }, { 400, 0 }, { 401, 0 },
		{ 404, 0 }, { 429, 1 }, { 500, 1 }, { 503, 1 }, { 599, 1 },
	};
	CURL *easy;
	size_t i;

	easy = sms_twilio_easy_new(&tw, &m);
	ok(easy != NULL, "sms handle built with From");
	curlloop_easy_cleanup(easy);
	tw.from = NULL;
	easy = sms_twilio_easy_new(&tw, &m);
	ok(easy == NULL, "no sms handle without From or service");
	tw.messaging_service_sid = "MG456";
	easy = sms_twilio_easy_new(&tw, &m);
	ok(easy != NULL, "sms handle built with MessagingServiceSid");
	curlloop_easy_cleanup(easy);
	tw.account_sid = "AC1/../x";
	easy = sms_twilio_easy_new(&tw, &m);
	ok(easy == NULL, "no sms handle when the SID would leave the path");
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		is_int(sms_status_is_retriable(statuses[i].status),
		       statuses[i].want, "status %ld retriable: %d",
		       statuses[i].status, statuses[i].want);
}

static void
test_mailer(void)
{
	static const struct {
		const char *in;
		const char *want;
	} headers[] = {
		{ "Callback booked", "Callback booked" },
		{ "Two\r\nBcc: x@example.org", "Two  Bcc: x@example.org" },
		{ "Rückruf", "=?UTF-8?B?UsO8Y2tydWY=?=" },
		/*
		 * 44 ASCII bytes and a 2-byte character: a 45-byte word would
		 * cut the character, so it moves to the next word.
		 */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé",
		  "=?UTF-8?B?YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"
		  "YWFhYWFhYWFhYWFhYWE=?= =?UTF-8?B?w6k=?=" },
	};
	struct mailer_msg m = {
		.smtp_url = "smtp://127.0.0.1:9",
		.from = "callbacks@example.org",
		.from_name = "Support \"Desk\"",
		.to = "customer@example.com",
		.subject = "Your callback",
		.text = "We will call you.\r\n",
		.ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n"
		       "END:VCALENDAR\r\n",
		.ics_method = "REQUEST",
		.message_id = "<cb-1@example.org>",
		.date = 1795425000,
	};
	CURL *easy;
	size_t i;

	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		char *got = mailer_header_text(headers[i].in);

		is_str(got, headers[i].want, "header text %zu", i);
		free(got);
	}
	easy = mailer_easy_new(&m);
	ok(easy != NULL, "mail handle built");
	curlloop_easy_cleanup(easy);
	m.ics_method = "CANCEL";
	easy = mailer_easy_new(&m);
	ok(easy == NULL, "no mail handle when method differs from METHOD");
	m.ics_method = "REQUEST; x=y";
	easy = mailer_easy_new(&m);
	ok(easy == NULL, "no mail handle when method is not a token");
	m.ics_method = "REQUEST";
	m.to = "a@example.com>\r\nBcc: <b@example.com";
	easy = mailer_easy_new(&m);
	ok(easy == NULL, "no mail handle for a malformed address");
	m.to = "customer@example.com";
	m.message_id = "cb-1@example.org";
	easy = mailer_easy_new(&m);
	ok(easy == NULL, "no mail handle when Message-ID lacks brackets");
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_vector();
	test_rotation();
	test_bad_secrets();
	test_webhook_easy();
	test_sms_easy();
	test_mailer();
	curl_global_cleanup();
	return tap_done();
}
