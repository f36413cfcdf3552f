/*
 * callback.c: booking, reading, rescheduling and cancelling callbacks.
 *
 * Invariants kept here, each inside one transaction:
 *  - every open callback has exactly one owner, and agents.open_count is
 *    the number of open callbacks the agent owns;
 *  - every change appends a case event and writes the messages it causes
 *    (notify.c) before the transaction commits;
 *  - a customer's token only ever opens its own callback: a foreign token
 *    reads as "no such callback", never as "forbidden", so ids cannot be
 *    probed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "api.h"
#include "callback.h"
#include "callback_row.h"
#include "case_close.h"
#include "clock.h"
#include "config.h"
#include "handoff_apply.h"
#include "handoff_plan.h"
#include "http.h"
#include "ics.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "optout.h"
#include "phone.h"
#include "render.h"
#include "routing_queue.h"
#include "slots.h"
#include "timefmt.h"
#include "store.h"
#include "xalloc.h"

static int
callback_is_open_state(const char *s)
{
	return !strcmp(s, "pending") || !strcmp(s, "scheduled") ||
	       !strcmp(s, "in_progress") || !strcmp(s, "retry_wait");
}

/*
 * A manage token is a link in a customer's messages, so it must not work
 * for ever: it stops manage_token_days after the callback closed, and
 * manage_token_cancelled_sec after a cancellation (long enough to look at
 * what was cancelled, not to keep a handle on it). An open callback's
 * token always works. 1 with err (401 token-expired) when expired.
 */
static int
callback_token_expired(const struct config *cfg, const struct store_rows *r,
		       struct cbd_err *err)
{
	const char *state = store_rows_str(r, 0, CALLBACK_COL_STATE);
	int64_t closed = store_rows_int(r, 0, CALLBACK_COL_UPDATED, 0), until;

	if (callback_is_open_state(state))
		return 0;
	if (!strcmp(state, "cancelled"))
		until = closed + cfg->manage_token_cancelled_sec;
	else
		until = closed + (int64_t)cfg->manage_token_days * 86400;
	if (clock_now() < until)
		return 0;
	cbd_err_set(err, 401, "token-expired", "",
		    "this link has expired; call us or book a new callback");
	return 1;
}

/* Load one callback (locked FOR UPDATE when for_update) and check the
 * caller may see it: a foreign token is 404, an expired one 401. Returns
 * rows (caller frees) or NULL with err. */
static struct store_rows *
callback_load(struct store_tx *tx, const struct config *cfg, int64_t id,
	      const struct callback_caller *who, int for_update,
	      struct cbd_err *err)
{
	struct store_rows *r;

	if (who != NULL && who->role == HTTP_ROLE_CUSTOMER &&
	    !keys_manage_token_ok(id, who->token)) {
		cbd_err_set(err, 404, "not-found", "", "no such callback");
		return NULL;
	}
	if (for_update) {
		/* Lock only the callback row: locking the joined agent and
		 * customer rows too would queue unrelated bookings. */
		r = store_query(
			tx, err,
			"SELECT id FROM callbacks WHERE id = ? FOR UPDATE", "i",
			id);
		if (r == NULL)
			return NULL;
		store_rows_free(r);
	}
	r = store_query_one(tx, err, "callback",
			    CALLBACK_ROW_SELECT "WHERE c.id = ?", "i", id);
	if (r != NULL && who != NULL && who->role == HTTP_ROLE_CUSTOMER &&
	    callback_token_expired(cfg, r, err)) {
		store_rows_free(r);
		return NULL;
	}
	return r;
}

static void
callback_ctx(const struct store_rows *r, struct notify_ctx *c)
{
	callback_ctx_at(r, 0, c);
}

/* The number as people in its country write it, beside E.164. */
static void
callback_json_phone(json_t *customer, const char *e164)
{
	char national[48];

	phone_national(e164, national, sizeof(national));
	json_object_set_new(customer, "phone_national", json_string(national));
}

static json_t *
callback_json(const struct config *cfg, const struct store_rows *r,
	      const struct callback_caller *who)
{
	int64_t id = store_rows_int(r, 0, CALLBACK_COL_ID, 0);
	const char *tz = store_rows_str(r, 0, CALLBACK_COL_TZ);
	int is_asap = (int)store_rows_int(r, 0, CALLBACK_COL_ASAP, 0);
	json_t *o, *notify = json_array();
	const char *n = store_rows_str(r, 0, CALLBACK_COL_NOTIFY);

	if (strstr(n, "email"))
		json_array_append_new(notify, json_string("email"));
	if (strstr(n, "sms"))
		json_array_append_new(notify, json_string("sms"));
	o = json_pack(
		"{s:I, s:s, s:s, s:b, s:s, s:o, s:{s:s}, s:I, s:o, s:o}", "id",
		(json_int_t)id, "state",
		store_rows_str(r, 0, CALLBACK_COL_STATE), "topic",
		store_rows_str(r, 0, CALLBACK_COL_TOPIC), "asap", is_asap,
		"timezone", tz, "notify", notify, "owner", "display_name",
		store_rows_str(r, 0, CALLBACK_COL_OWNER_NAME), "attempts",
		(json_int_t)store_rows_int(r, 0, CALLBACK_COL_ATTEMPTS, 0),
		"created_at",
		api_time(store_rows_int(r, 0, CALLBACK_COL_CREATED, 0), tz),
		"updated_at",
		api_time(store_rows_int(r, 0, CALLBACK_COL_UPDATED, 0), tz));
	json_object_set_new(
		o, is_asap ? "requested_at" : "scheduled_at",
		api_time(store_rows_int(r, 0, CALLBACK_COL_DUE, 0), tz));
	if (who == NULL || who->role != HTTP_ROLE_CUSTOMER) {
		const char *email = store_rows_str(r, 0, CALLBACK_COL_EMAIL);
		json_object_set_new(o, "case_id",
				    json_integer(store_rows_int(
					    r, 0, CALLBACK_COL_CASE, 0)));
		json_object_set_new(
			o, "customer",
			json_pack("{s:s, s:s, s:o, s:s}", "name",
				  store_rows_str(r, 0, CALLBACK_COL_CNAME),
				  "phone",
				  store_rows_str(r, 0, CALLBACK_COL_PHONE),
				  "email",
				  email ? json_string(email) : json_null(),
				  "timezone", tz));
		json_object_set_new(json_object_get(o, "owner"), "id",
				    json_integer(store_rows_int(
					    r, 0, CALLBACK_COL_OWNER, 0)));
		callback_json_phone(json_object_get(o, "customer"),
				    store_rows_str(r, 0, CALLBACK_COL_PHONE));
		json_object_set_new(
			o, "queue_id",
			store_rows_int(r, 0, CALLBACK_COL_QUEUE, 0) > 0
				? json_integer(store_rows_int(
					  r, 0, CALLBACK_COL_QUEUE, 0))
				: json_null());
		json_object_set_new(o, "priority",
				    json_integer(store_rows_int(
					    r, 0, CALLBACK_COL_PRIORITY, 0)));
	}
	json_object_set_new(
		o, "language",
		json_string(
			store_rows_str(r, 0, CALLBACK_COL_LANGUAGE)
				? store_rows_str(r, 0, CALLBACK_COL_LANGUAGE)
				: cfg->default_language));
	{
		char *self = xasprintf("%s/v1/callbacks/%lld", cfg->public_url,
				       (long long)id);
		char *ics = xasprintf("%s/invite.ics", self);
		json_object_set_new(
			o, "links",
			json_pack("{s:s, s:s}", "self", self, "invite", ics));
		free(self);
		free(ics);
	}
	return o;
}

/* Queue position and estimated wait of an ASAP callback in its owner's
 * queue: everyone due before it, times the average handle time. */
static int
callback_eta(struct store_tx *tx, const struct config *cfg, int64_t owner_id,
	     int64_t id, int64_t due_at, int64_t *position, int64_t *eta,
	     struct cbd_err *err)
{
	/* Counting stops at 1000: past that the estimate is "hours" anyway
	 * and the count would cost more than the booking. */
	struct store_rows *r = store_query(
		tx, err,
		"SELECT COUNT(*) FROM (SELECT 1 FROM callbacks WHERE owner_id "
		"= ? AND state IN ('pending','retry_wait','scheduled',"
		"'in_progress') AND (due_at < ? OR (due_at = ? AND id <= ?)) "
		"LIMIT 1000) q",
		"iiii", owner_id, due_at, due_at, id);

	if (r == NULL)
		return -1;
	*position = store_rows_int(r, 0, 0, 1);
	*eta = (*position - 1) * cfg->avg_handle_sec;
	store_rows_free(r);
	return 0;
}

/* Put the next free slot (or none) into a 409 problem's extra members;
 * with agent_id > 0, that agent's next free slot. */
static void
callback_add_next(struct store_tx *tx, const struct config *cfg,
		  const struct routing_queue *rq, int64_t from, const char *tz,
		  int64_t agent_id, int64_t exclude_id, struct cbd_err *err)
{
	struct cbd_err scratch;
	char when[40];
	int64_t next = 0;

	memset(&scratch, 0, sizeof(scratch));
	if (slots_next_available(tx, cfg, rq, from, 7, agent_id, exclude_id,
				 &next, &scratch) != 0 ||
	    next == 0) {
		cbd_err_clear(&scratch);
		return;
	}
	timefmt_rfc3339(next, tz, when, sizeof(when));
	free(err->extra_json);
	err->extra_json = xasprintf("{\"next_available\":\"%s\"}", when);
}

/* 409 owner-unavailable: the customer asked for the same person, who
 * cannot take that time; next_available is theirs. */
static void
callback_owner_unavailable(struct store_tx *tx, const struct config *cfg,
			   const struct routing_queue *rq, int64_t from,
			   const char *tz, int64_t owner, int64_t exclude_id,
			   struct cbd_err *err)
{
	cbd_err_set(err, 409, "owner-unavailable", "when",
		    "the agent on this case cannot take that time; pick "
		    "another, or choose \"earliest\" for anyone");
	callback_add_next(tx, cfg, rq, from, tz, owner, exclude_id, err);
}

/* 409 no-agents: nobody at all (in a queue: nobody with its skills). */
static void
callback_no_agents(const struct routing_queue *rq, struct cbd_err *err)
{
	char needs[200];

	if (rq == NULL) {
		cbd_err_set(err, 409, "no-agents", "",
			    "no agent is available to take callbacks");
		return;
	}
	routing_needs_text(rq, needs, sizeof(needs));
	cbd_err_set(err, 409, "no-agents", "queue",
		    "no agent has the skills queue %s needs (%s)", rq->name,
		    needs);
}

/* ASAP: the site is open now and someone (the owner, if owner_only) is on
 * duty; no slot cap applies. */
static int
callback_place_now(struct store_tx *tx, const struct config *cfg,
		   const struct routing_queue *rq, int64_t case_id,
		   int64_t prefer, int owner_only, int64_t exclude_id,
		   const char *tz, int64_t *owner, struct cbd_err *err)
{
	int64_t now = clock_now();
	struct slots_view *v = NULL;
	size_t nagents;
	int rc;

	if (!routing_is_open(cfg, rq, now, 0)) {
		cbd_err_set(err, 409, "outside-hours", "when",
			    "we are closed now; pick a time");
		callback_add_next(tx, cfg, rq, now, tz, 0, exclude_id, err);
		return -1;
	}
	if (slots_view_load(tx, cfg, rq, now, now, 0, &v, err) != 0)
		return -1;
	if (slots_view_mark_worked(tx, v, case_id, err) != 0) {
		slots_view_free(v);
		return -1;
	}
	if (owner_only) {
		*owner = slots_view_on_duty(v, prefer, now, 0) ? prefer : 0;
		rc = 0;
	} else
		rc = slots_view_pick_now(tx, v, now, prefer, owner, err);
	nagents = slots_view_agents(v);
	slots_view_free(v);
	if (rc != 0)
		return -1;
	if (nagents == 0) {
		callback_no_agents(rq, err);
		return -1;
	}
	if (*owner == 0 && owner_only) {
		callback_owner_unavailable(tx, cfg, rq, now, tz, prefer,
					   exclude_id, err);
		return -1;
	}
	if (*owner == 0) {
		cbd_err_set(err, 409, "no-agents-on-duty", "when",
			    "nobody is on duty now; pick a time");
		callback_add_next(tx, cfg, rq, now, tz, 0, exclude_id, err);
		return -1;
	}
	return 0;
}

/* is_preview: only say who it would be; no slot lock is taken (nothing
 * is written), so another booking may still take the room. */
static int
callback_place_in(struct store_tx *tx, const struct config *cfg,
		  const struct routing_queue *rq, int64_t case_id, int is_asap,
		  int64_t when, int64_t prefer, int owner_only,
		  int64_t exclude_id, const char *tz, int is_preview,
		  int64_t *owner, struct cbd_err *err)
{
	int64_t now = clock_now(), len = (int64_t)cfg->slot_minutes * 60;
	int64_t slot = slots_align(cfg, when);
	struct slots_view *v = NULL;
	size_t nagents, staffed;
	int rc;

	*owner = 0;
	if (is_asap)
		return callback_place_now(tx, cfg, rq, case_id, prefer,
					  owner_only, exclude_id, tz, owner,
					  err);
	if (when < now + (int64_t)cfg->min_notice_min * 60) {
		cbd_err_set(err, 422, "too-soon", "when",
			    "book at least %d minutes ahead",
			    cfg->min_notice_min);
		return -1;
	}
	/* 409 like the other refusals of a time (slot-full,
	 * no-agents-on-duty) and like ASAP when closed: the request is
	 * sound, the calendar says no, next_available says when. */
	if (!routing_is_open(cfg, rq, slot, len)) {
		cbd_err_set(err, 409, "outside-hours", "when",
			    "that time is outside our opening hours");
		callback_add_next(tx, cfg, rq, when, tz, 0, exclude_id, err);
		return -1;
	}
	/* One lock row per slot: bookings for the same slot queue here, so
	 * the count below and the insert after it cannot be overtaken. The
	 * upsert takes the row's exclusive lock at once; INSERT IGNORE then
	 * SELECT FOR UPDATE would take a shared lock first, and concurrent
	 * bookers upgrading shared locks deadlock. It must change the row:
	 * on Galera row locks exclude only on one node, and only a changed
	 * row makes two nodes' bookings of one slot conflict at certification
	 * (the loser is retried and then counts the winner's booking). */
	if (!is_preview &&
	    store_exec(
		    tx, err,
		    "INSERT INTO slot_locks (slot_start, bumps) VALUES (?, 1)"
		    " ON DUPLICATE KEY UPDATE bumps = bumps + 1",
		    "i", slot) < 0)
		return -1;
	if (slots_view_load(tx, cfg, rq, slot, slot + len, exclude_id, &v,
			    err) != 0)
		return -1;
	if (slots_view_mark_worked(tx, v, case_id, err) != 0) {
		slots_view_free(v);
		return -1;
	}
	if (owner_only) {
		*owner = slots_view_has_room(v, prefer, slot) ? prefer : 0;
		rc = 0;
	} else
		rc = slots_view_pick(tx, v, slot, prefer, owner, err);
	nagents = slots_view_agents(v);
	staffed = slots_view_staffed(v, slot);
	slots_view_free(v);
	if (rc != 0)
		return -1;
	if (nagents == 0) {
		callback_no_agents(rq, err);
		return -1;
	}
	if (*owner == 0 && owner_only) {
		callback_owner_unavailable(tx, cfg, rq, slot + len, tz, prefer,
					   exclude_id, err);
		return -1;
	}
	if (*owner == 0 && staffed == 0) {
		cbd_err_set(err, 409, "no-agents-on-duty", "when",
			    "nobody is on duty at that time; pick another");
		callback_add_next(tx, cfg, rq, slot + len, tz, 0, exclude_id,
				  err);
		return -1;
	}
	if (*owner == 0) {
		cbd_err_set(err, 409, "slot-full", "when",
			    "that slot is fully booked");
		callback_add_next(tx, cfg, rq, slot + len, tz, 0, exclude_id,
				  err);
		return -1;
	}
	return 0;
}

int
callback_place_for(struct store_tx *tx, const struct config *cfg,
		   int64_t queue_id, int64_t case_id, int is_asap, int64_t when,
		   int64_t prefer, int owner_only, int64_t exclude_id,
		   const char *tz, int64_t *owner, struct cbd_err *err)
{
	struct routing_queue *rq = NULL;
	int rc;

	*owner = 0;
	if (routing_queue_load(tx, queue_id, &rq, err) != 0)
		return -1;
	rc = callback_place_in(tx, cfg, rq, case_id, is_asap, when, prefer,
			       owner_only, exclude_id, tz, 0, owner, err);
	routing_queue_free(rq);
	return rc;
}

int
callback_place(struct store_tx *tx, const struct config *cfg, int64_t queue_id,
	       int64_t case_id, int is_asap, int64_t when, int64_t prefer,
	       int64_t exclude_id, const char *tz, int64_t *owner,
	       struct cbd_err *err)
{
	return callback_place_for(tx, cfg, queue_id, case_id, is_asap, when,
				  prefer, 0, exclude_id, tz, owner, err);
}

/*
 * Given (count, oldest) of the requests in the last window seconds: 1 when
 * limit is reached, with *retry_sec until the oldest leaves the window (the
 * caller sets its 429), 1 with err when the query failed (r NULL), else 0.
 * Frees r.
 */
static int
callback_over_limit(struct store_rows *r, int64_t now, int64_t window,
		    int limit, int *retry_sec)
{
	int64_t n, oldest;

	*retry_sec = 0;
	if (r == NULL)
		return 1;
	n = store_rows_int(r, 0, 0, 0);
	oldest = store_rows_int(r, 0, 1, now);
	store_rows_free(r);
	if (n < limit)
		return 0;
	*retry_sec = (int)(oldest + window - now + 1);
	return 1;
}

/*
 * 429 when this phone or address has asked too much lately. Bookings and
 * link requests count alike, and they are counted by the phone number as
 * sent, whether or not it belongs to a customer: what a caller is told
 * must not depend on what is stored about someone else.
 */
static int
callback_rate_limit(struct store_tx *tx, const struct config *cfg,
		    const char *phone, const char *client_ip,
		    struct cbd_err *err)
{
	int64_t now = clock_now();
	struct store_rows *r;
	int retry = 0;

	if (cfg->rate_phone_per_hour > 0) {
		r = store_query(
			tx, err,
			"SELECT COUNT(*), MIN(t) FROM (SELECT c.created_at t "
			"FROM customers cu JOIN callbacks c ON c.customer_id "
			"= cu.id WHERE cu.phone = ? AND c.created_at > ? "
			"UNION ALL SELECT created_at FROM link_requests WHERE "
			"phone = ? AND created_at > ?) q",
			"sisi", phone, now - 3600, phone, now - 3600);
		if (callback_over_limit(r, now, 3600, cfg->rate_phone_per_hour,
					&retry)) {
			if (retry > 0)
				cbd_err_set(err, 429, "rate-limited",
					    "customer.phone",
					    "too many requests for this phone "
					    "number; try again later");
			goto limited;
		}
	}
	if (cfg->rate_ip_per_10min > 0 && client_ip != NULL &&
	    client_ip[0] != '\0') {
		r = store_query(
			tx, err,
			"SELECT COUNT(*), MIN(t) FROM (SELECT created_at t "
			"FROM callbacks WHERE client_ip = ? AND created_at > ? "
			"UNION ALL SELECT created_at FROM link_requests WHERE "
			"client_ip = ? AND created_at > ?) q",
			"sisi", client_ip, now - 600, client_ip, now - 600);
		if (callback_over_limit(r, now, 600, cfg->rate_ip_per_10min,
					&retry)) {
			if (retry > 0)
				cbd_err_set(err, 429, "rate-limited", "",
					    "too many requests from this "
					    "address; try again later");
			goto limited;
		}
	}
	return 0;
limited:
	err->retry_after_sec = retry;
	return -1;
}

json_t *
callback_link_sent_json(void)
{
	return json_pack(
		"{s:s, s:s}", "status", "link-sent-if-booked", "detail",
		"If this phone number has an open callback, a text message "
		"with its link is on its way to that number. To book another "
		"callback anyway, send the booking again with force_new: "
		"true.");
}

/*
 * Text the manage link of the phone's first open callback to that phone,
 * the only place it may go: whoever asked may not own the number. The
 * request is recorded for the limits whether or not there is a callback,
 * and the caller's answer is the same either way.
 */
static int
callback_send_link(struct store_tx *tx, const struct config *cfg,
		   const char *phone, const char *client_ip, json_t **out,
		   struct cbd_err *err)
{
	struct store_rows *r;
	struct notify_ctx nc;
	int rc = -1;

	/* The limits look back an hour; a day of this phone's requests is
	 * kept for whoever looks into abuse, older ones go as it asks again. */
	if (store_exec(tx, err,
		       "DELETE FROM link_requests WHERE phone = ? AND "
		       "created_at < ?",
		       "si", phone, clock_now() - 86400) < 0 ||
	    store_exec(tx, err,
		       "INSERT INTO link_requests (phone, client_ip, "
		       "created_at) VALUES (?, ?, ?)",
		       "ssi", phone, client_ip ? client_ip : "",
		       clock_now()) < 0)
		return -1;
	r = store_query(tx, err,
			"SELECT c.id FROM customers cu JOIN callbacks c ON "
			"c.customer_id = cu.id WHERE cu.phone = ? AND c.state "
			"IN (" CALLBACK_OPEN_STATES ") ORDER BY c.due_at, c.id "
			"LIMIT 1",
			"s", phone);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) > 0) {
		int64_t id = store_rows_int(r, 0, 0, 0);

		store_rows_free(r);
		r = callback_load(tx, cfg, id, NULL, 0, err);
		if (r == NULL)
			return -1;
		callback_ctx(r, &nc);
		if (notify_manage_link(tx, cfg, &nc, err) != 0)
			goto out;
	}
	*out = callback_link_sent_json();
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

int
callback_request_link(struct store_tx *tx, const struct config *cfg,
		      const char *phone, const char *client_ip, json_t **out,
		      struct cbd_err *err)
{
	if (callback_rate_limit(tx, cfg, phone, client_ip, err) != 0)
		return -1;
	return callback_send_link(tx, cfg, phone, client_ip, out, err);
}

/*
 * The customer row of b's phone: created from the booking when new. An
 * existing row is never changed here: the caller proved only a phone
 * number, and the details they gave are kept on their own callback.
 */
static int
callback_customer(struct store_tx *tx, const struct callback_booking *b,
		  int64_t now, int64_t *customer_id, struct cbd_err *err)
{
	if (store_exec(tx, err,
		       "INSERT INTO customers (phone, name, email, timezone, "
		       "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
		       "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
		       "ssssii", b->phone, b->name, b->email, b->timezone, now,
		       now) < 0)
		return -1;
	*customer_id = store_last_id(tx);
	return 0;
}

/* The case a new callback joins (0: a new one) and the owner to prefer. */
static int
callback_open_case(struct store_tx *tx, int64_t customer_id, int64_t *case_id,
		   int64_t *prefer, struct cbd_err *err)
{
	struct store_rows *r =
		store_query(tx, err,
			    "SELECT k.id, k.owner_id, a.is_active FROM cases k "
			    "JOIN agents a ON a.id = k.owner_id WHERE "
			    "k.customer_id = ? AND k.is_open = 1 ORDER BY k.id "
			    "DESC LIMIT 1",
			    "i", customer_id);

	*case_id = 0;
	*prefer = 0;
	if (r == NULL)
		return -1;
	if (store_rows_count(r) > 0) {
		*case_id = store_rows_int(r, 0, 0, 0);
		if (store_rows_int(r, 0, 2, 0))
			*prefer = store_rows_int(r, 0, 1, 0);
	}
	store_rows_free(r);
	return 0;
}

/* The priority a booking starts at in its queue (routing_queue.h). */
static int
callback_booking_priority(struct store_tx *tx, const struct config *cfg,
			  int64_t queue_id, int64_t customer_id, int64_t now,
			  int *priority, struct cbd_err *err)
{
	struct routing_queue *rq = NULL;
	int rc;

	if (routing_queue_load(tx, queue_id, &rq, err) != 0)
		return -1;
	rc = routing_booking_priority(tx, cfg, rq, customer_id, now, priority,
				      err);
	routing_queue_free(rq);
	return rc;
}

/* The booking's answer: the customer's view, its token and links. */
static int
callback_book_answer(struct store_tx *tx, const struct config *cfg,
		     const struct callback_booking *b, int64_t id,
		     int64_t owner_id, int64_t now, json_t **out,
		     struct cbd_err *err)
{
	struct callback_caller cust = { HTTP_ROLE_CUSTOMER, 0, NULL, NULL };
	struct store_rows *r = callback_load(tx, cfg, id, NULL, 0, err);
	struct notify_ctx nc;
	char tok[64], *url;

	if (r == NULL)
		return -1;
	callback_ctx(r, &nc);
	if (notify_change(tx, cfg, &nc, NOTIFY_BOOKED, err) != 0) {
		store_rows_free(r);
		return -1;
	}
	*out = callback_json(cfg, r, &cust);
	store_rows_free(r);
	keys_manage_token(id, tok, sizeof(tok));
	json_object_set_new(*out, "manage_token", json_string(tok));
	url = notify_manage_url(cfg, id);
	json_object_set_new(json_object_get(*out, "links"), "manage",
			    json_string(url));
	free(url);
	if (b->is_asap) {
		int64_t pos, eta;
		if (callback_eta(tx, cfg, owner_id, id, now, &pos, &eta, err) !=
		    0) {
			json_decref(*out);
			*out = NULL;
			return -1;
		}
		json_object_set_new(*out, "position", json_integer(pos));
		json_object_set_new(*out, "eta_seconds", json_integer(eta));
	}
	return 0;
}

int
callback_book(struct store_tx *tx, const struct config *cfg,
	      const struct callback_booking *b, json_t **out, int *status,
	      struct cbd_err *err)
{
	int64_t now = clock_now(), customer_id, case_id = 0, owner_id = 0, id;
	int64_t prefer = 0, nopen, previous_case = 0, queue_id = 0;
	struct store_rows *r;
	char notify[32];
	int priority = 0;

	/* Limits first, on every branch: a returning customer's answer is
	 * limited like a booking. */
	if (callback_rate_limit(tx, cfg, b->phone, b->client_ip, err) != 0)
		return -1;
	r = store_query(tx, err,
			"SELECT COUNT(*) FROM customers cu JOIN callbacks c ON "
			"c.customer_id = cu.id WHERE cu.phone = ? AND c.state "
			"IN (" CALLBACK_OPEN_STATES ")",
			"s", b->phone);
	if (r == NULL)
		return -1;
	nopen = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	/* A returning customer with an open callback is offered its link,
	 * by text to the phone on file, rather than a second callback
	 * (unless they insist). Knowing a phone number is no credential, so
	 * the answer shows nothing of that callback. */
	if (nopen > 0 && !b->force_new) {
		if (callback_send_link(tx, cfg, b->phone, b->client_ip, out,
				       err) != 0)
			return -1;
		*status = 202;
		return 0;
	}
	if (nopen >= cfg->max_open_per_phone) {
		cbd_err_set(err, 409, "too-many-open", "customer.phone",
			    "this phone number already has %d open callbacks",
			    cfg->max_open_per_phone);
		return -1;
	}
	if (callback_customer(tx, b, now, &customer_id, err) != 0 ||
	    case_close_stale(tx, cfg, customer_id, now, &previous_case, err) !=
		    0 ||
	    callback_open_case(tx, customer_id, &case_id, &prefer, err) != 0 ||
	    routing_queue_resolve(tx, b->queue, b->topic, &queue_id, err) !=
		    0 ||
	    callback_booking_priority(tx, cfg, queue_id, customer_id, now,
				      &priority, err) != 0 ||
	    callback_place(tx, cfg, queue_id, case_id, b->is_asap,
			   b->is_asap ? now : b->when, prefer, 0, b->timezone,
			   &owner_id, err) != 0)
		return -1;
	if (case_id == 0) {
		if (store_exec(tx, err,
			       "INSERT INTO cases (customer_id, owner_id, "
			       "opened_at) VALUES (?, ?, ?)",
			       "iii", customer_id, owner_id, now) < 0)
			return -1;
		case_id = store_last_id(tx);
		if (case_close_link(tx, case_id, previous_case, err) != 0)
			return -1;
	}

	snprintf(notify, sizeof(notify), "%s%s%s",
		 b->notify_email ? "email" : "",
		 b->notify_email && b->notify_sms ? "," : "",
		 b->notify_sms ? "sms" : "");
	if (store_exec(tx, err,
		       "INSERT INTO callbacks (case_id, customer_id, owner_id,"
		       " state, topic, is_asap, due_at, notify, client_ip, "
		       "contact_name, contact_email, contact_tz, language, "
		       "created_at, updated_at, queue_id, priority) VALUES (?,"
		       " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       "iiissiissssssiini", case_id, customer_id, owner_id,
		       b->is_asap ? "pending" : "scheduled", b->topic,
		       (int64_t)b->is_asap, b->is_asap ? now : b->when, notify,
		       b->client_ip ? b->client_ip : "", b->name, b->email,
		       b->timezone, b->language, now, now,
		       queue_id > 0 ? queue_id : STORE_NULL,
		       (int64_t)priority) < 0)
		return -1;
	id = store_last_id(tx);
	if (callback_event(tx, case_id, id, "booked", b->actor,
			   json_pack("{s:s, s:b, s:I, s:I, s:I, s:i}", "topic",
				     b->topic, "asap", b->is_asap, "due_at",
				     (json_int_t)(b->is_asap ? now : b->when),
				     "owner_id", (json_int_t)owner_id,
				     "queue_id", (json_int_t)queue_id,
				     "priority", priority),
			   err) != 0 ||
	    callback_book_answer(tx, cfg, b, id, owner_id, now, out, err) != 0)
		return -1;
	/* Last: the owner's row lock is then held only through COMMIT,
	 * not through the rest of the booking. */
	if (agent_add_load(tx, owner_id, 1, err) != 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	*status = 201;
	log_debug("callback booked", "id=%lld owner=%lld asap=%d",
		  (long long)id, (long long)owner_id, b->is_asap);
	return 0;
}

int
callback_notify(struct store_tx *tx, const struct config *cfg, int64_t id,
		int event, const char *prev_owner_name, struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, NULL, 0, err);
	struct notify_ctx nc;
	int rc;

	if (r == NULL)
		return -1;
	callback_ctx(r, &nc);
	nc.prev_owner_name = prev_owner_name;
	rc = notify_change(tx, cfg, &nc, (enum notify_event)event, err);
	store_rows_free(r);
	return rc;
}

int
callback_get(struct store_tx *tx, const struct config *cfg, int64_t id,
	     const struct callback_caller *who, json_t **out,
	     struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, who, 0, err);

	if (r == NULL)
		return -1;
	*out = callback_json(cfg, r, who);
	if (json_object_get(*out, "customer") != NULL &&
	    optout_annotate(tx, json_object_get(*out, "customer"), err) != 0) {
		json_decref(*out);
		store_rows_free(r);
		return -1;
	}
	if (!strcmp(store_rows_str(r, 0, CALLBACK_COL_STATE), "pending") ||
	    !strcmp(store_rows_str(r, 0, CALLBACK_COL_STATE), "retry_wait")) {
		int64_t pos, eta;
		if (callback_eta(tx, cfg,
				 store_rows_int(r, 0, CALLBACK_COL_OWNER, 0),
				 id, store_rows_int(r, 0, CALLBACK_COL_DUE, 0),
				 &pos, &eta, err) != 0) {
			json_decref(*out);
			store_rows_free(r);
			return -1;
		}
		json_object_set_new(*out, "position", json_integer(pos));
		json_object_set_new(*out, "eta_seconds", json_integer(eta));
	}
	store_rows_free(r);
	return 0;
}

/* After a change: reload, write its messages (ev < 0: none), answer the
 * caller's view. */
static int
callback_finish(struct store_tx *tx, const struct config *cfg, int64_t id,
		int ev, const struct callback_caller *who, json_t **out,
		struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, NULL, 0, err);
	struct notify_ctx nc;
	int rc = -1;

	if (r == NULL)
		return -1;
	callback_ctx(r, &nc);
	if (ev < 0 ||
	    notify_change(tx, cfg, &nc, (enum notify_event)ev, err) == 0) {
		*out = callback_json(cfg, r, who);
		rc = 0;
	}
	store_rows_free(r);
	return rc;
}

/* Agents may change their own callbacks; leads, admins and the customer
 * (token already checked) any they can see. */
static int
callback_may_change(const struct store_rows *r,
		    const struct callback_caller *who, struct cbd_err *err)
{
	if (who->role == HTTP_ROLE_AGENT &&
	    store_rows_int(r, 0, CALLBACK_COL_OWNER, 0) != who->agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "agents may change only callbacks they own");
		return -1;
	}
	return 0;
}

/*
 * Customers' own reschedules are limited per callback and per phone: each
 * one texts and mails the customer, so a leaked link (or a customer's own
 * script) could otherwise send a message per request. Staff are not
 * limited here; cancelling is never limited (one message, and a customer
 * must always be able to call a call off). 429 with Retry-After.
 */
static int
callback_change_limit(struct store_tx *tx, const struct config *cfg,
		      const struct store_rows *cb,
		      const struct callback_caller *who, struct cbd_err *err)
{
	int64_t now = clock_now();
	struct store_rows *r;
	int retry = 0;

	if (who->role != HTTP_ROLE_CUSTOMER)
		return 0;
	if (cfg->rate_changes_per_callback_per_hour > 0) {
		r = store_query(tx, err,
				"SELECT COUNT(*), MIN(at) FROM events WHERE "
				"callback_id = ? AND kind = 'rescheduled' AND "
				"actor = 'customer' AND at > ?",
				"ii", store_rows_int(cb, 0, CALLBACK_COL_ID, 0),
				now - 3600);
		if (callback_over_limit(r, now, 3600,
					cfg->rate_changes_per_callback_per_hour,
					&retry)) {
			if (retry > 0)
				cbd_err_set(err, 429, "too-many-changes",
					    "when",
					    "this callback was moved too often "
					    "lately; try again later");
			goto limited;
		}
	}
	if (cfg->rate_changes_per_phone_per_hour > 0) {
		r = store_query(
			tx, err,
			"SELECT COUNT(*), MIN(e.at) FROM callbacks c JOIN "
			"events e ON e.callback_id = c.id AND e.kind = "
			"'rescheduled' AND e.actor = 'customer' AND e.at "
			"> ? WHERE c.customer_id = ?",
			"ii", now - 3600,
			store_rows_int(cb, 0, CALLBACK_COL_CUSTOMER, 0));
		if (callback_over_limit(r, now, 3600,
					cfg->rate_changes_per_phone_per_hour,
					&retry)) {
			if (retry > 0)
				cbd_err_set(
					err, 429, "too-many-changes", "when",
					"callbacks of this phone number were "
					"moved too often lately; try again "
					"later");
			goto limited;
		}
	}
	return 0;
limited:
	err->retry_after_sec = retry;
	return -1;
}

/*
 * No time asked for, only a choice: the first slot from the minimum notice
 * on, within two weeks, that the choice allows (the owner's, for the same
 * person; anyone's, for the earliest).
 */
static int
callback_first_slot(struct store_tx *tx, const struct config *cfg,
		    int64_t queue_id, enum callback_choice choice,
		    int64_t owner, int64_t id, int64_t *when,
		    struct cbd_err *err)
{
	int64_t from = clock_now() + (int64_t)cfg->min_notice_min * 60;
	int64_t agent = choice == CALLBACK_CHOICE_SAME_PERSON ? owner : 0;
	struct routing_queue *rq = NULL;
	int rc;

	if (routing_queue_load(tx, queue_id, &rq, err) != 0)
		return -1;
	rc = slots_next_available(tx, cfg, rq, from, 14, agent, id, when, err);
	routing_queue_free(rq);
	if (rc != 0)
		return -1;
	if (*when != 0)
		return 0;
	if (agent > 0)
		cbd_err_set(err, 409, "owner-unavailable", "choice",
			    "the agent on this case has no free slot in the "
			    "next 14 days; choose \"earliest\" for anyone");
	else
		cbd_err_set(err, 409, "slot-full", "choice",
			    "no slot is free in the next 14 days");
	return -1;
}

int
callback_reschedule(struct store_tx *tx, const struct config *cfg, int64_t id,
		    const struct callback_caller *who, int is_asap,
		    int64_t when, enum callback_choice choice, json_t **out,
		    struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, who, 1, err);
	int64_t now = clock_now(), owner, new_owner = 0;
	int rc = -1;

	if (r == NULL)
		return -1;
	if (callback_may_change(r, who, err) != 0 ||
	    callback_change_limit(tx, cfg, r, who, err) != 0)
		goto out;
	if (!callback_is_open_state(store_rows_str(r, 0, CALLBACK_COL_STATE)) ||
	    !strcmp(store_rows_str(r, 0, CALLBACK_COL_STATE), "in_progress")) {
		cbd_err_set(err, 409, "not-reschedulable", "when",
			    "a callback that is %s cannot be rescheduled",
			    store_rows_str(r, 0, CALLBACK_COL_STATE));
		goto out;
	}
	owner = store_rows_int(r, 0, CALLBACK_COL_OWNER, 0);
	if (!is_asap && when == 0 &&
	    callback_first_slot(tx, cfg,
				store_rows_int(r, 0, CALLBACK_COL_QUEUE, 0),
				choice, owner, id, &when, err) != 0)
		goto out;
	if (callback_place_for(tx, cfg,
			       store_rows_int(r, 0, CALLBACK_COL_QUEUE, 0),
			       store_rows_int(r, 0, CALLBACK_COL_CASE, 0),
			       is_asap, is_asap ? now : when, owner,
			       choice == CALLBACK_CHOICE_SAME_PERSON, id,
			       store_rows_str(r, 0, CALLBACK_COL_TZ),
			       &new_owner, err) != 0)
		goto out;
	if (store_exec(tx, err,
		       "UPDATE callbacks SET state = ?, is_asap = ?, due_at = "
		       "?, ics_sequence = ics_sequence + 1, updated_at = ? "
		       "WHERE id = ?",
		       "siiii", is_asap ? "pending" : "scheduled",
		       (int64_t)is_asap, is_asap ? now : when, now, id) < 0 ||
	    callback_event(tx, store_rows_int(r, 0, CALLBACK_COL_CASE, 0), id,
			   "rescheduled", who->actor,
			   json_pack("{s:I, s:I, s:b}", "from",
				     (json_int_t)store_rows_int(
					     r, 0, CALLBACK_COL_DUE, 0),
				     "to", (json_int_t)(is_asap ? now : when),
				     "asap", is_asap),
			   err) != 0)
		goto out;
	/* The owner cannot take the new time: the call moves to who can,
	 * as a handoff with its note. The customer asked for the move, so
	 * they get the "rescheduled" text now, naming the new agent; it
	 * replaces the handoff's "owner changed" text, which would wait for
	 * the end of their quiet hours and say the same thing again. */
	if (new_owner != owner) {
		char reason[160];
		struct handoff_note note = { store_rows_str(r, 0,
							    CALLBACK_COL_TOPIC),
					     "Call at the new time.", reason };
		snprintf(reason, sizeof(reason),
			 "Rescheduled to a time %s is not available.",
			 store_rows_str(r, 0, CALLBACK_COL_OWNER_NAME));
		if (handoff_apply_move(
			    tx, cfg, id,
			    store_rows_int(r, 0, CALLBACK_COL_CASE, 0),
			    is_asap ? now : when, owner, new_owner, &note,
			    "reschedule", who->actor, err) != 0)
			goto out;
	}
	rc = callback_finish(tx, cfg, id, NOTIFY_RESCHEDULED, who, out, err);
	/* Say who was expected before, so the customer sees the change. */
	if (rc == 0 && new_owner != owner)
		json_object_set_new(
			*out, "previous_owner",
			json_pack(
				"{s:s}", "display_name",
				store_rows_str(r, 0, CALLBACK_COL_OWNER_NAME)));
out:
	store_rows_free(r);
	return rc;
}

int
callback_who_calls(struct store_tx *tx, const struct config *cfg, int64_t id,
		   int64_t when, json_t **out, struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, NULL, 0, err), *a;
	struct routing_queue *rq = NULL;
	int64_t owner, who = 0;
	int rc;

	*out = NULL;
	if (r == NULL)
		return -1;
	owner = store_rows_int(r, 0, CALLBACK_COL_OWNER, 0);
	rc = routing_queue_load(tx, store_rows_int(r, 0, CALLBACK_COL_QUEUE, 0),
				&rq, err);
	if (rc == 0)
		rc = callback_place_in(
			tx, cfg, rq, store_rows_int(r, 0, CALLBACK_COL_CASE, 0),
			0, when, owner, 0, id,
			store_rows_str(r, 0, CALLBACK_COL_TZ), 1, &who, err);
	routing_queue_free(rq);
	a = rc == 0 ? store_query_one(tx, err, "agent",
				      "SELECT display_name FROM agents WHERE "
				      "id = ?",
				      "i", who)
		    : NULL;
	if (a != NULL) {
		*out = json_pack("{s:o, s:{s:I, s:s}, s:b, s:{s:I, s:s}}", "at",
				 api_time(slots_align(cfg, when), NULL),
				 "agent", "id", (json_int_t)who, "display_name",
				 store_rows_str(a, 0, 0), "is_owner",
				 who == owner, "owner", "id", (json_int_t)owner,
				 "display_name",
				 store_rows_str(r, 0, CALLBACK_COL_OWNER_NAME));
		store_rows_free(a);
	}
	store_rows_free(r);
	return *out != NULL ? 0 : -1;
}

int
callback_cancel(struct store_tx *tx, const struct config *cfg, int64_t id,
		const struct callback_caller *who, json_t **out,
		struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, who, 1, err);
	int64_t now = clock_now();
	const char *state;
	int rc = -1;

	if (r == NULL)
		return -1;
	if (callback_may_change(r, who, err) != 0)
		goto out;
	state = store_rows_str(r, 0, CALLBACK_COL_STATE);
	if (!strcmp(state, "cancelled")) {
		/* Cancelling twice is the same as once. */
		*out = callback_json(cfg, r, who);
		rc = 0;
		goto out;
	}
	if (!callback_is_open_state(state)) {
		cbd_err_set(err, 409, "not-cancellable", "",
			    "a callback that is %s cannot be cancelled", state);
		goto out;
	}
	if (store_exec(tx, err,
		       "UPDATE callbacks SET state = 'cancelled', claimed_by = "
		       "NULL, lease_until = NULL, ics_sequence = ics_sequence "
		       "+ 1, updated_at = ? WHERE id = ?",
		       "ii", now, id) < 0 ||
	    agent_add_load(tx, store_rows_int(r, 0, CALLBACK_COL_OWNER, 0), -1,
			   err) != 0 ||
	    callback_event(tx, store_rows_int(r, 0, CALLBACK_COL_CASE, 0), id,
			   "cancelled", who->actor,
			   json_pack("{s:s}", "from_state", state), err) != 0)
		goto out;
	rc = callback_finish(tx, cfg, id, NOTIFY_CANCELLED, who, out, err);
out:
	store_rows_free(r);
	return rc;
}

int
callback_invite_ics(struct store_tx *tx, const struct config *cfg, int64_t id,
		    const struct callback_caller *who, char **out,
		    struct cbd_err *err)
{
	struct store_rows *r = callback_load(tx, cfg, id, who, 0, err);
	struct ics_invite inv;
	struct notify_ctx nc;
	char uid[96], *desc, *summary;

	if (r == NULL)
		return -1;
	if (store_rows_int(r, 0, CALLBACK_COL_ASAP, 0)) {
		store_rows_free(r);
		cbd_err_set(err, 404, "no-invite", "",
			    "an ASAP callback has no calendar time");
		return -1;
	}
	snprintf(uid, sizeof(uid), "callback-%lld@callbackd", (long long)id);
	/* The same words as the mailed invite, in the customer's language. */
	callback_ctx(r, &nc);
	desc = render_text(cfg, &nc, "invite_description");
	summary = render_text(cfg, &nc, "invite_summary");
	memset(&inv, 0, sizeof(inv));
	inv.uid = uid;
	inv.sequence = (int)store_rows_int(r, 0, CALLBACK_COL_SEQ, 0);
	inv.is_cancel =
		!strcmp(store_rows_str(r, 0, CALLBACK_COL_STATE), "cancelled");
	inv.start = store_rows_int(r, 0, CALLBACK_COL_DUE, 0);
	inv.end = inv.start + 15 * 60;
	inv.dtstamp = store_rows_int(r, 0, CALLBACK_COL_UPDATED, 0);
	inv.tz = store_rows_str(r, 0, CALLBACK_COL_TZ);
	inv.organizer_email = cfg->service_email;
	inv.organizer_cn = store_rows_str(r, 0, CALLBACK_COL_OWNER_NAME);
	inv.attendee_email = store_rows_str(r, 0, CALLBACK_COL_EMAIL);
	inv.attendee_phone = store_rows_str(r, 0, CALLBACK_COL_PHONE);
	inv.attendee_cn = store_rows_str(r, 0, CALLBACK_COL_CNAME);
	inv.summary = summary;
	inv.description = desc;
	inv.alarm_min = 15;
	*out = ics_invite_build(&inv);
	free(desc);
	free(summary);
	store_rows_free(r);
	return 0;
}

int
callback_queue(struct store_tx *tx, int64_t agent_id, int64_t limit,
	       int64_t after_id, json_t **out, struct cbd_err *err)
{
	int64_t after_due = INT64_MIN;
	struct store_rows *r;
	size_t n;

	/* The cursor names the last callback seen; the page goes on from
	 * its place in due order. */
	if (after_id > 0) {
		r = store_query(tx, err,
				"SELECT due_at FROM callbacks WHERE id = ? AND "
				"owner_id = ?",
				"ii", after_id, agent_id);
		if (r == NULL)
			return -1;
		if (store_rows_count(r) == 0) {
			store_rows_free(r);
			cbd_err_set(err, 400, "invalid-query", "cursor",
				    "cursor is not one this server issued");
			return -1;
		}
		after_due = store_rows_int(r, 0, 0, 0);
		store_rows_free(r);
	}
	r = store_query(tx, err,
			CALLBACK_ROW_SELECT
			"WHERE c.owner_id = ? AND c.state IN "
			"(" CALLBACK_OPEN_STATES ") AND (c.due_at > ? "
			"OR (c.due_at = ? AND c.id > ?)) ORDER BY "
			"c.due_at, c.id LIMIT ?",
			"iiiii", agent_id, after_due, after_due, after_id,
			limit);
	if (r == NULL)
		return -1;
	*out = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++) {
		const char *tz = store_rows_str(r, i, CALLBACK_COL_TZ);
		const char *email = store_rows_str(r, i, CALLBACK_COL_EMAIL);
		json_t *o = json_pack(
			"{s:I, s:I, s:s, s:s, s:b, s:o, s:I, s:{s:s, s:s, "
			"s:o, s:s}}",
			"id",
			(json_int_t)store_rows_int(r, i, CALLBACK_COL_ID, 0),
			"case_id",
			(json_int_t)store_rows_int(r, i, CALLBACK_COL_CASE, 0),
			"state", store_rows_str(r, i, CALLBACK_COL_STATE),
			"topic", store_rows_str(r, i, CALLBACK_COL_TOPIC),
			"asap", (int)store_rows_int(r, i, CALLBACK_COL_ASAP, 0),
			"due_at",
			api_time(store_rows_int(r, i, CALLBACK_COL_DUE, 0),
				 NULL),
			"attempts",
			(json_int_t)store_rows_int(r, i, CALLBACK_COL_ATTEMPTS,
						   0),
			"customer", "name",
			store_rows_str(r, i, CALLBACK_COL_CNAME), "phone",
			store_rows_str(r, i, CALLBACK_COL_PHONE), "email",
			email ? json_string(email) : json_null(), "timezone",
			tz);
		json_object_set_new(
			o, "due_at_local",
			api_time(store_rows_int(r, i, CALLBACK_COL_DUE, 0),
				 tz));
		json_object_set_new(o, "priority",
				    json_integer(store_rows_int(
					    r, i, CALLBACK_COL_PRIORITY, 0)));
		json_array_append_new(*out, o);
	}
	store_rows_free(r);
	return 0;
}
