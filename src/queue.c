/*
 * queue.c: claims, leases and outcomes.
 *
 * A claim moves a callback to in_progress with claimed_by and lease_until
 * set; the row lock plus SKIP LOCKED make concurrent claims safe across
 * threads and daemon instances on one database server. On a Galera cluster
 * row locks do not reach other nodes: there the claim's change of state is
 * what makes two nodes' claims of one row conflict at certification, and
 * the loser is run again by the store (see queue_take). An outcome ends the
 * attempt: the state leaves in_progress in the same statement that checks it
 * was there, so a second outcome for one attempt finds nothing to end (409). A
 * claim whose lease runs out without an outcome goes back to the queue, with an
 * audit event saying so.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agent.h"
#include "api.h"
#include "callback.h"
#include "callback_row.h"
#include "clock.h"
#include "config.h"
#include "event_hooks.h"
#include "handoff_apply.h"
#include "handoff_plan.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "roster.h"
#include "routing_queue.h"
#include "shift.h"
#include "slots.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

#define QUEUE_JANITOR_SEC 5

static int
queue_answer(struct store_tx *tx, const struct config *cfg, int64_t id,
	     json_t **out, struct cbd_err *err)
{
	struct callback_caller staff = { HTTP_ROLE_ADMIN, 0, NULL, NULL };
	struct store_rows *r;

	if (callback_get(tx, cfg, id, &staff, out, err) != 0)
		return -1;
	r = store_query(tx, err,
			"SELECT claimed_by, lease_until FROM callbacks WHERE "
			"id = ?",
			"i", id);
	if (r == NULL) {
		json_decref(*out);
		return -1;
	}
	if (store_rows_str(r, 0, 1) != NULL) {
		json_object_set_new(*out, "claimed_by",
				    json_integer(store_rows_int(r, 0, 0, 0)));
		json_object_set_new(*out, "lease_until",
				    api_time(store_rows_int(r, 0, 1, 0), NULL));
	}
	store_rows_free(r);
	return 0;
}

/*
 * Claim callback id for agent_id. The row was locked and found open (or
 * already ours: was_open 0); the UPDATE names the states it expects and
 * must change the row. On Galera the lock excluded only claimers on this
 * node: the state change is what certification compares, and a row that
 * no longer matches means another node's claim won, so the store retries.
 */
static int
queue_take(struct store_tx *tx, const struct config *cfg, int64_t id,
	   int64_t case_id, int64_t agent_id, const char *actor, int was_open,
	   struct cbd_err *err)
{
	int64_t now = clock_now(), n;

	n = store_exec(tx, err,
		       "UPDATE callbacks SET state = 'in_progress', "
		       "claimed_by = ?, lease_until = ?, updated_at = ?, "
		       "first_attempt_at = COALESCE(first_attempt_at, ?), "
		       "first_due_at = COALESCE(first_due_at, due_at) "
		       "WHERE id = ? AND (state IN ('pending','scheduled',"
		       "'retry_wait') OR (state = 'in_progress' AND "
		       "claimed_by = ?))",
		       "iiiiii", agent_id, now + cfg->claim_lease_sec, now, now,
		       id, agent_id);
	if (n < 0)
		return -1;
	if (was_open && n != 1)
		return store_conflict(tx, err, "claim");
	if (callback_event(tx, case_id, id, "claimed", actor,
			   json_pack("{s:I, s:I}", "agent_id",
				     (json_int_t)agent_id, "lease_until",
				     (json_int_t)(now + cfg->claim_lease_sec)),
			   err) != 0)
		return -1;
	return event_hooks_emit(
		tx, cfg, "callback.claimed", id,
		json_pack("{s:I, s:I, s:I, s:o}", "callback_id", (json_int_t)id,
			  "case_id", (json_int_t)case_id, "agent_id",
			  (json_int_t)agent_id, "lease_until",
			  api_time(now + cfg->claim_lease_sec, NULL)),
		err);
}

/* How many of the owner's due calls, in priority order, a claim tries to
 * lock one by one before it falls back to plain due order. */
#define QUEUE_NEXT_CANDIDATES 64

/*
 * The next call in priority order that no concurrent claim holds: *id 0
 * when every candidate is taken. The candidates come from a plain read
 * (no locks) ordered by effective priority, then age: the booked priority
 * plus a level per priority_ageing_min waited (routing_queue.h), so with
 * equal priorities this is due order, and a low priority is never passed
 * over for ever. Each is then locked alone with SKIP LOCKED, still open:
 * a locking read ordered by an expression would sort, and so lock, every
 * due row, and concurrent claims would all find nothing.
 */
static int
queue_next_by_priority(struct store_tx *tx, const struct config *cfg,
		       int64_t agent_id, int64_t *id, int64_t *case_id,
		       struct cbd_err *err)
{
	int64_t now = clock_now();
	struct store_rows *r, *k;

	*id = 0;
	r = store_query(tx, err,
			"SELECT c.id FROM callbacks c FORCE INDEX "
			"(callbacks_owner_due) "
			"WHERE c.owner_id = ? AND c.due_at <= ? AND c.state IN "
			"('pending','scheduled','retry_wait') ORDER "
			"BY " ROUTING_EFFECTIVE_SQL
			" DESC, c.due_at, c.id LIMIT ?",
			"iiiii", agent_id, now + cfg->claim_ahead_sec, now,
			(int64_t)cfg->priority_ageing_min * 60,
			(int64_t)QUEUE_NEXT_CANDIDATES);
	if (r == NULL)
		return -1;
	for (size_t i = 0; *id == 0 && i < store_rows_count(r); i++) {
		k = store_query(
			tx, err,
			"SELECT id, case_id FROM callbacks WHERE id = ? "
			"AND state IN ('pending','scheduled',"
			"'retry_wait') FOR UPDATE SKIP LOCKED",
			"i", store_rows_int(r, i, 0, 0));
		if (k == NULL) {
			store_rows_free(r);
			return -1;
		}
		if (store_rows_count(k) > 0) {
			*id = store_rows_int(k, 0, 0, 0);
			*case_id = store_rows_int(k, 0, 1, 0);
		}
		store_rows_free(k);
	}
	store_rows_free(r);
	return 0;
}

int
queue_claim_next(struct store_tx *tx, const struct config *cfg,
		 int64_t agent_id, json_t **out, struct cbd_err *err)
{
	struct store_rows *r;
	char actor[40];
	int64_t id = 0, case_id = 0;

	*out = NULL;
	if (queue_next_by_priority(tx, cfg, agent_id, &id, &case_id, err) != 0)
		return -1;
	/* Every candidate taken: walk the owner's calls in due order
	 * (callbacks_owner_due) and stop at the first free one; rows of
	 * other states are read and released (READ COMMITTED), rows another
	 * claim holds are skipped, so one claim locks one row and concurrent
	 * claims never wait or collide. */
	if (id == 0) {
		r = store_query(
			tx, err,
			"SELECT id, case_id FROM callbacks FORCE INDEX "
			"(callbacks_owner_due) WHERE owner_id = ? AND due_at "
			"<= "
			"? AND state IN ('pending','scheduled','retry_wait') "
			"ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
			"ii", agent_id, clock_now() + cfg->claim_ahead_sec);
		if (r == NULL)
			return -1;
		if (store_rows_count(r) > 0) {
			id = store_rows_int(r, 0, 0, 0);
			case_id = store_rows_int(r, 0, 1, 0);
		}
		store_rows_free(r);
	}
	if (id == 0)
		return 0;
	snprintf(actor, sizeof(actor), "agent:%lld", (long long)agent_id);
	if (queue_take(tx, cfg, id, case_id, agent_id, actor, 1, err) != 0)
		return -1;
	log_info("callback claimed", "id=%lld agent=%lld", (long long)id,
		 (long long)agent_id);
	return queue_answer(tx, cfg, id, out, err);
}

/* Lock one callback: owner, state, claimed_by, case, attempts; 404. */
static struct store_rows *
queue_lock(struct store_tx *tx, int64_t id, struct cbd_err *err)
{
	return store_query_one(
		tx, err, "callback",
		"SELECT owner_id, state, claimed_by, case_id, "
		"attempts FROM callbacks WHERE id = ? FOR UPDATE",
		"i", id);
}

int
queue_claim(struct store_tx *tx, const struct config *cfg, int64_t id,
	    const struct callback_caller *who, json_t **out,
	    struct cbd_err *err)
{
	struct store_rows *r;
	int64_t owner, claimer, holder, case_id;
	const char *state;
	int rc = -1;

	r = queue_lock(tx, id, err);
	if (r == NULL)
		return -1;
	owner = store_rows_int(r, 0, 0, 0);
	state = store_rows_str(r, 0, 1);
	holder = store_rows_int(r, 0, 2, 0);
	case_id = store_rows_int(r, 0, 3, 0);
	if (who->role == HTTP_ROLE_AGENT && owner != who->agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "only the owner or a lead may claim this callback");
		goto out;
	}
	/* A lead without an agent of their own claims for the owner. */
	claimer = who->agent_id > 0 ? who->agent_id : owner;
	if (!strcmp(state, "in_progress") && holder != claimer) {
		cbd_err_set(err, 409, "already-claimed", "",
			    "agent %lld is on this call", (long long)holder);
		goto out;
	}
	if (strcmp(state, "in_progress") && strcmp(state, "pending") &&
	    strcmp(state, "scheduled") && strcmp(state, "retry_wait")) {
		cbd_err_set(err, 409, "not-open", "",
			    "a callback that is %s cannot be claimed", state);
		goto out;
	}
	if (queue_take(tx, cfg, id, case_id, claimer, who->actor,
		       strcmp(state, "in_progress") != 0, err) != 0 ||
	    queue_answer(tx, cfg, id, out, err) != 0)
		goto out;
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

#define QUEUE_RETRY_STEPS 64 /* jumps before giving up */
#define QUEUE_RETRY_DAYS  14 /* how far a retry may be pushed */

/*
 * When to try again after no answer: retry_delay_sec from now, then the
 * first moment from there when every rule holds: the owner is on shift
 * (agents without shifts are always on), the site is open, and it is not
 * the customer's quiet hours in their zone (a retry is a call, and a call
 * at 05:00 is worse than a late one). Each failing rule jumps to where it
 * may start to hold (the shift's start, the opening, the end of the quiet
 * hours, each computed in its own zone, so DST is theirs), and the rules
 * are checked again from there. If nothing fits within two weeks the plain
 * delay stands and the planner sees an owner off duty.
 */
static int
queue_retry_time(struct store_tx *tx, const struct config *cfg, int64_t owner,
		 const char *tz, int64_t *t, struct cbd_err *err)
{
	struct shift_plan *plan = NULL;
	int64_t first = clock_now() + cfg->retry_delay_sec;
	int64_t limit = first + QUEUE_RETRY_DAYS * 86400, at = first;
	struct store_rows *a;
	int is_rostered;

	*t = first;
	/* Rostered: on duty inside shifts only (agent.h's one rule); with
	 * no shift ahead the plain delay stands and the planner finds the
	 * call a new owner. */
	a = store_query_one(tx, err, "agent",
			    "SELECT " AGENT_ROSTERED_SQL(
				    "a") " FROM agents a WHERE a.id = ?",
			    "i", owner);
	if (a == NULL)
		return -1;
	is_rostered = store_rows_int(a, 0, 0, 1) != 0;
	store_rows_free(a);
	if (is_rostered && roster_load_plan(tx, owner, first - 86400,
					    limit + 86400, &plan, err) != 0)
		return -1;
	for (int i = 0; i < QUEUE_RETRY_STEPS && at > 0 && at <= limit; i++) {
		int64_t quiet_end;

		if (is_rostered && !shift_plan_on_duty(plan, owner, at)) {
			at = shift_plan_next_start(plan, owner, at);
			continue;
		}
		if (!slots_is_open(cfg, at, 0)) {
			at = slots_next_open(cfg, at, limit);
			continue;
		}
		quiet_end = notify_quiet_end(cfg, tz, at);
		if (quiet_end != at) {
			at = quiet_end;
			continue;
		}
		*t = at;
		break;
	}
	shift_plan_free(plan);
	return 0;
}

/* Is b on another calendar day than a, in zone tz? */
static int
queue_is_other_day(int64_t a, int64_t b, const char *tz)
{
	char da[16], db[16];

	timefmt_strftime(a, tz, "%Y-%m-%d", da, sizeof(da));
	timefmt_strftime(b, tz, "%Y-%m-%d", db, sizeof(db));
	return strcmp(da, db) != 0;
}

/* callback.attempted for every outcome, and callback.failed when it was
 * the last attempt (or a wrong number): what leads' systems follow. */
static int
queue_outcome_hooks(struct store_tx *tx, const struct config *cfg, int64_t id,
		    int64_t case_id, int64_t agent_id, const char *result,
		    const char *note, int attempt, const char *next_state,
		    int64_t next_at, struct cbd_err *err)
{
	json_t *d = json_pack(
		"{s:I, s:I, s:I, s:s, s:i, s:s, s:o, s:o}", "callback_id",
		(json_int_t)id, "case_id", (json_int_t)case_id, "agent_id",
		(json_int_t)agent_id, "outcome", result, "attempt", attempt,
		"state", next_state, "note",
		note ? json_string(note) : json_null(), "next_at",
		next_at > 0 ? api_time(next_at, NULL) : json_null());

	if (event_hooks_emit(tx, cfg, "callback.attempted", id, d, err) != 0)
		return -1;
	if (strcmp(next_state, "failed") != 0)
		return 0;
	return event_hooks_emit(
		tx, cfg, "callback.failed", id,
		json_pack("{s:I, s:I, s:I, s:s, s:i}", "callback_id",
			  (json_int_t)id, "case_id", (json_int_t)case_id,
			  "agent_id", (json_int_t)agent_id, "outcome", result,
			  "attempts", attempt),
		err);
}

int
queue_outcome(struct store_tx *tx, const struct config *cfg, int64_t id,
	      const struct callback_caller *who, const char *result,
	      const char *note, int64_t when, json_t **out, struct cbd_err *err)
{
	struct store_rows *r;
	int64_t now = clock_now(), owner, holder, case_id, due = 0;
	const char *next_state;
	int attempts, is_open_after, event = -1, rc = -1;
	int64_t moved_to = 0;

	r = queue_lock(tx, id, err);
	if (r == NULL)
		return -1;
	owner = store_rows_int(r, 0, 0, 0);
	holder = store_rows_int(r, 0, 2, 0);
	case_id = store_rows_int(r, 0, 3, 0);
	attempts = (int)store_rows_int(r, 0, 4, 0) + 1;
	if (who->role == HTTP_ROLE_AGENT &&
	    (holder != who->agent_id ||
	     strcmp(store_rows_str(r, 0, 1), "in_progress") != 0) &&
	    owner != who->agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "only the agent on the call or a lead may record "
			    "its outcome");
		goto out;
	}
	if (strcmp(store_rows_str(r, 0, 1), "in_progress") != 0) {
		cbd_err_set(err, 409, "no-attempt-in-progress", "",
			    "the callback is %s: claim it before recording "
			    "an outcome",
			    store_rows_str(r, 0, 1));
		goto out;
	}
	if (who->role == HTTP_ROLE_AGENT && holder != who->agent_id) {
		cbd_err_set(err, 403, "forbidden", "",
			    "agent %lld is on this call", (long long)holder);
		goto out;
	}

	if (!strcmp(result, "reached")) {
		next_state = "completed";
		event = NOTIFY_COMPLETED;
	} else if (!strcmp(result, "no_answer") || !strcmp(result, "busy")) {
		if (attempts >= cfg->max_attempts) {
			next_state = "failed";
		} else {
			struct store_rows *c = store_query(
				tx, err,
				"SELECT COALESCE(c.contact_tz, cu.timezone), "
				"c.due_at FROM callbacks c "
				"JOIN customers cu ON cu.id = c.customer_id "
				"WHERE c.id = ?",
				"i", id);
			int qrc;

			if (c == NULL)
				goto out;
			next_state = "retry_wait";
			qrc = queue_retry_time(tx, cfg, owner,
					       store_rows_str(c, 0, 0), &due,
					       err);
			/* A retry on another day than the customer expects
			 * is news: the invite and a text say when. */
			if (qrc == 0 &&
			    queue_is_other_day(store_rows_int(c, 0, 1, 0), due,
					       store_rows_str(c, 0, 0)))
				event = NOTIFY_RETRY;
			store_rows_free(c);
			if (qrc != 0)
				goto out;
		}
	} else if (!strcmp(result, "wrong_number")) {
		next_state = "failed";
	} else { /* reschedule, checked by the caller */
		struct store_rows *tz = store_query(
			tx, err,
			"SELECT COALESCE(c.contact_tz, cu.timezone), "
			"COALESCE(c.queue_id, 0), c.case_id FROM "
			"callbacks c JOIN customers cu "
			"ON cu.id = c.customer_id WHERE c.id = ?",
			"i", id);
		int64_t new_owner = 0;
		int prc;

		if (tz == NULL)
			goto out;
		prc = callback_place(tx, cfg, store_rows_int(tz, 0, 1, 0),
				     store_rows_int(tz, 0, 2, 0), 0, when,
				     owner, id, store_rows_str(tz, 0, 0),
				     &new_owner, err);
		store_rows_free(tz);
		if (prc != 0)
			goto out;
		moved_to = new_owner != owner ? new_owner : 0;
		next_state = "scheduled";
		due = when;
		event = NOTIFY_RESCHEDULED;
	}
	is_open_after = !strcmp(next_state, "retry_wait") ||
			!strcmp(next_state, "scheduled");
	if (store_exec(tx, err,
		       "UPDATE callbacks SET state = ?, attempts = ?, "
		       "claimed_by = NULL, lease_until = NULL, due_at = "
		       "IF(? > 0, ?, due_at), is_asap = IF(? = 'scheduled', 0,"
		       " is_asap), ics_sequence = ics_sequence + IF(? > 0, 1, "
		       "0), updated_at = ? WHERE id = ? AND state = "
		       "'in_progress'",
		       "siiisiii", next_state, (int64_t)attempts, due, due,
		       next_state, due, now, id) < 0)
		goto out;
	if (!is_open_after && agent_add_load(tx, owner, -1, err) != 0)
		goto out;
	{
		json_t *body =
			json_pack("{s:s, s:i, s:s, s:I}", "result", result,
				  "attempt", attempts, "state", next_state,
				  "agent_id", (json_int_t)holder);
		if (note != NULL)
			json_object_set_new(body, "note", json_string(note));
		if (due > 0)
			json_object_set_new(body, "next_at", json_integer(due));
		if (callback_event(tx, case_id, id, "attempt", who->actor, body,
				   err) != 0 ||
		    queue_outcome_hooks(tx, cfg, id, case_id, holder, result,
					note, attempts, next_state, due,
					err) != 0)
			goto out;
	}
	/* A reschedule the owner cannot take moves the call, as a handoff;
	 * the customer's "rescheduled" text then names the new agent (and
	 * replaces the handoff's own text: one text, the final state). */
	if (moved_to > 0) {
		struct handoff_note hn = { note ? note
						: "Rescheduled on a call.",
					   "Call at the new time.",
					   "Rescheduled to a time the owner is "
					   "not available." };
		if (handoff_apply_move(tx, cfg, id, case_id, due, owner,
				       moved_to, &hn, "reschedule", who->actor,
				       err) != 0)
			goto out;
	}
	if (event >= 0 && callback_notify(tx, cfg, id, event, NULL, err) != 0)
		goto out;
	if (queue_answer(tx, cfg, id, out, err) != 0)
		goto out;
	log_info("outcome recorded", "id=%lld result=%s state=%s attempt=%d",
		 (long long)id, result, next_state, attempts);
	rc = 0;
out:
	store_rows_free(r);
	return rc;
}

int
queue_expire_leases(struct store_tx *tx, int *n, struct cbd_err *err)
{
	struct store_rows *r;
	int64_t now = clock_now();
	size_t k;

	*n = 0;
	r = store_query(
		tx, err,
		"SELECT id, case_id, claimed_by, is_asap, attempts FROM "
		"callbacks WHERE state = 'in_progress' AND lease_until "
		"< ? LIMIT 500 FOR UPDATE SKIP LOCKED",
		"i", now);
	if (r == NULL)
		return -1;
	k = store_rows_count(r);
	for (size_t i = 0; i < k; i++) {
		int64_t id = store_rows_int(r, i, 0, 0);
		/* Back to where it was before the claim: ASAP calls to
		 * pending, booked times to scheduled, retries to retry. */
		const char *state = store_rows_int(r, i, 4, 0) > 0
					    ? "retry_wait"
				    : store_rows_int(r, i, 3, 0) ? "pending"
								 : "scheduled";

		int64_t changed = store_exec(
			tx, err,
			"UPDATE callbacks SET state = ?, claimed_by = NULL, "
			"lease_until = NULL, updated_at = ? WHERE id = ? AND "
			"state = 'in_progress'",
			"sii", state, now, id);

		if (changed == 0)
			changed = store_conflict(tx, err, "lease expiry");
		if (changed < 0 ||
		    callback_event(
			    tx, store_rows_int(r, i, 1, 0), id, "lease_expired",
			    "system",
			    json_pack("{s:I, s:s}", "agent_id",
				      (json_int_t)store_rows_int(r, i, 2, 0),
				      "returned_to", state),
			    err) != 0) {
			store_rows_free(r);
			return -1;
		}
	}
	store_rows_free(r);
	*n = (int)k;
	return 0;
}

/* ---- the lease janitor: a loop timer submitting expiry jobs ---- */

struct queue_janitor {
	struct store_pool *pool;
	struct event *tick;
	int is_running; /* a job is out */
	int last_n;
};

static int
queue_janitor_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct queue_janitor *j = arg;

	return queue_expire_leases(tx, &j->last_n, err);
}

static void
queue_janitor_done(void *arg, int rc, struct cbd_err *err)
{
	struct queue_janitor *j = arg;

	j->is_running = 0;
	if (rc != 0)
		log_warn("lease expiry failed", "error=\"%s\"", err->detail);
	else if (j->last_n > 0)
		log_info("leases expired", "n=%d", j->last_n);
}

static void
queue_janitor_tick(evutil_socket_t fd, short what, void *arg)
{
	struct queue_janitor *j = arg;

	(void)fd;
	(void)what;
	if (j->is_running)
		return;
	j->is_running = 1;
	if (store_submit(j->pool, queue_janitor_work, queue_janitor_done, j) !=
	    0)
		j->is_running = 0;
}

struct queue_janitor *
queue_janitor_new(struct event_base *base, struct store_pool *pool)
{
	struct queue_janitor *j = xcalloc(1, sizeof(*j));
	struct timeval tv = { QUEUE_JANITOR_SEC, 0 };

	j->pool = pool;
	j->tick = event_new(base, -1, EV_PERSIST, queue_janitor_tick, j);
	event_add(j->tick, &tv);
	return j;
}

void
queue_janitor_free(struct queue_janitor *j)
{
	if (j == NULL)
		return;
	event_free(j->tick);
	free(j);
}

int
queue_version(struct store_tx *tx, int64_t agent_id, uint64_t *version,
	      struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT COALESCE(SUM(version), 0) FROM queue_versions WHERE "
		"agent_id = ?",
		"i", agent_id);

	if (r == NULL)
		return -1;
	*version =
		store_rows_count(r) ? (uint64_t)store_rows_int(r, 0, 0, 0) : 0;
	store_rows_free(r);
	return 0;
}

int
queue_versions_touch_phone(struct store_tx *tx, const char *phone,
			   struct cbd_err *err)
{
	return store_exec(
		       tx, err,
		       "INSERT INTO queue_versions (agent_id, slot, version) "
		       "SELECT DISTINCT c.owner_id, CONNECTION_ID() % 8, 1 "
		       "FROM customers cu "
		       "JOIN callbacks c ON c.customer_id = cu.id WHERE "
		       "cu.phone = ? ON DUPLICATE KEY UPDATE version = "
		       "version + 1",
		       "s", phone) < 0
		       ? -1
		       : 0;
}
