/* test_config.c: config parsing, limits, and the example file's coverage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tap.h"

/* Every problem of a file at once, in file order, with its line. */
static void
test_problems(void)
{
	struct config c;
	struct config_problems p = { 0 };
	static const struct {
		int line;
		const char *key;
		int is_warning;
	} want[] = {
		{ 2, "listen_port", 0 },
		{ 4, "nope", 0 },
		{ 5, "", 0 },
		{ 6, "twilio_from", 1 },
		{ 7, "listen_port", 1 },
		{ 8, "quiet_hours_start", 0 },
		{ 9, "webhook_url", 0 },
	};

	config_init(&c);
	is_int(config_parse_all(&c,
				"# head\n"
				"listen_port = 0\n"
				"\n"
				"nope = 1\n"
				"no equals\n"
				"twilio_from = +15551234567\n"
				"listen_port = 8081\n"
				"quiet_hours_start =\n"
				"webhook_url = https://example.com/h\n",
				"t", &p),
	       5, "five errors in one pass");
	is_int(p.n, CBD_ARRAY_LEN(want), "and two warnings");
	for (size_t i = 0; i < p.n && i < CBD_ARRAY_LEN(want); i++) {
		ok(p.v[i].line == want[i].line &&
			   strcmp(p.v[i].key, want[i].key) == 0 &&
			   p.v[i].is_warning == want[i].is_warning,
		   "problem %zu: line %d key '%s' (%s)", i, p.v[i].line,
		   p.v[i].key, p.v[i].detail);
	}
	config_problems_clear(&p);
	config_clear(&c);

	/* A rule between keys names the line of the key that set it. */
	config_init(&c);
	is_int(config_parse_all(&c,
				"sms_mode = twilio\nsms_url = "
				"https://api.example.com\n",
				"t", &p),
	       3, "twilio without its three credentials");
	ok(p.n == 3 && p.v[0].line == 1 && strstr(p.v[0].detail, "twilio_"),
	   "blamed on sms_mode's line: %s", p.n ? p.v[0].detail : "");
	config_problems_clear(&p);
	config_clear(&c);
}

struct reload_seen {
	int applied, skipped;
	char keys[256];
};

static void
note_cb(void *arg, const char *key, int is_applied)
{
	struct reload_seen *s = arg;

	if (is_applied)
		s->applied++;
	else
		s->skipped++;
	strncat(s->keys, key, sizeof(s->keys) - strlen(s->keys) - 2);
	strcat(s->keys, " ");
}

/* SIGHUP applies only what a running daemon can take. */
static void
test_reload(void)
{
	struct config live, fresh;
	struct cbd_err err;
	struct reload_seen seen;
	const char *tpl;

	memset(&err, 0, sizeof(err));
	memset(&seen, 0, sizeof(seen));
	config_init(&live);
	config_init(&fresh);
	tpl = live.twilio_auth_token;
	is_int(config_parse(&fresh,
			    "log_level = debug\nrate_phone_per_hour = 9\n"
			    "listen_port = 9999\ntwilio_auth_token = "
			    "gone\n",
			    "t", &err),
	       0, "fresh config parses: %s", err.detail);
	is_int(config_reload(&live, &fresh, note_cb, &seen), 1,
	       "one key needs a restart");
	is_int(seen.applied, 3, "three applied: %s", seen.keys);
	is_str(live.log_level, "debug", "log_level applied");
	is_int(live.rate_phone_per_hour, 9, "rate limit applied");
	is_str(live.twilio_auth_token, "gone", "secret applied");
	is_int(live.listen_port, 8080, "listen_port kept");
	ok(live.nretired == 2 &&
		   (live.retired[0] == tpl || live.retired[1] == tpl),
	   "replaced strings kept for readers until config_clear");
	memset(&seen, 0, sizeof(seen));
	config_clear(&fresh);
	config_init(&fresh);
	is_int(config_parse(&fresh,
			    "log_level = debug\nrate_phone_per_hour = 9\n"
			    "listen_port = 9999\ntwilio_auth_token = "
			    "gone\n",
			    "t", &err),
	       0, "same file again");
	is_int(config_reload(&live, &fresh, note_cb, &seen), 1,
	       "nothing new applied twice");
	is_int(seen.applied, 0, "no key changed: %s", seen.keys);
	config_clear(&fresh);
	config_clear(&live);
}

int
main(void)
{
	struct config c;
	struct cbd_err err;
	const char *dir = getenv("srcdir");
	char path[512];

	memset(&err, 0, sizeof(err));
	config_init(&c);
	is_int(c.listen_port, 8080, "default port");
	is_str(c.listen_addr, "127.0.0.1", "default address");
	is_int(config_parse(&c,
			    "# comment\n\nlisten_port = 9090\n"
			    "db_socket=/tmp/x.sock\n  test_clock = yes  \n",
			    "t", &err),
	       0, "valid text parses");
	is_int(c.listen_port, 9090, "port set");
	is_str(c.db_socket, "/tmp/x.sock", "socket set");
	is_int(c.test_clock, 1, "bool yes");
	ok(config_parse(&c, "nope = 1\n", "t", &err) == -1 &&
		   strcmp(err.field, "nope") == 0,
	   "unknown key rejected: %s", err.detail);
	ok(strstr(err.detail, "t:1") != NULL, "error names the line");
	ok(config_parse(&c, "listen_port = 70000\n", "t", &err) == -1,
	   "port out of range");
	ok(config_parse(&c, "listen_port = 80x\n", "t", &err) == -1,
	   "port not a number");
	ok(config_parse(&c, "test_clock = maybe\n", "t", &err) == -1,
	   "bad boolean");
	ok(config_parse(&c, "just text\n", "t", &err) == -1, "no equals sign");
	ok(config_parse(&c, "log_level = loud\n", "t", &err) == -1,
	   "bad log level");
	ok(config_parse(&c, "sms_mode = pigeon\n", "t", &err) == -1,
	   "bad sms mode");
	/* Embed origins become a CSP source list: nothing may end it. (A
	 * fresh config: the bad sms_mode above stays set.) */
	config_clear(&c);
	config_init(&c);
	ok(config_parse(&c,
			"web_embed_origins = https://a.example; "
			"script-src *\n",
			"t", &err) == -1 &&
		   strcmp(err.field, "web_embed_origins") == 0,
	   "embed origin with ';' refused");
	ok(config_parse(&c, "web_embed_origins = 'unsafe-inline'\n", "t",
			&err) == -1,
	   "embed origin that is a keyword refused");
	ok(config_parse(&c, "web_embed_origins = https://a.example/path\n", "t",
			&err) == -1,
	   "embed origin with a path refused");
	is_int(config_parse(&c,
			    "web_embed_origins = https://a.example "
			    " http://b.example:8080\n",
			    "t", &err),
	       0, "two embed origins accepted");
	is_int(config_parse(&c, "web_embed_origins =\n", "t", &err), 0,
	       "no embed origins accepted");
	config_clear(&c);

	/* Opening hours, closures and quiet hours are typed once, here. */
	config_init(&c);
	is_int(c.opening.is_always, 1, "no opening hours: always open");
	is_int(c.quiet.start_min, 21 * 60, "default quiet start");
	is_int(c.quiet.end_min, 8 * 60, "default quiet end");
	is_int(config_parse(
		       &c,
		       "opening_hours = mon-fri 08:00-12:00, 13:00-20:00; "
		       "sat 09:00-13:00\nclosures = 2026-12-26, "
		       "2026-12-25\nquiet_hours_start = 22:30\n"
		       "quiet_hours_end = 07:00\nquiet_hours_mode = skip\n",
		       "t", &err),
	       0, "hours parse: %s", err.detail);
	ok(config_week_open(&c.opening, 1, 8 * 60, 15), "mon 08:00 open");
	ok(!config_week_open(&c.opening, 1, 12 * 60, 15), "mon 12:00 shut");
	ok(!config_week_open(&c.opening, 1, 11 * 60 + 50, 15),
	   "a slot running past 12:00 is shut");
	ok(config_week_open(&c.opening, 6, 12 * 60 + 45, 15), "sat 12:45");
	ok(!config_week_open(&c.opening, 0, 10 * 60, 15), "sunday shut");
	ok(config_is_closed_day(&c, 20261225) &&
		   config_is_closed_day(&c, 20261226) &&
		   !config_is_closed_day(&c, 20261224),
	   "closures, in any order");
	is_int(c.quiet.start_min, 22 * 60 + 30, "quiet start typed");
	is_int(c.quiet.is_skip, 1, "quiet mode typed");
	ok(config_parse(&c, "opening_hours = mon-fry 08:00-20:00\n", "t",
			&err) == -1 &&
		   !strcmp(err.field, "opening_hours"),
	   "bad opening hours refused at load");
	ok(config_parse(&c, "opening_hours =\nclosures = 2026-13-01\n", "t",
			&err) == -1 &&
		   !strcmp(err.field, "closures"),
	   "bad closure refused at load");
	ok(config_parse(&c, "quiet_hours_start = 25:00\n", "t", &err) == -1,
	   "bad quiet hours refused at load");
	config_clear(&c);

	/* Every key is documented in the example config. */
	snprintf(path, sizeof(path), "%s/contrib/callbackd.conf.example",
		 dir ? dir : ".");
	{
		FILE *f = fopen(path, "r");
		char *text = NULL;
		size_t cap = 0;
		ssize_t n;
		char *all = calloc(1, 1);
		size_t len = 0;

		if (ok(f != NULL, "example config exists")) {
			while ((n = getline(&text, &cap, f)) > 0) {
				all = realloc(all, len + (size_t)n + 1);
				memcpy(all + len, text, (size_t)n + 1);
				len += (size_t)n;
			}
			fclose(f);
			for (const char *const *k = config_key_names(); *k;
			     k++) {
				char pat[80];
				snprintf(pat, sizeof(pat), "\n# %s =", *k);
				char pat2[80];
				snprintf(pat2, sizeof(pat2), "\n%s =", *k);
				ok(strstr(all, pat) || strstr(all, pat2),
				   "example documents %s", *k);
			}
			config_init(&c);
			is_int(config_parse(&c, all, "example", &err), 0,
			       "example config parses: %s", err.detail);
			config_clear(&c);
		}
		free(text);
		free(all);
	}
	test_problems();
	test_reload();
	return tap_done();
}
