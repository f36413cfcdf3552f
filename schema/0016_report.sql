-- callbackd schema, version 16: the leads' callback report.
--
-- The promise a callback's first call attempt answered to: its due time
-- when it was first claimed. due_at moves on after that (a retry after no
-- answer, a reschedule on the call), so "kept on time" is judged against
-- this. NULL until the first attempt.
ALTER TABLE callbacks ADD COLUMN IF NOT EXISTS first_due_at BIGINT NULL;
