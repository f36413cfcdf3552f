-- callbackd schema, version 9: routing. Queues say which skills a call
-- needs and keep their own site zone, opening hours, closures, service
-- level target and default priority; agents hold skills with a level
-- (languages are skills: "lang:es"). A callback names its queue (NULL: the
-- default queue, which needs no skills and keeps the global hours).
-- Safe to run twice.
CREATE TABLE IF NOT EXISTS routing_queues (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  timezone VARCHAR(64) NOT NULL,
  opening_hours VARCHAR(500) NOT NULL DEFAULT '',
  closures VARCHAR(2000) NOT NULL DEFAULT '',
  asap_target_pct INT NOT NULL DEFAULT 80,
  asap_target_min INT NOT NULL DEFAULT 10,
  scheduled_target_min INT NOT NULL DEFAULT 5,
  default_priority INT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE KEY routing_queues_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The skills a queue's calls need, each at a minimum level.
CREATE TABLE IF NOT EXISTS routing_queue_skills (
  queue_id BIGINT UNSIGNED NOT NULL,
  skill VARCHAR(64) NOT NULL,
  min_level INT NOT NULL,
  PRIMARY KEY (queue_id, skill)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Topics a booking may name instead of a queue.
CREATE TABLE IF NOT EXISTS routing_topics (
  topic VARCHAR(200) NOT NULL PRIMARY KEY,
  queue_id BIGINT UNSIGNED NOT NULL,
  KEY routing_topics_queue (queue_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- What each agent can do, 1 (learning) to 5 (expert).
CREATE TABLE IF NOT EXISTS agent_skills (
  agent_id BIGINT UNSIGNED NOT NULL,
  skill VARCHAR(64) NOT NULL,
  level INT NOT NULL,
  PRIMARY KEY (agent_id, skill),
  KEY agent_skills_skill (skill, level)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A callback's queue (NULL: default), its priority as booked (queue
-- default, raised for a repeat contact or a VIP) and when its first call
-- attempt was made (the first-response figure).
ALTER TABLE callbacks ADD COLUMN IF NOT EXISTS queue_id BIGINT UNSIGNED NULL,
  ADD COLUMN IF NOT EXISTS priority INT NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS first_attempt_at BIGINT NULL;
-- The figures read the last days' bookings (routing_figures.c).
CREATE INDEX IF NOT EXISTS callbacks_created_at ON callbacks (created_at);

-- A customer staff mark as VIP: their calls are booked at a raised
-- priority.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS is_vip TINYINT NOT NULL DEFAULT 0;
