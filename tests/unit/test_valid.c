/* test_valid.c: input validators, cases in tests/unit/data/e164.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"
#include "valid.h"

static void
test_e164_file(void)
{
	const char *dir = getenv("srcdir");
	char path[512], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/unit/data/e164.txt",
		 dir ? dir : ".");
	f = fopen(path, "r");
	if (!ok(f != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), f)) {
		char *sp;
		int want;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		sp = strrchr(line, ' ');
		want = atoi(sp + 1);
		*sp = '\0';
		is_int(valid_e164(line), want, "e164 '%s'", line);
	}
	fclose(f);
}

int
main(void)
{
	static const struct {
		const char *s;
		int want;
	} texts[] = {
		{ "plain", 1 },
		{ "caf\xc3\xa9", 1 },
		{ "\xe2\x82\xac 5", 1 },
		{ "emoji \xf0\x9f\x98\x80", 1 },
		{ "tab\tand\nnewline", 1 },
		{ "bad \xc3", 0 },
		{ "overlong \xc0\xaf", 0 },
		{ "surrogate \xed\xa0\x80", 0 },
		{ "too big \xf4\x90\x80\x80", 0 },
		{ "bell \x07", 0 },
		{ "stray \x80", 0 },
	};

	test_e164_file();
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		is_int(valid_text(texts[i].s, strlen(texts[i].s)),
		       texts[i].want, "text %zu", i);
	ok(!valid_text("a\0b", 3), "NUL rejected");
	is_int(valid_utf8_len("caf\xc3\xa9"), 4, "code points counted");
	ok(valid_email("ada@example.com"), "email ok");
	ok(!valid_email("ada@example"), "email without dot in domain");
	ok(!valid_email("a da@example.com"), "email with space");
	ok(!valid_email("@example.com"), "email without local part");
	ok(!valid_email("a@b@example.com"), "two @");
	/* Addresses that look right at a glance but have an empty label, a
	 * dot in the wrong place or a bad label. */
	{
		static const struct {
			const char *s;
			int want;
		} emails[] = {
			{ "a@b.co", 1 },
			{ "first.last+tag@mail.example.org", 1 },
			{ "x@xn--bcher-kva.example", 1 },
			{ "a@b..c", 0 },
			{ "a@.b.c", 0 },
			{ "a@b.c.", 0 },
			{ "a@b.c..", 0 },
			{ ".a@b.c", 0 },
			{ "a.@b.c", 0 },
			{ "a..b@c.d", 0 },
			{ "a@-b.c", 0 },
			{ "a@b-.c", 0 },
			{ "a@b_c.d", 0 },
			{ "a@1.2.3.4", 0 },
			{ "a@[1.2.3.4]", 0 },
			{ "a(b)@c.d", 0 },
		};
		for (size_t i = 0; i < CBD_ARRAY_LEN(emails); i++)
			is_int(valid_email(emails[i].s), emails[i].want,
			       "email '%s'", emails[i].s);
	}
	/* Names that render as nothing: ASCII and Unicode spaces, no-break
	 * spaces, zero-width characters. */
	{
		static const struct {
			const char *s;
			int want;
		} blanks[] = {
			{ "", 1 },
			{ " \t\n", 1 },
			{ "\xc2\xa0", 1 },                 /* U+00A0 */
			{ "\xc2\xa0\xc2\xa0 ", 1 },        /* NBSP x2 */
			{ "\xe2\x80\x87", 1 },             /* U+2007 */
			{ "\xe2\x80\xaf", 1 },             /* U+202F */
			{ "\xe3\x80\x80", 1 },             /* U+3000 */
			{ "\xe2\x80\x8b\xef\xbb\xbf", 1 }, /* ZWSP BOM */
			{ "\xe1\x9a\x80\xe2\x81\x9f", 1 }, /* U+1680 205F */
			{ "Ada", 0 },
			{ "\xc2\xa0"
			  "Ada\xc2\xa0",
			  0 },
			{ "\xc3\xa9", 0 }, /* e acute */
		};
		for (size_t i = 0; i < CBD_ARRAY_LEN(blanks); i++)
			is_int(valid_is_blank(blanks[i].s), blanks[i].want,
			       "blank %zu", i);
	}
	/* Zones that are files under zoneinfo but no place. */
	{
		static const char *const bad[] = {
			"Factory",
			"posixrules",
			"right/UTC",
			"right/Europe/London",
			"posix/Europe/London",
			"localtime",
			"US/Eastern",
			"EST5EDT",
			"GMT",
			"Zulu",
			"Etc/GMT+5",
			"Europe/../Europe/London",
			"Europe/",
			"Europe//London",
			"/Europe/London",
		};
		for (size_t i = 0; i < CBD_ARRAY_LEN(bad); i++)
			ok(!valid_tz(bad[i]), "tz %s refused", bad[i]);
		ok(valid_tz("Etc/UTC"), "tz Etc/UTC");
		ok(valid_tz("America/Argentina/Buenos_Aires"),
		   "tz three parts");
	}
	ok(valid_tz("Europe/London"), "tz Europe/London");
	ok(valid_tz("Asia/Kolkata"), "tz Asia/Kolkata");
	ok(valid_tz("America/Denver"), "tz America/Denver");
	ok(valid_tz("UTC"), "tz UTC");
	ok(!valid_tz("Mars/Olympus"), "tz Mars/Olympus");
	ok(!valid_tz(""), "tz empty");
	ok(!valid_tz("../../etc/passwd"), "tz path");
	return tap_done();
}
