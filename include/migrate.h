/*
 * migrate.h: schema migrations. schema/NNNN_name.sql files are compiled into
 * the binary (build-aux/embed-sql.sh) and applied in order at start-up, each
 * recorded in schema_version. A database newer than the binary is refused.
 */
#ifndef CBD_MIGRATE_H
#define CBD_MIGRATE_H

#include "common.h"

struct config;
struct store_tx;

struct migrate_step {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migrate_step migrate_steps[];
extern const int migrate_step_count;

/* The newest version this binary knows. */
int migrate_latest(void);
/* Bring the database up to date (one connection, serialised across
 * instances by a lease row). Returns 0, or -1 with err set. */
int migrate_run(const struct config *cfg, struct cbd_err *err) CBD_MUSTCHECK;
/* Inside a job: the database's current version, or -1 with err. */
int migrate_current(struct store_tx *tx, struct cbd_err *err) CBD_MUSTCHECK;

#endif
