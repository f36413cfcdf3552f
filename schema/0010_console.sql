-- callbackd schema, version 10: the web console's sign-in, sessions and the
-- change feed that server push (Server-Sent Events) follows. Safe to repeat.
--
-- A sign-in link carries a one-time token; only its SHA-256 is kept. It
-- signs in as an agent (issued by a lead or admin) or as the key of the
-- lead or admin who asked for it. The row is the audit of who issued it,
-- when, and when it was used.
CREATE TABLE IF NOT EXISTS signin_links (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  token_hash CHAR(64) NOT NULL,
  role ENUM('admin', 'lead', 'agent') NOT NULL,
  agent_id BIGINT UNSIGNED NULL,
  key_id BIGINT UNSIGNED NULL,
  issued_by VARCHAR(100) NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NULL,
  session_id BIGINT UNSIGNED NULL,
  UNIQUE KEY signin_links_hash (token_hash),
  KEY signin_links_agent (agent_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A browser session: the cookie's SHA-256, the person it stands for (the
-- same role, agent and key as their bearer key), absolute and idle expiry.
-- Every instance reads the same rows, so a revocation holds everywhere.
CREATE TABLE IF NOT EXISTS sessions (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  token_hash CHAR(64) NOT NULL,
  role ENUM('admin', 'lead', 'agent') NOT NULL,
  agent_id BIGINT UNSIGNED NULL,
  key_id BIGINT UNSIGNED NULL,
  name VARCHAR(100) NOT NULL,
  via VARCHAR(16) NOT NULL,
  client_ip VARCHAR(64) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT NULL,
  revoked_by VARCHAR(100) NULL,
  UNIQUE KEY sessions_hash (token_hash),
  KEY sessions_agent (agent_id, id),
  KEY sessions_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The change feed: one row per change to a callback (every case event,
-- and every change of owner), written in the transaction of the change.
-- Each instance polls it once and fans rows out to its own streams. Ids
-- interleave on Galera, so readers follow written_ms (the writer's real
-- clock, milliseconds) with a lookback window and de-duplicate by id.
CREATE TABLE IF NOT EXISTS changes (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  callback_id BIGINT UNSIGNED NULL,
  case_id BIGINT UNSIGNED NOT NULL,
  owner_id BIGINT UNSIGNED NOT NULL,
  previous_owner_id BIGINT UNSIGNED NULL,
  state VARCHAR(16) NOT NULL,
  kind VARCHAR(32) NOT NULL,
  at BIGINT NOT NULL,
  written_ms BIGINT NOT NULL,
  KEY changes_written (written_ms, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
