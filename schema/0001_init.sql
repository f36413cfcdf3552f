-- callbackd schema, version 1: keys, agents, customers, cases, callbacks,
-- the case timeline, idempotent replays and the notification outbox.
-- All times are UTC epoch seconds (BIGINT) set by the daemon's clock.

CREATE TABLE api_keys (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  role ENUM('admin', 'lead', 'agent') NOT NULL,
  key_hash CHAR(64) NOT NULL,
  agent_id BIGINT UNSIGNED NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NULL,
  UNIQUE KEY api_keys_hash (key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE agents (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  display_name VARCHAR(100) NOT NULL,
  email VARCHAR(254) NULL,
  timezone VARCHAR(64) NOT NULL,
  team VARCHAR(64) NOT NULL DEFAULT '',
  capacity INT NOT NULL DEFAULT 1,
  is_active TINYINT NOT NULL DEFAULT 1,
  open_count INT NOT NULL DEFAULT 0,
  feed_token_hash CHAR(64) NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE KEY agents_name (name),
  UNIQUE KEY agents_feed (feed_token_hash),
  KEY agents_load (is_active, open_count)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE customers (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  phone VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(254) NULL,
  timezone VARCHAR(64) NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE KEY customers_phone (phone)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE cases (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  owner_id BIGINT UNSIGNED NOT NULL,
  is_open TINYINT NOT NULL DEFAULT 1,
  opened_at BIGINT NOT NULL,
  closed_at BIGINT NULL,
  KEY cases_customer (customer_id, is_open)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE callbacks (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  case_id BIGINT UNSIGNED NOT NULL,
  customer_id BIGINT UNSIGNED NOT NULL,
  owner_id BIGINT UNSIGNED NOT NULL,
  state ENUM('pending', 'scheduled', 'in_progress', 'completed',
             'retry_wait', 'cancelled', 'failed') NOT NULL,
  topic VARCHAR(200) NOT NULL,
  is_asap TINYINT NOT NULL,
  due_at BIGINT NOT NULL,
  notify VARCHAR(32) NOT NULL DEFAULT '',
  attempts INT NOT NULL DEFAULT 0,
  claimed_by BIGINT UNSIGNED NULL,
  lease_until BIGINT NULL,
  ics_sequence INT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  KEY callbacks_queue (owner_id, state, due_at),
  KEY callbacks_owner_due (owner_id, due_at, id),
  KEY callbacks_due (state, due_at),
  KEY callbacks_customer (customer_id, state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The case timeline and audit trail: append-only.
CREATE TABLE events (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  case_id BIGINT UNSIGNED NOT NULL,
  callback_id BIGINT UNSIGNED NULL,
  kind VARCHAR(32) NOT NULL,
  actor VARCHAR(100) NOT NULL,
  body MEDIUMTEXT NOT NULL,
  at BIGINT NOT NULL,
  KEY events_case (case_id, id),
  KEY events_callback (callback_id, id),
  KEY events_kind (kind, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE idempotency (
  scope VARCHAR(80) NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  body_hash CHAR(64) NOT NULL,
  status INT NOT NULL,
  location VARCHAR(255) NULL,
  response MEDIUMTEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, idem_key),
  KEY idempotency_age (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Notifications to send, written in the transaction that causes them.
CREATE TABLE outbox (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  msg_id CHAR(36) NOT NULL,
  channel ENUM('email', 'sms', 'webhook') NOT NULL,
  kind VARCHAR(48) NOT NULL,
  callback_id BIGINT UNSIGNED NULL,
  payload MEDIUMTEXT NOT NULL,
  due_at BIGINT NOT NULL,
  status ENUM('pending', 'sent', 'dead', 'skipped') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  lease_until BIGINT NOT NULL DEFAULT 0,
  last_error VARCHAR(255) NULL,
  created_at BIGINT NOT NULL,
  sent_at BIGINT NULL,
  UNIQUE KEY outbox_msg (msg_id),
  KEY outbox_due (status, due_at),
  KEY outbox_callback (callback_id, id),
  KEY outbox_callback_kind (callback_id, kind, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Server-wide values shared by every instance (the link-signing secret).
CREATE TABLE settings (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
