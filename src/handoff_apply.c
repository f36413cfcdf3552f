/*
 * handoff_apply.c: the writes of a change of owner, set-based so that a
 * lead moving thousands of calls is still one short transaction: one
 * UPDATE per new owner, one load change per agent, one multi-row INSERT
 * for the handoff rows and one for the case events, and the customers'
 * messages batched in the outbox.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback_row.h"
#include "changefeed.h"
#include "clock.h"
#include "event_hooks.h"
#include "config.h"
#include "handoff_apply.h"
#include "handoff_plan.h"
#include "handoff_world.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "store.h"
#include "xalloc.h"

/* Ids of items moving (to to_agent; 0: to anyone) as "1,2,3" (ints only,
 * callback ids or their case ids); NULL when none. */
static char *
handoff_apply_id_list(const struct handoff_plan *p, int64_t to_agent,
		      int use_case)
{
	char *s = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&s, &len);

	for (size_t i = 0; i < p->n; i++) {
		if (p->items[i].to_agent <= 0 ||
		    (to_agent > 0 && p->items[i].to_agent != to_agent))
			continue;
		fprintf(f, "%s%lld", n++ ? "," : "",
			(long long)(use_case ? p->items[i].case_id
					     : p->items[i].callback_id));
	}
	fclose(f);
	if (n == 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The new owner of one group of callbacks and of their cases. */
static int
handoff_apply_owner(struct store_tx *tx, const struct handoff_plan *p,
		    int64_t to, int64_t now, struct cbd_err *err)
{
	char *list = handoff_apply_id_list(p, to, 0), *sql;
	int rc = -1;

	sql = xasprintf("UPDATE callbacks SET owner_id = ?, ics_sequence = "
			"ics_sequence + 1, updated_at = ? WHERE id IN (%s)",
			list);
	if (store_exec_built(tx, err, sql, "ii", to, now) < 0)
		goto out;
	free(sql);
	free(list);
	list = handoff_apply_id_list(p, to, 1);
	sql = xasprintf("UPDATE cases SET owner_id = ? WHERE id IN (%s)", list);
	if (store_exec_built(tx, err, sql, "i", to) < 0)
		goto out;
	rc = 0;
out:
	free(sql);
	free(list);
	return rc;
}

/* Owners, grouped by new owner: one UPDATE each. */
static int
handoff_apply_owners(struct store_tx *tx, const struct handoff_plan *p,
		     int64_t now, struct cbd_err *err)
{
	int64_t *targets = xcalloc(p->n + 1, sizeof(int64_t));
	size_t ntargets = 0;
	int rc = -1;

	for (size_t i = 0; i < p->n; i++)
		if (p->items[i].to_agent > 0)
			targets[ntargets++] = p->items[i].to_agent;
	qsort(targets, ntargets, sizeof(int64_t), handoff_cmp_int);
	for (size_t i = 0; i < ntargets; i++) {
		if (i > 0 && targets[i - 1] == targets[i])
			continue;
		if (handoff_apply_owner(tx, p, targets[i], now, err) != 0)
			goto out;
	}
	rc = 0;
out:
	free(targets);
	return rc;
}

/* Loads: what each agent gains and loses, one UPDATE per agent. */
static int
handoff_apply_loads(struct store_tx *tx, const struct handoff_plan *p,
		    struct cbd_err *err)
{
	int64_t(*delta)[2] = xcalloc(p->n * 2 + 1, sizeof(*delta));
	size_t nd = 0;
	int rc = -1;

	for (size_t i = 0; i < p->n; i++) {
		int64_t who[2] = { p->items[i].to_agent,
				   p->items[i].from_agent };
		if (who[0] <= 0)
			continue;
		for (int s = 0; s < 2; s++) {
			size_t k;
			for (k = 0; k < nd && delta[k][0] != who[s]; k++)
				;
			if (k == nd) {
				delta[nd][0] = who[s];
				delta[nd][1] = 0;
				nd++;
			}
			delta[k][1] += s == 0 ? 1 : -1;
		}
	}
	for (size_t k = 0; k < nd; k++) {
		if (delta[k][1] == 0)
			continue;
		if (store_exec(tx, err,
			       "UPDATE agents SET open_count = GREATEST(0, "
			       "CAST(open_count AS SIGNED) + ?) WHERE id = ?",
			       "ii", delta[k][1], delta[k][0]) < 0)
			goto out;
	}
	rc = 0;
out:
	free(delta);
	return rc;
}

/*
 * The notes: a handoff row and a case event per move. Fills moved (ids)
 * and from_of ((id, previous owner), sorted by id) for the messages.
 */
static int
handoff_apply_notes(struct store_tx *tx, const struct handoff_plan *p,
		    const struct handoff_note *note, const char *kind,
		    const char *author, int64_t now, int64_t *moved,
		    int64_t (*from_of)[2], size_t *nmoved, struct cbd_err *err)
{
	struct store_batch *hb, *eb;
	int rc = -1;

	hb = store_batch_new("INSERT INTO handoffs (callback_id, case_id, "
			     "from_agent, to_agent, kind, author, reason, "
			     "summary, next_step, due_at, at) VALUES",
			     "iiiisssssii");
	eb = store_batch_new("INSERT INTO events (case_id, callback_id, kind, "
			     "actor, body, at) VALUES",
			     "iisssi");
	*nmoved = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct handoff_item *it = &p->items[i];
		const char *summary, *next_step, *reason;
		json_t *body;
		char *s;

		if (it->to_agent <= 0)
			continue;
		summary = it->summary ? it->summary : note->summary;
		next_step = it->next_step ? it->next_step : note->next_step;
		reason = it->reason ? it->reason : note->reason;
		const char *k = it->kind ? it->kind : kind;

		store_batch_add(hb, it->callback_id, it->case_id,
				it->from_agent, it->to_agent, k, author, reason,
				summary, next_step, it->due_at, now);
		body = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "from",
				 (json_int_t)it->from_agent, "to",
				 (json_int_t)it->to_agent, "kind", k, "author",
				 author, "reason", reason, "summary", summary,
				 "next_step", next_step);
		s = json_dumps(body, JSON_COMPACT);
		store_batch_add(eb, it->case_id, it->callback_id, "handoff",
				author, s, now);
		free(s);
		json_decref(body);
		from_of[*nmoved][0] = it->callback_id;
		from_of[*nmoved][1] = it->from_agent;
		moved[(*nmoved)++] = it->callback_id;
	}
	qsort(from_of, *nmoved, sizeof(*from_of), handoff_cmp_pair);
	if (store_batch_flush(tx, hb, err) != 0 ||
	    store_batch_flush(tx, eb, err) != 0)
		goto out;
	rc = 0;
out:
	store_batch_free(hb);
	store_batch_free(eb);
	return rc;
}

/*
 * Minutes until the owner reaches a call already due: the calls ahead of
 * it in their queue (due earlier, or being made now) and this one, at
 * avg_handle_sec each, rounded up to 5 minutes.
 */
static int
handoff_apply_eta_min(struct store_tx *tx, const struct config *cfg,
		      int64_t owner, int64_t id, int64_t due_at, int *minutes,
		      struct cbd_err *err)
{
	struct store_rows *r;
	int64_t ahead, sec;

	r = store_query(tx, err,
			"SELECT COUNT(*) FROM (SELECT 1 FROM callbacks WHERE "
			"owner_id = ? AND id <> ? AND (state = 'in_progress' "
			"OR (state IN (" HANDOFF_OPEN ") AND (due_at < ? OR "
			"(due_at = ? AND id < ?)))) LIMIT 1000) q",
			"iiiii", owner, id, due_at, due_at, id);
	if (r == NULL)
		return -1;
	ahead = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	sec = (ahead + 1) * (int64_t)cfg->avg_handle_sec;
	*minutes = (int)(((sec + 299) / 300) * 5);
	return 0;
}

/* Tell each customer who will call now, from the rows as they are. */
static int
handoff_apply_tell(struct store_tx *tx, const struct config *cfg,
		   const int64_t *moved, int64_t (*from_of)[2], size_t nmoved,
		   struct cbd_err *err)
{
	struct store_rows *cbs = NULL, *names = NULL;
	int rc = -1;

	cbs = callback_load_many(tx, moved, nmoved, err);
	if (cbs == NULL)
		goto out;
	names = store_query(tx, err, "SELECT id, display_name FROM agents", "");
	if (names == NULL)
		goto out;
	for (size_t i = 0; i < store_rows_count(cbs); i++) {
		struct notify_ctx nc;
		int64_t key[2] = { store_rows_int(cbs, i, CALLBACK_COL_ID, 0),
				   0 };
		int64_t from = 0;
		int64_t(*hit)[2];

		callback_ctx_at(cbs, i, &nc);
		if (handoff_is_late(cfg, nc.is_asap, nc.start, clock_now()) &&
		    handoff_apply_eta_min(tx, cfg, nc.owner_id, nc.callback_id,
					  nc.start, &nc.late_eta_min, err) != 0)
			goto out;
		/* Sorted by id, so the first pair with the id is found by
		 * comparing the id alone. */
		hit = bsearch(key, from_of, nmoved, sizeof(*from_of),
			      handoff_cmp_int);
		if (hit != NULL)
			from = (*hit)[1];
		for (size_t k = 0; k < store_rows_count(names); k++)
			if (store_rows_int(names, k, 0, 0) == from)
				nc.prev_owner_name =
					store_rows_str(names, k, 1);
		if (notify_change(tx, cfg, &nc, NOTIFY_OWNER_CHANGED, err) != 0)
			goto out;
	}
	rc = 0;
out:
	store_rows_free(cbs);
	store_rows_free(names);
	return rc;
}

/* The owner changes on the change feed, for the consoles of both owners. */
static int
handoff_apply_feed(struct store_tx *tx, int64_t (*from_of)[2], size_t nmoved,
		   struct cbd_err *err)
{
	int64_t *ids = xcalloc(nmoved + 1, sizeof(int64_t));
	int64_t *from = xcalloc(nmoved + 1, sizeof(int64_t));
	int rc;

	for (size_t i = 0; i < nmoved; i++) {
		ids[i] = from_of[i][0];
		from[i] = from_of[i][1];
	}
	rc = changefeed_record_moves(tx, ids, from, nmoved, err);
	free(ids);
	free(from);
	return rc;
}

int
handoff_apply_plan(struct store_tx *tx, const struct config *cfg,
		   const struct handoff_plan *p,
		   const struct handoff_note *note, const char *kind,
		   const char *author, struct cbd_err *err)
{
	int64_t now = clock_now(), *moved = NULL;
	int64_t(*from_of)[2] = NULL;
	size_t nmoved = 0;
	int rc = -1;

	outbox_batch_begin();
	moved = xcalloc(p->n + 1, sizeof(int64_t));
	from_of = xcalloc(p->n + 1, sizeof(*from_of));
	if (handoff_apply_owners(tx, p, now, err) != 0 ||
	    handoff_apply_loads(tx, p, err) != 0 ||
	    handoff_apply_notes(tx, p, note, kind, author, now, moved, from_of,
				&nmoved, err) != 0)
		goto out;
	if (nmoved > 0 &&
	    (handoff_apply_tell(tx, cfg, moved, from_of, nmoved, err) != 0 ||
	     handoff_apply_feed(tx, from_of, nmoved, err) != 0 ||
	     event_hooks_handoffs(tx, cfg, p, note, kind, author, err) != 0))
		goto out;
	if (outbox_batch_end(tx, err) != 0)
		goto out;
	if (nmoved > 0)
		log_info("handoffs applied", "n=%zu kind=%s author=%s", nmoved,
			 kind, author);
	rc = 0;
out:
	if (rc != 0)
		outbox_batch_abort();
	free(moved);
	free(from_of);
	return rc;
}

int
handoff_apply_move(struct store_tx *tx, const struct config *cfg,
		   int64_t callback_id, int64_t case_id, int64_t due_at,
		   int64_t from, int64_t to, const struct handoff_note *note,
		   const char *kind, const char *author, struct cbd_err *err)
{
	struct handoff_item it;
	struct handoff_plan p = { &it, 1 };

	memset(&it, 0, sizeof(it));
	it.callback_id = callback_id;
	it.case_id = case_id;
	it.due_at = due_at;
	it.from_agent = from;
	it.to_agent = to;
	return handoff_apply_plan(tx, cfg, &p, note, kind, author, err);
}
