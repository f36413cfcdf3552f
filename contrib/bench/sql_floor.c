/*
 * sql_floor.c: the SQL a request runs, without the daemon around it.
 *
 * N threads, each with its own MariaDB connection over the unix socket,
 * replay a transaction template (a file of statements, one per line, as
 * the daemon sends them for one request: see floor_booking.sql) over and
 * over for D seconds, each statement one round trip, as the daemon's own
 * are once its statement cache is warm. What it costs the server is the
 * floor of that request: what no daemon running the same statements can
 * beat; the daemon's own figure over this one is what it adds.
 *
 *   sql_floor -S SOCKET -f TEMPLATE [-u USER] [-D DATABASE] [-c THREADS]
 *             [-d SECONDS] [-w WARMUP_SECONDS] [-a AGENTS]
 *
 * In the template, {phone} is a phone number no other run of it uses,
 * {now}, {now_ms} the clock, {ago_1h}, {ago_2d}, {ago_30d}, {ago_1d} and
 * {in_12h} times around it, {owner} an agent id (1..AGENTS in turn), and a
 * line ending in "-- id:NAME" keeps its insert id for later {NAME}s (one
 * of cust, case, cb). Lines starting with "--" and empty lines are skipped.
 *
 * Prints one logfmt line: txn_per_sec, txns, statements_per_txn, seconds,
 * threads, latency percentiles (p50_ms, p99_ms) and errors.
 */
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

#define FLOOR_MAX_THREADS 256
#define FLOOR_MAX_LINES   64
#define FLOOR_HIST_STEP   10    /* us per latency bucket */
#define FLOOR_HIST_N      50000 /* up to 500 ms; then overflow */

/* What callbackd sends at connect (store.c). */
#define FLOOR_INIT_COMMAND                                                     \
	"SET time_zone = '+00:00', sql_mode = "                                \
	"'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION',"             \
	" tx_isolation = 'READ-COMMITTED', innodb_lock_wait_timeout = 5"

struct floor_line {
	char *sql;
	int keep; /* 0 none, 1 cust, 2 case, 3 cb */
};

static struct floor_line lines[FLOOR_MAX_LINES];
static int nlines, agents = 20, threads = 16, seconds = 10, warmup = 2;
static const char *sock, *user = "root", *db = "callbackd_bench";
static atomic_int stop, measuring;
static atomic_uint_fast64_t txns, errors;
static uint64_t hist[FLOOR_HIST_N + 1];
static pthread_mutex_t hist_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
load_template(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[16384];

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *mark, *end = buf + strcspn(buf, "\r\n");
		*end = '\0';
		if (buf[0] == '\0' || strncmp(buf, "--", 2) == 0)
			continue;
		if (nlines == FLOOR_MAX_LINES) {
			fprintf(stderr, "sql_floor: too many lines\n");
			exit(2);
		}
		mark = strstr(buf, "-- id:");
		if (mark != NULL) {
			const char *n = mark + 6;
			lines[nlines].keep = !strcmp(n, "cust")   ? 1
					     : !strcmp(n, "case") ? 2
					     : !strcmp(n, "cb")   ? 3
								  : 0;
			*mark = '\0';
		}
		lines[nlines++].sql = strdup(buf);
	}
	fclose(f);
}

/* The template line with its {names} filled in. */
static size_t
expand(const char *in, char *out, size_t cap, const char *phone, int64_t now,
       int64_t owner, const uint64_t *ids)
{
	size_t o = 0;

	while (*in && o + 64 < cap) {
		const char *close;
		char name[16];
		int64_t v;
		if (*in != '{' || (close = strchr(in, '}')) == NULL ||
		    close - in > 12) {
			out[o++] = *in++;
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(close - in - 1),
			 in + 1);
		in = close + 1;
		if (!strcmp(name, "phone")) {
			o += (size_t)snprintf(out + o, cap - o, "%s", phone);
			continue;
		}
		v = !strcmp(name, "now")       ? now
		    : !strcmp(name, "now_ms")  ? now * 1000
		    : !strcmp(name, "ago_1h")  ? now - 3600
		    : !strcmp(name, "ago_1d")  ? now - 86400
		    : !strcmp(name, "ago_2d")  ? now - 2 * 86400
		    : !strcmp(name, "ago_30d") ? now - 30 * 86400
		    : !strcmp(name, "in_12h")  ? now + 43200
		    : !strcmp(name, "owner")   ? owner
		    : !strcmp(name, "cust")    ? (int64_t)ids[1]
		    : !strcmp(name, "case")    ? (int64_t)ids[2]
		    : !strcmp(name, "cb")      ? (int64_t)ids[3]
					       : -1;
		o += (size_t)snprintf(out + o, cap - o, "%" PRId64, v);
	}
	out[o] = '\0';
	return o;
}

static void *
worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	MYSQL *c = mysql_init(NULL);
	static char buf[FLOOR_MAX_THREADS][16384];
	uint64_t n = 0;

	mysql_options(c, MYSQL_INIT_COMMAND, FLOOR_INIT_COMMAND);
	if (!mysql_real_connect(c, NULL, user, NULL, db, 0, sock, 0)) {
		fprintf(stderr, "sql_floor: connect: %s\n", mysql_error(c));
		atomic_fetch_add(&errors, 1);
		return NULL;
	}
	while (!atomic_load(&stop)) {
		uint64_t ids[4] = { 0, 0, 0, 0 };
		char phone[24];
		int64_t t0 = now_us(), now = (int64_t)time(NULL), us;
		int bad = 0;
		/* UK mobile numbers: 447 9, thread, counter. */
		snprintf(phone, sizeof(phone), "+4477%02d%06" PRIu64, id % 100,
			 n % 1000000);
		n++;
		for (int i = 0; i < nlines && !bad; i++) {
			size_t len = expand(lines[i].sql, buf[id], sizeof(buf[id]),
					    phone, now,
					    1 + (int64_t)(n % (uint64_t)agents),
					    ids);
			MYSQL_RES *res;
			if (mysql_real_query(c, buf[id], len) != 0) {
				bad = 1;
				break;
			}
			res = mysql_store_result(c);
			if (res != NULL)
				mysql_free_result(res);
			if (lines[i].keep)
				ids[lines[i].keep] = mysql_insert_id(c);
		}
		if (bad) {
			atomic_fetch_add(&errors, 1);
			mysql_query(c, "ROLLBACK");
			continue;
		}
		if (!atomic_load(&measuring))
			continue;
		us = now_us() - t0;
		atomic_fetch_add(&txns, 1);
		pthread_mutex_lock(&hist_mu);
		hist[us / FLOOR_HIST_STEP < FLOOR_HIST_N ? us / FLOOR_HIST_STEP
							 : FLOOR_HIST_N]++;
		pthread_mutex_unlock(&hist_mu);
	}
	mysql_close(c);
	return NULL;
}

static double
pct(double p, uint64_t total)
{
	uint64_t want = (uint64_t)(p * (double)total), seen = 0;

	for (int i = 0; i <= FLOOR_HIST_N; i++) {
		seen += hist[i];
		if (seen > want)
			return i * FLOOR_HIST_STEP / 1000.0;
	}
	return FLOOR_HIST_N * FLOOR_HIST_STEP / 1000.0;
}

int
main(int argc, char **argv)
{
	pthread_t th[FLOOR_MAX_THREADS];
	const char *tpl = NULL;
	int64_t t0, t1;
	int o;

	while ((o = getopt(argc, argv, "S:f:u:D:c:d:w:a:")) != -1) {
		switch (o) {
		case 'S': sock = optarg; break;
		case 'f': tpl = optarg; break;
		case 'u': user = optarg; break;
		case 'D': db = optarg; break;
		case 'c': threads = atoi(optarg); break;
		case 'd': seconds = atoi(optarg); break;
		case 'w': warmup = atoi(optarg); break;
		case 'a': agents = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: sql_floor -S SOCKET -f TEMPLATE "
					"[-u USER] [-D DB] [-c N] [-d S] [-w S] "
					"[-a AGENTS]\n");
			return 2;
		}
	}
	if (sock == NULL || tpl == NULL || threads < 1 ||
	    threads > FLOOR_MAX_THREADS || seconds < 1 || agents < 1)
		return 2;
	load_template(tpl);
	mysql_library_init(0, NULL, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	sleep((unsigned)warmup);
	atomic_store(&measuring, 1);
	t0 = now_us();
	sleep((unsigned)seconds);
	atomic_store(&measuring, 0);
	t1 = now_us();
	atomic_store(&stop, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	{
		uint64_t n = atomic_load(&txns);
		double secs = (double)(t1 - t0) / 1e6;
		printf("txn_per_sec=%.1f txns=%" PRIu64 " statements_per_txn=%d "
		       "seconds=%.2f threads=%d p50_ms=%.2f p99_ms=%.2f "
		       "errors=%" PRIu64 "\n",
		       (double)n / secs, n, nlines, secs, threads,
		       pct(0.5, n), pct(0.99, n), atomic_load(&errors));
	}
	mysql_library_end();
	return 0;
}
