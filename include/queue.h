/*
 * queue.h: the agent's side of the state machine: claiming calls, leases
 * that return forgotten claims to the queue, and outcomes with the retry
 * policy applied.
 */
#ifndef CBD_QUEUE_H
#define CBD_QUEUE_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct event_base;
struct config;
struct store_pool;
struct store_tx;
struct callback_caller;
struct queue_janitor;

/*
 * Claim the agent's next due callback: in_progress, leased to them.
 * SKIP LOCKED means concurrent claims (other instances included) never
 * get the same one. *out is NULL when nothing is due.
 */
int queue_claim_next(struct store_tx *tx, const struct config *cfg,
		     int64_t agent_id, json_t **out,
		     struct cbd_err *err) CBD_MUSTCHECK;
/* Claim a given callback: its owner, or a lead/admin. Renews own lease. */
int queue_claim(struct store_tx *tx, const struct config *cfg, int64_t id,
		const struct callback_caller *who, json_t **out,
		struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Record the outcome of the attempt in progress: reached, no_answer, busy,
 * wrong_number or reschedule (with when). Only the claimant or a lead/admin;
 * a second outcome for the same attempt is 409.
 */
int queue_outcome(struct store_tx *tx, const struct config *cfg, int64_t id,
		  const struct callback_caller *who, const char *result,
		  const char *note, int64_t when, json_t **out,
		  struct cbd_err *err) CBD_MUSTCHECK;
/*
 * The agent's queue version (schema 0014): moved by triggers in the same
 * transaction as anything the queue page shows, 0 before the first change.
 * One small range read (the agent's few rows).
 */
int queue_version(struct store_tx *tx, int64_t agent_id, uint64_t *version,
		  struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Move the queue version of every agent owning a callback of the customer
 * with this phone: for writers of customers, which no trigger watches.
 */
int queue_versions_touch_phone(struct store_tx *tx, const char *phone,
			       struct cbd_err *err) CBD_MUSTCHECK;
/* Return claims whose lease ran out to the queue; *n how many. */
int queue_expire_leases(struct store_tx *tx, int *n,
			struct cbd_err *err) CBD_MUSTCHECK;

/* The loop timer that runs queue_expire_leases. */
struct queue_janitor *queue_janitor_new(struct event_base *base,
					struct store_pool *pool);
void queue_janitor_free(struct queue_janitor *j); /* NULL ok */

#endif
