/*
 * curlloop.c: curl's multi interface on the libevent loop.
 *
 * Design (curl's docs/examples/hiperfifo.c): curl tells us which sockets to
 * watch through the socket callback and when to wake it through the timer
 * callback; we turn those into one struct event per socket and one evtimer,
 * and when either fires we call curl_multi_socket_action() and then collect
 * finished transfers with curl_multi_info_read().
 *
 * Re-entrancy rule: curl's callbacks only (un)register events. They never
 * call back into curl and never run user code; a zero timeout from curl is
 * turned into a zero evtimer, so even a freshly added transfer is started
 * from the loop. User done callbacks run from our event handlers, outside
 * any curl call, so they may add new transfers.
 *
 * Every transfer has a struct curlloop_xfer, reached from its easy handle
 * through CURLOPT_PRIVATE. It is created either by curlloop_easy_attach()
 * (the builder hands over memory curl does not copy) or by curlloop_add(),
 * and it is freed together with the handle, whichever way the handle ends.
 */
#include <assert.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlloop.h"
#include "xalloc.h"

struct curlloop_xfer {
	CURL *easy;
	/* Memory easy points at; freed after curl_easy_cleanup(easy). */
	struct curl_slist *headers;
	struct curl_slist *rcpt;
	curl_mime *mime;
	/* Set by curlloop_add; cl is NULL while the handle is not started. */
	struct curlloop *cl;
	curlloop_done_fn done;
	void *arg;
	struct curlloop_xfer *prev, *next; /* cl->xfers, in flight only */
	char errbuf[CURL_ERROR_SIZE];      /* CURLOPT_ERRORBUFFER */
	/* The first CURLLOOP_BODY_MAX bytes of the response, NUL-ended. */
	char *body;
	size_t body_len;
};

/* One per socket curl asked us to watch; curl_multi_assign() points at it. */
struct curlloop_sock {
	struct curlloop *cl;
	curl_socket_t fd;
	struct event *ev;
	struct curlloop_sock *prev, *next; /* cl->socks */
};

struct curlloop {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	/*
	 * Both lists exist so curlloop_free can release everything even if
	 * curl does not report each socket's removal while shutting down.
	 */
	struct curlloop_xfer *xfers;
	struct curlloop_sock *socks;
	int active;
	const struct curlloop_xfer *finishing; /* whose done is running */
};

/*
 * The transfer state of easy, made on first use when create is set. Only
 * curlloop sets CURLOPT_PRIVATE, so a non-NULL value is always ours.
 */
static struct curlloop_xfer *
curlloop_xfer_of(CURL *easy, int create)
{
	struct curlloop_xfer *x = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK)
		x = NULL;
	if (x == NULL && create) {
		x = xcalloc(1, sizeof(*x));
		x->easy = easy;
		if (curl_easy_setopt(easy, CURLOPT_PRIVATE, x) != CURLE_OK)
			abort(); /* cannot fail for a valid handle */
	}
	return x;
}

/* Clean up the handle first: it may still point at the lists and MIME. */
static void
curlloop_xfer_free(struct curlloop_xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->rcpt);
	curl_mime_free(x->mime);
	free(x->body);
	free(x);
}

static void
curlloop_xfer_unlink(struct curlloop *cl, struct curlloop_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		cl->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	cl->active--;
}

static void
curlloop_sock_free(struct curlloop *cl, struct curlloop_sock *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		cl->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	event_free(s->ev);
	free(s);
}

/*
 * curl: response bytes. Without this curl would write them to stdout. The
 * start is kept for the done callback (Twilio's sid or error message); the
 * rest is counted as taken, so a large body never fails the transfer.
 */
static size_t
curlloop_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct curlloop_xfer *x = userp;
	size_t n = size * nmemb;
	size_t room = CURLLOOP_BODY_MAX - x->body_len;
	size_t take = n < room ? n : room;

	if (take > 0) {
		if (x->body == NULL)
			x->body = xmalloc(CURLLOOP_BODY_MAX + 1);
		memcpy(x->body + x->body_len, data, take);
		x->body_len += take;
		x->body[x->body_len] = '\0';
	}
	return n;
}

/* Take a finished transfer out of the multi, report it, free it. */
static void
curlloop_finish(struct curlloop *cl, CURL *easy, CURLcode rc)
{
	struct curlloop_xfer *x = curlloop_xfer_of(easy, 0);
	long status = 0;

	assert(x != NULL && x->cl == cl);
	if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK)
		status = 0;
	curl_multi_remove_handle(cl->multi, easy);
	curlloop_xfer_unlink(cl, x);
	/* curl leaves the buffer empty for some errors; done gets a reason. */
	if (rc != CURLE_OK && x->errbuf[0] == '\0')
		snprintf(x->errbuf, sizeof(x->errbuf), "%s",
			 curl_easy_strerror(rc));
	cl->finishing = x;
	x->done(rc, status, x->errbuf, x->arg);
	cl->finishing = NULL;
	curlloop_xfer_free(x);
}

/*
 * Report every transfer curl has finished. The message is only valid until
 * the next multi call, so its fields are copied before finishing.
 */
static void
curlloop_check_done(struct curlloop *cl)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;

		if (msg->msg == CURLMSG_DONE)
			curlloop_finish(cl, easy, rc);
	}
}

/* libevent: a socket curl watches is ready. */
static void
curlloop_sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlloop *cl = arg;
	int action = 0;
	int running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	/*
	 * curl may ask us to free this very event from inside the call; that
	 * is safe because libevent does not touch an event after its
	 * callback has been invoked.
	 */
	curl_multi_socket_action(cl->multi, fd, action, &running);
	curlloop_check_done(cl);
}

/* libevent: curl's timeout expired (or a zero timeout was requested). */
static void
curlloop_timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curlloop *cl = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlloop_check_done(cl);
}

/* curl: watch fd for what, or stop watching it (CURL_POLL_REMOVE). */
static int
curlloop_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
		   void *socketp)
{
	struct curlloop *cl = userp;
	struct curlloop_sock *s = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			curl_multi_assign(cl->multi, fd, NULL);
			curlloop_sock_free(cl, s);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->cl = cl;
		s->fd = fd;
		s->next = cl->socks;
		if (cl->socks != NULL)
			cl->socks->prev = s;
		cl->socks = s;
		s->ev = event_new(cl->base, fd, kind, curlloop_sock_event_cb,
				  cl);
		if (s->ev == NULL)
			abort(); /* only fails on OOM */
		curl_multi_assign(cl->multi, fd, s);
	} else {
		/* event_assign needs a non-pending event. */
		event_del(s->ev);
		event_assign(s->ev, cl->base, fd, kind, curlloop_sock_event_cb,
			     cl);
	}
	event_add(s->ev, NULL);
	return 0;
}

/*
 * curl: call me back in timeout_ms (-1: never). Zero is also a timer, not
 * a direct curl_multi_socket_action(): curl must not be re-entered here.
 */
static int
curlloop_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curlloop *cl = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(cl->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(cl->timer, &tv);
	return 0;
}

struct curlloop *
curlloop_new(struct event_base *base)
{
	struct curlloop *cl = xcalloc(1, sizeof(*cl));

	cl->base = base;
	cl->multi = curl_multi_init();
	cl->timer = evtimer_new(base, curlloop_timer_event_cb, cl);
	if (cl->multi == NULL || cl->timer == NULL)
		abort(); /* both only fail on OOM */
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION,
			  curlloop_socket_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, curlloop_timer_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	return cl;
}

void
curlloop_free(struct curlloop *cl)
{
	struct curlloop_xfer *x;

	if (cl == NULL)
		return;
	while ((x = cl->xfers) != NULL) {
		curl_multi_remove_handle(cl->multi, x->easy);
		curlloop_xfer_unlink(cl, x);
		curlloop_xfer_free(x);
	}
	/* Closing cached connections may still call curlloop_socket_cb. */
	curl_multi_cleanup(cl->multi);
	while (cl->socks != NULL)
		curlloop_sock_free(cl, cl->socks);
	event_free(cl->timer);
	free(cl);
}

void
curlloop_add(struct curlloop *cl, CURL *easy, long timeout_ms,
	     curlloop_done_fn done, void *arg)
{
	struct curlloop_xfer *x = curlloop_xfer_of(easy, 1);
	long connect_ms;

	assert(x->cl == NULL && done != NULL);
	if (timeout_ms <= 0)
		timeout_ms = CURLLOOP_DEFAULT_TIMEOUT_MS;
	connect_ms = timeout_ms < CURLLOOP_CONNECT_TIMEOUT_MS
			     ? timeout_ms
			     : CURLLOOP_CONNECT_TIMEOUT_MS;
	x->cl = cl;
	x->done = done;
	x->arg = arg;
	x->errbuf[0] = '\0';
	/* NOSIGNAL: a resolver timeout must not longjmp out of the loop. */
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/*
	 * Bounds the waits curl does block in (SMTP end of data and QUIT,
	 * see curlloop.h); its default is two minutes. Whole seconds only.
	 */
	curl_easy_setopt(easy, CURLOPT_SERVER_RESPONSE_TIMEOUT,
			 (timeout_ms + 999) / 1000);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, curlloop_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
	x->next = cl->xfers;
	if (cl->xfers != NULL)
		cl->xfers->prev = x;
	cl->xfers = x;
	cl->active++;
	/*
	 * Fails only on OOM or on a programmer error (the handle is already
	 * in a multi, or this runs inside a curl callback), never on input.
	 */
	if (curl_multi_add_handle(cl->multi, easy) != CURLM_OK)
		abort();
}

const char *
curlloop_done_body(const struct curlloop *cl, size_t *len)
{
	const struct curlloop_xfer *x = cl->finishing;

	if (x == NULL) {
		*len = 0;
		return NULL;
	}
	*len = x->body_len;
	return x->body != NULL ? x->body : "";
}

int
curlloop_active(const struct curlloop *cl)
{
	return cl->active;
}

void
curlloop_easy_attach(CURL *easy, struct curl_slist *headers,
		     struct curl_slist *rcpt, curl_mime *mime)
{
	struct curlloop_xfer *x = curlloop_xfer_of(easy, 1);

	assert(x->headers == NULL && x->rcpt == NULL && x->mime == NULL);
	x->headers = headers;
	x->rcpt = rcpt;
	x->mime = mime;
}

void
curlloop_easy_cleanup(CURL *easy)
{
	struct curlloop_xfer *x;

	if (easy == NULL)
		return;
	x = curlloop_xfer_of(easy, 0);
	if (x == NULL) {
		curl_easy_cleanup(easy);
		return;
	}
	assert(x->cl == NULL);
	curlloop_xfer_free(x);
}

struct curl_slist *
curlloop_slist_add(struct curl_slist *list, const char *fmt, ...)
{
	struct curl_slist *head;
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	/* curl copies line; on failure it returns NULL and keeps the list. */
	head = curl_slist_append(list, line);
	free(line);
	if (head == NULL)
		abort();
	return head;
}
