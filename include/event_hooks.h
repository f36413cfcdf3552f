/*
 * event_hooks.h: event webhooks for what staff do to a callback (claimed,
 * attempted, failed, a note added, a handoff). Each is an outbox row
 * written in the transaction of the change it reports, so a receiver hears
 * of exactly the changes that were committed. The booking-side events
 * (callback.booked, .rescheduled, .overdue ...) come from notify.c.
 */
#ifndef CBD_EVENT_HOOKS_H
#define CBD_EVENT_HOOKS_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

/* The kinds written here, as an SQL list: a case timeline leaves them out,
 * since each repeats an entry the timeline already has. */
#define EVENT_HOOKS_KINDS_SQL                                                  \
	"'callback.claimed','callback.attempted','callback.failed',"           \
	"'callback.note_added','handoff.created'"

struct config;
struct store_tx;
struct handoff_plan;
struct handoff_note;

/*
 * Queue event type (e.g. "callback.claimed") about callback_id with data,
 * an object whose times are already RFC 3339 strings; steals data. A no-op
 * when no webhook_url is set. Returns 0, or -1 with err.
 */
int event_hooks_emit(struct store_tx *tx, const struct config *cfg,
		     const char *type, int64_t callback_id, json_t *data,
		     struct cbd_err *err) CBD_MUSTCHECK;
/* One handoff.created per callback the plan moved (to_agent > 0). */
int event_hooks_handoffs(struct store_tx *tx, const struct config *cfg,
			 const struct handoff_plan *p,
			 const struct handoff_note *note, const char *kind,
			 const char *author, struct cbd_err *err) CBD_MUSTCHECK;

#endif
