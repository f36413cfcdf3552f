-- callbackd schema, version 8: a message that no longer holds is withdrawn.
-- When a callback is cancelled or completed, or moves again, its pending
-- texts, reminders and invites that speak of the old state are marked
-- 'withdrawn' (kept, so staff can see what was not sent and why), as
-- distinct from 'skipped' (the channel is not configured). Safe to repeat.
ALTER TABLE outbox MODIFY status
  ENUM('pending', 'sent', 'dead', 'skipped', 'withdrawn')
  NOT NULL DEFAULT 'pending';
