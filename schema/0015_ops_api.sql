-- callbackd schema, version 15: what operators and leads asked for.
--
-- An agent without shift rules is on duty only when the flag says so. Rows
-- from before this version keep the around-the-clock duty they had (an
-- upgrade must not silently make agents unbookable); agents created from
-- now on get the flag from agents_without_shifts (default: off duty).
ALTER TABLE agents
  ADD COLUMN IF NOT EXISTS on_duty_without_shifts TINYINT NOT NULL DEFAULT 1;
ALTER TABLE agents ALTER COLUMN on_duty_without_shifts SET DEFAULT 0;

-- Who changed access or nudged the outbox, and when: API keys created or
-- revoked, messages requeued. Append-only, like events.
CREATE TABLE IF NOT EXISTS staff_audit (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor VARCHAR(100) NOT NULL,
  action VARCHAR(32) NOT NULL,
  subject_id BIGINT UNSIGNED NULL,
  body MEDIUMTEXT NOT NULL,
  KEY staff_audit_at (at, id),
  KEY staff_audit_action (action, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A case closed after case_close_days without an open callback; a customer
-- who comes back gets a new case that names the old one.
ALTER TABLE cases
  ADD COLUMN IF NOT EXISTS previous_case_id BIGINT UNSIGNED NULL;
CREATE INDEX IF NOT EXISTS cases_open ON cases (is_open, id);

-- A lead's key names the team the lead runs: such a lead may create and
-- revoke agent keys for agents of that team (admins: any key).
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS team VARCHAR(64) NULL;
