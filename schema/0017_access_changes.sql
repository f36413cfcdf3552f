-- callbackd schema, version 17: the change feed also says when someone's
-- access ended (a session signed out or revoked, an API key revoked, an
-- agent deactivated, a lead key's team changed), so every instance closes
-- that person's open event streams at once. Such a row names the agent
-- (owner_id; 0 for none) and the key (key_id) whose streams end; it is
-- never sent to a stream. Safe to repeat.
ALTER TABLE changes ADD COLUMN IF NOT EXISTS key_id BIGINT UNSIGNED NULL;

-- Housekeeping deletes sign-in links some days after they expire.
CREATE INDEX IF NOT EXISTS signin_links_expiry ON signin_links (expires_at);
