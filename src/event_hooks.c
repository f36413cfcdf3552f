/*
 * event_hooks.c: the staff-side event webhooks. The envelope is the one
 * notify.c writes for booking events ({type, timestamp, data}), so a
 * receiver parses every event alike; the catalogue of types and payloads
 * is in contrib/openapi.yaml (x-webhooks).
 */
#include "event_hooks.h"
#include "api.h"
#include "clock.h"
#include "config.h"
#include "handoff_plan.h"
#include "outbox.h"

int
event_hooks_emit(struct store_tx *tx, const struct config *cfg,
		 const char *type, int64_t callback_id, json_t *data,
		 struct cbd_err *err)
{
	json_t *p;
	int rc;

	if (cfg->webhook_url[0] == '\0') {
		json_decref(data);
		return 0;
	}
	p = json_pack("{s:s, s:I, s:o}", "type", type, "timestamp",
		      (json_int_t)clock_now(), "data", data);
	rc = outbox_enqueue(tx, OUTBOX_WEBHOOK, type,
			    callback_id > 0 ? callback_id : 0, p, clock_now(),
			    err);
	json_decref(p);
	return rc;
}

int
event_hooks_handoffs(struct store_tx *tx, const struct config *cfg,
		     const struct handoff_plan *p,
		     const struct handoff_note *note, const char *kind,
		     const char *author, struct cbd_err *err)
{
	if (cfg->webhook_url[0] == '\0')
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct handoff_item *it = &p->items[i];

		if (it->to_agent <= 0)
			continue;
		if (event_hooks_emit(
			    tx, cfg, "handoff.created", it->callback_id,
			    json_pack("{s:I, s:I, s:I, s:I, s:s, s:s, s:s, "
				      "s:s, s:s}",
				      "callback_id",
				      (json_int_t)it->callback_id, "case_id",
				      (json_int_t)it->case_id, "from_agent",
				      (json_int_t)it->from_agent, "to_agent",
				      (json_int_t)it->to_agent, "kind",
				      it->kind ? it->kind : kind, "author",
				      author, "reason",
				      it->reason ? it->reason : note->reason,
				      "summary",
				      it->summary ? it->summary : note->summary,
				      "next_step",
				      it->next_step ? it->next_step
						    : note->next_step),
			    err) != 0)
			return -1;
	}
	return 0;
}
