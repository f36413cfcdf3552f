/*
 * roster.c: shift rules and time off as rows, and the checks that keep an
 * agent's roster meaningful.
 *
 * Design note. The shift module is pure: it expands rules it is given.
 * This file owns the rows (tables shifts and time_off) and decides what
 * may be stored. Two rules of one agent must never put the agent on duty
 * twice at once, because capacity and handoff planning count an agent once
 * per span; but rules are infinite, so "never" is checked over a finite
 * window: from a day before now to ROSTER_CHECK_DAYS past the latest future
 * start (capped at ROSTER_CHECK_MAX_AHEAD_DAYS). Five weeks cover every
 * weekly pattern; what the window can miss is a rare coincidence such as
 * two zones' DST dates drifting apart, or a yearly rule.
 *
 * The check adds rules one at a time to a set of accepted spans kept in
 * start order. Each rule is expanded once; a new span is compared with the
 * accepted spans that start within one maximum shift length before its
 * end, so a whole agent costs O(spans log spans). Adding in order gives
 * imports their "first event wins" rule and names the later rule in an
 * error, which is the one a person just wrote.
 *
 * Writers lock the agent's row (SELECT ... FOR UPDATE) before reading the
 * rules they check against, so two concurrent replacements of one agent
 * cannot each pass the overlap check against the other's old rules.
 * Imports lock agents in ascending id order to keep lock order global.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "clock.h"
#include "ics.h"
#include "log.h"
#include "roster.h"
#include "shift.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "xalloc.h"

#define ROSTER_DAY_SEC 86400
/* Longest a single span can last in real time: a 24h wall-clock shift
 * across a fall-back change, plus slack for odd zones. */
#define ROSTER_MAX_SPAN_SEC (SHIFT_MAX_DURATION_SEC + 3 * 3600)

#define ROSTER_SHIFT_COLS                                                      \
	"id, agent_id, tz, start_local, duration_sec, rrule, exdates, "        \
	"source, import_uid"
#define ROSTER_OFF_COLS "id, agent_id, from_at, to_at, reason, created_at"

/* ------------------------------------------------------------------ */
/* Rows */

static void
roster_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* A shift rule from a row selected with ROSTER_SHIFT_COLS. */
static void
roster_rule_from_row(const struct store_rows *r, size_t i,
		     struct shift_rule *out)
{
	memset(out, 0, sizeof(*out));
	out->id = store_rows_int(r, i, 0, 0);
	out->agent_id = store_rows_int(r, i, 1, 0);
	roster_copy(out->tz, sizeof(out->tz), store_rows_str(r, i, 2));
	roster_copy(out->start, sizeof(out->start), store_rows_str(r, i, 3));
	out->duration_sec = (int)store_rows_int(r, i, 4, 0);
	roster_copy(out->rrule, sizeof(out->rrule), store_rows_str(r, i, 5));
	roster_copy(out->exdates, sizeof(out->exdates),
		    store_rows_str(r, i, 6));
}

/* exdates "a,b,c" as a JSON array of strings. */
static json_t *
roster_exdates_json(const char *list)
{
	json_t *a = json_array();
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > 0)
			json_array_append_new(a, json_stringn(p, len));
		p = end != NULL ? end + 1 : NULL;
	}
	return a;
}

static json_t *
roster_rule_row_json(const struct store_rows *r, size_t i)
{
	const char *uid = store_rows_str(r, i, 8);

	return json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:s, s:o}", "id",
			 (json_int_t)store_rows_int(r, i, 0, 0), "start",
			 store_rows_str(r, i, 3), "duration",
			 (json_int_t)store_rows_int(r, i, 4, 0), "rrule",
			 store_rows_str(r, i, 5), "tz", store_rows_str(r, i, 2),
			 "exdates",
			 roster_exdates_json(store_rows_str(r, i, 6)), "source",
			 store_rows_str(r, i, 7), "import_uid",
			 uid != NULL ? json_string(uid) : json_null());
}

static json_t *
roster_off_row_json(const struct store_rows *r, size_t i)
{
	return json_pack("{s:I, s:I, s:o, s:o, s:s, s:o}", "id",
			 (json_int_t)store_rows_int(r, i, 0, 0), "agent_id",
			 (json_int_t)store_rows_int(r, i, 1, 0), "from",
			 api_time(store_rows_int(r, i, 2, 0), NULL), "to",
			 api_time(store_rows_int(r, i, 3, 0), NULL), "reason",
			 store_rows_str(r, i, 4), "created_at",
			 api_time(store_rows_int(r, i, 5, 0), NULL));
}

/*
 * Text from a calendar file as a JSON string. Import fields are cut to fit
 * fixed buffers, possibly inside a UTF-8 sequence, and files need not be
 * UTF-8 at all; jansson refuses such text, so bytes outside ASCII become
 * '?' rather than losing the whole report.
 */
static json_t *
roster_json_text(const char *s)
{
	json_t *v;
	char *copy;
	size_t i;

	if (s == NULL || s[0] == '\0')
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	copy = xstrdup(s);
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v != NULL ? v : json_null();
}

/* t as "YYYY-MM-DDTHH:MM:SS" read in UTC: comparable with start_local. */
static void
roster_wall_str(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
}

/* A rule's local start read as if it were UTC; within 14 hours of the
 * real instant, which is all the check window needs. 0 when malformed. */
static int64_t
roster_start_wall(const struct shift_rule *r)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(r->start, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

int
roster_agent_exists(struct store_tx *tx, int64_t agent_id, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err, "SELECT 1 FROM agents WHERE id = ?", "i", agent_id);
	int found;

	if (r == NULL)
		return -1;
	found = store_rows_count(r) > 0;
	store_rows_free(r);
	return found;
}

/* Lock the agent's row for this transaction and read its zone into tz
 * (may be NULL). 404 when there is no such agent. */
static int
roster_lock_agent(struct store_tx *tx, int64_t agent_id, char *tz,
		  size_t tz_size, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err, "SELECT timezone FROM agents WHERE id = ? FOR UPDATE",
		"i", agent_id);

	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	if (tz != NULL)
		roster_copy(tz, tz_size, store_rows_str(r, 0, 0));
	store_rows_free(r);
	return 0;
}

static int
roster_require_agent(struct store_tx *tx, int64_t agent_id, struct cbd_err *err)
{
	int found = roster_agent_exists(tx, agent_id, err);

	if (found < 0)
		return -1;
	if (found == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	return 0;
}

static int
roster_insert_rule(struct store_tx *tx, const struct shift_rule *r,
		   const char *source, const char *import_uid, int64_t now,
		   struct cbd_err *err)
{
	return store_exec(tx, err,
			  "INSERT INTO shifts (agent_id, tz, start_local, "
			  "duration_sec, rrule, exdates, source, import_uid, "
			  "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  "ississssi", r->agent_id, r->tz, r->start,
			  (int64_t)r->duration_sec, r->rrule, r->exdates,
			  source, import_uid, now) < 0
		       ? -1
		       : 0;
}

/* Prefix err's field with "shifts[i]." so a client finds the rule. */
static void
roster_err_prefix(struct cbd_err *err, const char *fmt_prefix, size_t i)
{
	char prefix[32];
	size_t plen, flen;

	snprintf(prefix, sizeof(prefix), fmt_prefix, i);
	plen = strlen(prefix);
	flen = strnlen(err->field, sizeof(err->field) - 1);
	if (plen + flen >= sizeof(err->field))
		flen = sizeof(err->field) - 1 - plen;
	memmove(err->field + plen, err->field, flen);
	memcpy(err->field, prefix, plen);
	err->field[plen + flen] = '\0';
}

/* ------------------------------------------------------------------ */
/* Overlap check */

/* One expanded span and the rule (by position) it came from. */
struct roster_span {
	int64_t start;
	int64_t end;
	size_t rule;
};

/* Accepted spans of one agent within [from, to), by start. */
struct roster_checker {
	int64_t from;
	int64_t to;
	struct roster_span *spans;
	size_t n, cap;
};

static int
roster_cmp_span(const void *a, const void *b)
{
	const struct roster_span *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

static void
roster_check_window(const struct shift_rule *rules, size_t n, int64_t now,
		    int64_t *from, int64_t *to)
{
	int64_t last = now;
	int64_t cap =
		now + (int64_t)ROSTER_CHECK_MAX_AHEAD_DAYS * ROSTER_DAY_SEC;
	size_t i;

	for (i = 0; i < n; i++) {
		int64_t w = roster_start_wall(&rules[i]);

		if (w > last)
			last = w;
	}
	if (last > cap)
		last = cap;
	*from = now - ROSTER_DAY_SEC;
	/* A day of margin for the zone offset the wall start ignores. */
	*to = last + (int64_t)(ROSTER_CHECK_DAYS + 1) * ROSTER_DAY_SEC;
}

/* Spans of r inside [from, to), sorted by start; caller frees *out. */
static int
roster_expand(const struct shift_rule *r, size_t label, int64_t from,
	      int64_t to, struct roster_span **out, size_t *n,
	      struct cbd_err *err)
{
	struct shift_plan *p = shift_plan_new(from, to);
	const struct shift_span *s;
	size_t k, i;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (shift_plan_add_rule(p, r, err) != 0)
		goto out;
	shift_plan_finish(p);
	s = shift_plan_spans(p, &k);
	*out = xcalloc(k > 0 ? k : 1, sizeof(**out));
	for (i = 0; i < k; i++) {
		(*out)[i].start = s[i].start;
		(*out)[i].end = s[i].end;
		(*out)[i].rule = label;
	}
	*n = k;
	rc = 0;
out:
	shift_plan_free(p);
	return rc;
}

/* 1 when x overlaps an accepted span (sets *other, *at), else 0. Spans
 * starting at or after x's end cannot overlap it, and none starting more
 * than ROSTER_MAX_SPAN_SEC before x can reach it. */
static int
roster_checker_hits(const struct roster_checker *ck,
		    const struct roster_span *x, size_t *other, int64_t *at)
{
	size_t lo = 0, hi = ck->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ck->spans[mid].start < x->end)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo > 0) {
		const struct roster_span *y = &ck->spans[--lo];

		if (y->start <= x->start - ROSTER_MAX_SPAN_SEC)
			break;
		if (y->end > x->start) {
			*other = y->rule;
			*at = y->start > x->start ? y->start : x->start;
			return 1;
		}
	}
	return 0;
}

/*
 * Add r's spans, labelled label, unless one overlaps an accepted span or
 * another of r's own (*other == label then). is_forced adds without
 * checking: rules already stored are context, not candidates. Returns 0
 * when added, 1 when refused (*other, *at), -1 with err when r does not
 * expand.
 */
static int
roster_checker_add(struct roster_checker *ck, const struct shift_rule *r,
		   size_t label, int is_forced, size_t *other, int64_t *at,
		   struct cbd_err *err)
{
	struct roster_span *mine = NULL;
	int64_t own_end = INT64_MIN;
	size_t n = 0, i;
	int rc = -1;

	if (roster_expand(r, label, ck->from, ck->to, &mine, &n, err) != 0)
		goto out;
	for (i = 0; i < n && !is_forced; i++) {
		if (mine[i].start < own_end) {
			*other = label;
			*at = mine[i].start;
			rc = 1;
			goto out;
		}
		if (mine[i].end > own_end)
			own_end = mine[i].end;
		if (roster_checker_hits(ck, &mine[i], other, at)) {
			rc = 1;
			goto out;
		}
	}
	/* A rule with no occurrence in the window (UNTIL before its start,
	 * say) adds nothing: there is no array to grow or sort, and qsort
	 * must not be handed a NULL base even for zero elements. */
	if (n > 0) {
		if (ck->n + n > ck->cap) {
			ck->cap = (ck->n + n) * 2;
			ck->spans = xrealloc(ck->spans,
					     ck->cap * sizeof(*ck->spans));
		}
		memcpy(ck->spans + ck->n, mine, n * sizeof(*mine));
		ck->n += n;
		qsort(ck->spans, ck->n, sizeof(*ck->spans), roster_cmp_span);
	}
	rc = 0;
out:
	free(mine);
	return rc;
}

int
roster_find_overlap(const struct shift_rule *rules, size_t n, int64_t now,
		    size_t *a, size_t *b, int64_t *at, struct cbd_err *err)
{
	struct roster_checker ck;
	size_t i;
	int rc = 0;

	memset(&ck, 0, sizeof(ck));
	roster_check_window(rules, n, now, &ck.from, &ck.to);
	for (i = 0; i < n && rc == 0; i++) {
		rc = roster_checker_add(&ck, &rules[i], i, 0, a, at, err);
		*b = i;
	}
	free(ck.spans);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Shift rules */

int
roster_replace_shifts(struct store_tx *tx, int64_t agent_id,
		      struct shift_rule *rules, size_t n, struct cbd_err *err)
{
	char tz[sizeof(rules[0].tz)], when[40];
	int64_t now = clock_now(), at = 0;
	size_t i, a = 0, b = 0;
	int rc;

	if (roster_bump(tx, err) != 0)
		return -1;

	if (n > ROSTER_MAX_RULES) {
		cbd_err_set(err, 400, "too-many-shifts", "shifts",
			    "at most %d shift rules per agent",
			    ROSTER_MAX_RULES);
		return -1;
	}
	if (roster_lock_agent(tx, agent_id, tz, sizeof(tz), err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct shift_rule *r = &rules[i];

		r->id = 0;
		r->agent_id = agent_id;
		if (r->tz[0] == '\0')
			memcpy(r->tz, tz, sizeof(tz));
		if (strncasecmp(r->rrule, "RRULE:", 6) == 0)
			memmove(r->rrule, r->rrule + 6,
				strlen(r->rrule + 6) + 1);
		if (shift_rule_validate(r, err) != 0) {
			roster_err_prefix(err, "shifts[%zu].", i);
			return -1;
		}
	}
	rc = roster_find_overlap(rules, n, now, &a, &b, &at, err);
	if (rc < 0) {
		roster_err_prefix(err, "shifts[%zu].", b);
		return -1;
	}
	if (rc == 1) {
		char field[32];

		timefmt_rfc3339(at, NULL, when, sizeof(when));
		snprintf(field, sizeof(field), "shifts[%zu]", b);
		if (a == b)
			cbd_err_set(err, 400, "overlapping-shifts", field,
				    "shifts[%zu] overlaps itself at %s", b,
				    when);
		else
			cbd_err_set(err, 400, "overlapping-shifts", field,
				    "shifts[%zu] overlaps shifts[%zu] at %s", b,
				    a, when);
		return -1;
	}
	if (store_exec(tx, err, "DELETE FROM shifts WHERE agent_id = ?", "i",
		       agent_id) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (roster_insert_rule(tx, &rules[i], "api", NULL, now, err) !=
		    0)
			return -1;
		rules[i].id = store_last_id(tx);
	}
	log_info("shifts replaced", "agent=%" PRId64 " rules=%zu", agent_id, n);
	return 0;
}

int
roster_shifts_json(struct store_tx *tx, int64_t agent_id, json_t **out,
		   struct cbd_err *err)
{
	struct store_rows *r;
	size_t i, n;

	if (roster_require_agent(tx, agent_id, err) != 0)
		return -1;
	r = store_query(tx, err,
			"SELECT " ROSTER_SHIFT_COLS
			" FROM shifts WHERE agent_id = ? ORDER BY id",
			"i", agent_id);
	if (r == NULL)
		return -1;
	*out = json_array();
	n = store_rows_count(r);
	for (i = 0; i < n; i++)
		json_array_append_new(*out, roster_rule_row_json(r, i));
	store_rows_free(r);
	return 0;
}

int
roster_spans_json(struct store_tx *tx, int64_t agent_id, int64_t from,
		  int64_t to, json_t **out, struct cbd_err *err)
{
	struct shift_plan *p = NULL;
	const struct shift_span *s;
	size_t i, n;

	if (roster_load_plan(tx, agent_id, from, to, &p, err) != 0)
		return -1;
	*out = json_array();
	s = shift_plan_spans(p, &n);
	for (i = 0; i < n; i++) {
		/* Time off can leave a piece of a span outside the window. */
		if (s[i].end <= from || s[i].start >= to)
			continue;
		json_array_append_new(
			*out, json_pack("{s:o, s:o}", "start",
					api_time(s[i].start, NULL), "end",
					api_time(s[i].end, NULL)));
	}
	shift_plan_free(p);
	return 0;
}

/*
 * Rules are filtered in SQL by their local start text, which sorts like
 * time: one starting locally after to + 15h (zones are at most 14h ahead)
 * cannot start before to, and a one-off starting locally two days before
 * from has ended before it. Time off of all agents is bounded below by
 * ROSTER_MAX_OFF_SEC, which every stored row respects, so the
 * (from_at, to_at) index reads a narrow range.
 */
/*
 * The whole roster's plan is read on every booking and slot query, and
 * expanding RRULEs costs far more than the booking itself. So a plan of all
 * active agents over a window around today is kept per process and reused
 * while the roster version (settings.roster_version, bumped in the same
 * transaction as every change to shifts, time off or agents) is unchanged.
 * Another instance's change is seen at the next read of the version.
 */
#define ROSTER_CACHE_BEFORE (2 * ROSTER_DAY_SEC)
#define ROSTER_CACHE_AFTER  (12 * ROSTER_DAY_SEC)

static pthread_mutex_t roster_cache_lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled when a build of the cached plan ends (is_building drops). */
static pthread_cond_t roster_cache_built = PTHREAD_COND_INITIALIZER;
static struct {
	struct shift_plan *plan; /* all active agents over [from, to) */
	int64_t from, to;
	char version[32];
	int is_building; /* a worker is expanding a fresh plan */
} roster_cache;

/*
 * Concurrent misses collapse into one build: expanding every rule is the
 * costly part of a slot query, and N workers missing at once (the roster
 * just changed, a new day began) would each do it, starving the pool. The
 * first becomes the builder; the others wait for it (up to
 * ROSTER_BUILD_WAIT_SEC, then build for themselves) and take its plan if
 * it fits their version and window. Waiting blocks no database lock: the
 * builder's reads are plain consistent reads.
 */
#define ROSTER_BUILD_WAIT_SEC 10

/* With roster_cache_lock held: a clone of the cached plan when it serves
 * version and [from, to), else NULL. */
static struct shift_plan *
roster_cache_hit(const char *version, int64_t from, int64_t to)
{
	if (roster_cache.plan != NULL &&
	    strcmp(roster_cache.version, version) == 0 &&
	    roster_cache.from <= from && to <= roster_cache.to)
		return shift_plan_clone(roster_cache.plan);
	return NULL;
}

/* With roster_cache_lock held: wait while another worker builds; 1 when
 * this caller should build (and is now the builder). */
static int
roster_cache_wait_turn(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ROSTER_BUILD_WAIT_SEC;
	while (roster_cache.is_building)
		if (pthread_cond_timedwait(&roster_cache_built,
					   &roster_cache_lock, &deadline) != 0)
			return 0; /* the builder is stuck: build alone */
	roster_cache.is_building = 1;
	return 1;
}

int
roster_bump(struct store_tx *tx, struct cbd_err *err)
{
	return store_exec(tx, err,
			  "INSERT INTO settings (name, value) VALUES "
			  "('roster_version', '1') ON DUPLICATE KEY UPDATE "
			  "value = CAST(value AS UNSIGNED) + 1",
			  "") < 0
		       ? -1
		       : 0;
}

void
roster_cache_clear(void)
{
	pthread_mutex_lock(&roster_cache_lock);
	shift_plan_free(roster_cache.plan);
	memset(&roster_cache, 0, sizeof(roster_cache));
	pthread_mutex_unlock(&roster_cache_lock);
}

static int roster_load_plan_db(struct store_tx *tx, int64_t agent_id,
			       int64_t from, int64_t to,
			       struct shift_plan **out, struct cbd_err *err);

int
roster_load_plan(struct store_tx *tx, int64_t agent_id, int64_t from,
		 int64_t to, struct shift_plan **out, struct cbd_err *err)
{
	struct store_rows *v;
	struct shift_plan *fresh = NULL;
	char version[32];
	int64_t day, cfrom, cto;
	int is_builder = 0, rc;

	if (agent_id > 0 || to - from > ROSTER_CACHE_AFTER)
		return roster_load_plan_db(tx, agent_id, from, to, out, err);
	v = store_query(tx, err,
			"SELECT value FROM settings WHERE name = "
			"'roster_version'",
			"");
	if (v == NULL)
		return -1;
	snprintf(version, sizeof(version), "%s",
		 store_rows_count(v) ? store_rows_str(v, 0, 0) : "0");
	store_rows_free(v);
	day = from -
	      ((from % ROSTER_DAY_SEC) + ROSTER_DAY_SEC) % ROSTER_DAY_SEC;
	cfrom = day - ROSTER_CACHE_BEFORE;
	cto = day + ROSTER_CACHE_AFTER;
	pthread_mutex_lock(&roster_cache_lock);
	*out = roster_cache_hit(version, from, to);
	if (*out == NULL && to > cto) {
		pthread_mutex_unlock(&roster_cache_lock);
		return roster_load_plan_db(tx, agent_id, from, to, out, err);
	}
	if (*out == NULL) {
		is_builder = roster_cache_wait_turn();
		/* The build we waited for may be the one we need. */
		*out = roster_cache_hit(version, from, to);
		if (*out != NULL && is_builder) {
			roster_cache.is_building = 0;
			pthread_cond_broadcast(&roster_cache_built);
		}
	}
	pthread_mutex_unlock(&roster_cache_lock);
	if (*out != NULL)
		return 0;
	/* Miss: build a plan wide enough for the coming days' queries. */
	rc = roster_load_plan_db(tx, 0, cfrom, cto, &fresh, err);
	if (rc == 0)
		*out = shift_plan_clone(fresh);
	pthread_mutex_lock(&roster_cache_lock);
	if (rc == 0) {
		shift_plan_free(roster_cache.plan);
		roster_cache.plan = fresh;
		roster_cache.from = cfrom;
		roster_cache.to = cto;
		snprintf(roster_cache.version, sizeof(roster_cache.version),
			 "%s", version);
	}
	if (is_builder) {
		roster_cache.is_building = 0;
		pthread_cond_broadcast(&roster_cache_built);
	}
	pthread_mutex_unlock(&roster_cache_lock);
	return rc;
}

static int
roster_load_plan_db(struct store_tx *tx, int64_t agent_id, int64_t from,
		    int64_t to, struct shift_plan **out, struct cbd_err *err)
{
	struct shift_plan *p = NULL;
	struct store_rows *rows = NULL;
	char hi[24], lo[24];
	size_t i, n;
	int rc = -1;

	*out = NULL;
	roster_wall_str(to + 15 * 3600, hi, sizeof(hi));
	roster_wall_str(from - 2 * ROSTER_DAY_SEC, lo, sizeof(lo));
	if (agent_id > 0)
		rows = store_query(tx, err,
				   "SELECT " ROSTER_SHIFT_COLS
				   " FROM shifts WHERE agent_id = ? AND "
				   "start_local < ? AND (rrule <> '' OR "
				   "start_local >= ?)",
				   "iss", agent_id, hi, lo);
	else
		rows = store_query(
			tx, err,
			"SELECT s.id, s.agent_id, s.tz, s.start_local, "
			"s.duration_sec, s.rrule, s.exdates, s.source, "
			"s.import_uid FROM shifts s JOIN agents a ON "
			"a.id = s.agent_id WHERE a.is_active = 1 AND "
			"s.start_local < ? AND (s.rrule <> '' OR "
			"s.start_local >= ?)",
			"ss", hi, lo);
	if (rows == NULL)
		goto out;
	p = shift_plan_new(from, to);
	n = store_rows_count(rows);
	for (i = 0; i < n; i++) {
		struct shift_rule rule;
		struct cbd_err e;

		memset(&e, 0, sizeof(e));
		roster_rule_from_row(rows, i, &rule);
		if (shift_plan_add_rule(p, &rule, &e) != 0) {
			log_warn("shift rule skipped",
				 "id=%" PRId64 " agent=%" PRId64
				 " field=%s reason=\"%s\"",
				 rule.id, rule.agent_id, e.field, e.detail);
			cbd_err_clear(&e);
		}
	}
	store_rows_free(rows);
	if (agent_id > 0)
		rows = store_query(tx, err,
				   "SELECT agent_id, from_at, to_at FROM "
				   "time_off WHERE agent_id = ? AND from_at < "
				   "? AND to_at > ?",
				   "iii", agent_id, to, from);
	else
		rows = store_query(
			tx, err,
			"SELECT t.agent_id, t.from_at, t.to_at FROM time_off "
			"t JOIN agents a ON a.id = t.agent_id WHERE "
			"a.is_active = 1 AND t.from_at < ? AND t.from_at >= ? "
			"AND t.to_at > ?",
			"iii", to, from - (int64_t)ROSTER_MAX_OFF_SEC, from);
	if (rows == NULL)
		goto out;
	n = store_rows_count(rows);
	for (i = 0; i < n; i++) {
		struct shift_off o;

		o.agent_id = store_rows_int(rows, i, 0, 0);
		o.from = store_rows_int(rows, i, 1, 0);
		o.to = store_rows_int(rows, i, 2, 0);
		shift_plan_add_off(p, &o);
	}
	shift_plan_finish(p);
	*out = p;
	p = NULL;
	rc = 0;
out:
	store_rows_free(rows);
	shift_plan_free(p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Time off */

static int
roster_time_off_get(struct store_tx *tx, int64_t id, json_t **out,
		    struct cbd_err *err)
{
	struct store_rows *r = store_query_one(tx, err, "time off",
					       "SELECT " ROSTER_OFF_COLS
					       " FROM time_off WHERE id = ?",
					       "i", id);

	if (r == NULL)
		return -1;
	*out = roster_off_row_json(r, 0);
	store_rows_free(r);
	return 0;
}

int
roster_time_off_add(struct store_tx *tx, int64_t agent_id, int64_t from,
		    int64_t to, const char *reason, json_t **out,
		    struct cbd_err *err)
{
	int64_t id;

	if (roster_bump(tx, err) != 0)
		return -1;

	if (to <= from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	if (to - from > ROSTER_MAX_OFF_SEC) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "time off may last at most %d days",
			    ROSTER_MAX_OFF_SEC / ROSTER_DAY_SEC);
		return -1;
	}
	if (roster_lock_agent(tx, agent_id, NULL, 0, err) != 0)
		return -1;
	if (store_exec(tx, err,
		       "INSERT INTO time_off (agent_id, from_at, to_at, "
		       "reason, created_at) VALUES (?, ?, ?, ?, ?)",
		       "iiisi", agent_id, from, to, reason ? reason : "",
		       clock_now()) < 0)
		return -1;
	id = store_last_id(tx);
	log_info("time off added",
		 "id=%" PRId64 " agent=%" PRId64 " from=%" PRId64
		 " to=%" PRId64,
		 id, agent_id, from, to);
	return roster_time_off_get(tx, id, out, err);
}

int
roster_time_off_list(struct store_tx *tx, int64_t agent_id, int64_t since,
		     int64_t after_id, int64_t limit, json_t **items,
		     int64_t *last_id, struct cbd_err *err)
{
	struct store_rows *r;
	size_t i, n;

	if (roster_require_agent(tx, agent_id, err) != 0)
		return -1;
	r = store_query(tx, err,
			"SELECT " ROSTER_OFF_COLS
			" FROM time_off WHERE agent_id = ? AND to_at > ? AND "
			"id > ? ORDER BY id LIMIT ?",
			"iiii", agent_id, since, after_id, limit);
	if (r == NULL)
		return -1;
	*items = json_array();
	n = store_rows_count(r);
	for (i = 0; i < n; i++)
		json_array_append_new(*items, roster_off_row_json(r, i));
	*last_id = n > 0 ? store_rows_int(r, n - 1, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
roster_time_off_delete(struct store_tx *tx, int64_t agent_id,
		       int64_t time_off_id, struct cbd_err *err)
{
	int64_t n;

	if (roster_bump(tx, err) != 0)
		return -1;
	n = store_exec(tx, err,
		       "DELETE FROM time_off WHERE id = ? AND "
		       "agent_id = ?",
		       "ii", time_off_id, agent_id);

	if (n < 0)
		return -1;
	if (n == 0) {
		cbd_err_set(err, 404, "not-found", "",
			    "no such time off for this agent");
		return -1;
	}
	log_info("time off removed", "id=%" PRId64 " agent=%" PRId64,
		 time_off_id, agent_id);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Calendar import */

/* What became of one event. */
struct roster_import_row {
	int64_t agent_id; /* 0: not mapped to an agent */
	int is_imported;
	char error[200];
};

/* A sort key for grouping events: by agent text, or by agent id. */
struct roster_import_key {
	const char *agent;
	int64_t agent_id;
	size_t index; /* position in the file: ties keep file order */
};

static int
roster_cmp_key_text(const void *a, const void *b)
{
	const struct roster_import_key *x = a, *y = b;
	int c = strcmp(x->agent, y->agent);

	if (c != 0)
		return c;
	return (x->index > y->index) - (x->index < y->index);
}

static int
roster_cmp_key_id(const void *a, const void *b)
{
	const struct roster_import_key *x = a, *y = b;

	if (x->agent_id != y->agent_id)
		return x->agent_id < y->agent_id ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/*
 * The agent a calendar names: by login name, else email, else display
 * name, compared in the agents table's case-insensitive collation. *id is
 * 0 with why filled when nobody or more than one agent matches.
 */
static int
roster_map_agent(struct store_tx *tx, const char *name, int64_t *id, char *why,
		 size_t why_size, struct cbd_err *err)
{
	struct store_rows *r;
	size_t i, n, by_name = 0, by_email = 0;
	int64_t name_id = 0, email_id = 0;

	*id = 0;
	if (!valid_text(name, strlen(name))) {
		snprintf(why, why_size, "agent name is not valid UTF-8 text");
		return 0;
	}
	r = store_query(tx, err,
			"SELECT id, name = ?, COALESCE(email = ?, 0) FROM "
			"agents WHERE name = ? OR email = ? OR display_name = "
			"? ORDER BY id LIMIT 20",
			"sssss", name, name, name, name, name);
	if (r == NULL)
		return -1;
	n = store_rows_count(r);
	for (i = 0; i < n; i++) {
		if (store_rows_int(r, i, 1, 0)) {
			by_name++;
			name_id = store_rows_int(r, i, 0, 0);
		}
		if (store_rows_int(r, i, 2, 0)) {
			by_email++;
			email_id = store_rows_int(r, i, 0, 0);
		}
	}
	if (by_name == 1)
		*id = name_id;
	else if (by_email == 1)
		*id = email_id;
	else if (by_email == 0 && n == 1)
		*id = store_rows_int(r, 0, 0, 0);
	else if (n == 0)
		snprintf(why, why_size, "no agent with this name or email");
	else
		snprintf(why, why_size,
			 "%zu agents match; use the agent's name or email", n);
	store_rows_free(r);
	return 0;
}

/* Fill rows[].agent_id for every event that names an agent, looking each
 * distinct name up once. */
static int
roster_import_map(struct store_tx *tx, const struct ics_import_event *events,
		  size_t n, struct roster_import_row *rows, struct cbd_err *err)
{
	struct roster_import_key *keys = xcalloc(n > 0 ? n : 1, sizeof(*keys));
	size_t i, j, m = 0;
	int rc = -1;

	for (i = 0; i < n; i++)
		if (events[i].agent[0] != '\0') {
			keys[m].agent = events[i].agent;
			keys[m].index = i;
			m++;
		}
	qsort(keys, m, sizeof(*keys), roster_cmp_key_text);
	for (i = 0; i < m; i = j) {
		char why[200] = "";
		int64_t id;

		if (roster_map_agent(tx, keys[i].agent, &id, why, sizeof(why),
				     err) != 0)
			goto out;
		for (j = i; j < m && strcmp(keys[j].agent, keys[i].agent) == 0;
		     j++) {
			struct roster_import_row *row = &rows[keys[j].index];

			row->agent_id = id;
			if (id == 0)
				roster_copy(row->error, sizeof(row->error),
					    why);
		}
	}
	rc = 0;
out:
	free(keys);
	return rc;
}

/* How an import error names the rule an event collided with. */
static void
roster_import_other(const struct ics_import_event *events,
		    const struct roster_import_key *group,
		    const struct shift_rule *rules, size_t nkept, size_t other,
		    size_t self, char *buf, size_t size)
{
	if (other == self)
		snprintf(buf, size, "itself");
	else if (other < nkept)
		snprintf(buf, size, "stored shift %" PRId64, rules[other].id);
	else
		snprintf(buf, size, "event %d",
			 events[group[other - nkept].index].index);
}

/*
 * One agent's events (group, in file order): check them against the
 * agent's other rules and each other, then replace the agent's imported
 * rules with the accepted ones.
 */
static int
roster_import_agent(struct store_tx *tx, int64_t agent_id,
		    const struct ics_import_event *events,
		    const struct roster_import_key *group, size_t ngroup,
		    struct roster_import_row *rows, int is_dry_run, int64_t now,
		    size_t *imported, struct cbd_err *err)
{
	struct roster_checker ck;
	struct store_rows *kept = NULL;
	struct shift_rule *rules = NULL;
	size_t nkept, i, k, accepted = 0, other = 0;
	int rc = -1;

	memset(&ck, 0, sizeof(ck));
	if (roster_lock_agent(tx, agent_id, NULL, 0, err) != 0)
		goto out;
	kept = store_query(tx, err,
			   "SELECT " ROSTER_SHIFT_COLS
			   " FROM shifts WHERE agent_id = ? AND source <> "
			   "'import' ORDER BY id",
			   "i", agent_id);
	if (kept == NULL)
		goto out;
	nkept = store_rows_count(kept);
	/* Stored rules first, then candidates: the window covers all. */
	rules = xcalloc(nkept + ngroup, sizeof(*rules));
	for (k = 0; k < nkept; k++)
		roster_rule_from_row(kept, k, &rules[k]);
	for (i = 0; i < ngroup; i++) {
		rules[nkept + i] = events[group[i].index].rule;
		rules[nkept + i].agent_id = agent_id;
		rules[nkept + i].id = 0;
	}
	roster_check_window(rules, nkept + ngroup, now, &ck.from, &ck.to);
	for (k = 0; k < nkept; k++) {
		struct cbd_err e;

		memset(&e, 0, sizeof(e));
		if (roster_checker_add(&ck, &rules[k], k, 1, &other,
				       &(int64_t){ 0 }, &e) != 0)
			cbd_err_clear(&e);
	}
	for (i = 0; i < ngroup; i++) {
		struct roster_import_row *row = &rows[group[i].index];
		size_t self = nkept + i;
		struct cbd_err e;
		char who[64], when[40];
		int64_t at = 0;
		int got;

		memset(&e, 0, sizeof(e));
		if (nkept + accepted >= ROSTER_MAX_RULES) {
			snprintf(row->error, sizeof(row->error),
				 "the agent would have more than %d shift "
				 "rules",
				 ROSTER_MAX_RULES);
			continue;
		}
		got = roster_checker_add(&ck, &rules[self], self, 0, &other,
					 &at, &e);
		if (got < 0) {
			snprintf(row->error, sizeof(row->error),
				 "%.40s: %.150s", e.field, e.detail);
			cbd_err_clear(&e);
			continue;
		}
		if (got == 1) {
			roster_import_other(events, group, rules, nkept, other,
					    self, who, sizeof(who));
			timefmt_rfc3339(at, NULL, when, sizeof(when));
			snprintf(row->error, sizeof(row->error),
				 "overlaps %s at %s", who, when);
			continue;
		}
		/* Compact accepted rules behind the stored ones. */
		rules[nkept + accepted] = rules[self];
		row->is_imported = 1;
		accepted++;
	}
	if (accepted > 0 && !is_dry_run) {
		if (store_exec(tx, err,
			       "DELETE FROM shifts WHERE agent_id = ? AND "
			       "source = 'import'",
			       "i", agent_id) < 0)
			goto out;
		for (i = 0, k = 0; i < ngroup; i++) {
			const struct ics_import_event *e =
				&events[group[i].index];

			if (!rows[group[i].index].is_imported)
				continue;
			if (roster_insert_rule(tx, &rules[nkept + k], "import",
					       e->uid[0] ? e->uid : NULL, now,
					       err) != 0)
				goto out;
			k++;
		}
	}
	*imported += accepted;
	rc = 0;
out:
	free(ck.spans);
	free(rules);
	store_rows_free(kept);
	return rc;
}

int
roster_import(struct store_tx *tx, const struct ics_import_event *events,
	      size_t n, int is_dry_run, json_t **out, struct cbd_err *err)
{
	struct roster_import_row *rows = NULL;
	struct roster_import_key *keys = NULL;
	size_t i, j, m = 0, imported = 0, agents = 0;
	int64_t now = clock_now();
	json_t *list;
	int rc = -1;

	if (roster_bump(tx, err) != 0)
		return -1;

	*out = NULL;
	rows = xcalloc(n > 0 ? n : 1, sizeof(*rows));
	if (roster_import_map(tx, events, n, rows, err) != 0)
		goto out;
	keys = xcalloc(n > 0 ? n : 1, sizeof(*keys));
	for (i = 0; i < n; i++) {
		if (!events[i].is_ok) {
			roster_copy(rows[i].error, sizeof(rows[i].error),
				    events[i].error);
		} else if (rows[i].agent_id != 0) {
			keys[m].agent_id = rows[i].agent_id;
			keys[m].index = i;
			m++;
		}
	}
	/* By agent id (the lock order), file order within an agent. */
	qsort(keys, m, sizeof(*keys), roster_cmp_key_id);
	for (i = 0; i < m; i = j) {
		int64_t id = keys[i].agent_id;

		for (j = i; j < m && keys[j].agent_id == id; j++)
			;
		if (roster_import_agent(tx, id, events, keys + i, j - i, rows,
					is_dry_run, now, &imported, err) != 0)
			goto out;
		agents++;
	}
	list = json_array();
	for (i = 0; i < n; i++) {
		const struct ics_import_event *e = &events[i];
		const struct roster_import_row *row = &rows[i];

		json_array_append_new(
			list,
			json_pack(
				"{s:i, s:o, s:o, s:o, s:s, s:o}", "index",
				e->index, "uid", roster_json_text(e->uid),
				"agent", roster_json_text(e->agent), "agent_id",
				row->agent_id ? json_integer(row->agent_id)
					      : json_null(),
				"status",
				row->is_imported ? "imported" : "rejected",
				"error",
				row->is_imported
					? json_null()
					: roster_json_text(
						  row->error[0] ? row->error
								: "not "
								  "imported")));
	}
	*out = json_pack("{s:I, s:I, s:b, s:o}", "imported",
			 (json_int_t)imported, "rejected",
			 (json_int_t)(n - imported), "dry_run", is_dry_run,
			 "events", list);
	log_info("shifts imported",
		 "events=%zu imported=%zu agents=%zu dry_run=%d", n, imported,
		 agents, is_dry_run);
	rc = 0;
out:
	free(keys);
	free(rows);
	return rc;
}
