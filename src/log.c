/*
 * log.c: logfmt lines on stderr. Each line is formatted into one buffer and
 * written with a single write(2), so lines from the loop and from store
 * threads never interleave.
 *
 * Repeats: a warning or error says something once; while a database is
 * down the same line would otherwise come from every poll (fifty a second
 * from the outbox alone) and bury everything else. So per message text
 * the first line of an interval is written, the rest of the interval only
 * counted, and when it ends one line carries the last one's fields and
 * "repeated=N". Every line, written or counted, also counts towards
 * callbackd_log_errors_total on /metrics, so the rate stays visible.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

_Atomic enum log_level log_min_level = LOG_INFO;
_Atomic int log_repeat_interval_sec = 10;

#define LOG_REPEAT_SLOTS 64 /* distinct messages tracked; more: not held */

/* One message text's interval. All fields under log_repeat_lock. */
struct log_repeat {
	char msg[64];          /* the key; "" marks a free slot */
	enum log_level level;  /* of the latest line */
	int64_t window_end_ms; /* 0: no interval open, the next line is written
				*/
	uint64_t held;         /* lines of this interval not written */
	uint64_t total;        /* every line since start, for /metrics */
	char last[512];        /* fields of the latest held line */
};

static pthread_mutex_t log_repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_repeat log_repeats[LOG_REPEAT_SLOTS];

static const char *const log_names[] = { "debug", "info", "warn", "error",
					 "fatal" };

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(log_names) - 1; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_emit(enum log_level level, const char *msg, const char *fields,
	 const char *suffix)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n,
		     ".%03dZ level=%s msg=\"%s\"%s%s%s",
		     (int)(tv.tv_usec / 1000), log_names[level], msg,
		     fields[0] ? " " : "", fields, suffix);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k
						  : sizeof(line) - n - 1;
	line[n++] = '\n';
	/* A failed log write has nowhere better to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

static int64_t
log_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close r's interval if it is over: the count of what it held goes out in
 * one line, and a new interval opens if anything was held (the trouble
 * goes on, so the next line is held as well). Lock held. */
static void
log_repeat_close(struct log_repeat *r, int64_t now)
{
	char suffix[64];

	if (r->window_end_ms == 0 || now < r->window_end_ms)
		return;
	if (r->held == 0) {
		r->window_end_ms = 0;
		return;
	}
	snprintf(suffix, sizeof(suffix),
		 " repeated=%" PRIu64 " interval_sec=%d", r->held,
		 log_repeat_interval_sec);
	log_emit(r->level, r->msg, r->last, suffix);
	r->held = 0;
	r->window_end_ms = now + (int64_t)log_repeat_interval_sec * 1000;
}

static struct log_repeat *
log_repeat_find(const char *msg)
{
	struct log_repeat *free_slot = NULL;

	for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++) {
		struct log_repeat *r = &log_repeats[i];

		if (r->msg[0] == '\0') {
			if (free_slot == NULL)
				free_slot = r;
		} else if (strncmp(r->msg, msg, sizeof(r->msg) - 1) == 0) {
			return r;
		}
	}
	if (free_slot != NULL)
		snprintf(free_slot->msg, sizeof(free_slot->msg), "%s", msg);
	return free_slot;
}

/* Whether this warning or error is written now (1) or only counted (0). */
static int
log_repeat_admit(enum log_level level, const char *msg, const char *fields)
{
	struct log_repeat *r;
	int64_t now = log_mono_ms();
	int admit = 1;

	pthread_mutex_lock(&log_repeat_lock);
	r = log_repeat_find(msg);
	if (r != NULL) {
		r->total++;
		log_repeat_close(r, now);
		r->level = level;
		if (r->window_end_ms == 0) {
			r->window_end_ms =
				now + (int64_t)log_repeat_interval_sec * 1000;
		} else {
			r->held++;
			snprintf(r->last, sizeof(r->last), "%s", fields);
			admit = 0;
		}
	}
	pthread_mutex_unlock(&log_repeat_lock);
	return admit;
}

void
log_repeat_flush(void)
{
	int64_t now = log_mono_ms();

	pthread_mutex_lock(&log_repeat_lock);
	for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++)
		if (log_repeats[i].msg[0] != '\0')
			log_repeat_close(&log_repeats[i], now);
	pthread_mutex_unlock(&log_repeat_lock);
}

char *
log_metrics_text(void)
{
	size_t cap = 256, len = 0;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	len = (size_t)snprintf(
		out, cap,
		"# HELP callbackd_log_errors_total Warnings and errors, "
		"written or counted as repeats, by message.\n"
		"# TYPE callbackd_log_errors_total counter\n");
	pthread_mutex_lock(&log_repeat_lock);
	for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++) {
		const struct log_repeat *r = &log_repeats[i];
		char esc[2 * sizeof(r->msg)];
		size_t e = 0;
		int k;

		if (r->msg[0] == '\0')
			continue;
		for (const char *c = r->msg; *c; c++) {
			if (*c == '"' || *c == '\\')
				esc[e++] = '\\';
			esc[e++] = *c == '\n' ? ' ' : *c;
		}
		esc[e] = '\0';
		for (;;) {
			k = snprintf(out + len, cap - len,
				     "callbackd_log_errors_total{level=\"%s\","
				     "kind=\"%s\"} %" PRIu64 "\n",
				     log_names[r->level], esc, r->total);
			if (k >= 0 && (size_t)k < cap - len)
				break;
			cap *= 2;
			out = realloc(out, cap);
			if (out == NULL)
				abort();
		}
		len += (size_t)k;
	}
	pthread_mutex_unlock(&log_repeat_lock);
	return out;
}

static void
log_vwrite(enum log_level level, int is_held_if_repeated, const char *msg,
	   const char *fmt, va_list ap)
{
	char fields[1536];

	fields[0] = '\0';
	if (fmt != NULL && fmt[0] != '\0')
		vsnprintf(fields, sizeof(fields), fmt, ap);
	if (is_held_if_repeated && level >= LOG_WARN && level < LOG_FATAL &&
	    !log_repeat_admit(level, msg, fields))
		return;
	log_emit(level, msg, fields, "");
}

void
log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, 1, msg, fmt, ap);
	va_end(ap);
}

void
log_write_each(enum log_level level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, 0, msg, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_FATAL, 0, msg, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_mask_phone(const char *phone, char *buf, size_t size)
{
	size_t len = phone ? strlen(phone) : 0;

	if (len < 8 || size < len + 1) {
		snprintf(buf, size, "***");
		return buf;
	}
	/* Keep the country code prefix and the last three digits only. */
	for (size_t i = 0; i < len; i++)
		buf[i] = (i < 4 || i >= len - 3) ? phone[i] : '*';
	buf[len] = '\0';
	return buf;
}
