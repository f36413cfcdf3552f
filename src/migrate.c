/*
 * migrate.c: apply the compiled-in migrations. DDL commits implicitly in
 * MariaDB, so each migration's statements run one by one and the version
 * row is written after the last. Statements are safe to repeat (see
 * migrate_exec_script), so a migration that failed half-way is finished by
 * the next start; one that fails for another reason is reported.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "lease.h"
#include "log.h"
#include "migrate.h"
#include "store.h"
#include "xalloc.h"

#define MIGRATE_LEASE     "migrate"
#define MIGRATE_LEASE_SEC 120 /* renewed after each step */

int
migrate_latest(void)
{
	return migrate_step_count > 0
		       ? migrate_steps[migrate_step_count - 1].version
		       : 0;
}

int
migrate_current(struct store_tx *tx, struct cbd_err *err)
{
	struct store_rows *r;
	int v;

	r = store_query(tx, err,
			"SELECT COALESCE(MAX(version), 0) FROM schema_version",
			"");
	if (r == NULL)
		return -1;
	v = (int)store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	return v;
}

/*
 * Run each ";"-terminated statement of sql in turn. A statement finding its
 * object there already (a table, column or index: 1050, 1060, 1061) counts
 * as done: another instance whose lease ran out may have got this far, or a
 * half-applied migration is being finished. So every step is safe to repeat,
 * as if each CREATE said IF NOT EXISTS.
 */
static int
migrate_exec_script(struct store_tx *tx, const char *sql, struct cbd_err *err)
{
	char *copy = xstrdup(sql), *p = copy;
	int rc = 0;

	while (rc == 0 && *p != '\0') {
		char *end = strstr(p, ";\n");
		char *s;

		if (end != NULL)
			*end = '\0';
		/* Skip blank and comment-only chunks. */
		s = p;
		for (;;) {
			s += strspn(s, " \t\r\n");
			if (strncmp(s, "--", 2) != 0)
				break;
			s = strchr(s, '\n');
			if (s == NULL) {
				s = "";
				break;
			}
		}
		if (*s != '\0' && store_exec_raw(tx, err, s) != 0) {
			unsigned e = store_errno(tx);
			if (e == 1050 || e == 1060 || e == 1061) {
				log_info("migration statement done already",
					 "errno=%u", e);
				cbd_err_clear(err);
			} else
				rc = -1;
		}
		if (end == NULL)
			break;
		p = end + 2;
	}
	free(copy);
	return rc;
}

/*
 * Is step m recorded? Steps are applied when missing, not only when newer
 * than the newest recorded: migrations from branches developed side by side
 * may be numbered below one a database already has. 1 yes, 0 no, -1 err.
 */
static int
migrate_has(struct store_tx *tx, const struct migrate_step *m,
	    struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err, "SELECT 1 FROM schema_version WHERE version = ?", "i",
		(int64_t)m->version);
	int has;

	if (r == NULL)
		return -1;
	has = store_rows_count(r) > 0;
	store_rows_free(r);
	return has;
}

/* How many known steps the database lacks; -1 with err. */
static int
migrate_missing(struct store_tx *tx, struct cbd_err *err)
{
	int n = 0;

	for (int i = 0; i < migrate_step_count; i++) {
		int has = migrate_has(tx, &migrate_steps[i], err);
		if (has < 0)
			return -1;
		n += !has;
	}
	return n;
}

/*
 * Take the migration lease, or wait while another instance holds it; each
 * try commits on its own, so the lease is visible to the others. Returns 1
 * with the lease held, 0 when the schema became current meanwhile (another
 * instance migrated), -1 with err.
 */
static int
migrate_take_lease(struct store_tx *tx, struct cbd_err *err)
{
	int64_t start = clock_mono_ms();

	for (;;) {
		int got, missing;

		missing = migrate_missing(tx, err);
		if (missing < 0)
			return -1;
		if (missing == 0)
			return 0;
		got = lease_take(tx, MIGRATE_LEASE, MIGRATE_LEASE_SEC, err);
		if (got < 0 || store_exec_raw(tx, err, "COMMIT") != 0)
			return -1;
		if (got == 1)
			return 1;
		if (clock_mono_ms() - start > 1000LL * 2 * MIGRATE_LEASE_SEC) {
			cbd_err_set(err, 503, "migration-busy", "",
				    "another instance holds the migration "
				    "lease");
			return -1;
		}
		usleep(200 * 1000);
	}
}

/* Apply the missing steps in order, recording each; the lease is renewed
 * after each so a long migration keeps it. */
static int
migrate_apply(struct store_tx *tx, struct cbd_err *err)
{
	for (int i = 0; i < migrate_step_count; i++) {
		const struct migrate_step *m = &migrate_steps[i];
		int has = migrate_has(tx, m, err);

		if (has < 0)
			return -1;
		if (has)
			continue;
		log_info("applying migration", "version=%d name=%s", m->version,
			 m->name);
		if (migrate_exec_script(tx, m->sql, err) != 0)
			return -1;
		/* IGNORE: an instance that lost the lease mid-step may have
		 * recorded it too; that is the same outcome. */
		if (store_exec(tx, err,
			       "INSERT IGNORE INTO schema_version (version, "
			       "name, applied_at) VALUES (?, ?, ?)",
			       "isi", (int64_t)m->version, m->name,
			       clock_now()) < 0)
			return -1;
		if (lease_renew(tx, MIGRATE_LEASE, MIGRATE_LEASE_SEC, err) < 0)
			return -1;
		/* Make the version row durable before the next DDL. */
		if (store_exec_raw(tx, err, "COMMIT") != 0)
			return -1;
	}
	return 0;
}

/*
 * Several instances may start together, each on another Galera node: one
 * takes the lease row and migrates, the others wait and then find nothing
 * left to do. GET_LOCK would not do: it is local to one node.
 */
static int
migrate_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	int cur, held, rc = -1;

	(void)arg;
	store_commits_itself(tx);
	if (store_exec_raw(tx, err,
			   "CREATE TABLE IF NOT EXISTS schema_version ("
			   " version INT NOT NULL PRIMARY KEY,"
			   " name VARCHAR(200) NOT NULL,"
			   " applied_at BIGINT NOT NULL) ENGINE = InnoDB") !=
		    0 ||
	    lease_ensure_table(tx, err) != 0)
		return -1;
	cur = migrate_current(tx, err);
	if (cur < 0)
		return -1;
	if (cur > migrate_latest()) {
		cbd_err_set(err, 500, "schema-too-new", "",
			    "database schema is version %d, this callbackd "
			    "knows up to %d: upgrade callbackd",
			    cur, migrate_latest());
		return -1;
	}
	held = migrate_take_lease(tx, err);
	if (held < 0)
		return -1;
	/* Nothing left to do. If this is the retry of a run whose release
	 * lost a certification conflict (another node taking the lease at
	 * that moment), the lease is still ours: give it back, or it would
	 * stay held until it runs out. A no-op when another holds it. */
	if (held == 0)
		return lease_release(tx, MIGRATE_LEASE, err);
	if (migrate_apply(tx, err) == 0)
		rc = 0;
	/* On failure the lease runs out by itself; on success give it back
	 * now, in the transaction the store commits. */
	if (rc == 0 && lease_release(tx, MIGRATE_LEASE, err) != 0)
		rc = -1;
	return rc;
}

int
migrate_run(const struct config *cfg, struct cbd_err *err)
{
	return store_run_once(cfg, migrate_work, NULL, err);
}
