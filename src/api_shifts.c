/*
 * api_shifts.c: an agent's shift rules and time off, and shift import from
 * calendar files. Leads and admins change rosters; an agent may read their
 * own. JSON is checked on the loop thread; rules are validated and
 * expanded on the store thread, where the agent's zone is known.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "api.h"
#include "clock.h"
#include "ics.h"
#include "roster.h"
#include "shift.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

#define API_SHIFTS_DAY_SEC      86400
#define API_SHIFTS_UPCOMING_SEC (7 * API_SHIFTS_DAY_SEC) /* default view */
#define API_SHIFTS_MAX_VIEW_SEC (31 * API_SHIFTS_DAY_SEC)

/* PUT body as parsed on the loop; read-only once work starts, because
 * work may run again after a deadlock. */
struct api_shifts_put {
	struct shift_rule *rules;
	int64_t *start_at; /* rules given as an instant with offset, or 0 */
	size_t n;
};

/* A window [from, to) asked for in the query, or its default. */
struct api_shifts_window {
	int64_t from;
	int64_t to;
};

/* POST /v1/shifts/import: the parsed file, kept across re-runs of work. */
struct api_shifts_import {
	int is_dry_run;
	int is_parsed;
	struct ics_import_event *events;
	size_t n;
};

static const char *const api_shifts_put_fields[] = { "shifts", NULL };
static const char *const api_shifts_rule_fields[] = { "start",   "duration",
						      "rrule",   "tz",
						      "exdates", NULL };
static const char *const api_shifts_off_fields[] = { "from", "to", "reason",
						     NULL };

static void
api_shifts_put_free(void *p)
{
	struct api_shifts_put *ctx = p;

	free(ctx->rules);
	free(ctx->start_at);
	free(ctx);
}

static void
api_shifts_import_free(void *p)
{
	struct api_shifts_import *ctx = p;

	free(ctx->events);
	free(ctx);
}

/* An agent key reads only its own agent's roster. */
static int
api_shifts_may_read(const struct http_req *r, int64_t agent_id,
		    struct cbd_err *err)
{
	if (r->role == HTTP_ROLE_AGENT && r->agent_id != agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "an agent may read only their own roster");
		return -1;
	}
	return 0;
}

static int
api_shifts_agent_id(const struct http_req *r, int64_t *id, struct cbd_err *err)
{
	*id = http_param_id(r, 0);
	if (*id == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	return 0;
}

/* Copy s into a fixed field of a rule; too long is the rule's error. */
static int
api_shifts_copy(char *dst, size_t size, const char *s, const char *field,
		const char *what, struct cbd_err *err)
{
	if (strlen(s) >= size) {
		cbd_err_set(err, 400, "invalid-shift", field,
			    "%s is longer than %zu bytes", what, size - 1);
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/*
 * duration: whole seconds, or an RFC 5545 / ISO 8601 duration such as
 * "PT8H" or "PT7H30M" (weeks and days allowed, as libical reads them).
 */
static int
api_shifts_read_duration(json_t *v, const char *field, int *out,
			 struct cbd_err *err)
{
	int64_t sec = -1;

	if (v == NULL || json_is_null(v)) {
		cbd_err_set(err, 400, "missing-field", field, "%s is required",
			    field);
		return -1;
	}
	if (json_is_integer(v)) {
		sec = json_integer_value(v);
	} else if (json_is_string(v) && json_string_length(v) > 0 &&
		   json_string_length(v) <= 32 &&
		   strlen(json_string_value(v)) == json_string_length(v)) {
		struct icaldurationtype d =
			icaldurationtype_from_string(json_string_value(v));

		if (!icaldurationtype_is_bad_duration(d))
			sec = icaldurationtype_as_int(d);
	}
	if (sec < 1 || sec > SHIFT_MAX_DURATION_SEC) {
		cbd_err_set(err, 400, "invalid-shift", field,
			    "duration must be 1 to %d seconds, or an ISO 8601 "
			    "duration such as \"PT8H\" up to 24 hours",
			    SHIFT_MAX_DURATION_SEC);
		return -1;
	}
	*out = (int)sec;
	return 0;
}

/* exdates: an array of local times "YYYY-MM-DDTHH:MM:SS", stored joined
 * by commas; the shift module checks each one. */
static int
api_shifts_read_exdates(json_t *v, const char *field, char *dst, size_t size,
			struct cbd_err *err)
{
	size_t i, used = 0;
	json_t *x;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		cbd_err_set(err, 400, "invalid-shift", field,
			    "exdates must be an array of local times");
		return -1;
	}
	json_array_foreach(v, i, x)
	{
		const char *s = json_string_value(x);
		size_t len = s != NULL ? strlen(s) : 0;

		if (s == NULL || len == 0 || strchr(s, ',') != NULL ||
		    len != json_string_length(x) ||
		    used + len + (used > 0) >= size) {
			cbd_err_set(err, 400, "invalid-shift", field,
				    "exdates must be up to %zu local times "
				    "YYYY-MM-DDTHH:MM:SS",
				    size / 20);
			return -1;
		}
		if (used > 0)
			dst[used++] = ',';
		memcpy(dst + used, s, len + 1);
		used += len;
	}
	return 0;
}

/* One element of "shifts" into rule; fields named "shifts[i].x". */
static int
api_shifts_read_rule(json_t *o, size_t i, struct shift_rule *rule,
		     int64_t *start_at, struct cbd_err *err)
{
	char prefix[32], field[64];
	const char *start, *rrule, *tz;

	snprintf(prefix, sizeof(prefix), "shifts[%zu].", i);
	if (!json_is_object(o)) {
		snprintf(field, sizeof(field), "shifts[%zu]", i);
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s must be an object {start, duration, rrule, tz}",
			    field);
		return -1;
	}
	if (http_check_fields(o, api_shifts_rule_fields, prefix, err) != 0)
		return -1;
	memset(rule, 0, sizeof(*rule));
	snprintf(field, sizeof(field), "%sstart", prefix);
	if (http_get_str(o, "start", field, 40, 1, &start, err) != 0)
		return -1;
	/* A local wall time ("2026-11-30T09:00:00") is read in the rule's
	 * zone; an RFC 3339 instant with offset is turned into that zone's
	 * wall time once the zone is known (the work function). */
	*start_at = 0;
	if (strlen(start) > 19 && timefmt_parse_rfc3339(start, start_at) == 0)
		snprintf(rule->start, sizeof(rule->start), "%s",
			 "1970-01-01T00:00:00");
	else if (api_shifts_copy(rule->start, sizeof(rule->start), start, field,
				 "start", err) != 0)
		return -1;
	snprintf(field, sizeof(field), "%sduration", prefix);
	if (api_shifts_read_duration(json_object_get(o, "duration"), field,
				     &rule->duration_sec, err) != 0)
		return -1;
	snprintf(field, sizeof(field), "%srrule", prefix);
	if (http_get_str(o, "rrule", field, 1000, 0, &rrule, err) != 0 ||
	    (rrule != NULL && api_shifts_copy(rule->rrule, sizeof(rule->rrule),
					      rrule, field, "rrule", err) != 0))
		return -1;
	snprintf(field, sizeof(field), "%stz", prefix);
	if (http_get_str(o, "tz", field, 100, 0, &tz, err) != 0 ||
	    (tz != NULL &&
	     api_shifts_copy(rule->tz, sizeof(rule->tz), tz, field, "tz", err)))
		return -1;
	snprintf(field, sizeof(field), "%sexdates", prefix);
	return api_shifts_read_exdates(json_object_get(o, "exdates"), field,
				       rule->exdates, sizeof(rule->exdates),
				       err);
}

/* {agent_id, shifts, from, to, upcoming}: the rules and their spans. */
static int
api_shifts_view(struct store_tx *tx, int64_t agent_id, int64_t from, int64_t to,
		json_t **out, struct cbd_err *err)
{
	json_t *rules = NULL, *spans = NULL;

	if (roster_shifts_json(tx, agent_id, &rules, err) != 0)
		return -1;
	if (roster_spans_json(tx, agent_id, from, to, &spans, err) != 0) {
		json_decref(rules);
		return -1;
	}
	*out = json_pack("{s:I, s:o, s:o, s:o, s:o}", "agent_id",
			 (json_int_t)agent_id, "shifts", rules, "from",
			 api_time(from, NULL), "to", api_time(to, NULL),
			 "upcoming", spans);
	return 0;
}

static int
api_shifts_put_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_shifts_put *ctx;
	json_t *arr, *o;
	int64_t id;
	size_t i;

	if (api_shifts_agent_id(r, &id, err) != 0)
		return -1;
	/* The body is the list itself, or {"shifts": [...]}. */
	if (json_is_array(r->body))
		arr = r->body;
	else if (http_check_fields(r->body, api_shifts_put_fields, "", err) !=
		 0)
		return -1;
	else
		arr = json_object_get(r->body, "shifts");
	if (arr == NULL || json_is_null(arr)) {
		cbd_err_set(err, 400, "missing-field", "shifts",
			    "shifts is required (an empty array removes all)");
		return -1;
	}
	if (!json_is_array(arr)) {
		cbd_err_set(err, 400, "invalid-field", "shifts",
			    "shifts must be an array of {start, duration, "
			    "rrule, tz}");
		return -1;
	}
	if (json_array_size(arr) > ROSTER_MAX_RULES) {
		cbd_err_set(err, 400, "too-many-shifts", "shifts",
			    "at most %d shift rules per agent",
			    ROSTER_MAX_RULES);
		return -1;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->rules = xcalloc(json_array_size(arr) + 1, sizeof(*ctx->rules));
	ctx->start_at = xcalloc(json_array_size(arr) + 1, sizeof(int64_t));
	r->ctx = ctx;
	r->ctx_free = api_shifts_put_free;
	json_array_foreach(arr, i, o)
	{
		if (api_shifts_read_rule(o, i, &ctx->rules[i],
					 &ctx->start_at[i], err) != 0)
			return -1;
	}
	ctx->n = json_array_size(arr);
	return 0;
}

static int
api_shifts_put_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	const struct api_shifts_put *ctx = r->ctx;
	int64_t id = http_param_id(r, 0), now = clock_now();
	struct shift_rule *rules;
	json_t *out;
	int rc = -1;

	/* The roster fills in zones and ids: work on a copy. */
	rules = xcalloc(ctx->n + 1, sizeof(*rules));
	memcpy(rules, ctx->rules, ctx->n * sizeof(*rules));
	for (size_t i = 0; i < ctx->n; i++) {
		int y, mo, d, h, mi;
		if (ctx->start_at[i] == 0)
			continue;
		if (rules[i].tz[0] == '\0') {
			struct store_rows *a = store_query(
				tx, err,
				"SELECT timezone FROM agents WHERE id = ?", "i",
				id);
			if (a == NULL)
				goto out;
			snprintf(rules[i].tz, sizeof(rules[i].tz), "%s",
				 store_rows_count(a) ? store_rows_str(a, 0, 0)
						     : "UTC");
			store_rows_free(a);
		}
		if (timefmt_zone(rules[i].tz) == NULL)
			continue; /* the roster reports the bad zone */
		timefmt_local(ctx->start_at[i], rules[i].tz, &y, &mo, &d, &h,
			      &mi, NULL);
		snprintf(rules[i].start, sizeof(rules[i].start),
			 "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi,
			 (int)(((ctx->start_at[i] % 60) + 60) % 60));
	}
	if (roster_replace_shifts(tx, id, rules, ctx->n, err) != 0 ||
	    api_shifts_view(tx, id, now, now + API_SHIFTS_UPCOMING_SEC, &out,
			    err) != 0)
		goto out;
	http_reply_json(r, 200, out);
	rc = 0;
out:
	free(rules);
	return rc;
}

/* ?from&to as RFC 3339; from defaults to now, to to from + def_sec,
 * and they may be at most max_sec apart. */
static int
api_shifts_read_window(struct http_req *r, int64_t def_sec, int64_t max_sec,
		       struct api_shifts_window *w, struct cbd_err *err)
{
	const char *from = http_query(r, "from");
	const char *to = http_query(r, "to");

	w->from = clock_now();
	if (from != NULL && timefmt_parse_rfc3339(from, &w->from) != 0) {
		cbd_err_set(err, 400, "invalid-query", "from",
			    "from must be an RFC 3339 time");
		return -1;
	}
	w->to = w->from + def_sec;
	if (to != NULL && timefmt_parse_rfc3339(to, &w->to) != 0) {
		cbd_err_set(err, 400, "invalid-query", "to",
			    "to must be an RFC 3339 time");
		return -1;
	}
	if (w->to <= w->from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	if (w->to - w->from > max_sec) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "from and to may be at most %" PRId64 " days apart",
			    max_sec / API_SHIFTS_DAY_SEC);
		return -1;
	}
	return 0;
}

static int
api_shifts_get_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_shifts_window *w;
	int64_t id;

	if (api_shifts_agent_id(r, &id, err) != 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	r->ctx = w;
	r->ctx_free = free;
	return api_shifts_read_window(r, API_SHIFTS_UPCOMING_SEC,
				      API_SHIFTS_MAX_VIEW_SEC, w, err);
}

static int
api_shifts_get_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	const struct api_shifts_window *w = r->ctx;
	int64_t id = http_param_id(r, 0);
	json_t *out;

	if (api_shifts_may_read(r, id, err) != 0 ||
	    api_shifts_view(tx, id, w->from, w->to, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

/* from, to and reason of a time-off body; strings borrowed from it. */
static int
api_shifts_read_off(json_t *b, int64_t *from, int64_t *to, const char **reason,
		    struct cbd_err *err)
{
	const char *f, *t;

	if (http_check_fields(b, api_shifts_off_fields, "", err) != 0 ||
	    http_get_str(b, "from", "from", 40, 1, &f, err) != 0 ||
	    http_get_str(b, "to", "to", 40, 1, &t, err) != 0 ||
	    http_get_str(b, "reason", "reason", ROSTER_MAX_REASON_CHARS, 0,
			 reason, err) != 0)
		return -1;
	if (timefmt_parse_rfc3339(f, from) != 0) {
		cbd_err_set(err, 400, "invalid-time", "from",
			    "from must be an RFC 3339 time with offset");
		return -1;
	}
	if (timefmt_parse_rfc3339(t, to) != 0) {
		cbd_err_set(err, 400, "invalid-time", "to",
			    "to must be an RFC 3339 time with offset");
		return -1;
	}
	if (*to <= *from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	if (*to - *from > ROSTER_MAX_OFF_SEC) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "time off may last at most %d days",
			    ROSTER_MAX_OFF_SEC / API_SHIFTS_DAY_SEC);
		return -1;
	}
	return 0;
}

static int
api_shifts_off_create_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t id, from, to;
	const char *reason;

	if (api_shifts_agent_id(r, &id, err) != 0)
		return -1;
	return api_shifts_read_off(r->body, &from, &to, &reason, err);
}

static int
api_shifts_off_create_work(struct store_tx *tx, struct http_req *r,
			   struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0), from, to;
	const char *reason;
	json_t *out;

	if (api_shifts_read_off(r->body, &from, &to, &reason, err) != 0 ||
	    roster_time_off_add(tx, id, from, to, reason, &out, err) != 0)
		return -1;
	r->location = xasprintf(
		"/v1/agents/%" PRId64 "/time-off/%" PRId64, id,
		(int64_t)json_integer_value(json_object_get(out, "id")));
	http_reply_json(r, 201, out);
	return 0;
}

static int
api_shifts_off_list_parse(struct http_req *r, struct cbd_err *err)
{
	const char *from = http_query(r, "from");
	int64_t id, limit, after, *since;

	if (api_shifts_agent_id(r, &id, err) != 0 ||
	    api_page_parse(r, &limit, &after, err) != 0)
		return -1;
	since = xcalloc(1, sizeof(*since));
	r->ctx = since;
	r->ctx_free = free;
	/* Absences still running at from (default now) or later. */
	*since = clock_now();
	if (from != NULL && timefmt_parse_rfc3339(from, since) != 0) {
		cbd_err_set(err, 400, "invalid-query", "from",
			    "from must be an RFC 3339 time");
		return -1;
	}
	return 0;
}

static int
api_shifts_off_list_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	const int64_t *since = r->ctx;
	int64_t id = http_param_id(r, 0), limit, after, last;
	json_t *items;

	if (api_shifts_may_read(r, id, err) != 0 ||
	    api_page_parse(r, &limit, &after, err) != 0 ||
	    roster_time_off_list(tx, id, *since, after, limit, &items, &last,
				 err) != 0)
		return -1;
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

static int
api_shifts_off_delete_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t id;

	if (api_shifts_agent_id(r, &id, err) != 0)
		return -1;
	if (http_param_id(r, 1) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such time off");
		return -1;
	}
	return 0;
}

static int
api_shifts_off_delete_work(struct store_tx *tx, struct http_req *r,
			   struct cbd_err *err)
{
	if (roster_time_off_delete(tx, http_param_id(r, 0), http_param_id(r, 1),
				   err) != 0)
		return -1;
	r->status = 204;
	return 0;
}

static int
api_shifts_import_parse(struct http_req *r, struct cbd_err *err)
{
	const char *dry = http_query(r, "dry_run");
	struct api_shifts_import *ctx = xcalloc(1, sizeof(*ctx));

	r->ctx = ctx;
	r->ctx_free = api_shifts_import_free;
	if (dry == NULL || strcmp(dry, "false") == 0 || strcmp(dry, "0") == 0)
		ctx->is_dry_run = 0;
	else if (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0)
		ctx->is_dry_run = 1;
	else {
		cbd_err_set(err, 400, "invalid-query", "dry_run",
			    "dry_run must be true or false");
		return -1;
	}
	if (strlen(r->raw_body) != r->raw_len) {
		cbd_err_set(err, 400, "invalid-ics", "body",
			    "the calendar contains a NUL byte");
		return -1;
	}
	return 0;
}

/*
 * The file is parsed here, on a store thread, rather than in parse: a
 * 2 MiB calendar takes long enough to stall the loop, and only a caller
 * whose key passed the role check gets this far.
 */
static int
api_shifts_import_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	struct api_shifts_import *ctx = r->ctx;
	json_t *out;

	if (!ctx->is_parsed) {
		if (ics_import_parse(r->raw_body, &ctx->events, &ctx->n, err) !=
		    0)
			return -1;
		ctx->is_parsed = 1;
	}
	if (roster_import(tx, ctx->events, ctx->n, ctx->is_dry_run, &out,
			  err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_shifts_routes[] = {
	{ EVHTTP_REQ_PUT, "/v1/agents/:id/shifts", HTTP_ROLES_LEADS,
	  HTTP_F_ARRAY_BODY, "shifts_replace", api_shifts_put_parse,
	  api_shifts_put_work },
	{ EVHTTP_REQ_GET, "/v1/agents/:id/shifts", HTTP_ROLES_STAFF, 0,
	  "shifts_get", api_shifts_get_parse, api_shifts_get_work },
	{ EVHTTP_REQ_POST, "/v1/agents/:id/time-off", HTTP_ROLES_LEADS,
	  HTTP_F_IDEMPOTENT, "time_off_create", api_shifts_off_create_parse,
	  api_shifts_off_create_work },
	{ EVHTTP_REQ_GET, "/v1/agents/:id/time-off", HTTP_ROLES_STAFF, 0,
	  "time_off_list", api_shifts_off_list_parse,
	  api_shifts_off_list_work },
	{ EVHTTP_REQ_DELETE, "/v1/agents/:id/time-off/:tid", HTTP_ROLES_LEADS,
	  0, "time_off_delete", api_shifts_off_delete_parse,
	  api_shifts_off_delete_work },
	{ EVHTTP_REQ_POST, "/v1/shifts/import", HTTP_ROLES_LEADS,
	  HTTP_F_RAW_BODY | HTTP_F_BIG_BODY | HTTP_F_IDEMPOTENT,
	  "shifts_import", api_shifts_import_parse, api_shifts_import_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
