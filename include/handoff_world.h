/*
 * handoff_world.h: who is there to take a call. One snapshot, read in the
 * caller's transaction, of the active agents (team, load, rostered or
 * not), their shifts over a window and who has worked which case; and the
 * pick that ranks them. Every ownership decision (a lead's plan, the
 * planner, coverage) reads the same snapshot the same way, so a dry run
 * and the real run agree.
 *
 * Reading order for ownership: handoff_world (who is there) ->
 * handoff_plan (who gets what, and why) -> handoff_apply (the writes) ->
 * handoff_planner (when: the timer and its pass) -> handoff_notes (the
 * notes as agents and leads read them) -> coverage (what leads see ahead
 * and behind: at risk, overdue).
 */
#ifndef CBD_HANDOFF_WORLD_H
#define CBD_HANDOFF_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct store_tx;
struct store_rows;
struct shift_plan;

struct handoff_agent {
	int64_t id;
	char team[64];
	char name[104];  /* display name */
	int is_rostered; /* has shift rules; else always on duty */
	/* due times of the agent's open callbacks in the world's window,
	 * ascending, with what a plan gave them and without what it took */
	int64_t *dues;
	size_t ndues, capdues;
};

/* A routing queue as ownership decisions read it (routing_queue.h). */
struct handoff_queue {
	int64_t id;
	char name[65];
	char tz[65];     /* its site's zone: reasons say times there */
	char needs[200]; /* "billing, lang:es" */
};

/* Everything a plan is computed from. */
struct handoff_world {
	struct handoff_agent *agents; /* ascending id */
	size_t nagents;
	struct shift_plan *plan;
	/* agents who worked each case: pairs sorted by case id */
	int64_t (*worked)[2];
	size_t nworked;
	/* routing: queues, and (queue id, agent id) pairs sorted, for every
	 * active agent with all the skills of a queue */
	struct handoff_queue *queues; /* ascending id */
	size_t nqueues;
	int64_t (*skilled)[2];
	size_t nskilled;
};

/*
 * Load agents, shifts over [from, to) and who worked which of the cases of
 * callbacks (rows from callback_load_many; NULL: none). Clear w after,
 * whatever the result.
 */
int handoff_world_load(struct store_tx *tx, struct handoff_world *w,
		       int64_t from, int64_t to,
		       const struct store_rows *callbacks,
		       struct cbd_err *err) CBD_MUSTCHECK;
void handoff_world_clear(struct handoff_world *w);
/* The agent with this id, or NULL (unknown or inactive). */
struct handoff_agent *handoff_world_agent(const struct handoff_world *w,
					  int64_t id);
/* A plan gives a call due at due_at to a, or takes one from it: later
 * picks in the same plan see the work it already moved. a may be NULL. */
void handoff_world_give(struct handoff_agent *a, int64_t due_at);
void handoff_world_take(struct handoff_agent *a, int64_t due_at);
/* On duty at t (NULL: no). */
int handoff_world_on_duty(const struct handoff_world *w,
			  const struct handoff_agent *a, int64_t t);
/* May agent_id take calls of routing queue queue_id (0: the default queue,
 * which needs no skills: yes)? */
int handoff_world_skilled(const struct handoff_world *w, int64_t queue_id,
			  int64_t agent_id);
/*
 * Why nobody can take a call of queue_id at t: "nobody with lang:es on
 * duty until Tue 14:00 (Europe/London)", the time being when the first
 * agent with the skills is next on duty, in the queue's site zone.
 */
void handoff_world_gap(const struct handoff_world *w, int64_t queue_id,
		       int64_t t, char *buf, size_t size);
/* Has agent_id claimed, called, owned or been handed case_id before? */
int handoff_world_worked(const struct handoff_world *w, int64_t case_id,
			 int64_t agent_id);
/*
 * The best agent other than from to own case_id's call at t, or NULL when
 * nobody else is on duty then. Only agents with the skills of routing
 * queue queue_id are candidates. Ranked by (1) staying on duty at least
 * handle_sec past t (one leaving sooner would only pass it on again),
 * (2) has worked this case, (3) least busy shift with it added: (open
 * calls due in their stretch on duty around t + 1) / its length, as the
 * booking pick (slots.c), (4) same team as from, (5) lowest id.
 */
struct handoff_agent *handoff_world_pick(const struct handoff_world *w,
					 int64_t queue_id, int64_t case_id,
					 int64_t from, int64_t t,
					 int64_t handle_sec);
/*
 * For a call already due: the agent other than from on duty at now with
 * the most of their shift left, never one leaving within min_left seconds
 * (the handle time); ties as handoff_world_pick, the work being the calls
 * waiting now and the rest of the stretch against the time left. NULL
 * when nobody is.
 */
struct handoff_agent *handoff_world_pick_late(const struct handoff_world *w,
					      int64_t queue_id, int64_t case_id,
					      int64_t from, int64_t now,
					      int64_t min_left);

/* Comparators for int64_t values and (key, value) pairs, used to sort and
 * search id lists here and in the other handoff modules. */
int handoff_cmp_int(const void *a, const void *b);
int handoff_cmp_pair(const void *a, const void *b);

#endif
