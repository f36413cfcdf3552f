/*
 * store.c: the MariaDB worker pool.
 *
 * Design note. HTTP and timers live on one libevent loop that must never
 * block; MariaDB calls block. So every piece of database work is a job: the
 * loop builds it (work function + done function + argument), a worker
 * thread runs the work function inside START TRANSACTION ... COMMIT on its
 * own connection, and the finished job goes back to the loop through a
 * mutex-protected list and event_active(). The loop then calls done and
 * frees the job. A job has one owner at a time: loop, queue, worker, done
 * list, loop again. Workers never touch libevent, evhttp or curl objects.
 *
 * Failures are sorted where they are seen:
 *  - deadlock (1213) and lock wait timeout (1205): the whole work function
 *    runs again, up to db_max_attempts times, with jittered exponential
 *    backoff. On Galera a certification conflict is a 1213 too, at COMMIT
 *    or on whatever statement follows the abort, and they are frequent
 *    under contention, hence the larger budget;
 *  - a lost or refused connection (2002, 2006, 2013 ...) before COMMIT: the
 *    transaction did not happen, so reconnect and run it again once; at or
 *    after COMMIT the outcome is unknown and the client gets 503;
 *  - a Galera node that is not ready (1047 while it joins or has lost the
 *    primary component, 1180 at COMMIT): 503 + Retry-After;
 *  - anything else is the work function's business (1062 -> 409 etc.).
 * While the database is down each worker tries to reconnect at most once a
 * second and answers the rest with 503 + Retry-After at once.
 *
 * The one rule that makes this safe: a transaction in which a statement
 * failed (other than a duplicate key, which MariaDB undoes alone and work
 * functions handle) is never committed, whatever the work function
 * returned. After an abort the server has already rolled the transaction
 * back, and a COMMIT then "succeeds" with nothing written; a work function
 * that went on (a best-effort statement, an error swallowed into a
 * scratch cbd_err) would otherwise answer 200 for work that never happened.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define STORE_STMT_CACHE     96 /* prepared statements kept per connection */
#define STORE_MAX_PARAMS     32
#define STORE_CELL_INIT      256 /* first buffer per result cell; grows */
#define STORE_RECONNECT_MS   1000
#define STORE_BACKOFF_MIN_US 2000   /* first retry waits 1..2 ms */
#define STORE_BACKOFF_MAX_US 200000 /* and none more than 200 ms */

struct store_job {
	store_work_fn work;
	store_done_fn done;
	void *arg;
	int rc;
	struct cbd_err err;
	struct store_job *next;
};

struct store_stmt {
	const char *sql; /* the caller's literal: compared by address first */
	MYSQL_STMT *stmt;
};

/* One worker's connection. Owned by that worker thread alone. */
struct store_tx {
	struct store_pool *pool;
	int index;
	MYSQL *conn; /* NULL while disconnected */
	unsigned last_errno;
	/* The first failed statement of this transaction (0: none). Set, the
	 * transaction is never committed. */
	unsigned poison_errno;
	int is_galera;        /* the server is a Galera node (wsrep_on) */
	int said_unready;     /* warned that the node is not ready */
	int commits_itself;   /* this run's work ends transactions (DDL) */
	int in_tx;            /* between START TRANSACTION and its end */
	unsigned seed;        /* rand_r state for backoff jitter */
	int64_t last_fail_ms; /* when a connect last failed (mono clock) */
	struct store_stmt cache[STORE_STMT_CACHE];
	int ncache;
	/* Statements used once, closed when the transaction has ended (see
	 * store_stmt_release). */
	MYSQL_STMT **spent;
	int nspent, capspent;
	int in_commit; /* an error now leaves the outcome unknown */
};

struct store_rows {
	size_t nrows, ncols, cap;
	char **cells; /* nrows * ncols, NULL for SQL NULL */
	char **names;
};

struct store_pool {
	/* Immutable after store_pool_new. */
	char *host, *socket, *user, *password, *dbname;
	unsigned port;
	int nthreads;
	int queue_max;
	int max_attempts; /* runs of one job on conflicts */
	int sync_wait;    /* wsrep_sync_wait; -1: 1 when Galera */
	pthread_t *threads;
	struct store_tx *txs;
	struct event *done_ev; /* loop-owned; activated by workers */

	/* Guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_job *q_head, *q_tail;
	int q_len;
	struct store_job *d_head, *d_tail;
	int stopping;

	/* Loop thread only. */
	int busy;

	/* Written by workers, read anywhere. */
	atomic_int in_use;
	atomic_int connected;
	atomic_uint_fast64_t db_errors;
	atomic_uint_fast64_t conflicts;   /* 1213: deadlocks, certification */
	atomic_uint_fast64_t retries;     /* transactions run again */
	atomic_uint_fast64_t exhausted;   /* gave up after max_attempts */
	atomic_uint_fast64_t unavailable; /* 1047/1180: node not ready */
};

static int
store_errno_is_conn(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	       e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
	       e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED ||
	       e == ER_SERVER_SHUTDOWN || e == CR_COMMANDS_OUT_OF_SYNC;
}

static int
store_errno_is_retry(unsigned e)
{
	return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

/*
 * A statement that failed alone and leaves the transaction as it was: a
 * duplicate key (MariaDB undoes just that statement; work functions turn it
 * into 409 or an idempotent replay), or DDL finding its object already
 * there (DDL commits before it runs, so there is no transaction to doom;
 * migrations treat it as "done already").
 */
static int
store_errno_is_benign(unsigned e)
{
	return e == ER_DUP_ENTRY || e == ER_TABLE_EXISTS_ERROR ||
	       e == ER_DUP_FIELDNAME || e == ER_DUP_KEYNAME;
}

/* A Galera node that cannot take work now: 1047 "WSREP has not yet
 * prepared node for application use" (joining, or not in the primary
 * component) and 1180 "Got error ... during COMMIT" from the provider. */
static int
store_errno_is_unready(unsigned e)
{
	return e == ER_UNKNOWN_COM_ERROR || e == ER_ERROR_DURING_COMMIT;
}

/* The problem a client sees for MariaDB error e. */
static void
store_err_for(unsigned e, struct cbd_err *err)
{
	if (store_errno_is_conn(e) || e == 0) {
		cbd_err_set(err, 503, "database-unavailable", "",
			    "the database is not reachable; try again shortly");
		err->retry_after_sec = 2;
	} else if (store_errno_is_unready(e)) {
		cbd_err_set(
			err, 503, "database-unavailable", "",
			"the database node is not ready; try again shortly");
		err->retry_after_sec = 2;
	} else if (store_errno_is_retry(e)) {
		cbd_err_set(err, 503, "busy", "",
			    "too much contention; try again");
		err->retry_after_sec = 1;
	} else if (e == ER_DUP_ENTRY) {
		cbd_err_set(err, 409, "conflict", "", "that already exists");
	} else {
		cbd_err_set(err, 500, "internal", "", "internal error");
	}
}

/* Close the statements store_stmt_release kept; between transactions. */
static void
store_close_spent(struct store_tx *tx)
{
	for (int i = 0; i < tx->nspent; i++)
		mysql_stmt_close(tx->spent[i]);
	tx->nspent = 0;
}

/*
 * A statement used once (built SQL, or the cache is full) is closed only
 * after the transaction ends. COM_STMT_CLOSE gets no reply from the server,
 * yet Galera delivers a pending certification abort to whatever command
 * comes next: sent mid-transaction, a close would swallow the abort, and
 * the COMMIT after it would "succeed" with nothing written.
 */
static void
store_stmt_release(struct store_tx *tx, MYSQL_STMT *st)
{
	if (tx->nspent == tx->capspent) {
		tx->capspent = tx->capspent ? tx->capspent * 2 : 16;
		tx->spent = xrealloc(tx->spent,
				     (size_t)tx->capspent * sizeof(*tx->spent));
	}
	tx->spent[tx->nspent++] = st;
}

static void
store_disconnect(struct store_tx *tx)
{
	store_close_spent(tx);
	for (int i = 0; i < tx->ncache; i++)
		mysql_stmt_close(tx->cache[i].stmt);
	tx->ncache = 0;
	if (tx->conn != NULL) {
		mysql_close(tx->conn);
		tx->conn = NULL;
		atomic_fetch_sub(&tx->pool->connected, 1);
	}
}

/* Set err for a failed MariaDB call and remember its number. */
static void
store_fail(struct store_tx *tx, struct cbd_err *err, unsigned e,
	   const char *what, const char *msg)
{
	tx->last_errno = e;
	if (!store_errno_is_benign(e) && tx->poison_errno == 0)
		tx->poison_errno = e != 0 ? e : CR_UNKNOWN_ERROR;
	atomic_fetch_add(&tx->pool->db_errors, 1);
	if (e == ER_LOCK_DEADLOCK)
		atomic_fetch_add(&tx->pool->conflicts, 1);
	if (store_errno_is_unready(e))
		atomic_fetch_add(&tx->pool->unavailable, 1);
	store_err_for(e, err);
	if (store_errno_is_unready(e) && !tx->said_unready) {
		/* Once per outage and worker: the dispatchers poll often. */
		tx->said_unready = 1;
		log_warn("database node not ready",
			 "worker=%d what=%s errno=%u error=\"%s\"", tx->index,
			 what, e, msg);
	} else if (store_errno_is_unready(e))
		log_debug("database node not ready", "what=%s errno=%u", what,
			  e);
	else if (store_errno_is_benign(e) || store_errno_is_retry(e))
		log_debug("sql failed", "what=%s errno=%u error=\"%s\"", what,
			  e, msg);
	else
		log_error("sql failed", "what=%s errno=%u error=\"%s\"", what,
			  e, msg);
}

/*
 * Is the server a Galera node? wsrep_on alone is ON in a server built with
 * Galera support but started without a provider, so ask for both. SHOW is
 * answered even by a node that is still joining.
 */
static int
store_detect_galera(MYSQL *c)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int on = 0, provider = 0;

	if (mysql_query(c, "SHOW VARIABLES WHERE Variable_name IN "
			   "('wsrep_on', 'wsrep_provider')") != 0)
		return 0;
	res = mysql_store_result(c);
	while (res != NULL && (row = mysql_fetch_row(res)) != NULL) {
		if (row[0] == NULL || row[1] == NULL)
			continue;
		if (!strcmp(row[0], "wsrep_on"))
			on = !strcasecmp(row[1], "ON");
		else if (!strcmp(row[0], "wsrep_provider"))
			provider = row[1][0] != '\0' &&
				   strcasecmp(row[1], "none") != 0;
	}
	if (res != NULL)
		mysql_free_result(res);
	return on && provider;
}

/*
 * Per-session settings that depend on the server. On Galera, a read on this
 * node may not yet see a write another node committed a moment ago (a
 * booking read right after its 201 elsewhere, a key just made): with
 * wsrep_sync_wait the read first waits until this node has applied every
 * write committed before it.
 */
static int
store_session_setup(struct store_tx *tx)
{
	int wait = tx->pool->sync_wait;
	char sql[64];

	tx->is_galera = store_detect_galera(tx->conn);
	if (wait < 0)
		wait = tx->is_galera ? 1 : 0;
	if (!tx->is_galera || wait == 0)
		return 0;
	snprintf(sql, sizeof(sql), "SET SESSION wsrep_sync_wait = %d", wait);
	if (mysql_query(tx->conn, sql) != 0) {
		log_warn("cannot set wsrep_sync_wait", "errno=%u error=\"%s\"",
			 mysql_errno(tx->conn), mysql_error(tx->conn));
		return -1;
	}
	return 0;
}

static int
store_connect(struct store_tx *tx, struct cbd_err *err)
{
	struct store_pool *p = tx->pool;
	unsigned timeout = 2, rw_timeout = 30;
	int64_t now = clock_mono_ms();
	MYSQL *c;

	if (tx->conn != NULL)
		return 0;
	if (tx->last_fail_ms != 0 &&
	    now - tx->last_fail_ms < STORE_RECONNECT_MS)
		goto fail;
	c = mysql_init(NULL);
	if (c == NULL)
		log_fatal("mysql_init failed", "%s", "");
	mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(c, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(c, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* UTC sessions; strict mode so bad data is an error, not a warning;
	 * READ COMMITTED so concurrent bookings do not take gap locks. */
	mysql_options(c, MYSQL_INIT_COMMAND,
		      "SET time_zone = '+00:00', sql_mode = "
		      "'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION',"
		      " tx_isolation = 'READ-COMMITTED',"
		      " innodb_lock_wait_timeout = 5");
	if (mysql_real_connect(c, p->socket ? NULL : p->host, p->user,
			       p->password, p->dbname, p->port, p->socket,
			       0) == NULL) {
		unsigned e = mysql_errno(c);
		if (tx->last_fail_ms == 0)
			log_warn("database connect failed",
				 "worker=%d errno=%u error=\"%s\"", tx->index,
				 e, mysql_error(c));
		mysql_close(c);
		tx->last_fail_ms = now;
		if (e < 2000 && e != ER_CON_COUNT_ERROR &&
		    e != ER_SERVER_SHUTDOWN) {
			/* The server answered and refused: waiting will not
			 * help (bad credentials, unknown database). */
			tx->last_errno = e;
			cbd_err_set(err, 500, "database-config", "",
				    "the database refused the connection "
				    "(error %u)",
				    e);
			return -1;
		}
		goto fail;
	}
	tx->conn = c;
	atomic_fetch_add(&p->connected, 1);
	if (store_session_setup(tx) != 0) {
		store_disconnect(tx);
		tx->last_fail_ms = now;
		goto fail;
	}
	if (tx->last_fail_ms != 0)
		log_info("database reconnected", "worker=%d galera=%d",
			 tx->index, tx->is_galera);
	tx->last_fail_ms = 0;
	return 0;
fail:
	tx->last_errno = CR_CONNECTION_ERROR;
	cbd_err_set(err, 503, "database-unavailable", "",
		    "the database is not reachable; try again shortly");
	err->retry_after_sec = 2;
	return -1;
}

int
store_exec_raw(struct store_tx *tx, struct cbd_err *err, const char *sql)
{
	MYSQL_RES *res;

	if (mysql_real_query(tx->conn, sql, strlen(sql)) != 0) {
		store_fail(tx, err, mysql_errno(tx->conn), sql,
			   mysql_error(tx->conn));
		return -1;
	}
	/* Statements like SELECT GET_LOCK() return a row we do not need. */
	res = mysql_store_result(tx->conn);
	if (res != NULL)
		mysql_free_result(res);
	return 0;
}

/* Treat this transaction as one that lost a conflict: never committed,
 * run again whole. */
static void
store_doom(struct store_tx *tx, struct cbd_err *err)
{
	tx->last_errno = ER_LOCK_DEADLOCK;
	if (tx->poison_errno == 0)
		tx->poison_errno = ER_LOCK_DEADLOCK;
	atomic_fetch_add(&tx->pool->conflicts, 1);
	cbd_err_clear(err);
	store_err_for(ER_LOCK_DEADLOCK, err);
}

/*
 * Is our transaction still open on the server? On Galera a transaction
 * aborted by a replicated write learns it from its next command, and not
 * every command answers with the error: a COM_STMT_PREPARE (a statement
 * this connection has not prepared yet) is answered normally while the
 * server rolls the transaction back, and the statements after it then run
 * on their own, outside any transaction. The server's status flags, sent
 * with every result, still say so: when they say "not in a transaction"
 * inside ours, the transaction is doomed as a deadlock would be.
 */
static int
store_tx_gone(struct store_tx *tx, struct cbd_err *err, const char *what)
{
	if (!tx->in_tx || tx->commits_itself ||
	    (tx->conn->server_status & SERVER_STATUS_IN_TRANS))
		return 0;
	log_debug("transaction ended under us", "worker=%d what=\"%.60s\"",
		  tx->index, what);
	store_doom(tx, err);
	return 1;
}

/* After preparing a statement inside a transaction: one cheap statement
 * that is never a read (no causal wait) to learn whether the prepare
 * swallowed an abort (see store_tx_gone). Returns 0 if the transaction
 * lives, -1 with err set if not. */
static int
store_probe_tx(struct store_tx *tx, struct cbd_err *err, const char *what)
{
	if (!tx->in_tx || tx->commits_itself)
		return 0;
	if (mysql_query(tx->conn, "SET @cbd_tx_probe = 1") != 0) {
		store_fail(tx, err, mysql_errno(tx->conn), "probe",
			   mysql_error(tx->conn));
		return -1;
	}
	return store_tx_gone(tx, err, what) ? -1 : 0;
}

/*
 * The cache is keyed by the address of the SQL text, which is only sound
 * for string literals; built statements pass *is_cached = -1 on entry to
 * bypass it.
 */
static MYSQL_STMT *
store_prepare(struct store_tx *tx, struct cbd_err *err, const char *sql,
	      int *is_cached)
{
	int may_cache = *is_cached != -1;
	my_bool on = 1;
	MYSQL_STMT *st;

	for (int i = 0; may_cache && i < tx->ncache; i++) {
		if (tx->cache[i].sql == sql) {
			*is_cached = 1;
			return tx->cache[i].stmt;
		}
	}
	st = mysql_stmt_init(tx->conn);
	if (st == NULL || mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		unsigned e = st ? mysql_stmt_errno(st) : mysql_errno(tx->conn);
		store_fail(tx, err, e, sql,
			   st ? mysql_stmt_error(st) : mysql_error(tx->conn));
		if (st != NULL)
			mysql_stmt_close(st);
		return NULL;
	}
	if (store_probe_tx(tx, err, sql) != 0) {
		mysql_stmt_close(st); /* the transaction is doomed anyway */
		return NULL;
	}
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
	if (may_cache && tx->ncache < STORE_STMT_CACHE) {
		tx->cache[tx->ncache].sql = sql;
		tx->cache[tx->ncache].stmt = st;
		tx->ncache++;
		*is_cached = 1;
	} else
		*is_cached = 0;
	return st;
}

/*
 * Close a statement after an error, dropping it from the cache: a statement
 * that failed part-way (a deadlock while rows were being read, say) may be
 * left waiting for an answer to a request it never sent, and reusing it
 * would hang the worker until the read timeout.
 */
static void
store_stmt_discard(struct store_tx *tx, MYSQL_STMT *st)
{
	for (int i = 0; i < tx->ncache; i++) {
		if (tx->cache[i].stmt == st) {
			tx->cache[i] = tx->cache[--tx->ncache];
			break;
		}
	}
	mysql_stmt_close(st);
}

/* Bind fmt's arguments and execute. Returns the statement or NULL. */
static MYSQL_STMT *
store_vexecute(struct store_tx *tx, struct cbd_err *err, const char *sql,
	       const char *fmt, va_list ap, int *is_cached)
{
	MYSQL_BIND b[STORE_MAX_PARAMS];
	long long ints[STORE_MAX_PARAMS];
	double dbls[STORE_MAX_PARAMS];
	unsigned long lens[STORE_MAX_PARAMS];
	my_bool nulls[STORE_MAX_PARAMS];
	size_t n = strlen(fmt);
	MYSQL_STMT *st;

	if (n > STORE_MAX_PARAMS)
		log_fatal("too many sql parameters", "n=%zu", n);
	st = store_prepare(tx, err, sql, is_cached);
	if (st == NULL)
		return NULL;
	memset(b, 0, sizeof(b));
	for (size_t i = 0; i < n; i++) {
		nulls[i] = 0;
		b[i].is_null = &nulls[i];
		switch (fmt[i]) {
		case 'i':
		case 'n':
			ints[i] = va_arg(ap, int64_t);
			if (fmt[i] == 'n' && ints[i] == STORE_NULL)
				nulls[i] = 1;
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = &ints[i];
			break;
		case 'd':
			dbls[i] = va_arg(ap, double);
			b[i].buffer_type = MYSQL_TYPE_DOUBLE;
			b[i].buffer = &dbls[i];
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			b[i].buffer_type = MYSQL_TYPE_STRING;
			if (s == NULL) {
				nulls[i] = 1;
				lens[i] = 0;
			} else
				lens[i] = strlen(s);
			b[i].buffer = (void *)(s ? s : "");
			b[i].buffer_length = lens[i];
			b[i].length = &lens[i];
			break;
		}
		default:
			log_fatal("bad sql parameter format", "fmt=%s", fmt);
		}
	}
	if (mysql_stmt_param_count(st) != n)
		log_fatal("sql parameter count mismatch", "sql=\"%s\"", sql);
	if ((n > 0 && mysql_stmt_bind_param(st, b) != 0) ||
	    mysql_stmt_execute(st) != 0) {
		store_fail(tx, err, mysql_stmt_errno(st), sql,
			   mysql_stmt_error(st));
		store_stmt_discard(tx, st);
		return NULL;
	}
	return st;
}

int64_t
store_exec(struct store_tx *tx, struct cbd_err *err, const char *sql,
	   const char *fmt, ...)
{
	int is_cached = 0;
	MYSQL_STMT *st;
	va_list ap;
	int64_t n;

	va_start(ap, fmt);
	st = store_vexecute(tx, err, sql, fmt, ap, &is_cached);
	va_end(ap);
	if (st == NULL)
		return -1;
	n = (int64_t)mysql_stmt_affected_rows(st);
	if (n < 0)
		n = 0;
	if (!is_cached)
		store_stmt_release(tx, st);
	return store_tx_gone(tx, err, sql) ? -1 : n;
}

int64_t
store_exec_built(struct store_tx *tx, struct cbd_err *err, const char *sql,
		 const char *fmt, ...)
{
	int is_cached = -1;
	MYSQL_STMT *st;
	va_list ap;
	int64_t n;

	va_start(ap, fmt);
	st = store_vexecute(tx, err, sql, fmt, ap, &is_cached);
	va_end(ap);
	if (st == NULL)
		return -1;
	n = (int64_t)mysql_stmt_affected_rows(st);
	store_stmt_release(tx, st);
	if (store_tx_gone(tx, err, sql))
		return -1;
	return n < 0 ? 0 : n;
}

/* ---- batches: many rows in few multi-row INSERTs ---- */

#define STORE_BATCH_ROWS 500 /* rows per statement */

struct store_val {
	char type; /* 'i', 'n', 's' */
	long long i;
	char *s;
};

struct store_batch {
	char *head;   /* "INSERT INTO t (a, b) VALUES" */
	char *rowfmt; /* per row, e.g. "iis" */
	size_t ncols;
	struct store_val *vals;
	size_t nrows, cap;
};

struct store_batch *
store_batch_new(const char *head, const char *rowfmt)
{
	struct store_batch *b = xcalloc(1, sizeof(*b));

	b->head = xstrdup(head);
	b->rowfmt = xstrdup(rowfmt);
	b->ncols = strlen(rowfmt);
	return b;
}

void
store_batch_add(struct store_batch *b, ...)
{
	va_list ap;

	if ((b->nrows + 1) * b->ncols > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64 * b->ncols;
		b->vals = xrealloc(b->vals, b->cap * sizeof(*b->vals));
	}
	va_start(ap, b);
	for (size_t c = 0; c < b->ncols; c++) {
		struct store_val *v = &b->vals[b->nrows * b->ncols + c];
		v->type = b->rowfmt[c];
		v->s = NULL;
		if (v->type == 's') {
			const char *str = va_arg(ap, const char *);
			v->s = str ? xstrdup(str) : NULL;
		} else
			v->i = va_arg(ap, int64_t);
	}
	va_end(ap);
	b->nrows++;
}

size_t
store_batch_rows(const struct store_batch *b)
{
	return b->nrows;
}

static int
store_batch_chunk(struct store_tx *tx, struct store_batch *b, size_t first,
		  size_t n, struct cbd_err *err)
{
	size_t np = n * b->ncols, len = 0;
	MYSQL_BIND *bind = xcalloc(np, sizeof(*bind));
	unsigned long *lens = xcalloc(np, sizeof(*lens));
	my_bool *nulls = xcalloc(np, sizeof(*nulls));
	char *sql = NULL;
	MYSQL_STMT *st = NULL;
	FILE *f = open_memstream(&sql, &len);
	int rc = -1;

	/* The statement text is built from our own format, never data. */
	fputs(b->head, f);
	for (size_t r = 0; r < n; r++) {
		fputs(r ? ",(" : " (", f);
		for (size_t c = 0; c < b->ncols; c++)
			fputs(c ? ",?" : "?", f);
		fputc(')', f);
	}
	fclose(f);
	for (size_t k = 0; k < np; k++) {
		struct store_val *v = &b->vals[first * b->ncols + k];
		bind[k].is_null = &nulls[k];
		if (v->type == 's') {
			bind[k].buffer_type = MYSQL_TYPE_STRING;
			nulls[k] = v->s == NULL;
			lens[k] = v->s ? strlen(v->s) : 0;
			bind[k].buffer = v->s ? v->s : (char *)"";
			bind[k].buffer_length = lens[k];
			bind[k].length = &lens[k];
		} else {
			bind[k].buffer_type = MYSQL_TYPE_LONGLONG;
			bind[k].buffer = &v->i;
			nulls[k] = v->type == 'n' && v->i == STORE_NULL;
		}
	}
	st = mysql_stmt_init(tx->conn);
	if (st == NULL || mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		store_fail(tx, err, st ? mysql_stmt_errno(st) : 0, b->head,
			   st ? mysql_stmt_error(st) : "stmt_init");
		goto out;
	}
	if (store_probe_tx(tx, err, b->head) != 0)
		goto out;
	if (mysql_stmt_bind_param(st, bind) != 0 ||
	    mysql_stmt_execute(st) != 0) {
		store_fail(tx, err, mysql_stmt_errno(st), b->head,
			   mysql_stmt_error(st));
		goto out;
	}
	if (store_tx_gone(tx, err, b->head))
		goto out;
	rc = 0;
out:
	if (st != NULL)
		store_stmt_release(tx, st);
	free(sql);
	free(bind);
	free(lens);
	free(nulls);
	return rc;
}

int
store_batch_flush(struct store_tx *tx, struct store_batch *b,
		  struct cbd_err *err)
{
	for (size_t first = 0; first < b->nrows; first += STORE_BATCH_ROWS) {
		size_t n = b->nrows - first;
		if (n > STORE_BATCH_ROWS)
			n = STORE_BATCH_ROWS;
		if (store_batch_chunk(tx, b, first, n, err) != 0)
			return -1;
	}
	for (size_t k = 0; k < b->nrows * b->ncols; k++)
		free(b->vals[k].s);
	b->nrows = 0;
	return 0;
}

void
store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	for (size_t k = 0; k < b->nrows * b->ncols; k++)
		free(b->vals[k].s);
	free(b->vals);
	free(b->head);
	free(b->rowfmt);
	free(b);
}

int64_t
store_last_id(struct store_tx *tx)
{
	return (int64_t)mysql_insert_id(tx->conn);
}

unsigned
store_errno(const struct store_tx *tx)
{
	return tx->last_errno;
}

void
store_commits_itself(struct store_tx *tx)
{
	tx->commits_itself = 1;
}

unsigned
store_failed_errno(const struct store_tx *tx)
{
	return tx->poison_errno;
}

int
store_conflict(struct store_tx *tx, struct cbd_err *err, const char *what)
{
	log_debug("conflict seen by rows affected", "what=\"%s\"", what);
	store_doom(tx, err);
	return -1;
}

int
store_worker_index(const struct store_tx *tx)
{
	return tx->index;
}

static struct store_rows *
store_vquery(struct store_tx *tx, struct cbd_err *err, const char *sql,
	     const char *fmt, va_list ap, int is_cached)
{
	struct store_rows *r = NULL;
	MYSQL_RES *meta = NULL;
	MYSQL_BIND *b = NULL;
	unsigned long *lens = NULL;
	my_bool *nulls = NULL;
	char **bufs = NULL;
	MYSQL_STMT *st;
	size_t ncols = 0;
	int frc;

	st = store_vexecute(tx, err, sql, fmt, ap, &is_cached);
	if (st == NULL)
		return NULL;
	meta = mysql_stmt_result_metadata(st);
	if (meta == NULL)
		log_fatal("store_query on a statement without results",
			  "sql=\"%s\"", sql);
	ncols = mysql_num_fields(meta);
	r = xcalloc(1, sizeof(*r));
	r->ncols = ncols;
	r->names = xcalloc(ncols, sizeof(char *));
	b = xcalloc(ncols, sizeof(*b));
	lens = xcalloc(ncols, sizeof(*lens));
	nulls = xcalloc(ncols, sizeof(*nulls));
	bufs = xcalloc(ncols, sizeof(char *));
	for (size_t i = 0; i < ncols; i++) {
		MYSQL_FIELD *f = mysql_fetch_field_direct(meta, (unsigned)i);
		r->names[i] = xstrdup(f->name);
		bufs[i] = xmalloc(STORE_CELL_INIT);
		b[i].buffer_type = MYSQL_TYPE_STRING;
		b[i].buffer = bufs[i];
		b[i].buffer_length = STORE_CELL_INIT;
		b[i].length = &lens[i];
		b[i].is_null = &nulls[i];
	}
	if (mysql_stmt_bind_result(st, b) != 0 ||
	    mysql_stmt_store_result(st) != 0) {
		store_fail(tx, err, mysql_stmt_errno(st), sql,
			   mysql_stmt_error(st));
		store_rows_free(r);
		r = NULL;
		goto out;
	}
	while ((frc = mysql_stmt_fetch(st)) == 0 ||
	       frc == MYSQL_DATA_TRUNCATED) {
		if ((r->nrows + 1) * ncols > r->cap) {
			r->cap = r->cap ? r->cap * 2 : 16 * (ncols ? ncols : 1);
			while (r->cap < (r->nrows + 1) * ncols)
				r->cap *= 2;
			r->cells = xrealloc(r->cells, r->cap * sizeof(char *));
		}
		for (size_t i = 0; i < ncols; i++) {
			char **cell = &r->cells[r->nrows * ncols + i];
			if (nulls[i]) {
				*cell = NULL;
				continue;
			}
			*cell = xmalloc(lens[i] + 1);
			if (lens[i] <= STORE_CELL_INIT) {
				memcpy(*cell, bufs[i], lens[i]);
			} else {
				/* Longer than the first buffer: fetch again
				 * into one of the right size. */
				MYSQL_BIND big;
				memset(&big, 0, sizeof(big));
				big.buffer_type = MYSQL_TYPE_STRING;
				big.buffer = *cell;
				big.buffer_length = lens[i] + 1;
				if (mysql_stmt_fetch_column(st, &big,
							    (unsigned)i, 0))
					log_fatal("fetch_column failed",
						  "sql=\"%s\"", sql);
			}
			(*cell)[lens[i]] = '\0';
		}
		r->nrows++;
	}
	if (frc != MYSQL_NO_DATA) {
		store_fail(tx, err, mysql_stmt_errno(st), sql,
			   mysql_stmt_error(st));
		store_rows_free(r);
		r = NULL;
	} else if (store_tx_gone(tx, err, sql)) {
		store_rows_free(r);
		r = NULL;
	}
out:
	if (r == NULL)
		store_stmt_discard(tx, st);
	else {
		mysql_stmt_free_result(st);
		if (!is_cached)
			store_stmt_release(tx, st);
	}
	if (meta != NULL)
		mysql_free_result(meta);
	for (size_t i = 0; i < ncols; i++)
		free(bufs[i]);
	free(bufs);
	free(b);
	free(lens);
	free(nulls);
	return r;
}

struct store_rows *
store_query(struct store_tx *tx, struct cbd_err *err, const char *sql,
	    const char *fmt, ...)
{
	struct store_rows *r;
	va_list ap;

	va_start(ap, fmt);
	r = store_vquery(tx, err, sql, fmt, ap, 0);
	va_end(ap);
	return r;
}

struct store_rows *
store_query_one(struct store_tx *tx, struct cbd_err *err, const char *what,
		const char *sql, const char *fmt, ...)
{
	struct store_rows *r;
	va_list ap;

	va_start(ap, fmt);
	r = store_vquery(tx, err, sql, fmt, ap, 0);
	va_end(ap);
	if (r != NULL && r->nrows == 0) {
		store_rows_free(r);
		r = NULL;
		cbd_err_set(err, 404, "not-found", "", "no such %s", what);
	}
	return r;
}

/*
 * A built statement without parameters goes over the text protocol: one
 * round trip, where a prepared one takes four (prepare, the probe,
 * execute, close) and is never reused. The cells are the same strings the
 * prepared path converts to. A transaction aborted under us fails the
 * statement itself, or shows in the status flags (store_tx_gone).
 */
static struct store_rows *
store_query_text(struct store_tx *tx, struct cbd_err *err, const char *sql)
{
	struct store_rows *r;
	MYSQL_RES *res;
	MYSQL_ROW row;
	size_t ncols;

	if (mysql_real_query(tx->conn, sql, strlen(sql)) != 0 ||
	    (res = mysql_store_result(tx->conn)) == NULL) {
		if (mysql_errno(tx->conn) == 0)
			log_fatal("store_query on a statement without results",
				  "sql=\"%s\"", sql);
		store_fail(tx, err, mysql_errno(tx->conn), sql,
			   mysql_error(tx->conn));
		return NULL;
	}
	ncols = mysql_num_fields(res);
	r = xcalloc(1, sizeof(*r));
	r->ncols = ncols;
	r->names = xcalloc(ncols ? ncols : 1, sizeof(char *));
	for (size_t i = 0; i < ncols; i++)
		r->names[i] = xstrdup(
			mysql_fetch_field_direct(res, (unsigned)i)->name);
	r->cap = (size_t)mysql_num_rows(res) * ncols;
	r->cells = xcalloc(r->cap ? r->cap : 1, sizeof(char *));
	while ((row = mysql_fetch_row(res)) != NULL) {
		unsigned long *lens = mysql_fetch_lengths(res);
		for (size_t i = 0; i < ncols; i++) {
			char **cell = &r->cells[r->nrows * ncols + i];
			if (row[i] == NULL) {
				*cell = NULL;
				continue;
			}
			*cell = xmalloc(lens[i] + 1);
			memcpy(*cell, row[i], lens[i]);
			(*cell)[lens[i]] = '\0';
		}
		r->nrows++;
	}
	mysql_free_result(res);
	if (store_tx_gone(tx, err, sql)) {
		store_rows_free(r);
		return NULL;
	}
	return r;
}

struct store_rows *
store_query_built(struct store_tx *tx, struct cbd_err *err, const char *sql,
		  const char *fmt, ...)
{
	struct store_rows *r;
	va_list ap;

	if (fmt[0] == '\0')
		return store_query_text(tx, err, sql);
	va_start(ap, fmt);
	r = store_vquery(tx, err, sql, fmt, ap, -1);
	va_end(ap);
	return r;
}

size_t
store_rows_count(const struct store_rows *r)
{
	return r->nrows;
}

size_t
store_rows_cols(const struct store_rows *r)
{
	return r->ncols;
}

const char *
store_rows_str(const struct store_rows *r, size_t row, size_t col)
{
	/* A column the query does not select is a bug in the caller. */
	if (row >= r->nrows || col >= r->ncols)
		log_fatal("result cell out of range",
			  "row=%zu col=%zu ncols=%zu", row, col, r->ncols);
	return r->cells[row * r->ncols + col];
}

int64_t
store_rows_int(const struct store_rows *r, size_t row, size_t col, int64_t def)
{
	const char *s = store_rows_str(r, row, col);

	return s ? strtoll(s, NULL, 10) : def;
}

const char *
store_rows_name(const struct store_rows *r, size_t col)
{
	return r->names[col];
}

void
store_rows_free(struct store_rows *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrows * r->ncols; i++)
		free(r->cells[i]);
	for (size_t i = 0; i < r->ncols; i++)
		free(r->names[i]);
	free(r->names);
	free(r->cells);
	free(r);
}

/*
 * One run of work in a transaction. The work function's answer decides
 * between COMMIT and ROLLBACK only if no statement failed on the way (see
 * the design note): a poisoned transaction is rolled back and reported by
 * its first error, so the retry logic sees the deadlock that caused it.
 */
static int
store_attempt(struct store_tx *tx, store_work_fn work, void *arg,
	      struct cbd_err *err)
{
	int rc;

	if (store_exec_raw(tx, err, "START TRANSACTION") != 0)
		return -1;
	tx->in_tx = 1;
	rc = work(tx, arg, err);
	if (rc == 0 && tx->poison_errno != 0) {
		log_warn("not committing after a failed statement",
			 "worker=%d errno=%u", tx->index, tx->poison_errno);
		cbd_err_clear(err);
		store_err_for(tx->poison_errno, err);
		rc = -1;
	}
	/* Nothing failed that we saw; check the transaction is still ours
	 * before committing it (see store_tx_gone). */
	if (rc == 0 && store_tx_gone(tx, err, "COMMIT"))
		rc = -1;
	if (rc == 0) {
		tx->in_commit = 1;
		if (mysql_commit(tx->conn) != 0) {
			store_fail(tx, err, mysql_errno(tx->conn), "COMMIT",
				   mysql_error(tx->conn));
			rc = -1;
		}
	} else if (tx->conn != NULL) {
		unsigned e =
			tx->poison_errno ? tx->poison_errno : tx->last_errno;
		if (!store_errno_is_conn(e) && mysql_rollback(tx->conn) != 0)
			tx->last_errno = mysql_errno(tx->conn);
	}
	tx->in_tx = 0;
	store_close_spent(tx);
	return rc;
}

/* Sleep before run attempt+1: exponential, with full jitter in the upper
 * half so that nodes that collided once do not collide again in step. */
static void
store_backoff(struct store_tx *tx, int attempt)
{
	unsigned cap = STORE_BACKOFF_MIN_US;

	for (int i = 0; i < attempt && cap < STORE_BACKOFF_MAX_US; i++)
		cap *= 2;
	if (cap > STORE_BACKOFF_MAX_US)
		cap = STORE_BACKOFF_MAX_US;
	usleep(cap / 2 + (unsigned)rand_r(&tx->seed) % (cap / 2));
}

/*
 * Run one job to completion on tx: connect if needed, run the work function
 * in a transaction, retry on deadlocks and conflicts and on a connection
 * lost before COMMIT.
 */
static void
store_run_job(struct store_tx *tx, store_work_fn work, void *arg, int *rcp,
	      struct cbd_err *err)
{
	struct store_pool *p = tx->pool;
	int conn_retries = 0;
	int rc = -1;

	for (int attempt = 0;; attempt++) {
		unsigned e;

		cbd_err_clear(err);
		tx->last_errno = 0;
		tx->poison_errno = 0;
		tx->in_commit = 0;
		tx->commits_itself = 0;
		if (store_connect(tx, err) != 0) {
			rc = -1;
			break;
		}
		rc = store_attempt(tx, work, arg, err);
		if (rc == 0) {
			if (tx->said_unready)
				log_info("database node ready again",
					 "worker=%d", tx->index);
			tx->said_unready = 0;
			break;
		}
		e = tx->poison_errno ? tx->poison_errno : tx->last_errno;
		if (store_errno_is_conn(e)) {
			store_disconnect(tx);
			/* Only a transaction that never reached COMMIT is
			 * known not to have happened: run it again once. */
			if (!tx->in_commit && conn_retries++ == 0)
				continue;
			cbd_err_set(err, 503, "database-unavailable", "",
				    "the database is not reachable; try again "
				    "shortly");
			err->retry_after_sec = 2;
			break;
		}
		if (!store_errno_is_retry(e))
			break;
		if (attempt + 1 >= p->max_attempts) {
			atomic_fetch_add(&p->exhausted, 1);
			log_warn("transaction retries exhausted",
				 "worker=%d attempts=%d errno=%u", tx->index,
				 attempt + 1, e);
			break;
		}
		atomic_fetch_add(&p->retries, 1);
		store_backoff(tx, attempt);
	}
	*rcp = rc;
}

static void *
store_worker_main(void *varg)
{
	struct store_tx *tx = varg;
	struct store_pool *p = tx->pool;
	struct cbd_err scratch;

	mysql_thread_init();
	memset(&scratch, 0, sizeof(scratch));
	/* Connect eagerly so the first requests do not pay for it. */
	(void)store_connect(tx, &scratch);
	cbd_err_clear(&scratch);
	for (;;) {
		struct store_job *job;

		pthread_mutex_lock(&p->mu);
		while (p->q_head == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->q_head == NULL) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		job = p->q_head;
		p->q_head = job->next;
		if (p->q_head == NULL)
			p->q_tail = NULL;
		p->q_len--;
		pthread_mutex_unlock(&p->mu);

		atomic_fetch_add(&p->in_use, 1);
		store_run_job(tx, job->work, job->arg, &job->rc, &job->err);
		atomic_fetch_sub(&p->in_use, 1);

		job->next = NULL;
		pthread_mutex_lock(&p->mu);
		if (p->d_tail)
			p->d_tail->next = job;
		else
			p->d_head = job;
		p->d_tail = job;
		pthread_mutex_unlock(&p->mu);
		event_active(p->done_ev, EV_READ, 0);
	}
	store_disconnect(tx);
	free(tx->spent);
	mysql_thread_end();
	return NULL;
}

/* Loop thread: hand finished jobs back to their owners. */
static void
store_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_pool *p = arg;
	struct store_job *job, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&p->mu);
	job = p->d_head;
	p->d_head = p->d_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	for (; job != NULL; job = next) {
		next = job->next;
		p->busy--;
		job->done(job->arg, job->rc, &job->err);
		cbd_err_clear(&job->err);
		free(job);
	}
}

static char *
store_opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

/* The connection settings both kinds of pool share. */
static void
store_pool_conf(struct store_pool *p, const struct config *cfg)
{
	p->host = store_opt(cfg->db_host);
	p->socket = store_opt(cfg->db_socket);
	p->user = store_opt(cfg->db_user);
	p->password = store_opt(cfg->db_password);
	p->dbname = store_opt(cfg->db_name);
	p->port = (unsigned)cfg->db_port;
	p->max_attempts = cfg->db_max_attempts > 0 ? cfg->db_max_attempts : 1;
	p->sync_wait = cfg->db_sync_wait;
}

struct store_pool *
store_pool_new(struct event_base *base, const struct config *cfg)
{
	struct store_pool *p = xcalloc(1, sizeof(*p));

	store_pool_conf(p, cfg);
	p->nthreads = cfg->store_threads;
	p->queue_max = cfg->store_queue_max;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->done_ev = event_new(base, -1, EV_READ, store_done_cb, p);
	p->threads = xcalloc((size_t)p->nthreads, sizeof(pthread_t));
	p->txs = xcalloc((size_t)p->nthreads, sizeof(struct store_tx));
	for (int i = 0; i < p->nthreads; i++) {
		p->txs[i].pool = p;
		p->txs[i].index = i;
		p->txs[i].seed = (unsigned)clock_mono_ms() ^
				 (unsigned)getpid() ^ (unsigned)i * 2654435761u;
		if (pthread_create(&p->threads[i], NULL, store_worker_main,
				   &p->txs[i]) != 0)
			log_fatal("cannot start store thread", "errno=%d",
				  errno);
	}
	return p;
}

void
store_pool_free(struct store_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Deliver what finished so every done runs exactly once. */
	store_done_cb(-1, 0, p);
	event_free(p->done_ev);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p->txs);
	free(p->host);
	free(p->socket);
	free(p->user);
	free(p->password);
	free(p->dbname);
	free(p);
}

int
store_submit(struct store_pool *p, store_work_fn work, store_done_fn done,
	     void *arg)
{
	struct store_job *job;

	if (p->busy >= p->queue_max)
		return -1;
	job = xcalloc(1, sizeof(*job));
	job->work = work;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&p->mu);
	if (p->q_tail)
		p->q_tail->next = job;
	else
		p->q_head = job;
	p->q_tail = job;
	p->q_len++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->busy++;
	return 0;
}

int
store_busy(const struct store_pool *p)
{
	return p->busy;
}

int
store_in_use(const struct store_pool *p)
{
	return atomic_load(&((struct store_pool *)p)->in_use);
}

int
store_connected(const struct store_pool *p)
{
	return atomic_load(&((struct store_pool *)p)->connected);
}

uint64_t
store_db_errors(const struct store_pool *p)
{
	return atomic_load(&((struct store_pool *)p)->db_errors);
}

void
store_stats(const struct store_pool *p, struct store_stats *st)
{
	struct store_pool *q = (struct store_pool *)p;

	st->conflicts = atomic_load(&q->conflicts);
	st->retries = atomic_load(&q->retries);
	st->exhausted = atomic_load(&q->exhausted);
	st->unavailable = atomic_load(&q->unavailable);
}

int
store_is_galera(const struct store_tx *tx)
{
	return tx->is_galera;
}

int
store_run_once(const struct config *cfg, store_work_fn work, void *arg,
	       struct cbd_err *err)
{
	struct store_pool p;
	struct store_tx tx;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	memset(&tx, 0, sizeof(tx));
	store_pool_conf(&p, cfg);
	tx.pool = &p;
	tx.seed = (unsigned)clock_mono_ms() ^ (unsigned)getpid();
	store_run_job(&tx, work, arg, &rc, err);
	store_disconnect(&tx);
	free(tx.spent);
	free(p.host);
	free(p.socket);
	free(p.user);
	free(p.password);
	free(p.dbname);
	return rc;
}
