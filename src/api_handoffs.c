/*
 * api_handoffs.c: leads' tools for ownership: reassign with a note (dry run
 * first), coverage, overdue calls, the audit trail, and running the planner
 * now; agents' view of the handoffs they gave and received, and annotating
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "coverage.h"
#include "handoff_apply.h"
#include "handoff_notes.h"
#include "handoff_plan.h"
#include "handoff_planner.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

struct api_handoffs_req {
	struct handoff_request req;
	struct handoff_note note;
	int64_t *ids;
	int is_dry_run;
};

static int
api_handoffs_time(json_t *b, const char *key, int64_t *out, struct cbd_err *err)
{
	const char *s = NULL;

	*out = 0;
	if (http_get_str(b, key, key, 40, 0, &s, err) != 0)
		return -1;
	if (s != NULL && timefmt_parse_rfc3339(s, out) != 0) {
		cbd_err_set(err, 400, "invalid-time", key,
			    "%s must be an RFC 3339 time", key);
		return -1;
	}
	return 0;
}

/* Read the body into q (ids owned by q). Pure: runs again in the job. */
static int
api_handoffs_read(const struct http_req *r, struct api_handoffs_req *q,
		  struct cbd_err *err)
{
	static const char *const fields[] = {
		"callback_ids", "from_agent",      "from",
		"to",           "to_agent",        "note",
		"dry_run",      "override_skills", NULL
	};
	static const char *const nfields[] = { "summary", "next_step", "reason",
					       NULL };
	json_t *b = r->body, *ids = json_object_get(b, "callback_ids");
	json_t *note = json_object_get(b, "note"), *dry;

	memset(q, 0, sizeof(*q));
	if (http_check_fields(b, fields, "", err) != 0 ||
	    http_get_int(b, "from_agent", "from_agent", 1, INT64_MAX, 0,
			 &q->req.from_agent, err) != 0 ||
	    http_get_int(b, "to_agent", "to_agent", 1, INT64_MAX, 0,
			 &q->req.to_agent, err) != 0 ||
	    api_handoffs_time(b, "from", &q->req.from, err) != 0 ||
	    api_handoffs_time(b, "to", &q->req.to, err) != 0)
		return -1;
	if (note == NULL) {
		cbd_err_set(err, 400, "missing-field", "note",
			    "a handoff needs a note: summary, next_step, "
			    "reason");
		return -1;
	}
	if (!json_is_object(note)) {
		cbd_err_set(err, 400, "invalid-field", "note",
			    "note must be an object");
		return -1;
	}
	if (http_check_fields(note, nfields, "note.", err) != 0 ||
	    http_get_str(note, "summary", "note.summary", 2000, 1,
			 &q->note.summary, err) != 0 ||
	    http_get_str(note, "next_step", "note.next_step", 1000, 1,
			 &q->note.next_step, err) != 0 ||
	    http_get_str(note, "reason", "note.reason", 500, 1, &q->note.reason,
			 err) != 0)
		return -1;
	dry = json_object_get(b, "dry_run");
	if (dry != NULL && !json_is_boolean(dry)) {
		cbd_err_set(err, 400, "invalid-field", "dry_run",
			    "dry_run must be true or false");
		return -1;
	}
	q->is_dry_run = json_is_true(dry);
	dry = json_object_get(b, "override_skills");
	if (dry != NULL && !json_is_boolean(dry)) {
		cbd_err_set(err, 400, "invalid-field", "override_skills",
			    "override_skills must be true or false");
		return -1;
	}
	q->req.override_skills = json_is_true(dry);
	q->req.note_reason = q->note.reason;
	if ((ids != NULL) == (q->req.from_agent > 0)) {
		cbd_err_set(err, 400, "invalid-field", "callback_ids",
			    "give either callback_ids or from_agent");
		return -1;
	}
	if (ids != NULL) {
		size_t i;
		json_t *v;
		if (!json_is_array(ids) || json_array_size(ids) == 0 ||
		    json_array_size(ids) > 20000) {
			cbd_err_set(err, 400, "invalid-field", "callback_ids",
				    "callback_ids must be 1 to 20000 ids");
			return -1;
		}
		q->ids = xcalloc(json_array_size(ids), sizeof(int64_t));
		json_array_foreach(ids, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) <= 0) {
				cbd_err_set(err, 400, "invalid-field",
					    "callback_ids",
					    "callback_ids must be positive "
					    "integers");
				return -1;
			}
			q->ids[i] = json_integer_value(v);
		}
		/* Sorted and unique, so locks are taken in one order. */
		for (size_t a = 1; a < json_array_size(ids); a++)
			for (size_t k = a; k > 0 && q->ids[k - 1] > q->ids[k];
			     k--) {
				int64_t t = q->ids[k];
				q->ids[k] = q->ids[k - 1];
				q->ids[k - 1] = t;
			}
		q->req.ncallbacks = 0;
		for (size_t a = 0; a < json_array_size(ids); a++)
			if (a == 0 || q->ids[a] != q->ids[a - 1])
				q->ids[q->req.ncallbacks++] = q->ids[a];
		q->req.callback_ids = q->ids;
	}
	if (q->req.to > 0 && q->req.to <= q->req.from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	return 0;
}

static int
api_handoffs_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_handoffs_req q;
	int rc = api_handoffs_read(r, &q, err);

	free(q.ids);
	return rc;
}

static int
api_handoffs_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct api_handoffs_req q;
	struct handoff_plan p;
	char author[40];
	json_t *out;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	if (api_handoffs_read(r, &q, err) != 0)
		goto out;
	http_actor(r, author, sizeof(author));
	if (handoff_plan_build(tx, r->cfg, &q.req, &p, err) != 0)
		goto out;
	if (!q.is_dry_run && handoff_apply_plan(tx, r->cfg, &p, &q.note, "lead",
						author, err) != 0)
		goto out;
	out = handoff_plan_json(&p);
	json_object_set_new(out, "dry_run", json_boolean(q.is_dry_run));
	http_reply_json(r, q.is_dry_run ? 200 : 201, out);
	rc = 0;
out:
	handoff_plan_clear(&p);
	free(q.ids);
	return rc;
}

/* With direction, limit or cursor: one list, paged like the others;
 * without, both lists at once (their first 200 each), as before. */
static int
api_handoffs_mine_paged(const struct http_req *r)
{
	return http_query(r, "direction") != NULL ||
	       http_query(r, "limit") != NULL ||
	       http_query(r, "cursor") != NULL || http_query(r, "tz") != NULL;
}

static int
api_handoffs_mine_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	json_t *out;

	if (r->agent_id <= 0) {
		cbd_err_set(err, 403, "forbidden", "",
			    "this key belongs to no agent");
		return -1;
	}
	if (api_handoffs_mine_paged(r)) {
		const char *dir = http_query(r, "direction"), *tz;
		int64_t limit, after, last;

		if (dir == NULL ||
		    (strcmp(dir, "given") && strcmp(dir, "received"))) {
			cbd_err_set(err, 400, "invalid-query", "direction",
				    "direction must be given or received");
			return -1;
		}
		if (api_tz_parse(r, &tz, err) != 0 ||
		    api_page_parse(r, &limit, &after, err) != 0 ||
		    handoff_notes_of_agent_page(tx, r->agent_id,
						!strcmp(dir, "given"), after,
						limit, &out, &last, err) != 0)
			return -1;
		api_localize(out, tz);
		http_reply_json(r, 200, api_page_wrap(out, limit, last));
		return 0;
	}
	if (handoff_notes_of_agent(tx, r->agent_id, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_handoffs_patch_read(struct http_req *r, const char **ann, const char **next,
			struct cbd_err *err)
{
	static const char *const fields[] = { "annotation", "next_step", NULL };

	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such handoff");
		return -1;
	}
	if (http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "annotation", "annotation", 2000, 0, ann,
			 err) != 0 ||
	    http_get_str(r->body, "next_step", "next_step", 1000, 0, next,
			 err) != 0)
		return -1;
	if (*ann == NULL && *next == NULL) {
		cbd_err_set(err, 400, "missing-field", "annotation",
			    "give annotation or next_step");
		return -1;
	}
	return 0;
}

static int
api_handoffs_patch_parse(struct http_req *r, struct cbd_err *err)
{
	const char *a, *n;

	return api_handoffs_patch_read(r, &a, &n, err);
}

static int
api_handoffs_patch_work(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	const char *ann, *next;
	json_t *out;

	if (api_handoffs_patch_read(r, &ann, &next, err) != 0 ||
	    handoff_notes_annotate(tx, http_param_id(r, 0),
				   r->role == HTTP_ROLE_AGENT ? r->agent_id : 0,
				   ann, next, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_handoffs_range(const struct http_req *r, int64_t *from, int64_t *to,
		   struct cbd_err *err)
{
	const char *f = http_query(r, "from"), *t = http_query(r, "to");

	*from = clock_now();
	if (f != NULL && timefmt_parse_rfc3339(f, from) != 0) {
		cbd_err_set(err, 400, "invalid-time", "from",
			    "from must be an RFC 3339 time");
		return -1;
	}
	*to = *from + 86400;
	if (t != NULL && timefmt_parse_rfc3339(t, to) != 0) {
		cbd_err_set(err, 400, "invalid-time", "to",
			    "to must be an RFC 3339 time");
		return -1;
	}
	if (*to <= *from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	if (*to - *from > 7 * 86400) {
		cbd_err_set(err, 400, "range-too-long", "to",
			    "ask for at most 7 days at a time");
		return -1;
	}
	return 0;
}

static int
api_handoffs_coverage_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t from, to;

	return api_handoffs_range(r, &from, &to, err);
}

static int
api_handoffs_coverage_work(struct store_tx *tx, struct http_req *r,
			   struct cbd_err *err)
{
	int64_t from, to;
	json_t *out;

	if (api_handoffs_range(r, &from, &to, err) != 0 ||
	    coverage_report(tx, r->cfg, from, to, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_handoffs_audit_read(const struct http_req *r, int64_t *cb, int64_t *agent,
			int64_t *limit, int64_t *before, struct cbd_err *err)
{
	const char *c = http_query(r, "callback"), *a = http_query(r, "agent");
	char *end;

	*cb = *agent = 0;
	if (c != NULL && ((*cb = strtoll(c, &end, 10)) <= 0 || *end != '\0')) {
		cbd_err_set(err, 400, "invalid-query", "callback",
			    "callback must be an id");
		return -1;
	}
	if (a != NULL &&
	    ((*agent = strtoll(a, &end, 10)) <= 0 || *end != '\0')) {
		cbd_err_set(err, 400, "invalid-query", "agent",
			    "agent must be an id");
		return -1;
	}
	{
		const char *tz;
		if (api_tz_parse(r, &tz, err) != 0)
			return -1;
	}
	return api_page_parse(r, limit, before, err);
}

static int
api_handoffs_audit_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t a, b, c, d;

	return api_handoffs_audit_read(r, &a, &b, &c, &d, err);
}

static int
api_handoffs_audit_work(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	int64_t cb, agent, limit, before, last;
	json_t *items;

	if (api_handoffs_audit_read(r, &cb, &agent, &limit, &before, err) !=
		    0 ||
	    handoff_notes_audit(tx, cb, agent, before, limit, &items, &last,
				err) != 0)
		return -1;
	api_localize(items, http_query(r, "tz"));
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

static int
api_handoffs_overdue_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t limit, after;
	const char *tz;

	return api_tz_parse(r, &tz, err) ||
			       api_page_parse(r, &limit, &after, err)
		       ? -1
		       : 0;
}

static int
api_handoffs_overdue_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	int64_t limit, after, last;
	json_t *items;

	if (api_page_parse(r, &limit, &after, err) != 0 ||
	    coverage_overdue(tx, r->cfg, limit, after, &items, &last, err) != 0)
		return -1;
	api_localize(items, http_query(r, "tz"));
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

static int
api_handoffs_planner_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	json_t *report;

	if (handoff_planner_pass(tx, r->cfg, &report, err) != 0)
		return -1;
	http_reply_json(r, 200, report);
	return 0;
}

const struct http_route api_handoffs_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/handoffs", HTTP_ROLES_LEADS, HTTP_F_IDEMPOTENT,
	  "handoffs_create", api_handoffs_parse, api_handoffs_work },
	{ EVHTTP_REQ_PATCH, "/v1/handoffs/:id",
	  HTTP_ROLE_AGENT | HTTP_ROLES_LEADS, 0, "handoffs_annotate",
	  api_handoffs_patch_parse, api_handoffs_patch_work },
	{ EVHTTP_REQ_GET, "/v1/me/handoffs", HTTP_ROLE_AGENT, 0,
	  "handoffs_mine", NULL, api_handoffs_mine_work },
	{ EVHTTP_REQ_GET, "/v1/coverage", HTTP_ROLES_LEADS, 0, "coverage",
	  api_handoffs_coverage_parse, api_handoffs_coverage_work },
	{ EVHTTP_REQ_GET, "/v1/overdue", HTTP_ROLES_LEADS, 0, "overdue",
	  api_handoffs_overdue_parse, api_handoffs_overdue_work },
	{ EVHTTP_REQ_GET, "/v1/audit", HTTP_ROLES_LEADS, 0, "audit",
	  api_handoffs_audit_parse, api_handoffs_audit_work },
	{ EVHTTP_REQ_POST, "/v1/planner/run", HTTP_ROLES_LEADS, 0,
	  "planner_run", NULL, api_handoffs_planner_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
