/*
 * api_slots.c: GET /v1/slots, the times a customer may book, in their own
 * zone. Public like booking; with case= the slots the case owner can take
 * are marked, so a returning customer can keep their agent. That says who
 * works when on a case, so case= needs credentials: the manage token of a
 * callback in that case, or a staff key.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "keys.h"
#include "routing_queue.h"
#include "slots.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"

struct api_slots_q {
	int64_t from, to, case_id;
	const char *tz;
	const char *queue, *topic; /* routing: the queue, or a topic */
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
	q->queue = http_query(r, "queue");
	q->topic = http_query(r, "topic");
	if ((q->queue != NULL && !valid_text(q->queue, strlen(q->queue))) ||
	    (q->topic != NULL && !valid_text(q->topic, strlen(q->topic)))) {
		cbd_err_set(err, 400, "invalid-query",
			    q->queue ? "queue" : "topic",
			    "queue and topic must be plain text");
		return -1;
	}
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

/*
 * The owner of case_id, for a caller who may ask: staff, or a customer
 * whose manage token opens one of the case's callbacks. A token that opens
 * none reads as "no such case", so case ids cannot be probed.
 */
static int
api_slots_case_owner(struct store_tx *tx, const struct http_req *r,
		     int64_t case_id, int64_t *owner, struct cbd_err *err)
{
	struct store_rows *k;
	int is_ok = (r->role & HTTP_ROLES_STAFF) != 0;

	*owner = 0;
	if (r->role == HTTP_ROLE_PUBLIC) {
		cbd_err_set(err, 401, "unauthorized", "case",
			    "case= needs the manage token of a callback in "
			    "the case (Authorization: Bearer or token=)");
		return -1;
	}
	k = store_query(tx, err,
			"SELECT k.owner_id, c.id FROM cases k JOIN callbacks c "
			"ON c.case_id = k.id WHERE k.id = ? ORDER BY c.id DESC "
			"LIMIT 100",
			"i", case_id);
	if (k == NULL)
		return -1;
	for (size_t i = 0; !is_ok && i < store_rows_count(k); i++)
		is_ok = keys_manage_token_ok(store_rows_int(k, i, 1, 0),
					     r->bearer);
	if (is_ok && store_rows_count(k) > 0)
		*owner = store_rows_int(k, 0, 0, 0);
	store_rows_free(k);
	if (*owner == 0) {
		cbd_err_set(err, 404, "not-found", "case", "no such case");
		return -1;
	}
	return 0;
}

static int
api_slots_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct api_slots_q q;
	struct routing_queue *rq = NULL;
	int64_t owner = 0, queue_id = 0;
	json_t *out;
	int rc;

	if (api_slots_read(r, &q, err) != 0)
		return -1;
	if (q.case_id > 0 &&
	    api_slots_case_owner(tx, r, q.case_id, &owner, err) != 0)
		return -1;
	/* In a queue only its skilled agents count, in its site's hours. */
	if (routing_queue_resolve(tx, q.queue, q.topic, &queue_id, err) != 0 ||
	    routing_queue_load(tx, queue_id, &rq, err) != 0)
		return -1;
	rc = slots_list(tx, r->cfg, rq, q.from, q.to, q.tz, owner, &out, err);
	routing_queue_free(rq);
	if (rc != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_slots_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/slots",
	  HTTP_ROLE_PUBLIC | HTTP_ROLE_CUSTOMER | HTTP_ROLES_STAFF, 0,
	  "slots_list", api_slots_parse, api_slots_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
