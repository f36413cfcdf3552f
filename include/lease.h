/*
 * lease.h: named leases, so that work which must not run twice at once
 * (migrations, the handoff planner) runs on one instance at a time, even
 * when the instances talk to different nodes of a Galera cluster.
 *
 * A lease is a row (name, holder, expires_at, generation). Taking, renewing
 * and releasing it are UPDATEs that bump generation: real writes, so two
 * nodes taking it at once conflict at certification and one of them
 * retries. GET_LOCK and row locks alone exclude only on one node. expires_at
 * comes from clock_now(); a holder that dies loses the lease when it runs
 * out. A lease is held once the caller's transaction commits.
 */
#ifndef CBD_LEASE_H
#define CBD_LEASE_H

#include <stdint.h>

#include "common.h"

struct store_tx;

/* Create the leases table if it is missing (DDL: commits). */
int lease_ensure_table(struct store_tx *tx, struct cbd_err *err) CBD_MUSTCHECK;
/* This process's holder name: "host:pid:nonce", made once. */
const char *lease_holder(void);
/*
 * Take name for ttl_sec, or renew it if we hold it already. Returns 1 when
 * taken (commit to publish it), 0 when another holder has it and it has not
 * run out (or a transaction on this node is taking it right now), -1 with
 * err set on failure.
 */
int lease_take(struct store_tx *tx, const char *name, int ttl_sec,
	       struct cbd_err *err) CBD_MUSTCHECK;
/* Extend a lease we hold: 1 renewed, 0 no longer ours, -1 err. */
int lease_renew(struct store_tx *tx, const char *name, int ttl_sec,
		struct cbd_err *err) CBD_MUSTCHECK;
/* Give up a lease we hold (no-op if we do not): 0, or -1 with err. */
int lease_release(struct store_tx *tx, const char *name,
		  struct cbd_err *err) CBD_MUSTCHECK;

#endif
