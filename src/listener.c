/*
 * listener.c: our own evconnlistener for evhttp, and a guard per
 * connection (see listener.h for the rules).
 *
 * Design note. evhttp takes over the listener's accept callback, so the
 * guard cannot sit in front of it; it joins right after instead. evhttp
 * asks us for each connection's bufferevent (evhttp_set_bevcb) while it is
 * accepting; we keep a reference to it and, once evhttp's accept callback
 * has returned (an event made active, so still before the first byte is
 * read), find the evhttp_connection (the bufferevent's callback argument)
 * and the peer address. There we count the connection or close it, watch
 * its input buffer to see requests start and their headers end, and set
 * the connection's close callback to count it out again. The request's
 * completion comes from http.c (listener_request_read), which is the
 * moment evhttp hands the request over.
 *
 * Connections are found again by file descriptor (by_fd), so http.c needs
 * no pointer of ours per request. A closed connection's record is freed
 * from a reaper event, never inside the callback that closed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "clock.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "xalloc.h"

/* Descriptors kept back from max_connections = 0 for the database pool,
 * mail and webhook transfers and the log. */
#define LISTENER_FD_RESERVE 64
/* How long accepting pauses after the process ran out of descriptors. */
#define LISTENER_PAUSE_MS 100
/* At most one log line per kind of trouble in this many milliseconds. */
#define LISTENER_LOG_EVERY_MS 10000
#define LISTENER_BUCKETS      4096

enum listener_phase {
	LISTENER_HEADERS, /* request line and headers arriving: hard deadline */
	LISTENER_BODY,    /* headers done, body arriving: minimum rate */
	LISTENER_BUSY,    /* request handed over, or idle between requests */
};

/* Kinds of trouble, each counted and logged at a bounded rate. */
enum listener_trouble {
	LISTENER_T_TOTAL_CAP,    /* closed on accept: max_connections */
	LISTENER_T_ADDR_CAP,     /* closed on accept: per-address cap */
	LISTENER_T_HEADER_SLOW,  /* headers not complete in time */
	LISTENER_T_BODY_SLOW,    /* body below the minimum rate */
	LISTENER_T_ACCEPT_ERROR, /* accept failed (EMFILE and friends) */
	LISTENER_T_COUNT,
};

static const struct {
	const char *metric;
	const char *help;
	const char *log;
} listener_troubles[LISTENER_T_COUNT] = {
	{ "callbackd_http_conn_refused_total_cap_total",
	  "Connections closed on accept: max_connections reached.",
	  "connections refused: max_connections reached" },
	{ "callbackd_http_conn_refused_addr_cap_total",
	  "Connections closed on accept: max_connections_per_addr reached.",
	  "connections refused: max_connections_per_addr reached" },
	{ "callbackd_http_header_timeouts_total",
	  "Connections closed: headers not complete in header_timeout_sec.",
	  "slow clients cut: headers not complete in time" },
	{ "callbackd_http_body_timeouts_total",
	  "Connections closed: request body below body_min_rate.",
	  "slow clients cut: body below the minimum rate" },
	{ "callbackd_http_accept_errors_total",
	  "accept() failures (out of descriptors); accepting pauses.",
	  "accept failed: pausing" },
};

struct listener_addr {
	struct listener_addr *next;
	char key[NETADDR_KEY_LEN];
	int open;
};

struct listener_conn {
	struct listener *l;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *input_cb;
	struct event *timer;
	evutil_socket_t fd;
	struct listener_addr *addr; /* NULL: exempt from the per-address cap */
	enum listener_phase phase;
	int64_t phase_start_ms;
	uint64_t body_bytes;
	int line_len;   /* header scanner: bytes in the current line */
	int seen_line;  /* header scanner: the request line has ended */
	int is_closing; /* on the dead list, waiting for the reaper */
	void (*on_close)(void *arg); /* a stream's watcher, or NULL */
	void *on_close_arg;
	struct listener_conn *next_dead;
};

struct listener {
	struct event_base *base;
	const struct config *cfg;
	struct metrics *metrics;
	const struct netaddr_list *trusted;
	struct evconnlistener *lev; /* freed by evhttp_del_accept_socket */
	struct evhttp_bound_socket *bound;
	int reserve_fd;       /* spent to accept-and-close when out of fds */
	struct event *resume; /* re-enables accepting after a pause */
	int max_total;
	int open;
	/* bufferevents made by evhttp_set_bevcb, not yet looked at */
	struct bufferevent **pending;
	size_t npending, pending_cap;
	struct event *adopt;
	struct listener_conn **by_fd;
	size_t by_fd_len;
	struct listener_addr *buckets[LISTENER_BUCKETS];
	struct listener_conn *dead;
	struct event *reap;
	uint64_t trouble_n[LISTENER_T_COUNT];        /* since last log */
	int64_t trouble_logged_ms[LISTENER_T_COUNT]; /* last log line */
};

/* evconnlistener's error callback gets evhttp's argument, not ours; the
 * daemon has one listener, so the error path finds it here. */
static struct listener *listener_current;

static void
listener_trouble(struct listener *l, enum listener_trouble t, int err)
{
	int64_t now = clock_mono_ms();

	metrics_add(l->metrics, listener_troubles[t].metric,
		    listener_troubles[t].help, 1);
	l->trouble_n[t]++;
	if (l->trouble_logged_ms[t] != 0 &&
	    now - l->trouble_logged_ms[t] < LISTENER_LOG_EVERY_MS)
		return;
	if (t == LISTENER_T_ACCEPT_ERROR)
		log_warn(listener_troubles[t].log,
			 "count=%llu error=\"%s\" open=%d",
			 (unsigned long long)l->trouble_n[t], strerror(err),
			 l->open);
	else
		log_warn(listener_troubles[t].log, "count=%llu open=%d",
			 (unsigned long long)l->trouble_n[t], l->open);
	l->trouble_n[t] = 0;
	l->trouble_logged_ms[t] = now;
}

static void
listener_gauge(struct listener *l)
{
	metrics_set(l->metrics, "callbackd_http_connections",
		    "Open HTTP connections.", (double)l->open);
}

static unsigned
listener_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % LISTENER_BUCKETS;
}

/* The per-address record for key, made when absent. */
static struct listener_addr *
listener_addr_get(struct listener *l, const char *key)
{
	unsigned h = listener_hash(key);
	struct listener_addr *a;

	for (a = l->buckets[h]; a != NULL; a = a->next)
		if (strcmp(a->key, key) == 0)
			return a;
	a = xcalloc(1, sizeof(*a));
	snprintf(a->key, sizeof(a->key), "%s", key);
	a->next = l->buckets[h];
	l->buckets[h] = a;
	return a;
}

/* Drop a record nobody counts against any more. */
static void
listener_addr_put(struct listener *l, struct listener_addr *a)
{
	struct listener_addr **pp = &l->buckets[listener_hash(a->key)];

	if (--a->open > 0)
		return;
	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	free(a);
}

/* --- deadlines ---------------------------------------------------------- */

static void
listener_arm(struct listener_conn *c, int64_t deadline_ms)
{
	int64_t ms = deadline_ms - clock_mono_ms();
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(c->timer, &tv);
}

/* When the body phase ends at the latest, given what has arrived. */
static int64_t
listener_body_deadline(const struct listener_conn *c)
{
	const struct config *cfg = c->l->cfg;

	return c->phase_start_ms + (int64_t)cfg->body_timeout_sec * 1000 +
	       (int64_t)(c->body_bytes * 1000 / (uint64_t)cfg->body_min_rate);
}

static void
listener_enter(struct listener_conn *c, enum listener_phase phase)
{
	const struct config *cfg = c->l->cfg;

	c->phase = phase;
	c->phase_start_ms = clock_mono_ms();
	event_del(c->timer);
	if (phase == LISTENER_HEADERS) {
		c->line_len = 0;
		c->seen_line = 0;
		listener_arm(c,
			     c->phase_start_ms +
				     (int64_t)cfg->header_timeout_sec * 1000);
	} else if (phase == LISTENER_BODY) {
		c->body_bytes = 0;
		if (cfg->body_min_rate > 0)
			listener_arm(c, listener_body_deadline(c));
	}
}

static void
listener_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->phase == LISTENER_BODY) {
		int64_t deadline = listener_body_deadline(c);
		if (clock_mono_ms() < deadline) {
			/* More arrived since the timer was set. */
			listener_arm(c, deadline);
			return;
		}
		listener_trouble(c->l, LISTENER_T_BODY_SLOW, 0);
	} else if (c->phase == LISTENER_HEADERS)
		listener_trouble(c->l, LISTENER_T_HEADER_SLOW, 0);
	else
		return;
	/* The request was never handed over, so nobody holds it: freeing
	 * the connection is what evhttp's own timeout does too. The close
	 * callback below detaches c; the reaper frees it. */
	evhttp_connection_free(c->evcon);
}

/*
 * Scan the header bytes in [p, p + n) for the empty line that ends them
 * (evhttp accepts LF as well as CRLF). Returns how many bytes belong to
 * the headers, or -1 when they have not ended yet.
 */
static ssize_t
listener_scan_headers(struct listener_conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;
		if (p[i] != '\n') {
			c->line_len++;
			continue;
		}
		if (c->line_len == 0 && c->seen_line)
			return (ssize_t)(i + 1);
		if (c->line_len > 0)
			c->seen_line = 1;
		c->line_len = 0;
	}
	return -1;
}

/* Input buffer callback: bytes arrived (evhttp parses them next). */
static void
listener_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		  void *arg)
{
	struct listener_conn *c = arg;
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v[16];
	size_t len = evbuffer_get_length(buf), seen = 0;
	int nv;

	if (info->n_added == 0 || c->is_closing)
		return;
	if (c->phase == LISTENER_BUSY)
		listener_enter(c, LISTENER_HEADERS);
	if (c->phase == LISTENER_BODY) {
		c->body_bytes += info->n_added;
		return;
	}
	if (evbuffer_ptr_set(buf, &pos, len - info->n_added,
			     EVBUFFER_PTR_SET) != 0)
		return;
	nv = evbuffer_peek(buf, (ev_ssize_t)info->n_added, &pos, v,
			   CBD_ARRAY_LEN(v));
	if (nv > (int)CBD_ARRAY_LEN(v))
		nv = (int)CBD_ARRAY_LEN(v);
	for (int i = 0; i < nv; i++) {
		size_t n = v[i].iov_len;
		ssize_t used;

		if (n > info->n_added - seen)
			n = info->n_added - seen;
		used = listener_scan_headers(c, v[i].iov_base, n);
		if (used >= 0) {
			/* The rest of this read is body (or the next
			 * request, pipelined: the rate rule bounds it too). */
			listener_enter(c, LISTENER_BODY);
			c->body_bytes = info->n_added - seen - (size_t)used;
			return;
		}
		seen += n;
	}
}

/* --- connections in and out --------------------------------------------- */

static void
listener_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	while (l->dead != NULL) {
		struct listener_conn *c = l->dead;
		l->dead = c->next_dead;
		event_free(c->timer);
		free(c);
	}
}

/* evhttp is freeing the connection: count it out. */
static void
listener_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct listener_conn *c = arg;
	struct listener *l = c->l;

	(void)evcon;
	if (c->is_closing)
		return;
	c->is_closing = 1;
	event_del(c->timer);
	if (c->on_close != NULL)
		c->on_close(c->on_close_arg);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
	if ((size_t)c->fd < l->by_fd_len && l->by_fd[c->fd] == c)
		l->by_fd[c->fd] = NULL;
	if (c->addr != NULL)
		listener_addr_put(l, c->addr);
	l->open--;
	listener_gauge(l);
	c->next_dead = l->dead;
	l->dead = c;
	event_active(l->reap, EV_TIMEOUT, 0);
}

/*
 * Tell a refused client why before closing: one write on a fresh socket,
 * whose send buffer is empty, so it never blocks. The client may not have
 * sent its request yet; a well-behaved one reads the answer anyway.
 */
static void
listener_refuse(struct evhttp_connection *evcon, evutil_socket_t fd)
{
	static const char answer[] =
		"HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Type: application/problem+json\r\n"
		"Retry-After: 1\r\nConnection: close\r\n"
		"Content-Length: 127\r\n\r\n"
		"{\"type\":\"/problems/too-many-connections\",\"title\":"
		"\"Service Unavailable\",\"status\":503,\"detail\":\"too many "
		"connections; try again\"}";
	ssize_t n;

	n = send(fd, answer, sizeof(answer) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n; /* best effort: the connection closes either way */
	evhttp_connection_free(evcon);
}

/* Count one accepted connection in, or close it when over a cap. */
static void
listener_admit(struct listener *l, struct bufferevent *bev,
	       struct evhttp_connection *evcon)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	struct listener_addr *a = NULL;
	struct listener_conn *c;
	struct netaddr na;
	char key[NETADDR_KEY_LEN];

	if (fd < 0 || netaddr_from_sockaddr(evhttp_connection_get_addr(evcon),
					    &na) != 0) {
		evhttp_connection_free(evcon);
		return;
	}
	if (l->open >= l->max_total) {
		listener_trouble(l, LISTENER_T_TOTAL_CAP, 0);
		listener_refuse(evcon, fd);
		return;
	}
	if (l->cfg->max_connections_per_addr > 0 &&
	    !netaddr_list_has(l->trusted, &na)) {
		netaddr_key(&na, key, sizeof(key));
		a = listener_addr_get(l, key);
		if (a->open >= l->cfg->max_connections_per_addr) {
			a->open++; /* so that put drops an unused record */
			listener_addr_put(l, a);
			listener_trouble(l, LISTENER_T_ADDR_CAP, 0);
			listener_refuse(evcon, fd);
			return;
		}
		a->open++;
	}
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->evcon = evcon;
	c->bev = bev;
	c->fd = fd;
	c->addr = a;
	c->timer = evtimer_new(l->base, listener_timer_cb, c);
	c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev),
				      listener_input_cb, c);
	if ((size_t)fd >= l->by_fd_len) {
		size_t n = (size_t)fd * 2 + 64;
		l->by_fd = xrealloc(l->by_fd, n * sizeof(*l->by_fd));
		memset(l->by_fd + l->by_fd_len, 0,
		       (n - l->by_fd_len) * sizeof(*l->by_fd));
		l->by_fd_len = n;
	}
	l->by_fd[fd] = c;
	l->open++;
	listener_gauge(l);
	evhttp_connection_set_closecb(evcon, listener_close_cb, c);
	/* The header clock runs from accept: a client that connects and
	 * sends nothing is as slow as one that sends a byte a minute. */
	listener_enter(c, LISTENER_HEADERS);
}

/* Runs once evhttp's accept callback has returned (see design note). */
static void
listener_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < l->npending; i++) {
		struct bufferevent *bev = l->pending[i];
		void *evcon = NULL;

		/* A bufferevent evhttp already freed has no callbacks. */
		bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
		if (evcon != NULL)
			listener_admit(l, bev, evcon);
		bufferevent_decref(bev);
	}
	l->npending = 0;
}

/* evhttp_set_bevcb: evhttp is accepting a connection. */
static struct bufferevent *
listener_bev_cb(struct event_base *base, void *arg)
{
	struct listener *l = arg;
	struct bufferevent *bev =
		bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (bev == NULL)
		return NULL;
	if (l->npending == l->pending_cap) {
		l->pending_cap = l->pending_cap ? l->pending_cap * 2 : 64;
		l->pending = xrealloc(l->pending,
				      l->pending_cap * sizeof(*l->pending));
	}
	/* Our reference keeps the memory valid even if evhttp gives up on
	 * the connection before the adopt event runs. */
	bufferevent_incref(bev);
	l->pending[l->npending++] = bev;
	event_active(l->adopt, EV_TIMEOUT, 0);
	return bev;
}

void
listener_request_read(struct listener *l, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct listener_conn *c;

	if (l == NULL || evcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || (size_t)fd >= l->by_fd_len)
		return;
	c = l->by_fd[fd];
	if (c != NULL && c->evcon == evcon)
		listener_enter(c, LISTENER_BUSY);
}

/* The record of req's connection, or NULL. */
static struct listener_conn *
listener_conn_of(struct listener *l, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	evutil_socket_t fd;
	struct listener_conn *c;

	if (l == NULL || evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd < 0 || (size_t)fd >= l->by_fd_len)
		return NULL;
	c = l->by_fd[fd];
	return c != NULL && c->evcon == evcon && !c->is_closing ? c : NULL;
}

int
listener_watch_close(struct listener *l, struct evhttp_request *req,
		     void (*fn)(void *arg), void *arg)
{
	struct listener_conn *c = listener_conn_of(l, req);

	if (c == NULL)
		return -1;
	c->on_close = fn;
	c->on_close_arg = arg;
	return 0;
}

/* --- accepting ---------------------------------------------------------- */

static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	if (l->reserve_fd < 0)
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->lev != NULL)
		evconnlistener_enable(l->lev);
}

/*
 * accept() failed for a reason other than "nothing to accept". Out of
 * descriptors, libevent would retry at once, forever: instead spend the
 * reserve descriptor to take the connection at the head of the queue and
 * close it (the client learns at once rather than waiting), and pause.
 */
static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = listener_current;
	int err = errno;
	struct timeval tv = { 0, LISTENER_PAUSE_MS * 1000 };

	(void)arg;
	if (l == NULL || l->lev != lev)
		return;
	listener_trouble(l, LISTENER_T_ACCEPT_ERROR, err);
	if ((err == EMFILE || err == ENFILE) && l->reserve_fd >= 0) {
		int fd;
		close(l->reserve_fd);
		fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
		if (fd >= 0)
			close(fd);
		l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
}

/* max_connections, or what the descriptor limit leaves room for. */
static int
listener_max_total(const struct config *cfg)
{
	struct rlimit rl;
	long room = 1000000;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		room = (long)rl.rlim_cur - LISTENER_FD_RESERVE -
		       2L * cfg->store_threads;
	if (room < 16)
		room = 16;
	if (cfg->max_connections == 0)
		return (int)(room < 1000000 ? room : 1000000);
	if (cfg->max_connections > room)
		log_warn("max_connections is above what the fd limit leaves "
			 "room for: accepting will pause when fds run out",
			 "max_connections=%d room=%ld", cfg->max_connections,
			 room);
	return cfg->max_connections;
}

static struct evconnlistener *
listener_bind(struct listener *l, const struct config *cfg)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct evconnlistener *lev;
	char port[8];
	int one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	if (evutil_getaddrinfo(cfg->listen_addr, port, &hints, &ai) != 0 ||
	    ai == NULL)
		return NULL;
	lev = evconnlistener_new_bind(l->base, NULL, NULL,
				      LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC |
					      LEV_OPT_CLOSE_ON_FREE,
				      -1, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (lev == NULL)
		return NULL;
	/* Linux hands TCP_NODELAY on to accepted sockets: without it a
	 * reply over one segment waits for the client's delayed ACK. */
	if (setsockopt(evconnlistener_get_fd(lev), IPPROTO_TCP, TCP_NODELAY,
		       &one, sizeof(one)) != 0)
		log_warn("TCP_NODELAY not set", "errno=%d", errno);
	return lev;
}

struct listener *
listener_new(struct event_base *base, struct evhttp *evh,
	     const struct config *cfg, struct metrics *metrics,
	     const struct netaddr_list *trusted)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->base = base;
	l->cfg = cfg;
	l->metrics = metrics;
	l->trusted = trusted;
	l->lev = listener_bind(l, cfg);
	if (l->lev == NULL) {
		log_error("cannot listen", "addr=%s port=%d errno=%d",
			  cfg->listen_addr, cfg->listen_port, errno);
		free(l);
		return NULL;
	}
	l->max_total = listener_max_total(cfg);
	l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	l->resume = evtimer_new(base, listener_resume_cb, l);
	l->adopt = event_new(base, -1, 0, listener_adopt_cb, l);
	l->reap = event_new(base, -1, 0, listener_reap_cb, l);
	listener_current = l;
	evhttp_set_bevcb(evh, listener_bev_cb, l);
	l->bound = evhttp_bind_listener(evh, l->lev);
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	listener_gauge(l);
	log_info("listening", "addr=%s port=%d max_connections=%d per_addr=%d",
		 cfg->listen_addr, cfg->listen_port, l->max_total,
		 cfg->max_connections_per_addr);
	return l;
}

void
listener_stop(struct listener *l, struct evhttp *evh)
{
	if (l == NULL || l->bound == NULL)
		return;
	event_del(l->resume);
	evhttp_del_accept_socket(evh, l->bound);
	l->bound = NULL;
	l->lev = NULL;
}

int
listener_open_count(const struct listener *l)
{
	return l ? l->open : 0;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	listener_adopt_cb(-1, 0, l); /* drops the references still held */
	listener_reap_cb(-1, 0, l);
	for (size_t i = 0; i < l->by_fd_len; i++)
		if (l->by_fd[i] != NULL) {
			/* evhttp_free closed them all; only a bug gets here */
			event_free(l->by_fd[i]->timer);
			free(l->by_fd[i]);
		}
	for (size_t i = 0; i < LISTENER_BUCKETS; i++)
		while (l->buckets[i] != NULL) {
			struct listener_addr *a = l->buckets[i];
			l->buckets[i] = a->next;
			free(a);
		}
	free(l->by_fd);
	free(l->pending);
	event_free(l->resume);
	event_free(l->adopt);
	event_free(l->reap);
	if (l->reserve_fd >= 0)
		close(l->reserve_fd);
	if (listener_current == l)
		listener_current = NULL;
	free(l);
}
