-- callbackd schema, version 2: shifts and time off.

-- Shift rules as people write them: a local start in an IANA zone, a
-- wall-clock duration and an optional RRULE; src/shift.c expands them.
-- source is 'api' (PUT /v1/agents/{id}/shifts) or 'import' (a calendar
-- file, with the event's UID in import_uid); a re-import replaces only the
-- agent's 'import' rows.
CREATE TABLE shifts (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  agent_id BIGINT UNSIGNED NOT NULL,
  tz VARCHAR(64) NOT NULL,
  -- "YYYY-MM-DDTHH:MM:SS" local time; sorts like time, which the roster's
  -- window query relies on.
  start_local CHAR(19) NOT NULL,
  duration_sec INT NOT NULL,
  rrule VARCHAR(255) NOT NULL DEFAULT '',
  -- Comma-separated local start times to skip.
  exdates VARCHAR(512) NOT NULL DEFAULT '',
  source VARCHAR(16) NOT NULL DEFAULT 'api',
  import_uid VARCHAR(128) NULL,
  created_at BIGINT NOT NULL,
  KEY shifts_agent (agent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Absences, UTC [from_at, to_at), at most 90 days each (the roster's
-- window query relies on that bound).
CREATE TABLE time_off (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  agent_id BIGINT UNSIGNED NOT NULL,
  from_at BIGINT NOT NULL,
  to_at BIGINT NOT NULL,
  reason VARCHAR(200) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  KEY time_off_agent (agent_id, from_at),
  KEY time_off_window (from_at, to_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
