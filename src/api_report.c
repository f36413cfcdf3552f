/*
 * api_report.c: GET /v1/reports/callbacks, the leads' callback report
 * (report.h) as JSON, or as CSV for ?format=csv or Accept: text/csv.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "report.h"
#include "session.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

/* What the query string asks; the defaults that need the database (the
 * caller's zone, today there) are filled in by api_report_defaults. */
struct api_report_args {
	const char *from, *to, *tz;
	int on_time_min;
	int is_csv;
};

static int
api_report_read(const struct http_req *r, struct api_report_args *a,
		struct cbd_err *err)
{
	const char *n = http_query(r, "on_time_minutes");
	const char *fmt = http_query(r, "format");
	int64_t day;
	char *end;

	a->from = http_query(r, "from");
	a->to = http_query(r, "to");
	if (a->from != NULL && report_parse_day(a->from, &day) != 0) {
		cbd_err_set(err, 400, "invalid-date", "from",
			    "from must be a date, YYYY-MM-DD");
		return -1;
	}
	if (a->to != NULL && report_parse_day(a->to, &day) != 0) {
		cbd_err_set(err, 400, "invalid-date", "to",
			    "to must be a date, YYYY-MM-DD");
		return -1;
	}
	if (api_tz_parse(r, &a->tz, err) != 0)
		return -1;
	a->on_time_min = REPORT_ON_TIME_MIN_DEFAULT;
	if (n != NULL) {
		long v = strtol(n, &end, 10);

		if (*n < '0' || *n > '9' || *end != '\0' || v > 1440) {
			cbd_err_set(err, 400, "invalid-field",
				    "on_time_minutes",
				    "on_time_minutes must be a whole number "
				    "of minutes, 0 to 1440");
			return -1;
		}
		a->on_time_min = (int)v;
	}
	if (fmt != NULL && strcmp(fmt, "csv") != 0 &&
	    strcmp(fmt, "json") != 0) {
		cbd_err_set(err, 400, "invalid-field", "format",
			    "format must be csv or json");
		return -1;
	}
	a->is_csv = fmt != NULL ? !strcmp(fmt, "csv") : r->accepts_csv;
	return 0;
}

static int
api_report_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_report_args a;

	return api_report_read(r, &a, err);
}

/* The caller's zone: their agent's (a lead key may belong to an agent),
 * else the site's. */
static int
api_report_zone(struct store_tx *tx, const struct http_req *r, char *tz,
		size_t size, struct cbd_err *err)
{
	struct store_rows *rows = store_query(
		tx, err,
		"SELECT a.timezone FROM agents a WHERE a.id = ? OR a.id = "
		"(SELECT k.agent_id FROM api_keys k WHERE k.id = ?) LIMIT 1",
		"ii", r->agent_id, r->key_id);

	if (rows == NULL)
		return -1;
	snprintf(tz, size, "%s",
		 store_rows_count(rows) > 0 && store_rows_str(rows, 0, 0)
			 ? store_rows_str(rows, 0, 0)
		 : r->cfg->site_timezone ? r->cfg->site_timezone
					 : "UTC");
	store_rows_free(rows);
	return 0;
}

/* Range and zone, defaults filled: a week ending today (in the zone) when
 * neither date is given; seven days from "from" when only it is. */
static int
api_report_query(struct store_tx *tx, const struct http_req *r,
		 const struct api_report_args *a, struct report_query *q,
		 struct cbd_err *err)
{
	int64_t from, to;

	memset(q, 0, sizeof(*q));
	q->on_time_min = a->on_time_min;
	if (a->tz != NULL)
		snprintf(q->tz, sizeof(q->tz), "%s", a->tz);
	else if (api_report_zone(tx, r, q->tz, sizeof(q->tz), err) != 0)
		return -1;
	if (a->to != NULL) {
		if (report_parse_day(a->to, &to) != 0)
			return -1; /* checked in parse */
	} else if (a->from != NULL) {
		if (report_parse_day(a->from, &to) != 0)
			return -1;
		to += 6;
	} else {
		int y, m, d, hh, mm, wd;

		timefmt_local(clock_now(), q->tz, &y, &m, &d, &hh, &mm, &wd);
		char today[16];
		snprintf(today, sizeof(today), "%04d-%02d-%02d", y, m, d);
		if (report_parse_day(today, &to) != 0)
			to = 0;
	}
	if (a->from != NULL) {
		if (report_parse_day(a->from, &from) != 0)
			return -1;
	} else {
		from = to - 6;
	}
	if (to < from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be on or after from");
		return -1;
	}
	if (to - from + 1 > REPORT_MAX_DAYS) {
		cbd_err_set(err, 400, "range-too-long", "to",
			    "ask for at most %d days at a time",
			    REPORT_MAX_DAYS);
		return -1;
	}
	q->from_day = from;
	q->ndays = (int)(to - from + 1);
	return session_lead_team(tx, r->role == HTTP_ROLE_LEAD, r->key_id,
				 r->agent_id, q->team, sizeof(q->team), err);
}

static int
api_report_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct api_report_args a;
	struct report_query q;
	json_t *out;

	if (api_report_read(r, &a, err) != 0 ||
	    api_report_query(tx, r, &a, &q, err) != 0 ||
	    report_build(tx, &q, &out, err) != 0)
		return -1;
	if (a.is_csv) {
		char from[16], to[16];

		report_format_day(q.from_day, from, sizeof(from));
		report_format_day(q.from_day + q.ndays - 1, to, sizeof(to));
		free(r->resp_raw);
		r->resp_raw = report_csv(out);
		r->resp_type = "text/csv; charset=utf-8; header=present";
		free(r->resp_filename);
		r->resp_filename =
			xasprintf("callbacks-%s-to-%s.csv", from, to);
		json_decref(out);
		return 0;
	}
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_report_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/reports/callbacks", HTTP_ROLES_LEADS, 0,
	  "reports_callbacks", api_report_parse, api_report_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
