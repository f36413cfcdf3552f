/*
 * shift.h: when agents work. A shift rule is a local start time, a duration
 * and an optional RRULE in the agent's IANA zone; libical expands it into UTC
 * spans, time off cuts them, and the plan answers "who is on at t", "when does
 * this shift end" and "when is the next one", correctly across DST changes.
 * Pure computation: no SQL, no I/O; callers load rows and build a plan.
 *
 * Durations are wall-clock time: "09:00 for 8h" ends at 17:00 local even
 * when the clocks change in between (7 or 9 real hours that day).
 */
#ifndef CBD_SHIFT_H
#define CBD_SHIFT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define SHIFT_MAX_DURATION_SEC (24 * 3600)

struct shift_rule {
	int64_t id; /* row id, 0 when not stored yet */
	int64_t agent_id;
	char tz[64];      /* IANA zone the times are written in */
	char start[20];   /* first occurrence, local "YYYY-MM-DDTHH:MM:SS" */
	int duration_sec; /* 1 .. SHIFT_MAX_DURATION_SEC */
	char rrule[256]; /* RRULE value without "RRULE:"; "" = one occurrence */
	char exdates[512]; /* local "YYYY-MM-DDTHH:MM:SS" list, comma separated
			    */
};

/* An absence, UTC [from, to). */
struct shift_off {
	int64_t agent_id;
	int64_t from;
	int64_t to;
};

/* One worked interval, UTC [start, end). */
struct shift_span {
	int64_t agent_id;
	int64_t start;
	int64_t end;
};

/*
 * Check a rule as a client sent it: known zone, start parses, duration in
 * range, RRULE parses (and is not unbounded finer than daily). Returns 0, or
 * -1 with err set (status 400, type "invalid-shift", field "start",
 * "duration", "rrule", "exdates" or "tz"). FREQ finer than DAILY is refused.
 */
int shift_rule_validate(const struct shift_rule *r,
			struct cbd_err *err) CBD_MUSTCHECK;

/* Spans of many agents within a window, minus their time off. */
struct shift_plan;

struct shift_plan *shift_plan_new(int64_t from, int64_t to);
void shift_plan_free(struct shift_plan *p); /* accepts NULL */
/* A deep copy (for caches that hand out plans callers then free). */
struct shift_plan *shift_plan_clone(const struct shift_plan *p);
/* Expand r over the plan's window. Returns 0, or -1 with err set. */
int shift_plan_add_rule(struct shift_plan *p, const struct shift_rule *r,
			struct cbd_err *err) CBD_MUSTCHECK;
void shift_plan_add_off(struct shift_plan *p, const struct shift_off *o);
/* Sort spans and cut time off out of them; call once after adding. */
void shift_plan_finish(struct shift_plan *p);
/* After finish: 1 if two spans of one agent overlap (sets *agent_id). */
int shift_plan_has_overlap(const struct shift_plan *p, int64_t *agent_id);

int shift_plan_on_duty(const struct shift_plan *p, int64_t agent_id, int64_t t);
/*
 * End of agent's span containing t, or -1 when off duty at t. Spans of one
 * agent that touch or overlap count as one stretch: the result is when the
 * agent actually goes off duty.
 */
int64_t shift_plan_shift_end(const struct shift_plan *p, int64_t agent_id,
			     int64_t t);
/* Start of agent's stretch on duty containing t (touching spans joined,
 * as shift_plan_shift_end), or -1 when off duty at t. */
int64_t shift_plan_shift_start(const struct shift_plan *p, int64_t agent_id,
			       int64_t t);
/* Start of agent's first span starting after t, or -1 when none in window. */
int64_t shift_plan_next_start(const struct shift_plan *p, int64_t agent_id,
			      int64_t t);
/* Agents on duty at t, ascending ids; writes up to cap, returns the number
 * written (never more than cap). */
size_t shift_plan_agents_at(const struct shift_plan *p, int64_t t, int64_t *ids,
			    size_t cap);
/* All spans, sorted by (start, agent_id); borrowed, valid until free. */
const struct shift_span *shift_plan_spans(const struct shift_plan *p,
					  size_t *n);

#endif
