/*
 * lease.c: named leases as rows. See lease.h for the why.
 *
 * Taking a lease reads its row with FOR UPDATE SKIP LOCKED first: another
 * transaction on this node taking the same lease holds the row, and we
 * answer "held" at once instead of queueing behind it. Across nodes row
 * locks do not exist; there the UPDATE's changed generation is what
 * certification sees, so of two nodes taking one lease at once exactly one
 * commits and the other's transaction is retried by the store, and then
 * finds the lease held.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "clock.h"
#include "lease.h"
#include "log.h"
#include "store.h"

static char lease_me[128];
static pthread_once_t lease_me_once = PTHREAD_ONCE_INIT;

static void
lease_make_holder(void)
{
	unsigned char nonce[4] = { 0 };
	char host[64] = "localhost";

	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		log_fatal("no randomness", "source=RAND_bytes");
	snprintf(lease_me, sizeof(lease_me), "%.64s:%ld:%02x%02x%02x%02x", host,
		 (long)getpid(), nonce[0], nonce[1], nonce[2], nonce[3]);
}

const char *
lease_holder(void)
{
	pthread_once(&lease_me_once, lease_make_holder);
	return lease_me;
}

int
lease_ensure_table(struct store_tx *tx, struct cbd_err *err)
{
	return store_exec_raw(tx, err,
			      "CREATE TABLE IF NOT EXISTS leases ("
			      " name VARCHAR(64) NOT NULL PRIMARY KEY,"
			      " holder VARCHAR(128) NOT NULL DEFAULT '',"
			      " expires_at BIGINT NOT NULL DEFAULT 0,"
			      " generation BIGINT UNSIGNED NOT NULL DEFAULT 0"
			      ") ENGINE = InnoDB");
}

/* The lease row, locked; NULL with *busy set when a transaction on this
 * node holds it, NULL with err on failure. */
static struct store_rows *
lease_lock_row(struct store_tx *tx, const char *name, int *busy,
	       struct cbd_err *err)
{
	struct store_rows *r;

	*busy = 0;
	for (int pass = 0; pass < 2; pass++) {
		r = store_query(tx, err,
				"SELECT holder, expires_at FROM leases WHERE "
				"name = ? FOR UPDATE SKIP LOCKED",
				"s", name);
		if (r == NULL || store_rows_count(r) > 0)
			return r;
		store_rows_free(r);
		/* Missing, or locked here: a plain read tells which. */
		r = store_query(tx, err, "SELECT 1 FROM leases WHERE name = ?",
				"s", name);
		if (r == NULL)
			return NULL;
		if (store_rows_count(r) > 0) {
			store_rows_free(r);
			*busy = 1;
			return NULL;
		}
		store_rows_free(r);
		if (pass == 0 &&
		    store_exec(tx, err,
			       "INSERT IGNORE INTO leases (name) VALUES (?)",
			       "s", name) < 0)
			return NULL;
	}
	*busy = 1;
	return NULL;
}

/* Write holder and expiry; the generation bump is what certifies. */
static int
lease_write(struct store_tx *tx, const char *name, const char *holder,
	    int64_t expires_at, struct cbd_err *err)
{
	int64_t n = store_exec(tx, err,
			       "UPDATE leases SET holder = ?, expires_at = ?, "
			       "generation = generation + 1 WHERE name = ?",
			       "sis", holder, expires_at, name);

	if (n < 0)
		return -1;
	if (n != 1) {
		/* We hold the row lock: anything else is a broken table. */
		cbd_err_set(err, 500, "internal", "", "lease %s vanished",
			    name);
		return -1;
	}
	return 0;
}

static int
lease_get(struct store_tx *tx, const char *name, int ttl_sec, int must_hold,
	  struct cbd_err *err)
{
	int64_t now = clock_now();
	struct store_rows *r;
	const char *holder;
	int busy, mine, free_now;

	r = lease_lock_row(tx, name, &busy, err);
	if (r == NULL)
		return busy ? 0 : -1;
	holder = store_rows_str(r, 0, 0);
	mine = !strcmp(holder, lease_holder());
	free_now = holder[0] == '\0' || store_rows_int(r, 0, 1, 0) <= now;
	store_rows_free(r);
	if (must_hold ? !mine : !mine && !free_now)
		return 0;
	if (lease_write(tx, name, lease_holder(), now + ttl_sec, err) != 0)
		return -1;
	return 1;
}

int
lease_take(struct store_tx *tx, const char *name, int ttl_sec,
	   struct cbd_err *err)
{
	return lease_get(tx, name, ttl_sec, 0, err);
}

int
lease_renew(struct store_tx *tx, const char *name, int ttl_sec,
	    struct cbd_err *err)
{
	return lease_get(tx, name, ttl_sec, 1, err);
}

int
lease_release(struct store_tx *tx, const char *name, struct cbd_err *err)
{
	int64_t n = store_exec(tx, err,
			       "UPDATE leases SET holder = '', expires_at = 0, "
			       "generation = generation + 1 WHERE name = ? AND "
			       "holder = ?",
			       "ss", name, lease_holder());

	return n < 0 ? -1 : 0;
}
