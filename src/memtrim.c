/*
 * memtrim.c: a timer that calls malloc_trim(0) (see memtrim.h for why).
 *
 * A trim walks every arena under its lock, so a thread that allocates
 * meanwhile waits; measured at around a millisecond for a heap of tens of
 * megabytes, which is why it runs on a timer and not after each request.
 */
#include <malloc.h>
#include <stdlib.h>

#include <event2/event.h>

#include "memtrim.h"
#include "xalloc.h"

struct memtrim {
	struct event *tick;
};

static void
memtrim_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

struct memtrim *
memtrim_new(struct event_base *base, int interval_sec)
{
	struct memtrim *m;
	struct timeval tv = { interval_sec, 0 };

	if (interval_sec <= 0)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->tick = event_new(base, -1, EV_PERSIST, memtrim_tick, m);
	event_add(m->tick, &tv);
	return m;
}

void
memtrim_free(struct memtrim *m)
{
	if (m == NULL)
		return;
	event_free(m->tick);
	free(m);
}
