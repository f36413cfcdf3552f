/*
 * config.c: the key table and its parser. Adding a key means one row here,
 * one field in struct config and one line in contrib/callbackd.conf.example
 * (a unit test fails when the example misses a key).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "i18n.h"
#include "netaddr.h"
#include "phone.h"
#include "webhook.h"
#include "xalloc.h"

enum config_type {
	CONFIG_STR,  /* char *, may be empty */
	CONFIG_INT,  /* int within [min, max] */
	CONFIG_BOOL, /* int 0/1 from true/false/yes/no/on/off/1/0 */
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def;
	long min;
	long max;
	const char *help;
	int is_reloadable; /* SIGHUP applies a new value (config_reload) */
};

#define STR(n, d, h)                                                           \
	{                                                                      \
#n, CONFIG_STR, offsetof(struct config, n), d, 0, 0, h, 0      \
	}
#define INT(n, d, lo, hi, h)                                                   \
	{                                                                      \
#n, CONFIG_INT, offsetof(struct config, n), d, lo, hi, h, 0    \
	}
#define BOOL(n, d, h)                                                          \
	{                                                                      \
#n, CONFIG_BOOL, offsetof(struct config, n), d, 0, 1, h, 0     \
	}

/* Keys a SIGHUP may change in a running daemon: each is read where it is
 * used (never copied at start-up), and nothing derived from it needs
 * rebuilding. */
#define RSTR(n, d, h)                                                          \
	{                                                                      \
#n, CONFIG_STR, offsetof(struct config, n), d, 0, 0, h, 1      \
	}
#define RINT(n, d, lo, hi, h)                                                  \
	{                                                                      \
#n, CONFIG_INT, offsetof(struct config, n), d, lo, hi, h, 1    \
	}

static const struct config_key config_keys[] = {
	STR(listen_addr, "127.0.0.1", "address the HTTP API listens on"),
	INT(listen_port, "8080", 1, 65535, "TCP port of the HTTP API"),
	STR(public_url, "http://127.0.0.1:8080",
	    "base URL customers' links point at"),
	STR(web_dir, CBD_WEB_DIR,
	    "directory of the web console's pages and files, read at start"
	    " (empty: no console)"),
	STR(web_embed_origins, "",
	    "origins (https://shop.example) whose pages may frame the book"
	    " page, space separated"),
	RINT(max_body_bytes, "65536", 1024, 16777216,
	     "largest request body accepted (larger: 413)"),
	INT(request_timeout_sec, "30", 1, 3600,
	    "idle timeout of an HTTP connection"),
	INT(shutdown_grace_sec, "10", 0, 600,
	    "how long SIGTERM waits for in-flight requests"),
	INT(header_timeout_sec, "10", 1, 600,
	    "a request line and headers must arrive within this, however"
	    " slowly they trickle"),
	INT(body_timeout_sec, "10", 1, 600,
	    "time a request body gets on top of its size at body_min_rate"),
	INT(body_min_rate, "1024", 0, 100000000,
	    "slowest accepted request body, bytes per second; 0: no limit"),
	INT(max_connections, "0", 0, 1000000,
	    "open HTTP connections in all; 0: the fd limit less a reserve"),
	RINT(max_connections_per_addr, "64", 0, 1000000,
	     "open HTTP connections from one address or IPv6 /64; 0: no limit"),
	STR(trusted_proxies, "",
	    "reverse proxies (addresses, CIDR ranges) whose client address"
	    " header is believed"),
	STR(client_addr_header, "x-forwarded-for",
	    "where a trusted proxy puts the client: x-forwarded-for or "
	    "forwarded"),
	STR(db_host, "localhost", "MariaDB host (ignored when db_socket set)"),
	INT(db_port, "3306", 1, 65535, "MariaDB TCP port"),
	STR(db_socket, "", "MariaDB unix socket path"),
	STR(db_user, "callbackd", "MariaDB user"),
	STR(db_password, "", "MariaDB password"),
	STR(db_name, "callbackd", "MariaDB database"),
	INT(store_threads, "8", 1, 64,
	    "store worker threads, one MariaDB connection each"),
	INT(store_queue_max, "10000", 16, 1000000,
	    "store jobs queued before requests get 503"),
	INT(malloc_trim_sec, "10", 0, 3600,
	    "return freed heap memory to the system this often; 0: never"),
	INT(db_max_attempts, "16", 1, 100,
	    "runs of one transaction on deadlocks and Galera conflicts"),
	INT(db_sync_wait, "-1", -1, 15,
	    "wsrep_sync_wait per session; -1: 1 on a Galera node, else off"),
	RSTR(log_level, "info", "debug, info, warn or error"),
	RINT(log_repeat_interval_sec, "10", 1, 3600,
	     "a warning or error repeated within this many seconds is logged"
	     " once, then counted in one line per interval"),
	BOOL(test_clock, "false",
	     "let admins set the clock (tests and simulation only)"),
	RINT(idempotency_ttl_sec, "86400", 60, 604800,
	     "how long an Idempotency-Key replays its first response"),
	RINT(max_open_per_phone, "3", 1, 100,
	     "open callbacks one phone number may hold"),
	RINT(avg_handle_sec, "300", 10, 7200,
	     "average call length, for ASAP wait estimates"),
	RINT(booking_horizon_days, "60", 1, 730,
	     "how far ahead a callback may be booked"),
	INT(slot_minutes, "15", 5, 240,
	    "length of a bookable slot; a divisor of a day"),
	STR(site_timezone, "UTC",
	    "zone of opening_hours and closures (IANA name)"),
	STR(opening_hours, "",
	    "e.g. \"mon-fri 08:00-20:00; sat 09:00-13:00\"; empty: always"),
	STR(closures, "", "closed dates, e.g. \"2026-12-25, 2026-12-26\""),
	RINT(min_notice_min, "30", 0, 10080,
	     "earliest a scheduled callback may be booked, minutes ahead"),
	INT(max_per_agent_per_slot, "1", 1, 100,
	    "callbacks one agent takes in one slot (with agent capacity)"),
	INT(slots_max_range_days, "14", 1, 62,
	    "widest from..to a slot query may ask for"),
	RINT(rate_phone_per_hour, "3", 0, 100000,
	     "bookings per phone number per hour; 0: no limit"),
	RINT(rate_ip_per_10min, "30", 0, 1000000,
	     "bookings per client address per 10 minutes; 0: no limit"),
	RINT(rate_changes_per_callback_per_hour, "4", 0, 100000,
	     "customer reschedules of one callback per hour; 0: no limit"),
	RINT(rate_changes_per_phone_per_hour, "10", 0, 100000,
	     "customer reschedules of one phone's callbacks per hour; 0: none"),
	INT(manage_token_days, "7", 1, 3650,
	    "a manage link stops working this many days after the call"),
	INT(manage_token_cancelled_sec, "3600", 0, 2592000,
	    "... and this long after a cancellation"),
	INT(handoff_lead_min, "30", 0, 1440,
	    "plan an agent's handoffs this long before their shift ends"),
	INT(handoff_lookahead_hours, "24", 0, 720,
	    "also hand off any callback due this soon whose owner is off"),
	INT(handoff_tolerance_min, "30", 0, 1440,
	    "keep the owner if their next shift starts this soon after due"),
	INT(overdue_grace_min, "15", 0, 1440,
	    "a call not made this long after its due time is overdue"),
	INT(planner_interval_sec, "60", 1, 3600,
	    "how often the handoff planner runs"),
	INT(max_attempts, "3", 1, 20, "call attempts before a callback fails"),
	INT(retry_delay_sec, "1800", 60, 604800,
	    "wait after no answer or busy before the next attempt"),
	INT(claim_lease_sec, "900", 30, 86400,
	    "how long a claimed call stays with its agent without an outcome"),
	INT(claim_ahead_sec, "120", 0, 3600,
	    "how early a scheduled callback may be claimed"),
	INT(priority_ageing_min, "10", 1, 10080,
	    "a waiting ASAP call gains one priority level per this many "
	    "minutes, so low priorities never starve"),
	INT(priority_repeat_boost, "1", 0, 100,
	    "priority added when the customer booked in the last 48 hours"),
	INT(priority_vip_boost, "2", 0, 100,
	    "priority added for a customer marked VIP"),
	STR(service_email, "callbacks@example.com",
	    "ORGANIZER and From address of invites"),
	STR(service_name, "Callback service", "display name of the service"),
	STR(smtp_url, "",
	    "smarthost for invites, smtp://host:port; empty: off"),
	STR(webhook_url, "", "event webhook receiver URL; empty: off"),
	RSTR(webhook_secrets, "",
	     "whsec_ secrets, space separated; all sign every message"),
	STR(sms_mode, "off", "off, webhook or twilio"),
	STR(sms_url, "",
	    "webhook mode: receiver URL; twilio mode: API base URL"),
	RSTR(twilio_account_sid, "", "Twilio account SID"),
	RSTR(twilio_auth_token, "", "Twilio auth token"),
	STR(twilio_from, "", "sender number, E.164"),
	STR(sms_inbound_secrets, "",
	    "webhook mode: whsec_ secrets, space separated, the gateway signs "
	    "inbound replies and delivery receipts with; empty: refused"),
	STR(sms_reply_cancelled, "",
	    "text confirming a callback cancelled by an SMS reply, in every "
	    "language; empty: the sms_reply_cancelled template in the "
	    "customer's language"),
	STR(sms_reply_nothing_to_cancel, "",
	    "answer to a cancel reply when no callback is open, in every "
	    "language; empty: the sms_reply_nothing_to_cancel template in "
	    "the customer's language"),
	INT(outbox_poll_ms, "20", 10, 60000, "outbox dispatch interval"),
	INT(outbox_batch, "500", 1, 10000, "messages claimed per dispatch"),
	INT(outbox_max_age_sec, "86400", 60, 2592000,
	    "a message undelivered this long after due is dead"),
	RINT(send_timeout_ms, "10000", 100, 600000,
	     "timeout of one webhook, SMS or mail transfer"),
	STR(reminder_offsets, "86400,900",
	    "SMS reminders, seconds before the call, comma separated"),
	INT(heads_up_sec, "600", 0, 86400,
	    "agent heads-up webhook this long before a call; 0: none"),
	STR(quiet_hours_start, "21:00",
	    "no reminders from this local time (customer's zone); empty: none"),
	STR(quiet_hours_end, "08:00", "... until this local time"),
	STR(quiet_hours_mode, "defer",
	    "defer (send at the end of quiet hours) or skip"),
	/* The sms_template_* keys predate languages: kept so old
	 * configurations still read the same, they now replace only the
	 * English text of their message. */
	STR(sms_template_confirmation, "",
	    "replaces the English SMS at booking a time (templates/en/"
	    "sms_confirmation.txt); prefer template_dir"),
	STR(sms_template_confirmation_asap, "",
	    "replaces the English SMS at booking ASAP; prefer template_dir"),
	STR(sms_template_reminder, "",
	    "replaces the English SMS reminder; prefer template_dir"),
	STR(sms_template_rescheduled, "",
	    "replaces the English SMS after a reschedule; prefer template_dir"),
	STR(sms_template_cancelled, "",
	    "replaces the English SMS after a cancellation; prefer "
	    "template_dir"),
	STR(sms_template_manage_link, "",
	    "replaces the English SMS with the manage link; prefer "
	    "template_dir"),
	STR(sms_template_owner_changed, "",
	    "replaces the English SMS when another agent takes over; prefer "
	    "template_dir"),
	STR(sms_template_running_late, "",
	    "replaces the English SMS when a call already due moves to "
	    "another agent; prefer template_dir"),
	STR(sms_template_retry, "",
	    "replaces the English SMS when a call not answered is tried "
	    "again; prefer template_dir"),
	STR(template_dir, "",
	    "directory of <lang>/<message>.txt templates searched before the "
	    "shipped ones; empty: none"),
	STR(default_language, "en",
	    "language (BCP 47) of customers who name none"),
	STR(default_region, "",
	    "country (ISO 3166, e.g. US) of phone numbers written without +"
	    " when the booking's zone names none; empty: none"),
	INT(change_coalesce_sec, "60", 0, 3600,
	    "hold a reschedule's text and invite this long; a later change "
	    "replaces them"),
	INT(signin_link_ttl_sec, "900", 60, 86400,
	    "a console sign-in link works once, within this many seconds"),
	INT(session_ttl_sec, "43200", 300, 2592000,
	    "a console session ends this long after sign-in, however used"),
	INT(session_idle_sec, "3600", 60, 2592000,
	    "... or after this long without a request"),
	STR(cors_origins, "",
	    "web origins (scheme://host[:port], space or comma separated) "
	    "that may call the public booking endpoints from a browser, and "
	    "whose Origin a console request may carry"),
	INT(events_heartbeat_sec, "15", 1, 300,
	    "a comment line on every event stream this often"),
	INT(events_retry_ms, "2000", 100, 600000,
	    "the reconnect delay event streams suggest to browsers"),
	INT(events_poll_ms, "250", 20, 60000,
	    "how often each instance reads the change feed"),
	INT(events_lookback_sec, "30", 1, 3600,
	    "the change feed is re-read this far back (the longest a "
	    "transaction may take, plus clock skew between instances)"),
	INT(events_keep_sec, "3600", 60, 604800,
	    "changes are kept this long for Last-Event-ID resume"),
	INT(sessions_keep_days, "90", 1, 3650,
	    "console sessions and sign-in links (who signed in, when, from "
	    "where) are kept this many days after they expire"),
	INT(housekeeping_interval_sec, "60", 1, 3600,
	    "how often one instance deletes what is no longer kept: old "
	    "changes, expired idempotency records, sessions and sign-in "
	    "links"),
	STR(agents_without_shifts, "off_duty",
	    "off_duty: an agent created without shift rules is on duty only "
	    "inside shifts (so never until some are set); always: around the "
	    "clock. Per agent: on_duty_without_shifts"),
	INT(case_close_days, "30", 0, 3650,
	    "close a case this many days after its last callback ended; a "
	    "customer coming back then gets a new case; 0: never"),
};

static int config_rules(struct config *c, struct config_problems *p);

/* ---- problems: collected, never stopping at the first ---- */

static int
config_key_index(const char *name)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Keeps p->v in file order as it grows: a problem goes after every one of
 * an earlier or equal line, and those tied to no line (0) go last. */
static void
config_problem_put(struct config_problems *p, int line, int is_warning,
		   const char *key, const char *detail)
{
	struct config_problem *q;
	unsigned int order = line > 0 ? (unsigned int)line : ~0U;
	size_t at = p->n;

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	while (at > 0) {
		int l = p->v[at - 1].line;
		if ((l > 0 ? (unsigned int)l : ~0U) <= order)
			break;
		at--;
	}
	memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof(*p->v));
	q = &p->v[at];
	memset(q, 0, sizeof(*q));
	q->line = line;
	q->is_warning = is_warning;
	snprintf(q->key, sizeof(q->key), "%s", key);
	snprintf(q->detail, sizeof(q->detail), "%s", detail);
	p->n++;
	if (!is_warning)
		p->nerrors++;
}

static int
config_line_of(const struct config_problems *p, const char *key)
{
	int i = config_key_index(key);

	return i >= 0 && p->key_line != NULL ? p->key_line[i] : 0;
}

static void config_problem(struct config_problems *p, int is_warning,
			   const char *key, const char *fmt, ...)
	CBD_PRINTF(4, 5);

/* A problem of key, at the line that set it (0 when left at default). */
static void
config_problem(struct config_problems *p, int is_warning, const char *key,
	       const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	config_problem_put(p, config_line_of(p, key), is_warning, key, detail);
}

#define config_bad(p, key, ...)  config_problem(p, 0, key, __VA_ARGS__)
#define config_warn(p, key, ...) config_problem(p, 1, key, __VA_ARGS__)

void
config_problems_add(struct config_problems *p, const char *key, int is_warning,
		    const char *detail)
{
	config_problem_put(p, config_line_of(p, key), is_warning, key, detail);
}

void
config_problems_clear(struct config_problems *p)
{
	free(p->v);
	free(p->key_line);
	memset(p, 0, sizeof(*p));
}

void
config_problems_print(const struct config_problems *p, const char *name,
		      FILE *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct config_problem *q = &p->v[i];

		fprintf(out, "%s", name);
		if (q->line > 0)
			fprintf(out, ":%d", q->line);
		fprintf(out, ": %s%s%s%s\n", q->is_warning ? "warning: " : "",
			q->key, q->key[0] ? ": " : "", q->detail);
	}
}

static int
config_set(struct config *c, const struct config_key *k, const char *val,
	   struct cbd_err *err)
{
	char *p = (char *)c + k->offset;
	char *end;
	long v;

	switch (k->type) {
	case CONFIG_STR:
		free(*(char **)p);
		*(char **)p = xstrdup(val);
		return 0;
	case CONFIG_INT:
		errno = 0;
		v = strtol(val, &end, 10);
		if (errno != 0 || end == val || *end != '\0' || v < k->min ||
		    v > k->max) {
			cbd_err_set(err, 400, "invalid-config", k->name,
				    "%s must be an integer from %ld to %ld",
				    k->name, k->min, k->max);
			return -1;
		}
		*(int *)p = (int)v;
		return 0;
	case CONFIG_BOOL:
		if (!strcmp(val, "true") || !strcmp(val, "yes") ||
		    !strcmp(val, "on") || !strcmp(val, "1"))
			*(int *)p = 1;
		else if (!strcmp(val, "false") || !strcmp(val, "no") ||
			 !strcmp(val, "off") || !strcmp(val, "0"))
			*(int *)p = 0;
		else {
			cbd_err_set(err, 400, "invalid-config", k->name,
				    "%s must be true or false", k->name);
			return -1;
		}
		return 0;
	}
	return -1;
}

void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++) {
		/* Defaults are in range by construction. */
		if (config_set(c, &config_keys[i], config_keys[i].def, NULL) !=
		    0)
			abort();
	}
	{
		struct config_problems p = { 0 };
		/* The defaults obey every rule, or the table is wrong. */
		if (config_rules(c, &p) != 0)
			abort();
		config_problems_clear(&p);
	}
}

void
config_clear(struct config *c)
{
	free(c->closed_days);
	c->closed_days = NULL;
	c->nclosed_days = 0;
	for (size_t i = 0; i < c->nretired; i++)
		free(c->retired[i]);
	free(c->retired);
	c->retired = NULL;
	c->nretired = 0;
	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++) {
		if (config_keys[i].type == CONFIG_STR) {
			char **s = (char **)((char *)c + config_keys[i].offset);
			free(*s);
			*s = NULL;
		}
	}
}

static char *
config_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* ---- typed rules: the text keys parsed once ---- */

static const char *const config_days[] = { "sun", "mon", "tue", "wed",
					   "thu", "fri", "sat" };

static int
config_day(const char *s)
{
	for (int i = 0; i < 7; i++)
		if (strncmp(s, config_days[i], 3) == 0)
			return i;
	return -1;
}

/* "mon-fri", "sat", "daily" or a comma list of them into mask. */
static int
config_week_days(char *days, int mask[7])
{
	char *save = NULL;

	for (char *d = strtok_r(days, ",", &save); d != NULL;
	     d = strtok_r(NULL, ",", &save)) {
		int a = config_day(d), b = a;

		if (!strcmp(d, "daily")) {
			for (int i = 0; i < 7; i++)
				mask[i] = 1;
			continue;
		}
		if (a < 0)
			return -1;
		if (d[3] == '-') {
			b = config_day(d + 4);
			if (b < 0 || d[7] != '\0')
				return -1;
		} else if (d[3] != '\0')
			return -1;
		/* "fri-mon" wraps the week end. */
		for (int i = a;; i = (i + 1) % 7) {
			mask[i] = 1;
			if (i == b)
				break;
		}
	}
	return 0;
}

/* Parse "mon-fri 08:00-20:00; sat 09:00-13:00" (empty: always open). */
int
config_week_parse(const char *text, struct config_week *w)
{
	char *copy, *part, *save = NULL;
	int rc = -1;

	memset(w, 0, sizeof(*w));
	if (text[strspn(text, " ")] == '\0') {
		w->is_always = 1;
		return 0;
	}
	copy = xstrdup(text);
	for (part = strtok_r(copy, ";", &save); part != NULL;
	     part = strtok_r(NULL, ";", &save)) {
		char days[32], ranges[128], *r, *rsave = NULL;
		int mask[7] = { 0 };

		if (sscanf(part, " %31s %127[^\n]", days, ranges) != 2 ||
		    config_week_days(days, mask) != 0)
			goto out;
		for (r = strtok_r(ranges, ", ", &rsave); r != NULL;
		     r = strtok_r(NULL, ", ", &rsave)) {
			int h1, m1, h2, m2;
			if (sscanf(r, "%2d:%2d-%2d:%2d", &h1, &m1, &h2, &m2) !=
				    4 ||
			    h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 ||
			    h1 * 60 + m1 >= h2 * 60 + m2)
				goto out;
			for (int i = 0; i < 7; i++) {
				if (!mask[i])
					continue;
				if (w->n[i] >= CONFIG_HOURS_MAX)
					goto out;
				w->from[i][w->n[i]] = h1 * 60 + m1;
				w->to[i][w->n[i]] = h2 * 60 + m2;
				w->n[i]++;
			}
		}
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static int
config_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* "2026-12-25, 2026-12-26" into sorted YYYYMMDD numbers (caller frees). */
int
config_closures_parse(const char *text, int **out, size_t *n)
{
	const char *p = text;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	while (*p) {
		int y, m, d, len = 0;

		p += strspn(p, " ,");
		if (*p == '\0')
			break;
		if (sscanf(p, "%4d-%2d-%2d%n", &y, &m, &d, &len) != 3 ||
		    len != 10 || m < 1 || m > 12 || d < 1 || d > 31 ||
		    (p[len] != '\0' && p[len] != ',' && p[len] != ' ')) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -1;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof(int));
		}
		(*out)[(*n)++] = y * 10000 + m * 100 + d;
		p += len;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(int), config_cmp_int);
	return 0;
}

/* "86400,900" into reminder_sec[]. */
static int
config_reminders_parse(struct config *c, struct config_problems *p)
{
	const char *s = c->reminder_offsets;

	c->nreminders = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (end == s || v <= 0 || v > 30L * 86400 ||
		    (*end != ',' && *end != '\0') ||
		    c->nreminders == CONFIG_REMINDERS_MAX) {
			config_bad(p, "reminder_offsets",
				   "reminder_offsets must be at most %d "
				   "positive seconds, comma separated",
				   CONFIG_REMINDERS_MAX);
			c->nreminders = 0;
			return -1;
		}
		c->reminder_sec[c->nreminders++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return 0;
}

/* default_language in canonical form, default_region a known country. */
static int
config_i18n(struct config *c, struct config_problems *p)
{
	char tag[I18N_LANG_MAX];
	int rc = 0;

	if (i18n_language(c->default_language, tag, sizeof(tag)) != 0) {
		config_bad(p, "default_language",
			   "default_language must be a BCP 47 language tag "
			   "such as en or es-MX");
		rc = -1;
	} else {
		free(c->default_language);
		c->default_language = xstrdup(tag);
	}
	if (c->default_region[0] != '\0' &&
	    !phone_region_known(c->default_region)) {
		config_bad(p, "default_region",
			   "default_region must be a country code such as "
			   "US or GB");
		rc = -1;
	}
	return rc;
}

/* Derive the typed rules from the text keys; each bad key is one problem.
 * Returns 0, or -1 when any rule could not be derived. */
static int
config_rules(struct config *c, struct config_problems *p)
{
	int qs = config_hhmm(c->quiet_hours_start);
	int qe = config_hhmm(c->quiet_hours_end);
	int *days = NULL, rc = 0;
	size_t ndays = 0;

	if (config_week_parse(c->opening_hours, &c->opening) != 0) {
		config_bad(p, "opening_hours",
			   "opening_hours must look like \"mon-fri "
			   "08:00-20:00; sat 09:00-13:00\"");
		rc = -1;
	}
	if (config_closures_parse(c->closures, &days, &ndays) != 0) {
		config_bad(p, "closures",
			   "closures must be YYYY-MM-DD dates, comma "
			   "separated");
		rc = -1;
	}
	free(c->closed_days);
	c->closed_days = days;
	c->nclosed_days = ndays;
	if (qs == -2)
		config_bad(p, "quiet_hours_start",
			   "quiet_hours_start must be HH:MM or empty");
	if (qe == -2)
		config_bad(p, "quiet_hours_end",
			   "quiet_hours_end must be HH:MM or empty");
	if (qs < -1 || qe < -1) {
		rc = -1;
	} else if ((qs == -1) != (qe == -1)) {
		/* Half a window: blame whichever of the two the file set
		 * (a default end with an emptied start, say). */
		const char *set =
			qs == -1 ? "quiet_hours_end" : "quiet_hours_start";
		const char *unset =
			qs == -1 ? "quiet_hours_start" : "quiet_hours_end";
		config_bad(p,
			   config_line_of(p, unset) > config_line_of(p, set)
				   ? unset
				   : set,
			   "quiet hours need both ends: %s is set, %s is "
			   "empty",
			   set, unset);
		rc = -1;
	}
	/* A window that starts where it ends is no window. */
	c->quiet.start_min = qs < 0 || qe < 0 || qs == qe ? -1 : qs;
	c->quiet.end_min = qs < 0 || qe < 0 || qs == qe ? -1 : qe;
	c->quiet.is_skip = strcmp(c->quiet_hours_mode, "skip") == 0;
	if (config_i18n(c, p) != 0)
		rc = -1;
	if (config_reminders_parse(c, p) != 0)
		rc = -1;
	return rc;
}

int
config_week_open(const struct config_week *w, int wd, int min, int len_min)
{
	if (w->is_always)
		return 1;
	for (int i = 0; i < w->n[wd]; i++)
		if (min >= w->from[wd][i] && min + len_min <= w->to[wd][i])
			return 1;
	return 0;
}

int
config_is_closed_day(const struct config *c, int yyyymmdd)
{
	return config_days_has(c->closed_days, c->nclosed_days, yyyymmdd);
}

int
config_days_has(const int *days, size_t n, int yyyymmdd)
{
	return n > 0 &&
	       bsearch(&yyyymmdd, days, n, sizeof(int), config_cmp_int) != NULL;
}

/* Space-separated origins, as a Content-Security-Policy source list takes
 * them: scheme://host[:port] and nothing that could end the directive. */
static int
config_check_origins(const char *list, struct cbd_err *err)
{
	const char *p = list;

	while (*(p += strspn(p, " ")) != '\0') {
		size_t n = strcspn(p, " ");
		int is_http = strncmp(p, "http://", 7) == 0 ||
			      strncmp(p, "https://", 8) == 0;
		const char *host = strstr(p, "://");
		size_t hn = host != NULL ? n - (size_t)(host + 3 - p) : 0;
		/* after the scheme: host and port only, no path */
		size_t ok = host != NULL
				    ? strspn(host + 3, "abcdefghijklmnop"
						       "qrstuvwxyzABCDEFG"
						       "HIJKLMNOPQRSTUVWX"
						       "YZ0123456789.-:[]*")
				    : 0;
		if (!is_http || hn == 0 || ok < hn) {
			cbd_err_set(err, 400, "invalid-config",
				    "web_embed_origins",
				    "web_embed_origins must be origins such "
				    "as https://shop.example, space separated");
			return -1;
		}
		p += n;
	}
	return 0;
}

static int
config_is_set(const char *s)
{
	return s[strspn(s, " \t")] != '\0';
}

static int
config_has_scheme(const char *url, const char *a, const char *b)
{
	return strncasecmp(url, a, strlen(a)) == 0 ||
	       (b != NULL && strncasecmp(url, b, strlen(b)) == 0);
}

/* Each key's own values: enumerations, secrets, URLs. */
static void
config_check_values(const struct config *c, struct config_problems *p)
{
	const char *lv = c->log_level;

	if (strcmp(lv, "debug") && strcmp(lv, "info") && strcmp(lv, "warn") &&
	    strcmp(lv, "error"))
		config_bad(p, "log_level",
			   "log_level must be debug, info, warn or error");
	if (strcmp(c->client_addr_header, "x-forwarded-for") &&
	    strcmp(c->client_addr_header, "forwarded"))
		config_bad(p, "client_addr_header",
			   "client_addr_header must be x-forwarded-for or "
			   "forwarded");
	{
		struct cbd_err err = { 0 };
		struct netaddr_list *l = netaddr_list_parse(
			c->trusted_proxies, "trusted_proxies", &err);
		if (l == NULL)
			config_bad(p, "trusted_proxies", "%s", err.detail);
		netaddr_list_free(l);
	}
	{
		struct cbd_err err = { 0 };
		if (config_check_origins(c->web_embed_origins, &err) != 0)
			config_bad(p, "web_embed_origins", "%s", err.detail);
	}
	if (strcmp(c->sms_mode, "off") && strcmp(c->sms_mode, "webhook") &&
	    strcmp(c->sms_mode, "twilio"))
		config_bad(p, "sms_mode",
			   "sms_mode must be off, webhook or twilio");
	/* A secret that cannot sign would drop every message later. */
	if (config_is_set(c->webhook_secrets)) {
		char *sig = webhook_signature(c->webhook_secrets, "check", 0,
					      "", 0);
		if (sig == NULL)
			config_bad(p, "webhook_secrets",
				   "webhook_secrets must be whsec_<base64> "
				   "values, space separated");
		free(sig);
	}
	/* Inbound replies are refused, never trusted, with a bad secret. */
	if (c->sms_inbound_secrets[strspn(c->sms_inbound_secrets, " ")] !=
	    '\0') {
		char *sig = webhook_signature(c->sms_inbound_secrets, "check",
					      0, "", 0);
		if (sig == NULL)
			config_bad(p, "sms_inbound_secrets",
				   "sms_inbound_secrets must be whsec_<base64> "
				   "values, space separated");
		free(sig);
	}
	if (strcmp(c->quiet_hours_mode, "defer") &&
	    strcmp(c->quiet_hours_mode, "skip"))
		config_bad(p, "quiet_hours_mode",
			   "quiet_hours_mode must be defer or skip");
	if (!config_has_scheme(c->public_url, "http://", "https://"))
		config_bad(p, "public_url",
			   "public_url must start with http:// or https://");
	if (config_is_set(c->webhook_url) &&
	    !config_has_scheme(c->webhook_url, "http://", "https://"))
		config_bad(p, "webhook_url",
			   "webhook_url must start with http:// or https://");
	if (config_is_set(c->sms_url) &&
	    !config_has_scheme(c->sms_url, "http://", "https://"))
		config_bad(p, "sms_url",
			   "sms_url must start with http:// or https://");
	if (config_is_set(c->smtp_url) &&
	    !config_has_scheme(c->smtp_url, "smtp://", "smtps://"))
		config_bad(p, "smtp_url",
			   "smtp_url must start with smtp:// or smtps://");
}

/* SMS delivery: each mode needs its own keys, and keys of another mode
 * are most likely a mode forgotten. */
static void
config_check_sms(const struct config *c, struct config_problems *p)
{
	static const char *const twilio_keys[] = { "twilio_account_sid",
						   "twilio_auth_token",
						   "twilio_from" };
	const char *const twilio_vals[] = { c->twilio_account_sid,
					    c->twilio_auth_token,
					    c->twilio_from };
	int is_twilio = strcmp(c->sms_mode, "twilio") == 0;

	if (strcmp(c->sms_mode, "webhook") == 0 && !config_is_set(c->sms_url))
		config_bad(p, "sms_mode", "sms_mode webhook needs sms_url");
	if (is_twilio && !config_is_set(c->sms_url))
		config_bad(p, "sms_mode",
			   "sms_mode twilio needs sms_url (the API base URL)");
	for (size_t i = 0; i < CBD_ARRAY_LEN(twilio_keys); i++) {
		if (is_twilio && !config_is_set(twilio_vals[i]))
			config_bad(p, "sms_mode", "sms_mode twilio needs %s",
				   twilio_keys[i]);
		else if (!is_twilio && config_is_set(twilio_vals[i]))
			config_warn(p, twilio_keys[i],
				    "%s is ignored: sms_mode is %s",
				    twilio_keys[i], c->sms_mode);
	}
	if (is_twilio && config_is_set(c->twilio_from) &&
	    (c->twilio_from[0] != '+' ||
	     strspn(c->twilio_from + 1, "0123456789") !=
		     strlen(c->twilio_from + 1) ||
	     strlen(c->twilio_from) < 8 || strlen(c->twilio_from) > 16))
		config_bad(p, "twilio_from",
			   "twilio_from must be an E.164 number (+ and 7 to "
			   "15 digits)");
}

/* Rules between keys: a combination each key allows alone but that cannot
 * work, or most likely is not what was meant. */
static void
config_check_combinations(const struct config *c, struct config_problems *p)
{
	int signs_webhooks = config_is_set(c->webhook_secrets);

	/* Receivers cannot tell our messages from forged ones without a
	 * signature: refused unless the test clock says this is no
	 * production daemon. */
	if (!signs_webhooks && config_is_set(c->webhook_url))
		config_problem(p, c->test_clock, "webhook_url",
			       "webhook_url without webhook_secrets: webhooks "
			       "would go out unsigned");
	if (!signs_webhooks && strcmp(c->sms_mode, "webhook") == 0)
		config_problem(p, c->test_clock, "sms_mode",
			       "sms_mode webhook without webhook_secrets: SMS "
			       "requests would go out unsigned");
	if (config_is_set(c->smtp_url) && strchr(c->service_email, '@') == NULL)
		config_bad(p, "service_email",
			   "smtp_url is set: service_email must be an e-mail "
			   "address");
	/* "localhost" is the default and the example's: no news there. */
	if (config_is_set(c->db_socket) && config_line_of(p, "db_host") > 0 &&
	    strcmp(c->db_host, "localhost") != 0)
		config_warn(p, "db_host",
			    "db_host is ignored: db_socket is set");
	if (c->max_connections > 0 &&
	    c->max_connections_per_addr > c->max_connections)
		config_warn(p, "max_connections_per_addr",
			    "max_connections_per_addr is above "
			    "max_connections");
	if (c->claim_ahead_sec >= c->claim_lease_sec)
		config_warn(p, "claim_ahead_sec",
			    "claim_ahead_sec is not below claim_lease_sec: a "
			    "call claimed early expires before it is due");
	if (c->test_clock)
		config_warn(p, "test_clock",
			    "test_clock lets admins set the time: tests and "
			    "simulation only");
	if (strcmp(c->agents_without_shifts, "off_duty") &&
	    strcmp(c->agents_without_shifts, "always"))
		config_bad(p, "agents_without_shifts",
			   "agents_without_shifts must be off_duty or always");
}

int
config_hhmm(const char *s)
{
	int h, m;

	if (s == NULL || *s == '\0')
		return -1;
	if (strlen(s) != 5 || s[2] != ':' ||
	    sscanf(s, "%2d:%2d", &h, &m) != 2 || h < 0 || h > 23 || m < 0 ||
	    m > 59)
		return -2;
	return h * 60 + m;
}

/* One "key = value" line; lineno for the problems it has. */
static void
config_parse_line(struct config *c, char *line, int lineno,
		  struct config_problems *p)
{
	struct cbd_err err = { 0 };
	char *eq, *key, *val;
	int i;

	line = config_trim(line);
	if (*line == '\0' || *line == '#' || *line == ';')
		return;
	eq = strchr(line, '=');
	if (eq == NULL) {
		config_problem_put(p, lineno, 0, "", "expected key = value");
		return;
	}
	*eq = '\0';
	key = config_trim(line);
	val = config_trim(eq + 1);
	i = config_key_index(key);
	if (i < 0) {
		char d[128];
		snprintf(d, sizeof(d), "unknown key '%.64s'", key);
		config_problem_put(p, lineno, 0, key, d);
		return;
	}
	if (p->key_line[i] > 0) {
		char d[128];
		snprintf(d, sizeof(d), "also set on line %d; this line wins",
			 p->key_line[i]);
		config_problem_put(p, lineno, 1, key, d);
	}
	p->key_line[i] = lineno;
	if (config_set(c, &config_keys[i], val, &err) != 0)
		config_problem_put(p, lineno, 0, key, err.detail);
}

size_t
config_parse_all(struct config *c, const char *text, const char *name,
		 struct config_problems *p)
{
	char *copy = xstrdup(text), *line = copy;
	int lineno = 0;

	(void)name;
	if (p->key_line == NULL)
		p->key_line = xcalloc(CBD_ARRAY_LEN(config_keys), sizeof(int));
	/* Blank lines count: the numbers must match an editor's. */
	while (line != NULL) {
		char *nl = strchr(line, '\n');

		if (nl != NULL)
			*nl = '\0';
		lineno++;
		config_parse_line(c, line, lineno, p);
		line = nl != NULL ? nl + 1 : NULL;
	}
	free(copy);
	config_check_values(c, p);
	(void)config_rules(c, p);
	config_check_sms(c, p);
	config_check_combinations(c, p);
	return p->nerrors;
}

/* The first error of p as err: field is the key, detail names the line. */
static void
config_first_error(const struct config_problems *p, const char *name,
		   struct cbd_err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct config_problem *q = &p->v[i];

		if (q->is_warning)
			continue;
		if (q->line > 0)
			cbd_err_set(err, 400, "invalid-config", q->key,
				    "%s:%d: %s", name, q->line, q->detail);
		else
			cbd_err_set(err, 400, "invalid-config", q->key,
				    "%s: %s", name, q->detail);
		return;
	}
}

int
config_parse(struct config *c, const char *text, const char *name,
	     struct cbd_err *err)
{
	struct config_problems p = { 0 };
	int rc = 0;

	if (config_parse_all(c, text, name, &p) > 0) {
		config_first_error(&p, name, err);
		rc = -1;
	}
	config_problems_clear(&p);
	return rc;
}

/* The whole file as one string (caller frees), or NULL with errno set. */
static char *
config_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	char buf[4096];

	if (f == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			text = xrealloc(text, cap);
		}
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(f);
	if (text == NULL)
		return xstrdup("");
	text[len] = '\0';
	return text;
}

size_t
config_load_all(struct config *c, const char *path, struct config_problems *p)
{
	char *text = config_read_file(path);
	size_t n;

	if (text == NULL) {
		config_problem_put(p, 0, 0, "", strerror(errno));
		return p->nerrors;
	}
	n = config_parse_all(c, text, path, p);
	free(text);
	return n;
}

void
config_print_help(FILE *out)
{
	static const char *const tn[] = { "string", "integer", "boolean" };

	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		fprintf(out, "%-22s %-8s default \"%s\"", k->name, tn[k->type],
			k->def);
		if (k->type == CONFIG_INT)
			fprintf(out, " (%ld..%ld)", k->min, k->max);
		fprintf(out, "\n    %s\n", k->help);
	}
}

const char *const *
config_key_names(void)
{
	static const char *names[CBD_ARRAY_LEN(config_keys) + 1];

	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++)
		names[i] = config_keys[i].name;
	return names;
}

/*
 * SIGHUP: copy the reloadable keys that changed from fresh into live, the
 * struct every module reads. An int is one aligned store. A string is
 * swapped pointer for pointer and the old one kept (live->retired) until
 * config_clear: a store thread may be reading it this very moment, and a
 * reload is rare enough that keeping a few old templates costs nothing.
 */
size_t
config_reload(struct config *live, const struct config *fresh,
	      void (*note)(void *arg, const char *key, int is_applied),
	      void *arg)
{
	size_t skipped = 0;

	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		char *lp = (char *)live + k->offset;
		const char *fp = (const char *)fresh + k->offset;
		int is_changed;

		if (k->type == CONFIG_STR)
			is_changed =
				strcmp(*(char **)lp, *(char *const *)fp) != 0;
		else
			is_changed = *(int *)lp != *(const int *)fp;
		if (!is_changed)
			continue;
		if (!k->is_reloadable) {
			skipped++;
			note(arg, k->name, 0);
			continue;
		}
		if (k->type == CONFIG_STR) {
			live->retired =
				xrealloc(live->retired,
					 (live->nretired + 1) * sizeof(char *));
			live->retired[live->nretired++] = *(char **)lp;
			*(char **)lp = xstrdup(*(char *const *)fp);
		} else {
			*(int *)lp = *(const int *)fp;
		}
		note(arg, k->name, 1);
	}
	return skipped;
}

/* roff needs a backslash doubled and a leading dot or quote escaped. */
static void
config_roff(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

void
config_print_doc(FILE *out)
{
	static const char *const tn[] = { "string", "integer", "boolean" };

	for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		fputs(".TP\n.B ", out);
		config_roff(out, k->name);
		fprintf(out, "\n(%s", tn[k->type]);
		if (k->type == CONFIG_INT)
			fprintf(out, ", %ld to %ld", k->min, k->max);
		fputs("; default ", out);
		if (k->def[0] == '\0') {
			fputs("empty", out);
		} else {
			fputs("\\(lq", out);
			config_roff(out, k->def);
			fputs("\\(rq", out);
		}
		fprintf(out, "%s)\n",
			k->is_reloadable ? "; SIGHUP reloads it" : "");
		config_roff(out, k->help);
		fputs("\n", out);
	}
}
