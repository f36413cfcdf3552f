/*
 * slots.c: availability arithmetic.
 *
 * A slot is [t, t + slot_minutes) with t aligned to the slot length in UTC
 * (every zone's offset is a multiple of 15 minutes, so slots line up with
 * local clocks for lengths that divide 15 or are multiples of it).
 * available(t) = sum over agents on duty for the whole slot of
 *   max(0, min(capacity, max_per_agent_per_slot) - open callbacks they own
 *   due in the slot),
 * and 0 outside opening hours, on closures, before the minimum notice and
 * past the booking horizon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "api.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "roster.h"
#include "routing_queue.h"
#include "shift.h"
#include "slots.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

int
slots_check_config(const struct config *cfg, struct cbd_err *err)
{
	/* opening_hours and closures were typed when the file was read
	 * (config.c); the zone needs libical, which config does not use. */
	if (timefmt_zone(cfg->site_timezone) == NULL) {
		cbd_err_set(err, 400, "invalid-config", "site_timezone",
			    "site_timezone must be an IANA zone name");
		return -1;
	}
	if (1440 % cfg->slot_minutes != 0) {
		cbd_err_set(err, 400, "invalid-config", "slot_minutes",
			    "slot_minutes must divide a day");
		return -1;
	}
	return 0;
}

int64_t
slots_align(const struct config *cfg, int64_t t)
{
	int64_t len = (int64_t)cfg->slot_minutes * 60;

	return t - ((t % len) + len) % len;
}

int
slots_is_open(const struct config *cfg, int64_t t, int64_t len)
{
	int y, mo, d, hh, mi, wd;

	timefmt_local(t, cfg->site_timezone, &y, &mo, &d, &hh, &mi, &wd);
	if (config_is_closed_day(cfg, y * 10000 + mo * 100 + d))
		return 0;
	return config_week_open(&cfg->opening, wd, hh * 60 + mi,
				(int)((len + 59) / 60));
}

int64_t
slots_next_open(const struct config *cfg, int64_t t, int64_t limit)
{
	/* Every zone's offset is a multiple of 15 minutes, and so are
	 * opening times in practice: a quarter-hour walk finds the opening
	 * minute without knowing the zone's rules. */
	int64_t s = t - ((t % 900) + 900) % 900;

	for (; s <= limit; s += 900)
		if (s >= t && slots_is_open(cfg, s, 0))
			return s;
	return 0;
}

struct slots_agent {
	int64_t id;
	int cap;        /* per-slot room: min(capacity, max per slot) */
	int open_count; /* load, for picking */
	int is_rostered;
	int level;      /* sum of levels in the queue's skills (best match) */
	int has_worked; /* worked the call's case (slots_view_mark_worked) */
};

struct slots_view {
	const struct config *cfg;
	const struct routing_queue *rq; /* NULL: the default queue */
	int64_t from, to, len, now;
	struct slots_agent *agents; /* ascending id */
	size_t nagents;
	struct shift_plan *plan;
	int *booked; /* [slot index * nagents + agent index] */
	size_t nslots;
	/* [slot index * nagents + agent index]: on duty for the whole slot.
	 * Worked out once from the spans, so listing a week of slots costs
	 * one pass over the spans instead of a search per slot and agent. */
	unsigned char *on;
};

static size_t
slots_agent_index(const struct slots_view *v, int64_t id)
{
	size_t lo = 0, hi = v->nagents;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->agents[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nagents && v->agents[lo].id == id ? lo : (size_t)-1;
}

/* Mark the slots of [t0, t1) that lie wholly inside agent i's stretch. */
static void
slots_mark_stretch(struct slots_view *v, size_t i, int64_t t0, int64_t t1)
{
	int64_t first = (t0 - v->from + v->len - 1) / v->len;

	if (first < 0)
		first = 0;
	for (int64_t k = first; k < (int64_t)v->nslots; k++) {
		int64_t s = v->from + k * v->len;
		if (s + v->len > t1)
			break;
		v->on[(size_t)k * v->nagents + i] = 1;
	}
}

static void
slots_mark_on_duty(struct slots_view *v)
{
	size_t nspans = 0;
	const struct shift_span *sp = shift_plan_spans(v->plan, &nspans);
	int64_t *cs = xcalloc(v->nagents + 1, sizeof(int64_t));
	int64_t *ce = xcalloc(v->nagents + 1, sizeof(int64_t));

	v->on = xcalloc(v->nslots * (v->nagents ? v->nagents : 1) + 1, 1);
	for (size_t i = 0; i < v->nagents; i++)
		if (!v->agents[i].is_rostered)
			slots_mark_stretch(v, i, INT64_MIN / 2, INT64_MAX / 2);
	/* Spans come sorted by start: join each agent's touching spans
	 * into stretches, so a slot across a shift change still counts. */
	for (size_t k = 0; k < nspans; k++) {
		size_t i = slots_agent_index(v, sp[k].agent_id);
		if (i == (size_t)-1 || !v->agents[i].is_rostered)
			continue;
		if (ce[i] != 0 && sp[k].start <= ce[i]) {
			if (sp[k].end > ce[i])
				ce[i] = sp[k].end;
			continue;
		}
		if (ce[i] != 0)
			slots_mark_stretch(v, i, cs[i], ce[i]);
		cs[i] = sp[k].start;
		ce[i] = sp[k].end;
	}
	for (size_t i = 0; i < v->nagents; i++)
		if (ce[i] != 0)
			slots_mark_stretch(v, i, cs[i], ce[i]);
	free(cs);
	free(ce);
}

int
slots_view_load(struct store_tx *tx, const struct config *cfg,
		const struct routing_queue *rq, int64_t from, int64_t to,
		int64_t exclude_id, struct slots_view **out,
		struct cbd_err *err)
{
	struct slots_view *v = xcalloc(1, sizeof(*v));
	struct store_rows *a = NULL, *b = NULL;
	int rc = -1;

	v->cfg = cfg;
	v->rq = rq;
	v->len = (int64_t)cfg->slot_minutes * 60;
	v->from = slots_align(cfg, from);
	v->to = to;
	v->now = clock_now();
	/* An instant (from == to, for ASAP) needs no slots at all. */
	v->nslots =
		to > from ? (size_t)((to - v->from + v->len - 1) / v->len) : 0;
	/* Only agents with the queue's skills can take its calls: the
	 * others are not in the view at all, so neither slots nor picks nor
	 * ETAs count them. */
	/* The default queue (no rq, id 0) has no skills: every active agent,
	 * without the per-agent skill subqueries (six key reads an agent,
	 * the most of what a booking read). */
	a = rq == NULL || rq->id == 0
		    ? store_query(tx, err,
				  "SELECT a.id, a.capacity, a.open_count, "
				  "" AGENT_ROSTERED_SQL(
					  "a") ", 0 FROM agents a WHERE "
					       "a.is_active = 1 ORDER BY a.id",
				  "")
		    : store_query(tx, err,
				  "SELECT a.id, a.capacity, a.open_count, "
				  "" AGENT_ROSTERED_SQL(
					  "a") ", (SELECT "
					       "COALESCE(SUM(k.level), 0) FROM "
					       "agent_skills k "
					       "JOIN "
					       "routing_queue_skills n ON "
					       "n.skill = k.skill "
					       "WHERE "
					       "n.queue_id = ? AND k.agent_id "
					       "= a.id) FROM "
					       "agents a "
					       "WHERE a.is_active = 1 "
					       "AND " ROUTING_SKILLED_SQL(
						       "a.id",
						       "?") " ORDER BY a.id",
				  "ii", rq ? rq->id : 0, rq ? rq->id : 0);
	if (a == NULL)
		goto out;
	v->nagents = store_rows_count(a);
	v->agents = xcalloc(v->nagents ? v->nagents : 1, sizeof(*v->agents));
	for (size_t i = 0; i < v->nagents; i++) {
		int cap = (int)store_rows_int(a, i, 1, 0);
		v->agents[i].id = store_rows_int(a, i, 0, 0);
		v->agents[i].cap = cap < cfg->max_per_agent_per_slot
					   ? cap
					   : cfg->max_per_agent_per_slot;
		v->agents[i].open_count = (int)store_rows_int(a, i, 2, 0);
		v->agents[i].is_rostered = store_rows_int(a, i, 3, 0) != 0;
		v->agents[i].level = (int)store_rows_int(a, i, 4, 0);
	}
	if (roster_load_plan(tx, 0, v->from - 86400, to + 86400, &v->plan,
			     err) != 0)
		goto out;
	v->booked = xcalloc(v->nslots * (v->nagents ? v->nagents : 1) + 1,
			    sizeof(int));
	if (v->nslots == 0) {
		/* An instant (ASAP): nothing booked to count. */
		*out = v;
		v = NULL;
		rc = 0;
		goto out;
	}
	slots_mark_on_duty(v);
	b = store_query(tx, err,
			"SELECT owner_id, due_at FROM callbacks WHERE state IN "
			"('pending','scheduled','retry_wait','in_progress') "
			"AND due_at >= ? AND due_at < ? AND id <> ?",
			"iii", v->from, v->from + (int64_t)v->nslots * v->len,
			exclude_id);
	if (b == NULL)
		goto out;
	for (size_t i = 0; i < store_rows_count(b); i++) {
		size_t ai = slots_agent_index(v, store_rows_int(b, i, 0, 0));
		size_t si = (size_t)((store_rows_int(b, i, 1, 0) - v->from) /
				     v->len);
		if (ai != (size_t)-1 && si < v->nslots)
			v->booked[si * v->nagents + ai]++;
	}
	*out = v;
	v = NULL;
	rc = 0;
out:
	store_rows_free(a);
	store_rows_free(b);
	slots_view_free(v);
	return rc;
}

int
slots_view_mark_worked(struct store_tx *tx, struct slots_view *v,
		       int64_t case_id, struct cbd_err *err)
{
	static const char *const keys[] = { "agent_id", "owner_id", "from",
					    "to" };
	struct store_rows *ev;

	if (case_id <= 0)
		return 0;
	/* The agents the case's events name, as the handoffs' world reads
	 * them (handoff_world.c). */
	ev = store_query(
		tx, err,
		"SELECT body FROM events WHERE case_id = ? AND kind IN "
		"('claimed','attempt','handoff','booked') LIMIT 1000",
		"i", case_id);
	if (ev == NULL)
		return -1;
	for (size_t i = 0; i < store_rows_count(ev); i++) {
		json_t *b = json_loads(store_rows_str(ev, i, 0), 0, NULL);
		for (size_t k = 0; b && k < CBD_ARRAY_LEN(keys); k++) {
			json_t *id = json_object_get(b, keys[k]);
			size_t ai = json_is_integer(id)
					    ? slots_agent_index(
						      v, json_integer_value(id))
					    : (size_t)-1;
			if (ai != (size_t)-1)
				v->agents[ai].has_worked = 1;
		}
		json_decref(b);
	}
	store_rows_free(ev);
	return 0;
}

void
slots_view_free(struct slots_view *v)
{
	if (v == NULL)
		return;
	free(v->on);
	shift_plan_free(v->plan);
	free(v->agents);
	free(v->booked);
	free(v);
}

static int
slots_agent_on(const struct slots_view *v, const struct slots_agent *a,
	       int64_t t, int64_t len)
{
	int64_t end;

	if (!a->is_rostered)
		return 1;
	if (!shift_plan_on_duty(v->plan, a->id, t))
		return 0;
	end = shift_plan_shift_end(v->plan, a->id, t);
	return end >= t + len;
}

int
slots_view_on_duty(const struct slots_view *v, int64_t agent_id, int64_t t,
		   int64_t len)
{
	size_t i = slots_agent_index(v, agent_id);

	return i != (size_t)-1 && slots_agent_on(v, &v->agents[i], t, len);
}

size_t
slots_view_agents(const struct slots_view *v)
{
	return v->nagents;
}

size_t
slots_view_on_duty_count(const struct slots_view *v, int64_t t)
{
	size_t n = 0;

	for (size_t i = 0; i < v->nagents; i++)
		if (slots_agent_on(v, &v->agents[i], t, 0))
			n++;
	return n;
}

/* Room agent i has in the slot at t; 0 when off duty. */
static int
slots_room(const struct slots_view *v, size_t i, int64_t t)
{
	size_t si = (size_t)((t - v->from) / v->len);
	int room;

	if (t < v->from || si >= v->nslots || !v->on[si * v->nagents + i])
		return 0;
	room = v->agents[i].cap - v->booked[si * v->nagents + i];
	return room > 0 ? room : 0;
}

/* Bookable at all: open, enough notice, inside the horizon. */
static int
slots_bookable(const struct slots_view *v, int64_t t)
{
	const struct config *cfg = v->cfg;

	return t >= v->now + (int64_t)cfg->min_notice_min * 60 &&
	       t <= v->now + (int64_t)cfg->booking_horizon_days * 86400 &&
	       routing_is_open(cfg, v->rq, t, v->len);
}

int
slots_view_available(const struct slots_view *v, int64_t t)
{
	int sum = 0;

	if (!slots_bookable(v, t))
		return 0;
	for (size_t i = 0; i < v->nagents; i++)
		sum += slots_room(v, i, t);
	return sum;
}

int
slots_view_has_room(const struct slots_view *v, int64_t agent_id, int64_t t)
{
	size_t i = slots_agent_index(v, agent_id);

	return i != (size_t)-1 && slots_room(v, i, t) > 0;
}

size_t
slots_view_staffed(const struct slots_view *v, int64_t t)
{
	size_t si = (size_t)((t - v->from) / v->len), n = 0;

	if (t < v->from || si >= v->nslots)
		return 0;
	for (size_t i = 0; i < v->nagents; i++)
		n += v->on[si * v->nagents + i] != 0;
	return n;
}

/*
 * Who may take a call at t: 2 with room in the slot (is_slot) or on duty
 * at the instant, and staying for at least the handle time after the slot
 * (or the instant); 1 on duty but leaving sooner; 0 not at all. Sets
 * [*start, *end) to that agent's stretch on duty around t (the day around
 * t for agents without rules, always on).
 */
static int
slots_can_take(const struct slots_view *v, size_t i, int64_t t, int is_slot,
	       int64_t *start, int64_t *end)
{
	const struct slots_agent *a = &v->agents[i];
	int64_t need = (is_slot ? v->len : 0) + v->cfg->avg_handle_sec;

	if (is_slot ? slots_room(v, i, t) == 0 : !slots_agent_on(v, a, t, 0))
		return 0;
	if (a->is_rostered) {
		*start = shift_plan_shift_start(v->plan, a->id, t);
		*end = shift_plan_shift_end(v->plan, a->id, t);
	} else {
		*start = t - 43200;
		*end = t + 43200;
	}
	return *end - t >= need ? 2 : 1;
}

/*
 * Open calls each candidate has due in [from[i], end[i]), in one query
 * over the candidates' own ranges (callbacks_queue). work[i] stays 0 for
 * the others.
 *
 * With outside set, the query counts the calls outside the range instead
 * and work[i] is the agent's open_count (read in this transaction, kept
 * with every change of an open call) less those. For an ASAP booking the
 * range is the queue waiting now up to the end of the stretch on duty,
 * which holds most of an agent's open calls: counting it read every one
 * of them on every booking, while the calls outside it (overdue by more
 * than a day, or due after this stretch) are few.
 */
static int
slots_count_work(struct store_tx *tx, const struct slots_view *v,
		 const int64_t *from, const int64_t *end,
		 const unsigned char *ok, int outside, int *work,
		 struct cbd_err *err)
{
	struct store_rows *r;
	char *sql = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&sql, &len);

	/* Every value is an integer of ours: no client text in the SQL. */
	fprintf(f, "SELECT owner_id, COUNT(*) FROM callbacks WHERE state IN "
		   "('pending','scheduled','retry_wait','in_progress') AND (");
	for (size_t i = 0; i < v->nagents; i++)
		if (ok[i])
			fprintf(f,
				outside ? "%s(owner_id = %lld AND (due_at < "
					  "%lld OR due_at >= %lld))"
					: "%s(owner_id = %lld AND due_at >= "
					  "%lld AND due_at < %lld)",
				n++ ? " OR " : "", (long long)v->agents[i].id,
				(long long)from[i], (long long)end[i]);
	fprintf(f, ") GROUP BY owner_id");
	fclose(f);
	r = n > 0 ? store_query_built(tx, err, sql, "") : NULL;
	free(sql);
	if (n > 0 && r == NULL)
		return -1;
	if (outside)
		for (size_t i = 0; i < v->nagents; i++)
			if (ok[i])
				work[i] = v->agents[i].open_count;
	for (size_t k = 0; r != NULL && k < store_rows_count(r); k++) {
		size_t i = slots_agent_index(v, store_rows_int(r, k, 0, 0));
		int c = (int)store_rows_int(r, k, 1, 0);
		if (i == (size_t)-1)
			continue;
		work[i] = outside ? (work[i] > c ? work[i] - c : 0) : c;
	}
	store_rows_free(r);
	return 0;
}

/*
 * The owner for a call at t: prefer (the case owner) when they can take
 * it and stay long enough to make it; else, among those who stay long
 * enough (or, failing them, anyone who can take it), one who worked the
 * case, then the best match by level in the queue's skills, then the
 * agent whose shift
 * would be least busy with this call added: (open calls due in the stretch
 * on duty containing t + 1) / (its length), random among equals. For ASAP
 * the work is the queue waiting now plus the rest of the stretch, against
 * the time left. Counting all open calls whatever their date packed the
 * shifts of agents with fewer shifts ahead, and an agent near their shift
 * end looked idle; this weighs each agent's work in the shift the call
 * falls in against the time they have for it.
 */
static int
slots_pick(struct store_tx *tx, const struct slots_view *v, int64_t t,
	   int64_t prefer, int is_slot, int64_t *owner, struct cbd_err *err)
{
	size_t best = (size_t)-1, ties = 0, n = v->nagents ? v->nagents : 1;
	size_t pi = prefer > 0 ? slots_agent_index(v, prefer) : (size_t)-1;
	int64_t *start = xcalloc(n, sizeof(int64_t));
	int64_t *end = xcalloc(n, sizeof(int64_t));
	int64_t *span = xcalloc(n, sizeof(int64_t));
	unsigned char *ok = xcalloc(n, 1);
	int *work = xcalloc(n, sizeof(int));
	int rc = -1;

	*owner = 0;
	for (size_t i = 0; i < v->nagents; i++) {
		ok[i] = (unsigned char)slots_can_take(v, i, t, is_slot,
						      &start[i], &end[i]);
		if (!is_slot) {
			start[i] = t - 86400; /* the queue waiting now */
			span[i] = end[i] - t;
		} else
			span[i] = end[i] - start[i];
	}
	if (pi != (size_t)-1 && ok[pi] == 2) {
		*owner = prefer;
		rc = 0;
		goto out;
	}
	if (slots_count_work(tx, v, start, end, ok, !is_slot, work, err) != 0)
		goto out;
	for (size_t i = 0; i < v->nagents; i++) {
		int64_t mine, theirs;
		if (!ok[i] || (best != (size_t)-1 && ok[i] < ok[best]))
			continue;
		if (best == (size_t)-1 || ok[i] > ok[best]) {
			best = i;
			ties = 1;
			continue;
		}
		/* Continuity inside the skills: who worked the case, then
		 * (in a queue) the best match by skill level. */
		if (v->agents[i].has_worked != v->agents[best].has_worked) {
			if (v->agents[i].has_worked) {
				best = i;
				ties = 1;
			}
			continue;
		}
		if (v->agents[i].level != v->agents[best].level) {
			if (v->agents[i].level > v->agents[best].level) {
				best = i;
				ties = 1;
			}
			continue;
		}
		/* (work + 1) / span, compared without division. */
		mine = (int64_t)(work[i] + 1) * span[best];
		theirs = (int64_t)(work[best] + 1) * span[i];
		if (mine < theirs) {
			best = i;
			ties = 1;
		} else if (mine == theirs && (size_t)rand() % ++ties == 0) {
			best = i; /* reservoir choice among equals */
		}
	}
	/* Nobody stays long enough: the case owner still goes first. */
	if (best != (size_t)-1 && ok[best] == 1 && pi != (size_t)-1 && ok[pi])
		best = pi;
	if (best != (size_t)-1)
		*owner = v->agents[best].id;
	rc = 0;
out:
	free(start);
	free(end);
	free(span);
	free(ok);
	free(work);
	return rc;
}

int
slots_view_pick(struct store_tx *tx, const struct slots_view *v, int64_t t,
		int64_t prefer, int64_t *owner, struct cbd_err *err)
{
	/* Notice, hours and horizon were checked on the asked time by the
	 * caller; the slot's own start may be a little earlier. */
	return slots_pick(tx, v, t, prefer, 1, owner, err);
}

int
slots_view_pick_now(struct store_tx *tx, const struct slots_view *v, int64_t t,
		    int64_t prefer, int64_t *owner, struct cbd_err *err)
{
	return slots_pick(tx, v, t, prefer, 0, owner, err);
}

int
slots_next_available(struct store_tx *tx, const struct config *cfg,
		     const struct routing_queue *rq, int64_t from, int days,
		     int64_t agent_id, int64_t exclude_id, int64_t *out,
		     struct cbd_err *err)
{
	struct slots_view *v = NULL;
	int64_t t, len = (int64_t)cfg->slot_minutes * 60;
	size_t ai = (size_t)-1;

	*out = 0;
	if (slots_view_load(tx, cfg, rq, from, from + (int64_t)days * 86400,
			    exclude_id, &v, err) != 0)
		return -1;
	if (agent_id > 0) {
		ai = slots_agent_index(v, agent_id);
		if (ai == (size_t)-1) {
			slots_view_free(v); /* inactive: never */
			return 0;
		}
	}
	for (t = slots_align(cfg, from); t < v->to; t += len) {
		if (t < from)
			continue;
		if (agent_id > 0
			    ? slots_bookable(v, t) && slots_room(v, ai, t) > 0
			    : slots_view_available(v, t) > 0) {
			*out = t;
			break;
		}
	}
	slots_view_free(v);
	return 0;
}

int
slots_list(struct store_tx *tx, const struct config *cfg,
	   const struct routing_queue *rq, int64_t from, int64_t to,
	   const char *tz, int64_t owner_id, json_t **out, struct cbd_err *err)
{
	struct slots_view *v = NULL;
	int64_t t, len = (int64_t)cfg->slot_minutes * 60;
	size_t oi;
	json_t *slots;

	if (slots_view_load(tx, cfg, rq, from, to, 0, &v, err) != 0)
		return -1;
	oi = owner_id > 0 ? slots_agent_index(v, owner_id) : (size_t)-1;
	slots = json_array();
	for (t = slots_align(cfg, from); t < to; t += len) {
		json_t *s;
		if (t < from || !slots_bookable(v, t))
			continue;
		s = json_pack("{s:o, s:o, s:i}", "start", api_time(t, tz),
			      "end", api_time(t + len, tz), "available",
			      slots_view_available(v, t));
		if (owner_id > 0)
			json_object_set_new(
				s, "owner_available",
				json_boolean(oi != (size_t)-1 &&
					     slots_room(v, oi, t) > 0));
		json_array_append_new(slots, s);
	}
	/* The contract's shape: a bare list, times in the asked zone. */
	*out = slots;
	slots_view_free(v);
	return 0;
}
