/* test_i18n.c: language tags, and every shipped language's texts
 * rendered in two zones on both sides of a DST change: the local time
 * stays the one the customer booked, and the zone is named in words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "i18n.h"
#include "keys.h"
#include "notify.h"
#include "render.h"
#include "tap.h"
#include "templates.h"

static void
test_language_tags(void)
{
	static const struct {
		const char *in, *want; /* want NULL: refused */
	} cases[] = {
		{ "en", "en" },       { "ES-mx", "es-MX" },
		{ "de-DE", "de-DE" }, { "hi", "hi" },
		{ "hi-IN", "hi-IN" }, { "zh-hant", "zh-Hant" },
		{ "xx", NULL },       { "english", NULL },
		{ "", NULL },         { "en_US!", NULL },
		{ "e", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[I18N_LANG_MAX];
		int rc = i18n_language(cases[i].in, out, sizeof(out));

		if (cases[i].want == NULL)
			ok(rc == -1, "'%s' refused", cases[i].in);
		else if (ok(rc == 0, "'%s' accepted", cases[i].in))
			is_str(out, cases[i].want, "'%s' canonical",
			       cases[i].in);
	}
}

/* 15:00 local on the Saturday before and the Monday after the change. */
static const struct {
	const char *tz;
	int64_t before, after;
} zones[] = {
	/* DST from 8 March 2026: 22:00Z is 15:00 MST, 21:00Z 15:00 MDT. */
	{ "America/Denver", 1772920800, 1773090000 },
	/* DST from 29 March 2026: 14:00Z is 15:00 CET, 13:00Z 15:00 CEST. */
	{ "Europe/Berlin", 1774706400, 1774875600 },
};

static const struct {
	const char *lang;
	const char *want[2][2]; /* [zone][before, after]: the {time} */
} reminders[] = {
	{ "en",
	  { { "Saturday, March 7 at 3:00 PM (Denver Time)",
	      "Monday, March 9 at 3:00 PM (Denver Time)" },
	    { "Saturday, 28 March at 15:00 (Germany Time)",
	      "Monday, 30 March at 15:00 (Germany Time)" } } },
	{ "es",
	  { { "s\xc3\xa1"
	      "bado, 7 de marzo, 3:00 p. m. (hora de Denver)",
	      "lunes, 9 de marzo, 3:00 p. m. (hora de Denver)" },
	    { "s\xc3\xa1"
	      "bado, 28 de marzo, 15:00 (hora de Alemania)",
	      "lunes, 30 de marzo, 15:00 (hora de Alemania)" } } },
	{ "de",
	  { { "Samstag, 7. M\xc3\xa4rz um 15:00 Uhr (Ortszeit Denver)",
	      "Montag, 9. M\xc3\xa4rz um 15:00 Uhr (Ortszeit Denver)" },
	    { "Samstag, 28. M\xc3\xa4rz um 15:00 Uhr (Ortszeit Berlin)",
	      "Montag, 30. M\xc3\xa4rz um 15:00 Uhr (Ortszeit Berlin)" } } },
	{ "hi",
	  { { "शनिवार, 7 मार्च को 3:00 pm बजे (डेनवर समय)",
	      "सोमवार, 9 मार्च को 3:00 pm बजे (डेनवर समय)" },
	    { "शनिवार, 28 मार्च को 3:00 pm बजे (जर्मनी समय)",
	      "सोमवार, 30 मार्च को 3:00 pm बजे (जर्मनी समय)" } } },
};

static void
test_rendered_texts(const struct config *cfg)
{
	for (size_t l = 0; l < sizeof(reminders) / sizeof(reminders[0]); l++) {
		for (size_t z = 0; z < 2; z++) {
			for (int k = 0; k < 2; k++) {
				struct notify_ctx c;
				char *text;
				const char *want = reminders[l].want[z][k];

				memset(&c, 0, sizeof(c));
				c.callback_id = 7;
				c.start = k ? zones[z].after : zones[z].before;
				c.tz = zones[z].tz;
				c.language = reminders[l].lang;
				c.topic = "Billing";
				c.customer_name = "Ada";
				c.owner_name = "Alice";
				c.phone = "+13035550142";
				text = render_text(cfg, &c, "sms_reminder");
				printf("# %s\n", text);
				ok(strstr(text, want) != NULL,
				   "%s %s %s: '%s' in '%s'", reminders[l].lang,
				   zones[z].tz, k ? "after" : "before", want,
				   text);
				ok(strstr(text, "UTC") == NULL &&
					   strstr(text, "GMT") == NULL,
				   "no offset named in '%s'", text);
				free(text);
			}
		}
	}
}

static void
test_fallback(const struct config *cfg)
{
	struct notify_ctx c;
	char *text;

	memset(&c, 0, sizeof(c));
	c.callback_id = 7;
	c.start = zones[0].before;
	c.tz = "America/Denver";
	c.topic = "Billing";
	c.owner_name = "Alice";
	c.phone = "+13035550142";
	/* A language without templates is told in English, its dates in
	 * its own words (French here). */
	c.language = "fr";
	text = render_text(cfg, &c, "sms_reminder");
	ok(!strncmp(text, "Reminder: Alice will call you on samedi", 39),
	   "fr falls back to English words: '%s'", text);
	free(text);
	/* es-MX has no set of its own: es is used. */
	c.language = "es-MX";
	text = render_text(cfg, &c, "sms_reminder");
	ok(!strncmp(text, "Recordatorio: Alice", 19), "es-MX uses es: '%s'",
	   text);
	free(text);
	text = templates_get(cfg, "en", "../../etc/passwd");
	ok(text == NULL, "a message name cannot walk the file system");
	ok(templates_get(cfg, "en", "no_such_message") == NULL,
	   "an unknown message has no template");
	text = templates_expand(
		"{a} {b} {unknown} {a",
		(struct templates_var[]){ { "a", "1" }, { "b", NULL } }, 2);
	is_str(text, "1  {unknown} {a", "placeholders expanded, typos kept");
	free(text);
}

int
main(void)
{
	struct config cfg;

	config_init(&cfg);
	keys_set_link_secret("test-secret");
	test_language_tags();
	test_rendered_texts(&cfg);
	test_fallback(&cfg);
	i18n_clear();
	keys_set_link_secret(NULL);
	config_clear(&cfg);
	return tap_done();
}
