/* test_phone.c: numbers from many regions through libphonenumber, as
 * people type them: national with a region, international, with spaces
 * and punctuation; and the ones that must be refused, each with its
 * reason. */
#include <stdio.h>
#include <string.h>

#include "phone.h"
#include "tap.h"
#include "valid.h"

static void
test_valid_numbers(void)
{
	static const struct {
		const char *text, *region, *e164, *national;
		enum phone_line line;
	} cases[] = {
		/* US: the library cannot tell mobile from fixed. */
		{ "(303) 555-0142", "US", "+13035550142", "(303) 555-0142",
		  PHONE_LINE_FIXED_OR_MOBILE },
		{ "+1 303-499-7111", NULL, "+13034997111", "(303) 499-7111",
		  PHONE_LINE_FIXED_OR_MOBILE },
		{ "303.499.7111", "US", "+13034997111", "(303) 499-7111",
		  PHONE_LINE_FIXED_OR_MOBILE },
		/* GB */
		{ "020 7946 0018", "GB", "+442079460018", "020 7946 0018",
		  PHONE_LINE_FIXED },
		{ "+44 (0)20 7946 0018", NULL, "+442079460018", "020 7946 0018",
		  PHONE_LINE_FIXED },
		{ "07400 123456", "GB", "+447400123456", "07400 123456",
		  PHONE_LINE_MOBILE },
		/* DE */
		{ "030 12345678", "DE", "+493012345678", "030 12345678",
		  PHONE_LINE_FIXED },
		{ "+49 1512 3456789", NULL, "+4915123456789", "01512 3456789",
		  PHONE_LINE_MOBILE },
		/* IN */
		{ "98765 43210", "IN", "+919876543210", "098765 43210",
		  PHONE_LINE_MOBILE },
		{ "+91-22-2345-6789", NULL, "+912223456789", "022 2345 6789",
		  PHONE_LINE_FIXED },
		/* ES */
		{ "612 34 56 78", "ES", "+34612345678", "612 34 56 78",
		  PHONE_LINE_MOBILE },
		{ "91 123 45 67", "ES", "+34911234567", "911 23 45 67",
		  PHONE_LINE_FIXED },
		/* MX */
		{ "55 1234 5678", "MX", "+525512345678", "55 1234 5678",
		  PHONE_LINE_FIXED_OR_MOBILE },
		/* An international number read with another region. */
		{ "+34 612 34 56 78", "US", "+34612345678", "612 34 56 78",
		  PHONE_LINE_MOBILE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct phone_number n;
		const char *problem = "";
		int rc = phone_parse(cases[i].text, cases[i].region, &n,
				     &problem);

		if (!ok(rc == 0, "'%s' in %s is valid", cases[i].text,
			cases[i].region ? cases[i].region : "-")) {
			printf("# problem: %s\n", problem);
			continue;
		}
		is_str(n.e164, cases[i].e164, "'%s' as E.164", cases[i].text);
		is_str(n.national, cases[i].national, "'%s' national",
		       cases[i].text);
		is_int(n.line, cases[i].line, "'%s' line type", cases[i].text);
	}
}

static void
test_refused_numbers(void)
{
	static const struct {
		const char *text, *region, *reason;
	} cases[] = {
		{ "+999999999999", NULL, "country code" },
		{ "+4420", NULL, "too short" },
		{ "12", "US", "too short" },
		{ "hello", "US", "not a phone number" },
		{ "1-800-FLOWERS", "US", "not a phone number" },
		/* Well shaped but not a number of its country: the shape
		 * check (valid_e164) accepted these. */
		{ "+15550100100", NULL, "not a valid number" },
		{ "+44 7700 900123", NULL, "not a valid number" },
		/* National without a region cannot be read. */
		{ "(303) 555-0142", NULL, "country code" },
		{ "", "US", "not a phone number" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct phone_number n;
		const char *problem = NULL;

		ok(phone_parse(cases[i].text, cases[i].region, &n, &problem) ==
			   -1,
		   "'%s' refused", cases[i].text);
		ok(problem != NULL && strstr(problem, cases[i].reason),
		   "'%s': '%s' says '%s'", cases[i].text,
		   problem ? problem : "(none)", cases[i].reason);
	}
}

int
main(void)
{
	char region[8], national[48];
	struct phone_number n;
	struct cbd_err err;

	test_valid_numbers();
	test_refused_numbers();
	phone_region_of_zone("America/Denver", region, sizeof(region));
	is_str(region, "US", "Denver is in the US");
	phone_region_of_zone("Asia/Kolkata", region, sizeof(region));
	is_str(region, "IN", "Kolkata is in India");
	phone_region_of_zone("Europe/Madrid", region, sizeof(region));
	is_str(region, "ES", "Madrid is in Spain");
	phone_region_of_zone("UTC", region, sizeof(region));
	is_str(region, "", "UTC is in no country");
	ok(phone_region_known("MX") && !phone_region_known("XX") &&
		   !phone_region_known("usa"),
	   "regions known and not");
	phone_national("+13035550142", national, sizeof(national));
	is_str(national, "(303) 555-0142", "national form of a stored number");
	memset(&err, 0, sizeof(err));
	ok(valid_phone("+4420", NULL, "customer.phone", &n, &err) == -1 &&
		   err.status == 400 && !strcmp(err.type, "invalid-phone") &&
		   !strcmp(err.field, "customer.phone") &&
		   strstr(err.detail, "too short"),
	   "valid_phone: 400 invalid-phone on the field, naming the problem");
	return tap_done();
}
