/*
 * sms_receipt.h: delivery receipts. The provider reports what became of a
 * text (Twilio's StatusCallback, or the generic gateway's signed
 * equivalent); the outbox row keeps the latest state, and a number that
 * cannot be reached for good is flagged on its customer, and noted on the
 * case, so the agent knows before calling.
 */
#ifndef CBD_SMS_RECEIPT_H
#define CBD_SMS_RECEIPT_H

#include "common.h"

struct store_tx;
struct config;

struct sms_receipt {
	const char *msg_id;      /* ours, from the callback URL; or NULL */
	const char *provider_id; /* the provider's (MessageSid); or NULL */
	const char *status;      /* queued, sending, sent, delivered, ... */
	const char *error_code;  /* the provider's code, or NULL */
	int is_permanent;        /* the gateway says it will never deliver */
};

/* The StatusCallback URL a text msg_id is sent with in twilio mode:
 * public_url + /v1/sms/twilio/status?m=<msg_id> (caller frees). */
char *sms_receipt_callback_url(const struct config *cfg, const char *msg_id);
/* Is status one this module knows (Twilio's message statuses)? */
int sms_receipt_status_known(const char *status);
/* Does Twilio error code say the number itself cannot take texts? */
int sms_receipt_code_is_permanent(const char *code);
/*
 * Record rc on its message. A receipt for no message we know, or older
 * news than what is stored (receipts may arrive out of order), changes
 * nothing and is no error: the provider would only send it again.
 */
int sms_receipt_apply(struct store_tx *tx, const struct sms_receipt *rc,
		      struct cbd_err *err) CBD_MUSTCHECK;

#endif
