/*
 * web_forms.h: the book and manage pages as the daemon writes them, so they
 * work without JavaScript (progressive enhancement: the same forms, which
 * the pages' scripts take over when they run).
 *
 * GET /book and POST /book (book), GET /manage?id=&token= and a browser's
 * GET /v1/callbacks/{id}?token= (the manage link), POST
 * /manage/{id}/reschedule and POST /manage/{id}/cancel. A form is
 * application/x-www-form-urlencoded; it is turned into the JSON API's body
 * and goes through the API's own functions (api_callbacks_book, ..._move,
 * callback_cancel), in one transaction, under the same rate limits and
 * the same manage-token check. The answer is the page again (with the
 * problem in words beside the field at fault) or 303 See Other to the
 * manage link.
 */
#ifndef CBD_WEB_FORMS_H
#define CBD_WEB_FORMS_H

#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdint.h>

#include "common.h"
#include "http.h"

struct evbuffer;
struct web;

enum web_form_page { WEB_FORM_BOOK, WEB_FORM_MANAGE };

/* One request's form and what work found for its page (r->ctx). Filled
 * on the loop (parse) and the store thread (work), read on the loop when
 * the page is written. */
struct web_form {
	enum web_form_page page;
	struct evkeyvalq fields; /* the form, decoded */
	char zone[64];           /* times are shown in this (valid) zone */
	int64_t id;              /* manage: the callback */
	json_t *slots;           /* free times (slots_list), or NULL */
	json_t *callback;        /* manage: callback_get's answer */
	json_t *messages;        /* manage: what was sent */
	const char *notice;      /* a sentence to show above the form */
	int is_confirming;       /* cancel asked: show "Yes, cancel it" */
};

extern const struct http_route web_forms_routes[];

/* The value of form field name (first one), or NULL. */
const char *web_forms_field(const struct web_form *f, const char *name);

/*
 * Loop thread, from http_finish for HTTP_F_PAGE routes: write the answer
 * (headers and body) for r, which failed with err (NULL: it did not).
 * Returns the status to send.
 */
int web_forms_answer(struct web *w, struct http_req *r,
		     const struct cbd_err *err, struct evkeyvalq *h,
		     struct evbuffer *out);

#endif
