/*
 * skills.h: what each agent can do, a skill name with a level from 1
 * (learning) to 5 (expert). Languages are skills ("lang:es"). Leads set
 * them; routing (routing_queue.h) reads them through ROUTING_SKILLED_SQL.
 */
#ifndef CBD_SKILLS_H
#define CBD_SKILLS_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/* Check a body {"skills": [{"skill", "level"}]} (pure: runs on the loop). */
int skills_check(json_t *body, struct cbd_err *err) CBD_MUSTCHECK;
/* Replace agent_id's skills with body's; 404 for an unknown agent.
 * *out as skills_get. */
int skills_put(struct store_tx *tx, int64_t agent_id, json_t *body,
	       json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* {"agent_id", "skills": [{"skill", "level"}]}; 404 for an unknown agent. */
int skills_get(struct store_tx *tx, int64_t agent_id, json_t **out,
	       struct cbd_err *err) CBD_MUSTCHECK;

#endif
