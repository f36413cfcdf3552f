-- callbackd schema, version 12: the customer's language.
-- Each callback keeps the language (a canonical BCP 47 tag) given with its
-- booking, like its contact name and zone: texts and e-mails about it are
-- written in that language when they are sent. NULL (callbacks booked
-- before this version) reads as the configured default_language. Safe to
-- repeat.
ALTER TABLE callbacks ADD COLUMN IF NOT EXISTS language VARCHAR(35) NULL;
