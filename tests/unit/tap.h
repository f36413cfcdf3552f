/*
 * tap.h: a minimal Test Anything Protocol emitter for unit tests, read by
 * automake's tap-driver.sh. Header-only so each test is one .c file.
 */
#ifndef CBD_TAP_H
#define CBD_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                 \
	tap_is_int((int64_t)(got), (int64_t)(want), __FILE__, __LINE__,        \
		   __VA_ARGS__)
#define is_str(got, want, ...)                                                 \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_ok(int pass, const char *file, int line, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));
static inline int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   at %s:%d\n", file, line);
	}
	return pass;
}

#define tap_is_int(got, want, file, line, ...)                                 \
	(tap_ok((got) == (want), file, line, __VA_ARGS__) ||                   \
	 (printf("#   got %" PRId64 ", want %" PRId64 "\n", (int64_t)(got),    \
		 (int64_t)(want)),                                             \
	  0))

static inline int
tap_is_str(const char *got, const char *want, const char *file, int line,
	   const char *what, ...)
{
	int pass = got != NULL && want != NULL && strcmp(got, want) == 0;
	char msg[512];
	va_list ap;

	va_start(ap, what);
	vsnprintf(msg, sizeof(msg), what, ap);
	va_end(ap);
	if (!tap_ok(pass, file, line, "%s", msg))
		printf("#   got '%s', want '%s'\n", got ? got : "(null)",
		       want ? want : "(null)");
	return pass;
}

/* Print the plan and return the process exit status. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 ? 0 : 1;
}

#endif
