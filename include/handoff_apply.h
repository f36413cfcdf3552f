/*
 * handoff_apply.h: carrying out a change of owner.
 *
 * Invariant: every open callback has exactly one owner, and every change of
 * owner writes, in the same transaction as the change itself, a handoff
 * row with its note, a case event, the load counters and the customer's
 * message ("Sam will call you at 15:00; Sam has Alex's notes").
 */
#ifndef CBD_HANDOFF_APPLY_H
#define CBD_HANDOFF_APPLY_H

#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;
struct handoff_plan;
struct handoff_note;

/*
 * Carry out a plan: owners, loads, handoff rows with the note (note, or
 * each item's drafted note), case events and the customers' messages.
 * kind is "lead", "planned" ...; author who made it ("lead:3", "planner").
 */
int handoff_apply_plan(struct store_tx *tx, const struct config *cfg,
		       const struct handoff_plan *p,
		       const struct handoff_note *note, const char *kind,
		       const char *author, struct cbd_err *err) CBD_MUSTCHECK;
/* Move one callback (already locked by the caller) with a note. */
int handoff_apply_move(struct store_tx *tx, const struct config *cfg,
		       int64_t callback_id, int64_t case_id, int64_t due_at,
		       int64_t from, int64_t to,
		       const struct handoff_note *note, const char *kind,
		       const char *author, struct cbd_err *err) CBD_MUSTCHECK;

#endif
