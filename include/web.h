/*
 * web.h: the web console's files and pages, served by the daemon itself.
 *
 * The files under web_dir are read once, at start, into memory: a request
 * can only ever name one of them (no path is joined onto the file system,
 * so no path can climb out), and no disk read happens on the loop thread.
 */
#ifndef CBD_WEB_H
#define CBD_WEB_H

#include <stddef.h>

struct config;
struct evhttp_request;
struct web; /* opaque: the loaded files */

/* Load web_dir. A missing or unreadable directory is logged and leaves an
 * empty console (the API still serves); never NULL. */
struct web *web_new(const struct config *cfg);
void web_free(struct web *w); /* NULL ok */
/* Files loaded, for logs and tests. */
size_t web_file_count(const struct web *w);

/* The loaded file rel ("book.html"), NUL-terminated, and its length; NULL
 * when there is none. The table never changes after web_new, so any
 * thread may read it. */
const char *web_template(const struct web *w, const char *rel, size_t *len);
/* The headers every page carries: Content-Security-Policy default-src
 * 'self' (frame-ancestors web_embed_origins when is_embeddable), and
 * X-Frame-Options, nosniff, no-referrer and so on. */
struct evkeyvalq;
void web_security_headers(const struct web *w, struct evkeyvalq *h,
			  int is_embeddable);

/*
 * Answer ev if it asks for a static page or a file of the console.
 * Returns the HTTP status sent, or 0 when the request is not the
 * console's (the API answers it). Loop thread.
 */
int web_handle(struct web *w, struct evhttp_request *ev, const char *req_id);

#endif
