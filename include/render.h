/*
 * render.h: the words of a message, made when it is sent. An outbox row
 * for a text or an e-mail names its message ("sms_reminder") and the
 * callback; just before sending, the dispatcher renders it from the
 * callback as it is then, in the customer's language and zone, so an owner
 * change or a new time is never told stale, and needs no new row.
 */
#ifndef CBD_RENDER_H
#define CBD_RENDER_H

#include <jansson.h>
#include <stddef.h>

struct config;
struct notify_ctx;
struct store_rows;

/* Message of c in c's language (default_language when NULL). Returns
 * text the caller frees (the message's name when it has no template). */
char *render_text(const struct config *cfg, const struct notify_ctx *c,
		  const char *message);
/*
 * Render an SMS payload ({message, language, previous_agent?,
 * minutes?}) for row i of CALLBACK_ROW_SELECT rows: sets its "body".
 */
void render_sms(const struct config *cfg, const struct store_rows *r, size_t i,
		json_t *payload);
/* Render an e-mail payload (its own data: an invite's words must match
 * its calendar): sets "subject", "text", and for invites "summary" and
 * "description". */
void render_email(const struct config *cfg, json_t *payload);

#endif
