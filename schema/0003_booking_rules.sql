-- callbackd schema, version 3: booking rules. Which client asked (for
-- per-address limits) and one lock row per slot, so two bookings for the
-- same slot serialise on it while bookings for other slots run in parallel.
ALTER TABLE callbacks ADD COLUMN client_ip VARCHAR(45) NOT NULL DEFAULT '';
CREATE INDEX callbacks_client ON callbacks (client_ip, created_at);
CREATE INDEX callbacks_created ON callbacks (customer_id, created_at);

CREATE TABLE slot_locks (
  slot_start BIGINT NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
