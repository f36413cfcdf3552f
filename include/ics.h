/*
 * ics.h: iCalendar text the service emits and reads, built on libical:
 * invites (iTIP REQUEST and CANCEL) for one callback, an agent's feed, and
 * shift import from calendar exports. Named ics so no name here is ever
 * mistaken for one of libical's ical* symbols.
 */
#ifndef CBD_ICS_H
#define CBD_ICS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "shift.h"

struct ics_invite {
	const char *uid; /* stable for the callback's life */
	int sequence;    /* 0 at booking, +1 on every change */
	int is_cancel;   /* METHOD:CANCEL, STATUS:CANCELLED */
	int64_t start;   /* UTC epoch seconds */
	int64_t end;     /* UTC epoch seconds */
	int64_t dtstamp; /* when this version was made */
	const char *tz;  /* customer's IANA zone: TZID + VTIMEZONE */
	const char *organizer_email; /* the service's address */
	const char *organizer_cn;    /* the owner's display name */
	const char *attendee_email;  /* NULL: attendee is tel:phone */
	const char *attendee_phone;  /* E.164 */
	const char *attendee_cn;
	const char *summary;
	const char *description;
	int alarm_min; /* VALARM this many minutes before; 0 = none */
};

/*
 * One VCALENDAR with METHOD, a VTIMEZONE whose TZID is the plain IANA name,
 * and one VEVENT. CRLF line ends, folded lines. Returns text the caller frees.
 */
char *ics_invite_build(const struct ics_invite *inv);

struct ics_feed_item {
	const char *uid;
	int sequence;
	int64_t start; /* UTC */
	int64_t end;   /* UTC */
	const char *summary;
	const char *description;
};

/* A VCALENDAR (no METHOD) of items, times in UTC. Caller frees. */
char *ics_feed_build(const char *calname, const struct ics_feed_item *items,
		     size_t n, int64_t dtstamp);

/* One VEVENT of an imported calendar, and what became of it. */
struct ics_import_event {
	int index;       /* 0-based position among the VEVENTs */
	char uid[128];   /* the event's UID, "" when it had none */
	char agent[128]; /* ATTENDEE CN, else ATTENDEE mailto, else SUMMARY */
	struct shift_rule rule; /* tz, start, duration, rrule, exdates filled */
	int is_ok;              /* 0: error says why it cannot be a shift */
	char error[200];
};

/*
 * Parse a calendar export into shift rules, one per VEVENT. agent_id in
 * the rules is left 0: the caller maps agent names. Returns 0 with *out (caller
 * frees) and *n set, or -1 with err set when text is not iCalendar at all
 * (400, "invalid-ics", field "body").
 */
int ics_import_parse(const char *text, struct ics_import_event **out, size_t *n,
		     struct cbd_err *err) CBD_MUSTCHECK;

#endif
