/*
 * notify.c: turn a change into outbox rows.
 *
 * Texts are rendered here, in the customer's own zone, at the moment of the
 * change, so what is sent later is exactly what was true when it was
 * queued; invites carry their data and are rendered by the dispatcher, so
 * the .ics of every version comes from one builder (ics.c). Channels that
 * are not configured get no rows: switching a channel on affects changes
 * from then on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "keys.h"
#include "notify.h"
#include "outbox.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

#define NOTIFY_CALL_MINUTES 15 /* length of the invite's event */
#define NOTIFY_HEADS_UP_SEC 600
static const int64_t notify_reminders_sec[] = { 24 * 3600, 15 * 60 };

static const char *const notify_event_names[] = {
	"callback.booked",        "callback.rescheduled", "callback.cancelled",
	"callback.owner_changed", "callback.completed",
};

char *
notify_manage_url(const struct config *cfg, int64_t callback_id)
{
	char tok[64];

	keys_manage_token(callback_id, tok, sizeof(tok));
	return xasprintf("%s/v1/callbacks/%lld?token=%s", cfg->public_url,
			 (long long)callback_id, tok);
}

static void
notify_local(const struct notify_ctx *c, int64_t t, char *buf, size_t size)
{
	/* "Mon 30 Nov at 15:00 IST": a time a person reads at a glance. */
	char tm[64], zone[16] = "";
	int y, mo, d, h, mi, off;

	timefmt_strftime(t, c->tz, "%a %d %b at %H:%M", tm, sizeof(tm));
	off = timefmt_local(t, c->tz, &y, &mo, &d, &h, &mi, NULL);
	snprintf(zone, sizeof(zone), "UTC%c%d", off < 0 ? '-' : '+',
		 (off < 0 ? -off : off) / 3600);
	if (off % 3600 != 0)
		snprintf(zone, sizeof(zone), "UTC%c%d:%02d",
			 off < 0 ? '-' : '+', (off < 0 ? -off : off) / 3600,
			 ((off < 0 ? -off : off) % 3600) / 60);
	snprintf(buf, size, "%s (%s)", tm, zone);
}

static int
notify_sms(struct store_tx *tx, const struct config *cfg,
	   const struct notify_ctx *c, const char *kind, const char *text,
	   int64_t due, struct cbd_err *err)
{
	json_t *p;
	int rc;

	if (!c->notify_sms || strcmp(cfg->sms_mode, "off") == 0)
		return 0;
	p = json_pack("{s:s, s:s, s:s}", "to", c->phone, "body", text, "tz",
		      c->tz);
	rc = outbox_enqueue(tx, OUTBOX_SMS, kind, c->callback_id, p, due, err);
	json_decref(p);
	return rc;
}

static int
notify_invite(struct store_tx *tx, const struct config *cfg,
	      const struct notify_ctx *c, int is_cancel, struct cbd_err *err)
{
	char *url;
	json_t *p;
	int rc;

	if (!c->notify_email || c->email == NULL || cfg->smtp_url[0] == '\0')
		return 0;
	url = notify_manage_url(cfg, c->callback_id);
	p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:s, s:s, s:s, s:I}",
		      "to", c->email, "to_name", c->customer_name, "phone",
		      c->phone, "tz", c->tz, "start", (json_int_t)c->start,
		      "end", (json_int_t)(c->start + NOTIFY_CALL_MINUTES * 60),
		      "sequence", c->sequence, "method",
		      is_cancel ? "CANCEL" : "REQUEST", "owner_name",
		      c->owner_name, "topic", c->topic, "callback_id",
		      (json_int_t)c->callback_id);
	json_object_set_new(p, "manage_url", json_string(url));
	free(url);
	rc = outbox_enqueue(tx, OUTBOX_EMAIL,
			    is_cancel ? "invite.cancel" : "invite.request",
			    c->callback_id, p, clock_now(), err);
	json_decref(p);
	return rc;
}

static int
notify_webhook(struct store_tx *tx, const struct config *cfg,
	       const struct notify_ctx *c, enum notify_event ev,
	       struct cbd_err *err)
{
	json_t *p;
	int rc;

	if (cfg->webhook_url[0] == '\0')
		return 0;
	p = json_pack("{s:s, s:I, s:{s:I, s:I, s:s, s:s, s:b, s:I, s:s, s:I}}",
		      "type", notify_event_names[ev], "timestamp",
		      (json_int_t)clock_now(), "data", "callback_id",
		      (json_int_t)c->callback_id, "case_id",
		      (json_int_t)c->case_id, "state", c->state, "topic",
		      c->topic, "asap", c->is_asap, "due_at",
		      (json_int_t)c->start, "owner", c->owner_name, "owner_id",
		      (json_int_t)c->owner_id);
	rc = outbox_enqueue(tx, OUTBOX_WEBHOOK, notify_event_names[ev],
			    c->callback_id, p, clock_now(), err);
	json_decref(p);
	return rc;
}

/* Reminders and the agent heads-up for a scheduled time still ahead. */
static int
notify_schedule_reminders(struct store_tx *tx, const struct config *cfg,
			  const struct notify_ctx *c, struct cbd_err *err)
{
	int64_t now = clock_now();
	char when[96], *text;

	if (c->is_asap)
		return 0;
	notify_local(c, c->start, when, sizeof(when));
	for (size_t i = 0; i < CBD_ARRAY_LEN(notify_reminders_sec); i++) {
		int64_t due = c->start - notify_reminders_sec[i];
		int rc;

		/* A reminder whose time has passed would only confuse. */
		if (due <= now)
			continue;
		text = xasprintf("Reminder: %s will call you %s about \"%s\".",
				 c->owner_name, when, c->topic);
		rc = notify_sms(tx, cfg, c, "sms.reminder", text, due, err);
		free(text);
		if (rc != 0)
			return -1;
	}
	if (cfg->webhook_url[0] != '\0' &&
	    c->start - NOTIFY_HEADS_UP_SEC > now) {
		json_t *p = json_pack(
			"{s:s, s:I, s:{s:I, s:I, s:I, s:s, s:s}}", "type",
			"agent.heads_up", "timestamp", (json_int_t)now, "data",
			"callback_id", (json_int_t)c->callback_id, "agent_id",
			(json_int_t)c->owner_id, "due_at", (json_int_t)c->start,
			"customer", c->customer_name, "topic", c->topic);
		int rc = outbox_enqueue(tx, OUTBOX_WEBHOOK, "agent.heads_up",
					c->callback_id, p,
					c->start - NOTIFY_HEADS_UP_SEC, err);
		json_decref(p);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
notify_change(struct store_tx *tx, const struct config *cfg,
	      const struct notify_ctx *c, enum notify_event ev,
	      struct cbd_err *err)
{
	char when[96], *text = NULL;
	const char *kind = NULL;
	int rc = -1;

	if (ev != NOTIFY_BOOKED &&
	    outbox_skip_pending(tx, c->callback_id, "sms.reminder", err) != 0)
		goto out;
	if (ev != NOTIFY_BOOKED &&
	    outbox_skip_pending(tx, c->callback_id, "agent.heads_up", err) != 0)
		goto out;
	if (notify_webhook(tx, cfg, c, ev, err) != 0)
		goto out;
	notify_local(c, c->start, when, sizeof(when));
	switch (ev) {
	case NOTIFY_BOOKED:
		kind = "sms.confirmation";
		text = c->is_asap
			       ? xasprintf("Thanks %s, we will call you back "
					   "as soon as possible about \"%s\".",
					   c->customer_name, c->topic)
			       : xasprintf("Thanks %s, %s will call you %s "
					   "about \"%s\".",
					   c->customer_name, c->owner_name,
					   when, c->topic);
		break;
	case NOTIFY_RESCHEDULED:
		kind = "sms.rescheduled";
		text = xasprintf("Your callback is moved: %s will call you %s.",
				 c->owner_name, when);
		break;
	case NOTIFY_CANCELLED:
		kind = "sms.cancelled";
		text = xasprintf("Your callback about \"%s\" is cancelled.",
				 c->topic);
		break;
	case NOTIFY_OWNER_CHANGED:
		kind = "sms.owner_changed";
		text = c->is_asap
			       ? xasprintf("%s will call you back; %s has "
					   "%s's notes.",
					   c->owner_name, c->owner_name,
					   c->prev_owner_name
						   ? c->prev_owner_name
						   : "the previous agent")
			       : xasprintf("%s will call you %s; %s has %s's "
					   "notes.",
					   c->owner_name, when, c->owner_name,
					   c->prev_owner_name
						   ? c->prev_owner_name
						   : "the previous agent");
		break;
	case NOTIFY_COMPLETED:
		break;
	}
	if (text != NULL &&
	    notify_sms(tx, cfg, c, kind, text, clock_now(), err) != 0)
		goto out;
	if (ev != NOTIFY_COMPLETED && !c->is_asap &&
	    notify_invite(tx, cfg, c, ev == NOTIFY_CANCELLED, err) != 0)
		goto out;
	if ((ev == NOTIFY_BOOKED || ev == NOTIFY_RESCHEDULED ||
	     ev == NOTIFY_OWNER_CHANGED) &&
	    notify_schedule_reminders(tx, cfg, c, err) != 0)
		goto out;
	rc = 0;
out:
	free(text);
	return rc;
}
