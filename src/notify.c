/*
 * notify.c: turn a change into outbox rows.
 *
 * A row names its message and the callback; the dispatcher renders the
 * words when it sends (render.c), from the callback as it is then, in the
 * customer's language and zone. The body stored with a text is only how
 * it read when queued, for staff. So an owner change leaves the reminders
 * alone (they will name the new owner), while a change of time, which
 * moves when reminders are due, first withdraws the pending rows it makes
 * untrue (reminders, texts naming a time or owner, an unsent invite); a
 * cancelled or completed call withdraws them all: a change replaces its
 * texts, never adds to them. Invites carry their own data (the calendar's
 * SEQUENCE and time must match its words). Channels that are not configured
 * get no rows: switching a channel on affects changes from then on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "keys.h"
#include "notify.h"
#include "outbox.h"
#include "render.h"
#include "store.h"
#include "timefmt.h"
#include "xalloc.h"

#define NOTIFY_CALL_MINUTES 15 /* length of the invite's event */

/* Indexed by enum notify_event. */
static const char *const notify_event_names[] = {
	"callback.booked",        "callback.rescheduled", "callback.cancelled",
	"callback.owner_changed", "callback.completed",   "callback.overdue",
	"callback.retry_planned",
};

char *
notify_manage_url(const struct config *cfg, int64_t callback_id)
{
	char tok[64];

	keys_manage_token(callback_id, tok, sizeof(tok));
	return xasprintf("%s/v1/callbacks/%lld?token=%s", cfg->public_url,
			 (long long)callback_id, tok);
}

int64_t
notify_quiet_end(const struct config *cfg, const char *tz, int64_t t)
{
	int qs = cfg->quiet.start_min, qe = cfg->quiet.end_min;
	int y, mo, d, h, mi, now_min, inside;
	int64_t end;

	if (qs < 0)
		return t;
	timefmt_local(t, tz, &y, &mo, &d, &h, &mi, NULL);
	now_min = h * 60 + mi;
	/* A window like 21:00-08:00 wraps midnight. */
	inside = qs < qe ? (now_min >= qs && now_min < qe)
			 : (now_min >= qs || now_min < qe);
	if (!inside)
		return t;
	end = timefmt_from_local(tz, y, mo, d, qe / 60, qe % 60, 0);
	if (end <= t) {
		/* Before midnight in a wrapping window: the end is tomorrow's
		 * local time, which is not always 24 hours on (DST). */
		struct tm tm;
		time_t next;

		memset(&tm, 0, sizeof(tm));
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d + 1;
		tm.tm_hour = 12;
		next = timegm(&tm); /* normalises the date */
		gmtime_r(&next, &tm);
		end = timefmt_from_local(tz, tm.tm_year + 1900, tm.tm_mon + 1,
					 tm.tm_mday, qe / 60, qe % 60, 0);
	}
	return end;
}

/*
 * Quiet hours in the customer's zone, for a text due at due. Returns due
 * unchanged when outside them, the end of the quiet period (UTC) when
 * inside and deferring, or -1 when inside and configured to skip.
 */
static int64_t
notify_quiet(const struct config *cfg, const char *tz, int64_t due)
{
	int64_t end = notify_quiet_end(cfg, tz, due);

	if (end == due)
		return due;
	return cfg->quiet.is_skip ? -1 : end;
}

/* Queue message as a text; its words are rendered again at send. */
static int
notify_sms(struct store_tx *tx, const struct config *cfg,
	   const struct notify_ctx *c, const char *kind, const char *message,
	   int64_t due, struct cbd_err *err)
{
	char *text;
	json_t *p;
	int rc;

	if (!c->notify_sms || strcmp(cfg->sms_mode, "off") == 0)
		return 0;
	text = render_text(cfg, c, message);
	p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "to", c->phone, "body", text,
		      "tz", c->tz, "message", message, "language",
		      c->language ? c->language : cfg->default_language);
	if (c->prev_owner_name != NULL)
		json_object_set_new(p, "previous_agent",
				    json_string(c->prev_owner_name));
	if (c->late_eta_min > 0)
		json_object_set_new(p, "minutes",
				    json_integer(c->late_eta_min));
	rc = outbox_enqueue(tx, OUTBOX_SMS, kind, c->callback_id, p, due, err);
	json_decref(p);
	free(text);
	return rc;
}

static int
notify_invite(struct store_tx *tx, const struct config *cfg,
	      const struct notify_ctx *c, int is_cancel, int64_t due,
	      struct cbd_err *err)
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
	json_object_set_new(
		p, "language",
		json_string(c->language ? c->language : cfg->default_language));
	free(url);
	rc = outbox_enqueue(tx, OUTBOX_EMAIL,
			    is_cancel ? "invite.cancel" : "invite.request",
			    c->callback_id, p, due, err);
	json_decref(p);
	return rc;
}

/* An ASAP call has no time to put in a calendar: a plain confirmation. */
static int
notify_asap_email(struct store_tx *tx, const struct config *cfg,
		  const struct notify_ctx *c, struct cbd_err *err)
{
	char *url;
	json_t *p;
	int rc;

	if (!c->notify_email || c->email == NULL || cfg->smtp_url[0] == '\0')
		return 0;
	url = notify_manage_url(cfg, c->callback_id);
	p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s, s:s}",
		      "to", c->email, "to_name", c->customer_name, "phone",
		      c->phone, "tz", c->tz, "start", (json_int_t)c->start,
		      "owner_name", c->owner_name, "topic", c->topic,
		      "callback_id", (json_int_t)c->callback_id, "manage_url",
		      url, "message", "email_asap", "language",
		      c->language ? c->language : cfg->default_language);
	free(url);
	rc = outbox_enqueue(tx, OUTBOX_EMAIL, "email.confirmation",
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

/* Reminders (unless only the owner changed: those already queued name
 * the owner when sent) and the agent heads-up for a time still ahead. */
static int
notify_schedule_reminders(struct store_tx *tx, const struct config *cfg,
			  const struct notify_ctx *c, int is_owner_only,
			  struct cbd_err *err)
{
	int64_t now = clock_now();

	if (c->is_asap)
		return 0;
	for (size_t i = 0; i < cfg->nreminders && !is_owner_only; i++) {
		int64_t due = c->start - cfg->reminder_sec[i];

		/* A reminder whose time has passed would only confuse. */
		if (due <= now)
			continue;
		due = notify_quiet(cfg, c->tz, due);
		if (due < 0 || due >= c->start)
			continue;
		if (notify_sms(tx, cfg, c, "sms.reminder", "sms_reminder", due,
			       err) != 0)
			return -1;
	}
	if (cfg->webhook_url[0] != '\0' && cfg->heads_up_sec > 0 &&
	    c->start - cfg->heads_up_sec > now) {
		json_t *hp = json_pack(
			"{s:s, s:I, s:{s:I, s:I, s:I, s:s, s:s}}", "type",
			"agent.heads_up", "timestamp", (json_int_t)now, "data",
			"callback_id", (json_int_t)c->callback_id, "agent_id",
			(json_int_t)c->owner_id, "due_at", (json_int_t)c->start,
			"customer", c->customer_name, "topic", c->topic);
		int rc = outbox_enqueue(tx, OUTBOX_WEBHOOK, "agent.heads_up",
					c->callback_id, hp,
					c->start - cfg->heads_up_sec, err);
		json_decref(hp);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/*
 * Everything queued about a callback that a later change can make untrue:
 * reminders and the heads-up for its time, the texts naming its time or
 * owner, and an invite not yet sent. Webhook events stay: they record what
 * happened, which a later change does not undo.
 */
static const char *const notify_withdrawable[] = {
	"sms.reminder",    "agent.heads_up",    "sms.confirmation",
	"sms.rescheduled", "sms.owner_changed", "sms.retry",
	"invite.request",
};
/* After an owner change: the same less the reminders, which are about
 * the time (unchanged) and name the owner only when sent. */
static const char *const notify_withdrawable_owner[] = {
	"agent.heads_up",    "sms.confirmation", "sms.rescheduled",
	"sms.owner_changed", "sms.retry",        "invite.request",
};

/* Withdraw what no longer holds after ev, before the new rows are written,
 * so a change replaces its pending texts rather than adding to them. */
static int
notify_withdraw(struct store_tx *tx, const struct notify_ctx *c,
		enum notify_event ev, struct cbd_err *err)
{
	/* Overdue only tells leads' systems: nothing the customer holds
	 * changes with it. */
	if (ev == NOTIFY_BOOKED || ev == NOTIFY_OVERDUE)
		return 0;
	if (ev == NOTIFY_OWNER_CHANGED)
		return outbox_withdraw_pending(
			tx, c->callback_id, notify_withdrawable_owner,
			CBD_ARRAY_LEN(notify_withdrawable_owner), err);
	return outbox_withdraw_pending(tx, c->callback_id, notify_withdrawable,
				       CBD_ARRAY_LEN(notify_withdrawable), err);
}

/* A text the service sends on its own (not at the customer's request)
 * keeps to their quiet hours, but never goes out after the call itself
 * (an ASAP call may come any minute: now). */
static int64_t
notify_system_due(const struct config *cfg, const struct notify_ctx *c)
{
	int64_t now = clock_now(), due = notify_quiet(cfg, c->tz, now);

	if (due < 0 || c->is_asap || due >= c->start)
		return now;
	return due;
}

int
notify_change(struct store_tx *tx, const struct config *cfg,
	      const struct notify_ctx *c, enum notify_event ev,
	      struct cbd_err *err)
{
	const char *kind = NULL, *message = NULL;
	int64_t now = clock_now(), due = now;

	if (notify_withdraw(tx, c, ev, err) != 0 ||
	    notify_webhook(tx, cfg, c, ev, err) != 0)
		return -1;
	if (ev == NOTIFY_OVERDUE)
		return 0; /* for leads' systems; the customer hears of a move */
	switch (ev) {
	case NOTIFY_BOOKED:
		kind = "sms.confirmation";
		message = c->is_asap ? "sms_confirmation_asap"
				     : "sms_confirmation";
		break;
	case NOTIFY_RESCHEDULED:
		/* The customer (or the agent on their call) asked: send it
		 * at once, but hold it (and the invite) briefly, so that a
		 * further change replaces it and a burst of changes is one
		 * text and one invite. */
		kind = "sms.rescheduled";
		message = "sms_rescheduled";
		due += cfg->change_coalesce_sec;
		break;
	case NOTIFY_CANCELLED:
		kind = "sms.cancelled";
		message = "sms_cancelled";
		break;
	case NOTIFY_OWNER_CHANGED:
		kind = "sms.owner_changed";
		message = c->late_eta_min > 0 ? "sms_running_late"
			  : c->is_asap        ? "sms_owner_changed_asap"
					      : "sms_owner_changed";
		/* The system moved the call, not the customer: keep to their
		 * quiet hours, but never past the call itself. An ASAP call
		 * may come any minute (they asked for it, awake), so its
		 * text goes now. */
		due = notify_quiet(cfg, c->tz, now);
		if (c->late_eta_min > 0 && due != now)
			message = NULL; /* "within N minutes" would be false
					   later */
		else if (due < 0 || c->is_asap || due >= c->start)
			due = now;
		break;
	case NOTIFY_RETRY:
		kind = "sms.retry";
		message = "sms_retry";
		due = notify_system_due(cfg, c);
		break;
	case NOTIFY_COMPLETED:
	case NOTIFY_OVERDUE:
		break;
	}
	if (message != NULL &&
	    notify_sms(tx, cfg, c, kind, message, due, err) != 0)
		return -1;
	/* A call already due has no time left to put in a calendar; the
	 * updated invite of a reschedule is held like its text. An ASAP
	 * call gets a plain confirmation by e-mail instead. */
	if (ev == NOTIFY_BOOKED && c->is_asap &&
	    notify_asap_email(tx, cfg, c, err) != 0)
		return -1;
	if (ev != NOTIFY_COMPLETED && !c->is_asap && c->late_eta_min == 0 &&
	    notify_invite(tx, cfg, c, ev == NOTIFY_CANCELLED,
			  ev == NOTIFY_RESCHEDULED
				  ? now + cfg->change_coalesce_sec
				  : now,
			  err) != 0)
		return -1;
	if ((ev == NOTIFY_BOOKED || ev == NOTIFY_RESCHEDULED ||
	     ev == NOTIFY_OWNER_CHANGED || ev == NOTIFY_RETRY) &&
	    notify_schedule_reminders(tx, cfg, c, ev == NOTIFY_OWNER_CHANGED,
				      err) != 0)
		return -1;
	return 0;
}

/*
 * Asked for by someone who knows the phone number, who may not be the
 * one who holds it: so the text goes to that number only, and keeps to
 * the quiet hours of the callback's zone (skipped when they say skip).
 */
int
notify_manage_link(struct store_tx *tx, const struct config *cfg,
		   const struct notify_ctx *c, struct cbd_err *err)
{
	int64_t due = notify_quiet(cfg, c->tz, clock_now());
	struct notify_ctx all = *c;

	if (strcmp(cfg->sms_mode, "off") == 0 || due < 0)
		return 0;
	/* Asked for: it goes whatever the booking's notify said. */
	all.notify_sms = 1;
	return notify_sms(tx, cfg, &all, "sms.manage_link",
			  c->is_asap ? "sms_manage_link_asap"
				     : "sms_manage_link",
			  due, err);
}
