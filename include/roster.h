/*
 * roster.h: agents' shifts and time off as stored rows: replace an agent's
 * shift rules, add absences, import a calendar, and load a shift_plan for a
 * window so the pure shift module can answer who is on duty when.
 *
 * Every function here runs on a store thread inside the caller's
 * transaction; the ones that change rows lock the agent's row first, so two
 * writers of one agent's roster queue instead of interleaving.
 */
#ifndef CBD_ROSTER_H
#define CBD_ROSTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct store_tx;
struct shift_plan;
struct shift_rule;
struct ics_import_event;

#define ROSTER_MAX_RULES 50 /* shift rules per agent, all sources */
/* Overlap checks expand rules over this many days past now (and past the
 * latest future start): five weeks cover every weekly pattern. */
#define ROSTER_CHECK_DAYS 35
/* The check window ends at most this far past now (plus
 * ROSTER_CHECK_DAYS); spans of rules starting later are not compared,
 * which bounds the work one request can cause. */
#define ROSTER_CHECK_MAX_AHEAD_DAYS 366
#define ROSTER_MAX_OFF_SEC          (90 * 86400) /* longest single absence */
#define ROSTER_MAX_REASON_CHARS     200

/*
 * A plan of every active agent's spans (agent_id 0) or one agent's (active
 * or not) within [from, to), time off cut out. Two queries, whatever the
 * number of agents. A stored rule that no longer expands (a zone dropped
 * from the tz database) is logged and left out rather than failing every
 * caller. *out is the caller's to free.
 */
int roster_load_plan(struct store_tx *tx, int64_t agent_id, int64_t from,
		     int64_t to, struct shift_plan **out,
		     struct cbd_err *err) CBD_MUSTCHECK;

/* 1 when the agent exists, 0 when not, -1 with err set. */
int roster_agent_exists(struct store_tx *tx, int64_t agent_id,
			struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Replace all of an agent's shift rules (whatever their source) with rules
 * in one step. A rule with tz "" takes the agent's timezone; rules[i].tz,
 * .agent_id and, once stored, .id are written back. Refuses with 404 for
 * an unknown agent, 400 "too-many-shifts" over ROSTER_MAX_RULES, a rule's
 * shift_rule_validate error with the field as "shifts[i].start" etc., or
 * 400 "overlapping-shifts" (field "shifts[j]") when two spans overlap.
 */
int roster_replace_shifts(struct store_tx *tx, int64_t agent_id,
			  struct shift_rule *rules, size_t n,
			  struct cbd_err *err) CBD_MUSTCHECK;

/*
 * The agent's rules, oldest first, as a JSON array of {id, start, duration,
 * rrule, tz, exdates, source, import_uid}. 404 when the agent is unknown.
 */
int roster_shifts_json(struct store_tx *tx, int64_t agent_id, json_t **out,
		       struct cbd_err *err) CBD_MUSTCHECK;

/* The agent's spans touching [from, to), time off cut out, as a JSON array
 * of {start, end} in RFC 3339 UTC. */
int roster_spans_json(struct store_tx *tx, int64_t agent_id, int64_t from,
		      int64_t to, json_t **out,
		      struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Find the first overlap among rules, adding them in order as a person
 * would. Pure: no SQL. Rules are expanded over [now - 1 day, max(now,
 * latest future start) + ROSTER_CHECK_DAYS); overlaps before that are in
 * the past and harmless. Returns 0 when none overlap; 1 when rule *b,
 * being added, overlaps an earlier rule *a (or itself: *a == *b) from *at,
 * UTC; -1 with err set when rule *b does not expand.
 */
int roster_find_overlap(const struct shift_rule *rules, size_t n, int64_t now,
			size_t *a, size_t *b, int64_t *at,
			struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Record an absence, UTC [from, to): 404 unknown agent, 400 "invalid-range"
 * (field "to") unless from < to <= from + ROSTER_MAX_OFF_SEC. reason may be
 * NULL. *out is the row as JSON {id, agent_id, from, to, reason,
 * created_at}.
 */
int roster_time_off_add(struct store_tx *tx, int64_t agent_id, int64_t from,
			int64_t to, const char *reason, json_t **out,
			struct cbd_err *err) CBD_MUSTCHECK;
/* A page of the agent's absences ending after since, by id (> after_id). */
int roster_time_off_list(struct store_tx *tx, int64_t agent_id, int64_t since,
			 int64_t after_id, int64_t limit, json_t **items,
			 int64_t *last_id, struct cbd_err *err) CBD_MUSTCHECK;
/* Remove one absence of the agent; 404 when there is no such row. */
int roster_time_off_delete(struct store_tx *tx, int64_t agent_id,
			   int64_t time_off_id,
			   struct cbd_err *err) CBD_MUSTCHECK;

/*
 * Store parsed calendar events as shifts. Each event's agent text is
 * matched (case-insensitively) against agents' name, then email, then
 * display_name; for each agent with at least one acceptable event, that
 * agent's imported rules (source 'import') are replaced by the accepted
 * events, which get the same checks as roster_replace_shifts against the
 * agent's other rules. Events are accepted in file order, so of two
 * overlapping events the first wins. With is_dry_run nothing is written.
 * *out: {imported, rejected, dry_run, events: [{index, uid, agent,
 * agent_id, status: "imported" or "rejected", error}]}.
 */
int roster_import(struct store_tx *tx, const struct ics_import_event *events,
		  size_t n, int is_dry_run, json_t **out,
		  struct cbd_err *err) CBD_MUSTCHECK;

/* Mark the roster changed (in the changing transaction): cached plans of
 * every instance are rebuilt at their next read. */
int roster_bump(struct store_tx *tx, struct cbd_err *err) CBD_MUSTCHECK;
/* Drop this process's cached plan (at exit, for leak checkers). */
void roster_cache_clear(void);

#endif
