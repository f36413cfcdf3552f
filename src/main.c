/*
 * main.c: wiring only. Parse arguments and config, migrate, then run the
 * loop with the store pool, HTTP server, outbox dispatcher and signals.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <libical/ical.h>
#include <mysql.h>

#include "autoconfig.h"

#include "api.h"
#include "clock.h"
#include "config.h"
#include "handoff_planner.h"
#include "housekeeping.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "memtrim.h"
#include "metrics.h"
#include "migrate.h"
#include "outbox.h"
#include "queue.h"
#include "roster.h"
#include "sse.h"
#include "slots.h"
#include "store.h"
#include "xalloc.h"

/* Exit codes (callbackd(8)): 0 done, 1 failed at run time (database,
 * listen, migration), 2 bad command line, 78 (EX_CONFIG) bad config. */
#define MAIN_EXIT_USAGE  2
#define MAIN_EXIT_CONFIG 78

struct main_state {
	struct event_base *base;
	struct config cfg;
	struct store_pool *pool;
	struct http_server *http;
	struct outbox *outbox;
	struct queue_janitor *janitor;
	struct handoff_planner *planner;
	struct housekeeping *housekeeping;
	struct memtrim *memtrim;
	struct sse_hub *sse;
	struct metrics *metrics;
	struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
	struct event *log_timer;
	const char *conf_path; /* NULL: defaults only */
	int signals_seen;
	int64_t drain_deadline_ms;
};

static void
main_usage(FILE *out)
{
	fprintf(out,
		"usage: callbackd [-c FILE] [options]\n"
		"  -c, --config FILE        configuration file\n"
		"      --check-config       report every problem of the config "
		"and exit\n"
		"                           (0 valid, 78 invalid)\n"
		"      --migrate            apply schema migrations and exit\n"
		"      --create-key ROLE NAME\n"
		"                           create an API key (admin, lead, "
		"agent),\n"
		"                           print it once and exit\n"
		"      --agent-id ID        agent of an agent key\n"
		"      --help-config        describe every config key\n"
		"      --config-doc         the same as roff, for "
		"callbackd.conf(5)\n"
		"      --version            print the version\n"
		"  -h, --help               this text\n");
}

/* Load (or create, first instance wins) the link-signing secret. */
static int
main_secret_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	char **out = arg;
	char *fresh = keys_generate("");
	struct store_rows *r;
	int64_t n;

	n = store_exec(tx, err,
		       "INSERT IGNORE INTO settings (name, value) VALUES "
		       "('link_secret', ?)",
		       "s", fresh);
	free(fresh);
	if (n < 0)
		return -1;
	r = store_query(tx, err,
			"SELECT value FROM settings WHERE name = 'link_secret'",
			"");
	if (r == NULL)
		return -1;
	free(*out);
	*out = xstrdup(store_rows_str(r, 0, 0));
	store_rows_free(r);
	return 0;
}

struct main_key_args {
	const char *role, *name;
	int64_t agent_id;
	char *key;
};

static int
main_key_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct main_key_args *a = arg;
	int64_t id;

	free(a->key);
	a->key = NULL;
	return api_keys_insert(tx, a->role, a->name, a->agent_id, &id, &a->key,
			       err);
}

/* Migrations at start-up, waiting a while for a database still booting. */
static void
main_migrate(const struct config *cfg)
{
	struct cbd_err err;

	memset(&err, 0, sizeof(err));
	for (int i = 0; i < 30; i++) {
		cbd_err_clear(&err);
		if (migrate_run(cfg, &err) == 0)
			return;
		if (err.status != 503)
			break;
		sleep(1);
	}
	log_fatal("cannot migrate the database", "error=\"%s\"", err.detail);
}

/*
 * Read path (NULL: defaults) into cfg with every problem in problems,
 * including the site rules that need libical (slots.c). Returns the number
 * of errors.
 */
static size_t
main_config_read(const char *path, struct config *cfg,
		 struct config_problems *problems)
{
	struct cbd_err err;

	memset(&err, 0, sizeof(err));
	if (path != NULL)
		(void)config_load_all(cfg, path, problems);
	else
		(void)config_parse_all(cfg, "", "(defaults)", problems);
	if (slots_check_config(cfg, &err) != 0)
		config_problems_add(problems, err.field, 0, err.detail);
	return problems->nerrors;
}

static void
main_apply_log_keys(const struct config *cfg)
{
	enum log_level lvl;

	if (log_level_parse(cfg->log_level, &lvl) == 0)
		log_min_level = lvl;
	log_repeat_interval_sec = cfg->log_repeat_interval_sec;
}

/* Each problem as one log line; errors under error_msg. */
static void
main_log_problems(const char *path, const struct config_problems *problems,
		  const char *error_msg)
{
	for (size_t i = 0; i < problems->n; i++) {
		const struct config_problem *q = &problems->v[i];

		log_write_each(q->is_warning ? LOG_WARN : LOG_ERROR,
			       q->is_warning ? "config warning" : error_msg,
			       "file=%s line=%d key=%s error=\"%s\"", path,
			       q->line, q->key, q->detail);
	}
}

/*
 * The config at start: every problem at once, in file order. With errors,
 * or for --check-config, they are printed as FILE:LINE: lines and the exit
 * status returned (78, EX_CONFIG: systemd does not restart into it);
 * otherwise warnings are logged and -1 says to go on.
 */
static int
main_config_first(const char *path, struct config *cfg, int check_only)
{
	struct config_problems problems = { 0 };
	const char *name = path ? path : "(defaults)";
	size_t nerrors = main_config_read(path, cfg, &problems);
	size_t nwarnings = problems.n - nerrors;
	int rc = -1;

	if (nerrors > 0 || check_only) {
		config_problems_print(&problems, name, stderr);
		if (nerrors > 0)
			fprintf(stderr,
				"callbackd: %zu error%s, %zu warning%s\n",
				nerrors, nerrors == 1 ? "" : "s", nwarnings,
				nwarnings == 1 ? "" : "s");
		else
			printf("callbackd: %s is valid (%zu warning%s)\n", name,
			       nwarnings, nwarnings == 1 ? "" : "s");
		rc = nerrors > 0 ? MAIN_EXIT_CONFIG : 0;
	} else {
		main_apply_log_keys(cfg);
		main_log_problems(name, &problems, "config error");
	}
	config_problems_clear(&problems);
	return rc;
}

static void
main_reload_note(void *arg, const char *key, int is_applied)
{
	(void)arg;
	if (is_applied)
		log_write_each(LOG_INFO, "config key reloaded", "key=%s", key);
	else
		log_write_each(LOG_WARN,
			       "config key changed but needs a restart",
			       "key=%s", key);
}

/* SIGHUP: a new value for each reloadable key, or nothing at all. */
static void
main_reload(struct main_state *st)
{
	struct config fresh;
	struct config_problems problems = { 0 };
	size_t skipped;

	if (st->conf_path == NULL) {
		log_warn("SIGHUP: no config file to reload", "%s", "");
		return;
	}
	config_init(&fresh);
	(void)main_config_read(st->conf_path, &fresh, &problems);
	main_log_problems(st->conf_path, &problems,
			  "config reload refused, old config kept");
	if (problems.nerrors == 0) {
		skipped =
			config_reload(&st->cfg, &fresh, main_reload_note, NULL);
		main_apply_log_keys(&st->cfg);
		log_info("config reloaded", "file=%s needs_restart=%zu",
			 st->conf_path, skipped);
	}
	config_problems_clear(&problems);
	config_clear(&fresh);
}

static void
main_log_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_repeat_flush();
}

static void
main_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *st = arg;

	(void)fd;
	(void)what;
	if ((http_server_inflight(st->http) == 0 &&
	     store_busy(st->pool) == 0) ||
	    clock_mono_ms() >= st->drain_deadline_ms) {
		log_info("stopped", "inflight=%d",
			 http_server_inflight(st->http));
		event_base_loopexit(st->base, NULL);
	}
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *st = arg;
	struct timeval tv = { 0, 50 * 1000 };

	(void)what;
	if (sig == SIGHUP) {
		/* Logs go to stderr (journald): nothing to reopen. */
		main_reload(st);
		return;
	}
	if (++st->signals_seen > 1) {
		log_warn("second signal: exiting now", "signal=%d", (int)sig);
		_exit(1);
	}
	log_info("shutting down", "signal=%d grace_sec=%d", (int)sig,
		 st->cfg.shutdown_grace_sec);
	http_server_stop_accepting(st->http);
	sse_hub_stop(st->sse);
	outbox_stop(st->outbox);
	st->drain_deadline_ms =
		clock_mono_ms() + (int64_t)st->cfg.shutdown_grace_sec * 1000;
	st->drain_timer =
		event_new(st->base, -1, EV_PERSIST, main_drain_cb, st);
	event_add(st->drain_timer, &tv);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "migrate", no_argument, NULL, 'M' },
		{ "create-key", required_argument, NULL, 'K' },
		{ "agent-id", required_argument, NULL, 'A' },
		{ "help-config", no_argument, NULL, 'H' },
		{ "config-doc", no_argument, NULL, 'D' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct main_state st;
	struct main_key_args key = { NULL, NULL, 0, NULL };
	const char *conf_path = NULL;
	int check_only = 0, migrate_only = 0, o;
	char *secret = NULL;
	struct cbd_err err;

	memset(&st, 0, sizeof(st));
	memset(&err, 0, sizeof(err));
	config_init(&st.cfg);
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			conf_path = optarg;
			break;
		case 'C':
			check_only = 1;
			break;
		case 'M':
			migrate_only = 1;
			break;
		case 'K':
			key.role = optarg;
			if (optind >= argc) {
				main_usage(stderr);
				config_clear(&st.cfg);
				return MAIN_EXIT_USAGE;
			}
			key.name = argv[optind++];
			break;
		case 'A':
			key.agent_id = strtoll(optarg, NULL, 10);
			break;
		case 'H':
			config_print_help(stdout);
			config_clear(&st.cfg);
			return 0;
		case 'D':
			config_print_doc(stdout);
			config_clear(&st.cfg);
			return 0;
		case 'V':
			printf("callbackd %s\n", PACKAGE_VERSION);
			config_clear(&st.cfg);
			return 0;
		case 'h':
			main_usage(stdout);
			config_clear(&st.cfg);
			return 0;
		default:
			main_usage(stderr);
			config_clear(&st.cfg);
			return MAIN_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		config_clear(&st.cfg);
		return MAIN_EXIT_USAGE;
	}
	st.conf_path = conf_path;
	o = main_config_first(conf_path, &st.cfg, check_only);
	if (o >= 0) {
		config_clear(&st.cfg);
		return o;
	}

	/* Libraries with global state are set up once, before threads. */
	evthread_use_pthreads();
	if (mysql_library_init(0, NULL, NULL) != 0)
		log_fatal("mysql_library_init failed", "%s", "");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	icalerror_set_errors_are_fatal(0);
	signal(SIGPIPE, SIG_IGN);

	main_migrate(&st.cfg);
	if (migrate_only) {
		log_info("schema is current", "version=%d", migrate_latest());
		goto cleanup_libs;
	}
	if (key.role != NULL) {
		if (store_run_once(&st.cfg, main_key_work, &key, &err) != 0) {
			fprintf(stderr, "callbackd: %s\n", err.detail);
			cbd_err_clear(&err);
			config_clear(&st.cfg);
			return 1;
		}
		printf("%s\n", key.key);
		free(key.key);
		goto cleanup_libs;
	}
	if (store_run_once(&st.cfg, main_secret_work, &secret, &err) != 0)
		log_fatal("cannot load the link secret", "error=\"%s\"",
			  err.detail);
	keys_set_link_secret(secret);
	free(secret);

	st.base = event_base_new();
	if (st.base == NULL)
		log_fatal("event_base_new failed", "%s", "");
	st.metrics = metrics_new();
	st.pool = store_pool_new(st.base, &st.cfg);
	st.http = http_server_new(st.base, &st.cfg, st.pool, st.metrics,
				  api_tables);
	if (http_server_listen(st.http) != 0)
		log_fatal("cannot listen", "addr=%s port=%d",
			  st.cfg.listen_addr, st.cfg.listen_port);
	st.outbox = outbox_new(st.base, &st.cfg, st.pool, st.metrics);
	st.janitor = queue_janitor_new(st.base, st.pool);
	st.planner = handoff_planner_new(st.base, &st.cfg, st.pool, st.metrics);
	st.housekeeping = housekeeping_new(st.base, &st.cfg, st.pool);
	st.memtrim = memtrim_new(st.base, st.cfg.malloc_trim_sec);
	st.sse = sse_hub_new(st.base, &st.cfg, st.pool, st.http, st.metrics);
	st.sig_term = evsignal_new(st.base, SIGTERM, main_signal_cb, &st);
	st.sig_int = evsignal_new(st.base, SIGINT, main_signal_cb, &st);
	st.sig_hup = evsignal_new(st.base, SIGHUP, main_signal_cb, &st);
	event_add(st.sig_term, NULL);
	event_add(st.sig_int, NULL);
	event_add(st.sig_hup, NULL);
	{
		struct timeval second = { 1, 0 };
		st.log_timer = event_new(st.base, -1, EV_PERSIST,
					 main_log_timer_cb, NULL);
		event_add(st.log_timer, &second);
	}
	/* test_clock and unsigned webhooks were warned of with the
	 * config's other problems (config_check_combinations). */
	log_info("started", "version=%s pid=%d threads=%d", PACKAGE_VERSION,
		 (int)getpid(), st.cfg.store_threads);

	event_base_dispatch(st.base);

	/* Free everything so a leak checker's report means something. */
	/* The pool first: it runs the done callbacks of the jobs still out,
	 * which belong to the objects freed after it. */
	store_pool_free(st.pool);
	outbox_free(st.outbox);
	queue_janitor_free(st.janitor);
	handoff_planner_free(st.planner);
	housekeeping_free(st.housekeeping);
	memtrim_free(st.memtrim);
	sse_hub_free(st.sse);
	http_server_free(st.http);
	event_free(st.sig_term);
	event_free(st.sig_int);
	event_free(st.sig_hup);
	event_free(st.log_timer);
	if (st.drain_timer != NULL)
		event_free(st.drain_timer);
	metrics_free(st.metrics);
	event_base_free(st.base);
	keys_set_link_secret(NULL);
	roster_cache_clear();
cleanup_libs:
	config_clear(&st.cfg);
	curl_global_cleanup();
	icaltimezone_free_builtin_timezones();
	mysql_library_end();
	libevent_global_shutdown();
	return 0;
}
