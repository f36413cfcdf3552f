-- callbackd schema, version 2: shifts and time off.
CREATE TABLE shifts (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  agent_id BIGINT UNSIGNED NOT NULL,
  tz VARCHAR(64) NOT NULL,
  start_local CHAR(19) NOT NULL,
  duration_sec INT NOT NULL,
  rrule VARCHAR(255) NOT NULL DEFAULT '',
  exdates VARCHAR(512) NOT NULL DEFAULT '',
  source VARCHAR(16) NOT NULL DEFAULT 'api',
  import_uid VARCHAR(128) NULL,
  created_at BIGINT NOT NULL,
  KEY shifts_agent (agent_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

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
