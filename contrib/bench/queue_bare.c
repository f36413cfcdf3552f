/*
 * queue_bare: the floor for contrib/bench/bench-queue. A bare libevent
 * evhttp server on one event loop that answers every GET with one fixed,
 * small JSON body, the shape of an empty GET /v1/me/queue answer. No
 * database, no parsing beyond what evhttp does itself: what is left is
 * the cost of HTTP on this machine, which callbackd pays too.
 *
 *   queue_bare PORT
 *
 * Listens on 127.0.0.1:PORT until SIGTERM or SIGINT. Exit status 1 when it
 * cannot listen.
 *
 * Built by bench-queue: cc -O2 queue_bare.c $(pkg-config --cflags --libs
 * libevent).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static const char body[] = "{\"agent_id\":1,\"items\":[]}";

static void
answer(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", "application/json");
	evbuffer_add_reference(out, body, sizeof(body) - 1, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct event *term, *intr;
	long port;
	char *end;

	if (argc != 2 || (port = strtol(argv[1], &end, 10)) < 1 ||
	    port > 65535 || *end != '\0') {
		fprintf(stderr, "usage: queue_bare PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	http = evhttp_new(base);
	if (base == NULL || http == NULL) {
		fprintf(stderr, "queue_bare: libevent set-up failed\n");
		return 1;
	}
	evhttp_set_gencb(http, answer, NULL);
	if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "queue_bare: cannot listen on 127.0.0.1:%ld\n",
			port);
		return 1;
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	intr = evsignal_new(base, SIGINT, on_signal, base);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_base_dispatch(base);
	event_free(term);
	event_free(intr);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
