/*
 * ics.c: the iCalendar text callbackd writes and reads, through libical.
 *
 * Invites are iTIP (RFC 5546) REQUEST or CANCEL objects with one VEVENT.
 * Times are written in the customer's zone as DTSTART;TZID=<IANA name> with
 * a VTIMEZONE of the same name, because calendar apps show a zoned event in
 * the zone the customer booked in. libical 3.0 names its built-in zones
 * "/freeassociation.sourceforge.net/<IANA name>" and ignores an empty
 * prefix, so the VTIMEZONE is a clone whose TZID property is rewritten to
 * the plain name (what Cyrus IMAP does), and DTSTART/DTEND are written as
 * floating wall times with an explicit TZID parameter so libical cannot
 * add its own prefixed one.
 *
 * Feeds are one VCALENDAR per agent, all times UTC: subscribers refresh
 * them often and UTC needs no VTIMEZONE.
 *
 * Import reads a calendar export (Google, Outlook, Thunderbird) and turns
 * each VEVENT into a shift rule, reporting per event why one cannot be.
 */
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "ics.h"
#include "timefmt.h"
#include "xalloc.h"

#define ICS_PRODID "-//callbackd//callbackd//EN"
/* A rota export has a few hundred events; far more is a mistake or an
 * attack, and each event costs a result row. */
#define ICS_IMPORT_MAX_EVENTS 10000
/* libical 3.0's prefix for built-in zones, and libical 1.x's extra part. */
#define ICS_LIBICAL_TZID_PREFIX "/freeassociation.sourceforge.net/"
#define ICS_LIBICAL_TZFILE      "Tzfile/"

static pthread_once_t ics_once = PTHREAD_ONCE_INIT;

static void
ics_init_once(void)
{
	/* Calendar text comes from outside: libical must report, not abort. */
	icalerror_set_errors_are_fatal(0);
}

static void
ics_init(void)
{
	(void)pthread_once(&ics_once, ics_init_once);
}

/* A UTC instant as a libical UTC time ("...Z" when written). */
static struct icaltimetype
ics_utc_time(int64_t t)
{
	return icaltime_from_timet_with_zone((time_t)t, 0,
					     icaltimezone_get_utc_timezone());
}

/*
 * The wall time of instant t in zone, as a floating time. libical 3.0's
 * icaltime_from_timet_with_zone computes the right fields but leaves the
 * UTC zone attached, which would write them with a "Z"; the zone is
 * dropped here and named by an explicit TZID parameter instead.
 */
static struct icaltimetype
ics_local_time(int64_t t, icaltimezone *zone)
{
	struct icaltimetype tt;

	tt = icaltime_from_timet_with_zone((time_t)t, 0, zone);
	tt.zone = NULL;
	tt.is_date = 0;
	tt.is_daylight = 0;
	return tt;
}

/*
 * A VTIMEZONE for zone named tz, ready to add to a VCALENDAR; the caller
 * owns it. History before the year of from_utc is cut away (libical would
 * otherwise emit every rule since 1854, kilobytes per invite); cutting at
 * January 1 of the UTC year a day before the event keeps the observance
 * in force at the event whatever the zone's offset.
 */
static icalcomponent *
ics_vtimezone(icaltimezone *zone, const char *tz, int64_t from_utc)
{
	icalcomponent *builtin, *vtz;
	icalproperty *tzid;
	struct icaltimetype cut;

	builtin = icaltimezone_get_component(zone);
	if (builtin == NULL)
		return NULL;
	vtz = icalcomponent_new_clone(builtin);
	tzid = icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY);
	if (tzid != NULL)
		icalproperty_set_tzid(tzid, tz);
	else
		icalcomponent_add_property(vtz, icalproperty_new_tzid(tz));
	cut = ics_utc_time(from_utc - 86400);
	cut.month = 1;
	cut.day = 1;
	cut.hour = cut.minute = cut.second = 0;
	icaltimezone_truncate_vtimezone(vtz, cut, icaltime_null_time(), 0);
	return vtz;
}

/* DTSTART or DTEND at instant t: zoned wall time when zone is set. */
static icalproperty *
ics_time_prop(icalproperty_kind kind, int64_t t, icaltimezone *zone,
	      const char *tz)
{
	icalproperty *p;
	struct icaltimetype tt;

	tt = zone != NULL ? ics_local_time(t, zone) : ics_utc_time(t);
	p = kind == ICAL_DTSTART_PROPERTY ? icalproperty_new_dtstart(tt)
					  : icalproperty_new_dtend(tt);
	if (zone != NULL)
		icalproperty_add_parameter(p, icalparameter_new_tzid(tz));
	return p;
}

static icalcomponent *
ics_calendar_new(const char *method)
{
	icalcomponent *cal = icalcomponent_new_vcalendar();

	icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
	icalcomponent_add_property(cal, icalproperty_new_prodid(ICS_PRODID));
	icalcomponent_add_property(cal, icalproperty_new_calscale("GREGORIAN"));
	if (method != NULL)
		icalcomponent_add_property(
			cal, icalproperty_new_method(
				     icalproperty_string_to_method(method)));
	return cal;
}

/*
 * Serialise and free cal. libical writes CRLF line ends and folds lines at
 * 75 octets. The _r variant returns a malloc'd string (libical 3.0 has no
 * other allocator), so the caller frees it with free().
 */
static char *
ics_finish(icalcomponent *cal)
{
	char *text = icalcomponent_as_ical_string_r(cal);

	icalcomponent_free(cal);
	icalerror_clear_errno();
	return text != NULL ? text : xstrdup("");
}

char *
ics_invite_build(const struct ics_invite *inv)
{
	icalcomponent *cal, *ev, *vtz = NULL;
	icaltimezone *zone = NULL;
	icalproperty *p;
	const char *tz = inv->tz;
	char *addr;

	assert(inv->uid != NULL && inv->uid[0] != '\0');
	ics_init();
	/* UTC needs no VTIMEZONE; an unknown zone (which validation should
	 * have caught) degrades to UTC rather than an invite with a TZID
	 * nobody can resolve. */
	if (tz != NULL && tz[0] != '\0' && strcmp(tz, "UTC") != 0 &&
	    (zone = timefmt_zone(tz)) != NULL &&
	    (vtz = ics_vtimezone(zone, tz, inv->start)) == NULL)
		zone = NULL;

	cal = ics_calendar_new(inv->is_cancel ? "CANCEL" : "REQUEST");
	if (vtz != NULL)
		icalcomponent_add_component(cal, vtz);
	ev = icalcomponent_new_vevent();
	icalcomponent_add_property(ev, icalproperty_new_uid(inv->uid));
	icalcomponent_add_property(
		ev, icalproperty_new_dtstamp(ics_utc_time(inv->dtstamp)));
	icalcomponent_add_property(
		ev, ics_time_prop(ICAL_DTSTART_PROPERTY, inv->start, zone, tz));
	icalcomponent_add_property(
		ev, ics_time_prop(ICAL_DTEND_PROPERTY, inv->end, zone, tz));
	/* Clients match updates to the event by UID and apply only a
	 * higher SEQUENCE (RFC 5545 3.8.7.4). */
	icalcomponent_add_property(ev,
				   icalproperty_new_sequence(inv->sequence));
	icalcomponent_add_property(
		ev, icalproperty_new_status(inv->is_cancel
						    ? ICAL_STATUS_CANCELLED
						    : ICAL_STATUS_CONFIRMED));
	icalcomponent_add_property(
		ev, icalproperty_new_summary(
			    inv->summary != NULL ? inv->summary : "Callback"));
	if (inv->description != NULL)
		icalcomponent_add_property(
			ev, icalproperty_new_description(inv->description));

	if (inv->organizer_email != NULL) {
		addr = xasprintf("mailto:%s", inv->organizer_email);
		p = icalproperty_new_organizer(addr);
		free(addr);
		if (inv->organizer_cn != NULL)
			icalproperty_add_parameter(
				p, icalparameter_new_cn(inv->organizer_cn));
		icalcomponent_add_property(ev, p);
	}
	if (inv->attendee_email != NULL || inv->attendee_phone != NULL) {
		/* CAL-ADDRESS is any URI: a customer known only by phone
		 * is a tel: URI (RFC 3966), which clients display as is. */
		if (inv->attendee_email != NULL)
			addr = xasprintf("mailto:%s", inv->attendee_email);
		else
			addr = xasprintf("tel:%s", inv->attendee_phone);
		p = icalproperty_new_attendee(addr);
		free(addr);
		if (inv->attendee_cn != NULL)
			icalproperty_add_parameter(
				p, icalparameter_new_cn(inv->attendee_cn));
		icalproperty_add_parameter(
			p, icalparameter_new_role(ICAL_ROLE_REQPARTICIPANT));
		/* The customer is told, not asked: a reply would go to the
		 * service's address, where nothing reads it. Rescheduling
		 * goes through the booking link instead. */
		icalproperty_add_parameter(
			p, icalparameter_new_rsvp(ICAL_RSVP_FALSE));
		icalcomponent_add_property(ev, p);
	}

	if (inv->alarm_min > 0 && !inv->is_cancel) {
		icalcomponent *alarm = icalcomponent_new_valarm();
		struct icaltriggertype trig;

		memset(&trig, 0, sizeof(trig));
		trig.time = icaltime_null_time();
		/* Clamped to a week so a bad setting cannot overflow. */
		trig.duration = icaldurationtype_from_int(
			-(inv->alarm_min < 7 * 24 * 60 ? inv->alarm_min
						       : 7 * 24 * 60) *
			60);
		icalcomponent_add_property(
			alarm, icalproperty_new_action(ICAL_ACTION_DISPLAY));
		icalcomponent_add_property(alarm,
					   icalproperty_new_trigger(trig));
		icalcomponent_add_property(
			alarm, icalproperty_new_description(
				       inv->summary != NULL ? inv->summary
							    : "Callback"));
		icalcomponent_add_component(ev, alarm);
	}
	icalcomponent_add_component(cal, ev);
	return ics_finish(cal);
}

/*
 * The X-WR-CALNAME content line for name, escaped and folded, CRLF ended.
 * X-WR-CALNAME is the de facto name of a subscribed calendar (Apple,
 * Google, Outlook). It is written here rather than by libical because
 * libical 3.0 does not escape ',' and ';' in X properties, and its own
 * parser then splits "Priya, callbacks" into two names. Folding keeps
 * lines to 75 octets without splitting a UTF-8 character. Caller frees.
 */
static char *
ics_fold_calname(const char *name)
{
	static const char prefix[] = "X-WR-CALNAME:";
	/* Worst case: every byte escaped to two, a fold per 37 of those. */
	size_t cap = sizeof(prefix) + strlen(name) * 3 + 8;
	char *out = xmalloc(cap), *o = out;
	size_t col = sizeof(prefix) - 1;
	const unsigned char *s = (const unsigned char *)name;

	memcpy(o, prefix, col);
	o += col;
	while (*s != '\0') {
		unsigned char tok[8];
		size_t len = 0, used = 1;

		if (*s == '\n') {
			tok[len++] = '\\';
			tok[len++] = 'n';
		} else if (*s == '\\' || *s == ';' || *s == ',') {
			tok[len++] = '\\';
			tok[len++] = *s;
		} else if (*s < 0x20 || *s == 0x7f) {
			/* Control characters are not allowed in TEXT. */
		} else {
			/* A whole UTF-8 sequence: lead byte + continuations. */
			tok[len++] = *s;
			while (len < 4 && (s[used] & 0xc0) == 0x80)
				tok[len++] = s[used++];
		}
		s += used;
		if (len == 0)
			continue;
		if (col + len > 75) {
			memcpy(o, "\r\n ", 3);
			o += 3;
			col = 1;
		}
		memcpy(o, tok, len);
		o += len;
		col += len;
	}
	memcpy(o, "\r\n", 3);
	return out;
}

char *
ics_feed_build(const char *calname, const struct ics_feed_item *items, size_t n,
	       int64_t dtstamp)
{
	icalcomponent *cal;
	char *text, *line, *out;
	const char *eol;
	size_t i;

	ics_init();
	cal = ics_calendar_new(NULL);
	for (i = 0; i < n; i++) {
		const struct ics_feed_item *it = &items[i];
		icalcomponent *ev = icalcomponent_new_vevent();

		icalcomponent_add_property(ev, icalproperty_new_uid(it->uid));
		icalcomponent_add_property(
			ev, icalproperty_new_dtstamp(ics_utc_time(dtstamp)));
		icalcomponent_add_property(
			ev, icalproperty_new_dtstart(ics_utc_time(it->start)));
		icalcomponent_add_property(
			ev, icalproperty_new_dtend(ics_utc_time(it->end)));
		icalcomponent_add_property(
			ev, icalproperty_new_sequence(it->sequence));
		icalcomponent_add_property(
			ev, icalproperty_new_status(ICAL_STATUS_CONFIRMED));
		icalcomponent_add_property(
			ev, icalproperty_new_summary(
				    it->summary != NULL ? it->summary : ""));
		if (it->description != NULL)
			icalcomponent_add_property(
				ev,
				icalproperty_new_description(it->description));
		icalcomponent_add_component(cal, ev);
	}
	text = ics_finish(cal);
	line = ics_fold_calname(calname != NULL ? calname : "");
	/* Right after BEGIN:VCALENDAR: property order is free. */
	eol = strstr(text, "\r\n");
	out = xasprintf("%.*s%s%s", (int)(eol - text + 2), text, line, eol + 2);
	free(line);
	free(text);
	return out;
}

/* Record why event e cannot be a shift. */
static void ics_import_fail(struct ics_import_event *e, const char *fmt, ...)
	CBD_PRINTF(2, 3);

static void
ics_import_fail(struct ics_import_event *e, const char *fmt, ...)
{
	va_list ap;

	e->is_ok = 0;
	va_start(ap, fmt);
	vsnprintf(e->error, sizeof(e->error), fmt, ap);
	va_end(ap);
}

/* Copy s trimmed of surrounding blanks into dst; 0, or -1 if too long. */
static int
ics_copy_trim(char *dst, size_t size, const char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len >= size)
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/*
 * The agent's name: ATTENDEE CN, else its mailto address, else SUMMARY.
 * A person's exported work calendar names them as attendee; rota tools
 * that export one event per person put the name in SUMMARY instead. The
 * caller maps the name to an agent row, so no id is guessed here.
 */
static const char *
ics_import_agent(icalcomponent *ev)
{
	icalproperty *p;
	const char *mailto = NULL;

	for (p = icalcomponent_get_first_property(ev, ICAL_ATTENDEE_PROPERTY);
	     p != NULL;
	     p = icalcomponent_get_next_property(ev, ICAL_ATTENDEE_PROPERTY)) {
		icalparameter *cn =
			icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
		const char *v = icalproperty_get_attendee(p);

		if (cn != NULL && icalparameter_get_cn(cn) != NULL &&
		    icalparameter_get_cn(cn)[0] != '\0')
			return icalparameter_get_cn(cn);
		if (mailto == NULL && v != NULL &&
		    strncasecmp(v, "mailto:", 7) == 0 && v[7] != '\0')
			mailto = v + 7;
	}
	if (mailto != NULL)
		return mailto;
	p = icalcomponent_get_first_property(ev, ICAL_SUMMARY_PROPERTY);
	return p != NULL ? icalproperty_get_summary(p) : NULL;
}

/*
 * The IANA name meant by a TZID parameter. Exports from libical-based apps
 * (Evolution, older Thunderbird) use "/freeassociation.sourceforge.net/
 * [Tzfile/]Zone"; anything else may still be resolved through its
 * VTIMEZONE's X-LIC-LOCATION. Returns a string borrowed from tzid or cal.
 */
static const char *
ics_import_zone_name(icalcomponent *cal, const char *tzid)
{
	icalcomponent *vtz;

	if (strncmp(tzid, ICS_LIBICAL_TZID_PREFIX,
		    strlen(ICS_LIBICAL_TZID_PREFIX)) == 0) {
		tzid += strlen(ICS_LIBICAL_TZID_PREFIX);
		if (strncmp(tzid, ICS_LIBICAL_TZFILE,
			    strlen(ICS_LIBICAL_TZFILE)) == 0)
			tzid += strlen(ICS_LIBICAL_TZFILE);
	}
	if (timefmt_zone(tzid) != NULL)
		return tzid;
	for (vtz = icalcomponent_get_first_component(cal,
						     ICAL_VTIMEZONE_COMPONENT);
	     vtz != NULL; vtz = icalcomponent_get_next_component(
				  cal, ICAL_VTIMEZONE_COMPONENT)) {
		icalproperty *id, *loc;

		id = icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY);
		if (id == NULL || icalproperty_get_tzid(id) == NULL ||
		    strcmp(icalproperty_get_tzid(id), tzid) != 0)
			continue;
		for (loc = icalcomponent_get_first_property(vtz,
							    ICAL_X_PROPERTY);
		     loc != NULL; loc = icalcomponent_get_next_property(
					  vtz, ICAL_X_PROPERTY)) {
			const char *name = icalproperty_get_x_name(loc);
			const char *v = icalproperty_get_x(loc);

			if (name != NULL && v != NULL &&
			    strcasecmp(name, "X-LIC-LOCATION") == 0 &&
			    timefmt_zone(v) != NULL)
				return v;
		}
	}
	return tzid; /* unknown: the caller reports it by this name */
}

/*
 * The zone of a DTSTART/DTEND/EXDATE property: its TZID's IANA name, "UTC"
 * for a Z time, the calendar's X-WR-TIMEZONE for a floating one (what
 * Google writes), or NULL when there is none.
 */
static const char *
ics_import_prop_zone(icalcomponent *cal, icalproperty *p,
		     const struct icaltimetype *tt)
{
	icalparameter *tzid;
	icalproperty *wr;

	tzid = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
	if (tzid != NULL && icalparameter_get_tzid(tzid) != NULL)
		return ics_import_zone_name(cal, icalparameter_get_tzid(tzid));
	if (icaltime_is_utc(*tt))
		return "UTC";
	for (wr = icalcomponent_get_first_property(cal, ICAL_X_PROPERTY);
	     wr != NULL;
	     wr = icalcomponent_get_next_property(cal, ICAL_X_PROPERTY)) {
		const char *name = icalproperty_get_x_name(wr);

		if (name != NULL && strcasecmp(name, "X-WR-TIMEZONE") == 0)
			return icalproperty_get_x(wr);
	}
	return NULL;
}

/* Wall fields read as UTC: differences of these are wall-clock spans. */
static int64_t
ics_wall_sec(struct icaltimetype tt)
{
	tt.zone = icaltimezone_get_utc_timezone();
	return (int64_t)icaltime_as_timet(tt);
}

/* The instant of wall time tt in zone tz (a known zone). */
static int64_t
ics_instant(struct icaltimetype tt, const char *tz)
{
	tt.zone = NULL;
	return (int64_t)icaltime_as_timet_with_zone(tt, timefmt_zone(tz));
}

static void
ics_format_local(char *dst, size_t size, const struct icaltimetype *tt)
{
	snprintf(dst, size, "%04d-%02d-%02dT%02d:%02d:%02d", tt->year,
		 tt->month, tt->day, tt->hour, tt->minute, tt->second);
}

/* Fill e->rule.exdates from EXDATE properties, in the rule's zone. */
static int
ics_import_exdates(icalcomponent *cal, icalcomponent *ev,
		   struct ics_import_event *e, const struct icaltimetype *start)
{
	struct shift_rule *r = &e->rule;
	icalproperty *p;
	size_t used = 0;

	for (p = icalcomponent_get_first_property(ev, ICAL_EXDATE_PROPERTY);
	     p != NULL;
	     p = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY)) {
		struct icaltimetype x = icalproperty_get_exdate(p);
		const char *tz;
		char buf[24];
		int len;

		if (icaltime_is_null_time(x))
			continue;
		if (x.is_date) {
			/* A DATE removes that day's occurrence. */
			x.is_date = 0;
			x.hour = start->hour;
			x.minute = start->minute;
			x.second = start->second;
		} else {
			tz = ics_import_prop_zone(cal, p, &x);
			if (tz != NULL && strcmp(tz, r->tz) != 0) {
				if (timefmt_zone(tz) == NULL) {
					ics_import_fail(
						e,
						"EXDATE has unknown time "
						"zone '%.60s'",
						tz);
					return -1;
				}
				x = icaltime_from_timet_with_zone(
					(time_t)ics_instant(x, tz), 0,
					timefmt_zone(r->tz));
			}
		}
		ics_format_local(buf, sizeof(buf), &x);
		len = snprintf(r->exdates + used, sizeof(r->exdates) - used,
			       "%s%s", used > 0 ? "," : "", buf);
		if (len < 0 || (size_t)len >= sizeof(r->exdates) - used) {
			r->exdates[used] = '\0';
			ics_import_fail(e, "too many EXDATEs (at most %zu)",
					sizeof(r->exdates) / 20);
			return -1;
		}
		used += (size_t)len;
	}
	return 0;
}

/*
 * Turn one VEVENT into e; e->is_ok says whether it became a shift rule.
 * Checks run in the order a person fixes an export: what the event is
 * (edited occurrence, RDATE), when it starts, how long it lasts, how it
 * repeats, and only then whose it is, so the first error is the useful one.
 */
static void
ics_import_event(icalcomponent *cal, icalcomponent *ev,
		 struct ics_import_event *e)
{
	struct shift_rule *r = &e->rule;
	struct cbd_err err = { 0 };
	struct icaltimetype start, end;
	icalproperty *p, *pend;
	const char *s, *tz, *end_tz;
	int64_t duration;
	char *rrule;

	p = icalcomponent_get_first_property(ev, ICAL_UID_PROPERTY);
	if (p != NULL && (s = icalproperty_get_uid(p)) != NULL &&
	    ics_copy_trim(e->uid, sizeof(e->uid), s) != 0) {
		e->uid[0] = '\0';
		ics_import_fail(e, "UID longer than %zu bytes",
				sizeof(e->uid) - 1);
		return;
	}
	/* Filled even when the event fails, so the report can say whose
	 * event it was; a missing agent is reported after the times. */
	s = ics_import_agent(ev);
	if (s == NULL || ics_copy_trim(e->agent, sizeof(e->agent), s) != 0)
		e->agent[0] = '\0';
	/* An edited occurrence would become a second shift next to the one
	 * its series still produces. */
	if (icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY)) {
		ics_import_fail(e, "edited occurrences (RECURRENCE-ID) are "
				   "not supported; export the series only");
		return;
	}
	if (icalcomponent_get_first_property(ev, ICAL_RDATE_PROPERTY)) {
		ics_import_fail(e, "RDATE is not supported; use RRULE");
		return;
	}

	p = icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY);
	if (p == NULL ||
	    icaltime_is_null_time(start = icalproperty_get_dtstart(p))) {
		ics_import_fail(e, "DTSTART missing");
		return;
	}
	if (start.is_date) {
		ics_import_fail(e, "all-day event: a shift needs a start time");
		return;
	}
	tz = ics_import_prop_zone(cal, p, &start);
	if (tz == NULL) {
		ics_import_fail(e,
				"DTSTART has no time zone (no TZID, not UTC)");
		return;
	}
	if (ics_copy_trim(r->tz, sizeof(r->tz), tz) != 0 ||
	    timefmt_zone(r->tz) == NULL) {
		ics_import_fail(e, "unknown time zone '%.60s'", tz);
		return;
	}
	ics_format_local(r->start, sizeof(r->start), &start);

	pend = icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY);
	if (pend != NULL) {
		end = icalproperty_get_dtend(pend);
		end_tz = ics_import_prop_zone(cal, pend, &end);
		if (end.is_date || end_tz == NULL ||
		    timefmt_zone(end_tz) == NULL) {
			ics_import_fail(e, "DTEND is not a time in a known "
					   "zone");
			return;
		}
		/* Same zone: wall-clock length, matching how shifts are
		 * expanded; else the real time between the instants. */
		if (strcmp(end_tz, r->tz) == 0)
			duration = ics_wall_sec(end) - ics_wall_sec(start);
		else
			duration = ics_instant(end, end_tz) -
				   ics_instant(start, r->tz);
	} else if ((p = icalcomponent_get_first_property(
			    ev, ICAL_DURATION_PROPERTY)) != NULL) {
		duration =
			icaldurationtype_as_int(icalproperty_get_duration(p));
	} else {
		ics_import_fail(e, "no DTEND or DURATION");
		return;
	}
	if (duration <= 0 || duration > SHIFT_MAX_DURATION_SEC) {
		ics_import_fail(e, "duration must be more than 0 and at most "
				   "24 hours");
		return;
	}
	r->duration_sec = (int)duration;

	p = icalcomponent_get_first_property(ev, ICAL_RRULE_PROPERTY);
	if (p != NULL) {
		struct icalrecurrencetype recur = icalproperty_get_rrule(p);

		if (icalcomponent_get_next_property(ev, ICAL_RRULE_PROPERTY)) {
			ics_import_fail(e, "more than one RRULE");
			return;
		}
		rrule = icalrecurrencetype_as_string_r(&recur);
		if (rrule == NULL ||
		    ics_copy_trim(r->rrule, sizeof(r->rrule), rrule) != 0) {
			icalmemory_free_buffer(rrule);
			ics_import_fail(e, "RRULE too long or unreadable");
			return;
		}
		icalmemory_free_buffer(rrule);
	}
	if (ics_import_exdates(cal, ev, e, &start) != 0)
		return;
	if (e->agent[0] == '\0') {
		ics_import_fail(e,
				"no agent: needs an ATTENDEE or a SUMMARY "
				"(up to %zu bytes)",
				sizeof(e->agent) - 1);
		return;
	}
	/* The same checks a client's rule gets, so an imported rule is
	 * never one the API would refuse. */
	if (shift_rule_validate(r, &err) != 0) {
		ics_import_fail(e, "%s: %s", err.field, err.detail);
		return;
	}
	e->is_ok = 1;
}

/*
 * Whole-file problems (not iCalendar, too many events) fail the call;
 * everything about a single event is reported in its result row, so one
 * bad event never hides the good ones. The event limit is checked before
 * any row is allocated, bounding memory by the limit, not by the upload.
 */
int
ics_import_parse(const char *text, struct ics_import_event **out, size_t *n,
		 struct cbd_err *err)
{
	icalcomponent *root = NULL, *cal, *ev;
	icalcomponent **cals = NULL;
	struct ics_import_event *events = NULL;
	size_t ncal = 0, count = 0, i = 0, k;
	int rc = -1;

	ics_init();
	*out = NULL;
	*n = 0;
	root = icalparser_parse_string(text);
	if (root == NULL) {
		cbd_err_set(err, 400, "invalid-ics", "body",
			    "not an iCalendar object");
		goto out;
	}
	/* Several VCALENDARs in one file come back under an XROOT. */
	if (icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT) {
		cals = xmalloc(sizeof(*cals));
		cals[ncal++] = root;
	} else if (icalcomponent_isa(root) == ICAL_XROOT_COMPONENT) {
		cals = xcalloc((size_t)icalcomponent_count_components(
				       root, ICAL_VCALENDAR_COMPONENT) +
				       1,
			       sizeof(*cals));
		for (cal = icalcomponent_get_first_component(
			     root, ICAL_VCALENDAR_COMPONENT);
		     cal != NULL; cal = icalcomponent_get_next_component(
					  root, ICAL_VCALENDAR_COMPONENT))
			cals[ncal++] = cal;
	}
	if (ncal == 0) {
		cbd_err_set(err, 400, "invalid-ics", "body",
			    "expected a VCALENDAR object");
		goto out;
	}
	for (k = 0; k < ncal; k++)
		count += (size_t)icalcomponent_count_components(
			cals[k], ICAL_VEVENT_COMPONENT);
	if (count > ICS_IMPORT_MAX_EVENTS) {
		cbd_err_set(err, 400, "invalid-ics", "body",
			    "%zu events; at most %d per import", count,
			    ICS_IMPORT_MAX_EVENTS);
		goto out;
	}
	events = xcalloc(count > 0 ? count : 1, sizeof(*events));
	for (k = 0; k < ncal; k++)
		for (ev = icalcomponent_get_first_component(
			     cals[k], ICAL_VEVENT_COMPONENT);
		     ev != NULL && i < count;
		     ev = icalcomponent_get_next_component(
			     cals[k], ICAL_VEVENT_COMPONENT)) {
			events[i].index = (int)i;
			ics_import_event(cals[k], ev, &events[i]);
			i++;
		}
	*out = events;
	*n = i;
	events = NULL;
	rc = 0;
out:
	free(events);
	free(cals);
	if (root != NULL)
		icalcomponent_free(root);
	icalerror_clear_errno();
	return rc;
}
