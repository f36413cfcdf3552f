-- callbackd schema, version 5: several instances on a Galera cluster.
-- There row locks exclude only on one node; across nodes what excludes is
-- certification, and it sees only rows a transaction changes. So taking a
-- slot's lock row now bumps a counter (an upsert that changes nothing is
-- no lock there). Named locks are rows of the leases table, which the
-- migration runner creates before it runs any migration (it needs one).
ALTER TABLE slot_locks ADD COLUMN IF NOT EXISTS bumps BIGINT UNSIGNED NOT NULL DEFAULT 0;
