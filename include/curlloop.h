/*
 * curlloop.h: libcurl's multi interface driven by the libevent loop (socket
 * and timer callbacks, as curl's hiperfifo example), so every outgoing
 * webhook, SMS and mail transfer runs on the loop thread without blocking it
 * and without a thread per request.
 *
 * Ownership: an easy handle often points at memory curl does not copy (a
 * header list, SMTP recipients, a MIME tree). Whoever builds the handle
 * attaches that memory with curlloop_easy_attach(); from then on it lives and
 * dies with the handle: curlloop frees it when the transfer ends or is
 * aborted, and curlloop_easy_cleanup() frees a handle that was never started.
 * CURLOPT_PRIVATE belongs to curlloop: builders must not set it.
 */
#ifndef CBD_CURLLOOP_H
#define CBD_CURLLOOP_H

#include <curl/curl.h>

#include "common.h" /* CBD_PRINTF */

struct event_base;
struct curlloop;

/* Connect timeout, capped by the transfer's total timeout. */
#define CURLLOOP_CONNECT_TIMEOUT_MS 10000L
/* How much of a response body is kept for curlloop_done_body(). */
#define CURLLOOP_BODY_MAX 4096
/* Total timeout used when curlloop_add is given timeout_ms <= 0. */
#define CURLLOOP_DEFAULT_TIMEOUT_MS 30000L

/*
 * Called on the loop thread when a transfer ends. rc is curl's result,
 * http_status the response code (0 when none, or the last SMTP reply code
 * for mail), errbuf curl's message ("" on success, never NULL). The easy
 * handle and everything attached to it are freed right after this returns.
 * done may start new transfers but must not free the curlloop.
 */
typedef void (*curlloop_done_fn)(CURLcode rc, long http_status,
				 const char *errbuf, void *arg);

struct curlloop *curlloop_new(struct event_base *base);
/*
 * Aborts transfers still running (their done is not called) and frees them
 * with their attached memory. NULL ok. Not from inside a done callback.
 */
void curlloop_free(struct curlloop *cl);
/*
 * Start a transfer. Takes ownership of easy (the caller NULLs its copy) and
 * of anything attached to it. Always sets NOSIGNAL, an error buffer, a total
 * timeout of timeout_ms (CURLLOOP_DEFAULT_TIMEOUT_MS when <= 0) and a
 * connect timeout of at most CURLLOOP_CONNECT_TIMEOUT_MS, replacing any the
 * caller set, and takes over the write callback (see curlloop_done_body).
 * The transfer starts from the loop, never inside this call, so done is
 * never called before curlloop_add returns.
 *
 * Caveat (curl issue 8555, still so in curl 7.88): for SMTP, curl waits
 * for the server's reply to the end of the message data inside its "done"
 * step, blocking the loop until that reply comes, and it does the same for
 * QUIT when it closes the connection. Each such wait is capped by
 * timeout_ms (as CURLOPT_SERVER_RESPONSE_TIMEOUT, rounded up to seconds),
 * so keep the mail timeout short.
 */
void curlloop_add(struct curlloop *cl, CURL *easy, long timeout_ms,
		  curlloop_done_fn done, void *arg);
/*
 * The response body of the transfer whose done callback is running: its
 * first CURLLOOP_BODY_MAX bytes, NUL-terminated ("" when there was none),
 * with the kept length in *len. Returns NULL outside a done callback; the
 * memory is freed when done returns. Bodies are never written to stdout.
 */
const char *curlloop_done_body(const struct curlloop *cl, size_t *len);
/* Transfers in flight. */
int curlloop_active(const struct curlloop *cl);

/*
 * Hand memory that easy points at to the handle, to be freed with it: a
 * header list (CURLOPT_HTTPHEADER), a recipient list (CURLOPT_MAIL_RCPT), a
 * MIME tree (CURLOPT_MIMEPOST). Each may be NULL; call at most once per
 * handle, before curlloop_add.
 */
void curlloop_easy_attach(CURL *easy, struct curl_slist *headers,
			  struct curl_slist *rcpt, curl_mime *mime);
/*
 * Free an easy handle that was never given to curlloop_add, with what is
 * attached to it. NULL ok.
 */
void curlloop_easy_cleanup(CURL *easy);
/*
 * Append one printf-formatted line (a header, a recipient) to list and
 * return the new head; like xmalloc, aborts on OOM instead of returning
 * NULL and losing the list. Start with list NULL.
 */
struct curl_slist *curlloop_slist_add(struct curl_slist *list, const char *fmt,
				      ...) CBD_PRINTF(2, 3);

#endif
