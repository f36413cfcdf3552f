-- callbackd schema, version 13: two-way SMS. Safe to repeat (Galera runs
-- DDL on every node).
--
-- A customer's STOP (and START) is kept per number, with when and how it
-- came, and every instance reads it right before it texts: a STOP taken
-- by one instance stops a reminder another one queued.
CREATE TABLE IF NOT EXISTS sms_optouts (
  phone VARCHAR(16) NOT NULL PRIMARY KEY,
  is_opted_out TINYINT NOT NULL,
  word VARCHAR(32) NOT NULL,
  source VARCHAR(16) NOT NULL,
  changed_at BIGINT NOT NULL,
  KEY sms_optouts_state (is_opted_out, phone)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Inbound replies already acted on, by the provider's id (Twilio's
-- MessageSid, the generic gateway's webhook-id): a provider that retries
-- a reply it thinks was lost changes nothing the second time.
CREATE TABLE IF NOT EXISTS sms_inbound_seen (
  event_id VARCHAR(100) NOT NULL PRIMARY KEY,
  received_at BIGINT NOT NULL,
  KEY sms_inbound_seen_at (received_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A text not sent because its number said STOP is 'suppressed'; the
-- provider's id of a text sent, and what its delivery receipts said.
ALTER TABLE outbox MODIFY status
  ENUM('pending', 'sent', 'dead', 'skipped', 'withdrawn', 'suppressed')
  NOT NULL DEFAULT 'pending';
ALTER TABLE outbox
  ADD COLUMN IF NOT EXISTS provider_id VARCHAR(64) NULL,
  ADD COLUMN IF NOT EXISTS delivery_status VARCHAR(16) NULL,
  ADD COLUMN IF NOT EXISTS delivery_error VARCHAR(32) NULL,
  ADD COLUMN IF NOT EXISTS delivery_at BIGINT NULL;
CREATE INDEX IF NOT EXISTS outbox_provider ON outbox (provider_id);

-- A number the provider reported permanently undeliverable, so the agent
-- knows before calling; a later delivered text clears it.
ALTER TABLE customers
  ADD COLUMN IF NOT EXISTS phone_undeliverable_at BIGINT NULL,
  ADD COLUMN IF NOT EXISTS phone_undeliverable_error VARCHAR(32) NULL;
