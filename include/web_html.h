/*
 * web_html.h: HTML text for the pages the daemon writes itself (the book
 * and manage pages without JavaScript): escaping, and filling a page of
 * web_dir in which {{name}} stands for text and {{&name}} for HTML.
 */
#ifndef CBD_WEB_HTML_H
#define CBD_WEB_HTML_H

#include <stddef.h>

struct evbuffer;

/* One value for a template: text (escaped when written) or html (written
 * as it is: built by the caller from escaped parts). */
struct web_html_var {
	char *name; /* owned */
	const char *text;
	char *html; /* owned by the list: see web_html_vars_free */
};

/* A growing list of values. */
struct web_html_vars {
	struct web_html_var *v;
	size_t n;
};

/* Add text (by reference: it must outlive the fill) or html (taken: freed
 * with the list); the name is copied. A name set twice keeps its first
 * value. */
void web_html_text(struct web_html_vars *vs, const char *name,
		   const char *text);
void web_html_take(struct web_html_vars *vs, const char *name, char *html);
void web_html_vars_free(struct web_html_vars *vs);

/* Append s to out with & < > " ' escaped (so it is safe in text and in a
 * quoted attribute alike). NULL writes nothing. */
void web_html_escape(struct evbuffer *out, const char *s);
/* The same into a new string (caller frees). */
char *web_html_escaped(const char *s);

/*
 * Write tmpl (len bytes) to out, each {{name}} replaced by the escaped text
 * of that name and each {{&name}} by its HTML; a name without a value
 * writes nothing, so a page never shows a placeholder.
 */
void web_html_fill(struct evbuffer *out, const char *tmpl, size_t len,
		   const struct web_html_vars *vs);

#endif
