/*
 * web_forms.c: the book and manage pages' routes (see web_forms.h).
 *
 * Cross-site posts. A page of another site can post a form here without
 * asking (no preflight), so: the CSP's form-action 'self' keeps our own
 * pages from posting elsewhere, and every POST whose browser names an
 * Origin must name ours (public_url, the Host it was sent to, or one of
 * cors_origins) and whose Sec-Fetch-Site names another site is refused,
 * 403 (web_forms_origin_ok). Browsers send both with every form POST, so
 * a forged one from a visitor's browser cannot pass; a client that sends
 * neither is no victim's browser (and could call the JSON API anyway). On
 * top of that, moving and cancelling need the callback's manage token in
 * the form: a secret the other site does not have. Booking needs nothing
 * more than the JSON API does (it is public), and keeps its rate limits.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "api.h"
#include "callback.h"
#include "clock.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "routing_queue.h"
#include "slots.h"
#include "store.h"
#include "valid.h"
#include "web.h"
#include "web_forms.h"
#include "web_page.h"
#include "xalloc.h"

#define WEB_FORMS_SLOT_DAYS 7

static void
web_forms_free(void *ctx)
{
	struct web_form *f = ctx;

	evhttp_clear_headers(&f->fields);
	json_decref(f->slots);
	json_decref(f->callback);
	json_decref(f->messages);
	free(f);
}

const char *
web_forms_field(const struct web_form *f, const char *name)
{
	return evhttp_find_header(&f->fields, name);
}

/*
 * Whether a form post comes from this service's own pages. The pages send
 * no referrer (their addresses hold manage tokens), and under that policy
 * a browser's form post says "Origin: null": then Sec-Fetch-Site, which
 * no page can set, must say same-origin. Otherwise an Origin given must
 * be ours, and a Sec-Fetch-Site given must not say another site.
 */
static int
web_forms_origin_ok(const struct http_req *r)
{
	const char *host =
		r->headers ? evhttp_find_header(r->headers, "Host") : NULL;
	const char *site =
		r->headers ? evhttp_find_header(r->headers, "Sec-Fetch-Site")
			   : NULL;
	const char *o = r->origin;

	if (site != NULL && strcmp(site, "same-origin") != 0 &&
	    strcmp(site, "none") != 0)
		return 0;
	if (o != NULL && strcmp(o, "null") == 0)
		return site != NULL && strcmp(site, "same-origin") == 0;
	if (o == NULL || http_origin_allowed(r->cfg, o))
		return 1;
	if (host == NULL)
		return 0;
	if (strncasecmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncasecmp(o, "https://", 8) == 0)
		o += 8;
	else
		return 0;
	return strcasecmp(o, host) == 0;
}

/* Decode the body (a POST) or the query (a GET) into f->fields. */
static int
web_forms_decode(struct http_req *r, struct web_form *f, struct cbd_err *err)
{
	if (r->raw_body == NULL || r->raw_len == 0)
		return 0;
	/* "%00" would cut a value short without a word: refuse it, and a
	 * raw NUL likewise. */
	if (strlen(r->raw_body) != r->raw_len ||
	    strstr(r->raw_body, "%00") != NULL ||
	    evhttp_parse_query_str(r->raw_body, &f->fields) != 0) {
		cbd_err_set(err, 400, "invalid-form", "body",
			    "the form could not be read");
		return -1;
	}
	return 0;
}

/* The zone times are shown in: the one asked for when it is real, else
 * the company's. */
static void
web_forms_pick_zone(struct http_req *r, struct web_form *f)
{
	const char *z = web_forms_field(f, "zone");

	if (z == NULL)
		z = http_query(r, "zone");
	if (z == NULL || strlen(z) >= sizeof(f->zone) || !valid_tz(z))
		z = r->cfg->site_timezone;
	snprintf(f->zone, sizeof(f->zone), "%s", z);
}

/* Loop thread: the state every page route starts from. Never fails
 * before r->ctx is set, so even a refused form gets its page. */
static int
web_forms_parse(struct http_req *r, struct cbd_err *err,
		enum web_form_page page)
{
	struct web_form *f = xcalloc(1, sizeof(*f));
	enum evhttp_cmd_type m = r->route->method;
	const char *tok;

	TAILQ_INIT(&f->fields);
	f->page = page;
	r->ctx = f;
	r->ctx_free = web_forms_free;
	if (m == EVHTTP_REQ_POST && !web_forms_origin_ok(r)) {
		cbd_err_set(err, 403, "origin-refused", "Origin",
			    "this form may be sent from this site's own pages "
			    "only");
		return -1;
	}
	if (web_forms_decode(r, f, err) != 0)
		return -1;
	web_forms_pick_zone(r, f);
	if (page != WEB_FORM_MANAGE)
		return 0;
	/* The callback: the path's {id}, or ?id= on /manage. */
	f->id = http_param_id(r, 0);
	if (f->id == 0 && http_query(r, "id") != NULL) {
		r->params[0] = xstrdup(http_query(r, "id"));
		f->id = http_param_id(r, 0);
	}
	/* The credential of a form is the token in it (a link's is in its
	 * address, read by http.c): a customer's, or nobody's. */
	tok = web_forms_field(f, "token");
	if (r->bearer == NULL && tok != NULL && strlen(tok) < 200) {
		r->bearer = xstrdup(tok);
		r->role = HTTP_ROLE_PUBLIC;
	}
	if (r->bearer != NULL && strncmp(r->bearer, KEYS_MANAGE_PREFIX,
					 strlen(KEYS_MANAGE_PREFIX)) == 0)
		r->role = HTTP_ROLE_CUSTOMER;
	return 0;
}

static int
web_forms_book_parse(struct http_req *r, struct cbd_err *err)
{
	return web_forms_parse(r, err, WEB_FORM_BOOK);
}

static int
web_forms_manage_parse(struct http_req *r, struct cbd_err *err)
{
	return web_forms_parse(r, err, WEB_FORM_MANAGE);
}

/* Store thread: the free times of the next days in f->zone, as GET
 * /v1/slots answers them (the default queue). */
static int
web_forms_load_slots(struct store_tx *tx, struct http_req *r,
		     struct web_form *f, struct cbd_err *err)
{
	struct routing_queue *rq = NULL;
	int64_t now = clock_now(), queue_id = 0;
	int rc;

	json_decref(f->slots);
	f->slots = NULL;
	if (routing_queue_resolve(tx, NULL, NULL, &queue_id, err) != 0 ||
	    routing_queue_load(tx, queue_id, &rq, err) != 0)
		return -1;
	rc = slots_list(tx, r->cfg, rq, now + 60,
			now + 60 + WEB_FORMS_SLOT_DAYS * 86400, f->zone, 0,
			&f->slots, err);
	routing_queue_free(rq);
	return rc;
}

/* Set key of obj to the form's text; an empty or absent field is left
 * out (the API then names what is missing). Text that is not UTF-8 is
 * refused here, at its field. */
static int
web_forms_put(json_t *obj, const char *key, const char *value,
	      const char *field, struct cbd_err *err)
{
	json_t *s;

	if (value == NULL)
		return 0;
	value += strspn(value, " \t\r\n");
	if (*value == '\0')
		return 0;
	s = json_string(value);
	if (s == NULL) {
		cbd_err_set(err, 400, "invalid-text", field,
			    "%s is not valid text", field);
		return -1;
	}
	json_object_set_new(obj, key, s);
	return 0;
}

/* The booking form as POST /v1/callbacks's body. */
static json_t *
web_forms_booking_body(const struct web_form *f, struct cbd_err *err)
{
	json_t *b = json_object(), *c = json_object(), *notify = json_array();
	const char *when = web_forms_field(f, "when");
	const char *slot = web_forms_field(f, "slot");
	const char *phone = web_forms_field(f, "phone");
	const char *zone = web_forms_field(f, "zone");
	char digits[64] = "";
	struct evkeyval *kv;

	json_object_set_new(b, "customer", c);
	json_object_set_new(b, "notify", notify);
	/* As the page's script sends it: spaces, dots, dashes and brackets
	 * are how people write numbers, not part of them. */
	for (size_t i = 0, n = 0; phone && phone[i] && n + 1 < sizeof(digits);
	     i++)
		if (!strchr(" \t().-", phone[i]))
			digits[n++] = phone[i], digits[n] = '\0';
	if (web_forms_put(c, "name", web_forms_field(f, "name"),
			  "customer.name", err) ||
	    web_forms_put(c, "phone", digits, "customer.phone", err) ||
	    web_forms_put(c, "email", web_forms_field(f, "email"),
			  "customer.email", err) ||
	    web_forms_put(c, "timezone", zone ? zone : f->zone,
			  "customer.timezone", err) ||
	    web_forms_put(b, "topic", web_forms_field(f, "topic"), "topic",
			  err) ||
	    web_forms_put(b, "when",
			  when && !strcmp(when, "later") ? slot : "asap",
			  "when", err)) {
		json_decref(b);
		return NULL;
	}
	TAILQ_FOREACH(kv, &f->fields, next)
	{
		json_t *v;
		if (strcmp(kv->key, "notify") != 0 ||
		    json_array_size(notify) >= 3)
			continue;
		v = json_string(kv->value);
		json_array_append_new(notify, v ? v : json_string(""));
	}
	return b;
}

/* GET /book: the form, with the free times in the zone asked for. */
static int
web_forms_book_show_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	return web_forms_load_slots(tx, r, r->ctx, err);
}

/* POST /book: book as POST /v1/callbacks would, then 303 to the manage
 * page; "Show free times" (show=) only writes the form again in the
 * zone chosen. */
static int
web_forms_book_post_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	struct web_form *f = r->ctx;
	json_t *out = NULL;
	int status = 0;
	char *tok;

	/* First, so a refused booking's page still lists the free times. */
	if (web_forms_load_slots(tx, r, f, err) != 0)
		return -1;
	if (web_forms_field(f, "show") != NULL)
		return 0;
	json_decref(r->body);
	r->body = web_forms_booking_body(f, err);
	if (r->body == NULL ||
	    api_callbacks_book(tx, r, &out, &status, err) != 0)
		return -1;
	if (status == 202) {
		f->notice = "This phone number already has a callback booked. "
			    "We have texted its link to that phone, so you "
			    "can see, change or cancel it there.";
		json_decref(out);
		return 0;
	}
	tok = evhttp_encode_uri(
		json_string_value(json_object_get(out, "manage_token")));
	r->status = 303;
	r->location = xasprintf(
		"/v1/callbacks/%lld?token=%s&done=booked",
		(long long)json_integer_value(json_object_get(out, "id")), tok);
	free(tok);
	json_decref(out);
	return 0;
}

/* Store thread: the callback (which checks the token), its free times
 * and its messages, for the manage page. */
static int
web_forms_load_callback(struct store_tx *tx, struct http_req *r,
			struct web_form *f, struct cbd_err *err)
{
	struct callback_caller who;
	char actor[48];

	json_decref(f->callback);
	json_decref(f->messages);
	f->callback = f->messages = NULL;
	if (f->id == 0 || r->role != HTTP_ROLE_CUSTOMER) {
		cbd_err_set(err, 404, "not-found", "", "no such callback");
		return -1;
	}
	api_caller(r, &who, actor, sizeof(actor));
	if (callback_get(tx, r->cfg, f->id, &who, &f->callback, err) != 0)
		return -1;
	/* Shown in the customer's own zone unless another was chosen. */
	if (web_forms_field(f, "zone") == NULL &&
	    http_query(r, "zone") == NULL) {
		const char *tz = json_string_value(
			json_object_get(f->callback, "timezone"));
		if (tz != NULL && strlen(tz) < sizeof(f->zone))
			snprintf(f->zone, sizeof(f->zone), "%s", tz);
	}
	if (api_callbacks_messages(tx, r, &f->messages, err) != 0)
		return -1;
	return web_forms_load_slots(tx, r, f, err);
}

static int
web_forms_manage_show_work(struct store_tx *tx, struct http_req *r,
			   struct cbd_err *err)
{
	struct web_form *f = r->ctx;
	const char *done = http_query(r, "done");

	if (done != NULL && !strcmp(done, "booked"))
		f->notice = "Your callback is booked. We have also sent you "
			    "the link to this page: keep it, it is how you "
			    "change or cancel the call.";
	else if (done != NULL && !strcmp(done, "moved"))
		f->notice = "Done: the time is changed.";
	else if (done != NULL && !strcmp(done, "cancelled"))
		f->notice = "Your callback is cancelled.";
	return web_forms_load_callback(tx, r, f, err);
}

/* Where a change ends: the manage link again, saying what was done. */
static void
web_forms_see_manage(struct http_req *r, const struct web_form *f,
		     const char *done)
{
	char *tok = evhttp_encode_uri(r->bearer);

	r->status = 303;
	r->location = xasprintf("/v1/callbacks/%lld?token=%s&done=%s",
				(long long)f->id, tok, done);
	free(tok);
}

/* POST /manage/{id}/reschedule: choice and slot (none: the first time
 * the choice allows), as PATCH /v1/callbacks/{id}. */
static int
web_forms_reschedule_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	struct web_form *f = r->ctx;
	json_t *out = NULL;

	if (web_forms_load_callback(tx, r, f, err) != 0)
		return -1;
	json_decref(r->body);
	r->body = json_object();
	if (web_forms_put(r->body, "choice", web_forms_field(f, "choice"),
			  "choice", err) != 0 ||
	    web_forms_put(r->body, "when", web_forms_field(f, "slot"), "when",
			  err) != 0 ||
	    api_callbacks_move(tx, r, &out, err) != 0)
		return -1;
	json_decref(out);
	web_forms_see_manage(r, f, "moved");
	return 0;
}

/* POST /manage/{id}/cancel: first the question (the page again with
 * "Yes, cancel it"), then, with confirm=yes, DELETE /v1/callbacks/{id}. */
static int
web_forms_cancel_work(struct store_tx *tx, struct http_req *r,
		      struct cbd_err *err)
{
	struct web_form *f = r->ctx;
	const char *confirm = web_forms_field(f, "confirm");
	struct callback_caller who;
	char actor[48];
	json_t *out = NULL;

	if (web_forms_load_callback(tx, r, f, err) != 0)
		return -1;
	if (confirm == NULL || strcmp(confirm, "yes") != 0) {
		f->is_confirming = 1;
		return 0;
	}
	api_caller(r, &who, actor, sizeof(actor));
	if (callback_cancel(tx, r->cfg, f->id, &who, &out, err) != 0)
		return -1;
	json_decref(out);
	web_forms_see_manage(r, f, "cancelled");
	return 0;
}

int
web_forms_answer(struct web *w, struct http_req *r, const struct cbd_err *err,
		 struct evkeyvalq *h, struct evbuffer *out)
{
	const struct web_form *f = r->ctx;
	int status = err != NULL && err->status >= 400 ? err->status
		     : r->status                       ? r->status
						       : 200;

	if (status >= 500)
		log_error("page failed", "req=%s route=%s status=%d type=%s",
			  r->req_id, r->route->name, status,
			  err ? err->type : "-");
	if (status == 303 && r->location != NULL) {
		evhttp_add_header(h, "Location", r->location);
		return status;
	}
	if (err != NULL && err->retry_after_sec > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", err->retry_after_sec);
		evhttp_add_header(h, "Retry-After", ra);
	}
	if (f == NULL ||
	    web_page_write(w, r, f, status < 400 ? NULL : err, out) != 0) {
		/* No page to write into (web_dir has none): the API's
		 * answer, in the API's words. */
		struct cbd_err e;
		char *p;

		memset(&e, 0, sizeof(e));
		if (err != NULL && err->status >= 400)
			e = *err;
		else
			cbd_err_set(&e, 404, "not-found", "",
				    "no such page or file");
		e.extra_json = NULL;
		p = http_problem_json(&e, NULL);
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_add(out, p, strlen(p));
		free(p);
		evhttp_add_header(h, "Content-Type",
				  "application/problem+json");
		return e.status;
	}
	web_security_headers(w, h, f->page == WEB_FORM_BOOK);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	return status;
}

#define WEB_FORMS_FLAGS (HTTP_F_PAGE | HTTP_F_NO_CORS)
#define WEB_FORMS_POST  (WEB_FORMS_FLAGS | HTTP_F_FORM_BODY)
#define WEB_FORMS_ROLES (HTTP_ROLE_PUBLIC | HTTP_ROLE_CUSTOMER)

/* Roles are public: the manage token is checked by callback_get in work,
 * so a missing or wrong one gets the page's "not found", not JSON. */
const struct http_route web_forms_routes[] = {
	{ EVHTTP_REQ_GET, "/book", WEB_FORMS_ROLES, WEB_FORMS_FLAGS,
	  "page_book", web_forms_book_parse, web_forms_book_show_work },
	{ EVHTTP_REQ_POST, "/book", WEB_FORMS_ROLES, WEB_FORMS_POST,
	  "page_book_post", web_forms_book_parse, web_forms_book_post_work },
	{ EVHTTP_REQ_GET, "/manage", WEB_FORMS_ROLES, WEB_FORMS_FLAGS,
	  "page_manage", web_forms_manage_parse, web_forms_manage_show_work },
	{ EVHTTP_REQ_GET, "/v1/callbacks/:id", WEB_FORMS_ROLES,
	  WEB_FORMS_FLAGS | HTTP_F_BROWSER, "page_manage_link",
	  web_forms_manage_parse, web_forms_manage_show_work },
	{ EVHTTP_REQ_POST, "/manage/:id/reschedule", WEB_FORMS_ROLES,
	  WEB_FORMS_POST, "page_reschedule", web_forms_manage_parse,
	  web_forms_reschedule_work },
	{ EVHTTP_REQ_POST, "/manage/:id/cancel", WEB_FORMS_ROLES,
	  WEB_FORMS_POST, "page_cancel", web_forms_manage_parse,
	  web_forms_cancel_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
