/*
 * test_store.c: the store's transaction rules against a real server.
 *
 * Needs a MariaDB: CBD_STORE_TEST_SOCKET (unix socket, root without a
 * password) and CBD_STORE_TEST_DB (an empty database). Without them it
 * skips; tests/integration/test_store_rules.py runs it with both. Errors a
 * Galera cluster produces (a certification abort as 1213 on the next
 * statement, 1047 from a node that is not ready) are raised on a single
 * server with SIGNAL, which reports any error number we ask for.
 */
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "common.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "tap.h"

#define SIGNAL_DEADLOCK                                                        \
	"SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = "      \
	"'certification conflict (test)'"
#define SIGNAL_UNREADY                                                         \
	"SIGNAL SQLSTATE '08S01' SET MYSQL_ERRNO = 1047, MESSAGE_TEXT = "      \
	"'WSREP has not yet prepared node (test)'"

struct probe {
	int64_t id;
	int runs;        /* times the work function ran */
	int fail_runs;   /* runs that raise the error */
	const char *sql; /* the failing statement */
	int swallow;     /* ignore the failure and return 0 */
};

static int
work_setup(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	(void)arg;
	store_commits_itself(tx);
	return store_exec_raw(tx, err,
			      "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY "
			      "KEY) ENGINE = InnoDB");
}

/* Insert the probe's row, then maybe run a failing statement. */
static int
work_probe(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct probe *p = arg;

	p->runs++;
	if (store_exec(tx, err, "INSERT INTO t (id) VALUES (?)", "i", p->id) <
	    0)
		return -1;
	if (p->runs <= p->fail_runs && store_exec_raw(tx, err, p->sql) != 0) {
		if (!p->swallow)
			return -1;
		/* A careless caller: the error is dropped on the floor. */
		cbd_err_clear(err);
	}
	return 0;
}

/* A duplicate key, handled, then more work: that one commits. */
static int
work_dup_handled(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct probe *p = arg;

	p->runs++;
	if (store_exec(tx, err, "INSERT INTO t (id) VALUES (?)", "i", p->id) >=
		    0 ||
	    store_errno(tx) != 1062)
		return -1;
	cbd_err_clear(err);
	return store_exec(tx, err, "INSERT INTO t (id) VALUES (?)", "i",
			  p->id + 1) < 0
		       ? -1
		       : 0;
}

/* Rows affected said another claimer won: run again. */
static int
work_conflict_once(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct probe *p = arg;

	p->runs++;
	if (store_exec(tx, err, "INSERT INTO t (id) VALUES (?)", "i", p->id) <
	    0)
		return -1;
	if (p->runs == 1)
		return store_conflict(tx, err, "test");
	return 0;
}

static int
rows_with(const struct config *cfg, int64_t id)
{
	MYSQL *c = mysql_init(NULL);
	MYSQL_RES *res;
	MYSQL_ROW row;
	char sql[80];
	int n = -1;

	if (mysql_real_connect(c, NULL, cfg->db_user, "", cfg->db_name, 0,
			       cfg->db_socket, 0) == NULL)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM t WHERE id = %lld",
		 (long long)id);
	if (mysql_query(c, sql) != 0 || (res = mysql_store_result(c)) == NULL)
		goto out;
	row = mysql_fetch_row(res);
	n = row ? atoi(row[0]) : -1;
	mysql_free_result(res);
out:
	mysql_close(c);
	return n;
}

int
main(void)
{
	const char *sock = getenv("CBD_STORE_TEST_SOCKET");
	const char *db = getenv("CBD_STORE_TEST_DB");
	struct cbd_err err;
	struct config cfg;
	int rc;

	if (sock == NULL || db == NULL) {
		printf("1..0 # SKIP no database (CBD_STORE_TEST_SOCKET)\n");
		return 0;
	}
	log_min_level = LOG_FATAL;
	memset(&err, 0, sizeof(err));
	config_init(&cfg);
	free(cfg.db_socket);
	free(cfg.db_name);
	free(cfg.db_user);
	cfg.db_socket = strdup(sock);
	cfg.db_name = strdup(db);
	cfg.db_user = strdup("root");
	cfg.db_max_attempts = 5;
	mysql_library_init(0, NULL, NULL);

	rc = store_run_once(&cfg, work_setup, NULL, &err);
	is_int(rc, 0, "table made: %s", err.detail);

	{
		/* The error is swallowed and the work "succeeds": the store
		 * must still not commit (nor report success). */
		struct probe p = { 1, 0, 100, "SELECT * FROM no_such_table",
				   1 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_probe, &p, &err);
		is_int(rc, -1, "a transaction with a failed statement fails");
		is_int(err.status, 500, "and says why (%s)", err.type);
		is_int(rows_with(&cfg, 1), 0, "and is never committed");
	}
	{
		/* A conflict reported on a later statement and swallowed: the
		 * whole transaction runs again and commits once. */
		struct probe p = { 2, 0, 1, SIGNAL_DEADLOCK, 1 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_probe, &p, &err);
		is_int(rc, 0, "a swallowed conflict is retried: %s",
		       err.detail);
		is_int(p.runs, 2, "the work ran twice");
		is_int(rows_with(&cfg, 2), 1, "and committed once");
	}
	{
		/* A node that is not ready: 503 with Retry-After, no retry. */
		struct probe p = { 3, 0, 100, SIGNAL_UNREADY, 0 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_probe, &p, &err);
		is_int(rc, -1, "1047 fails the job");
		is_int(err.status, 503, "as 503 (%s)", err.type);
		is_str(err.type, "database-unavailable", "unavailable");
		ok(err.retry_after_sec > 0, "with Retry-After");
		is_int(p.runs, 1, "without retrying");
		is_int(rows_with(&cfg, 3), 0, "nothing committed");
	}
	{
		/* Conflicts every time: the budget is db_max_attempts runs. */
		struct probe p = { 4, 0, 100, SIGNAL_DEADLOCK, 0 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_probe, &p, &err);
		is_int(rc, -1, "endless conflicts fail");
		is_int(p.runs, 5, "after db_max_attempts runs");
		is_str(err.type, "busy", "as 503 busy");
		is_int(rows_with(&cfg, 4), 0, "nothing committed");
	}
	{
		/* A duplicate key handled by the work function is not fatal. */
		struct probe p = { 2, 0, 0, NULL, 0 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_dup_handled, &p, &err);
		is_int(rc, 0, "a handled duplicate key commits: %s",
		       err.detail);
		is_int(rows_with(&cfg, 3), 1, "with the rest of its work");
	}
	{
		struct probe p = { 10, 0, 0, NULL, 0 };
		cbd_err_clear(&err);
		rc = store_run_once(&cfg, work_conflict_once, &p, &err);
		is_int(rc, 0, "a lost claim is run again: %s", err.detail);
		is_int(p.runs, 2, "twice");
		is_int(rows_with(&cfg, 10), 1, "committed once");
	}
	cbd_err_clear(&err);
	config_clear(&cfg);
	mysql_library_end();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
