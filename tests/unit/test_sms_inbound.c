/* test_sms_inbound.c: what a reply means, Twilio's signature, receipts. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common.h"
#include "sms_inbound.h"
#include "sms_receipt.h"
#include "sms_sign.h"
#include "tap.h"

static void
test_classify(void)
{
	static const struct {
		const char *body;
		enum sms_inbound_kind want;
	} cases[] = {
		{ "STOP", SMS_INBOUND_STOP },
		{ " stop ", SMS_INBOUND_STOP },
		{ "Stop.", SMS_INBOUND_STOP },
		{ "STOPALL", SMS_INBOUND_STOP },
		{ "unsubscribe", SMS_INBOUND_STOP },
		{ "Cancel", SMS_INBOUND_STOP }, /* a carrier word: opts out */
		{ "END", SMS_INBOUND_STOP },
		{ "quit!", SMS_INBOUND_STOP },
		{ "START", SMS_INBOUND_START },
		{ "unstop", SMS_INBOUND_START },
		{ "Yes", SMS_INBOUND_START },
		{ "C", SMS_INBOUND_CANCEL },
		{ "\tc ", SMS_INBOUND_CANCEL },
		{ "Cancelar", SMS_INBOUND_CANCEL },
		{ "ABSAGEN", SMS_INBOUND_CANCEL },
		{ "stornieren", SMS_INBOUND_CANCEL },
		{ "रद्द", SMS_INBOUND_CANCEL },
		{ "please stop calling me at work", SMS_INBOUND_OTHER },
		{ "STOP it", SMS_INBOUND_OTHER },
		{ "CC", SMS_INBOUND_OTHER },
		{ "", SMS_INBOUND_OTHER },
		{ "stopp", SMS_INBOUND_OTHER },
	};

	for (size_t i = 0; i < CBD_ARRAY_LEN(cases); i++)
		is_int(sms_inbound_classify(cases[i].body), cases[i].want,
		       "classify '%s'", cases[i].body);
	is_int(sms_inbound_classify(NULL), SMS_INBOUND_OTHER, "classify NULL");
}

static void
test_twilio_signature(void)
{
	struct evkeyvalq f;
	const char *url = "https://example.com/v1/sms/twilio/replies";
	/* Computed independently (Python hmac) from Twilio's description. */
	const char *want = "08LK7Ok67JgF9Yo11KzwM6BQCQ0=";
	char *sig;

	TAILQ_INIT(&f);
	evhttp_add_header(&f, "MessageSid", "SM1");
	evhttp_add_header(&f, "From", "+14155550100");
	evhttp_add_header(&f, "Body", "STOP");
	evhttp_add_header(&f, "To", "+15005550006");
	evhttp_add_header(&f, "A", "b");
	sig = sms_sign_twilio("12345", url, &f);
	is_str(sig, want, "signature of a known request");
	free(sig);
	ok(sms_sign_twilio_ok("12345", url, &f, want), "matches");
	ok(!sms_sign_twilio_ok("12346", url, &f, want), "another token");
	ok(!sms_sign_twilio_ok("12345", "https://example.com/other", &f, want),
	   "another URL");
	ok(!sms_sign_twilio_ok("12345", url, &f, NULL), "no header");
	ok(!sms_sign_twilio_ok("", url, &f, want), "no token configured");
	ok(!sms_sign_twilio_ok("12345", url, &f, "08LK7Ok67JgF9Yo11KzwM6BQCQ0"),
	   "a prefix of the signature");
	evhttp_clear_headers(&f);
}

static void
test_receipts(void)
{
	ok(sms_receipt_status_known("delivered"), "delivered known");
	ok(sms_receipt_status_known("undelivered"), "undelivered known");
	ok(!sms_receipt_status_known("lost"), "lost unknown");
	ok(!sms_receipt_status_known(NULL), "NULL unknown");
	ok(sms_receipt_code_is_permanent("30005"), "30005 permanent");
	ok(sms_receipt_code_is_permanent("21610"), "21610 permanent");
	ok(!sms_receipt_code_is_permanent("30003"), "30003 (phone off) not");
	ok(!sms_receipt_code_is_permanent(NULL), "no code not");
}

int
main(void)
{
	test_classify();
	test_twilio_signature();
	test_receipts();
	return tap_done();
}
