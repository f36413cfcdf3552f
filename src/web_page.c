/*
 * web_page.c: the book and manage pages as written by the daemon, for a
 * browser that runs no JavaScript (and as the first paint for one that
 * does: the pages' scripts then take the same forms over).
 *
 * What the page shows comes from web_forms.c (the form, the free times,
 * the callback); the page itself is book.html or manage.html of web_dir
 * with its {{placeholders}} filled (web_html.c). Every value given by a
 * person goes through web_html_escape. A problem is told in words, as the
 * pages' script tells it, next to the field at fault.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "config.h"
#include "timefmt.h"
#include "web.h"
#include "web_forms.h"
#include "web_html.h"
#include "web_page.h"
#include "xalloc.h"

/* The zones offered besides the company's and the one chosen: where
 * most people are. */
static const char *const web_page_zones[] = {
	"UTC",
	"Europe/London",
	"Europe/Dublin",
	"Europe/Lisbon",
	"Europe/Paris",
	"Europe/Berlin",
	"Europe/Madrid",
	"Europe/Rome",
	"Europe/Amsterdam",
	"Europe/Stockholm",
	"Europe/Warsaw",
	"Europe/Athens",
	"Europe/Helsinki",
	"Europe/Istanbul",
	"Europe/Moscow",
	"Africa/Cairo",
	"Africa/Lagos",
	"Africa/Nairobi",
	"Africa/Johannesburg",
	"Asia/Dubai",
	"Asia/Karachi",
	"Asia/Kolkata",
	"Asia/Dhaka",
	"Asia/Bangkok",
	"Asia/Singapore",
	"Asia/Shanghai",
	"Asia/Hong_Kong",
	"Asia/Tokyo",
	"Asia/Seoul",
	"Australia/Perth",
	"Australia/Sydney",
	"Pacific/Auckland",
	"America/St_Johns",
	"America/Halifax",
	"America/New_York",
	"America/Toronto",
	"America/Chicago",
	"America/Denver",
	"America/Phoenix",
	"America/Los_Angeles",
	"America/Vancouver",
	"America/Anchorage",
	"Pacific/Honolulu",
	"America/Mexico_City",
	"America/Bogota",
	"America/Lima",
	"America/Sao_Paulo",
	"America/Argentina/Buenos_Aires",
};

/* "Thu 03 Dec, 15:00" for an RFC 3339 time, in zone; "" when unreadable. */
static void
web_page_time(const char *iso, const char *zone, const char *fmt, char *buf,
	      size_t size)
{
	int64_t t;

	buf[0] = '\0';
	if (iso != NULL && timefmt_parse_rfc3339(iso, &t) == 0)
		timefmt_strftime(t, zone, fmt, buf, size);
}

/* "about 12 minutes" */
static void
web_page_wait(int64_t sec, char *buf, size_t size)
{
	int64_t min = (sec + 30) / 60;

	if (sec < 90)
		snprintf(buf, size, "about a minute");
	else if (min < 90)
		snprintf(buf, size, "about %lld minutes", (long long)min);
	else
		snprintf(buf, size, "about %lld hours",
			 (long long)((min + 30) / 60));
}

static char *
web_page_take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = xmalloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static char *
web_page_zone_options(const struct config *cfg, const char *zone)
{
	struct evbuffer *b = evbuffer_new();
	const char *first[2] = { zone, cfg->site_timezone };
	size_t n = CBD_ARRAY_LEN(web_page_zones);

	for (size_t i = 0; i < 2 + n; i++) {
		const char *z = i < 2 ? first[i] : web_page_zones[i - 2];
		int seen = i == 1 && !strcmp(z, zone);
		for (size_t k = 0; i >= 2 && k < 2 && !seen; k++)
			seen = !strcmp(z, first[k]);
		if (seen)
			continue;
		evbuffer_add_printf(b, "<option value=\"");
		web_html_escape(b, z);
		evbuffer_add_printf(b, "\"%s>", i == 0 ? " selected" : "");
		for (const char *p = z; *p; p++) {
			char c[2] = { *p == '_' ? ' ' : *p, '\0' };
			web_html_escape(b, c);
		}
		evbuffer_add_printf(b, "</option>");
	}
	return web_page_take(b);
}

/* The free times, a group a day; first (may be NULL) is an option of its
 * own before them. */
static char *
web_page_slot_options(const json_t *slots, const char *zone,
		      const char *selected, const char *first)
{
	struct evbuffer *b = evbuffer_new();
	char day[64] = "", d[64], t[32];
	size_t i, shown = 0;
	json_t *s;

	if (first != NULL) {
		evbuffer_add_printf(b, "<option value=\"\">");
		web_html_escape(b, first);
		evbuffer_add_printf(b, "</option>");
	}
	json_array_foreach(slots, i, s)
	{
		const char *start =
			json_string_value(json_object_get(s, "start"));
		if (start == NULL ||
		    json_integer_value(json_object_get(s, "available")) <= 0)
			continue;
		web_page_time(start, zone, "%A %d %B", d, sizeof(d));
		web_page_time(start, zone, "%H:%M", t, sizeof(t));
		if (strcmp(d, day) != 0) {
			evbuffer_add_printf(b, "%s<optgroup label=\"",
					    day[0] ? "</optgroup>" : "");
			web_html_escape(b, d);
			evbuffer_add_printf(b, "\">");
			snprintf(day, sizeof(day), "%s", d);
		}
		evbuffer_add_printf(b, "<option value=\"");
		web_html_escape(b, start);
		evbuffer_add_printf(b, "\"%s>",
				    selected && !strcmp(selected, start)
					    ? " selected"
					    : "");
		web_html_escape(b, t);
		evbuffer_add_printf(b, "</option>");
		shown++;
	}
	if (day[0])
		evbuffer_add_printf(b, "</optgroup>");
	if (shown == 0 && first == NULL)
		evbuffer_add_printf(b, "<option value=\"\">%s</option>",
				    slots ? "No free times in the next 7 days"
					  : "Free times could not be loaded");
	return web_page_take(b);
}

/* The problem's sentence for a person, in zone; *field the API field it
 * is about ("" when none). Caller frees. */
static char *
web_page_problem(const struct cbd_err *err, const char *zone,
		 const char **field)
{
	const char *ty = err->type;
	char next[64] = "", wait[48], *s;
	json_t *x =
		err->extra_json ? json_loads(err->extra_json, 0, NULL) : NULL;

	web_page_time(json_string_value(json_object_get(x, "next_available")),
		      zone, "%a %d %b, %H:%M", next, sizeof(next));
	json_decref(x);
	web_page_wait(err->retry_after_sec, wait, sizeof(wait));
	*field = err->field;
	if (err->status >= 500)
		return xstrdup("Something went wrong on our side. Please try "
			       "again in a moment.");
	if (!strcmp(ty, "outside-hours"))
		s = xasprintf("We are closed at that time.%s%s%s",
			      next[0] ? " The next opening is " : "", next,
			      next[0] ? "." : "");
	else if (!strcmp(ty, "slot-full"))
		s = xasprintf("That time was just taken by someone else.%s%s%s"
			      " Please pick another.",
			      next[0] ? " The next free time is " : "", next,
			      next[0] ? "." : "");
	else if (!strcmp(ty, "no-agents-on-duty") || !strcmp(ty, "no-agents"))
		s = xasprintf("Nobody can take a call then.%s%s%s Please pick "
			      "another time.",
			      next[0] ? " The next opening is " : "", next,
			      next[0] ? "." : "");
	else if (!strcmp(ty, "owner-unavailable"))
		s = xasprintf("That person cannot call at that time.%s%s%s",
			      next[0] ? " Their next free time is " : "", next,
			      next[0] ? "." : "");
	else if (!strcmp(ty, "too-soon"))
		s = xasprintf("That time is too soon to arrange. %s",
			      err->detail);
	else if (!strcmp(ty, "rate-limited") || !strcmp(ty, "too-many-changes"))
		s = xasprintf("Too many requests from here. Please try again "
			      "in %s.",
			      err->retry_after_sec > 0 ? wait : "a while");
	else if (!strcmp(ty, "invalid-phone"))
		s = xstrdup("That phone number does not look right. Include "
			    "the area code, e.g. 020 7946 0018 or +44 20 7946 "
			    "0018.");
	else if (!strcmp(ty, "invalid-email"))
		s = xstrdup("That e-mail address does not look right.");
	else if (!strcmp(ty, "token-expired"))
		s = xstrdup("This link has expired. Ask for a new one, or book "
			    "again.");
	else if (!strcmp(ty, "not-found") || !strcmp(ty, "unauthorized") ||
		 !strcmp(ty, "forbidden"))
		s = xstrdup("This link does not open a callback. Open the link "
			    "from your text message or e-mail.");
	else if (!strcmp(ty, "origin-refused"))
		s = xstrdup("This form can only be sent from this site's own "
			    "pages.");
	else if (!strcmp(ty, "missing-field") &&
		 !strcmp(err->field, "customer.name"))
		s = xstrdup("Please give your name.");
	else if (!strcmp(ty, "missing-field") &&
		 !strcmp(err->field, "customer.phone"))
		s = xstrdup("Please give a phone number we can call.");
	else if (!strcmp(ty, "missing-field") && !strcmp(err->field, "topic"))
		s = xstrdup("Please say briefly what it is about.");
	else if (!strcmp(ty, "missing-field") && !strcmp(err->field, "when"))
		s = xstrdup("Please pick a time.");
	else if (!strcmp(ty, "missing-field") &&
		 !strcmp(err->field, "customer.email"))
		s = xstrdup("Give an e-mail address for the reminder by "
			    "e-mail.");
	else
		s = xstrdup(err->detail);
	return s;
}

/* The problem box above the form: a problem, or a notice. */
static char *
web_page_box(const char *cls, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (text != NULL) {
		evbuffer_add_printf(b, "<p class=\"%s\">", cls);
		web_html_escape(b, text);
		evbuffer_add_printf(b, "</p>");
	}
	return web_page_take(b);
}

/* For each field of the page: aria-invalid and its error line, when the
 * problem is about it (api: the API's name for it). */
static void
web_page_field_error(struct web_html_vars *vs, const char *id, const char *api,
		     const char *field, const char *message)
{
	int is_it = message != NULL && field != NULL && !strcmp(field, api);
	char k[48];

	snprintf(k, sizeof(k), "%s_invalid", id);
	web_html_take(vs, k, xstrdup(is_it ? "aria-invalid=\"true\"" : ""));
	snprintf(k, sizeof(k), "%s_error_attr", id);
	web_html_take(vs, k, xstrdup(is_it ? "" : "hidden"));
	snprintf(k, sizeof(k), "%s_error", id);
	web_html_text(vs, k, is_it ? message : "");
}

static const char *
web_page_checked(int yes)
{
	return yes ? "checked" : "";
}

/* Whether the form holds name=value. */
static int
web_page_has(const struct web_form *f, const char *name, const char *value)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, &f->fields, next)
	if (!strcmp(kv->key, name) && !strcmp(kv->value, value))
		return 1;
	return 0;
}

static void
web_page_book_vars(const struct http_req *r, const struct web_form *f,
		   const char *message, const char *field,
		   struct web_html_vars *vs)
{
	const char *when = web_forms_field(f, "when");
	int is_later = when != NULL && !strcmp(when, "later");
	int is_posted = r->route->method == EVHTTP_REQ_POST;

	web_html_text(vs, "embed_origins", r->cfg->web_embed_origins);
	web_html_take(vs, "asap_checked", xstrdup(web_page_checked(!is_later)));
	web_html_take(vs, "later_checked", xstrdup(web_page_checked(is_later)));
	web_html_take(vs, "zone_options",
		      web_page_zone_options(r->cfg, f->zone));
	web_html_take(vs, "slot_options",
		      web_page_slot_options(f->slots, f->zone,
					    web_forms_field(f, "slot"), NULL));
	web_html_text(vs, "name", web_forms_field(f, "name"));
	web_html_text(vs, "phone", web_forms_field(f, "phone"));
	web_html_text(vs, "email", web_forms_field(f, "email"));
	web_html_text(vs, "topic", web_forms_field(f, "topic"));
	web_html_take(vs, "notify_sms_checked",
		      xstrdup(web_page_checked(
			      !is_posted || web_page_has(f, "notify", "sms"))));
	web_html_take(
		vs, "notify_email_checked",
		xstrdup(web_page_checked(web_page_has(f, "notify", "email"))));
	web_page_field_error(vs, "name", "customer.name", field, message);
	web_page_field_error(vs, "phone", "customer.phone", field, message);
	web_page_field_error(vs, "email", "customer.email", field, message);
	web_page_field_error(vs, "topic", "topic", field, message);
	web_page_field_error(vs, "slot", "when", field, message);
	web_page_field_error(vs, "zone", "customer.timezone", field, message);
	web_html_take(vs, "problem",
		      message ? web_page_box("problem", message)
			      : web_page_box("notice", f->notice));
}

static int
web_page_is_open(const char *state)
{
	return state != NULL &&
	       (!strcmp(state, "pending") || !strcmp(state, "scheduled") ||
		!strcmp(state, "retry_wait"));
}

/* "Alice will call you Thu 03 Dec, 15:00." and the like. */
static char *
web_page_summary(const json_t *cb, const char *zone)
{
	const char *who = json_string_value(
		json_object_get(json_object_get(cb, "owner"), "display_name"));
	const char *state = json_string_value(json_object_get(cb, "state"));
	json_t *pos = json_object_get(cb, "position");
	char when[64], wait[48];

	if (who == NULL || state == NULL)
		return xstrdup("");
	if (!strcmp(state, "cancelled"))
		return xstrdup("This callback is cancelled.");
	if (!strcmp(state, "completed"))
		return xasprintf("%s called you. This callback is done.", who);
	if (!strcmp(state, "failed"))
		return xstrdup(
			"We could not reach you. You are welcome to book "
			"again.");
	if (!strcmp(state, "in_progress"))
		return xasprintf("%s is calling you now.", who);
	if (json_is_true(json_object_get(cb, "asap")) &&
	    json_integer_value(pos)) {
		web_page_wait(
			json_integer_value(json_object_get(cb, "eta_seconds")),
			wait, sizeof(wait));
		return xasprintf(
			"%s will call you as soon as possible: you are "
			"number %lld in line, %s from now.",
			who, (long long)json_integer_value(pos), wait);
	}
	if (json_is_true(json_object_get(cb, "asap")))
		return xasprintf("%s will call you as soon as possible.", who);
	web_page_time(json_string_value(json_object_get(cb, "scheduled_at")),
		      zone, "%a %d %b, %H:%M", when, sizeof(when));
	return xasprintf("%s will call you %s.", who, when);
}

static void
web_page_fact(struct evbuffer *b, const char *dt, const char *id,
	      const char *dd)
{
	evbuffer_add_printf(b, "<dt>%s</dt><dd%s%s%s>", dt, id ? " id=\"" : "",
			    id ? id : "", id ? "\"" : "");
	web_html_escape(b, dd);
	evbuffer_add_printf(b, "</dd>");
}

static char *
web_page_facts(const json_t *cb, const char *zone)
{
	struct evbuffer *b = evbuffer_new();
	char when[64], ref[32];

	if (json_is_true(json_object_get(cb, "asap")))
		snprintf(when, sizeof(when), "As soon as possible");
	else
		web_page_time(
			json_string_value(json_object_get(cb, "scheduled_at")),
			zone, "%a %d %b, %H:%M", when, sizeof(when));
	snprintf(ref, sizeof(ref), "#%lld",
		 (long long)json_integer_value(json_object_get(cb, "id")));
	web_page_fact(b, "About", NULL,
		      json_string_value(json_object_get(cb, "topic")));
	web_page_fact(b, "Who calls", "owner",
		      json_string_value(json_object_get(
			      json_object_get(cb, "owner"), "display_name")));
	web_page_fact(b, "When", "when", when);
	web_page_fact(b, "Reference", NULL, ref);
	return web_page_take(b);
}

static char *
web_page_messages(const json_t *items, const char *zone)
{
	struct evbuffer *b = evbuffer_new();
	size_t i, shown = 0;
	json_t *m;

	json_array_foreach(items, i, m)
	{
		const char *ch =
			json_string_value(json_object_get(m, "channel"));
		const char *kind =
			json_string_value(json_object_get(m, "kind"));
		const char *st =
			json_string_value(json_object_get(m, "status"));
		char t[64];

		if (ch == NULL || kind == NULL || st == NULL ||
		    !strcmp(st, "withdrawn"))
			continue;
		if (strchr(kind, '.'))
			kind = strchr(kind, '.') + 1;
		evbuffer_add_printf(
			b, "<li class=\"card\"><strong>%s</strong> — ",
			!strcmp(ch, "sms") ? "Text message" : "E-mail");
		for (const char *p = kind; *p; p++) {
			char c[2] = { *p == '_' ? ' ' : *p, '\0' };
			web_html_escape(b, c);
		}
		if (!strcmp(st, "sent")) {
			web_page_time(json_string_value(
					      json_object_get(m, "sent_at")),
				      zone, "%a %d %b, %H:%M", t, sizeof(t));
			evbuffer_add_printf(b, ": sent ");
		} else if (!strcmp(st, "pending")) {
			web_page_time(
				json_string_value(json_object_get(m, "due_at")),
				zone, "%a %d %b, %H:%M", t, sizeof(t));
			evbuffer_add_printf(b, ": to be sent ");
		} else {
			snprintf(t, sizeof(t), "%s",
				 !strcmp(st, "dead")
					 ? ": could not be delivered"
					 : ": not sent");
		}
		web_html_escape(b, t);
		evbuffer_add_printf(b, "</li>");
		shown++;
	}
	if (shown == 0)
		evbuffer_add_printf(b, "<li>Nothing yet.</li>");
	return web_page_take(b);
}

/* The calendar link: the invite as .ics, for a call at a time. */
static char *
web_page_calendar(const struct http_req *r, const struct web_form *f,
		  const json_t *cb)
{
	char *tok, *href, *html;

	if (json_is_true(json_object_get(cb, "asap")) ||
	    !web_page_is_open(json_string_value(json_object_get(cb, "state"))))
		return xstrdup("");
	tok = evhttp_encode_uri(r->bearer);
	href = xasprintf("/v1/callbacks/%lld/invite.ics?token=%s",
			 (long long)f->id, tok);
	free(tok);
	tok = web_html_escaped(href);
	html = xasprintf("<a href=\"%s\" download=\"callback-%lld.ics\" "
			 "class=\"button secondary\" id=\"ics\">Add to my "
			 "calendar (.ics)</a>",
			 tok, (long long)f->id);
	free(tok);
	free(href);
	return html;
}

/* id: room for the callback's id as text, which must outlive the fill
 * (text values are kept by reference). */
static void
web_page_manage_vars(const struct http_req *r, const struct web_form *f,
		     const char *message, const char *field, char *id,
		     size_t id_size, struct web_html_vars *vs)
{
	const json_t *cb = f->callback;
	const char *choice = web_forms_field(f, "choice");
	int is_earliest = choice != NULL && !strcmp(choice, "earliest");

	(void)field;
	snprintf(id, id_size, "%lld", (long long)f->id);
	web_html_text(vs, "id", cb ? id : "");
	/* The page's own link: its token is the customer's, in the address
	 * already; the forms carry it back. */
	web_html_text(vs, "token", cb ? r->bearer : "");
	web_html_text(vs, "zone", f->zone);
	web_html_take(vs, "problem",
		      message ? web_page_box("problem", message)
			      : web_page_box("ok", f->notice));
	if (cb == NULL) {
		web_html_take(vs, "status_hidden", xstrdup("hidden"));
		web_html_take(vs, "change_hidden", xstrdup("hidden"));
		web_html_take(vs, "sent_hidden", xstrdup("hidden"));
		web_html_take(vs, "confirm_hidden", xstrdup("hidden"));
		return;
	}
	{
		char *summary = web_page_summary(cb, f->zone);
		web_html_take(vs, "summary", web_html_escaped(summary));
		free(summary);
	}
	web_html_take(vs, "facts", web_page_facts(cb, f->zone));
	web_html_take(vs, "zone_options",
		      web_page_zone_options(r->cfg, f->zone));
	web_html_take(vs, "calendar", web_page_calendar(r, f, cb));
	web_html_take(vs, "change_hidden",
		      xstrdup(web_page_is_open(json_string_value(
				      json_object_get(cb, "state")))
				      ? ""
				      : "hidden"));
	web_html_text(vs, "owner",
		      json_string_value(json_object_get(
			      json_object_get(cb, "owner"), "display_name")));
	web_html_take(vs, "same_checked",
		      xstrdup(web_page_checked(!is_earliest)));
	web_html_take(vs, "earliest_checked",
		      xstrdup(web_page_checked(is_earliest)));
	web_html_take(vs, "slot_options",
		      web_page_slot_options(f->slots, f->zone,
					    web_forms_field(f, "slot"),
					    "The first time that suits my "
					    "choice"));
	web_html_take(vs, "confirm_hidden",
		      xstrdup(f->is_confirming ? "" : "hidden"));
	web_html_take(vs, "messages", web_page_messages(f->messages, f->zone));
}

int
web_page_write(const struct web *w, const struct http_req *r,
	       const struct web_form *f, const struct cbd_err *err,
	       struct evbuffer *out)
{
	struct web_html_vars vs = { NULL, 0 };
	const char *field = NULL;
	char *message = NULL;
	const char *tmpl;
	char id[24];
	size_t len;

	tmpl = web_template(
		w, f->page == WEB_FORM_BOOK ? "book.html" : "manage.html",
		&len);
	if (tmpl == NULL)
		return -1;
	if (err != NULL)
		message = web_page_problem(err, f->zone, &field);
	if (f->page == WEB_FORM_BOOK)
		web_page_book_vars(r, f, message, field, &vs);
	else
		web_page_manage_vars(r, f, message, field, id, sizeof(id), &vs);
	web_page_field_error(&vs, "slot", "when", field, message);
	web_html_fill(out, tmpl, len, &vs);
	web_html_vars_free(&vs);
	free(message);
	return 0;
}
