/*
 * sms_inbound.h: what a customer's text back means. STOP and its carrier
 * variants stop every further text to the number; START and its variants
 * allow them again; "C" (or the word for cancel in a shipped language
 * that is not a carrier opt-out word) cancels the next callback, with a
 * confirmation; anything else goes onto the case timeline for the owner,
 * and changes nothing else.
 */
#ifndef CBD_SMS_INBOUND_H
#define CBD_SMS_INBOUND_H

#include "common.h"

struct store_tx;
struct config;

enum sms_inbound_kind {
	SMS_INBOUND_STOP,   /* STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT */
	SMS_INBOUND_START,  /* START, UNSTOP, YES */
	SMS_INBOUND_CANCEL, /* C, cancelar, absagen, stornieren, रद्द */
	SMS_INBOUND_OTHER,  /* free text: for the case owner to read */
};

/*
 * The kind of a reply body: the whole body, trimmed of white space and
 * final punctuation, compared without case. Pure.
 */
enum sms_inbound_kind sms_inbound_classify(const char *body);

struct sms_inbound {
	const char *event_id; /* provider's id of this reply, for replays */
	const char *from;     /* the customer's number, E.164 */
	const char *body;     /* UTF-8 text as received */
	const char *source;   /* "twilio" or "webhook" */
};

/*
 * Act on one reply inside tx. A replay (same event_id) does nothing. A
 * number with no customer is only logged, unless it says STOP or START:
 * those are kept whoever sent them (the number is the carrier's, and a
 * customer who books later with it said STOP). Returns 0, or -1 with err.
 */
int sms_inbound_handle(struct store_tx *tx, const struct config *cfg,
		       const struct sms_inbound *in,
		       struct cbd_err *err) CBD_MUSTCHECK;

#endif
