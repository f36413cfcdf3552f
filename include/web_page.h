/*
 * web_page.h: the words and HTML of the book and manage pages written by
 * the daemon (web_forms.c gathers what they show).
 */
#ifndef CBD_WEB_PAGE_H
#define CBD_WEB_PAGE_H

#include "common.h"

struct evbuffer;
struct http_req;
struct web;
struct web_form;

/* Write f's page (book.html or manage.html of web_dir, filled in) to out,
 * with err (NULL: none) told in words beside the field at fault. -1 when
 * web_dir has no such page. Loop thread. */
int web_page_write(const struct web *w, const struct http_req *r,
		   const struct web_form *f, const struct cbd_err *err,
		   struct evbuffer *out);

#endif
