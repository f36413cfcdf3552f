/*
 * api_callbacks.c: /v1/callbacks, the customer's side. Booking is public;
 * reading, moving and cancelling take the callback's manage token or a
 * staff key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "callback.h"
#include "clock.h"
#include "config.h"
#include "i18n.h"
#include "outbox.h"
#include "outbox_dead.h"
#include "phone.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "xalloc.h"

/* Parsed "when": "asap" or a future RFC 3339 time within the horizon. */
static int
api_callbacks_when(const struct http_req *r, json_t *v, int *is_asap,
		   int64_t *when, struct cbd_err *err)
{
	int64_t now = clock_now();
	const char *s;

	if (v == NULL) {
		cbd_err_set(err, 400, "missing-field", "when",
			    "when is required: \"asap\" or an RFC 3339 time");
		return -1;
	}
	if (!json_is_string(v)) {
		cbd_err_set(err, 400, "invalid-field", "when",
			    "when must be \"asap\" or an RFC 3339 time");
		return -1;
	}
	s = json_string_value(v);
	if (strcmp(s, "asap") == 0) {
		*is_asap = 1;
		*when = now;
		return 0;
	}
	*is_asap = 0;
	if (timefmt_parse_rfc3339(s, when) != 0) {
		cbd_err_set(err, 400, "invalid-time", "when",
			    "when must be \"asap\" or an RFC 3339 time with "
			    "offset, e.g. 2026-11-30T15:00:00+05:30");
		return -1;
	}
	if (*when <= now) {
		cbd_err_set(err, 422, "time-in-past", "when",
			    "when is in the past");
		return -1;
	}
	if (*when > now + (int64_t)r->cfg->booking_horizon_days * 86400) {
		cbd_err_set(err, 422, "beyond-horizon", "when",
			    "when is more than %d days ahead",
			    r->cfg->booking_horizon_days);
		return -1;
	}
	return 0;
}

/* Fill b from the body; pure, so it runs in parse and again in work. */
static int
api_callbacks_read(const struct http_req *r, struct callback_booking *b,
		   struct cbd_err *err)
{
	static const char *const top[] = { "customer", "topic",     "when",
					   "notify",   "force_new", "queue",
					   NULL };
	static const char *const cust[] = { "name",     "phone",  "email",
					    "timezone", "region", "language",
					    NULL };
	struct phone_number pn;
	const char *region = NULL, *language = NULL;
	char read_in[8];
	json_t *c = json_object_get(r->body, "customer");
	json_t *notify = json_object_get(r->body, "notify");
	json_t *force = json_object_get(r->body, "force_new");

	memset(b, 0, sizeof(*b));
	b->actor = "customer";
	if (http_check_fields(r->body, top, "", err) != 0)
		return -1;
	if (c == NULL) {
		cbd_err_set(err, 400, "missing-field", "customer",
			    "customer is required");
		return -1;
	}
	if (!json_is_object(c)) {
		cbd_err_set(err, 400, "invalid-field", "customer",
			    "customer must be an object");
		return -1;
	}
	if (http_check_fields(c, cust, "customer.", err) != 0 ||
	    http_get_str(c, "name", "customer.name", 100, 1, &b->name, err) ||
	    http_get_str(c, "phone", "customer.phone", 40, 1, &b->phone, err) ||
	    http_get_str(c, "region", "customer.region", 2, 0, &region, err) ||
	    http_get_str(c, "language", "customer.language", 35, 0, &language,
			 err) ||
	    http_get_str(c, "email", "customer.email", 254, 0, &b->email,
			 err) ||
	    http_get_str(c, "timezone", "customer.timezone", 64, 1,
			 &b->timezone, err) ||
	    http_get_str(r->body, "topic", "topic", 200, 1, &b->topic, err) ||
	    http_get_str(r->body, "queue", "queue", 64, 0, &b->queue, err))
		return -1;
	if (!valid_tz(b->timezone)) {
		cbd_err_set(err, 400, "invalid-timezone", "customer.timezone",
			    "timezone must be an IANA zone name such as "
			    "Europe/London");
		return -1;
	}
	/* A number without + is read as one of the region given, else of
	 * the country of the customer's zone, else default_region. */
	if (valid_phone_region(region, b->timezone, r->cfg->default_region,
			       "customer.region", read_in, sizeof(read_in),
			       err) != 0 ||
	    valid_phone(b->phone, read_in, "customer.phone", &pn, err) != 0)
		return -1;
	snprintf(b->phone_e164, sizeof(b->phone_e164), "%s", pn.e164);
	b->phone = b->phone_e164;
	if (language == NULL)
		language = r->cfg->default_language;
	if (i18n_language(language, b->language_tag, sizeof(b->language_tag)) !=
	    0) {
		cbd_err_set(err, 400, "invalid-language", "customer.language",
			    "language must be a BCP 47 tag such as en, es-MX "
			    "or hi");
		return -1;
	}
	b->language = b->language_tag;
	if (b->email != NULL && !valid_email(b->email)) {
		cbd_err_set(err, 400, "invalid-email", "customer.email",
			    "email is not a valid address");
		return -1;
	}
	if (notify != NULL) {
		size_t i;
		json_t *v;
		if (!json_is_array(notify) || json_array_size(notify) > 2) {
			cbd_err_set(err, 400, "invalid-field", "notify",
				    "notify must be a list of \"email\" and/or"
				    " \"sms\"");
			return -1;
		}
		json_array_foreach(notify, i, v)
		{
			const char *s = json_string_value(v);
			if (s != NULL && !strcmp(s, "email"))
				b->notify_email = 1;
			else if (s != NULL && !strcmp(s, "sms"))
				b->notify_sms = 1;
			else {
				cbd_err_set(err, 400, "invalid-field", "notify",
					    "notify may hold \"email\" and "
					    "\"sms\" only");
				return -1;
			}
		}
		if (b->notify_email && b->email == NULL) {
			cbd_err_set(err, 400, "missing-field", "customer.email",
				    "notify by email needs customer.email");
			return -1;
		}
		/* Only when the library can tell: in some countries (the
		 * US) a number alone does not say whether it is mobile. */
		if (b->notify_sms && pn.line == PHONE_LINE_FIXED) {
			cbd_err_set(err, 422, "phone-not-mobile",
				    "customer.phone",
				    "%s is a landline, which cannot receive "
				    "text messages: give a mobile number or "
				    "leave out sms",
				    pn.national);
			return -1;
		}
	}
	if (force != NULL) {
		if (!json_is_boolean(force)) {
			cbd_err_set(err, 400, "invalid-field", "force_new",
				    "force_new must be true or false");
			return -1;
		}
		b->force_new = json_is_true(force);
	}
	return api_callbacks_when(r, json_object_get(r->body, "when"),
				  &b->is_asap, &b->when, err);
}

static int
api_callbacks_create_parse(struct http_req *r, struct cbd_err *err)
{
	struct callback_booking b;

	return api_callbacks_read(r, &b, err);
}

int
api_callbacks_book(struct store_tx *tx, struct http_req *r, json_t **out,
		   int *status, struct cbd_err *err)
{
	struct callback_booking b;

	/* Re-read so "now" is the transaction's, not the parse's. */
	if (api_callbacks_read(r, &b, err) != 0)
		return -1;
	b.client_ip = r->client_ip;
	return callback_book(tx, r->cfg, &b, out, status, err);
}

static int
api_callbacks_create_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	json_t *out = NULL;
	int status = 0;

	if (api_callbacks_book(tx, r, &out, &status, err) != 0)
		return -1;
	if (status == 201)
		r->location = xasprintf("/v1/callbacks/%lld",
					(long long)json_integer_value(
						json_object_get(out, "id")));
	http_reply_json(r, status, out);
	return 0;
}

/* POST /v1/manage-links {phone, region?, timezone?}: text me my link.
 * Public and limited like a booking; the answer is 202 and the same
 * whether or not the phone has an open callback. The phone is read as at
 * booking: national forms in region, or the country of timezone (the
 * book page sends the browser's), or default_region. */
static int
api_callbacks_link_read(const struct http_req *r, struct phone_number *pn,
			struct cbd_err *err)
{
	static const char *const fields[] = { "phone", "region", "timezone",
					      NULL };
	const char *phone, *region = NULL, *tz = NULL;
	char read_in[8];

	if (http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "phone", "phone", 40, 1, &phone, err) != 0 ||
	    http_get_str(r->body, "region", "region", 2, 0, &region, err) !=
		    0 ||
	    http_get_str(r->body, "timezone", "timezone", 64, 0, &tz, err) != 0)
		return -1;
	if (tz != NULL && !valid_tz(tz)) {
		cbd_err_set(err, 400, "invalid-timezone", "timezone",
			    "timezone must be an IANA zone name such as "
			    "Europe/London");
		return -1;
	}
	return valid_phone_region(region, tz, r->cfg->default_region, "region",
				  read_in, sizeof(read_in), err) ||
			       valid_phone(phone, read_in, "phone", pn, err)
		       ? -1
		       : 0;
}

static int
api_callbacks_link_parse(struct http_req *r, struct cbd_err *err)
{
	struct phone_number pn;

	return api_callbacks_link_read(r, &pn, err);
}

static int
api_callbacks_link_work(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	struct phone_number pn;
	json_t *out;

	if (api_callbacks_link_read(r, &pn, err) != 0 ||
	    callback_request_link(tx, r->cfg, pn.e164, r->client_ip, &out,
				  err) != 0)
		return -1;
	http_reply_json(r, 202, out);
	return 0;
}

static int
api_callbacks_id_parse(struct http_req *r, struct cbd_err *err)
{
	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such callback");
		return -1;
	}
	return 0;
}

static int
api_callbacks_get_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];
	json_t *out;

	api_caller(r, &who, actor, sizeof(actor));
	if (callback_get(tx, r->cfg, http_param_id(r, 0), &who, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

/* PATCH body: {when?, choice?}; when may be left out only with a choice
 * (then the first slot that choice allows). */
static int
api_callbacks_patch_read(struct http_req *r, int *is_asap, int64_t *when,
			 enum callback_choice *choice, struct cbd_err *err)
{
	static const char *const fields[] = { "when", "choice", NULL };
	json_t *c = json_object_get(r->body, "choice");

	*is_asap = 0;
	*when = 0;
	*choice = CALLBACK_CHOICE_ANY;
	if (api_callbacks_id_parse(r, err) != 0 ||
	    http_check_fields(r->body, fields, "", err) != 0)
		return -1;
	if (c != NULL) {
		const char *v = json_string_value(c);
		if (v != NULL && !strcmp(v, "same_person"))
			*choice = CALLBACK_CHOICE_SAME_PERSON;
		else if (v != NULL && !strcmp(v, "earliest"))
			*choice = CALLBACK_CHOICE_EARLIEST;
		else {
			cbd_err_set(err, 400, "invalid-field", "choice",
				    "choice must be \"same_person\" or "
				    "\"earliest\"");
			return -1;
		}
		if (json_object_get(r->body, "when") == NULL)
			return 0;
	}
	return api_callbacks_when(r, json_object_get(r->body, "when"), is_asap,
				  when, err);
}

static int
api_callbacks_patch_parse(struct http_req *r, struct cbd_err *err)
{
	enum callback_choice choice;
	int64_t when;
	int is_asap;

	return api_callbacks_patch_read(r, &is_asap, &when, &choice, err);
}

int
api_callbacks_move(struct store_tx *tx, struct http_req *r, json_t **out,
		   struct cbd_err *err)
{
	struct callback_caller who;
	enum callback_choice choice;
	char actor[48];
	int64_t when;
	int is_asap;

	api_caller(r, &who, actor, sizeof(actor));
	if (api_callbacks_patch_read(r, &is_asap, &when, &choice, err) != 0)
		return -1;
	return callback_reschedule(tx, r->cfg, http_param_id(r, 0), &who,
				   is_asap, when, choice, out, err);
}

static int
api_callbacks_patch_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	json_t *out;

	if (api_callbacks_move(tx, r, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_callbacks_delete_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];
	json_t *out;

	api_caller(r, &who, actor, sizeof(actor));
	if (callback_cancel(tx, r->cfg, http_param_id(r, 0), &who, &out, err) !=
	    0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_callbacks_ics_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];
	char *ics;

	api_caller(r, &who, actor, sizeof(actor));
	if (callback_invite_ics(tx, r->cfg, http_param_id(r, 0), &who, &ics,
				err) != 0)
		return -1;
	r->status = 200;
	r->resp_raw = ics;
	r->resp_type = "text/calendar; charset=utf-8";
	return 0;
}

/* What a customer may see of the messages: the texts and e-mails sent to
 * them, without the delivery errors (which name the service's own
 * gateways); webhooks go to the company, not to them. */
static void
api_callbacks_customer_messages(json_t *items)
{
	size_t i = 0;

	while (i < json_array_size(items)) {
		json_t *m = json_array_get(items, i);
		const char *ch =
			json_string_value(json_object_get(m, "channel"));

		if (ch == NULL || strcmp(ch, "webhook") == 0) {
			json_array_remove(items, i);
			continue;
		}
		json_object_set_new(m, "last_error", json_null());
		i++;
	}
}

int
api_callbacks_messages(struct store_tx *tx, struct http_req *r, json_t **items,
		       struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];
	json_t *cb;

	api_caller(r, &who, actor, sizeof(actor));
	if (callback_get(tx, r->cfg, http_param_id(r, 0), &who, &cb, err) != 0)
		return -1;
	json_decref(cb);
	if (outbox_list(tx, http_param_id(r, 0), items, err) != 0)
		return -1;
	if (outbox_dead_annotate(tx, http_param_id(r, 0), *items, err) != 0) {
		json_decref(*items);
		return -1;
	}
	if (r->role == HTTP_ROLE_CUSTOMER)
		api_callbacks_customer_messages(*items);
	return 0;
}

static int
api_callbacks_messages_work(struct store_tx *tx, struct http_req *r,
			    struct cbd_err *err)
{
	json_t *items;

	if (api_callbacks_messages(tx, r, &items, err) != 0)
		return -1;
	http_reply_json(r, 200, json_pack("{s:o}", "items", items));
	return 0;
}

/* GET /v1/callbacks/{id}/who-calls?at=: who would make this call at
 * another time. Staff only: it names agents and says who works when. */
static int
api_callbacks_who_read(const struct http_req *r, int64_t *at,
		       struct cbd_err *err)
{
	const char *s = http_query(r, "at");

	if (s == NULL || timefmt_parse_rfc3339(s, at) != 0) {
		cbd_err_set(err, 400, "invalid-time", "at",
			    "at must be an RFC 3339 time");
		return -1;
	}
	return 0;
}

static int
api_callbacks_who_parse(struct http_req *r, struct cbd_err *err)
{
	int64_t at;

	if (api_callbacks_id_parse(r, err) != 0)
		return -1;
	return api_callbacks_who_read(r, &at, err);
}

static int
api_callbacks_who_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	int64_t at;
	json_t *out;

	if (api_callbacks_who_read(r, &at, err) != 0)
		return -1;
	if (callback_who_calls(tx, r->cfg, http_param_id(r, 0), at, &out,
			       err) != 0) {
		/* The move's refusals name its "when"; here it is "at". */
		if (strcmp(err->field, "when") == 0)
			snprintf(err->field, sizeof(err->field), "at");
		return -1;
	}
	http_reply_json(r, 200, out);
	return 0;
}

#define API_CALLBACK_ROLES (HTTP_ROLE_CUSTOMER | HTTP_ROLES_STAFF)

const struct http_route api_callbacks_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/callbacks", HTTP_ROLE_PUBLIC, HTTP_F_IDEMPOTENT,
	  "callbacks_create", api_callbacks_create_parse,
	  api_callbacks_create_work },
	{ EVHTTP_REQ_POST, "/v1/manage-links", HTTP_ROLE_PUBLIC, 0,
	  "manage_links_create", api_callbacks_link_parse,
	  api_callbacks_link_work },
	{ EVHTTP_REQ_GET, "/v1/callbacks/:id", API_CALLBACK_ROLES, 0,
	  "callbacks_get", api_callbacks_id_parse, api_callbacks_get_work },
	{ EVHTTP_REQ_PATCH, "/v1/callbacks/:id", API_CALLBACK_ROLES, 0,
	  "callbacks_update", api_callbacks_patch_parse,
	  api_callbacks_patch_work },
	{ EVHTTP_REQ_DELETE, "/v1/callbacks/:id", API_CALLBACK_ROLES, 0,
	  "callbacks_cancel", api_callbacks_id_parse,
	  api_callbacks_delete_work },
	{ EVHTTP_REQ_GET, "/v1/callbacks/:id/invite.ics", API_CALLBACK_ROLES, 0,
	  "callbacks_invite", api_callbacks_id_parse, api_callbacks_ics_work },
	{ EVHTTP_REQ_GET, "/v1/callbacks/:id/messages", API_CALLBACK_ROLES, 0,
	  "callbacks_messages", api_callbacks_id_parse,
	  api_callbacks_messages_work },
	{ EVHTTP_REQ_GET, "/v1/callbacks/:id/who-calls", HTTP_ROLES_STAFF, 0,
	  "callbacks_who_calls", api_callbacks_who_parse,
	  api_callbacks_who_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
