/*
 * api_sms.c: /v1/sms, what the SMS provider tells us: customers' replies
 * and delivery receipts, one pair of endpoints per sms_mode (Twilio's
 * signed form POSTs; the generic gateway's Standard Webhooks JSON), and
 * the opt-out list for leads.
 *
 * The provider's endpoints take no key: the signature is the credential.
 * It is checked on the loop thread before any store work, so a request
 * with a missing (401) or wrong (403) signature changes nothing. A
 * request that is signed is answered 200 even when it asks for nothing
 * (an unknown number, a receipt for a message we do not know): any other
 * answer only makes the provider send it again.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "optout.h"
#include "sms_inbound.h"
#include "sms_receipt.h"
#include "sms_sign.h"
#include "store.h"
#include "valid.h"
#include "xalloc.h"

/* An empty TwiML answer: no automatic reply from Twilio. */
#define API_SMS_TWIML                                                          \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
/* Twilio's longest message body, in characters. */
#define API_SMS_BODY_MAX 1600

/* What parse read from a signed request, for work. */
struct api_sms_ctx {
	struct evkeyvalq form;
	char *event_id;
	char *from;
	char *body;
	char *msg_id;
	char *provider_id;
	char *status;
	char *error_code;
	int is_permanent;
	const char *source;
};

static void
api_sms_ctx_free(void *arg)
{
	struct api_sms_ctx *c = arg;

	evhttp_clear_headers(&c->form);
	free(c->event_id);
	free(c->from);
	free(c->body);
	free(c->msg_id);
	free(c->provider_id);
	free(c->status);
	free(c->error_code);
	free(c);
}

static struct api_sms_ctx *
api_sms_ctx_new(struct http_req *r, const char *source)
{
	struct api_sms_ctx *c = xcalloc(1, sizeof(*c));

	TAILQ_INIT(&c->form);
	c->source = source;
	r->ctx = c;
	r->ctx_free = api_sms_ctx_free;
	return c;
}

static char *
api_sms_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The reply's text as staff will read it: valid UTF-8, CR LF as LF. */
static int
api_sms_body(struct api_sms_ctx *c, const char *body, const char *field,
	     struct cbd_err *err)
{
	char *w;

	c->body = xstrdup(body ? body : "");
	for (char *p = c->body; (p = strchr(p, '\r')) != NULL;) {
		w = p + (p[1] == '\n');
		memmove(p, w, strlen(w) + 1);
		if (*p == '\r')
			*p = '\n';
	}
	if (!valid_text(c->body, strlen(c->body)) ||
	    valid_utf8_len(c->body) > API_SMS_BODY_MAX) {
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s must be UTF-8 text of at most %d characters",
			    field, API_SMS_BODY_MAX);
		return -1;
	}
	return 0;
}

/* Delivery state and error code, checked. */
static int
api_sms_status(struct api_sms_ctx *c, const char *status, const char *code,
	       const char *sfield, const char *cfield, struct cbd_err *err)
{
	if (!sms_receipt_status_known(status)) {
		cbd_err_set(err, 400, "invalid-field", sfield,
			    "%s must be a message status such as delivered, "
			    "undelivered or failed",
			    sfield);
		return -1;
	}
	if (code != NULL && *code == '\0')
		code = NULL;
	if (code != NULL &&
	    (strlen(code) > 16 || strspn(code, "0123456789") != strlen(code))) {
		cbd_err_set(err, 400, "invalid-field", cfield,
			    "%s must be a numeric error code", cfield);
		return -1;
	}
	c->status = xstrdup(status);
	c->error_code = api_sms_dup(code);
	return 0;
}

/* Our message id as it rides in a callback URL: a UUID, or absent. */
static int
api_sms_msg_id(struct api_sms_ctx *c, const char *m, const char *field,
	       struct cbd_err *err)
{
	if (m == NULL)
		return 0;
	if (strlen(m) != 36 || strspn(m, "0123456789abcdef-") != 36) {
		cbd_err_set(err, 400, "invalid-field", field,
			    "%s is not a message id this server issued", field);
		return -1;
	}
	c->msg_id = xstrdup(m);
	return 0;
}

/* ---- Twilio ---- */

/*
 * Parse the form and check X-Twilio-Signature over public_url plus the
 * target as sent: the URL configured at Twilio, whatever proxy is between.
 */
static int
api_sms_twilio_verify(struct http_req *r, struct api_sms_ctx *c,
		      struct cbd_err *err)
{
	const char *sig = evhttp_find_header(r->headers, "X-Twilio-Signature");
	const char *base = r->cfg->public_url;
	size_t blen = strlen(base);
	char *url;
	int ok;

	if (sig == NULL) {
		cbd_err_set(err, 401, "unauthorized", "X-Twilio-Signature",
			    "X-Twilio-Signature is required");
		return -1;
	}
	if (evhttp_parse_query_str(r->raw_body, &c->form) != 0) {
		cbd_err_set(err, 400, "invalid-form", "body",
			    "the body is not a valid form");
		return -1;
	}
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	url = xasprintf("%.*s%s", (int)blen, base, r->target ? r->target : "");
	ok = sms_sign_twilio_ok(r->cfg->twilio_auth_token, url, &c->form, sig);
	free(url);
	if (!ok) {
		cbd_err_set(err, 403, "invalid-signature", "X-Twilio-Signature",
			    "X-Twilio-Signature does not match this request");
		return -1;
	}
	return 0;
}

static int
api_sms_twilio_reply_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_sms_ctx *c = api_sms_ctx_new(r, "twilio");
	const char *from, *sid;

	if (api_sms_twilio_verify(r, c, err) != 0)
		return -1;
	from = evhttp_find_header(&c->form, "From");
	sid = evhttp_find_header(&c->form, "MessageSid");
	if (from == NULL || !valid_e164(from)) {
		cbd_err_set(err, 400, "invalid-phone", "From",
			    "From must be an E.164 number");
		return -1;
	}
	if (sid == NULL || *sid == '\0' || strlen(sid) > 64) {
		cbd_err_set(err, 400, "invalid-field", "MessageSid",
			    "MessageSid is required");
		return -1;
	}
	c->from = xstrdup(from);
	c->event_id = xasprintf("twilio:%s", sid);
	return api_sms_body(c, evhttp_find_header(&c->form, "Body"), "Body",
			    err);
}

static int
api_sms_twilio_status_parse(struct http_req *r, struct cbd_err *err)
{
	struct api_sms_ctx *c = api_sms_ctx_new(r, "twilio");
	const char *sid;

	if (api_sms_twilio_verify(r, c, err) != 0)
		return -1;
	sid = evhttp_find_header(&c->form, "MessageSid");
	if (sid != NULL && strlen(sid) <= 64)
		c->provider_id = xstrdup(sid);
	return api_sms_msg_id(c, http_query(r, "m"), "m", err) ||
	       api_sms_status(c, evhttp_find_header(&c->form, "MessageStatus"),
			      evhttp_find_header(&c->form, "ErrorCode"),
			      "MessageStatus", "ErrorCode", err);
}

/* ---- the generic gateway (Standard Webhooks) ---- */

static int
api_sms_webhook_verify(struct http_req *r, struct cbd_err *err)
{
	const struct evkeyvalq *h = r->headers;
	const char *id = evhttp_find_header(h, "webhook-id");

	if (sms_sign_webhook_check(r->cfg->sms_inbound_secrets, id,
				   evhttp_find_header(h, "webhook-timestamp"),
				   evhttp_find_header(h, "webhook-signature"),
				   r->raw_body, r->raw_len, clock_now(),
				   err) != 0)
		return -1;
	if (strlen(id) > 64) {
		cbd_err_set(err, 400, "invalid-header", "webhook-id",
			    "webhook-id is longer than 64 characters");
		return -1;
	}
	return 0;
}

static int
api_sms_webhook_reply_parse(struct http_req *r, struct cbd_err *err)
{
	static const char *const fields[] = { "type", "from", "to", "body",
					      NULL };
	struct api_sms_ctx *c = api_sms_ctx_new(r, "webhook");
	const char *from, *to, *body, *type;

	if (api_sms_webhook_verify(r, err) != 0 ||
	    http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "type", "type", 32, 0, &type, err) != 0 ||
	    http_get_str(r->body, "from", "from", 16, 1, &from, err) != 0 ||
	    http_get_str(r->body, "to", "to", 16, 0, &to, err) != 0)
		return -1;
	/* Checked by api_sms_body, once CR LF is LF: phones send both. */
	body = json_string_value(json_object_get(r->body, "body"));
	if (body == NULL) {
		cbd_err_set(err, 400, "missing-field", "body",
			    "body is required, a string");
		return -1;
	}
	if (!valid_e164(from)) {
		cbd_err_set(err, 400, "invalid-phone", "from",
			    "from must be an E.164 number");
		return -1;
	}
	c->from = xstrdup(from);
	c->event_id = xasprintf("webhook:%s",
				evhttp_find_header(r->headers, "webhook-id"));
	return api_sms_body(c, body, "body", err);
}

static int
api_sms_webhook_status_parse(struct http_req *r, struct cbd_err *err)
{
	static const char *const fields[] = { "type",        "msg_id",
					      "provider_id", "status",
					      "error_code",  "permanent",
					      NULL };
	struct api_sms_ctx *c = api_sms_ctx_new(r, "webhook");
	const char *type, *msg_id, *pid, *status, *code;
	json_t *perm = json_object_get(r->body, "permanent");

	if (api_sms_webhook_verify(r, err) != 0 ||
	    http_check_fields(r->body, fields, "", err) != 0 ||
	    http_get_str(r->body, "type", "type", 32, 0, &type, err) != 0 ||
	    http_get_str(r->body, "msg_id", "msg_id", 36, 0, &msg_id, err) ||
	    http_get_str(r->body, "provider_id", "provider_id", 64, 0, &pid,
			 err) ||
	    http_get_str(r->body, "status", "status", 16, 1, &status, err) ||
	    http_get_str(r->body, "error_code", "error_code", 16, 0, &code,
			 err))
		return -1;
	if (perm != NULL && !json_is_boolean(perm)) {
		cbd_err_set(err, 400, "invalid-field", "permanent",
			    "permanent must be true or false");
		return -1;
	}
	if (msg_id == NULL && pid == NULL) {
		cbd_err_set(err, 400, "missing-field", "msg_id",
			    "msg_id (or provider_id) is required");
		return -1;
	}
	c->is_permanent = json_is_true(perm);
	c->provider_id = api_sms_dup(pid);
	return api_sms_msg_id(c, msg_id, "msg_id", err) ||
	       api_sms_status(c, status, code, "status", "error_code", err);
}

/* ---- work ---- */

static int
api_sms_reply_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	struct api_sms_ctx *c = r->ctx;
	struct sms_inbound in = { c->event_id, c->from, c->body, c->source };

	if (sms_inbound_handle(tx, r->cfg, &in, err) != 0)
		return -1;
	if (!strcmp(c->source, "twilio")) {
		r->status = 200;
		r->resp_raw = xstrdup(API_SMS_TWIML);
		r->resp_type = "application/xml";
	} else
		http_reply_json(r, 200, json_pack("{s:b}", "received", 1));
	return 0;
}

static int
api_sms_status_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	struct api_sms_ctx *c = r->ctx;
	struct sms_receipt rc = { c->msg_id, c->provider_id, c->status,
				  c->error_code, c->is_permanent };

	if (sms_receipt_apply(tx, &rc, err) != 0)
		return -1;
	http_reply_json(r, 200, json_pack("{s:b}", "received", 1));
	return 0;
}

/* GET /v1/sms/opt-outs?limit=&cursor= (the last phone of a page). */
static int
api_sms_optouts_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	const char *l = http_query(r, "limit");
	const char *cursor = http_query(r, "cursor");
	int64_t limit = 50;
	json_t *out;

	if (l != NULL) {
		char *end;
		long v = strtol(l, &end, 10);
		if (*l == '\0' || *end != '\0' || v < 1 || v > 200) {
			cbd_err_set(err, 400, "invalid-query", "limit",
				    "limit must be an integer from 1 to 200");
			return -1;
		}
		limit = v;
	}
	if (cursor != NULL && !valid_e164(cursor)) {
		cbd_err_set(err, 400, "invalid-query", "cursor",
			    "cursor is not one this server issued");
		return -1;
	}
	if (optout_list(tx, limit, cursor, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_sms_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/sms/twilio/replies", HTTP_ROLE_PUBLIC,
	  HTTP_F_FORM_BODY | HTTP_F_SIGNED, "sms_twilio_replies",
	  api_sms_twilio_reply_parse, api_sms_reply_work },
	{ EVHTTP_REQ_POST, "/v1/sms/twilio/status", HTTP_ROLE_PUBLIC,
	  HTTP_F_FORM_BODY | HTTP_F_SIGNED, "sms_twilio_status",
	  api_sms_twilio_status_parse, api_sms_status_work },
	{ EVHTTP_REQ_POST, "/v1/sms/replies", HTTP_ROLE_PUBLIC, HTTP_F_SIGNED,
	  "sms_replies", api_sms_webhook_reply_parse, api_sms_reply_work },
	{ EVHTTP_REQ_POST, "/v1/sms/status", HTTP_ROLE_PUBLIC, HTTP_F_SIGNED,
	  "sms_status", api_sms_webhook_status_parse, api_sms_status_work },
	{ EVHTTP_REQ_GET, "/v1/sms/opt-outs", HTTP_ROLES_LEADS, 0,
	  "sms_optouts", NULL, api_sms_optouts_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
