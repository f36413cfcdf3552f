/*
 * optout.h: who said STOP. A number's opt-out is kept in the database
 * (sms_optouts: when, by which word, through which gateway) and read by
 * the outbox right before each text goes, so a STOP received by any
 * instance stops a text that any other instance queued. Staff see it on
 * the customer (sms_opted_out) beside phone_undeliverable, the flag
 * delivery receipts raise.
 */
#ifndef CBD_OPTOUT_H
#define CBD_OPTOUT_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;

/* Record phone (E.164) as opted out (is_out 1) or back in (0). */
int optout_set(struct store_tx *tx, const char *phone, int is_out,
	       const char *word, const char *source,
	       struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Outbox, inside its claim: of the n SMS outbox rows ids, mark those for
 * a number that opted out 'suppressed' (not sent, never retried). The
 * number is the payload's "to", or else the callback's customer's. Their
 * ids go to *out (caller frees; NULL when none), their count to *nout.
 * Two statements whatever n. Returns 0, or -1 with err.
 */
int optout_suppress_claimed(struct store_tx *tx, const int64_t *ids, size_t n,
			    int64_t **out, size_t *nout,
			    struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Add sms_opted_out, phone_undeliverable and phone_undeliverable_error to
 * a customer object of a staff answer (its "phone" says whose).
 */
int optout_annotate(struct store_tx *tx, json_t *customer,
		    struct cbd_err *err) CBD_MUSTCHECK;
/*
 * The same for every item of a page of callbacks ({id, customer}), in one
 * statement: ids is their ids as "1,2,3" (our own integers).
 */
int optout_annotate_callbacks(struct store_tx *tx, json_t *items,
			      const char *ids,
			      struct cbd_err *err) CBD_MUSTCHECK;
/* Opted-out numbers after the phone after (NULL: from the start), in
 * phone order: {items: [{phone, word, source, at}], next_cursor}. */
int optout_list(struct store_tx *tx, int64_t limit, const char *after,
		json_t **out, struct cbd_err *err) CBD_MUSTCHECK;

#endif
