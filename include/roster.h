/*
 * roster.h: agents' shifts and time off as stored rows: replace an agent's
 * shift rules, add absences, import a calendar, and load a shift_plan for a
 * window so the pure shift module can answer who is on duty when.
 */
#ifndef CBD_ROSTER_H
#define CBD_ROSTER_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;
struct shift_plan;

/*
 * A plan of every active agent's spans (agent_id 0) or one agent's within
 * [from, to), time off cut out. *out is the caller's to free.
 */
int roster_load_plan(struct store_tx *tx, int64_t agent_id, int64_t from,
		     int64_t to, struct shift_plan **out,
		     struct cbd_err *err) CBD_MUSTCHECK;

#endif
