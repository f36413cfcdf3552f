/*
 * handoff_notes.h: handoff notes as people read them: the agent's given
 * and received handoffs, annotating a note until its call starts, and the
 * audit trail of every ownership change.
 */
#ifndef CBD_HANDOFF_NOTES_H
#define CBD_HANDOFF_NOTES_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/*
 * One page of those lists (is_given: gave, else received), in due order:
 * by (due_at, id), after handoff after_id (0: from the start); handoff
 * rows never change those two, so the order is stable under paging.
 */
int handoff_notes_of_agent_page(struct store_tx *tx, int64_t agent_id,
				int is_given, int64_t after_id, int64_t limit,
				json_t **items, int64_t *last_id,
				struct cbd_err *err) CBD_MUSTCHECK;
/* Handoffs an agent gave (still open to annotation) and received. */
int handoff_notes_of_agent(struct store_tx *tx, int64_t agent_id, json_t **out,
			   struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Add to a handoff's note until its call starts: by the agent who handed it
 * over (agent_id) or a lead (agent_id 0).
 */
int handoff_notes_annotate(struct store_tx *tx, int64_t id, int64_t agent_id,
			   const char *annotation, const char *next_step,
			   json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* Ownership changes of a callback or involving an agent, newest first. */
int handoff_notes_audit(struct store_tx *tx, int64_t callback_id,
			int64_t agent_id, int64_t before_id, int64_t limit,
			json_t **items, int64_t *last_id,
			struct cbd_err *err) CBD_MUSTCHECK;

#endif
