/*
 * sms_receipt.c: delivery receipts onto the outbox and the customer.
 *
 * A receipt names its message by our msg_id (carried in the StatusCallback
 * URL each text is sent with) or by the provider's id (stored from the
 * send's answer); either finds the row. States only move forward: a late
 * "sent" never overwrites "delivered". Only a permanent failure flags the
 * number (a phone that was switched off is not a wrong number), and a
 * later delivered text to it lifts the flag.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "callback_row.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "sms_receipt.h"
#include "store.h"
#include "xalloc.h"

char *
sms_receipt_callback_url(const struct config *cfg, const char *msg_id)
{
	size_t n = strlen(cfg->public_url);

	while (n > 0 && cfg->public_url[n - 1] == '/')
		n--;
	return xasprintf("%.*s/v1/sms/twilio/status?m=%s", (int)n,
			 cfg->public_url, msg_id);
}

/* How far along a state is; a receipt never moves a message back. */
/* Is rc the receipt already recorded (same status, same error code)? */
static int
sms_receipt_is_replay(const struct sms_receipt *rc, const char *status,
		      const char *error)
{
	const char *code = rc->error_code ? rc->error_code : "";

	return status != NULL && !strcmp(rc->status, status) &&
	       !strcmp(code, error ? error : "");
}

static int
sms_receipt_rank(const char *status)
{
	static const struct {
		const char *name;
		int rank;
	} ranks[] = {
		{ "accepted", 1 },    { "scheduled", 1 }, { "queued", 1 },
		{ "sending", 2 },     { "sent", 3 },      { "delivered", 4 },
		{ "undelivered", 4 }, { "failed", 4 },    { "read", 5 },
	};

	if (status == NULL)
		return 0;
	for (size_t i = 0; i < CBD_ARRAY_LEN(ranks); i++)
		if (!strcmp(status, ranks[i].name))
			return ranks[i].rank;
	return 0;
}

int
sms_receipt_status_known(const char *status)
{
	return sms_receipt_rank(status) > 0;
}

int
sms_receipt_code_is_permanent(const char *code)
{
	/* Twilio's codes for a number that is not a reachable mobile:
	 * invalid or unroutable "To", unsubscribed, not a mobile, blocked,
	 * unknown destination, landline or unreachable carrier. 30003
	 * (handset unreachable: often switched off) and 30008 (unknown) are
	 * left out on purpose. */
	static const char *const permanent[] = { "21211", "21214", "21610",
						 "21612", "21614", "30004",
						 "30005", "30006" };

	if (code == NULL)
		return 0;
	for (size_t i = 0; i < CBD_ARRAY_LEN(permanent); i++)
		if (!strcmp(code, permanent[i]))
			return 1;
	return 0;
}

/* The number a message went to, and its case: payload "to", else the
 * callback's customer. */
static int
sms_receipt_flag(struct store_tx *tx, int64_t callback_id, const char *to,
		 const struct sms_receipt *rc, int is_bad, struct cbd_err *err)
{
	int64_t now = clock_now();
	struct store_rows *r = NULL;
	const char *phone = to;
	int64_t case_id = 0, n;
	int ret = -1;

	if (callback_id > 0) {
		r = store_query(tx, err,
				"SELECT cu.phone, c.case_id FROM callbacks c "
				"JOIN customers cu ON cu.id = c.customer_id "
				"WHERE c.id = ?",
				"i", callback_id);
		if (r == NULL)
			return -1;
		if (store_rows_count(r) > 0) {
			if (phone == NULL)
				phone = store_rows_str(r, 0, 0);
			case_id = store_rows_int(r, 0, 1, 0);
		}
	}
	if (phone == NULL) {
		ret = 0;
		goto out;
	}
	if (!is_bad) {
		n = store_exec(tx, err,
			       "UPDATE customers SET phone_undeliverable_at = "
			       "NULL, phone_undeliverable_error = NULL WHERE "
			       "phone = ? AND phone_undeliverable_at IS NOT "
			       "NULL",
			       "s", phone);
		if (n > 0 && queue_versions_touch_phone(tx, phone, err) != 0)
			n = -1;
		ret = n < 0 ? -1 : 0;
		goto out;
	}
	n = store_exec(tx, err,
		       "UPDATE customers SET phone_undeliverable_at = ?, "
		       "phone_undeliverable_error = ? WHERE phone = ?",
		       "iss", now, rc->error_code ? rc->error_code : "", phone);
	if (n >= 0 && queue_versions_touch_phone(tx, phone, err) != 0)
		n = -1;
	if (n >= 0 && case_id > 0) {
		json_t *b = json_pack("{s:s, s:s?}", "status", rc->status,
				      "error_code", rc->error_code);

		/* callback_event takes b, and tells the consoles too */
		n = callback_event(tx, case_id, callback_id,
				   "phone_undeliverable", "sms gateway", b,
				   err);
	}
	ret = n < 0 ? -1 : 0;
out:
	store_rows_free(r);
	return ret;
}

int
sms_receipt_apply(struct store_tx *tx, const struct sms_receipt *rc,
		  struct cbd_err *err)
{
	struct store_rows *r;
	int64_t id, callback_id;
	json_t *p = NULL;
	int is_final_bad, ret = -1;

	r = store_query(tx, err,
			"SELECT id, callback_id, delivery_status, payload, "
			"delivery_error FROM "
			"outbox WHERE channel = 'sms' AND (msg_id = ? OR "
			"provider_id = ?) ORDER BY id LIMIT 1 FOR UPDATE",
			"ss", rc->msg_id ? rc->msg_id : "",
			rc->provider_id ? rc->provider_id : "");
	if (r == NULL)
		return -1;
	if (store_rows_count(r) == 0) {
		log_info("sms receipt for an unknown message", "status=%s",
			 rc->status);
		store_rows_free(r);
		return 0;
	}
	/* Older news, or the same receipt again (providers retry): nothing
	 * to record, and no second flag or timeline entry. */
	if (sms_receipt_rank(rc->status) <
		    sms_receipt_rank(store_rows_str(r, 0, 2)) ||
	    sms_receipt_is_replay(rc, store_rows_str(r, 0, 2),
				  store_rows_str(r, 0, 4))) {
		store_rows_free(r);
		return 0;
	}
	id = store_rows_int(r, 0, 0, 0);
	callback_id = store_rows_int(r, 0, 1, 0);
	p = json_loads(store_rows_str(r, 0, 3), 0, NULL);
	if (store_exec(
		    tx, err,
		    "UPDATE outbox SET delivery_status = ?, delivery_error = "
		    "?, delivery_at = ?, provider_id = COALESCE(provider_id, "
		    "?) WHERE id = ?",
		    "ssisi", rc->status, rc->error_code, clock_now(),
		    rc->provider_id, id) < 0)
		goto out;
	is_final_bad = (!strcmp(rc->status, "undelivered") ||
			!strcmp(rc->status, "failed")) &&
		       (rc->is_permanent ||
			sms_receipt_code_is_permanent(rc->error_code));
	if ((is_final_bad || !strcmp(rc->status, "delivered")) &&
	    sms_receipt_flag(tx, callback_id,
			     json_string_value(json_object_get(p, "to")), rc,
			     is_final_bad, err) != 0)
		goto out;
	ret = 0;
out:
	json_decref(p);
	store_rows_free(r);
	return ret;
}
