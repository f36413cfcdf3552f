/*
 * web_html.c: escaping and page templates (see web_html.h).
 *
 * Every value a person or a client gave (names, topics, zones, tokens)
 * reaches a page through web_html_escape, which escapes the five
 * characters that end text or a quoted attribute; the templates quote
 * every attribute, so nothing given can open a tag or an attribute.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "web_html.h"
#include "xalloc.h"

static struct web_html_var *
web_html_add(struct web_html_vars *vs, const char *name)
{
	vs->v = xrealloc(vs->v, (vs->n + 1) * sizeof(*vs->v));
	memset(&vs->v[vs->n], 0, sizeof(vs->v[vs->n]));
	vs->v[vs->n].name = xstrdup(name);
	return &vs->v[vs->n++];
}

void
web_html_text(struct web_html_vars *vs, const char *name, const char *text)
{
	web_html_add(vs, name)->text = text;
}

void
web_html_take(struct web_html_vars *vs, const char *name, char *html)
{
	web_html_add(vs, name)->html = html;
}

void
web_html_vars_free(struct web_html_vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->v[i].name);
		free(vs->v[i].html);
	}
	free(vs->v);
	vs->v = NULL;
	vs->n = 0;
}

void
web_html_escape(struct evbuffer *out, const char *s)
{
	const char *run = s;

	if (s == NULL)
		return;
	for (; *s; s++) {
		const char *e = NULL;
		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		default:
			continue;
		}
		evbuffer_add(out, run, (size_t)(s - run));
		evbuffer_add(out, e, strlen(e));
		run = s + 1;
	}
	evbuffer_add(out, run, (size_t)(s - run));
}

char *
web_html_escaped(const char *s)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *r;

	web_html_escape(b, s);
	n = evbuffer_get_length(b);
	r = xmalloc(n + 1);
	evbuffer_remove(b, r, n);
	r[n] = '\0';
	evbuffer_free(b);
	return r;
}

static const struct web_html_var *
web_html_find(const struct web_html_vars *vs, const char *name, size_t len)
{
	for (size_t i = 0; i < vs->n; i++)
		if (strlen(vs->v[i].name) == len &&
		    memcmp(vs->v[i].name, name, len) == 0)
			return &vs->v[i];
	return NULL;
}

void
web_html_fill(struct evbuffer *out, const char *tmpl, size_t len,
	      const struct web_html_vars *vs)
{
	const char *p = tmpl, *end = tmpl + len;

	while (p < end) {
		const char *open = memmem(p, (size_t)(end - p), "{{", 2);
		const char *close, *name;
		const struct web_html_var *v;
		int is_html;

		if (open == NULL)
			break;
		close = memmem(open + 2, (size_t)(end - open - 2), "}}", 2);
		if (close == NULL || close - open > 40)
			break; /* not a placeholder: the rest is plain */
		evbuffer_add(out, p, (size_t)(open - p));
		name = open + 2;
		is_html = *name == '&';
		name += is_html;
		v = web_html_find(vs, name, (size_t)(close - name));
		if (v != NULL && is_html)
			evbuffer_add(out, v->html ? v->html : "",
				     v->html ? strlen(v->html) : 0);
		else if (v != NULL)
			web_html_escape(out, v->text);
		p = close + 2;
	}
	evbuffer_add(out, p, (size_t)(end - p));
}
