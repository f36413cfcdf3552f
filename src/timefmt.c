/*
 * timefmt.c: time parsing and zone conversion. Parsing is strict: a client
 * sending "2026-02-30T10:00:00Z" gets an error, not March 2nd.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libical/ical.h>

#include "timefmt.h"

static pthread_mutex_t timefmt_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * libical finds a built-in zone by scanning all ~600 names; every rendered
 * time does a lookup, so found zones are remembered here (they live as long
 * as the process). A small open-addressed table; unknown names are not
 * cached, so a client cannot fill it.
 */
#define TIMEFMT_CACHE 512
static struct {
	char name[64];
	icaltimezone *zone;
} timefmt_cache[TIMEFMT_CACHE];

static unsigned
timefmt_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * libical opens any file under the zoneinfo directory by name, so
 * "Factory" (a zone whose abbreviation says "-00"), "posixrules",
 * "right/UTC" (leap-second clocks), "posix/...", "localtime" and the old
 * aliases ("US/Eastern", "EST5EDT", "GB") would all be accepted as zones.
 * A customer's or agent's zone is a place: Area/Location under one of the
 * geographic areas, plus plain UTC. Path tricks ("." or ".." parts) are
 * refused before libical sees the name.
 */
static int
timefmt_zone_name_ok(const char *name)
{
	static const char *const areas[] = {
		"Africa/",   "America/",   "Antarctica/", "Arctic/", "Asia/",
		"Atlantic/", "Australia/", "Europe/",     "Indian/", "Pacific/",
	};
	const char *p;

	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
		return 1;
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_+-/") != strlen(name))
		return 0;
	for (p = name; *p != '\0'; p++)
		if (*p == '/' && (p[1] == '/' || p[1] == '\0'))
			return 0;
	for (size_t i = 0; i < CBD_ARRAY_LEN(areas); i++)
		if (strncmp(name, areas[i], strlen(areas[i])) == 0 &&
		    name[strlen(areas[i])] != '\0')
			return 1;
	return 0;
}

struct _icaltimezone *
timefmt_zone(const char *name)
{
	icaltimezone *z = NULL;
	unsigned h;

	if (name == NULL || name[0] == '\0' || strlen(name) >= 64 ||
	    !timefmt_zone_name_ok(name))
		return NULL;
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
		return icaltimezone_get_utc_timezone();
	h = timefmt_hash(name) % TIMEFMT_CACHE;
	pthread_mutex_lock(&timefmt_lock);
	for (unsigned i = 0; i < TIMEFMT_CACHE; i++) {
		unsigned k = (h + i) % TIMEFMT_CACHE;
		if (timefmt_cache[k].zone == NULL)
			break;
		if (strcmp(timefmt_cache[k].name, name) == 0) {
			z = timefmt_cache[k].zone;
			goto out;
		}
	}
	z = icaltimezone_get_builtin_timezone(name);
	if (z != NULL) {
		for (unsigned i = 0; i < TIMEFMT_CACHE; i++) {
			unsigned k = (h + i) % TIMEFMT_CACHE;
			if (timefmt_cache[k].zone == NULL) {
				snprintf(timefmt_cache[k].name,
					 sizeof(timefmt_cache[k].name), "%s",
					 name);
				timefmt_cache[k].zone = z;
				break;
			}
		}
	}
out:
	pthread_mutex_unlock(&timefmt_lock);
	return z;
}

static int
timefmt_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
timefmt_parse_rfc3339(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	struct tm tm;
	const char *p;
	time_t t;

	if (s == NULL || strlen(s) < 20 || strlen(s) > 40)
		return -1;
	if (timefmt_digits(s, 4, &y) || s[4] != '-' ||
	    timefmt_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    timefmt_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    timefmt_digits(s + 11, 2, &h) || s[13] != ':' ||
	    timefmt_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    timefmt_digits(s + 17, 2, &sec))
		return -1;
	p = s + 19;
	if (*p == '.') {
		/* Fractions are accepted and dropped: seconds are our unit. */
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (timefmt_digits(p + 1, 2, &oh) || p[3] != ':' ||
		    timefmt_digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		p += 6;
	} else
		return -1;
	if (*p != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	t = timegm(&tm);
	/* timegm normalises Feb 30 to Mar 2; a changed day means invalid. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	t -= sign * (oh * 3600 + om * 60);
	/* "9999-12-31T23:59:59-14:00" is in year 10000 and
	 * "1970-01-01T00:00:00+01:00" before the epoch: neither could be
	 * written back in the same form, so neither is accepted. */
	if (t < TIMEFMT_MIN || t > TIMEFMT_MAX)
		return -1;
	*out = (int64_t)t;
	return 0;
}

int
timefmt_local(int64_t t, const char *tz, int *year, int *month, int *day,
	      int *hour, int *minute, int *wday)
{
	icaltimezone *z = timefmt_zone(tz);
	struct icaltimetype lt;
	int is_dst = 0, off = 0;

	if (z == NULL)
		z = icaltimezone_get_utc_timezone();
	pthread_mutex_lock(&timefmt_lock);
	lt = icaltime_from_timet_with_zone((time_t)t, 0, z);
	off = icaltimezone_get_utc_offset(z, &lt, &is_dst);
	pthread_mutex_unlock(&timefmt_lock);
	/* Derive fields from t + offset so all of them agree. */
	{
		time_t lt_t = (time_t)(t + off);
		struct tm tm;
		gmtime_r(&lt_t, &tm);
		*year = tm.tm_year + 1900;
		*month = tm.tm_mon + 1;
		*day = tm.tm_mday;
		*hour = tm.tm_hour;
		*minute = tm.tm_min;
		if (wday != NULL)
			*wday = tm.tm_wday;
	}
	return off;
}

int64_t
timefmt_from_local(const char *tz, int year, int month, int day, int hour,
		   int minute, int second)
{
	icaltimezone *z = timefmt_zone(tz);
	struct icaltimetype lt = icaltime_null_time();
	time_t t;

	if (z == NULL)
		return -1;
	lt.year = year;
	lt.month = month;
	lt.day = day;
	lt.hour = hour;
	lt.minute = minute;
	lt.second = second;
	pthread_mutex_lock(&timefmt_lock);
	t = icaltime_as_timet_with_zone(lt, z);
	pthread_mutex_unlock(&timefmt_lock);
	return (int64_t)t;
}

void
timefmt_rfc3339(int64_t t, const char *tz, char *buf, size_t size)
{
	int y, mo, d, h, mi, off;
	int s = (int)(((t % 60) + 60) % 60);

	if (tz == NULL || strcmp(tz, "UTC") == 0) {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
		return;
	}
	off = timefmt_local(t, tz, &y, &mo, &d, &h, &mi, NULL);
	/* Near the ends of the range the local date can fall outside the
	 * years a client may send (9999-12-31T23:59:59Z is year 10000 in
	 * Kiritimati); UTC names the same instant in a form that parses. */
	if (y < 1970 || y > 9999) {
		timefmt_rfc3339(t, NULL, buf, size);
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, mo,
		 d, h, mi, s, off < 0 ? '-' : '+',
		 (off < 0 ? -off : off) / 3600,
		 ((off < 0 ? -off : off) % 3600) / 60);
}

void
timefmt_strftime(int64_t t, const char *tz, const char *fmt, char *buf,
		 size_t size)
{
	int off = timefmt_local(t, tz, &(int){ 0 }, &(int){ 0 }, &(int){ 0 },
				&(int){ 0 }, &(int){ 0 }, NULL);
	time_t lt = (time_t)(t + off);
	struct tm tm;

	gmtime_r(&lt, &tm);
	strftime(buf, size, fmt, &tm);
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t
timefmt_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
timefmt_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}
