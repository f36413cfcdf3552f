-- callbackd schema, version 4: handoffs. Every change of a callback's owner
-- is one row here, with its note, written in the transaction that moves
-- the callback; the audit trail and the new owner's briefing read it.
CREATE TABLE handoffs (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  callback_id BIGINT UNSIGNED NOT NULL,
  case_id BIGINT UNSIGNED NOT NULL,
  from_agent BIGINT UNSIGNED NOT NULL,
  to_agent BIGINT UNSIGNED NOT NULL,
  kind VARCHAR(16) NOT NULL,
  author VARCHAR(100) NOT NULL,
  reason VARCHAR(500) NOT NULL,
  summary TEXT NOT NULL,
  next_step VARCHAR(1000) NOT NULL,
  annotation TEXT NULL,
  annotated_at BIGINT NULL,
  due_at BIGINT NOT NULL,
  at BIGINT NOT NULL,
  KEY handoffs_callback (callback_id, id),
  KEY handoffs_from (from_agent, id),
  KEY handoffs_to (to_agent, id),
  KEY handoffs_at (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
