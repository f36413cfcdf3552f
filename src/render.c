/*
 * render.c: messages in the customer's language (see render.h).
 *
 * Every text is a template (templates.c) with placeholders: {name},
 * {agent}, {previous_agent}, {time}, {topic}, {link}, {minutes}, {phone}
 * (national form) and {service}. {time} is itself the language's
 * time_with_zone template over ICU's {date}, {zone} and {city}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callback_row.h"
#include "config.h"
#include "i18n.h"
#include "notify.h"
#include "phone.h"
#include "render.h"
#include "templates.h"
#include "xalloc.h"

/* ICU writes "3:00 PM" with a narrow no-break space (U+202F) and some
 * languages use U+00A0: neither is in the GSM 7-bit alphabet, and one of
 * them makes a whole SMS UCS-2, halving what fits in a part. */
static void
render_plain_spaces(char *s)
{
	char *w = s;

	for (const char *p = s; *p;) {
		size_t n = !strncmp(p, "\xe2\x80\xaf", 3) ? 3
			   : !strncmp(p, "\xc2\xa0", 2)   ? 2
							  : 0;

		if (n > 0) {
			p += n; /* before writing: w may be p */
			*w++ = ' ';
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
}

static char *
render_time(const struct config *cfg, const char *lang, const char *tz,
	    int64_t t)
{
	struct i18n_time it;
	char *tpl = templates_get(cfg, lang, "time_with_zone"), *out;
	struct templates_var vars[] = {
		{ "date", it.date },
		{ "zone", it.zone },
		{ "city", it.city },
	};

	i18n_format_time(t, tz, lang, &it);
	render_plain_spaces(it.date);
	out = templates_expand(tpl ? tpl : "{date} ({zone})", vars,
			       CBD_ARRAY_LEN(vars));
	free(tpl);
	return out;
}

char *
render_text(const struct config *cfg, const struct notify_ctx *c,
	    const char *message)
{
	const char *lang = c->language && *c->language ? c->language
						       : cfg->default_language;
	char *tpl = templates_get(cfg, lang, message), *out;
	char *when = render_time(cfg, lang, c->tz, c->start);
	char *link = notify_manage_url(cfg, c->callback_id);
	char *prev = c->prev_owner_name
			     ? xstrdup(c->prev_owner_name)
			     : templates_get(cfg, lang, "word_previous_agent");
	char minutes[16], national[48];
	struct templates_var vars[] = {
		{ "name", c->customer_name },
		{ "agent", c->owner_name },
		{ "previous_agent", prev },
		{ "time", when },
		{ "topic", c->topic },
		{ "link", link },
		{ "minutes", minutes },
		{ "phone", national },
		{ "service", cfg->service_name },
	};

	snprintf(minutes, sizeof(minutes), "%d", c->late_eta_min);
	phone_national(c->phone ? c->phone : "", national, sizeof(national));
	out = templates_expand(tpl ? tpl : message, vars, CBD_ARRAY_LEN(vars));
	free(tpl);
	free(when);
	free(link);
	free(prev);
	return out;
}

static const char *
render_str(json_t *p, const char *key)
{
	return json_string_value(json_object_get(p, key));
}

void
render_sms(const struct config *cfg, const struct store_rows *r, size_t i,
	   json_t *payload)
{
	struct notify_ctx c;
	const char *message = render_str(payload, "message");
	char *text;

	if (message == NULL)
		return; /* a row from before rendering at send: as written */
	callback_ctx_at(r, i, &c);
	c.prev_owner_name = render_str(payload, "previous_agent");
	c.late_eta_min =
		(int)json_integer_value(json_object_get(payload, "minutes"));
	text = render_text(cfg, &c, message);
	json_object_set_new(payload, "body", json_string(text));
	free(text);
}

void
render_email(const struct config *cfg, json_t *p)
{
	const char *message = render_str(p, "message");
	struct notify_ctx c;
	char *key, *text;
	const char *parts[] = { "subject", "body", "summary", "description" };

	if (message == NULL)
		message = !strcmp(render_str(p, "method")
					  ? render_str(p, "method")
					  : "",
				  "CANCEL")
				  ? "email_cancel"
				  : "email_request";
	memset(&c, 0, sizeof(c));
	c.callback_id = json_integer_value(json_object_get(p, "callback_id"));
	c.start = json_integer_value(json_object_get(p, "start"));
	c.topic = render_str(p, "topic");
	c.customer_name = render_str(p, "to_name");
	c.phone = render_str(p, "phone");
	c.tz = render_str(p, "tz");
	c.owner_name = render_str(p, "owner_name");
	c.language = render_str(p, "language");
	for (size_t k = 0; k < CBD_ARRAY_LEN(parts); k++) {
		/* The invite's own words are invite_*, the mail's email_*. */
		if (k < 2)
			key = xasprintf("%s_%s", message, parts[k]);
		else
			key = xasprintf("invite_%s", parts[k]);
		text = render_text(cfg, &c, key);
		json_object_set_new(p, k == 1 ? "text" : parts[k],
				    json_string(text));
		free(text);
		free(key);
	}
}
