/*
 * cases.h: the case, a customer's "one long conversation": the timeline of
 * their callbacks, attempts, notes, handoffs and messages, and the notes
 * agents write (append-only: a correction is a new note pointing at the
 * old one).
 */
#ifndef CBD_CASES_H
#define CBD_CASES_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/* The case with its whole timeline in order. 404 when unknown. */
int cases_get(struct store_tx *tx, int64_t id, json_t **out,
	      struct cbd_err *err) CBD_MUSTCHECK;
/* Append a note; corrects (0: none) must be a note of the same case. */
int cases_add_note(struct store_tx *tx, int64_t case_id, const char *actor,
		   const char *text, int64_t corrects, json_t **out,
		   struct cbd_err *err) CBD_MUSTCHECK;
/* A customer (by E.164 phone) and a page of their cases, newest first:
 * ids below before_id (0: from the newest); 404 when unknown. */
int cases_by_phone(struct store_tx *tx, const char *phone, int64_t before_id,
		   int64_t limit, json_t **out, int64_t *last_id,
		   struct cbd_err *err) CBD_MUSTCHECK;
/*
 * For queue items: add "case_summary" {last_outcome, last_note} and
 * "handoff_note" (the latest handoff event's note, when the callback changed
 * owner) to each item of the array (items carry "case_id" and "id"), with
 * one query for the whole page.
 */
int cases_annotate(struct store_tx *tx, json_t *items,
		   struct cbd_err *err) CBD_MUSTCHECK;

#endif
