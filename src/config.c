/*
 * config.c: the key table and its parser. Adding a key means one row here,
 * one field in struct config and one line in contrib/callbackd.conf.example
 * (a unit test fails when the example misses a key).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

#define STR(n, d, h)                                                           \
	{                                                                      \
#n, CONFIG_STR, offsetof(struct config, n), d, 0, 0, h         \
	}
#define INT(n, d, lo, hi, h)                                                   \
	{                                                                      \
#n, CONFIG_INT, offsetof(struct config, n), d, lo, hi, h       \
	}
#define BOOL(n, d, h)                                                          \
	{                                                                      \
#n, CONFIG_BOOL, offsetof(struct config, n), d, 0, 1, h        \
	}

static const struct config_key config_keys[] = {
	STR(listen_addr, "127.0.0.1", "address the HTTP API listens on"),
	INT(listen_port, "8080", 1, 65535, "TCP port of the HTTP API"),
	STR(public_url, "http://127.0.0.1:8080",
	    "base URL customers' links point at"),
	INT(max_body_bytes, "65536", 1024, 16777216,
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
	INT(max_connections_per_addr, "64", 0, 1000000,
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
	STR(log_level, "info", "debug, info, warn or error"),
	BOOL(test_clock, "false",
	     "let admins set the clock (tests and simulation only)"),
	INT(idempotency_ttl_sec, "86400", 60, 604800,
	    "how long an Idempotency-Key replays its first response"),
	INT(max_open_per_phone, "3", 1, 100,
	    "open callbacks one phone number may hold"),
	INT(avg_handle_sec, "300", 10, 7200,
	    "average call length, for ASAP wait estimates"),
	INT(booking_horizon_days, "60", 1, 730,
	    "how far ahead a callback may be booked"),
	INT(slot_minutes, "15", 5, 240,
	    "length of a bookable slot; a divisor of a day"),
	STR(site_timezone, "UTC",
	    "zone of opening_hours and closures (IANA name)"),
	STR(opening_hours, "",
	    "e.g. \"mon-fri 08:00-20:00; sat 09:00-13:00\"; empty: always"),
	STR(closures, "", "closed dates, e.g. \"2026-12-25, 2026-12-26\""),
	INT(min_notice_min, "30", 0, 10080,
	    "earliest a scheduled callback may be booked, minutes ahead"),
	INT(max_per_agent_per_slot, "1", 1, 100,
	    "callbacks one agent takes in one slot (with agent capacity)"),
	INT(slots_max_range_days, "14", 1, 62,
	    "widest from..to a slot query may ask for"),
	INT(rate_phone_per_hour, "3", 0, 100000,
	    "bookings per phone number per hour; 0: no limit"),
	INT(rate_ip_per_10min, "30", 0, 1000000,
	    "bookings per client address per 10 minutes; 0: no limit"),
	INT(rate_changes_per_callback_per_hour, "4", 0, 100000,
	    "customer reschedules of one callback per hour; 0: no limit"),
	INT(rate_changes_per_phone_per_hour, "10", 0, 100000,
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
	STR(service_email, "callbacks@example.com",
	    "ORGANIZER and From address of invites"),
	STR(service_name, "Callback service", "display name of the service"),
	STR(smtp_url, "",
	    "smarthost for invites, smtp://host:port; empty: off"),
	STR(webhook_url, "", "event webhook receiver URL; empty: off"),
	STR(webhook_secrets, "",
	    "whsec_ secrets, space separated; all sign every message"),
	STR(sms_mode, "off", "off, webhook or twilio"),
	STR(sms_url, "",
	    "webhook mode: receiver URL; twilio mode: API base URL"),
	STR(twilio_account_sid, "", "Twilio account SID"),
	STR(twilio_auth_token, "", "Twilio auth token"),
	STR(twilio_from, "", "sender number, E.164"),
	STR(sms_inbound_secrets, "",
	    "webhook mode: whsec_ secrets, space separated, the gateway signs "
	    "inbound replies and delivery receipts with; empty: refused"),
	STR(sms_reply_cancelled,
	    "Your callback is cancelled. Reply STOP to stop texts.",
	    "text confirming a callback cancelled by an SMS reply"),
	STR(sms_reply_nothing_to_cancel,
	    "You have no upcoming callback to cancel.",
	    "answer to a cancel reply when no callback is open"),
	INT(outbox_poll_ms, "20", 10, 60000, "outbox dispatch interval"),
	INT(outbox_batch, "500", 1, 10000, "messages claimed per dispatch"),
	INT(outbox_max_age_sec, "86400", 60, 2592000,
	    "a message undelivered this long after due is dead"),
	INT(send_timeout_ms, "10000", 100, 600000,
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
};

static int config_rules(struct config *c, struct cbd_err *err);

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
	if (config_rules(c, NULL) != 0)
		abort();
}

void
config_clear(struct config *c)
{
	free(c->closed_days);
	c->closed_days = NULL;
	c->nclosed_days = 0;
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
static int
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
static int
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
config_reminders_parse(struct config *c, struct cbd_err *err)
{
	const char *p = c->reminder_offsets;

	c->nreminders = 0;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || v <= 0 || v > 30L * 86400 ||
		    (*end != ',' && *end != '\0') ||
		    c->nreminders == CONFIG_REMINDERS_MAX) {
			cbd_err_set(err, 400, "invalid-config",
				    "reminder_offsets",
				    "reminder_offsets must be at most %d "
				    "positive seconds, comma separated",
				    CONFIG_REMINDERS_MAX);
			c->nreminders = 0;
			return -1;
		}
		c->reminder_sec[c->nreminders++] = (int)v;
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* Derive the typed rules from the text keys; err may be NULL (defaults). */
/* default_language in canonical form, default_region a known country. */
static int
config_i18n(struct config *c, struct cbd_err *err)
{
	char tag[I18N_LANG_MAX];

	if (i18n_language(c->default_language, tag, sizeof(tag)) != 0) {
		cbd_err_set(err, 400, "invalid-config", "default_language",
			    "default_language must be a BCP 47 language tag "
			    "such as en or es-MX");
		return -1;
	}
	free(c->default_language);
	c->default_language = xstrdup(tag);
	if (c->default_region[0] != '\0' &&
	    !phone_region_known(c->default_region)) {
		cbd_err_set(err, 400, "invalid-config", "default_region",
			    "default_region must be a country code such as "
			    "US or GB");
		return -1;
	}
	return 0;
}

static int
config_rules(struct config *c, struct cbd_err *err)
{
	int qs = config_hhmm(c->quiet_hours_start);
	int qe = config_hhmm(c->quiet_hours_end);
	int *days = NULL;
	size_t ndays = 0;

	if (config_week_parse(c->opening_hours, &c->opening) != 0) {
		cbd_err_set(err, 400, "invalid-config", "opening_hours",
			    "opening_hours must look like \"mon-fri "
			    "08:00-20:00; sat 09:00-13:00\"");
		return -1;
	}
	if (config_closures_parse(c->closures, &days, &ndays) != 0) {
		cbd_err_set(err, 400, "invalid-config", "closures",
			    "closures must be YYYY-MM-DD dates, comma "
			    "separated");
		return -1;
	}
	free(c->closed_days);
	c->closed_days = days;
	c->nclosed_days = ndays;
	if (qs < -1 || qe < -1 || (qs == -1) != (qe == -1)) {
		cbd_err_set(err, 400, "invalid-config", "quiet_hours_start",
			    "quiet hours must both be HH:MM or both empty");
		return -1;
	}
	/* A window that starts where it ends is no window. */
	c->quiet.start_min = qs == qe ? -1 : qs;
	c->quiet.end_min = qs == qe ? -1 : qe;
	c->quiet.is_skip = strcmp(c->quiet_hours_mode, "skip") == 0;
	if (config_i18n(c, err) != 0)
		return -1;
	return config_reminders_parse(c, err);
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
	return c->nclosed_days > 0 &&
	       bsearch(&yyyymmdd, c->closed_days, c->nclosed_days, sizeof(int),
		       config_cmp_int) != NULL;
}

static int
config_check(const struct config *c, struct cbd_err *err)
{
	const char *lv = c->log_level;

	if (strcmp(lv, "debug") && strcmp(lv, "info") && strcmp(lv, "warn") &&
	    strcmp(lv, "error")) {
		cbd_err_set(err, 400, "invalid-config", "log_level",
			    "log_level must be debug, info, warn or error");
		return -1;
	}
	if (strcmp(c->client_addr_header, "x-forwarded-for") &&
	    strcmp(c->client_addr_header, "forwarded")) {
		cbd_err_set(err, 400, "invalid-config", "client_addr_header",
			    "client_addr_header must be x-forwarded-for or "
			    "forwarded");
		return -1;
	}
	{
		struct netaddr_list *l = netaddr_list_parse(
			c->trusted_proxies, "trusted_proxies", err);
		if (l == NULL)
			return -1;
		netaddr_list_free(l);
	}
	if (strcmp(c->sms_mode, "off") && strcmp(c->sms_mode, "webhook") &&
	    strcmp(c->sms_mode, "twilio")) {
		cbd_err_set(err, 400, "invalid-config", "sms_mode",
			    "sms_mode must be off, webhook or twilio");
		return -1;
	}
	/* A secret that cannot sign would drop every message later. */
	if (c->webhook_secrets[strspn(c->webhook_secrets, " ")] != '\0') {
		char *sig = webhook_signature(c->webhook_secrets, "check", 0,
					      "", 0);
		if (sig == NULL) {
			cbd_err_set(err, 400, "invalid-config",
				    "webhook_secrets",
				    "webhook_secrets must be whsec_<base64> "
				    "values, space separated");
			return -1;
		}
		free(sig);
	}
	/* Inbound replies are refused, never trusted, with a bad secret. */
	if (c->sms_inbound_secrets[strspn(c->sms_inbound_secrets, " ")] !=
	    '\0') {
		char *sig = webhook_signature(c->sms_inbound_secrets, "check",
					      0, "", 0);
		if (sig == NULL) {
			cbd_err_set(
				err, 400, "invalid-config",
				"sms_inbound_secrets",
				"sms_inbound_secrets must be whsec_<base64> "
				"values, space separated");
			return -1;
		}
		free(sig);
	}
	if (strcmp(c->sms_mode, "webhook") == 0 && c->sms_url[0] == '\0') {
		cbd_err_set(err, 400, "invalid-config", "sms_url",
			    "sms_mode webhook needs sms_url");
		return -1;
	}
	if (strcmp(c->quiet_hours_mode, "defer") &&
	    strcmp(c->quiet_hours_mode, "skip")) {
		cbd_err_set(err, 400, "invalid-config", "quiet_hours_mode",
			    "quiet_hours_mode must be defer or skip");
		return -1;
	}
	return 0;
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

int
config_parse(struct config *c, const char *text, const char *name,
	     struct cbd_err *err)
{
	char *copy = xstrdup(text), *line, *save = NULL;
	int lineno = 0, rc = -1;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		const struct config_key *k = NULL;
		char *eq, *key, *val;

		lineno++;
		line = config_trim(line);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			cbd_err_set(err, 400, "invalid-config", "",
				    "%s:%d: expected key = value", name,
				    lineno);
			goto out;
		}
		*eq = '\0';
		key = config_trim(line);
		val = config_trim(eq + 1);
		for (size_t i = 0; i < CBD_ARRAY_LEN(config_keys); i++)
			if (strcmp(config_keys[i].name, key) == 0)
				k = &config_keys[i];
		if (k == NULL) {
			cbd_err_set(err, 400, "invalid-config", key,
				    "%s:%d: unknown key '%.64s'", name, lineno,
				    key);
			goto out;
		}
		if (config_set(c, k, val, err) != 0) {
			char d[sizeof(err->detail)];
			memcpy(d, err->detail, sizeof(d));
			snprintf(err->detail, sizeof(err->detail),
				 "%s:%d: %.200s", name, lineno, d);
			goto out;
		}
	}
	rc = config_check(c, err);
	if (rc == 0)
		rc = config_rules(c, err);
out:
	free(copy);
	return rc;
}

int
config_load(struct config *c, const char *path, struct cbd_err *err)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	char buf[4096];
	int rc;

	if (f == NULL) {
		cbd_err_set(err, 400, "invalid-config", "", "%s: %s", path,
			    strerror(errno));
		return -1;
	}
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
		text = xstrdup("");
	else
		text[len] = '\0';
	rc = config_parse(c, text, path, err);
	free(text);
	return rc;
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
