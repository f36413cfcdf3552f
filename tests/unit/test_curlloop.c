/*
 * test_curlloop.c: real transfers through curlloop against servers in the
 * same event_base: an evhttp server on 127.0.0.1 (port 0, so tests never
 * collide) for webhooks and SMS, and a minimal SMTP sink for mail. The sink
 * runs its own event_base on a thread, because curl blocks for the reply to
 * the end of the mail data (see curlloop.h) and would otherwise wait for a
 * server that cannot answer until curl returns. Covers
 * success, an error status, connection refused, timeout, a done callback
 * that starts the next transfer, and curlloop_free aborting transfers in
 * flight without calling done (ASan's leak check sees the rest).
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common.h"
#include "curlloop.h"
#include "mailer.h"
#include "sms.h"
#include "tap.h"
#include "webhook.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* What the HTTP server saw last; the stalled request is answered late. */
struct server {
	struct evhttp *http;
	int port;
	int nreq;
	char method[8];
	char uri[256];
	char body[2048];
	char id[128], ts[32], sig[256], ctype[128], ua[64], auth[128],
		idem[128];
	struct evhttp_request *stalled[4];
	int nstalled;
};

/*
 * What the SMTP sink saw; one client at a time is enough here. Only the
 * sink thread touches it until the main thread has joined that thread.
 */
struct smtp_sink {
	struct event_base *base;
	pthread_t thread;
	atomic_int is_stopping;
	struct evconnlistener *listener;
	struct bufferevent *bev;
	int port;
	int in_data;
	char mail_from[128];
	char rcpt[128];
	struct evbuffer *data;
	int nmsg;
};

struct result {
	int called;
	CURLcode rc;
	long status;
	char err[CURL_ERROR_SIZE];
	struct curlloop *cl; /* when set, done copies the response body */
	char body[256];
};

struct chain {
	struct curlloop *cl;
	char url[128];
	struct result first, second;
};

static struct event_base *base;

static void
copy_header(struct evkeyvalq *h, const char *name, char *dst, size_t size)
{
	const char *v = evhttp_find_header(h, name);

	snprintf(dst, size, "%s", v != NULL ? v : "");
}

static void
server_cb(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *reply;
	size_t n;

	srv->nreq++;
	snprintf(srv->method, sizeof(srv->method), "%s",
		 evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST"
								    : "other");
	snprintf(srv->uri, sizeof(srv->uri), "%s", evhttp_request_get_uri(req));
	n = evbuffer_copyout(in, srv->body, sizeof(srv->body) - 1);
	srv->body[n] = '\0';
	copy_header(h, "webhook-id", srv->id, sizeof(srv->id));
	copy_header(h, "webhook-timestamp", srv->ts, sizeof(srv->ts));
	copy_header(h, "webhook-signature", srv->sig, sizeof(srv->sig));
	copy_header(h, "Content-Type", srv->ctype, sizeof(srv->ctype));
	copy_header(h, "User-Agent", srv->ua, sizeof(srv->ua));
	copy_header(h, "Authorization", srv->auth, sizeof(srv->auth));
	copy_header(h, "I-Twilio-Idempotency-Token", srv->idem,
		    sizeof(srv->idem));

	if (strncmp(srv->uri, "/slow", 5) == 0) {
		/* Never answered in time; answered (and freed) at the end. */
		if (srv->nstalled < (int)CBD_ARRAY_LEN(srv->stalled)) {
			srv->stalled[srv->nstalled++] = req;
			return;
		}
	}
	if (strncmp(srv->uri, "/fail", 5) == 0) {
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	if (strstr(srv->uri, "/Messages.json") != NULL) {
		reply = evbuffer_new();
		evbuffer_add_printf(
			reply, "{\"sid\": \"SM1\", \"status\": \"queued\"}");
		evhttp_send_reply(req, 201, "Created", reply);
		evbuffer_free(reply);
		return;
	}
	evhttp_send_reply(req, 200, "OK", NULL);
}

static int
bound_port(evutil_socket_t fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	return ntohs(sin.sin_port);
}

/* A port on which nothing listens: bind one, note it, close it. */
static int
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		return -1;
	port = bound_port(fd);
	close(fd);
	return port;
}

static void
smtp_reply(struct smtp_sink *s, const char *line)
{
	bufferevent_write(s->bev, line, strlen(line));
}

/* Just enough SMTP for curl: greeting, EHLO, MAIL, RCPT, DATA, QUIT. */
static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_sink *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (s->in_data) {
			if (strcmp(line, ".") == 0) {
				s->in_data = 0;
				s->nmsg++;
				smtp_reply(s, "250 queued\r\n");
			} else {
				evbuffer_add_printf(s->data, "%s\r\n", line);
			}
		} else if (strncasecmp(line, "EHLO", 4) == 0) {
			smtp_reply(s, "250-sink\r\n250 8BITMIME\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			snprintf(s->mail_from, sizeof(s->mail_from), "%s",
				 line + 10);
			smtp_reply(s, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			snprintf(s->rcpt, sizeof(s->rcpt), "%s", line + 8);
			smtp_reply(s, "250 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			s->in_data = 1;
			smtp_reply(s, "354 go on\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			smtp_reply(s, "221 bye\r\n");
		} else {
			smtp_reply(s, "502 not here\r\n");
		}
		free(line);
	}
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_sink *s = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
		s->bev = NULL;
	}
}

static void
smtp_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
	       struct sockaddr *sa, int socklen, void *arg)
{
	struct smtp_sink *s = arg;

	(void)l;
	(void)sa;
	(void)socklen;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, smtp_read_cb, NULL, smtp_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	smtp_reply(s, "220 sink ESMTP\r\n");
}

static void
done_cb(CURLcode rc, long status, const char *errbuf, void *arg)
{
	struct result *r = arg;

	r->called++;
	r->rc = rc;
	r->status = status;
	snprintf(r->err, sizeof(r->err), "%s", errbuf);
	if (r->cl != NULL) {
		size_t len;
		const char *body = curlloop_done_body(r->cl, &len);

		snprintf(r->body, sizeof(r->body), "%s",
			 body ? body : "(null)");
	}
}

/* Starts the second transfer from inside the first one's done. */
static void
chain_first_cb(CURLcode rc, long status, const char *errbuf, void *arg)
{
	struct chain *c = arg;

	done_cb(rc, status, errbuf, &c->first);
	curlloop_add(c->cl, webhook_easy_new(c->url, SECRET, "msg_2", 2, "{}"),
		     2000, done_cb, &c->second);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void *
smtp_thread(void *arg)
{
	struct smtp_sink *s = arg;
	struct timeval tick = { 0, 20000 };
	struct event *ev = event_new(s->base, -1, EV_PERSIST, tick_cb, NULL);

	event_add(ev, &tick);
	while (!atomic_load(&s->is_stopping))
		event_base_loop(s->base, EVLOOP_ONCE);
	event_free(ev);
	return NULL;
}

/* Run the loop until *flag reaches want, or five seconds pass. */
static void
run_until(const int *flag, int want)
{
	struct timeval tick = { 0, 20000 };
	struct event *ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval start, now;

	event_add(ev, &tick);
	gettimeofday(&start, NULL);
	do {
		event_base_loop(base, EVLOOP_ONCE);
		gettimeofday(&now, NULL);
	} while (*flag < want && now.tv_sec - start.tv_sec < 5);
	event_free(ev);
}

/* Let the loop run for ms, whatever happens. */
static void
run_for_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
test_webhook(struct curlloop *cl, struct server *srv)
{
	struct result r = { 0 };
	char url[128];
	char *want;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", srv->port);
	curlloop_add(cl,
		     webhook_easy_new(url, SECRET, "msg_1", 1614265330,
				      "{\"test\": 2432232314}"),
		     2000, done_cb, &r);
	is_int(curlloop_active(cl), 1, "one transfer in flight");
	is_int(r.called, 0, "done is not called from curlloop_add");
	run_until(&r.called, 1);
	is_int(r.called, 1, "webhook done called once");
	is_int(r.rc, CURLE_OK, "webhook transfer ok");
	is_int(r.status, 200, "webhook status 200");
	is_str(r.err, "", "no error text on success");
	is_int(curlloop_active(cl), 0, "nothing in flight after done");
	is_str(srv->method, "POST", "webhook is a POST");
	is_str(srv->body, "{\"test\": 2432232314}", "body arrives unchanged");
	is_str(srv->ctype, "application/json", "JSON content type");
	is_str(srv->ua, "callbackd/0.1", "user agent");
	is_str(srv->id, "msg_1", "webhook-id header");
	is_str(srv->ts, "1614265330", "webhook-timestamp header");
	want = webhook_signature(SECRET, srv->id, 1614265330, srv->body,
				 strlen(srv->body));
	is_str(srv->sig, want, "signature verifies over what arrived");
	free(want);
}

static void
test_failures(struct curlloop *cl, struct server *srv)
{
	struct result r500 = { 0 }, refused = { 0 }, slow = { 0 };
	char url[128];
	int port = closed_port();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fail", srv->port);
	curlloop_add(cl, webhook_easy_new(url, SECRET, "m", 1, "{}"), 2000,
		     done_cb, &r500);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	curlloop_add(cl, webhook_easy_new(url, SECRET, "m", 1, "{}"), 2000,
		     done_cb, &refused);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv->port);
	curlloop_add(cl, webhook_easy_new(url, SECRET, "m", 1, "{}"), 300,
		     done_cb, &slow);
	is_int(curlloop_active(cl), 3, "three transfers in flight");
	run_until(&slow.called, 1);
	run_until(&r500.called, 1);
	run_until(&refused.called, 1);

	is_int(r500.rc, CURLE_OK, "a 500 is a completed transfer");
	is_int(r500.status, 500, "status 500 reported");
	is_int(refused.rc, CURLE_COULDNT_CONNECT, "refused: couldn't connect");
	is_int(refused.status, 0, "refused: no status");
	ok(refused.err[0] != '\0', "refused: error text (%s)", refused.err);
	is_int(slow.rc, CURLE_OPERATION_TIMEDOUT, "slow: timed out");
	is_int(slow.status, 0, "slow: no status");
	ok(slow.err[0] != '\0', "slow: error text (%s)", slow.err);
	is_int(curlloop_active(cl), 0, "nothing in flight");
	ok(sms_status_is_retriable(refused.status), "no response is retriable");
}

static void
test_chain(struct curlloop *cl, struct server *srv)
{
	struct chain c = { .cl = cl };

	snprintf(c.url, sizeof(c.url), "http://127.0.0.1:%d/hook", srv->port);
	curlloop_add(cl, webhook_easy_new(c.url, SECRET, "msg_1", 1, "{}"),
		     2000, chain_first_cb, &c);
	run_until(&c.second.called, 1);
	is_int(c.first.status, 200, "first of chain done");
	is_int(c.second.status, 200, "second started from done completes");
	is_str(srv->id, "msg_2", "second request reached the server");
}

static void
test_sms(struct curlloop *cl, struct server *srv)
{
	char base_url[64];
	struct sms_twilio tw = {
		.base_url = base_url,
		.account_sid = "AC123",
		.auth_token = "token",
		.from = "+15550001111",
	};
	struct sms_msg m = {
		.msg_id = "out_7",
		.to = "+15552223333",
		.body = "Rückruf um 10:30 & pünktlich",
	};
	struct result r = { .cl = cl };

	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d/", srv->port);
	curlloop_add(cl, sms_twilio_easy_new(&tw, &m), 2000, done_cb, &r);
	run_until(&r.called, 1);
	is_int(r.status, 201, "twilio answers 201");
	is_str(srv->uri, "/2010-04-01/Accounts/AC123/Messages.json",
	       "twilio path");
	is_str(srv->body,
	       "To=%2B15552223333&From=%2B15550001111&Body=R%C3%BCckruf%20um%"
	       "2010%3A30%20%26%20p%C3%BCnktlich",
	       "form fields escaped");
	is_str(srv->ctype, "application/x-www-form-urlencoded",
	       "form content type");
	/* base64("AC123:token") */
	is_str(srv->auth, "Basic QUMxMjM6dG9rZW4=", "basic auth");
	is_str(srv->idem, "out_7", "idempotency token is the msg id");
	is_str(r.body, "{\"sid\": \"SM1\", \"status\": \"queued\"}",
	       "response body reaches done");
	ok(curlloop_done_body(cl, &(size_t){ 0 }) == NULL,
	   "no body outside done");
}

static void
test_mail(struct curlloop *cl, struct smtp_sink *sink)
{
	char url[64], bad_url[64];
	struct mailer_msg m = {
		.smtp_url = url,
		.from = "callbacks@example.org",
		.from_name = "Support",
		.to = "customer@example.com",
		.subject = "Rückruf",
		.text = "We will call you.\n",
		.ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n"
		       "END:VCALENDAR\r\n",
		.ics_method = "REQUEST",
		.message_id = "<cb-1@example.org>",
		.date = 1795425000,
	};
	struct result r = { 0 }, refused = { 0 };
	char *data;
	size_t n;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", sink->port);
	if (pthread_create(&sink->thread, NULL, smtp_thread, sink) != 0)
		return;
	curlloop_add(cl, mailer_easy_new(&m), 2000, done_cb, &r);
	run_until(&r.called, 1);
	atomic_store(&sink->is_stopping, 1);
	pthread_join(sink->thread, NULL);
	is_int(r.rc, CURLE_OK, "mail sent");
	is_int(r.status, 250, "last SMTP reply is 250");
	is_int(sink->nmsg, 1, "sink got one message");
	is_str(sink->mail_from, "<callbacks@example.org>", "envelope sender");
	is_str(sink->rcpt, "<customer@example.com>", "envelope recipient");

	n = evbuffer_get_length(sink->data);
	data = malloc(n + 1);
	evbuffer_remove(sink->data, data, n);
	data[n] = '\0';
	ok(strstr(data, "\r\nSubject: =?UTF-8?B?UsO8Y2tydWY=?=\r\n") != NULL,
	   "subject RFC 2047 encoded");
	ok(strstr(data, "\r\nDate: Mon, 23 Nov 2026 09:10:00 +0000\r\n") !=
		   NULL,
	   "RFC 5322 date");
	ok(strstr(data, "\r\nFrom: \"Support\" <callbacks@example.org>\r\n") !=
		   NULL,
	   "from with display name");
	ok(strstr(data, "\r\nMessage-ID: <cb-1@example.org>\r\n") != NULL,
	   "message id");
	ok(strstr(data, "Content-Type: multipart/mixed;") == data,
	   "multipart/mixed at the top");
	ok(strstr(data, "Content-Type: multipart/alternative;") != NULL,
	   "multipart/alternative inside");
	ok(strstr(data, "Content-Type: text/calendar; method=REQUEST; "
			"charset=UTF-8\r\n") != NULL,
	   "inline calendar with the method parameter");
	ok(strstr(data, "filename=\"invite.ics\"") != NULL, "invite.ics");
	free(data);

	snprintf(bad_url, sizeof(bad_url), "smtp://127.0.0.1:%d",
		 closed_port());
	m.smtp_url = bad_url;
	curlloop_add(cl, mailer_easy_new(&m), 2000, done_cb, &refused);
	run_until(&refused.called, 1);
	is_int(refused.rc, CURLE_COULDNT_CONNECT, "mail: refused");
}

/* curlloop_free with transfers running: done is never called. */
static void
test_abort(struct server *srv)
{
	struct curlloop *cl = curlloop_new(base);
	struct result slow = { 0 }, slow2 = { 0 };
	char url[128];
	int seen = srv->nreq;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv->port);
	curlloop_add(cl, webhook_easy_new(url, SECRET, "m", 1, "{}"), 5000,
		     done_cb, &slow);
	curlloop_add(cl, webhook_easy_new(url, SECRET, "m", 1, "{}"), 5000,
		     done_cb, &slow2);
	run_until(&srv->nreq, seen + 2);
	is_int(curlloop_active(cl), 2, "two transfers stalled");
	curlloop_free(cl);
	is_int(slow.called + slow2.called, 0, "abort does not call done");
	curlloop_free(NULL);
	ok(1, "curlloop_free(NULL) is a no-op");
}

/* Answer requests left stalled so evhttp frees them. */
static void
server_release(struct server *srv)
{
	while (srv->nstalled > 0)
		evhttp_send_reply(srv->stalled[--srv->nstalled], 200, "OK",
				  NULL);
}

int
main(void)
{
	struct server srv = { 0 };
	struct smtp_sink sink = { 0 };
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct curlloop *cl;

	/* The transfers go to 127.0.0.1 directly, whatever the environment. */
	setenv("no_proxy", "*", 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	srv.http = evhttp_new(base);
	evhttp_set_gencb(srv.http, server_cb, &srv);
	bound = evhttp_bind_socket_with_handle(srv.http, "127.0.0.1", 0);
	ok(bound != NULL, "http server bound");
	if (bound == NULL)
		return tap_done();
	srv.port = bound_port(evhttp_bound_socket_get_fd(bound));

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sink.base = event_base_new();
	sink.data = evbuffer_new();
	sink.listener = evconnlistener_new_bind(
		sink.base, smtp_accept_cb, &sink,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
		(struct sockaddr *)&sin, sizeof(sin));
	ok(sink.listener != NULL, "smtp sink bound");
	if (sink.listener == NULL)
		return tap_done();
	sink.port = bound_port(evconnlistener_get_fd(sink.listener));

	cl = curlloop_new(base);
	test_webhook(cl, &srv);
	test_failures(cl, &srv);
	server_release(&srv);
	test_chain(cl, &srv);
	test_sms(cl, &srv);
	test_mail(cl, &sink);
	curlloop_free(cl);
	test_abort(&srv);
	server_release(&srv);
	/* A few more turns so both servers see their clients leave. */
	run_for_ms(50);

	if (sink.bev != NULL)
		bufferevent_free(sink.bev);
	evconnlistener_free(sink.listener);
	evbuffer_free(sink.data);
	event_base_free(sink.base);
	evhttp_free(srv.http);
	event_base_free(base);
	curl_global_cleanup();
	return tap_done();
}
