-- callbackd schema, version 14: what the hot paths read.
--
-- An agent's queue version: a number that changes in the same transaction
-- as anything GET /v1/me/queue shows (the agent's open callbacks, the
-- notes and attempts on their cases, their handoffs and the names on
-- those), so an unchanged queue is answered 304 from one point read. Kept
-- by triggers, so that every writer of those tables, present or future,
-- moves it (customers: see below); no rows read as version 0. Rows for every agent are written
-- here, so that data from before this version has a version to move.
--
-- The version is the sum of a few rows per agent, each transaction moving
-- the row of its connection (CONNECTION_ID() % 8): one row would make every
-- change of an agent's calls wait for the previous one's commit (two
-- claims of one agent at once, say). Every change adds at least 1, so the
-- sum moves with every change and never comes back.
CREATE TABLE IF NOT EXISTS queue_versions (
  agent_id BIGINT UNSIGNED NOT NULL,
  slot TINYINT UNSIGNED NOT NULL,
  version BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (agent_id, slot)
) ENGINE = InnoDB;
INSERT IGNORE INTO queue_versions (agent_id, slot, version)
  SELECT id, 0, 1 FROM agents;

-- A derived table of the owners, not a read of agents: no lock on the
-- agents' rows beyond what the change itself takes.
CREATE TRIGGER IF NOT EXISTS callbacks_qv_insert AFTER INSERT ON callbacks
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  VALUES (NEW.owner_id, CONNECTION_ID() % 8, 1)
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS callbacks_qv_update AFTER UPDATE ON callbacks
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT o, CONNECTION_ID() % 8, 1 FROM (SELECT OLD.owner_id AS o UNION SELECT NEW.owner_id) x
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS callbacks_qv_delete AFTER DELETE ON callbacks
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  VALUES (OLD.owner_id, CONNECTION_ID() % 8, 1)
  ON DUPLICATE KEY UPDATE version = version + 1;

-- The page shows each case's latest note and attempt.
CREATE TRIGGER IF NOT EXISTS events_qv_insert AFTER INSERT ON events
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT owner_id, CONNECTION_ID() % 8, 1 FROM callbacks
  WHERE case_id = NEW.case_id AND NEW.kind IN ('note', 'attempt')
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS events_qv_update AFTER UPDATE ON events
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT owner_id, CONNECTION_ID() % 8, 1 FROM callbacks
  WHERE case_id IN (OLD.case_id, NEW.case_id)
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS events_qv_delete AFTER DELETE ON events
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT owner_id, CONNECTION_ID() % 8, 1 FROM callbacks WHERE case_id = OLD.case_id
  ON DUPLICATE KEY UPDATE version = version + 1;

-- No trigger on customers: the booking's INSERT ... ON DUPLICATE KEY
-- UPDATE id = LAST_INSERT_ID(id) fires AFTER UPDATE triggers, and any
-- trigger there loses the id the booking reads back. Of the customer
-- fields the page shows, only the undeliverable-number flag ever changes
-- (SMS receipts), and its writer moves the owners' versions itself
-- (queue_versions_touch_phone); name, phone, e-mail and zone are kept as
-- first given. A writer that ever changes them must do the same.

-- The latest handoff of each callback, with its note.
-- No trigger on inserting one: a handoff row is written only with the
-- owner change of its callback (handoff_apply), whose trigger moves both
-- owners; one here would double a bulk handoff's work.
CREATE TRIGGER IF NOT EXISTS handoffs_qv_update AFTER UPDATE ON handoffs
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT owner_id, CONNECTION_ID() % 8, 1 FROM callbacks
  WHERE id IN (OLD.callback_id, NEW.callback_id)
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS handoffs_qv_delete AFTER DELETE ON handoffs
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT owner_id, CONNECTION_ID() % 8, 1 FROM callbacks WHERE id = OLD.callback_id
  ON DUPLICATE KEY UPDATE version = version + 1;

-- Each customer's SMS opt-out (a STOP, a START) is on the page.
CREATE TRIGGER IF NOT EXISTS sms_optouts_qv_insert AFTER INSERT ON sms_optouts
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT c.owner_id, CONNECTION_ID() % 8, 1 FROM customers cu
  JOIN callbacks c ON c.customer_id = cu.id WHERE cu.phone = NEW.phone
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS sms_optouts_qv_update AFTER UPDATE ON sms_optouts
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT c.owner_id, CONNECTION_ID() % 8, 1 FROM customers cu
  JOIN callbacks c ON c.customer_id = cu.id
  WHERE cu.phone IN (OLD.phone, NEW.phone)
  ON DUPLICATE KEY UPDATE version = version + 1;
CREATE TRIGGER IF NOT EXISTS sms_optouts_qv_delete AFTER DELETE ON sms_optouts
  FOR EACH ROW
  INSERT INTO queue_versions (agent_id, slot, version)
  SELECT DISTINCT c.owner_id, CONNECTION_ID() % 8, 1 FROM customers cu
  JOIN callbacks c ON c.customer_id = cu.id WHERE cu.phone = OLD.phone
  ON DUPLICATE KEY UPDATE version = version + 1;

-- A handoff shows the name of the agent it came from: a rename moves every
-- queue (rare; the condition is false for every other change of agents).
CREATE TRIGGER IF NOT EXISTS agents_qv_rename AFTER UPDATE ON agents
  FOR EACH ROW
  UPDATE queue_versions SET version = version + 1
  WHERE OLD.display_name <> NEW.display_name;

-- The events triggers find a case's callbacks; deleting a routing queue
-- counts its open callbacks; the dead-letter list pages the outbox by
-- status in id order.
CREATE INDEX IF NOT EXISTS callbacks_case ON callbacks (case_id);
CREATE INDEX IF NOT EXISTS callbacks_queue_state ON callbacks (queue_id, state);
CREATE INDEX IF NOT EXISTS outbox_status_id ON outbox (status, id);
