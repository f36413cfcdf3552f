/*
 * fuzz_parsers.c: the small parsers every request goes through: phone
 * numbers, e-mail addresses, text, zone names (valid.c), RFC 3339 times and
 * their round trip through zones (timefmt.c), "HH:MM" (config.c) and phone
 * masking (log.c).
 *
 * Input: any text. The whole of it is offered to each parser; when it
 * holds a newline, what follows the first one is also tried as a zone name
 * for the time that precedes it.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "phone.h"
#include "timefmt.h"
#include "valid.h"

/* 9999-12-31T23:59:59Z: the last instant RFC 3339's four-digit year holds. */
#define FUZZ_MAX_INSTANT 253402300799LL
/* From 1980 every zone's offset is whole minutes, which RFC 3339 can say. */
#define FUZZ_WHOLE_MINUTES_FROM 315532800LL

static void
fuzz_phone_and_email(const char *s)
{
	char masked[32];
	size_t n = strlen(s);

	if (valid_e164(s)) {
		FUZZ_ASSERT(s[0] == '+' && n >= 8 && n <= 16 &&
				    strspn(s + 1, "0123456789") == n - 1,
			    "valid_e164 accepted \"%s\"", s);
		log_mask_phone(s, masked, sizeof(masked));
		FUZZ_ASSERT(strlen(masked) == n && strncmp(masked, s, 4) == 0,
			    "masking \"%s\" gave \"%s\"", s, masked);
	}
	log_mask_phone(s, masked, 20);
	FUZZ_ASSERT(memchr(masked, '\0', 20) != NULL, "mask not terminated");
	if (valid_email(s)) {
		const char *at = strchr(s, '@');
		FUZZ_ASSERT(at != NULL && at != s &&
				    strchr(at + 1, '@') == NULL && n <= 254 &&
				    strpbrk(s, " \t\r\n<>\",;") == NULL,
			    "valid_email accepted \"%s\"", s);
	}
}

/* A number the phone library accepts (as typed, read in the US) is stored
 * as E.164 that the shape check accepts, and reads back as itself. */
static void
fuzz_phone_number(const char *s)
{
	struct phone_number pn, again;
	const char *problem = NULL;

	if (strlen(s) > 40)
		return; /* the API's limit */
	if (phone_parse(s, "US", &pn, &problem) != 0) {
		FUZZ_ASSERT(problem != NULL && *problem,
			    "\"%s\" refused without a reason", s);
		return;
	}
	FUZZ_ASSERT(valid_e164(pn.e164), "\"%s\" stored as \"%s\"", s, pn.e164);
	FUZZ_ASSERT(phone_parse(pn.e164, NULL, &again, &problem) == 0 &&
			    strcmp(again.e164, pn.e164) == 0,
		    "\"%s\" as \"%s\" does not read back", s, pn.e164);
}

/* Formatting an accepted instant and parsing it again gives it back. */
static void
fuzz_round_trip(int64_t t, const char *tz)
{
	char buf[64];
	int64_t back = -1;

	timefmt_rfc3339(t, tz, buf, sizeof(buf));
	FUZZ_ASSERT(timefmt_parse_rfc3339(buf, &back) == 0 && back == t,
		    "%lld in %s wrote \"%s\", read back %lld", (long long)t,
		    tz ? tz : "UTC", buf, (long long)back);
}

static void
fuzz_time(const char *s, const char *tz)
{
	int64_t t;
	int y, mo, d, h, mi, wd;
	char buf[128];

	if (timefmt_parse_rfc3339(s, &t) == 0) {
		FUZZ_ASSERT(t >= 0 && t <= FUZZ_MAX_INSTANT,
			    "\"%s\" parsed to %lld, outside 1970..9999", s,
			    (long long)t);
		fuzz_round_trip(t, NULL);
		if (tz != NULL && valid_tz(tz)) {
			timefmt_local(t, tz, &y, &mo, &d, &h, &mi, &wd);
			FUZZ_ASSERT(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
					    h >= 0 && h <= 23 && mi >= 0 &&
					    mi <= 59 && wd >= 0 && wd <= 6,
				    "timefmt_local(%lld, %s)", (long long)t,
				    tz);
			(void)timefmt_from_local(tz, y, mo, d, h, mi, 0);
			timefmt_strftime(t, tz, "%a %d %b %H:%M", buf,
					 sizeof(buf));
			/* Local years past 9999 cannot be written at all. */
			if (t >= FUZZ_WHOLE_MINUTES_FROM &&
			    t <= FUZZ_MAX_INSTANT - 2 * 86400)
				fuzz_round_trip(t, tz);
		}
	}
	if (tz != NULL)
		(void)valid_tz(tz);
}

static void
fuzz_text_checks(const uint8_t *data, size_t size, const char *s)
{
	int hhmm;

	if (valid_text((const char *)data, size)) {
		FUZZ_ASSERT(memchr(data, '\0', size) == NULL,
			    "valid_text accepted a NUL byte");
		FUZZ_ASSERT(valid_utf8_len(s) <= size,
			    "more code points than bytes");
	}
	hhmm = config_hhmm(s);
	FUZZ_ASSERT(hhmm >= -2 && hhmm < 24 * 60, "config_hhmm(\"%s\") = %d", s,
		    hhmm);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_text(data, size);
	char *nl = strchr(s, '\n');

	fuzz_phone_number(s);
	fuzz_phone_and_email(s);
	fuzz_text_checks(data, size, s);
	fuzz_time(s, NULL);
	if (nl != NULL) {
		*nl = '\0';
		fuzz_time(s, nl + 1);
	}
	free(s);
	return 0;
}
