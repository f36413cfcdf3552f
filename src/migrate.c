/*
 * migrate.c: apply the compiled-in migrations. DDL commits implicitly in
 * MariaDB, so each migration's statements run one by one and the version
 * row is written after the last; a migration that fails half-way is
 * reported and must be fixed by hand (they are small and additive).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "migrate.h"
#include "store.h"
#include "xalloc.h"

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

/* Run each ";"-terminated statement of sql in turn. */
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
		if (*s != '\0')
			rc = store_exec_raw(tx, err, s);
		if (end == NULL)
			break;
		p = end + 2;
	}
	free(copy);
	return rc;
}

static int
migrate_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	int cur, rc = -1;

	(void)arg;
	/* Several instances may start together: one migrates, the others
	 * wait here and then find nothing left to do. */
	if (store_exec_raw(tx, err,
			   "SELECT GET_LOCK('callbackd_migrate', 60)") != 0)
		return -1;
	if (store_exec_raw(tx, err,
			   "CREATE TABLE IF NOT EXISTS schema_version ("
			   " version INT NOT NULL PRIMARY KEY,"
			   " name VARCHAR(200) NOT NULL,"
			   " applied_at BIGINT NOT NULL) ENGINE = InnoDB") != 0)
		goto out;
	cur = migrate_current(tx, err);
	if (cur < 0)
		goto out;
	if (cur > migrate_latest()) {
		cbd_err_set(err, 500, "schema-too-new", "",
			    "database schema is version %d, this callbackd "
			    "knows up to %d: upgrade callbackd",
			    cur, migrate_latest());
		goto out;
	}
	for (int i = 0; i < migrate_step_count; i++) {
		const struct migrate_step *m = &migrate_steps[i];

		if (m->version <= cur)
			continue;
		log_info("applying migration", "version=%d name=%s", m->version,
			 m->name);
		if (migrate_exec_script(tx, m->sql, err) != 0)
			goto out;
		if (store_exec(tx, err,
			       "INSERT INTO schema_version (version, name, "
			       "applied_at) VALUES (?, ?, ?)",
			       "isi", (int64_t)m->version, m->name,
			       clock_now()) < 0)
			goto out;
		/* Make the version row durable before the next DDL. */
		if (store_exec_raw(tx, err, "COMMIT") != 0)
			goto out;
	}
	rc = 0;
out:
	if (store_exec_raw(tx, err,
			   "SELECT RELEASE_LOCK('callbackd_migrate')") != 0)
		rc = -1;
	return rc;
}

int
migrate_run(const struct config *cfg, struct cbd_err *err)
{
	return store_run_once(cfg, migrate_work, NULL, err);
}
