/*
 * report.h: the leads' callback report. Per local day (in a zone the lead
 * picks) and per agent: callbacks booked, kept on time, overdue, the
 * same-owner rate, handoffs with a note and the first-attempt reach rate;
 * as JSON or as CSV (RFC 4180). Each measure is defined in report.c and
 * in the README.
 */
#ifndef CBD_REPORT_H
#define CBD_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/* The longest range one request may ask for, in days. */
#define REPORT_MAX_DAYS 92
/* "Kept on time": the first attempt at most this late, by default. */
#define REPORT_ON_TIME_MIN_DEFAULT 5

struct report_query {
	int64_t from_day; /* days since 1970-01-01 (proleptic Gregorian) */
	int ndays;        /* 1 .. REPORT_MAX_DAYS */
	int on_time_min;  /* grace after the promise, minutes */
	char tz[64];
	char team[65]; /* "": every team */
};

/*
 * "YYYY-MM-DD" as days since 1970-01-01; -1 when malformed or not a real
 * date (years 1970..9999).
 */
int report_parse_day(const char *s, int64_t *day) CBD_MUSTCHECK;
/* Day number back to "YYYY-MM-DD" (buf of 11 or more). */
void report_format_day(int64_t day, char *buf, size_t size);

/*
 * The report for q, read at the daemon's now: {from, to, tz,
 * on_time_minutes, team, generated_at, total, days: [...], agents: [...],
 * rows: [...]} (see README "The callback report").
 */
int report_build(struct store_tx *tx, const struct report_query *q,
		 json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* The rows of a built report as CSV text with a header line; caller frees. */
char *report_csv(const json_t *report);

#endif
