/* test_routing.c: routing's pure rules: priority with ageing, and a
 * queue's site hours in its own zone across daylight-saving changes. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "routing_queue.h"
#include "tap.h"
#include "timefmt.h"

/* A queue open mon-fri 09:00-17:00 in zone tz (its own site). */
static void
site(struct routing_queue *q, const char *tz)
{
	memset(q, 0, sizeof(*q));
	q->id = 1;
	strcpy(q->tz, tz);
	if (config_week_parse("mon-fri 09:00-17:00", &q->opening) != 0 ||
	    config_closures_parse("2026-12-25", &q->closed_days,
				  &q->nclosed_days) != 0)
		abort();
}

static int64_t
utc(const char *s)
{
	int64_t t = 0;

	if (timefmt_parse_rfc3339(s, &t) != 0)
		abort();
	return t;
}

int
main(void)
{
	struct routing_queue london, denver;
	struct config c;
	struct cbd_err err;

	memset(&err, 0, sizeof(err));
	/* Priority: booked level, raised by a repeat contact and a VIP. */
	is_int(routing_priority_at_booking(0, 0, 0, 1, 2), 0, "plain call");
	is_int(routing_priority_at_booking(1, 1, 0, 1, 2), 2, "repeat +1");
	is_int(routing_priority_at_booking(1, 1, 1, 1, 2), 4, "repeat + VIP");
	/* Ageing: one level per ageing period waited, never less. */
	is_int((int)routing_effective_priority(0, 0, 600), 0, "fresh");
	is_int((int)routing_effective_priority(0, 599, 600), 0, "not yet");
	is_int((int)routing_effective_priority(0, 600, 600), 1, "one period");
	is_int((int)routing_effective_priority(-3, 3600, 600), 3,
	       "low priority overtakes after waiting");
	is_int((int)routing_effective_priority(2, -50, 600), 2,
	       "due in the future: no ageing");
	ok(routing_effective_priority(0, 1800, 600) >
		   routing_effective_priority(2, 0, 600),
	   "a call 30 min old at 0 goes before a new one at 2");

	/* London and Denver, each 09:00-17:00 in its own zone, across the
	 * UK change (25 Oct 2026) and the US one (1 Nov 2026). */
	site(&london, "Europe/London");
	site(&denver, "America/Denver");
	config_init(&c);
	ok(routing_is_open(&c, &london, utc("2026-10-23T08:00:00Z"), 900),
	   "London Fri 23 Oct opens 08:00 UTC (BST)");
	ok(!routing_is_open(&c, &london, utc("2026-10-26T08:00:00Z"), 900),
	   "London Mon 26 Oct closed at 08:00 UTC (GMT)");
	ok(routing_is_open(&c, &london, utc("2026-10-26T09:00:00Z"), 900),
	   "London Mon 26 Oct opens 09:00 UTC");
	ok(routing_is_open(&c, &denver, utc("2026-10-30T15:00:00Z"), 900),
	   "Denver Fri 30 Oct opens 15:00 UTC (MDT)");
	ok(!routing_is_open(&c, &denver, utc("2026-11-02T15:00:00Z"), 900),
	   "Denver Mon 2 Nov closed at 15:00 UTC (MST)");
	ok(routing_is_open(&c, &denver, utc("2026-11-02T16:00:00Z"), 900),
	   "Denver Mon 2 Nov opens 16:00 UTC");
	ok(!routing_is_open(&c, &denver, utc("2026-11-03T00:00:00Z"), 900),
	   "Denver closes at 17:00 local");
	ok(!routing_is_open(&c, &london, utc("2026-12-25T12:00:00Z"), 900),
	   "a queue's closure holds");
	ok(routing_is_open(&c, NULL, utc("2026-12-25T12:00:00Z"), 900),
	   "the default queue keeps the global rules (always open)");
	ok(!routing_is_open(&c, &london, utc("2026-10-24T12:00:00Z"), 900),
	   "Saturday closed");
	is_str(routing_zone(&c, &denver), "America/Denver", "queue zone");
	is_str(routing_zone(&c, NULL), "UTC", "default zone");
	ok(routing_skill_name_ok("lang:es") && !routing_skill_name_ok("") &&
		   !routing_skill_name_ok("Lang ES"),
	   "skill names");
	free(london.closed_days);
	free(denver.closed_days);
	config_clear(&c);
	return tap_done();
}
