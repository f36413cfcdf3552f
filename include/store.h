/*
 * store.h: MariaDB access. A fixed pool of worker threads, each owning one
 * connection, runs jobs as plain synchronous transactions; the loop thread
 * submits jobs and gets each result back on the loop, so no MariaDB call
 * ever blocks it.
 *
 * SQL goes through prepared statements only (cached per connection), with
 * parameters described by a format string:
 *   'i'  int64_t
 *   'n'  int64_t, where STORE_NULL means SQL NULL
 *   's'  const char *, NULL means SQL NULL
 *   'd'  double
 * Result cells come back as strings (NULL for SQL NULL).
 */
#ifndef CBD_STORE_H
#define CBD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define STORE_NULL INT64_MIN

struct event_base;
struct config;
struct store_pool;
struct store_tx;   /* one worker's connection inside one transaction */
struct store_rows; /* a fetched result set */

/*
 * Runs on a worker thread inside a transaction. Return 0 to commit, -1 with
 * err set to roll back. A deadlock, lock wait timeout or Galera conflict in
 * any statement makes the pool retry the whole function (so it must be
 * re-runnable: keep side effects outside the database in the done
 * callback). A transaction in which any statement failed, other than with a
 * duplicate key (1062) or DDL finding its object there already (1050, 1060,
 * 1061), is never committed, even if this returns 0.
 */
typedef int (*store_work_fn)(struct store_tx *tx, void *arg,
			     struct cbd_err *err);
/* Runs on the loop thread with the job's outcome; owns arg again. */
typedef void (*store_done_fn)(void *arg, int rc, struct cbd_err *err);

struct store_pool *store_pool_new(struct event_base *base,
				  const struct config *cfg);
/* Finish queued jobs, stop the workers, close connections. NULL ok. */
void store_pool_free(struct store_pool *p);
/*
 * Queue work; done is called on the loop thread exactly once, later (never
 * from inside this call). Returns -1 when the queue is full: the caller
 * answers 503 itself.
 */
int store_submit(struct store_pool *p, store_work_fn work, store_done_fn done,
		 void *arg) CBD_MUSTCHECK;
/* Jobs queued or running. */
int store_busy(const struct store_pool *p);
/* Workers currently holding a job. */
int store_in_use(const struct store_pool *p);
/* Connections that are up, for /readyz. */
int store_connected(const struct store_pool *p);
/* Count of MariaDB errors seen (for /metrics). */
uint64_t store_db_errors(const struct store_pool *p);
/* Running totals since start, for /metrics. */
struct store_stats {
	uint64_t conflicts;   /* 1213: deadlocks and certification conflicts */
	uint64_t retries;     /* transactions run again after one */
	uint64_t exhausted;   /* given up after db_max_attempts runs */
	uint64_t unavailable; /* 1047/1180: a Galera node not ready */
};
void store_stats(const struct store_pool *p, struct store_stats *st);

/*
 * A one-off connection for command-line work (migrations, --create-key):
 * runs work in a transaction on the calling thread. Returns work's result.
 */
int store_run_once(const struct config *cfg, store_work_fn work, void *arg,
		   struct cbd_err *err) CBD_MUSTCHECK;

/* Execute a statement; returns affected rows (>= 0), or -1 with err set. */
int64_t store_exec(struct store_tx *tx, struct cbd_err *err, const char *sql,
		   const char *fmt, ...) CBD_MUSTCHECK;
/*
 * store_exec for SQL text built at run time (e.g. an IN list of ids the
 * daemon made itself; never user text): prepared each time, not cached.
 */
int64_t store_exec_built(struct store_tx *tx, struct cbd_err *err,
			 const char *sql, const char *fmt, ...) CBD_MUSTCHECK;
/* Run a query and fetch all rows; NULL with err set on failure. */
struct store_rows *store_query(struct store_tx *tx, struct cbd_err *err,
			       const char *sql, const char *fmt,
			       ...) CBD_MUSTCHECK;
/* store_query for a row that must exist: NULL with 404 "no such <what>"
 * when there is none. */
struct store_rows *store_query_one(struct store_tx *tx, struct cbd_err *err,
				   const char *what, const char *sql,
				   const char *fmt, ...) CBD_MUSTCHECK;
/* store_query for SQL text built at run time (see store_exec_built);
 * without parameters (fmt ""), one round trip over the text protocol. */
struct store_rows *store_query_built(struct store_tx *tx, struct cbd_err *err,
				     const char *sql, const char *fmt,
				     ...) CBD_MUSTCHECK;
/* Text-protocol statement without parameters (DDL, SET, locks). */
int store_exec_raw(struct store_tx *tx, struct cbd_err *err,
		   const char *sql) CBD_MUSTCHECK;
/* AUTO_INCREMENT id of the last insert on this connection. */
int64_t store_last_id(struct store_tx *tx);
/* The MariaDB error number of the last failed statement (e.g. 1062). */
unsigned store_errno(const struct store_tx *tx);
/* The first error that dooms this transaction (0: none; see store_work_fn).
 */
unsigned store_failed_errno(const struct store_tx *tx);
/*
 * A claim or lock found fewer rows to change than it locked: another
 * transaction got there first (on Galera, another node, whose row locks we
 * cannot see). Dooms this transaction as a deadlock would, so the store runs
 * it again from the start. Returns -1 with err set, for "return
 * store_conflict(...)".
 */
int store_conflict(struct store_tx *tx, struct cbd_err *err,
		   const char *what) CBD_MUSTCHECK;
/*
 * Say that this run's work ends transactions itself (DDL, an explicit
 * COMMIT), so the store does not take a transaction found closed before
 * its COMMIT for one that an unseen abort ended. Migrations only.
 */
void store_commits_itself(struct store_tx *tx);
/* The connection's server is a Galera node (detected at connect). */
int store_is_galera(const struct store_tx *tx);
/* The worker's index, 0-based (for per-thread state such as RNG seeds). */
int store_worker_index(const struct store_tx *tx);

/*
 * Batches: rows gathered in memory and written with multi-row INSERTs of a
 * few hundred rows each, for bulk work (a lead moving thousands of calls)
 * where one statement per row would cost a round trip each. head is
 * "INSERT INTO t (a, b) VALUES"; rowfmt gives each row's types ('i', 'n',
 * 's'); store_batch_add takes one row's values and copies strings.
 */
struct store_batch;
struct store_batch *store_batch_new(const char *head, const char *rowfmt);
void store_batch_add(struct store_batch *b, ...);
size_t store_batch_rows(const struct store_batch *b);
/* Write and empty the batch; -1 with err on failure. */
int store_batch_flush(struct store_tx *tx, struct store_batch *b,
		      struct cbd_err *err) CBD_MUSTCHECK;
void store_batch_free(struct store_batch *b); /* NULL ok; drops rows */

size_t store_rows_count(const struct store_rows *r);
size_t store_rows_cols(const struct store_rows *r);
/* Borrowed cell text, NULL for SQL NULL; row/col must be in range. */
const char *store_rows_str(const struct store_rows *r, size_t row, size_t col);
/* Cell as int64; def when NULL. */
int64_t store_rows_int(const struct store_rows *r, size_t row, size_t col,
		       int64_t def);
/* Column name of col (borrowed). */
const char *store_rows_name(const struct store_rows *r, size_t col);
void store_rows_free(struct store_rows *r); /* accepts NULL */

#endif
