/*
 * config.h: the daemon's one config file, "key = value" lines. One table in
 * config.c (name, type, default, limits, reload flag, help) drives parsing,
 * --help-config and the example file check, so a key cannot exist in one
 * place and be missing from another.
 */
#ifndef CBD_CONFIG_H
#define CBD_CONFIG_H

#include <stdio.h>

#include "common.h"

#define CONFIG_HOURS_MAX     4  /* opening intervals per weekday */
#define CONFIG_REMINDERS_MAX 16 /* reminder_offsets entries */

/*
 * Typed rules made from the text keys once, when the file is read, so a
 * booking or a message asks a question of numbers instead of parsing text.
 */
/* Weekly opening hours in the site's zone: per local weekday (0 = Sunday),
 * intervals in minutes after midnight, [from, to). */
struct config_week {
	int is_always; /* opening_hours empty: open every minute */
	int n[7];
	int from[7][CONFIG_HOURS_MAX];
	int to[7][CONFIG_HOURS_MAX];
};

/* A daily window in the customer's zone when no text goes out. */
struct config_quiet {
	int start_min; /* minutes after midnight; -1: no quiet hours */
	int end_min;   /* may be before start_min: the window wraps midnight */
	int is_skip;   /* skip the message rather than defer it */
};

struct config {
	/* listener */
	char *listen_addr;
	int listen_port;
	char *public_url;
	char *web_dir;           /* the console's files; "" for none */
	char *web_embed_origins; /* may frame /book (space separated) */
	int max_body_bytes;
	int request_timeout_sec;
	int shutdown_grace_sec;
	int header_timeout_sec;
	int body_timeout_sec;
	int body_min_rate;
	int max_connections;
	int max_connections_per_addr;
	char *trusted_proxies;
	char *client_addr_header;
	/* database */
	char *db_host;
	int db_port;
	char *db_socket;
	char *db_user;
	char *db_password;
	char *db_name;
	int store_threads;
	int store_queue_max;
	int malloc_trim_sec;
	int db_max_attempts; /* runs of one transaction on conflicts */
	int db_sync_wait;    /* wsrep_sync_wait; -1: 1 on Galera, else off */
	/* behaviour */
	char *log_level;
	int log_repeat_interval_sec;
	int test_clock;
	int idempotency_ttl_sec;
	int max_open_per_phone;
	int avg_handle_sec;
	int booking_horizon_days;
	int slot_minutes;
	char *site_timezone;
	char *opening_hours;
	char *closures;
	int min_notice_min;
	int max_per_agent_per_slot;
	int slots_max_range_days;
	int rate_phone_per_hour;
	int rate_ip_per_10min;
	int rate_changes_per_callback_per_hour;
	int rate_changes_per_phone_per_hour;
	int manage_token_days;
	int manage_token_cancelled_sec;
	int handoff_lead_min;
	int handoff_lookahead_hours;
	int handoff_tolerance_min;
	int overdue_grace_min;
	int planner_interval_sec;
	int max_attempts;
	int retry_delay_sec;
	int claim_lease_sec;
	int claim_ahead_sec;
	int priority_ageing_min; /* routing: one level per this wait */
	int priority_repeat_boost;
	int priority_vip_boost;
	/* reminders and delivery */
	char *service_email;
	char *service_name;
	char *smtp_url;
	char *webhook_url;
	char *webhook_secrets;
	char *sms_mode;
	char *sms_url;
	char *twilio_account_sid;
	char *twilio_auth_token;
	char *twilio_from;
	char *sms_inbound_secrets;
	char *sms_reply_cancelled;
	char *sms_reply_nothing_to_cancel;
	int outbox_poll_ms;
	int outbox_batch;
	int outbox_max_age_sec;
	int send_timeout_ms;
	char *reminder_offsets;
	int heads_up_sec;
	char *quiet_hours_start;
	char *quiet_hours_end;
	char *quiet_hours_mode;
	char *sms_template_confirmation;
	char *sms_template_confirmation_asap;
	char *sms_template_reminder;
	char *sms_template_rescheduled;
	char *sms_template_cancelled;
	char *sms_template_owner_changed;
	char *sms_template_manage_link;
	char *sms_template_retry;
	char *sms_template_running_late;
	char *template_dir;
	char *default_language; /* canonical BCP 47 */
	char *default_region;
	int change_coalesce_sec;
	/* the web console: sign-in, sessions, CORS, server push */
	int signin_link_ttl_sec;
	int session_ttl_sec;
	int session_idle_sec;
	char *cors_origins;
	int events_heartbeat_sec;
	int events_retry_ms;
	int events_poll_ms;
	int events_lookback_sec;
	int events_keep_sec;
	int sessions_keep_days;
	int housekeeping_interval_sec;
	char *agents_without_shifts; /* off_duty or always */
	int case_close_days;         /* 0: cases never close */
	/* typed rules, derived from the text keys above (config_parse) */
	struct config_week opening;
	int *closed_days; /* closures as YYYYMMDD, ascending */
	size_t nclosed_days;
	struct config_quiet quiet;
	int reminder_sec[CONFIG_REMINDERS_MAX]; /* reminder_offsets */
	size_t nreminders;
	/* strings replaced by config_reload, freed by config_clear */
	char **retired;
	size_t nretired;
};

/* One problem of a config file, found by config_parse_all. */
struct config_problem {
	int line;       /* 1-based; 0: a default, or not one line's fault */
	int is_warning; /* the daemon runs, though likely not as meant */
	char key[64];   /* the key at fault; "" for a line that is no key */
	char detail[256];
};

/* Every problem of one file, kept in file order (those tied to no line
 * last). Zero-initialise; config_problems_clear frees. */
struct config_problems {
	struct config_problem *v;
	size_t n, cap;
	size_t nerrors; /* the problems that are not warnings */
	int *key_line;  /* per key in table order: the line that set it */
};

/* Set every key to its default (strings are allocated). */
void config_init(struct config *c);
/* Free the strings; c may then be initialised again. */
void config_clear(struct config *c);
/* Parse text as if it were a file (for tests). */
int config_parse(struct config *c, const char *text, const char *name,
		 struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Parse every line, check every key and every rule between keys, and
 * record each problem in p instead of stopping at the first. Returns the
 * number of errors (warnings do not count); c is then partly updated, so
 * callers parse into a fresh struct and use it only without errors.
 */
size_t config_parse_all(struct config *c, const char *text, const char *name,
			struct config_problems *p);
size_t config_load_all(struct config *c, const char *path,
		       struct config_problems *p);
/* Add a problem of key found outside config.c, at the line that set key. */
void config_problems_add(struct config_problems *p, const char *key,
			 int is_warning, const char *detail);
/* One "name:line: key: detail" line per problem, in file order. */
void config_problems_print(const struct config_problems *p, const char *name,
			   FILE *out);
void config_problems_clear(struct config_problems *p);
/*
 * Apply to live the values of fresh's reloadable keys that differ; note is
 * called once per changed key, is_applied 0 for one that needs a restart.
 * Returns the number of changed keys left unapplied. Loop thread only.
 */
size_t config_reload(struct config *live, const struct config *fresh,
		     void (*note)(void *arg, const char *key, int is_applied),
		     void *arg);
/* Minutes after midnight of "HH:MM"; -1 when empty, -2 when malformed. */
int config_hhmm(const char *s);
/* Is local minute min of weekday wd (0 = Sunday) inside the opening hours
 * for len_min minutes? */
int config_week_open(const struct config_week *w, int wd, int min, int len_min);
/* Is the local date (YYYYMMDD) one of the closures? */
int config_is_closed_day(const struct config *c, int yyyymmdd);
/* The same rules for another site (routing queues keep their own): parse
 * opening hours into w, closures into sorted YYYYMMDD (*days freed by the
 * caller); -1 when malformed. */
int config_week_parse(const char *text, struct config_week *w);
int config_closures_parse(const char *text, int **days, size_t *n);
/* Is yyyymmdd among the n sorted days? */
int config_days_has(const int *days, size_t n, int yyyymmdd);
/* Print the key reference (name, default, range, help). */
void config_print_help(FILE *out);
/* The key reference as roff paragraphs for callbackd.conf(5). */
void config_print_doc(FILE *out);
/* Key names in table order, NULL-terminated. */
const char *const *config_key_names(void);

#endif
