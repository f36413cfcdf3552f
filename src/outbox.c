/*
 * outbox.c: writing messages into the outbox. (The dispatcher that sends
 * them lives below the enqueue side in this file.)
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "keys.h"
#include "outbox.h"
#include "store.h"
#include "xalloc.h"

static const char *const outbox_channel_names[] = { "email", "sms",
						    "webhook" };

int
outbox_enqueue(struct store_tx *tx, enum outbox_channel channel,
	       const char *kind, int64_t callback_id, json_t *payload,
	       int64_t due_at, struct cbd_err *err)
{
	char msg_id[37];
	char *body = json_dumps(payload, JSON_COMPACT);
	int64_t n;

	/* The id is made once, here: every retry sends the same one, so a
	 * receiver that dedupes never shows a message twice. */
	keys_uuid(msg_id);
	n = store_exec(tx, err,
		       "INSERT INTO outbox (msg_id, channel, kind, callback_id,"
		       " payload, due_at, created_at) VALUES (?, ?, ?, ?, ?, "
		       "?, ?)",
		       "sssnsii", msg_id, outbox_channel_names[channel], kind,
		       callback_id > 0 ? callback_id : STORE_NULL, body, due_at,
		       clock_now());
	free(body);
	return n < 0 ? -1 : 0;
}

int
outbox_skip_pending(struct store_tx *tx, int64_t callback_id,
		    const char *kind_like, struct cbd_err *err)
{
	return store_exec(tx, err,
			  "UPDATE outbox SET status = 'skipped' WHERE "
			  "callback_id = ? AND kind = ? AND status = "
			  "'pending'",
			  "is", callback_id, kind_like) < 0
		       ? -1
		       : 0;
}

/* ---- the dispatcher ---- */

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store_pool *pool;
	struct metrics *metrics;
	int inflight;
};

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
	   struct store_pool *pool, struct metrics *metrics)
{
	struct outbox *ob = xcalloc(1, sizeof(*ob));

	ob->base = base;
	ob->cfg = cfg;
	ob->pool = pool;
	ob->metrics = metrics;
	return ob;
}

void
outbox_free(struct outbox *ob)
{
	free(ob);
}

int
outbox_inflight(const struct outbox *ob)
{
	return ob->inflight;
}
