/*
 * notify.h: which messages a change to a callback causes. One function per
 * kind of change writes every outbox row that change needs (webhook event,
 * invite by e-mail, SMS, future reminders and agent heads-up), inside the
 * caller's transaction, and retires reminders that no longer hold.
 */
#ifndef CBD_NOTIFY_H
#define CBD_NOTIFY_H

#include <stdint.h>

#include "common.h"

struct store_tx;
struct config;

enum notify_event {
	NOTIFY_BOOKED,
	NOTIFY_RESCHEDULED,
	NOTIFY_CANCELLED,
	NOTIFY_OWNER_CHANGED,
	NOTIFY_COMPLETED,
	NOTIFY_OVERDUE, /* past due and grace: the event webhook only */
	NOTIFY_RETRY,   /* no answer: the next attempt moved to another day */
};

/* What the messages talk about: a callback as it is after the change. */
struct notify_ctx {
	int64_t callback_id;
	int64_t case_id;
	int64_t start; /* due_at, UTC */
	int is_asap;
	int sequence; /* invite SEQUENCE after the change */
	const char *state;
	const char *topic;
	const char *customer_name;
	const char *phone;
	const char *email; /* NULL: none */
	const char *tz;
	const char *language; /* canonical BCP 47; NULL: default_language */
	int64_t owner_id;
	const char *owner_name;
	const char *prev_owner_name; /* owner changes */
	/* > 0: an owner change of a call already due; the text says "within
	 * about late_eta_min minutes" instead of a time that has passed */
	int late_eta_min;
	int notify_email;
	int notify_sms;
};

int notify_change(struct store_tx *tx, const struct config *cfg,
		  const struct notify_ctx *c, enum notify_event ev,
		  struct cbd_err *err) CBD_MUSTCHECK;
/* Text the callback's manage link to its phone (sms_mode permitting),
 * keeping to the customer's quiet hours. */
int notify_manage_link(struct store_tx *tx, const struct config *cfg,
		       const struct notify_ctx *c,
		       struct cbd_err *err) CBD_MUSTCHECK;
/* The end (UTC) of the quiet hours in zone tz that t falls in, or t when
 * it is outside them: the earliest a customer may be texted or called. */
int64_t notify_quiet_end(const struct config *cfg, const char *tz, int64_t t);
/* The URL a customer uses to manage the callback (caller frees). */
char *notify_manage_url(const struct config *cfg, int64_t callback_id);

#endif
