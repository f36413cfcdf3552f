/*
 * test_shift.c: shift rule expansion and duty queries, with exact UTC
 * instants on the days the clocks change.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shift.h"
#include "tap.h"

/* "2026-03-08T13:00" read as UTC. */
static int64_t
utc(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min) != 5)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static struct shift_rule
rule(int64_t agent_id, const char *tz, const char *start, int duration_sec,
     const char *rrule, const char *exdates)
{
	struct shift_rule r;

	memset(&r, 0, sizeof(r));
	r.agent_id = agent_id;
	snprintf(r.tz, sizeof(r.tz), "%s", tz);
	snprintf(r.start, sizeof(r.start), "%s", start);
	r.duration_sec = duration_sec;
	snprintf(r.rrule, sizeof(r.rrule), "%s", rrule);
	snprintf(r.exdates, sizeof(r.exdates), "%s", exdates);
	return r;
}

/* Expand one rule over a window and return the finished plan. */
static struct shift_plan *
plan1(const struct shift_rule *r, const char *from, const char *to)
{
	struct shift_plan *p = shift_plan_new(utc(from), utc(to));
	struct cbd_err err = { 0 };

	if (!ok(shift_plan_add_rule(p, r, &err) == 0, "rule %s %s expands",
		r->tz, r->start))
		printf("#   %s: %s\n", err.field, err.detail);
	shift_plan_finish(p);
	return p;
}

/* One span with the expected UTC bounds. */
static void
check_one(const char *name, const struct shift_rule *r, const char *from,
	  const char *to, const char *want_start, const char *want_end)
{
	struct shift_plan *p = plan1(r, from, to);
	const struct shift_span *s;
	size_t n;

	s = shift_plan_spans(p, &n);
	is_int(n, 1, "%s: one span", name);
	if (n == 1) {
		is_int(s[0].start, utc(want_start), "%s: starts %s", name,
		       want_start);
		is_int(s[0].end, utc(want_end), "%s: ends %s", name, want_end);
		is_int(s[0].agent_id, r->agent_id, "%s: agent", name);
	}
	shift_plan_free(p);
}

static void
test_new_york_dst(void)
{
	struct shift_rule r;
	struct shift_plan *p;
	const struct shift_span *s;
	size_t n;

	r = rule(1, "America/New_York", "2026-03-08T09:00:00", 8 * 3600, "",
		 "");
	check_one("NY spring forward day", &r, "2026-03-01T00:00",
		  "2026-03-15T00:00", "2026-03-08T13:00", "2026-03-08T21:00");
	r = rule(1, "America/New_York", "2026-11-01T09:00:00", 8 * 3600, "",
		 "");
	check_one("NY fall back day", &r, "2026-10-25T00:00",
		  "2026-11-08T00:00", "2026-11-01T14:00", "2026-11-01T22:00");
	r = rule(1, "America/New_York", "2026-07-01T09:00:00", 8 * 3600, "",
		 "");
	check_one("NY summer", &r, "2026-06-01T00:00", "2026-08-01T00:00",
		  "2026-07-01T13:00", "2026-07-01T21:00");
	r = rule(1, "America/New_York", "2026-01-15T09:00:00", 8 * 3600, "",
		 "");
	check_one("NY winter", &r, "2026-01-01T00:00", "2026-02-01T00:00",
		  "2026-01-15T14:00", "2026-01-15T22:00");

	/* A daily rule keeps 09:00 local across the change. */
	r = rule(1, "America/New_York", "2026-03-06T09:00:00", 8 * 3600,
		 "FREQ=DAILY", "");
	p = plan1(&r, "2026-03-07T00:00", "2026-03-09T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 2, "daily NY over the change: two spans");
	if (n == 2) {
		is_int(s[0].start, utc("2026-03-07T14:00"), "Mar 7 at 14:00Z");
		is_int(s[0].end, utc("2026-03-07T22:00"), "Mar 7 to 22:00Z");
		is_int(s[1].start, utc("2026-03-08T13:00"), "Mar 8 at 13:00Z");
		is_int(s[1].end, utc("2026-03-08T21:00"), "Mar 8 to 21:00Z");
	}
	shift_plan_free(p);

	r = rule(1, "America/New_York", "2026-10-30T09:00:00", 8 * 3600,
		 "FREQ=DAILY;COUNT=3", "");
	p = plan1(&r, "2026-10-01T00:00", "2026-12-01T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 3, "COUNT=3 gives three spans");
	if (n == 3) {
		is_int(s[1].start, utc("2026-10-31T13:00"), "Oct 31 EDT");
		is_int(s[2].start, utc("2026-11-01T14:00"), "Nov 1 EST");
		is_int(s[2].end, utc("2026-11-01T22:00"), "Nov 1 ends EST");
	}
	shift_plan_free(p);

	/* RFC 5545 3.3.5: a skipped time uses the offset before the gap, a
	 * repeated time is its first occurrence. */
	/* 02:30 + 1h is 03:30 local, which is 02:30 EST again: an empty
	 * wall-clock shift falls back to one real hour. */
	r = rule(1, "America/New_York", "2026-03-08T02:30:00", 3600, "", "");
	check_one("NY time in the gap", &r, "2026-03-01T00:00",
		  "2026-03-15T00:00", "2026-03-08T07:30", "2026-03-08T08:30");
	r = rule(1, "America/New_York", "2026-11-01T01:30:00", 1800, "", "");
	check_one("NY repeated time", &r, "2026-10-25T00:00",
		  "2026-11-08T00:00", "2026-11-01T05:30", "2026-11-01T07:00");
}

static void
test_night_shift(void)
{
	struct shift_rule r;
	struct shift_plan *p;

	r = rule(2, "Europe/London", "2026-01-10T22:00:00", 8 * 3600, "", "");
	check_one("London night, winter", &r, "2026-01-01T00:00",
		  "2026-02-01T00:00", "2026-01-10T22:00", "2026-01-11T06:00");
	/* Ends 06:00 local: 7 real hours into BST, 9 back into GMT. */
	r = rule(2, "Europe/London", "2026-03-28T22:00:00", 8 * 3600, "", "");
	check_one("London night into BST", &r, "2026-03-01T00:00",
		  "2026-04-01T00:00", "2026-03-28T22:00", "2026-03-29T05:00");
	r = rule(2, "Europe/London", "2026-10-24T22:00:00", 8 * 3600, "", "");
	check_one("London night into GMT", &r, "2026-10-01T00:00",
		  "2026-11-01T00:00", "2026-10-24T21:00", "2026-10-25T06:00");

	/* A night shift that began before the window still counts. */
	r = rule(2, "Europe/London", "2026-01-05T22:00:00", 8 * 3600,
		 "FREQ=DAILY", "");
	p = plan1(&r, "2026-01-11T00:00", "2026-01-12T00:00");
	ok(shift_plan_on_duty(p, 2, utc("2026-01-11T03:00")),
	   "night agent on duty at 03:00 after midnight");
	is_int(shift_plan_shift_end(p, 2, utc("2026-01-11T03:00")),
	       utc("2026-01-11T06:00"), "night shift ends 06:00");
	is_int(shift_plan_next_start(p, 2, utc("2026-01-11T03:00")),
	       utc("2026-01-11T22:00"), "next night starts 22:00");
	ok(!shift_plan_on_duty(p, 2, utc("2026-01-11T12:00")),
	   "night agent off at noon");
	shift_plan_free(p);
}

static void
test_zones_same_instant(void)
{
	struct shift_rule london, kolkata;
	struct shift_plan *p;
	struct cbd_err err = { 0 };
	int64_t ids[4];
	size_t n;

	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-19T00:00"));
	london = rule(10, "Europe/London", "2026-01-12T09:00:00", 8 * 3600,
		      "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "");
	kolkata = rule(20, "Asia/Kolkata", "2026-01-12T14:00:00", 8 * 3600,
		       "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "");
	ok(shift_plan_add_rule(p, &kolkata, &err) == 0, "Kolkata rule added");
	ok(shift_plan_add_rule(p, &london, &err) == 0, "London rule added");
	shift_plan_finish(p);

	n = shift_plan_agents_at(p, utc("2026-01-12T12:00"), ids, 4);
	is_int(n, 2, "both on duty at 12:00Z");
	if (n == 2) {
		is_int(ids[0], 10, "ascending ids: London first");
		is_int(ids[1], 20, "then Kolkata");
	}
	n = shift_plan_agents_at(p, utc("2026-01-12T12:00"), ids, 1);
	is_int(n, 1, "cap limits the count written");
	n = shift_plan_agents_at(p, utc("2026-01-12T08:45"), ids, 4);
	is_int(n, 1, "08:45Z: only Kolkata (14:15 IST)");
	is_int(ids[0], 20, "it is Kolkata");
	n = shift_plan_agents_at(p, utc("2026-01-12T16:45"), ids, 4);
	is_int(n, 1, "16:45Z: only London");
	is_int(ids[0], 10, "it is London");
	n = shift_plan_agents_at(p, utc("2026-01-17T12:00"), ids, 4);
	is_int(n, 0, "Saturday: nobody");
	is_int(shift_plan_shift_end(p, 20, utc("2026-01-12T12:00")),
	       utc("2026-01-12T16:30"), "Kolkata ends 22:00 IST");
	shift_plan_free(p);
}

static void
test_time_off_and_exdate(void)
{
	struct shift_rule r;
	struct shift_plan *p;
	struct shift_off off;
	struct cbd_err err = { 0 };
	const struct shift_span *s;
	size_t n;

	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-13T00:00"));
	r = rule(3, "Europe/London", "2026-01-12T09:00:00", 8 * 3600, "", "");
	ok(shift_plan_add_rule(p, &r, &err) == 0, "rule added");
	off.agent_id = 3;
	off.from = utc("2026-01-12T12:00");
	off.to = utc("2026-01-12T13:00");
	shift_plan_add_off(p, &off);
	/* Time off of another agent must not cut this one. */
	off.agent_id = 4;
	off.from = utc("2026-01-12T10:00");
	off.to = utc("2026-01-12T11:00");
	shift_plan_add_off(p, &off);
	shift_plan_finish(p);
	s = shift_plan_spans(p, &n);
	is_int(n, 2, "time off splits the span in two");
	if (n == 2) {
		is_int(s[0].start, utc("2026-01-12T09:00"), "first piece");
		is_int(s[0].end, utc("2026-01-12T12:00"), "ends at the off");
		is_int(s[1].start, utc("2026-01-12T13:00"), "second piece");
		is_int(s[1].end, utc("2026-01-12T17:00"), "to shift end");
	}
	ok(!shift_plan_on_duty(p, 3, utc("2026-01-12T12:30")),
	   "off duty during time off");
	is_int(shift_plan_shift_end(p, 3, utc("2026-01-12T10:00")),
	       utc("2026-01-12T12:00"), "shift end is the start of time off");
	is_int(shift_plan_next_start(p, 3, utc("2026-01-12T12:30")),
	       utc("2026-01-12T13:00"), "back after time off");
	is_int(shift_plan_shift_end(p, 3, utc("2026-01-12T12:30")), -1,
	       "no shift end while off");
	is_int(shift_plan_shift_start(p, 3, utc("2026-01-12T14:00")),
	       utc("2026-01-12T13:00"), "stretch after time off starts then");
	is_int(shift_plan_next_start(p, 3, utc("2026-01-12T13:00")), -1,
	       "no later start in window");
	shift_plan_free(p);

	/* Time off covering the whole span removes it. */
	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-13T00:00"));
	ok(shift_plan_add_rule(p, &r, &err) == 0, "rule added again");
	off.agent_id = 3;
	off.from = utc("2026-01-12T08:00");
	off.to = utc("2026-01-12T18:00");
	shift_plan_add_off(p, &off);
	shift_plan_finish(p);
	s = shift_plan_spans(p, &n);
	is_int(n, 0, "whole-day off leaves no span");
	shift_plan_free(p);

	r = rule(3, "Europe/London", "2026-01-12T09:00:00", 8 * 3600,
		 "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
		 "2026-01-14T09:00:00, 2026-01-16T09:00:00");
	p = plan1(&r, "2026-01-12T00:00", "2026-01-19T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 3, "two EXDATEs remove two of five days");
	ok(!shift_plan_on_duty(p, 3, utc("2026-01-14T12:00")),
	   "not on duty on the excluded Wednesday");
	ok(shift_plan_on_duty(p, 3, utc("2026-01-15T12:00")),
	   "on duty Thursday");
	is_int(shift_plan_next_start(p, 3, utc("2026-01-13T12:00")),
	       utc("2026-01-15T09:00"), "next start skips the EXDATE");
	shift_plan_free(p);
}

static void
test_chain_and_overlap(void)
{
	struct shift_rule a, b;
	struct shift_plan *p;
	struct cbd_err err = { 0 };
	int64_t who = 0;

	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-14T00:00"));
	a = rule(5, "UTC", "2026-01-12T22:00:00", 8 * 3600, "", "");
	b = rule(5, "UTC", "2026-01-13T06:00:00", 8 * 3600, "", "");
	ok(shift_plan_add_rule(p, &a, &err) == 0, "night rule");
	ok(shift_plan_add_rule(p, &b, &err) == 0, "day rule");
	shift_plan_finish(p);
	is_int(shift_plan_shift_end(p, 5, utc("2026-01-13T01:00")),
	       utc("2026-01-13T14:00"), "touching spans end together");
	is_int(shift_plan_shift_start(p, 5, utc("2026-01-13T10:00")),
	       utc("2026-01-12T22:00"), "touching spans start together");
	is_int(shift_plan_shift_start(p, 5, utc("2026-01-13T01:00")),
	       utc("2026-01-12T22:00"), "stretch start from its first span");
	is_int(shift_plan_shift_start(p, 5, utc("2026-01-13T15:00")), -1,
	       "no stretch start while off");
	ok(!shift_plan_has_overlap(p, &who), "touching is not overlap");
	is_int(shift_plan_next_start(p, 5, utc("2026-01-12T00:00")),
	       utc("2026-01-12T22:00"), "next start from before");
	is_int(shift_plan_next_start(p, 6, utc("2026-01-12T00:00")), -1,
	       "unknown agent has no next start");
	ok(!shift_plan_on_duty(p, 6, utc("2026-01-13T01:00")),
	   "unknown agent is off duty");
	shift_plan_free(p);

	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-14T00:00"));
	a = rule(7, "Europe/London", "2026-01-12T09:00:00", 8 * 3600, "", "");
	b = rule(7, "Asia/Kolkata", "2026-01-12T20:00:00", 3600, "", "");
	ok(shift_plan_add_rule(p, &a, &err) == 0, "London day");
	ok(shift_plan_add_rule(p, &b, &err) == 0, "Kolkata 14:30Z hour");
	a.agent_id = 8;
	ok(shift_plan_add_rule(p, &a, &err) == 0, "another agent");
	shift_plan_finish(p);
	ok(shift_plan_has_overlap(p, &who), "overlap across zones found");
	is_int(who, 7, "overlapping agent reported");
	is_int(shift_plan_shift_end(p, 7, utc("2026-01-12T15:00")),
	       utc("2026-01-12T17:00"), "overlapping spans: latest end");
	shift_plan_free(p);
}

static void
test_long_history(void)
{
	struct shift_rule r;
	struct shift_plan *p;
	struct cbd_err err = { 0 };
	const struct shift_span *s;
	size_t n;

	/* Every other Mon/Wed/Fri since 2020: the window is reached by
	 * skipping, and the phase of INTERVAL=2 must survive the skip. */
	r = rule(9, "America/New_York", "2020-01-06T09:00:00", 8 * 3600,
		 "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR", "");
	p = plan1(&r, "2026-03-02T00:00", "2026-03-16T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 3, "one on-week of three days in two weeks");
	if (n == 3)
		is_int(s[0].start, utc("2026-03-09T13:00"),
		       "first is Monday Mar 9, EDT");
	shift_plan_free(p);

	r = rule(9, "Europe/London", "2000-01-01T09:00:00", 3600, "FREQ=DAILY",
		 "");
	p = plan1(&r, "2026-01-12T00:00", "2026-01-19T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 7, "daily since 2000: seven spans this week");
	shift_plan_free(p);

	r = rule(9, "Europe/London", "2026-01-12T09:00:00", 3600,
		 "FREQ=DAILY;UNTIL=20260114T090000Z", "");
	p = plan1(&r, "2026-01-01T00:00", "2026-02-01T00:00");
	s = shift_plan_spans(p, &n);
	is_int(n, 3, "UNTIL is inclusive");
	shift_plan_free(p);

	/* COUNT rules cannot be skipped ahead; the bound refuses them. */
	r = rule(9, "Europe/London", "1990-01-01T09:00:00", 3600,
		 "FREQ=DAILY;COUNT=50000", "");
	p = shift_plan_new(utc("2026-01-12T00:00"), utc("2026-01-19T00:00"));
	ok(shift_plan_add_rule(p, &r, &err) == -1, "runaway rule refused");
	is_str(err.field, "rrule", "runaway rule: field rrule");
	shift_plan_free(p);
}

static void
test_many_spans(void)
{
	struct shift_plan *p;
	struct cbd_err err = { 0 };
	int64_t ids[2000];
	int64_t t;
	size_t n, total = 0;
	int a;

	/* 2000 agents, daily for 50 days: 1e5 spans. */
	p = shift_plan_new(utc("2026-01-01T00:00"), utc("2026-02-20T00:00"));
	for (a = 0; a < 2000; a++) {
		struct shift_rule r;
		char start[20];

		snprintf(start, sizeof(start), "2026-01-01T%02d:00:00", a % 24);
		r = rule(a + 1, a % 2 ? "Europe/London" : "Asia/Kolkata", start,
			 8 * 3600, "FREQ=DAILY", "");
		if (shift_plan_add_rule(p, &r, &err) != 0)
			break;
	}
	is_int(a, 2000, "2000 rules added");
	shift_plan_finish(p);
	(void)shift_plan_spans(p, &n);
	ok(n >= 100000, "about 1e5 spans (%zu)", n);
	for (t = utc("2026-01-10T00:00"); t < utc("2026-01-17T00:00");
	     t += 3600)
		total += shift_plan_agents_at(p, t, ids, 2000);
	/* Each agent works 8 of 24 hours. */
	is_int(total, 2000 * 7 * 8, "agents_at over a week counts 8h each");
	shift_plan_free(p);
}

static void
test_validate(void)
{
	static const struct {
		const char *tz, *start, *rrule, *exdates;
		int duration_sec;
		const char *field; /* NULL: valid */
	} cases[] = {
		{ "Europe/London", "2026-01-12T09:00:00", "", "", 3600, NULL },
		{ "UTC", "2026-01-12T09:00:00", "FREQ=DAILY", "", 86400, NULL },
		{ "Asia/Kolkata", "2026-01-12T09:00:00", "RRULE:FREQ=WEEKLY",
		  "2026-01-19T09:00:00", 1, NULL },
		{ "Mars/Olympus_Mons", "2026-01-12T09:00:00", "", "", 3600,
		  "tz" },
		{ "", "2026-01-12T09:00:00", "", "", 3600, "tz" },
		{ "Europe/London", "2026-1-12T09:00:00", "", "", 3600,
		  "start" },
		{ "Europe/London", "2026-02-30T09:00:00", "", "", 3600,
		  "start" },
		{ "Europe/London", "2026-01-12 09:00:00", "", "", 3600,
		  "start" },
		{ "Europe/London", "2026-01-12T24:00:00", "", "", 3600,
		  "start" },
		{ "Europe/London", "", "", "", 3600, "start" },
		{ "Europe/London", "2026-01-12T09:00:00", "", "", 0,
		  "duration" },
		{ "Europe/London", "2026-01-12T09:00:00", "", "", 86401,
		  "duration" },
		{ "Europe/London", "2026-01-12T09:00:00", "", "", -5,
		  "duration" },
		{ "Europe/London", "2026-01-12T09:00:00", "FREQ=BOGUS", "",
		  3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00", "BYDAY=MO", "", 3600,
		  "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00",
		  "FREQ=WEEKLY;BYDAY=XX", "", 3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00", "FREQ=HOURLY", "",
		  3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00",
		  "FREQ=MINUTELY;COUNT=2", "", 3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00", "FREQ=SECONDLY", "",
		  3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00",
		  "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "", 3600, "rrule" },
		{ "Europe/London", "2026-01-12T09:00:00", "FREQ=DAILY",
		  "tomorrow", 3600, "exdates" },
	};
	size_t i;

	for (i = 0; i < CBD_ARRAY_LEN(cases); i++) {
		struct shift_rule r;
		struct cbd_err err = { 0 };
		int rc;

		r = rule(1, cases[i].tz, cases[i].start, cases[i].duration_sec,
			 cases[i].rrule, cases[i].exdates);
		rc = shift_rule_validate(&r, &err);
		if (cases[i].field == NULL) {
			is_int(rc, 0, "valid: %s %s %s", cases[i].tz,
			       cases[i].start, cases[i].rrule);
			continue;
		}
		is_int(rc, -1, "invalid %s: '%s' '%s' '%s' %d", cases[i].field,
		       cases[i].tz, cases[i].start, cases[i].rrule,
		       cases[i].duration_sec);
		is_str(err.field, cases[i].field, "field is %s",
		       cases[i].field);
		is_int(err.status, 400, "status 400");
		is_str(err.type, "invalid-shift", "type invalid-shift");
	}
}

int
main(void)
{
	test_new_york_dst();
	test_night_shift();
	test_zones_same_instant();
	test_time_off_and_exdate();
	test_chain_and_overlap();
	test_long_history();
	test_many_spans();
	test_validate();
	return tap_done();
}
