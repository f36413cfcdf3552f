/*
 * report.c: the leads' callback report (report.h).
 *
 * Two grouped queries, each one indexed range scan: the callbacks booked
 * in the range (callbacks_created_at) grouped by local day and current
 * owner, and the handoffs made in the range (handoffs_at) grouped by local
 * day and the agent the call moved away from. Local days are cut at the
 * zone's midnights, computed here (libical knows the zone; the server may
 * have no time zone tables), and passed to INTERVAL(), which tells the
 * index of the day a time falls in. The two sorted results are merged
 * into (day, agent) rows; the day and agent totals are sums of those.
 *
 * The measures, for the callbacks booked on a day (their "promise" is the
 * due time they had when first claimed, else their due time now; an ASAP
 * call's due time is its booking time):
 *   kept_on_time  first attempt started at most on_time_min after the
 *                 promise;
 *   overdue       first attempt started later than that, or none yet while
 *                 the call is still waiting (pending, scheduled) and the
 *                 promise plus grace has passed;
 *   same_owner    completed by the agent who owned it when booked;
 *   attempted     at least one outcome recorded;
 *   first_attempt_reached  completed with a single outcome (reached);
 * and for the handoffs made on a day: handoffs_with_note are those whose
 * note a person wrote (a lead's or admin's handoff) or annotated later;
 * the planner's and reschedules' generated notes count once annotated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "report.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

int
report_parse_day(const char *s, int64_t *day)
{
	int y, m, d, n = 0, ry, rm, rd;

	if (s == NULL || strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    s[4] != '-' || s[7] != '-' || y < 1970 || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	*day = timefmt_days_from_civil(y, m, d);
	timefmt_civil_from_days(*day, &ry, &rm, &rd);
	return ry == y && rm == m && rd == d ? 0 : -1; /* e.g. 02-30 */
}

void
report_format_day(int64_t day, char *buf, size_t size)
{
	int y, m, d;

	timefmt_civil_from_days(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

/* The figures of one (day, agent) cell, or of a sum of cells. */
struct report_fig {
	int64_t booked, completed, on_time, overdue, same_owner, attempted,
		first_reached, handoffs, noted;
};

static void
report_fig_add(struct report_fig *to, const struct report_fig *f)
{
	to->booked += f->booked;
	to->completed += f->completed;
	to->on_time += f->on_time;
	to->overdue += f->overdue;
	to->same_owner += f->same_owner;
	to->attempted += f->attempted;
	to->first_reached += f->first_reached;
	to->handoffs += f->handoffs;
	to->noted += f->noted;
}

static json_t *
report_rate(int64_t part, int64_t whole)
{
	return whole > 0 ? json_real((double)part / (double)whole)
			 : json_null();
}

/* The measures of f as members of obj (returned). */
static json_t *
report_fig_json(json_t *obj, const struct report_fig *f)
{
	json_t *m = json_pack(
		"{s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:I, s:I, s:o, s:I, s:I, "
		"s:o}",
		"booked", (json_int_t)f->booked, "completed",
		(json_int_t)f->completed, "kept_on_time",
		(json_int_t)f->on_time, "overdue", (json_int_t)f->overdue,
		"on_time_rate",
		report_rate(f->on_time, f->on_time + f->overdue), "same_owner",
		(json_int_t)f->same_owner, "same_owner_rate",
		report_rate(f->same_owner, f->completed), "attempted",
		(json_int_t)f->attempted, "first_attempt_reached",
		(json_int_t)f->first_reached, "first_attempt_reach_rate",
		report_rate(f->first_reached, f->attempted), "handoffs",
		(json_int_t)f->handoffs, "handoffs_with_note",
		(json_int_t)f->noted, "handoffs_with_note_rate",
		report_rate(f->noted, f->handoffs));

	json_object_update(obj, m);
	json_decref(m);
	return obj;
}

/* "INTERVAL(col, s0, s1, ...)": 1 for a time on day 0, 2 on day 1... */
static char *
report_day_expr(const char *col, const int64_t *starts, int ndays)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	fprintf(f, "INTERVAL(%s", col);
	for (int i = 0; i < ndays; i++)
		fprintf(f, ", %lld", (long long)starts[i]);
	fputc(')', f);
	fclose(f);
	return buf;
}

/* Columns of both queries: day index (1-based), agent id, names. */
enum { RC_DAY, RC_AGENT, RC_DISPLAY, RC_NAME, RC_FIRST };

static struct store_rows *
report_query_callbacks(struct store_tx *tx, const struct report_query *q,
		       const int64_t *starts, struct cbd_err *err)
{
	char *day = report_day_expr("c.created_at", starts, q->ndays);
	int64_t grace = (int64_t)q->on_time_min * 60, now = clock_now();
	/* The owner when booked is in the booking's timeline event. */
	char *sql = xasprintf(
		"SELECT %s AS d, c.owner_id, MAX(a.display_name), MAX(a.name), "
		"COUNT(*), SUM(c.state = 'completed'), "
		"SUM(c.first_attempt_at IS NOT NULL AND c.first_attempt_at <= "
		"COALESCE(c.first_due_at, c.due_at) + ?), "
		"SUM((c.first_attempt_at IS NOT NULL AND c.first_attempt_at > "
		"COALESCE(c.first_due_at, c.due_at) + ?) OR (c.first_attempt_at"
		" IS NULL AND c.state IN ('pending', 'scheduled') AND c.due_at "
		"+ ? < ?)), "
		"SUM(c.state = 'completed' AND c.owner_id = COALESCE((SELECT "
		"CAST(JSON_VALUE(e.body, '$.owner_id') AS UNSIGNED) FROM events"
		" e WHERE e.callback_id = c.id AND e.kind = 'booked' LIMIT 1), "
		"c.owner_id)), "
		"SUM(c.attempts >= 1), "
		"SUM(c.state = 'completed' AND c.attempts = 1) "
		"FROM callbacks c JOIN agents a ON a.id = c.owner_id "
		"WHERE c.created_at >= ? AND c.created_at < ? AND (? = '' OR "
		"a.team = ?) GROUP BY d, c.owner_id ORDER BY d, c.owner_id",
		day);
	struct store_rows *r = store_query_built(
		tx, err, sql, "iiiiiiss", grace, grace, grace, now, starts[0],
		starts[q->ndays], q->team, q->team);

	free(day);
	free(sql);
	return r;
}

static struct store_rows *
report_query_handoffs(struct store_tx *tx, const struct report_query *q,
		      const int64_t *starts, struct cbd_err *err)
{
	char *day = report_day_expr("h.at", starts, q->ndays);
	char *sql = xasprintf(
		"SELECT %s AS d, h.from_agent, MAX(a.display_name), "
		"MAX(a.name), COUNT(*), SUM(h.kind = 'lead' OR h.annotation IS "
		"NOT NULL) FROM handoffs h JOIN agents a ON a.id = "
		"h.from_agent "
		"WHERE h.at >= ? AND h.at < ? AND (? = '' OR a.team = ?) "
		"GROUP BY d, h.from_agent ORDER BY d, h.from_agent",
		day);
	struct store_rows *r =
		store_query_built(tx, err, sql, "iiss", starts[0],
				  starts[q->ndays], q->team, q->team);

	free(day);
	free(sql);
	return r;
}

/* The agents seen, with their totals, in order of first appearance. */
struct report_agents {
	int64_t *ids;
	json_t **agent; /* {"id", "name", "display_name"} */
	struct report_fig *fig;
	size_t n;
};

static size_t
report_agent_slot(struct report_agents *ag, const struct store_rows *r,
		  size_t i)
{
	int64_t id = store_rows_int(r, i, RC_AGENT, 0);
	size_t k;

	for (k = 0; k < ag->n; k++)
		if (ag->ids[k] == id)
			return k;
	ag->ids = xrealloc(ag->ids, (k + 1) * sizeof(*ag->ids));
	ag->agent = xrealloc(ag->agent, (k + 1) * sizeof(*ag->agent));
	ag->fig = xrealloc(ag->fig, (k + 1) * sizeof(*ag->fig));
	ag->ids[k] = id;
	ag->agent[k] =
		json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "name",
			  store_rows_str(r, i, RC_NAME), "display_name",
			  store_rows_str(r, i, RC_DISPLAY));
	memset(&ag->fig[k], 0, sizeof(ag->fig[k]));
	ag->n = k + 1;
	return k;
}

static int
report_key_cmp(const struct store_rows *a, size_t i, const struct store_rows *b,
	       size_t j)
{
	int64_t da = store_rows_int(a, i, RC_DAY, 0);
	int64_t db = store_rows_int(b, j, RC_DAY, 0);
	int64_t xa = store_rows_int(a, i, RC_AGENT, 0);
	int64_t xb = store_rows_int(b, j, RC_AGENT, 0);

	if (da != db)
		return da < db ? -1 : 1;
	return xa < xb ? -1 : xa > xb;
}

/*
 * Merge the two sorted results into rows, adding each cell to its day's
 * and its agent's totals and to the grand total.
 */
static json_t *
report_merge(const struct store_rows *cr, const struct store_rows *hr,
	     const struct report_query *q, struct report_fig *days,
	     struct report_agents *ag, struct report_fig *total)
{
	size_t i = 0, j = 0, nc = store_rows_count(cr),
	       nh = store_rows_count(hr);
	json_t *rows = json_array();

	while (i < nc || j < nh) {
		int c = i >= nc   ? 1
			: j >= nh ? -1
				  : report_key_cmp(cr, i, hr, j);
		const struct store_rows *src = c <= 0 ? cr : hr;
		size_t at = c <= 0 ? i : j;
		int64_t d = store_rows_int(src, at, RC_DAY, 0) - 1;
		struct report_fig f = { 0 };
		char dayname[16];
		size_t k;

		if (c <= 0) {
			f.booked = store_rows_int(cr, i, RC_FIRST, 0);
			f.completed = store_rows_int(cr, i, RC_FIRST + 1, 0);
			f.on_time = store_rows_int(cr, i, RC_FIRST + 2, 0);
			f.overdue = store_rows_int(cr, i, RC_FIRST + 3, 0);
			f.same_owner = store_rows_int(cr, i, RC_FIRST + 4, 0);
			f.attempted = store_rows_int(cr, i, RC_FIRST + 5, 0);
			f.first_reached =
				store_rows_int(cr, i, RC_FIRST + 6, 0);
			i++;
		}
		if (c >= 0) {
			f.handoffs = store_rows_int(hr, j, RC_FIRST, 0);
			f.noted = store_rows_int(hr, j, RC_FIRST + 1, 0);
			j++;
		}
		if (d < 0 || d >= q->ndays)
			continue; /* cannot happen: the WHERE bounds the range
				   */
		k = report_agent_slot(ag, src, at);
		report_fig_add(&days[d], &f);
		report_fig_add(&ag->fig[k], &f);
		report_fig_add(total, &f);
		report_format_day(q->from_day + d, dayname, sizeof(dayname));
		json_array_append_new(
			rows,
			report_fig_json(json_pack("{s:s, s:O}", "day", dayname,
						  "agent", ag->agent[k]),
					&f));
	}
	return rows;
}

/* The zone's midnights starting each day of q, and the one after. */
static int
report_day_starts(const struct report_query *q, int64_t *starts,
		  struct cbd_err *err)
{
	for (int i = 0; i <= q->ndays; i++) {
		int y, m, d;

		timefmt_civil_from_days(q->from_day + i, &y, &m, &d);
		starts[i] = timefmt_from_local(q->tz, y, m, d, 0, 0, 0);
		if (starts[i] < 0 || (i > 0 && starts[i] <= starts[i - 1])) {
			cbd_err_set(err, 400, "invalid-timezone", "tz",
				    "cannot find the days of %s in that zone",
				    q->tz);
			return -1;
		}
	}
	return 0;
}

static json_t *
report_wrap(const struct report_query *q, json_t *rows,
	    const struct report_fig *days, const struct report_agents *ag,
	    const struct report_fig *total)
{
	json_t *jd = json_array(), *ja = json_array(), *out;
	char from[16], to[16];

	for (int i = 0; i < q->ndays; i++) {
		char dayname[16];

		report_format_day(q->from_day + i, dayname, sizeof(dayname));
		json_array_append_new(
			jd, report_fig_json(json_pack("{s:s}", "day", dayname),
					    &days[i]));
	}
	for (size_t k = 0; k < ag->n; k++)
		json_array_append_new(
			ja, report_fig_json(
				    json_pack("{s:O}", "agent", ag->agent[k]),
				    &ag->fig[k]));
	report_format_day(q->from_day, from, sizeof(from));
	report_format_day(q->from_day + q->ndays - 1, to, sizeof(to));
	out = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}",
			"from", from, "to", to, "tz", q->tz, "on_time_minutes",
			q->on_time_min, "team",
			q->team[0] ? json_string(q->team) : json_null(),
			"generated_at", api_time(clock_now(), NULL), "total",
			report_fig_json(json_object(), total), "days", jd,
			"agents", ja, "rows", rows);
	return out;
}

int
report_build(struct store_tx *tx, const struct report_query *q, json_t **out,
	     struct cbd_err *err)
{
	int64_t starts[REPORT_MAX_DAYS + 1];
	struct report_fig days[REPORT_MAX_DAYS], total = { 0 };
	struct report_agents ag = { 0 };
	struct store_rows *cr = NULL, *hr = NULL;
	json_t *rows;

	if (q->ndays < 1 || q->ndays > REPORT_MAX_DAYS ||
	    report_day_starts(q, starts, err) != 0)
		return -1;
	cr = report_query_callbacks(tx, q, starts, err);
	if (cr == NULL)
		return -1;
	hr = report_query_handoffs(tx, q, starts, err);
	if (hr == NULL) {
		store_rows_free(cr);
		return -1;
	}
	memset(days, 0, sizeof(days));
	rows = report_merge(cr, hr, q, days, &ag, &total);
	*out = report_wrap(q, rows, days, &ag, &total);
	for (size_t k = 0; k < ag.n; k++)
		json_decref(ag.agent[k]);
	free(ag.ids);
	free(ag.agent);
	free(ag.fig);
	store_rows_free(cr);
	store_rows_free(hr);
	return 0;
}

/*
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line
 * break, quotes doubled. Text a spreadsheet would run as a formula (a
 * leading = + - @) is prefixed with an apostrophe.
 */
static void
report_csv_text(FILE *f, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', f);
	if (strchr("=+-@", s[0]) != NULL && s[0] != '\0')
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	if (quote)
		fputc('"', f);
}

static const char *const report_csv_cols[] = {
	"booked",
	"completed",
	"kept_on_time",
	"overdue",
	"on_time_rate",
	"same_owner",
	"same_owner_rate",
	"attempted",
	"first_attempt_reached",
	"first_attempt_reach_rate",
	"handoffs",
	"handoffs_with_note",
	"handoffs_with_note_rate",
	NULL,
};

char *
report_csv(const json_t *report)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	json_t *row;

	if (f == NULL)
		abort();
	fputs("day,agent_id,agent_name,agent_display_name", f);
	for (const char *const *c = report_csv_cols; *c; c++)
		fprintf(f, ",%s", *c);
	fputs("\r\n", f);
	json_array_foreach(json_object_get(report, "rows"), i, row)
	{
		json_t *a = json_object_get(row, "agent");

		fprintf(f, "%s,%lld,",
			json_string_value(json_object_get(row, "day")),
			(long long)json_integer_value(
				json_object_get(a, "id")));
		report_csv_text(f,
				json_string_value(json_object_get(a, "name")));
		fputc(',', f);
		report_csv_text(f, json_string_value(
					   json_object_get(a, "display_name")));
		for (const char *const *c = report_csv_cols; *c; c++) {
			json_t *v = json_object_get(row, *c);

			if (json_is_integer(v))
				fprintf(f, ",%lld",
					(long long)json_integer_value(v));
			else if (json_is_real(v))
				fprintf(f, ",%.4f", json_real_value(v));
			else
				fputc(',', f);
		}
		fputs("\r\n", f);
	}
	fclose(f);
	return buf;
}
