/*
 * sms_inbound.c: a customer's reply by text, acted on inside one
 * transaction.
 *
 * The signature check (api_sms.c) proves the provider sent the request,
 * and the carrier vouches for the From number; even so, a reply can do
 * only three things: opt the number out or in, and cancel that number's
 * next callback. Any other text is shown to the case owner and trusted
 * with nothing.
 *
 * Choice of words. English "CANCEL" is one of the carrier opt-out words
 * (Twilio's list: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT), so it
 * opts out, as carriers and the law expect. Cancelling a callback is "C",
 * or a cancel word of a shipped language that is not an opt-out word:
 * Spanish "cancelar", German "absagen" or "stornieren", Hindi "रद्द".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "callback.h"
#include "callback_row.h"
#include "clock.h"
#include "config.h"
#include "http.h" /* HTTP_ROLE_PUBLIC */
#include "log.h"
#include "notify.h"
#include "optout.h"
#include "outbox.h"
#include "render.h"
#include "sms_inbound.h"
#include "store.h"

/* How long replay ids are kept: providers retry within hours. */
#define SMS_INBOUND_SEEN_SEC (7 * 86400)

static const char *const sms_inbound_stop_words[] = {
	"stop", "stopall", "unsubscribe", "cancel", "end", "quit", NULL
};
static const char *const sms_inbound_start_words[] = { "start", "unstop", "yes",
						       NULL };
static const char *const sms_inbound_cancel_words[] = { "c",       "cancelar",
							"absagen", "stornieren",
							"रद्द",     NULL };

static int
sms_inbound_in(const char *const *words, const char *w, size_t len)
{
	for (; *words != NULL; words++)
		if (strlen(*words) == len && strncasecmp(*words, w, len) == 0)
			return 1;
	return 0;
}

enum sms_inbound_kind
sms_inbound_classify(const char *body)
{
	const char *b = body;
	size_t len;

	if (b == NULL)
		return SMS_INBOUND_OTHER;
	while (*b != '\0' && isspace((unsigned char)*b))
		b++;
	len = strlen(b);
	/* "Stop." and "STOP!" are as clear as "STOP". */
	while (len > 0 && (isspace((unsigned char)b[len - 1]) ||
			   strchr(".!", b[len - 1]) != NULL))
		len--;
	if (sms_inbound_in(sms_inbound_stop_words, b, len))
		return SMS_INBOUND_STOP;
	if (sms_inbound_in(sms_inbound_start_words, b, len))
		return SMS_INBOUND_START;
	if (sms_inbound_in(sms_inbound_cancel_words, b, len))
		return SMS_INBOUND_CANCEL;
	return SMS_INBOUND_OTHER;
}

/* A timeline entry on the customer's latest case (open ones first). */
static int
sms_inbound_event(struct store_tx *tx, int64_t customer_id, int64_t callback_id,
		  const char *kind, json_t *body, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT id FROM cases WHERE customer_id = ? ORDER BY is_open "
		"DESC, id DESC LIMIT 1",
		"i", customer_id);
	int rc = r != NULL ? 0 : -1;

	/* Through callback_event, so consoles hear of it too. */
	if (r != NULL && store_rows_count(r) > 0)
		rc = callback_event(tx, store_rows_int(r, 0, 0, 0), callback_id,
				    kind, "customer (SMS)", body, err);
	else
		json_decref(body);
	store_rows_free(r);
	return rc;
}

/* The language of the customer's latest booking, else default_language,
 * into lang. */
static int
sms_inbound_language(struct store_tx *tx, const struct config *cfg,
		     int64_t customer_id, char *lang, size_t size,
		     struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT language FROM callbacks WHERE customer_id = ? AND "
		"language IS NOT NULL ORDER BY id DESC LIMIT 1",
		"i", customer_id);

	if (r == NULL)
		return -1;
	snprintf(lang, size, "%s",
		 store_rows_count(r) > 0 ? store_rows_str(r, 0, 0)
					 : cfg->default_language);
	store_rows_free(r);
	return 0;
}

/*
 * A text back to the customer, through the outbox (so a STOP still holds,
 * and staff see it): the operator's text (override) when set, else the
 * template message in the customer's language. About a callback, the
 * message is rendered again when sent, like every text of a callback.
 */
static int
sms_inbound_reply(struct store_tx *tx, const struct config *cfg, const char *to,
		  const char *tz, int64_t customer_id, int64_t callback_id,
		  const char *message, const char *override,
		  struct cbd_err *err)
{
	struct notify_ctx c = { 0 };
	char lang[36];
	char *text;
	json_t *p;
	int rc;

	if (!strcmp(cfg->sms_mode, "off"))
		return 0;
	if (override[0] != '\0')
		p = json_pack("{s:s, s:s, s:s}", "to", to, "body", override,
			      "tz", tz);
	else {
		if (sms_inbound_language(tx, cfg, customer_id, lang,
					 sizeof(lang), err) != 0)
			return -1;
		c.callback_id = callback_id;
		c.tz = tz;
		c.language = lang;
		text = render_text(cfg, &c, message);
		p = json_pack("{s:s, s:s, s:s}", "to", to, "body", text, "tz",
			      tz);
		if (callback_id > 0)
			json_object_set_new(p, "message", json_string(message));
		free(text);
	}
	rc = outbox_enqueue(tx, OUTBOX_SMS, "sms.reply", callback_id, p,
			    clock_now(), err);
	json_decref(p);
	return rc;
}

/* "C": the number's next open callback is cancelled, and said so. */
static int
sms_inbound_cancel(struct store_tx *tx, const struct config *cfg,
		   const struct sms_inbound *in, int64_t customer_id,
		   const char *tz, struct cbd_err *err)
{
	struct callback_caller who = { HTTP_ROLE_PUBLIC, 0, NULL,
				       "customer (SMS)" };
	struct store_rows *r;
	json_t *out = NULL;
	int64_t id;
	int asked_sms, rc;

	r = store_query(tx, err,
			"SELECT id, notify FROM callbacks WHERE customer_id = "
			"? AND state IN (" CALLBACK_OPEN_STATES ") ORDER BY "
			"due_at, id LIMIT 1",
			"i", customer_id);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		if (sms_inbound_event(tx, customer_id, 0, "sms_reply",
				      json_pack("{s:s, s:s}", "text", in->body,
						"meant", "cancel"),
				      err) != 0)
			return -1;
		return sms_inbound_reply(tx, cfg, in->from, tz, customer_id, 0,
					 "sms_reply_nothing_to_cancel",
					 cfg->sms_reply_nothing_to_cancel, err);
	}
	id = store_rows_int(r, 0, 0, 0);
	asked_sms = strstr(store_rows_str(r, 0, 1), "sms") != NULL;
	store_rows_free(r);
	if (callback_cancel(tx, cfg, id, &who, &out, err) != 0)
		return -1;
	json_decref(out);
	/* A customer who asked for texts gets the usual cancellation text:
	 * that is the confirmation; one who did not gets this one. */
	rc = asked_sms ? 0
		       : sms_inbound_reply(tx, cfg, in->from, tz, customer_id,
					   id, "sms_reply_cancelled",
					   cfg->sms_reply_cancelled, err);
	return rc;
}

/* Has this reply been acted on already? Records it when not. */
static int
sms_inbound_seen(struct store_tx *tx, const char *event_id, int *seen,
		 struct cbd_err *err)
{
	int64_t now = clock_now(), n;

	*seen = 0;
	if (event_id == NULL || *event_id == '\0')
		return 0;
	if (store_exec(tx, err,
		       "DELETE FROM sms_inbound_seen WHERE received_at < ? "
		       "LIMIT 100",
		       "i", now - SMS_INBOUND_SEEN_SEC) < 0)
		return -1;
	n = store_exec(tx, err,
		       "INSERT IGNORE INTO sms_inbound_seen (event_id, "
		       "received_at) VALUES (?, ?)",
		       "si", event_id, now);
	if (n < 0)
		return -1;
	*seen = n == 0;
	return 0;
}

int
sms_inbound_handle(struct store_tx *tx, const struct config *cfg,
		   const struct sms_inbound *in, struct cbd_err *err)
{
	enum sms_inbound_kind kind = sms_inbound_classify(in->body);
	struct store_rows *r;
	int64_t customer_id = 0;
	char masked[32], tz[64] = "UTC", word[32];
	int seen, rc = -1;

	r = store_query(tx, err,
			"SELECT id, timezone FROM customers WHERE phone = ?",
			"s", in->from);
	if (r == NULL)
		return -1;
	if (store_rows_count(r) > 0) {
		customer_id = store_rows_int(r, 0, 0, 0);
		snprintf(tz, sizeof(tz), "%s", store_rows_str(r, 0, 1));
	}
	store_rows_free(r);
	if (customer_id == 0 && kind != SMS_INBOUND_STOP &&
	    kind != SMS_INBOUND_START) {
		log_info("sms reply from an unknown number", "from=%s",
			 log_mask_phone(in->from, masked, sizeof(masked)));
		return 0;
	}
	if (sms_inbound_seen(tx, in->event_id, &seen, err) != 0)
		return -1;
	if (seen)
		return 0;
	switch (kind) {
	case SMS_INBOUND_STOP:
	case SMS_INBOUND_START:
		/* The word as sent, for staff: "Stop", "UNSUBSCRIBE" ... */
		snprintf(word, sizeof(word), "%s",
			 in->body + strspn(in->body, " \t\n"));
		word[strcspn(word, " \t\n")] = '\0';
		if (optout_set(tx, in->from, kind == SMS_INBOUND_STOP, word,
			       in->source, err) != 0)
			goto out;
		if (customer_id > 0 &&
		    sms_inbound_event(tx, customer_id, 0,
				      kind == SMS_INBOUND_STOP ? "sms_opt_out"
							       : "sms_opt_in",
				      json_pack("{s:s}", "text", in->body),
				      err) != 0)
			goto out;
		log_info(kind == SMS_INBOUND_STOP ? "sms opt-out"
						  : "sms opt-in",
			 "from=%s source=%s",
			 log_mask_phone(in->from, masked, sizeof(masked)),
			 in->source);
		break;
	case SMS_INBOUND_CANCEL:
		if (sms_inbound_cancel(tx, cfg, in, customer_id, tz, err) != 0)
			goto out;
		break;
	case SMS_INBOUND_OTHER:
		if (sms_inbound_event(tx, customer_id, 0, "sms_reply",
				      json_pack("{s:s}", "text", in->body),
				      err) != 0)
			goto out;
		break;
	}
	rc = 0;
out:
	return rc;
}
