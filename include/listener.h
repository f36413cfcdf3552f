/*
 * listener.h: the HTTP listening socket and a guard on every connection.
 *
 * evhttp alone lets a client hold a connection forever by sending a byte
 * now and then (its timeout is an inactivity timer), and lets one address
 * open connections until the process runs out of file descriptors, after
 * which libevent's accept loop spins and logs each failure. The guard adds:
 *
 *   - a cap on open connections in all and per client address (an IPv6
 *     address counts by its /64; trusted proxies are exempt from the
 *     per-address cap); excess connections are closed on accept;
 *   - a hard deadline for a request's line and headers, counted from the
 *     connection's accept or from the first byte after the previous answer;
 *   - a minimum body rate: body_timeout_sec plus one second per
 *     body_min_rate bytes received;
 *   - on EMFILE/ENFILE a pause in accepting, a reserve descriptor to
 *     accept and close the connection at the head of the queue, and a log
 *     line at most every few seconds.
 *
 * Loop thread only.
 */
#ifndef CBD_LISTENER_H
#define CBD_LISTENER_H

#include "common.h"

struct config;
struct event_base;
struct evhttp;
struct evhttp_request;
struct metrics;
struct netaddr_list;
struct listener;

/*
 * Bind cfg's listen_addr:listen_port and hand the socket to evh. trusted
 * (borrowed, may be NULL) lists the proxies exempt from the per-address
 * cap. NULL (logged) when the address cannot be bound.
 */
struct listener *listener_new(struct event_base *base, struct evhttp *evh,
			      const struct config *cfg, struct metrics *metrics,
			      const struct netaddr_list *trusted);
/* The whole request has been read and handed to the application: no
 * deadline applies until the client starts sending the next one. */
void listener_request_read(struct listener *l, struct evhttp_request *req);
/* Call fn(arg) once when req's connection closes (before it is freed);
 * 0, or -1 when the connection is not one of ours. fn NULL: stop. */
int listener_watch_close(struct listener *l, struct evhttp_request *req,
			 void (*fn)(void *arg), void *arg);
/* Stop accepting (the socket is closed); open connections stay. */
void listener_stop(struct listener *l, struct evhttp *evh);
/* Open connections now. */
int listener_open_count(const struct listener *l);
/* After evhttp_free (which closes the connections). NULL ok. */
void listener_free(struct listener *l);

#endif
