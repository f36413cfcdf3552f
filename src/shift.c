/*
 * shift.c: expanding shift rules into UTC spans and answering duty queries.
 *
 * A rule is written the way a rota is: "09:00 in America/New_York for 8h,
 * weekdays". libical's recurrence iterator walks the local wall-clock
 * occurrences (so 09:00 stays 09:00 across DST changes); each one is then
 * turned into a UTC instant by this file, not by libical, because libical
 * 3.0 resolves nonexistent and repeated local times differently from
 * RFC 5545 section 3.3.5 (gap: use the offset before the gap; overlap: use
 * the first occurrence).
 *
 * Duration is wall-clock time: a "09:00 for 8h" shift ends at 17:00 local
 * every day. On a day the clocks change inside the shift it therefore lasts
 * 7 or 9 real hours; that is what a rota printed on the wall means, and it
 * keeps the end of a night shift (22:00 + 8h = 06:00) where people expect it.
 *
 * The plan collects the spans of many agents inside a window [from, to),
 * cuts time off out of them once (shift_plan_finish) and keeps two sorted
 * copies: by (start, agent) for "who is on at t" and by (agent, start) for
 * per-agent questions. Both are answered by binary search plus a short scan
 * bounded by the longest span, so 1e5 spans cost O(log n) per query.
 */
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libical/ical.h>

#include "shift.h"
#include "timefmt.h"
#include "xalloc.h"

/* Bound on occurrences one rule may produce per expansion: a rule that
 * would need more (a years-old COUNT rule, a huge window) is refused rather
 * than allowed to spin. */
#define SHIFT_MAX_OCCURRENCES 10000
/* Enough for the 512-byte exdates field (20 bytes per entry). */
#define SHIFT_MAX_EXDATES 32
#define SHIFT_DAY_SEC     86400

/* A rule after parsing; everything libical needs to expand it. */
struct shift_compiled {
	icaltimezone *zone;              /* builtin, owned by libical */
	struct icaltimetype dtstart;     /* local wall time, zone attached */
	int has_rrule;                   /* 0: a single occurrence */
	struct icalrecurrencetype recur; /* valid when has_rrule */
	struct icaltimetype exdates[SHIFT_MAX_EXDATES];
	size_t nexdates;
};

struct shift_plan {
	int64_t from; /* window, UTC [from, to) */
	int64_t to;
	/* Spans as expanded, before time off; kept so finish can run again
	 * after more rules are added. */
	struct shift_span *raw;
	size_t nraw, capraw;
	struct shift_off *offs;
	size_t noff, capoff;
	/* Built by finish: the same cut spans in two orders. */
	struct shift_span *by_start; /* (start, agent_id, end) */
	struct shift_span *by_agent; /* (agent_id, start, end) */
	size_t n;
	int64_t max_len; /* longest cut span: bounds backward scans */
	int is_finished;
};

static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

static void
shift_init_once(void)
{
	/* A malformed RRULE or zone must come back as an error, never abort
	 * the daemon. */
	icalerror_set_errors_are_fatal(0);
}

static void
shift_init(void)
{
	(void)pthread_once(&shift_once, shift_init_once);
}

/* The fields of t read as if they were UTC: "wall seconds". */
static int64_t
shift_wall_sec(const struct icaltimetype *t)
{
	return timefmt_days_from_civil(t->year, t->month, t->day) *
		       SHIFT_DAY_SEC +
	       t->hour * 3600 + t->minute * 60 + t->second;
}

/* UTC offset of zone at a UTC instant, in seconds east. */
static int
shift_offset_at(icaltimezone *zone, int64_t instant)
{
	struct icaltimetype u;
	int is_daylight = 0;

	u = icaltime_from_timet_with_zone((time_t)instant, 0,
					  icaltimezone_get_utc_timezone());
	return icaltimezone_get_utc_offset_of_utc_time(zone, &u, &is_daylight);
}

/*
 * Local wall seconds in zone to a UTC instant, as RFC 5545 3.3.5 says: a
 * time repeated by a fall-back change is its first occurrence; a time
 * skipped by a spring-forward change uses the offset from before the gap
 * (02:30 in New York on 2026-03-08 is 07:30Z). The offsets one day either
 * side are the only candidates: zones change at most once in a day.
 */
static int64_t
shift_wall_to_utc(icaltimezone *zone, int64_t wall)
{
	int off_a, off_b;
	int64_t ua, ub;
	int is_a, is_b;

	off_a = shift_offset_at(zone, wall - SHIFT_DAY_SEC);
	off_b = shift_offset_at(zone, wall + SHIFT_DAY_SEC);
	ua = wall - off_a;
	ub = wall - off_b;
	is_a = shift_offset_at(zone, ua) == off_a;
	is_b = shift_offset_at(zone, ub) == off_b;
	if (is_a && is_b)
		return ua < ub ? ua : ub;
	if (is_b)
		return ub;
	return ua; /* valid, or in a gap: the offset before it */
}

/* Zone by IANA name; "UTC" is libical's own UTC zone. NULL when unknown. */
static icaltimezone *
shift_zone(const char *tz)
{
	if (tz[0] == '\0' || strlen(tz) >= sizeof(((struct shift_rule *)0)->tz))
		return NULL;
	return timefmt_zone(tz);
}

/*
 * Parse exactly "YYYY-MM-DDTHH:MM:SS" (len bytes of s) into a floating
 * time. Strict on purpose: a lenient parser would accept "2026-3-8" here
 * and reject it somewhere else. Returns 0, or -1 when malformed.
 */
static int
shift_parse_local(const char *s, size_t len, struct icaltimetype *out)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	int v[6] = { 0 };
	int field = 0;
	size_t i;

	if (len != sizeof(pat) - 1)
		return -1;
	for (i = 0; i < len; i++) {
		if (pat[i] == 'd') {
			if (!isdigit((unsigned char)s[i]))
				return -1;
			v[field] = v[field] * 10 + (s[i] - '0');
		} else {
			if (s[i] != pat[i])
				return -1;
			field++;
		}
	}
	if (v[0] < 1900 || v[0] > 2999 || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
	    v[2] > icaltime_days_in_month(v[1], v[0]) || v[3] > 23 ||
	    v[4] > 59 || v[5] > 59)
		return -1;
	*out = icaltime_null_time();
	out->year = v[0];
	out->month = v[1];
	out->day = v[2];
	out->hour = v[3];
	out->minute = v[4];
	out->second = v[5];
	out->is_date = 0;
	return 0;
}

/* Parse the comma-separated exdates list into c. Returns 0 or -1. */
static int
shift_parse_exdates(const char *list, struct shift_compiled *c)
{
	const char *p = list;

	c->nexdates = 0;
	while (*p != '\0') {
		const char *end;
		size_t len;

		while (*p == ' ')
			p++;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (c->nexdates == SHIFT_MAX_EXDATES ||
		    shift_parse_local(p, len, &c->exdates[c->nexdates]) != 0)
			return -1;
		c->nexdates++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/*
 * Turn a rule into what expansion needs, checking every field. Validation
 * and expansion share this, so a rule that validates always expands.
 */
static int
shift_compile(const struct shift_rule *r, struct shift_compiled *c,
	      struct cbd_err *err)
{
	const char *rrule = r->rrule;

	shift_init();
	memset(c, 0, sizeof(*c));
	if (memchr(r->tz, '\0', sizeof(r->tz)) == NULL ||
	    (c->zone = shift_zone(r->tz)) == NULL) {
		cbd_err_set(err, 400, "invalid-shift", "tz",
			    "unknown time zone; use an IANA name such as "
			    "Europe/London");
		return -1;
	}
	if (memchr(r->start, '\0', sizeof(r->start)) == NULL ||
	    shift_parse_local(r->start, strlen(r->start), &c->dtstart) != 0) {
		cbd_err_set(err, 400, "invalid-shift", "start",
			    "start must be local time YYYY-MM-DDTHH:MM:SS");
		return -1;
	}
	c->dtstart = icaltime_set_timezone(&c->dtstart, c->zone);
	if (r->duration_sec < 1 || r->duration_sec > SHIFT_MAX_DURATION_SEC) {
		cbd_err_set(err, 400, "invalid-shift", "duration",
			    "duration must be 1 to %d seconds",
			    SHIFT_MAX_DURATION_SEC);
		return -1;
	}
	if (memchr(r->exdates, '\0', sizeof(r->exdates)) == NULL ||
	    shift_parse_exdates(r->exdates, c) != 0) {
		cbd_err_set(err, 400, "invalid-shift", "exdates",
			    "exdates must be up to %d local times "
			    "YYYY-MM-DDTHH:MM:SS, comma separated",
			    SHIFT_MAX_EXDATES);
		return -1;
	}
	if (memchr(r->rrule, '\0', sizeof(r->rrule)) == NULL) {
		cbd_err_set(err, 400, "invalid-shift", "rrule",
			    "rrule too long");
		return -1;
	}
	/* Clients paste whole content lines; the prefix is harmless. */
	if (strncasecmp(rrule, "RRULE:", 6) == 0)
		rrule += 6;
	if (rrule[0] == '\0')
		return 0;
	icalerror_clear_errno();
	c->recur = icalrecurrencetype_from_string(rrule);
	if (c->recur.freq == ICAL_NO_RECURRENCE || icalerrno != ICAL_NO_ERROR) {
		icalerror_clear_errno();
		cbd_err_set(err, 400, "invalid-shift", "rrule",
			    "rrule is not a valid RFC 5545 RRULE");
		return -1;
	}
	/* A shift lasts up to a day; rules finer than daily are mistakes, and
	 * an unbounded MINUTELY rule is 500k occurrences a year. */
	if (c->recur.freq == ICAL_SECONDLY_RECURRENCE ||
	    c->recur.freq == ICAL_MINUTELY_RECURRENCE ||
	    c->recur.freq == ICAL_HOURLY_RECURRENCE) {
		cbd_err_set(err, 400, "invalid-shift", "rrule",
			    "rrule FREQ must be DAILY or coarser");
		return -1;
	}
	/* Whether the rule occurs at all is the probe's question (validation
	 * only): libical can take seconds to find out. */
	c->has_rrule = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The occurrence probe */

/*
 * A rule that parses may still never occur ("BYMONTHDAY=31;BYMONTH=2"),
 * and libical 3.0 finds that out the slow way: creating the iterator
 * searches month by month up to the year 20000, and each next() walks
 * day by day to 2582, 0.3 to 2 s per rule. Such a rule must be refused
 * when it is written, never stored to be expanded on every slot query.
 *
 * So validation asks, on a thread of its own, for the rule's first
 * occurrence within SHIFT_PROBE_YEARS of its start (UNTIL capped there,
 * which bounds libical's day-by-day walk) and waits SHIFT_PROBE_MS for
 * the answer. No occurrence, or no answer in time, is a 422 on the rule:
 * a rota that never puts anyone on duty is a mistake. libical cannot be
 * interrupted, so a probe that overruns is left to finish on its own
 * (it always ends, at libical's year limits) and frees itself; at most
 * SHIFT_PROBE_MAX_RUNNING such threads exist at once, and further probes
 * are refused as busy (503) rather than piling up.
 */
#define SHIFT_PROBE_YEARS       8
#define SHIFT_PROBE_MS          500
#define SHIFT_PROBE_MAX_RUNNING 16

struct shift_probe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;    /* the waiter and the thread; the last one frees */
	int is_done; /* set by the thread */
	int found;   /* 1: an occurrence; 0: none; -1: libical refused */
	struct icalrecurrencetype recur;
	struct icaltimetype dtstart; /* floating: wall time only */
};

static pthread_mutex_t shift_probe_lock = PTHREAD_MUTEX_INITIALIZER;
static int shift_probes_running;

static void
shift_probe_unref(struct shift_probe *pr)
{
	int last;

	pthread_mutex_lock(&pr->lock);
	last = --pr->refs == 0;
	pthread_mutex_unlock(&pr->lock);
	if (!last)
		return;
	pthread_cond_destroy(&pr->cond);
	pthread_mutex_destroy(&pr->lock);
	free(pr);
}

static void *
shift_probe_run(void *arg)
{
	struct shift_probe *pr = arg;
	icalrecur_iterator *it;
	int found = -1;

	shift_init();
	it = icalrecur_iterator_new(pr->recur, pr->dtstart);
	if (it != NULL) {
		found = !icaltime_is_null_time(icalrecur_iterator_next(it));
		icalrecur_iterator_free(it);
	}
	icalerror_clear_errno();
	pthread_mutex_lock(&pr->lock);
	pr->found = found;
	pr->is_done = 1;
	pthread_cond_signal(&pr->cond);
	pthread_mutex_unlock(&pr->lock);
	shift_probe_unref(pr);
	pthread_mutex_lock(&shift_probe_lock);
	shift_probes_running--;
	pthread_mutex_unlock(&shift_probe_lock);
	return NULL;
}

/* The probe's copy of the rule: floating start, UNTIL at most
 * SHIFT_PROBE_YEARS after it. */
static void
shift_probe_rule(const struct shift_compiled *c, struct shift_probe *pr)
{
	struct icaltimetype cap;

	pr->recur = c->recur;
	pr->dtstart = c->dtstart;
	pr->dtstart.zone = NULL;
	cap = pr->dtstart;
	cap.year += SHIFT_PROBE_YEARS;
	if (cap.month == 2 && cap.day == 29)
		cap.day = 28;
	if (icaltime_is_null_time(pr->recur.until)) {
		pr->recur.until = cap;
	} else {
		struct icaltimetype until = pr->recur.until;

		until.zone = NULL;
		if (icaltime_compare(until, cap) > 0)
			pr->recur.until = cap;
	}
}

/* Start a probe thread; 1 found, 0 none or timed out, -1 busy. */
static int
shift_probe_wait(const struct shift_compiled *c)
{
	struct shift_probe *pr = xcalloc(1, sizeof(*pr));
	struct timespec deadline;
	pthread_attr_t attr;
	pthread_t th;
	int rc = 0, found = 0;

	pthread_mutex_lock(&shift_probe_lock);
	if (shift_probes_running >= SHIFT_PROBE_MAX_RUNNING) {
		pthread_mutex_unlock(&shift_probe_lock);
		free(pr);
		return -1;
	}
	shift_probes_running++;
	pthread_mutex_unlock(&shift_probe_lock);
	pthread_mutex_init(&pr->lock, NULL);
	pthread_cond_init(&pr->cond, NULL);
	pr->refs = 2;
	shift_probe_rule(c, pr);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, shift_probe_run, pr) != 0) {
		pthread_attr_destroy(&attr);
		pthread_mutex_lock(&shift_probe_lock);
		shift_probes_running--;
		pthread_mutex_unlock(&shift_probe_lock);
		pr->refs = 1;
		shift_probe_unref(pr);
		return -1;
	}
	pthread_attr_destroy(&attr);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += (long)SHIFT_PROBE_MS * 1000000L;
	deadline.tv_sec += deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&pr->lock);
	while (!pr->is_done && rc == 0)
		rc = pthread_cond_timedwait(&pr->cond, &pr->lock, &deadline);
	if (pr->is_done)
		found = pr->found == 1;
	pthread_mutex_unlock(&pr->lock);
	shift_probe_unref(pr);
	return found;
}

int
shift_rule_validate(const struct shift_rule *r, struct cbd_err *err)
{
	struct shift_compiled c;
	int found;

	if (shift_compile(r, &c, err) != 0)
		return -1;
	if (!c.has_rrule)
		return 0;
	found = shift_probe_wait(&c);
	if (found < 0) {
		cbd_err_set(err, 503, "busy", "rrule",
			    "too many shift rules are being checked; try "
			    "again");
		err->retry_after_sec = 2;
		return -1;
	}
	if (found == 0) {
		cbd_err_set(err, 422, "shift-never-occurs", "rrule",
			    "rrule has no occurrence within %d years of start",
			    SHIFT_PROBE_YEARS);
		return -1;
	}
	return 0;
}

struct shift_plan *
shift_plan_new(int64_t from, int64_t to)
{
	struct shift_plan *p = xcalloc(1, sizeof(*p));

	p->from = from;
	p->to = to;
	return p;
}

void
shift_plan_free(struct shift_plan *p)
{
	if (p == NULL)
		return;
	free(p->raw);
	free(p->offs);
	free(p->by_start);
	free(p->by_agent);
	free(p);
}

static void *
shift_dup(const void *src, size_t n, size_t size)
{
	void *d = xcalloc(n ? n : 1, size);

	if (n > 0)
		memcpy(d, src, n * size);
	return d;
}

struct shift_plan *
shift_plan_clone(const struct shift_plan *p)
{
	struct shift_plan *c = xcalloc(1, sizeof(*c));

	*c = *p;
	c->raw = shift_dup(p->raw, p->nraw, sizeof(*p->raw));
	c->capraw = p->nraw;
	c->offs = shift_dup(p->offs, p->noff, sizeof(*p->offs));
	c->capoff = p->noff;
	c->by_start =
		p->by_start ? shift_dup(p->by_start, p->n, sizeof(*p->by_start))
			    : NULL;
	c->by_agent =
		p->by_agent ? shift_dup(p->by_agent, p->n, sizeof(*p->by_agent))
			    : NULL;
	return c;
}

static void
shift_plan_push(struct shift_plan *p, int64_t agent_id, int64_t start,
		int64_t end)
{
	if (p->nraw == p->capraw) {
		p->capraw = p->capraw ? p->capraw * 2 : 64;
		p->raw = xrealloc(p->raw, p->capraw * sizeof(*p->raw));
	}
	p->raw[p->nraw].agent_id = agent_id;
	p->raw[p->nraw].start = start;
	p->raw[p->nraw].end = end;
	p->nraw++;
	p->is_finished = 0;
}

/*
 * EXDATEs name local wall times, as in the rule itself, so they compare by
 * fields: "2026-03-08T09:00:00" removes that day's 09:00 shift whatever
 * the UTC offset was. A linear scan is fine at SHIFT_MAX_EXDATES.
 */
static int
shift_is_excluded(const struct shift_compiled *c, const struct icaltimetype *t)
{
	size_t i;

	for (i = 0; i < c->nexdates; i++) {
		const struct icaltimetype *x = &c->exdates[i];

		if (x->year == t->year && x->month == t->month &&
		    x->day == t->day && x->hour == t->hour &&
		    x->minute == t->minute && x->second == t->second)
			return 1;
	}
	return 0;
}

/* Add the span of one local occurrence if it touches the window. */
static void
shift_plan_add_occurrence(struct shift_plan *p, const struct shift_rule *r,
			  const struct shift_compiled *c, int64_t start,
			  int64_t wall)
{
	int64_t end;

	/* End is local start + duration in wall time, then converted. */
	end = shift_wall_to_utc(c->zone, wall + r->duration_sec);
	/* Only a zone jumping by more than the duration (Samoa skipping a
	 * day) gets here; fall back to real seconds. */
	if (end <= start)
		end = start + r->duration_sec;
	if (end > p->from && start < p->to)
		shift_plan_push(p, r->agent_id, start, end);
}

/* ------------------------------------------------------------------ */
/* Expansion budget */

/*
 * Every expansion is bounded in steps (SHIFT_MAX_OCCURRENCES) and in time.
 * Validation keeps never-occurring rules out, but rows stored before it
 * (or by hand) may still be such rules, and libical spends its seconds
 * inside one call that cannot be cut short. So a rule whose expansion
 * overran the budget once is remembered (by a hash of its text) and
 * refused at once from then on, in this process: it costs one expansion,
 * not one per slot query.
 */
#define SHIFT_SLOW_RULES 64

static pthread_mutex_t shift_slow_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shift_slow[SHIFT_SLOW_RULES]; /* ring; 0: empty */
static size_t shift_slow_next;
static int shift_budget_ms = SHIFT_EXPAND_BUDGET_MS;

void
shift_set_expand_budget_ms(int ms)
{
	shift_budget_ms = ms > 0 ? ms : SHIFT_EXPAND_BUDGET_MS;
}

/* This thread's CPU time: a worker preempted on a busy machine must not
 * mistake the wait for a slow rule. */
static int64_t
shift_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
shift_rule_hash(const struct shift_rule *r)
{
	const char *parts[] = { r->tz, r->start, r->rrule };
	uint64_t h = 1469598103934665603ULL;

	/* FNV-1a over the parts, each ended by a byte text cannot hold. */
	for (size_t i = 0; i < CBD_ARRAY_LEN(parts); i++) {
		for (const char *q = parts[i]; *q != '\0'; q++)
			h = (h ^ (unsigned char)*q) * 1099511628211ULL;
		h = (h ^ 0xffu) * 1099511628211ULL;
	}
	return h != 0 ? h : 1;
}

static int
shift_is_slow(uint64_t h)
{
	int found = 0;

	pthread_mutex_lock(&shift_slow_lock);
	for (size_t i = 0; i < SHIFT_SLOW_RULES && !found; i++)
		found = shift_slow[i] == h;
	pthread_mutex_unlock(&shift_slow_lock);
	return found;
}

static void
shift_mark_slow(uint64_t h, const struct shift_rule *r, int64_t ms,
		struct cbd_err *err)
{
	pthread_mutex_lock(&shift_slow_lock);
	shift_slow[shift_slow_next] = h;
	shift_slow_next = (shift_slow_next + 1) % SHIFT_SLOW_RULES;
	pthread_mutex_unlock(&shift_slow_lock);
	cbd_err_set(err, 422, "shift-too-slow", "rrule",
		    "rrule '%.120s' cannot be expanded (%lld ms, budget %d "
		    "ms); it is skipped from now on",
		    r->rrule, (long long)ms, shift_budget_ms);
}

int
shift_plan_add_rule(struct shift_plan *p, const struct shift_rule *r,
		    struct cbd_err *err)
{
	struct shift_compiled c;
	icalrecur_iterator *it = NULL;
	struct icaltimetype occ, skip;
	int64_t wall, start, t0 = shift_cpu_ms();
	uint64_t h = shift_rule_hash(r);
	int count = 0;
	int rc = -1;

	if (shift_is_slow(h)) {
		cbd_err_set(err, 422, "shift-too-slow", "rrule",
			    "rrule '%.120s' expanded too slowly before; "
			    "skipped",
			    r->rrule);
		goto out;
	}
	if (shift_compile(r, &c, err) != 0)
		goto out;
	if (!c.has_rrule) {
		wall = shift_wall_sec(&c.dtstart);
		if (!shift_is_excluded(&c, &c.dtstart))
			shift_plan_add_occurrence(
				p, r, &c, shift_wall_to_utc(c.zone, wall),
				wall);
		rc = 0;
		goto out;
	}
	/* libical refusing the rule is as lasting as a slow rule, and
	 * finding out can take as long: remember it either way. */
	it = icalrecur_iterator_new(c.recur, c.dtstart);
	if (it == NULL || shift_cpu_ms() - t0 > shift_budget_ms) {
		shift_mark_slow(h, r, shift_cpu_ms() - t0, err);
		goto out;
	}
	/*
	 * Jump close to the window instead of walking years of history: a
	 * daily rule started in 2000 would otherwise use up the occurrence
	 * bound before reaching today. libical cannot do this for COUNT
	 * rules (it must count from DTSTART), which the bound then limits.
	 * Two days of margin cover a 24h shift plus any zone offset.
	 */
	skip = icaltime_from_timet_with_zone(
		(time_t)(p->from - SHIFT_MAX_DURATION_SEC - 2 * SHIFT_DAY_SEC),
		0, c.zone);
	/* libical 3.0 labels those local fields as UTC; relabel them so
	 * set_start does not convert them a second time. */
	skip = icaltime_set_timezone(&skip, c.zone);
	if (c.recur.count == 0 && icaltime_compare(skip, c.dtstart) > 0)
		(void)icalrecur_iterator_set_start(it, skip);
	for (;;) {
		occ = icalrecur_iterator_next(it);
		if (shift_cpu_ms() - t0 > shift_budget_ms) {
			shift_mark_slow(h, r, shift_cpu_ms() - t0, err);
			goto out;
		}
		if (icaltime_is_null_time(occ))
			break;
		if (++count > SHIFT_MAX_OCCURRENCES) {
			cbd_err_set(err, 400, "invalid-shift", "rrule",
				    "rrule expands to more than %d "
				    "occurrences in the window",
				    SHIFT_MAX_OCCURRENCES);
			goto out;
		}
		wall = shift_wall_sec(&occ);
		start = shift_wall_to_utc(c.zone, wall);
		/* Occurrences come in local order, at least a day apart,
		 * so UTC order follows and nothing later can be in the
		 * window. */
		if (start >= p->to)
			break;
		if (shift_is_excluded(&c, &occ))
			continue;
		shift_plan_add_occurrence(p, r, &c, start, wall);
	}
	rc = 0;
out:
	if (it != NULL)
		icalrecur_iterator_free(it);
	icalerror_clear_errno();
	return rc;
}

/* Empty or reversed absences are dropped rather than refused: they cut
 * nothing, and the caller validated the row when it was stored. */
void
shift_plan_add_off(struct shift_plan *p, const struct shift_off *o)
{
	if (o->to <= o->from)
		return;
	if (p->noff == p->capoff) {
		p->capoff = p->capoff ? p->capoff * 2 : 16;
		p->offs = xrealloc(p->offs, p->capoff * sizeof(*p->offs));
	}
	p->offs[p->noff++] = *o;
	p->is_finished = 0;
}

static int
shift_cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int
shift_cmp_by_start(const void *a, const void *b)
{
	const struct shift_span *x = a, *y = b;
	int c;

	if ((c = shift_cmp_i64(x->start, y->start)) != 0)
		return c;
	if ((c = shift_cmp_i64(x->agent_id, y->agent_id)) != 0)
		return c;
	return shift_cmp_i64(x->end, y->end);
}

static int
shift_cmp_by_agent(const void *a, const void *b)
{
	const struct shift_span *x = a, *y = b;
	int c;

	if ((c = shift_cmp_i64(x->agent_id, y->agent_id)) != 0)
		return c;
	if ((c = shift_cmp_i64(x->start, y->start)) != 0)
		return c;
	return shift_cmp_i64(x->end, y->end);
}

static int
shift_cmp_off(const void *a, const void *b)
{
	const struct shift_off *x = a, *y = b;
	int c;

	if ((c = shift_cmp_i64(x->agent_id, y->agent_id)) != 0)
		return c;
	return shift_cmp_i64(x->from, y->from);
}

/* Sort offs and merge overlapping ones per agent, so that within an agent
 * both from and to ascend and one binary search finds the first cut. */
static size_t
shift_merge_offs(struct shift_off *offs, size_t n)
{
	size_t i, m = 0;

	if (n == 0)
		return 0;
	qsort(offs, n, sizeof(*offs), shift_cmp_off);
	for (i = 1; i < n; i++) {
		struct shift_off *last = &offs[m];

		if (offs[i].agent_id == last->agent_id &&
		    offs[i].from <= last->to) {
			if (offs[i].to > last->to)
				last->to = offs[i].to;
		} else {
			offs[++m] = offs[i];
		}
	}
	return m + 1;
}

/* First merged off of agent whose end is after t (index n when none). */
static size_t
shift_first_off(const struct shift_off *offs, size_t n, int64_t agent_id,
		int64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (offs[mid].agent_id < agent_id ||
		    (offs[mid].agent_id == agent_id && offs[mid].to <= t))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Cut time off out of the raw spans into by_agent, then sort both query
 * orders. Offs are merged first so that, per agent, the offs touching a
 * span are one contiguous run found by binary search: O((n + m) log m)
 * for n spans and m offs. Raw spans are left alone, so finishing again
 * after adding more rules or offs gives the same answer as doing it once.
 */
void
shift_plan_finish(struct shift_plan *p)
{
	struct shift_off *offs = NULL;
	size_t noff, i, cap;

	free(p->by_start);
	free(p->by_agent);
	p->by_start = p->by_agent = NULL;
	p->n = 0;
	p->max_len = 0;

	offs = xmalloc((p->noff ? p->noff : 1) * sizeof(*offs));
	if (p->noff > 0)
		memcpy(offs, p->offs, p->noff * sizeof(*offs));
	noff = shift_merge_offs(offs, p->noff);

	/* Each off strictly inside a span adds one piece. */
	cap = p->nraw + noff + 1;
	p->by_agent = xmalloc(cap * sizeof(*p->by_agent));
	for (i = 0; i < p->nraw; i++) {
		const struct shift_span *s = &p->raw[i];
		int64_t cur = s->start;
		size_t k;

		for (k = shift_first_off(offs, noff, s->agent_id, s->start);
		     k < noff && offs[k].agent_id == s->agent_id &&
		     offs[k].from < s->end;
		     k++) {
			if (offs[k].from > cur) {
				if (p->n == cap) {
					cap *= 2;
					p->by_agent = xrealloc(
						p->by_agent,
						cap * sizeof(*p->by_agent));
				}
				p->by_agent[p->n].agent_id = s->agent_id;
				p->by_agent[p->n].start = cur;
				p->by_agent[p->n].end = offs[k].from;
				p->n++;
			}
			if (offs[k].to > cur)
				cur = offs[k].to;
		}
		if (cur < s->end) {
			if (p->n == cap) {
				cap *= 2;
				p->by_agent =
					xrealloc(p->by_agent,
						 cap * sizeof(*p->by_agent));
			}
			p->by_agent[p->n].agent_id = s->agent_id;
			p->by_agent[p->n].start = cur;
			p->by_agent[p->n].end = s->end;
			p->n++;
		}
	}
	free(offs);

	for (i = 0; i < p->n; i++)
		if (p->by_agent[i].end - p->by_agent[i].start > p->max_len)
			p->max_len = p->by_agent[i].end - p->by_agent[i].start;
	/* Pieces of overlapping spans can come out of order: sort both. */
	qsort(p->by_agent, p->n, sizeof(*p->by_agent), shift_cmp_by_agent);
	p->by_start = xmalloc((p->n ? p->n : 1) * sizeof(*p->by_start));
	if (p->n > 0)
		memcpy(p->by_start, p->by_agent, p->n * sizeof(*p->by_start));
	qsort(p->by_start, p->n, sizeof(*p->by_start), shift_cmp_by_start);
	p->is_finished = 1;
}

/*
 * One pass over (agent, start) order keeping the furthest end seen for the
 * agent: a span starting before it overlaps some earlier span, even one
 * that is not its direct predecessor. Touching spans (end == start) are a
 * handover, not an overlap. Reports the lowest agent id with an overlap.
 */
int
shift_plan_has_overlap(const struct shift_plan *p, int64_t *agent_id)
{
	int64_t max_end = 0;
	size_t i;

	assert(p->is_finished);
	for (i = 0; i < p->n; i++) {
		const struct shift_span *s = &p->by_agent[i];

		if (i > 0 && s->agent_id == p->by_agent[i - 1].agent_id &&
		    s->start < max_end) {
			if (agent_id != NULL)
				*agent_id = s->agent_id;
			return 1;
		}
		if (i == 0 || s->agent_id != p->by_agent[i - 1].agent_id ||
		    s->end > max_end)
			max_end = s->end;
	}
	return 0;
}

/* [*lo, *hi) is agent's run in by_agent; returns the first index in it
 * whose start is after t. */
static size_t
shift_agent_after(const struct shift_plan *p, int64_t agent_id, int64_t t,
		  size_t *lo_out, size_t *hi_out)
{
	size_t lo = 0, hi = p->n, first, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->by_agent[mid].agent_id < agent_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->by_agent[mid].agent_id <= agent_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	end = lo;
	*lo_out = first;
	*hi_out = end;
	lo = first;
	hi = end;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->by_agent[mid].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Latest end among agent's spans containing t, or -1. Spans starting
 * before t - max_len cannot reach t, which bounds the backward scan. */
static int64_t
shift_containing_end(const struct shift_plan *p, size_t lo, size_t after,
		     int64_t t)
{
	int64_t best = -1;
	size_t i;

	for (i = after; i > lo; i--) {
		const struct shift_span *s = &p->by_agent[i - 1];

		if (s->start <= t - p->max_len)
			break;
		if (s->end > t && s->end > best)
			best = s->end;
	}
	return best;
}

int
shift_plan_on_duty(const struct shift_plan *p, int64_t agent_id, int64_t t)
{
	size_t lo, hi, after;

	assert(p->is_finished);
	after = shift_agent_after(p, agent_id, t, &lo, &hi);
	return shift_containing_end(p, lo, after, t) >= 0;
}

int64_t
shift_plan_shift_end(const struct shift_plan *p, int64_t agent_id, int64_t t)
{
	size_t lo, hi, after, j;
	int64_t end;

	assert(p->is_finished);
	after = shift_agent_after(p, agent_id, t, &lo, &hi);
	end = shift_containing_end(p, lo, after, t);
	if (end < 0)
		return -1;
	/* A span that starts when (or before) this one ends means the agent
	 * never goes off duty: follow the chain to the real end. */
	for (j = after; j < hi && p->by_agent[j].start <= end; j++)
		if (p->by_agent[j].end > end)
			end = p->by_agent[j].end;
	return end;
}

int64_t
shift_plan_shift_start(const struct shift_plan *p, int64_t agent_id, int64_t t)
{
	size_t lo, hi, after, i;
	int64_t start = t;

	assert(p->is_finished);
	after = shift_agent_after(p, agent_id, t, &lo, &hi);
	if (shift_containing_end(p, lo, after, t) < 0)
		return -1;
	/* Back over spans that reach the stretch found so far; one that
	 * starts more than max_len before it cannot, nor can any earlier. */
	for (i = after; i > lo; i--) {
		const struct shift_span *sp = &p->by_agent[i - 1];

		if (sp->start + p->max_len < start)
			break;
		if (sp->end >= start && sp->start < start)
			start = sp->start;
	}
	return start;
}

int64_t
shift_plan_next_start(const struct shift_plan *p, int64_t agent_id, int64_t t)
{
	size_t lo, hi, after;

	assert(p->is_finished);
	after = shift_agent_after(p, agent_id, t, &lo, &hi);
	return after < hi ? p->by_agent[after].start : -1;
}

static int
shift_cmp_id(const void *a, const void *b)
{
	return shift_cmp_i64(*(const int64_t *)a, *(const int64_t *)b);
}

/*
 * Spans containing t started in (t - max_len, t]; by_start order finds
 * that range with one binary search, so the cost is the number of spans
 * starting within one shift length of t, not the size of the plan. An
 * agent with overlapping spans is listed once.
 */
size_t
shift_plan_agents_at(const struct shift_plan *p, int64_t t, int64_t *ids,
		     size_t cap)
{
	size_t lo = 0, hi = p->n, i, n = 0, out = 0, first;
	int64_t *tmp;

	assert(p->is_finished);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->by_start[mid].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Only spans starting in (t - max_len, t] can contain t. */
	for (first = lo; first > 0; first--)
		if (p->by_start[first - 1].start <= t - p->max_len)
			break;
	if (lo == first)
		return 0;
	tmp = xmalloc((lo - first) * sizeof(*tmp));
	for (i = first; i < lo; i++)
		if (p->by_start[i].end > t)
			tmp[n++] = p->by_start[i].agent_id;
	qsort(tmp, n, sizeof(*tmp), shift_cmp_id);
	for (i = 0; i < n && out < cap; i++)
		if (i == 0 || tmp[i] != tmp[i - 1])
			ids[out++] = tmp[i];
	free(tmp);
	return out;
}

const struct shift_span *
shift_plan_spans(const struct shift_plan *p, size_t *n)
{
	assert(p->is_finished);
	*n = p->n;
	return p->by_start;
}
