/*
 * api_slots.c: GET /v1/slots, the times a customer may book, in their own
 * zone. Public like booking; with case= the slots the case owner can take
 * are marked, so a returning customer can keep their agent.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "slots.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"

struct api_slots_q {
	int64_t from, to, case_id;
	const char *tz;
};

static int
api_slots_read(const struct http_req *r, struct api_slots_q *q,
	       struct cbd_err *err)
{
	const char *from = http_query(r, "from"), *to = http_query(r, "to");
	const char *c = http_query(r, "case");
	int64_t now = clock_now();

	memset(q, 0, sizeof(*q));
	q->tz = http_query(r, "tz");
	if (q->tz == NULL)
		q->tz = "UTC";
	if (!valid_tz(q->tz)) {
		cbd_err_set(err, 400, "invalid-timezone", "tz",
			    "tz must be an IANA zone name");
		return -1;
	}
	if (from == NULL)
		q->from = now;
	else if (timefmt_parse_rfc3339(from, &q->from) != 0) {
		cbd_err_set(err, 400, "invalid-time", "from",
			    "from must be an RFC 3339 time");
		return -1;
	}
	if (to == NULL)
		q->to = q->from + 7 * 86400;
	else if (timefmt_parse_rfc3339(to, &q->to) != 0) {
		cbd_err_set(err, 400, "invalid-time", "to",
			    "to must be an RFC 3339 time");
		return -1;
	}
	if (q->to <= q->from) {
		cbd_err_set(err, 400, "invalid-range", "to",
			    "to must be after from");
		return -1;
	}
	if (q->to - q->from > (int64_t)r->cfg->slots_max_range_days * 86400) {
		cbd_err_set(err, 400, "range-too-long", "to",
			    "ask for at most %d days at a time",
			    r->cfg->slots_max_range_days);
		return -1;
	}
	if (q->from > now + (int64_t)r->cfg->booking_horizon_days * 86400) {
		cbd_err_set(err, 400, "beyond-horizon", "from",
			    "bookings open at most %d days ahead",
			    r->cfg->booking_horizon_days);
		return -1;
	}
	if (c != NULL) {
		char *end;
		q->case_id = strtoll(c, &end, 10);
		if (*c == '\0' || *end != '\0' || q->case_id <= 0) {
			cbd_err_set(err, 400, "invalid-query", "case",
				    "case must be a case id");
			return -1;
		}
	}
	return 0;
}

static int
api_slots_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_slots_q q;

	return api_slots_read(r, &q, err);
}

static int
api_slots_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct api_slots_q q;
	int64_t owner = 0;
	json_t *out;

	if (api_slots_read(r, &q, err) != 0)
		return -1;
	if (q.case_id > 0) {
		struct store_rows *k = store_query(
			tx, err, "SELECT owner_id FROM cases WHERE id = ?", "i",
			q.case_id);
		if (k == NULL)
			return -1;
		owner = store_rows_count(k) ? store_rows_int(k, 0, 0, 0) : 0;
		store_rows_free(k);
		if (owner == 0) {
			cbd_err_set(err, 404, "not-found", "case",
				    "no such case");
			return -1;
		}
	}
	if (slots_list(tx, r->cfg, q.from, q.to, q.tz, owner, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_slots_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/slots", HTTP_ROLE_PUBLIC, 0, "slots_list",
	  api_slots_parse, api_slots_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
