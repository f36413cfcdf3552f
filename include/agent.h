/*
 * agent.h: the people who make the calls: their rows and their load
 * counter (open_count, kept in the same transaction as every change of a
 * callback's owner or openness; slots.c and handoff_world.c choose owners).
 */
#ifndef CBD_AGENT_H
#define CBD_AGENT_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

struct agent_fields {
	const char *name; /* unique login-style name */
	const char *display_name;
	const char *email;    /* NULL: none */
	const char *timezone; /* IANA */
	const char *team;
	int64_t capacity; /* callbacks per slot; -1: unchanged */
	int is_active;    /* -1: unchanged */
	/* without shift rules: on duty around the clock (1) or never (0);
	 * -1: unchanged (create: agents_without_shifts) */
	int on_duty_without_shifts;
};

/*
 * SQL: is agent row a (an alias) rostered, i.e. on duty only inside its
 * shifts? Yes when it has shift rules, and also when it has none and is
 * not on duty without them (then it is never on duty).
 */
#define AGENT_ROSTERED_SQL(a)                                                  \
	"(" a ".on_duty_without_shifts = 0 OR EXISTS (SELECT 1 FROM shifts "   \
	"s WHERE s.agent_id = " a ".id))"

/* Insert; *out is the agent as JSON. 409 when the name is taken. */
int agent_insert(struct store_tx *tx, const struct agent_fields *f,
		 json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* Change the given (non-NULL / non-negative) fields. 404 when unknown. */
int agent_update(struct store_tx *tx, int64_t id, const struct agent_fields *f,
		 json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* The agent as JSON, or 404. */
int agent_get(struct store_tx *tx, int64_t id, json_t **out,
	      struct cbd_err *err) CBD_MUSTCHECK;
/* A page of agents by id. */
int agent_list(struct store_tx *tx, int64_t after_id, int64_t limit,
	       json_t **items, int64_t *last_id,
	       struct cbd_err *err) CBD_MUSTCHECK;
/* Add delta to the agent's open_count. */
int agent_add_load(struct store_tx *tx, int64_t id, int delta,
		   struct cbd_err *err) CBD_MUSTCHECK;

#endif
