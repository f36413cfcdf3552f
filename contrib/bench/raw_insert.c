/*
 * raw_insert.c: the ceiling a booking is measured against.
 *
 * N threads, each with its own MariaDB connection over the unix socket,
 * insert one row and COMMIT, over and over, for D seconds. The row is as
 * wide as a callbacks row and its table has the same secondary keys, the
 * session is set up as the daemon sets up its own, and the server keeps
 * its durable defaults: every COMMIT waits for the redo log to reach the
 * disk (group commit may share one flush among several threads). What is
 * left is the cost of a durable transaction with one row in it, which no
 * booking can beat.
 *
 *   raw_insert -S SOCKET [-u USER] [-D DATABASE] [-c THREADS] [-d SECONDS]
 *              [-w WARMUP_SECONDS]
 *
 * Prints one logfmt line: rows_per_sec, rows, seconds, threads, commit
 * latency percentiles (p50_ms, p99_ms) and errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#define RAW_MAX_THREADS  256
#define RAW_HIST_STEP_US 10    /* width of one latency bucket */
#define RAW_HIST_BUCKETS 20000 /* 10 us steps up to 200 ms; then overflow */
#define RAW_TABLE        "bench_raw"

/* What callbackd sends at connect (store.c), so both sides of the ratio
 * run with the same isolation, lock wait and charset. */
#define RAW_INIT_COMMAND                                                       \
	"SET time_zone = '+00:00', sql_mode = "                                \
	"'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION',"             \
	" tx_isolation = 'READ-COMMITTED', innodb_lock_wait_timeout = 5"

/* The callbacks table of schema/0001_init.sql under another name. */
#define RAW_CREATE                                                             \
	"CREATE TABLE IF NOT EXISTS " RAW_TABLE " ("                           \
	" id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"                      \
	" case_id BIGINT UNSIGNED NOT NULL,"                                   \
	" customer_id BIGINT UNSIGNED NOT NULL,"                               \
	" owner_id BIGINT UNSIGNED NOT NULL,"                                  \
	" state ENUM('pending', 'scheduled', 'in_progress', 'completed',"      \
	"  'retry_wait', 'cancelled', 'failed') NOT NULL,"                     \
	" topic VARCHAR(200) NOT NULL,"                                        \
	" is_asap TINYINT NOT NULL,"                                           \
	" due_at BIGINT NOT NULL,"                                             \
	" notify VARCHAR(32) NOT NULL DEFAULT '',"                             \
	" attempts INT NOT NULL DEFAULT 0,"                                    \
	" claimed_by BIGINT UNSIGNED NULL,"                                    \
	" lease_until BIGINT NULL,"                                            \
	" ics_sequence INT NOT NULL DEFAULT 0,"                                \
	" created_at BIGINT NOT NULL,"                                         \
	" updated_at BIGINT NOT NULL,"                                         \
	" KEY raw_queue (owner_id, state, due_at),"                            \
	" KEY raw_due (state, due_at),"                                        \
	" KEY raw_customer (customer_id, state)"                               \
	") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"                          \
	" COLLATE = utf8mb4_unicode_ci"

#define RAW_INSERT                                                             \
	"INSERT INTO " RAW_TABLE " (case_id, customer_id, owner_id, state,"    \
	" topic, is_asap, due_at, notify, created_at, updated_at)"             \
	" VALUES (?, ?, ?, 'pending', ?, 1, ?, 'sms', ?, ?)"

struct raw_opts {
	const char *socket;
	const char *user;
	const char *database;
	int nthreads;
	int seconds;
	int warmup_seconds;
};

/* One inserting thread. */
struct raw_worker {
	const struct raw_opts *opts;
	int index;
	pthread_t thread;

	/* Written by the worker, read by main while it runs: plain counters
	 * would be torn or cached, hence atomics. */
	atomic_uint_fast64_t rows;
	atomic_uint_fast64_t errors;
	atomic_int is_ready; /* connected and prepared */

	/* Written by the worker only; main reads it after join. Latencies of
	 * the transactions that started inside the measured window. */
	uint32_t *hist;
	uint64_t hist_over;
	char error[256];
};

/* Written by main only: 1 while the workers should record latencies, 2 once
 * they should stop. */
static atomic_int raw_phase;

static int64_t
raw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static MYSQL *
raw_connect(const struct raw_opts *o, char *error, size_t size)
{
	MYSQL *c = mysql_init(NULL);

	if (c == NULL) {
		snprintf(error, size, "mysql_init failed");
		return NULL;
	}
	mysql_options(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(c, MYSQL_INIT_COMMAND, RAW_INIT_COMMAND);
	/* A NULL host means localhost, which libmariadb reaches through the
	 * socket: the same path the daemon takes with db_socket set. */
	if (mysql_real_connect(c, NULL, o->user, NULL, o->database, 0,
			       o->socket, 0) == NULL) {
		snprintf(error, size, "connect: %s", mysql_error(c));
		mysql_close(c);
		return NULL;
	}
	return c;
}

static void
raw_worker_fail(struct raw_worker *w, const char *what, const char *msg)
{
	if (w->error[0] == '\0')
		snprintf(w->error, sizeof(w->error), "%s: %s", what, msg);
	atomic_fetch_add(&w->errors, 1);
}

static void *
raw_worker_main(void *arg)
{
	struct raw_worker *w = arg;
	MYSQL *c = NULL;
	MYSQL_STMT *st = NULL;
	MYSQL_BIND b[7];
	long long ids[3], times[3];
	char topic[64];
	unsigned long topic_len;
	uint64_t n = 0;

	mysql_thread_init();
	c = raw_connect(w->opts, w->error, sizeof(w->error));
	if (c == NULL) {
		atomic_fetch_add(&w->errors, 1);
		goto out;
	}
	/* Autocommit off, so each row is its own explicit transaction ended by
	 * COMMIT: the shape of a booking without its other statements. */
	if (mysql_autocommit(c, 0) != 0) {
		raw_worker_fail(w, "autocommit", mysql_error(c));
		goto out;
	}
	st = mysql_stmt_init(c);
	if (st == NULL ||
	    mysql_stmt_prepare(st, RAW_INSERT, strlen(RAW_INSERT)) != 0) {
		raw_worker_fail(w, "prepare",
				st ? mysql_stmt_error(st) : mysql_error(c));
		goto out;
	}
	memset(b, 0, sizeof(b));
	for (int i = 0; i < 3; i++) {
		b[i].buffer_type = MYSQL_TYPE_LONGLONG;
		b[i].buffer = &ids[i];
	}
	b[3].buffer_type = MYSQL_TYPE_STRING;
	b[3].buffer = topic;
	b[3].length = &topic_len;
	for (int i = 0; i < 3; i++) {
		b[4 + i].buffer_type = MYSQL_TYPE_LONGLONG;
		b[4 + i].buffer = &times[i];
	}
	if (mysql_stmt_bind_param(st, b) != 0) {
		raw_worker_fail(w, "bind", mysql_stmt_error(st));
		goto out;
	}
	atomic_store(&w->is_ready, 1);

	while (atomic_load(&raw_phase) < 2) {
		int64_t t0 = raw_now_us(), dt;
		int is_measured = atomic_load(&raw_phase) == 1;

		n++;
		/* Ids that spread over the secondary keys the way bookings do:
		 * many customers, a few owners. */
		ids[0] = (long long)(w->index * 100000000ULL + n);
		ids[1] = ids[0];
		ids[2] = (long long)(n % 20 + 1);
		times[0] = times[1] = times[2] = (long long)time(NULL);
		topic_len = (unsigned long)snprintf(
			topic, sizeof(topic), "benchmark booking %d-%" PRIu64,
			w->index, n);
		/* Any failure ends this thread: single-row inserts into an
		 * uncontended table have nothing to retry, and a run with a
		 * failure in it measures something else. */
		if (mysql_stmt_execute(st) != 0) {
			raw_worker_fail(w, "insert", mysql_stmt_error(st));
			goto out;
		}
		if (mysql_commit(c) != 0) {
			raw_worker_fail(w, "commit", mysql_error(c));
			goto out;
		}
		dt = raw_now_us() - t0;
		/* The rate comes from main's snapshots of rows; the
		 * histogram takes transactions that started in the window,
		 * the few that end just after it included. */
		if (is_measured) {
			if (dt / RAW_HIST_STEP_US < RAW_HIST_BUCKETS)
				w->hist[dt / RAW_HIST_STEP_US]++;
			else
				w->hist_over++;
		}
		atomic_fetch_add(&w->rows, 1);
	}
out:
	/* Workers that fail to start must not leave main waiting. */
	atomic_store(&w->is_ready, 1);
	if (st != NULL)
		mysql_stmt_close(st);
	if (c != NULL)
		mysql_close(c);
	mysql_thread_end();
	return NULL;
}

/* The latency below which a fraction q of the recorded commits finished,
 * in milliseconds; total counts the histogram and its overflow, so a
 * percentile that falls in the overflow reports the last bucket's edge. */
static double
raw_percentile(const uint64_t *hist, uint64_t total, double q)
{
	uint64_t want = (uint64_t)(q * (double)total + 0.5), seen = 0;

	if (total == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (int i = 0; i < RAW_HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want)
			return (i + 1) * RAW_HIST_STEP_US / 1000.0;
	}
	return RAW_HIST_BUCKETS * RAW_HIST_STEP_US / 1000.0;
}

static uint64_t
raw_sum_rows(struct raw_worker *w, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += atomic_load(&w[i].rows);
	return sum;
}

static void
raw_usage(FILE *f)
{
	fprintf(f, "usage: raw_insert -S SOCKET [-u USER] [-D DATABASE] "
		   "[-c THREADS] [-d SECONDS] [-w WARMUP_SECONDS]\n");
}

static int
raw_parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Create the table once, before the threads race to use it. */
static int
raw_prepare_table(const struct raw_opts *o)
{
	char error[256];
	MYSQL *c = raw_connect(o, error, sizeof(error));
	int rc = -1;

	if (c == NULL) {
		fprintf(stderr, "raw_insert: %s\n", error);
		return -1;
	}
	if (mysql_query(c, RAW_CREATE) != 0) {
		fprintf(stderr, "raw_insert: create table: %s\n",
			mysql_error(c));
		goto out;
	}
	rc = 0;
out:
	mysql_close(c);
	return rc;
}

int
main(int argc, char **argv)
{
	struct raw_opts o = { NULL, "root", "bench", 16, 10, 1 };
	struct raw_worker *w = NULL;
	uint64_t *hist = NULL, over = 0, total = 0, rows0 = 0, rows1 = 0;
	uint64_t errors = 0;
	int64_t t0 = 0, t1 = 0;
	double secs;
	int opt, started = 0, rc = 1;

	while ((opt = getopt(argc, argv, "S:u:D:c:d:w:h")) != -1) {
		switch (opt) {
		case 'S':
			o.socket = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'D':
			o.database = optarg;
			break;
		case 'c':
			if (raw_parse_int(optarg, 1, RAW_MAX_THREADS,
					  &o.nthreads) != 0)
				goto bad_usage;
			break;
		case 'd':
			if (raw_parse_int(optarg, 1, 3600, &o.seconds) != 0)
				goto bad_usage;
			break;
		case 'w':
			if (raw_parse_int(optarg, 0, 600, &o.warmup_seconds) !=
			    0)
				goto bad_usage;
			break;
		case 'h':
			raw_usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (o.socket == NULL || optind != argc)
		goto bad_usage;

	if (mysql_library_init(0, NULL, NULL) != 0) {
		fprintf(stderr, "raw_insert: mysql_library_init failed\n");
		return 1;
	}
	if (raw_prepare_table(&o) != 0)
		goto out;

	w = calloc((size_t)o.nthreads, sizeof(*w));
	hist = calloc(RAW_HIST_BUCKETS, sizeof(*hist));
	if (w == NULL || hist == NULL) {
		fprintf(stderr, "raw_insert: out of memory\n");
		goto out;
	}
	for (int i = 0; i < o.nthreads; i++) {
		w[i].opts = &o;
		w[i].index = i;
		w[i].hist = calloc(RAW_HIST_BUCKETS, sizeof(*w[i].hist));
		if (w[i].hist == NULL) {
			fprintf(stderr, "raw_insert: out of memory\n");
			goto stop;
		}
		if (pthread_create(&w[i].thread, NULL, raw_worker_main,
				   &w[i]) != 0) {
			fprintf(stderr, "raw_insert: pthread_create failed\n");
			goto stop;
		}
		started++;
	}
	/* The clock starts when every connection is up, so connecting (and a
	 * cold buffer pool during the warm-up) stays out of the figure. */
	for (int i = 0; i < o.nthreads; i++)
		while (!atomic_load(&w[i].is_ready))
			usleep(1000);
	sleep((unsigned)o.warmup_seconds);
	atomic_store(&raw_phase, 1);
	rows0 = raw_sum_rows(w, o.nthreads);
	t0 = raw_now_us();
	sleep((unsigned)o.seconds);
	rows1 = raw_sum_rows(w, o.nthreads);
	t1 = raw_now_us();
	rc = 0;
stop:
	atomic_store(&raw_phase, 2);
	for (int i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	for (int i = 0; i < started; i++) {
		errors += atomic_load(&w[i].errors);
		if (w[i].error[0] != '\0')
			fprintf(stderr, "raw_insert: thread %d: %s\n", i,
				w[i].error);
		for (int j = 0; j < RAW_HIST_BUCKETS; j++) {
			hist[j] += w[i].hist[j];
			total += w[i].hist[j];
		}
		over += w[i].hist_over;
	}
	total += over;
	if (rc == 0) {
		secs = (double)(t1 - t0) / 1e6;
		printf("rows_per_sec=%.1f rows=%" PRIu64 " seconds=%.2f "
		       "threads=%d p50_ms=%.2f p99_ms=%.2f errors=%" PRIu64
		       "\n",
		       (double)(rows1 - rows0) / secs, rows1 - rows0, secs,
		       o.nthreads, raw_percentile(hist, total, 0.50),
		       raw_percentile(hist, total, 0.99), errors);
		/* A thread that never connected would make the rate look
		 * like a slow server instead of a broken run. */
		if (errors > 0)
			rc = 1;
	}
out:
	if (w != NULL)
		for (int i = 0; i < o.nthreads; i++)
			free(w[i].hist);
	free(w);
	free(hist);
	mysql_library_end();
	return rc;
bad_usage:
	raw_usage(stderr);
	return 2;
}
