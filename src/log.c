/*
 * log.c: logfmt lines on stderr. Each line is formatted into one buffer and
 * written with a single write(2), so lines from the loop and from store
 * threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_min_level = LOG_INFO;

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
log_vwrite(enum log_level level, const char *msg, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03dZ level=%s msg=\"%s\"",
		     (int)(tv.tv_usec / 1000), log_names[level], msg);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n ? (size_t)k
						  : sizeof(line) - n - 1;
	if (fmt != NULL && fmt[0] != '\0' && n < sizeof(line) - 2) {
		line[n++] = ' ';
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (k > 0)
			n += (size_t)k < sizeof(line) - n
				     ? (size_t)k
				     : sizeof(line) - n - 1;
	}
	line[n++] = '\n';
	/* A failed log write has nowhere better to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void
log_write(enum log_level level, const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, msg, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *msg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_FATAL, msg, fmt, ap);
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
