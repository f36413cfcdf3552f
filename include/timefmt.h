/*
 * timefmt.h: RFC 3339 in and out, and IANA zones through libical. libical's
 * built-in zone table loads lazily and is not safe to fill from several
 * threads at once, so every zone lookup and conversion goes through here,
 * under one lock.
 */
#ifndef CBD_TIMEFMT_H
#define CBD_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct _icaltimezone;

/* The zone for an IANA name ("UTC" included), or NULL when unknown. */
struct _icaltimezone *timefmt_zone(const char *name);
/* Instants the API accepts: 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z,
 * so every accepted time can be written back as RFC 3339 and read again. */
#define TIMEFMT_MIN INT64_C(0)
#define TIMEFMT_MAX INT64_C(253402300799)

/*
 * Parse "2026-11-23T15:00:00+05:30" (or "Z", optional fraction, 'T' or
 * space). Returns 0 with *out in UTC epoch seconds, or -1 when malformed
 * or outside [TIMEFMT_MIN, TIMEFMT_MAX].
 */
int timefmt_parse_rfc3339(const char *s, int64_t *out) CBD_MUSTCHECK;
/* Write t as RFC 3339 in zone tz (NULL or "UTC": "...Z"); in UTC too when
 * the local date would fall outside years 1970..9999. */
void timefmt_rfc3339(int64_t t, const char *tz, char *buf, size_t size);
/*
 * Split t into local wall-clock fields in zone tz: what a person there reads
 * on the clock. Returns the UTC offset in seconds.
 */
int timefmt_local(int64_t t, const char *tz, int *year, int *month, int *day,
		  int *hour, int *minute, int *wday);
/* Local wall time in tz (y-m-d h:m:s) to UTC epoch; -1 when tz unknown. */
int64_t timefmt_from_local(const char *tz, int year, int month, int day,
			   int hour, int minute, int second);
/* Days since 1970-01-01 of a proleptic Gregorian date, and back: pure
 * arithmetic, no zone. */
int64_t timefmt_days_from_civil(int64_t year, int month, int day);
void timefmt_civil_from_days(int64_t days, int *year, int *month, int *day);
/* strftime-like text of t in tz for messages, e.g. "%a %d %b %H:%M". */
void timefmt_strftime(int64_t t, const char *tz, const char *fmt, char *buf,
		      size_t size);

#endif
