/*
 * reminders_receiver.c: the webhook/SMS gateway end of bench-reminders.
 *
 * One thread, epoll, HTTP/1.1 keep-alive: reads each request (headers and
 * a Content-Length body), answers 200 "{}" at once and notes the arrival
 * time (wall clock, ms) and the webhook-id header. Nothing is verified:
 * this stands for a receiver fast enough not to be what is measured.
 *
 *   reminders_receiver -p PORTFILE -o LOGFILE
 *
 * Binds 127.0.0.1 on an ephemeral port and writes the port to PORTFILE.
 * On SIGTERM or SIGINT it writes one line per request to LOGFILE,
 * "<arrival_ms> <webhook-id>", and exits. Requests without a webhook-id
 * are answered and counted under the id "-".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RX_MAX_EVENTS 256
#define RX_BUF_INIT   8192
#define RX_MAX_REQ    (1 << 20)

struct rx_conn {
	int fd;
	char *buf;
	size_t len, cap;
};

struct rx_rec {
	int64_t ms;
	char id[40];
};

static volatile sig_atomic_t rx_stop;
static struct rx_rec *rx_recs;
static size_t rx_nrecs, rx_caprecs;

static void
rx_on_signal(int sig)
{
	(void)sig;
	rx_stop = 1;
}

static int64_t
rx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
rx_note(const char *id, size_t n)
{
	if (rx_nrecs == rx_caprecs) {
		rx_caprecs = rx_caprecs ? rx_caprecs * 2 : 65536;
		rx_recs = realloc(rx_recs, rx_caprecs * sizeof(*rx_recs));
		if (rx_recs == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	rx_recs[rx_nrecs].ms = rx_now_ms();
	if (n >= sizeof(rx_recs[0].id))
		n = sizeof(rx_recs[0].id) - 1;
	memcpy(rx_recs[rx_nrecs].id, id, n);
	rx_recs[rx_nrecs].id[n] = '\0';
	rx_nrecs++;
}

/* The value of header name in the head [p, end), or NULL. */
static const char *
rx_header(const char *p, const char *end, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

static void
rx_close(int ep, struct rx_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Answer every complete request in c's buffer; -1 to drop c. */
static int
rx_serve(struct rx_conn *c)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 2\r\n\r\n{}";
	size_t off = 0;

	for (;;) {
		char *head = c->buf + off;
		size_t avail = c->len - off;
		char *eoh = memmem(head, avail, "\r\n\r\n", 4);
		const char *v;
		size_t vlen = 0, hlen, blen = 0;

		if (eoh == NULL)
			break;
		hlen = (size_t)(eoh - head) + 4;
		v = rx_header(head, eoh, "Content-Length", &vlen);
		if (v != NULL)
			blen = strtoul(v, NULL, 10);
		if (avail < hlen + blen)
			break;
		v = rx_header(head, eoh, "webhook-id", &vlen);
		if (v != NULL)
			rx_note(v, vlen);
		else
			rx_note("-", 1);
		/* Loopback with a small answer: a short write is not expected,
		 * and a receiver that cannot answer drops the connection. */
		if (write(c->fd, resp, sizeof(resp) - 1) !=
		    (ssize_t)(sizeof(resp) - 1))
			return -1;
		off += hlen + blen;
	}
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	return c->len > RX_MAX_REQ ? -1 : 0;
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *logfile = NULL;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct epoll_event ev, evs[RX_MAX_EVENTS];
	struct sigaction sig;
	int lfd, ep, o, one = 1;
	FILE *f;

	while ((o = getopt(argc, argv, "p:o:")) != -1) {
		if (o == 'p')
			portfile = optarg;
		else if (o == 'o')
			logfile = optarg;
		else
			return 2;
	}
	if (portfile == NULL || logfile == NULL) {
		fprintf(stderr, "usage: %s -p PORTFILE -o LOGFILE\n", argv[0]);
		return 2;
	}
	memset(&sig, 0, sizeof(sig));
	sig.sa_handler = rx_on_signal;
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
		perror("listen");
		return 1;
	}
	f = fopen(portfile, "w");
	if (f == NULL) {
		perror(portfile);
		return 1;
	}
	fprintf(f, "%d\n", ntohs(sa.sin_port));
	fclose(f);

	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the listener */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!rx_stop) {
		int n = epoll_wait(ep, evs, RX_MAX_EVENTS, 100);

		for (int i = 0; i < n; i++) {
			struct rx_conn *c = evs[i].data.ptr;

			if (c == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					c->cap = RX_BUF_INIT;
					c->buf = malloc(c->cap);
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r;
				if (c->cap - c->len < 4096) {
					c->cap *= 2;
					c->buf = realloc(c->buf, c->cap);
				}
				r = read(c->fd, c->buf + c->len,
					 c->cap - c->len);
				if (r > 0) {
					c->len += (size_t)r;
					continue;
				}
				if (r < 0 && (errno == EAGAIN ||
					      errno == EWOULDBLOCK)) {
					if (rx_serve(c) != 0)
						rx_close(ep, c);
					break;
				}
				if (r < 0 && errno == EINTR)
					continue;
				/* EOF or error: answer what is complete. */
				(void)rx_serve(c);
				rx_close(ep, c);
				break;
			}
		}
	}
	f = fopen(logfile, "w");
	if (f == NULL) {
		perror(logfile);
		return 1;
	}
	for (size_t i = 0; i < rx_nrecs; i++)
		fprintf(f, "%lld %s\n", (long long)rx_recs[i].ms,
			rx_recs[i].id);
	fclose(f);
	return 0;
}
