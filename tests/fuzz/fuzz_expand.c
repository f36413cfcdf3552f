/*
 * fuzz_expand.c: the checks of fuzz_expand.h.
 *
 * Properties, from shift.h's contract: a refused rule names its field; a
 * rule that validates expands (or is refused for too many occurrences, the
 * one limit that depends on the window); spans are sorted, not empty, no
 * longer than the shift plus a clock change, and touch the window; duty
 * queries agree with the spans, also with time off cut out.
 */
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "fuzz_expand.h"
#include "roster.h"
#include "shift.h"

#define FUZZ_DAY 86400
/* Longest real span: a full-day shift over the biggest clock jump seen
 * (Samoa skipped a whole day). */
#define FUZZ_MAX_SPAN (SHIFT_MAX_DURATION_SEC + FUZZ_DAY)
#define FUZZ_NOW      1795161600 /* 2026-11-20T08:00:00Z */
/*
 * Windows end by 2100. Past a few centuries libical 3.0 works a zone's
 * offset out afresh on every call (~25 ms), so a rule in year 2900 costs
 * seconds per window and would stall the fuzzer on one input, finding
 * nothing a rule in 2090 does not.
 */
#define FUZZ_LAST 4102444800LL /* 2100-01-01 */

/* The rule's local start read as UTC, or 0 when malformed. */
static int64_t
fuzz_start_wall(const struct shift_rule *r)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (memchr(r->start, '\0', sizeof(r->start)) == NULL ||
	    sscanf(r->start, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void
fuzz_check_plan(const struct shift_plan *p, const struct shift_rule *r,
		int64_t from, int64_t to)
{
	const struct shift_span *s;
	size_t n, i;

	s = shift_plan_spans(p, &n);
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(s[i].end > s[i].start &&
				    s[i].end - s[i].start <= FUZZ_MAX_SPAN,
			    "span %zu is [%lld, %lld)", i,
			    (long long)s[i].start, (long long)s[i].end);
		FUZZ_ASSERT(s[i].end > from && s[i].start < to,
			    "span [%lld, %lld) outside window [%lld, %lld)",
			    (long long)s[i].start, (long long)s[i].end,
			    (long long)from, (long long)to);
		FUZZ_ASSERT(i == 0 || s[i - 1].start <= s[i].start,
			    "spans out of order at %zu", i);
		FUZZ_ASSERT(shift_plan_on_duty(p, r->agent_id, s[i].start),
			    "not on duty at the start of span %zu", i);
		FUZZ_ASSERT(shift_plan_shift_end(p, r->agent_id, s[i].start) >=
				    s[i].end,
			    "shift end before the end of span %zu", i);
	}
}

static void
fuzz_expand_window(const struct shift_rule *r, int64_t from, int64_t to)
{
	struct shift_plan *p = shift_plan_new(from, to);
	struct shift_plan *copy;
	struct shift_off off = { r->agent_id, from + FUZZ_DAY,
				 from + 2 * FUZZ_DAY };
	struct cbd_err err = { 0 };
	int rc;

	rc = shift_plan_add_rule(p, r, &err);
	FUZZ_ASSERT(rc == 0 || strcmp(err.field, "rrule") == 0,
		    "a valid rule did not expand: %s: %s", err.field,
		    err.detail);
	cbd_err_clear(&err);
	if (rc == 0) {
		shift_plan_finish(p);
		fuzz_check_plan(p, r, from, to);
		/* Time off cut out, as the roster does. */
		copy = shift_plan_clone(p);
		shift_plan_add_off(copy, &off);
		shift_plan_finish(copy);
		fuzz_check_plan(copy, r, from, to);
		FUZZ_ASSERT(!shift_plan_on_duty(copy, r->agent_id,
						from + FUZZ_DAY + 1),
			    "on duty during time off");
		shift_plan_free(copy);
	}
	shift_plan_free(p);
}

void
fuzz_expand_rule(const struct shift_rule *r)
{
	struct cbd_err err = { 0 };
	int64_t wall = fuzz_start_wall(r);

	/* Only validated rules are stored, so only they are ever expanded. */
	if (shift_rule_validate(r, &err) != 0) {
		/* 400 for a malformed rule, 422 for one that never occurs,
		 * 503 when too many slow checks already run: all name the
		 * field at fault. */
		FUZZ_ASSERT((err.status == 400 || err.status == 422 ||
			     err.status == 503) &&
				    err.field[0] != '\0',
			    "a refused rule without a field");
		cbd_err_clear(&err);
		return;
	}
	/* The first weeks, a month a year later (the iterator's jump), and
	 * the weeks after a "now" in 2026, as the roster and slots ask. Every
	 * window the daemon builds starts at a clock reading, so never before
	 * 1970: plans hold no negative instants (-1 means "none" in them). */
	if (wall - 2 * FUZZ_DAY >= 0 && wall + 35 * FUZZ_DAY <= FUZZ_LAST)
		fuzz_expand_window(r, wall - 2 * FUZZ_DAY,
				   wall + 35 * FUZZ_DAY);
	if (wall + 400 * FUZZ_DAY >= 0 && wall + 430 * FUZZ_DAY <= FUZZ_LAST)
		fuzz_expand_window(r, wall + 400 * FUZZ_DAY,
				   wall + 430 * FUZZ_DAY);
	fuzz_expand_window(r, FUZZ_NOW - FUZZ_DAY, FUZZ_NOW + 35 * FUZZ_DAY);
}

void
fuzz_expand_overlap(const struct shift_rule *rules, size_t n)
{
	struct shift_rule *near = calloc(n > 0 ? n : 1, sizeof(*near));
	struct cbd_err err = { 0 };
	size_t a = 0, b = 0, k = 0;
	int64_t at = 0, now;
	int rc;

	if (near == NULL)
		abort();
	/* Rules past FUZZ_LAST left out, for speed as above. */
	for (size_t i = 0; i < n; i++)
		if (fuzz_start_wall(&rules[i]) <= FUZZ_LAST)
			near[k++] = rules[i];
	if (k == 0)
		goto out;
	/* As the API calls it: now is a clock reading, never before 1970. */
	now = fuzz_start_wall(&near[0]);
	if (now < FUZZ_DAY || now > FUZZ_LAST - 402 * FUZZ_DAY)
		now = FUZZ_NOW;
	rc = roster_find_overlap(near, k, now, &a, &b, &at, &err);
	FUZZ_ASSERT(rc >= -1 && rc <= 1, "roster_find_overlap gave %d", rc);
	if (rc == 1)
		FUZZ_ASSERT(a <= b && b < k, "overlap of %zu and %zu of %zu", a,
			    b, k);
	cbd_err_clear(&err);
out:
	free(near);
}
