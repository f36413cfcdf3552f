-- callbackd schema, version 6: what anonymous callers may do.
--
-- The contact details a booking gives (name, e-mail, zone) belong to that
-- booking: they are kept on the callback and its messages go there, so a
-- booking made by someone who only knows a phone number never rewrites the
-- customer row, nor redirects another callback's invites. Rows from before
-- this version have contact_tz NULL and keep using the customer row.
ALTER TABLE callbacks ADD COLUMN IF NOT EXISTS contact_name VARCHAR(100) NULL,
  ADD COLUMN IF NOT EXISTS contact_email VARCHAR(254) NULL,
  ADD COLUMN IF NOT EXISTS contact_tz VARCHAR(64) NULL;

-- Anonymous requests that book nothing but may send a text (a returning
-- customer's booking, "send me my link"): counted by the same per-phone
-- and per-address limits as bookings, whether or not the phone has a
-- callback, so the limits say nothing about it either.
CREATE TABLE IF NOT EXISTS link_requests (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  phone VARCHAR(16) NOT NULL,
  client_ip VARCHAR(45) NOT NULL,
  created_at BIGINT NOT NULL,
  KEY link_requests_phone (phone, created_at),
  KEY link_requests_client (client_ip, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Customers' own changes (reschedules through the manage token) are
-- limited per callback and per phone; the case timeline is where they are
-- counted.
CREATE INDEX IF NOT EXISTS events_callback_kind ON events (callback_id, kind, at);
