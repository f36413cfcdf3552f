/*
 * curlloop.h: libcurl's multi interface driven by the libevent loop (socket
 * and timer callbacks, as curl's hiperfifo example), so every outgoing
 * webhook, SMS and mail transfer runs on the loop thread without blocking it
 * and without a thread per request.
 */
#ifndef CBD_CURLLOOP_H
#define CBD_CURLLOOP_H

#include <curl/curl.h>

struct event_base;
struct curlloop;

/*
 * Called on the loop thread when a transfer ends. rc is curl's result,
 * http_status the response code (0 when none, or the SMTP code for mail).
 * The easy handle is cleaned up by curlloop right after this returns.
 */
typedef void (*curlloop_done_fn)(CURLcode rc, long http_status,
				 const char *errbuf, void *arg);

struct curlloop *curlloop_new(struct event_base *base);
/* Aborts transfers still running (their done is not called). NULL ok. */
void curlloop_free(struct curlloop *cl);
/*
 * Start a transfer. Takes ownership of easy, sets NOSIGNAL, an error buffer
 * and a total timeout of timeout_ms unless the caller set one.
 */
void curlloop_add(struct curlloop *cl, CURL *easy, long timeout_ms,
		  curlloop_done_fn done, void *arg);
/* Transfers in flight. */
int curlloop_active(const struct curlloop *cl);

#endif
