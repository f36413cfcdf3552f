/*
 * common.h: the few things every module shares: the error out-parameter that
 * becomes a problem+json response, and attribute macros.
 */
#ifndef CBD_COMMON_H
#define CBD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define CBD_MUSTCHECK    __attribute__((warn_unused_result))
#define CBD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CBD_NORETURN     __attribute__((noreturn))
#define CBD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * What failed, in the words a client will see. status is the HTTP status,
 * type the stable problem slug ("slot-full" becomes "/problems/slot-full"),
 * field the JSON field at fault ("" when none), detail a sentence with no
 * secrets in it. retry_after_sec > 0 adds a Retry-After header.
 */
struct cbd_err {
	int status;
	char type[48];
	char field[64];
	char detail[256];
	int retry_after_sec;
	char *extra_json; /* optional JSON object merged into the problem */
};

/* Fill err (which may be NULL); detail is a printf format. */
void cbd_err_set(struct cbd_err *err, int status, const char *type,
		 const char *field, const char *fmt, ...) CBD_PRINTF(5, 6);
/* Release extra_json and reset err to "no error". Accepts NULL. */
void cbd_err_clear(struct cbd_err *err);

#endif
