/*
 * test_ics.c: invites and feeds are re-parsed with libical and checked
 * property by property and on the wire (CRLF, 75-octet lines); import is
 * checked event by event on a sample export and on small inline calendars.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libical/ical.h>

#include "ics.h"
#include "tap.h"

#define T_20261130_0930Z 1796031000 /* 15:00 in Kolkata */
#define T_20260701_1300Z 1782910800 /* 09:00 in New York */
#define T_20261120_0800Z 1795161600

static char *
slurp(const char *name)
{
	const char *dir = getenv("srcdir");
	char path[512];
	char *buf = NULL;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/unit/data/%s",
		 dir != NULL ? dir : ".", name);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)len + 1);
		if (buf != NULL &&
		    fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/*
 * RFC 5545 3.1 on the wire: every line ends in CRLF, no line is longer
 * than 75 octets, and folding never splits a UTF-8 character.
 */
static void
check_wire(const char *name, const char *text)
{
	const char *p = text, *eol;
	int is_crlf = 1, is_short = 1, is_utf8_whole = 1;

	while (*p != '\0') {
		eol = strchr(p, '\n');
		if (eol == NULL || eol == p || eol[-1] != '\r') {
			is_crlf = 0;
			break;
		}
		if (eol - 1 - p > 75)
			is_short = 0;
		if (p[0] == ' ' && ((unsigned char)p[1] & 0xc0) == 0x80)
			is_utf8_whole = 0;
		p = eol + 1;
	}
	ok(is_crlf, "%s: every line ends in CRLF", name);
	ok(is_short, "%s: no line exceeds 75 octets", name);
	ok(is_utf8_whole, "%s: folding keeps UTF-8 characters whole", name);
}

static const char *
param_tzid(icalproperty *p)
{
	icalparameter *tz;

	if (p == NULL)
		return NULL;
	tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
	return tz != NULL ? icalparameter_get_tzid(tz) : NULL;
}

static const char *
param_cn(icalproperty *p)
{
	icalparameter *cn;

	if (p == NULL)
		return NULL;
	cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);
	return cn != NULL ? icalparameter_get_cn(cn) : NULL;
}

/* A property's value as written, e.g. "20261130T150000". */
static char *
prop_value(icalcomponent *c, icalproperty_kind kind)
{
	icalproperty *p = icalcomponent_get_first_property(c, kind);

	return p != NULL ? icalproperty_get_value_as_string_r(p) : NULL;
}

static void
is_value(icalcomponent *c, icalproperty_kind kind, const char *want,
	 const char *what)
{
	char *v = prop_value(c, kind);

	is_str(v, want, "%s is %s", what, want);
	free(v);
}

static struct ics_invite
kolkata_invite(void)
{
	struct ics_invite inv;

	memset(&inv, 0, sizeof(inv));
	inv.uid = "callback-42@callbackd.example";
	inv.sequence = 2;
	inv.start = T_20261130_0930Z;
	inv.end = T_20261130_0930Z + 1800;
	inv.dtstamp = T_20261120_0800Z;
	inv.tz = "Asia/Kolkata";
	inv.organizer_email = "noreply@callbackd.example";
	inv.organizer_cn = "Priya Raman";
	inv.attendee_phone = "+919812345678";
	inv.attendee_cn = "Arjun, \"AJ\" Mehta";
	inv.summary = "Callback from Example Bank: card dispute ✓ ünïcödé "
		      "text long enough to need folding";
	inv.description = "Case 1234; we will call +919812345678.\nReply "
			  "STOP to cancel, or use the link.";
	inv.alarm_min = 15;
	return inv;
}

static void
test_invite_kolkata(void)
{
	struct ics_invite inv = kolkata_invite();
	icalcomponent *root, *ev, *vtz, *alarm;
	icalproperty *p;
	char *text, *v;

	text = ics_invite_build(&inv);
	ok(text != NULL, "invite built");
	if (text == NULL)
		return;
	check_wire("invite", text);
	ok(strstr(text, "freeassociation") == NULL,
	   "no libical zone prefix anywhere");
	ok(strlen(text) < 2500, "VTIMEZONE history trimmed (%zu bytes)",
	   strlen(text));

	root = icalparser_parse_string(text);
	ok(root != NULL && icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT,
	   "invite re-parses as a VCALENDAR");
	if (root == NULL) {
		free(text);
		return;
	}
	is_value(root, ICAL_METHOD_PROPERTY, "REQUEST", "METHOD");
	is_value(root, ICAL_VERSION_PROPERTY, "2.0", "VERSION");
	is_value(root, ICAL_PRODID_PROPERTY, "-//callbackd//callbackd//EN",
		 "PRODID");
	is_int(icalcomponent_count_components(root, ICAL_VTIMEZONE_COMPONENT),
	       1, "one VTIMEZONE");
	is_int(icalcomponent_count_components(root, ICAL_VEVENT_COMPONENT), 1,
	       "one VEVENT");
	vtz = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT);
	is_value(vtz, ICAL_TZID_PROPERTY, "Asia/Kolkata",
		 "VTIMEZONE TZID (the IANA name)");

	ev = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
	is_value(ev, ICAL_UID_PROPERTY, "callback-42@callbackd.example", "UID");
	is_value(ev, ICAL_SEQUENCE_PROPERTY, "2", "SEQUENCE");
	is_value(ev, ICAL_STATUS_PROPERTY, "CONFIRMED", "STATUS");
	is_value(ev, ICAL_DTSTAMP_PROPERTY, "20261120T080000Z", "DTSTAMP");
	p = icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY);
	is_str(param_tzid(p), "Asia/Kolkata", "DTSTART TZID parameter");
	is_value(ev, ICAL_DTSTART_PROPERTY, "20261130T150000", "DTSTART local");
	p = icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY);
	is_str(param_tzid(p), "Asia/Kolkata", "DTEND TZID parameter");
	is_value(ev, ICAL_DTEND_PROPERTY, "20261130T153000", "DTEND local");

	p = icalcomponent_get_first_property(ev, ICAL_ORGANIZER_PROPERTY);
	is_value(ev, ICAL_ORGANIZER_PROPERTY,
		 "mailto:noreply@callbackd.example", "ORGANIZER");
	is_str(param_cn(p), "Priya Raman", "ORGANIZER CN");
	p = icalcomponent_get_first_property(ev, ICAL_ATTENDEE_PROPERTY);
	is_value(ev, ICAL_ATTENDEE_PROPERTY, "tel:+919812345678",
		 "ATTENDEE without email");
	is_str(param_cn(p), "Arjun, \"AJ\" Mehta", "ATTENDEE CN round-trips");
	ok(p != NULL && icalproperty_get_first_parameter(
				p, ICAL_RSVP_PARAMETER) != NULL,
	   "ATTENDEE has RSVP");
	p = icalcomponent_get_first_property(ev, ICAL_SUMMARY_PROPERTY);
	ok(p != NULL && strcmp(icalproperty_get_summary(p), inv.summary) == 0,
	   "SUMMARY round-trips through folding");
	p = icalcomponent_get_first_property(ev, ICAL_DESCRIPTION_PROPERTY);
	ok(p != NULL && strcmp(icalproperty_get_description(p),
			       inv.description) == 0,
	   "DESCRIPTION escapes round-trip");

	alarm = icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT);
	ok(alarm != NULL, "VALARM present");
	if (alarm != NULL) {
		is_value(alarm, ICAL_ACTION_PROPERTY, "DISPLAY", "ACTION");
		is_value(alarm, ICAL_TRIGGER_PROPERTY, "-PT15M", "TRIGGER");
		v = prop_value(alarm, ICAL_DESCRIPTION_PROPERTY);
		ok(v != NULL, "VALARM has DESCRIPTION");
		free(v);
	}
	icalcomponent_free(root);
	free(text);
}

static void
test_invite_new_york_email(void)
{
	struct ics_invite inv = kolkata_invite();
	icalcomponent *root, *ev, *vtz;
	char *text;

	inv.tz = "America/New_York";
	inv.start = T_20260701_1300Z;
	inv.end = T_20260701_1300Z + 1800;
	inv.attendee_email = "arjun@example.com";
	inv.alarm_min = 0;
	text = ics_invite_build(&inv);
	root = text != NULL ? icalparser_parse_string(text) : NULL;
	ok(root != NULL, "New York invite parses");
	if (root == NULL) {
		free(text);
		return;
	}
	check_wire("NY invite", text);
	vtz = icalcomponent_get_first_component(root, ICAL_VTIMEZONE_COMPONENT);
	ok(vtz != NULL && icalcomponent_get_first_component(
				  vtz, ICAL_XDAYLIGHT_COMPONENT) != NULL,
	   "VTIMEZONE keeps the DAYLIGHT rule");
	ok(vtz != NULL && icalcomponent_get_first_component(
				  vtz, ICAL_XSTANDARD_COMPONENT) != NULL,
	   "VTIMEZONE keeps the STANDARD rule");
	ev = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
	is_value(ev, ICAL_DTSTART_PROPERTY, "20260701T090000",
		 "13:00Z is 09:00 EDT");
	is_value(ev, ICAL_ATTENDEE_PROPERTY, "mailto:arjun@example.com",
		 "ATTENDEE with email");
	ok(icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT) == NULL,
	   "no VALARM when alarm_min is 0");
	icalcomponent_free(root);
	free(text);
}

static void
test_invite_cancel_and_utc(void)
{
	struct ics_invite inv = kolkata_invite();
	icalcomponent *root, *ev;
	char *text;

	inv.is_cancel = 1;
	inv.sequence = 3;
	text = ics_invite_build(&inv);
	root = text != NULL ? icalparser_parse_string(text) : NULL;
	ok(root != NULL, "CANCEL parses");
	if (root != NULL) {
		check_wire("cancel", text);
		is_value(root, ICAL_METHOD_PROPERTY, "CANCEL", "METHOD");
		ev = icalcomponent_get_first_component(root,
						       ICAL_VEVENT_COMPONENT);
		is_value(ev, ICAL_STATUS_PROPERTY, "CANCELLED", "STATUS");
		is_value(ev, ICAL_SEQUENCE_PROPERTY, "3", "SEQUENCE");
		is_value(ev, ICAL_UID_PROPERTY, "callback-42@callbackd.example",
			 "same UID");
		ok(icalcomponent_get_first_component(
			   ev, ICAL_VALARM_COMPONENT) == NULL,
		   "CANCEL carries no VALARM");
		ok(icalcomponent_get_first_property(
			   ev, ICAL_ATTENDEE_PROPERTY) != NULL,
		   "CANCEL names the ATTENDEE");
		icalcomponent_free(root);
	}
	free(text);

	inv = kolkata_invite();
	inv.tz = "UTC";
	text = ics_invite_build(&inv);
	root = text != NULL ? icalparser_parse_string(text) : NULL;
	ok(root != NULL, "UTC invite parses");
	if (root != NULL) {
		is_int(icalcomponent_count_components(root,
						      ICAL_VTIMEZONE_COMPONENT),
		       0, "UTC invite has no VTIMEZONE");
		ev = icalcomponent_get_first_component(root,
						       ICAL_VEVENT_COMPONENT);
		is_value(ev, ICAL_DTSTART_PROPERTY, "20261130T093000Z",
			 "UTC DTSTART");
		icalcomponent_free(root);
	}
	free(text);
}

static void
test_feed(void)
{
	struct ics_feed_item items[2] = {
		{ "cb-1@x", 0, T_20261130_0930Z, T_20261130_0930Z + 900,
		  "Call Ana", "Case 1" },
		{ "cb-2@x", 4, T_20260701_1300Z, T_20260701_1300Z + 900,
		  "Call Ben, urgent", NULL },
	};
	icalcomponent *root, *ev;
	icalproperty *p;
	char *text;
	int n = 0;

	text = ics_feed_build("Priya, callbacks; \"ünïcödé\" agent with a name "
			      "long enough to be folded",
			      items, 2, T_20261120_0800Z);
	root = text != NULL ? icalparser_parse_string(text) : NULL;
	ok(root != NULL, "feed parses");
	if (root == NULL) {
		free(text);
		return;
	}
	check_wire("feed", text);
	ok(icalcomponent_get_first_property(root, ICAL_METHOD_PROPERTY) == NULL,
	   "feed has no METHOD");
	is_int(icalcomponent_count_components(root, ICAL_VEVENT_COMPONENT), 2,
	       "feed has 2 VEVENTs");
	for (p = icalcomponent_get_first_property(root, ICAL_X_PROPERTY);
	     p != NULL;
	     p = icalcomponent_get_next_property(root, ICAL_X_PROPERTY))
		if (strcmp(icalproperty_get_x_name(p), "X-WR-CALNAME") == 0) {
			char *v = icalproperty_get_value_as_string_r(p);

			n++;
			is_str(v,
			       "Priya, callbacks; \"ünïcödé\" agent with a "
			       "name long enough to be folded",
			       "X-WR-CALNAME round-trips");
			free(v);
		}
	is_int(n, 1, "one X-WR-CALNAME");
	ok(strstr(text, "X-WR-CALNAME:Priya\\, callbacks\\; ") != NULL,
	   "X-WR-CALNAME escaped as TEXT on the wire");
	ev = icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT);
	is_value(ev, ICAL_UID_PROPERTY, "cb-1@x", "first UID");
	is_value(ev, ICAL_DTSTART_PROPERTY, "20261130T093000Z",
		 "feed times are UTC");
	is_value(ev, ICAL_DTEND_PROPERTY, "20261130T094500Z", "feed end UTC");
	ev = icalcomponent_get_next_component(root, ICAL_VEVENT_COMPONENT);
	is_value(ev, ICAL_SEQUENCE_PROPERTY, "4", "second SEQUENCE");
	is_value(ev, ICAL_SUMMARY_PROPERTY, "Call Ben\\, urgent",
		 "second SUMMARY");
	icalcomponent_free(root);
	free(text);

	text = ics_feed_build("empty", NULL, 0, T_20261120_0800Z);
	ok(text != NULL && strstr(text, "BEGIN:VEVENT") == NULL,
	   "empty feed has no events");
	free(text);
}

static void
test_import_sample(void)
{
	struct ics_import_event *ev = NULL;
	struct cbd_err err = { 0 };
	char *text = slurp("ics_import_sample.ics");
	size_t n = 0;

	ok(text != NULL, "sample calendar read");
	if (text == NULL)
		return;
	is_int(ics_import_parse(text, &ev, &n, &err), 0, "sample imports");
	is_int(n, 3, "three events");
	if (n == 3) {
		is_int(ev[0].index, 0, "index 0");
		ok(ev[0].is_ok, "weekly event is a shift (%s)", ev[0].error);
		is_str(ev[0].uid, "rota-1@example.com", "UID kept");
		is_str(ev[0].agent, "Alice Smith", "agent from ATTENDEE CN");
		is_str(ev[0].rule.tz, "Europe/London", "tz from TZID");
		is_str(ev[0].rule.start, "2026-01-12T09:00:00", "local start");
		is_int(ev[0].rule.duration_sec, 8 * 3600, "8h from DTEND");
		is_str(ev[0].rule.rrule, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
		       "RRULE kept");
		is_str(ev[0].rule.exdates, "2026-01-14T09:00:00",
		       "EXDATE in local time");
		is_int(ev[0].rule.agent_id, 0, "agent_id left to the caller");

		is_int(ev[1].index, 1, "index 1");
		ok(!ev[1].is_ok, "event without DTSTART refused");
		ok(strstr(ev[1].error, "DTSTART") != NULL, "error: %s",
		   ev[1].error);
		is_str(ev[1].agent, "Bob", "agent still reported (SUMMARY)");

		ok(!ev[2].is_ok, "unknown TZID refused");
		ok(strstr(ev[2].error, "Atlantis/Capital") != NULL &&
			   strstr(ev[2].error, "time zone") != NULL,
		   "error: %s", ev[2].error);
		is_str(ev[2].agent, "carol@example.com", "agent from mailto");
	}
	free(ev);
	free(text);
}

/* One inline VEVENT imported alone. */
static void
import_one(const char *name, const char *vevent, const char *pre, int want_ok,
	   const char *want_tz, const char *want_start, int want_duration,
	   const char *want_exdates, const char *want_agent,
	   const char *want_error)
{
	struct ics_import_event *ev = NULL;
	struct cbd_err err = { 0 };
	char *text;
	size_t n = 0;
	int rc;

	if (asprintf(&text,
		     "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
		     "%sBEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\n"
		     "%sEND:VEVENT\r\nEND:VCALENDAR\r\n",
		     pre, vevent) < 0)
		return;
	rc = ics_import_parse(text, &ev, &n, &err);
	ok(rc == 0 && n == 1, "%s: one event", name);
	if (rc == 0 && n == 1) {
		is_int(ev[0].is_ok, want_ok, "%s: is_ok (%s)", name,
		       ev[0].error);
		if (want_tz != NULL)
			is_str(ev[0].rule.tz, want_tz, "%s: tz", name);
		if (want_start != NULL)
			is_str(ev[0].rule.start, want_start, "%s: start", name);
		if (want_duration > 0)
			is_int(ev[0].rule.duration_sec, want_duration,
			       "%s: duration", name);
		if (want_exdates != NULL)
			is_str(ev[0].rule.exdates, want_exdates, "%s: exdates",
			       name);
		if (want_agent != NULL)
			is_str(ev[0].agent, want_agent, "%s: agent", name);
		if (want_error != NULL)
			ok(strstr(ev[0].error, want_error) != NULL,
			   "%s: error mentions '%s' (%s)", name, want_error,
			   ev[0].error);
	}
	free(ev);
	free(text);
}

static void
test_import_cases(void)
{
	import_one("libical prefix",
		   "DTSTART;TZID=/freeassociation.sourceforge.net/Asia/"
		   "Kolkata:20260112T140000\r\nDURATION:PT8H\r\n"
		   "SUMMARY:Dev\r\n",
		   "", 1, "Asia/Kolkata", "2026-01-12T14:00:00", 8 * 3600, "",
		   "Dev", NULL);
	import_one("libical 1.x Tzfile prefix",
		   "DTSTART;TZID=/freeassociation.sourceforge.net/Tzfile/"
		   "Europe/London:20260112T090000\r\nDURATION:PT1H\r\n"
		   "SUMMARY:Dev\r\n",
		   "", 1, "Europe/London", NULL, 3600, NULL, NULL, NULL);
	import_one("UTC times",
		   "DTSTART:20260112T220000Z\r\nDTEND:20260113T060000Z\r\n"
		   "RRULE:FREQ=DAILY;COUNT=5\r\n"
		   "EXDATE:20260114T220000Z\r\nSUMMARY:Night\r\n",
		   "", 1, "UTC", "2026-01-12T22:00:00", 8 * 3600,
		   "2026-01-14T22:00:00", "Night", NULL);
	import_one("UTC EXDATE converted to the rule's zone",
		   "DTSTART;TZID=America/New_York:20260706T090000\r\n"
		   "DTEND;TZID=America/New_York:20260706T170000\r\n"
		   "RRULE:FREQ=DAILY\r\nEXDATE:20260708T130000Z\r\n"
		   "EXDATE;VALUE=DATE:20260710\r\n"
		   "ATTENDEE;CN=Dee:mailto:dee@example.com\r\n",
		   "", 1, "America/New_York", NULL, 8 * 3600,
		   "2026-07-08T09:00:00,2026-07-10T09:00:00", "Dee", NULL);
	import_one("wall-clock duration across DST",
		   "DTSTART;TZID=Europe/London:20260328T220000\r\n"
		   "DTEND;TZID=Europe/London:20260329T060000\r\n"
		   "SUMMARY:Night\r\n",
		   "", 1, NULL, NULL, 8 * 3600, NULL, NULL, NULL);
	import_one("Outlook zone name via X-LIC-LOCATION",
		   "DTSTART;TZID=GMT Standard Time:20260112T090000\r\n"
		   "DTEND;TZID=GMT Standard Time:20260112T170000\r\n"
		   "SUMMARY:Eve\r\n",
		   "BEGIN:VTIMEZONE\r\nTZID:GMT Standard Time\r\n"
		   "X-LIC-LOCATION:Europe/London\r\nBEGIN:STANDARD\r\n"
		   "DTSTART:19701025T020000\r\nTZOFFSETFROM:+0100\r\n"
		   "TZOFFSETTO:+0000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
		   1, "Europe/London", NULL, 8 * 3600, NULL, NULL, NULL);
	import_one("floating time with X-WR-TIMEZONE",
		   "DTSTART:20260112T090000\r\nDURATION:PT4H\r\n"
		   "SUMMARY:Fay\r\n",
		   "X-WR-TIMEZONE:Asia/Kolkata\r\n", 1, "Asia/Kolkata",
		   "2026-01-12T09:00:00", 4 * 3600, NULL, NULL, NULL);
	import_one("floating time without a zone",
		   "DTSTART:20260112T090000\r\nDURATION:PT4H\r\n"
		   "SUMMARY:Fay\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "time zone");
	import_one("no duration",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "SUMMARY:Gus\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "DURATION");
	import_one("over 24 hours",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "DURATION:PT25H\r\nSUMMARY:Gus\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "24 hours");
	import_one("end before start",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "DTEND;TZID=Europe/London:20260112T080000\r\n"
		   "SUMMARY:Gus\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "duration");
	import_one("all-day event",
		   "DTSTART;VALUE=DATE:20260112\r\nSUMMARY:Holiday\r\n", "", 0,
		   NULL, NULL, 0, NULL, NULL, "all-day");
	import_one("no agent",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "DURATION:PT1H\r\n",
		   "", 0, NULL, NULL, 0, NULL, "", "agent");
	import_one("hourly rule refused by validation",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "DURATION:PT1H\r\nRRULE:FREQ=HOURLY\r\nSUMMARY:Hal\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "rrule");
	import_one("edited occurrence",
		   "DTSTART;TZID=Europe/London:20260112T090000\r\n"
		   "DURATION:PT1H\r\nRECURRENCE-ID;TZID=Europe/London:"
		   "20260112T090000\r\nSUMMARY:Ivy\r\n",
		   "", 0, NULL, NULL, 0, NULL, NULL, "RECURRENCE-ID");
}

static void
test_import_round_trip(void)
{
	struct ics_invite inv = kolkata_invite();
	struct ics_import_event *ev = NULL;
	struct cbd_err err = { 0 };
	char *text = ics_invite_build(&inv);
	size_t n = 0;

	is_int(ics_import_parse(text, &ev, &n, &err), 0, "invite imports");
	if (n == 1) {
		ok(ev[0].is_ok, "own invite is a valid shift (%s)",
		   ev[0].error);
		is_str(ev[0].rule.tz, "Asia/Kolkata", "round-trip tz");
		is_str(ev[0].rule.start, "2026-11-30T15:00:00",
		       "round-trip start");
		is_int(ev[0].rule.duration_sec, 1800, "round-trip duration");
		is_str(ev[0].agent, inv.attendee_cn, "round-trip agent");
		is_str(ev[0].uid, inv.uid, "round-trip UID");
	}
	free(ev);
	free(text);
}

static void
test_import_rejects(void)
{
	static const char *bad[] = {
		"garbage text, not a calendar",
		"",
		"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
	};
	struct ics_import_event *ev = NULL;
	struct cbd_err err = { 0 };
	size_t i, n = 7;
	char *big;
	size_t len, k;

	for (i = 0; i < CBD_ARRAY_LEN(bad); i++) {
		memset(&err, 0, sizeof(err));
		is_int(ics_import_parse(bad[i], &ev, &n, &err), -1,
		       "rejected: case %zu", i);
		ok(ev == NULL && n == 0, "nothing returned");
		is_str(err.type, "invalid-ics", "type invalid-ics");
		is_str(err.field, "body", "field body");
		is_int(err.status, 400, "status 400");
	}

	is_int(ics_import_parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
				"END:VCALENDAR\r\n",
				&ev, &n, &err),
	       0, "empty calendar imports");
	is_int(n, 0, "with no events");
	free(ev);

	/* Two calendars in one file arrive under libical's XROOT. */
	is_int(ics_import_parse("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n"
				"END:VEVENT\r\nEND:VCALENDAR\r\n"
				"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:b\r\n"
				"END:VEVENT\r\nEND:VCALENDAR\r\n",
				&ev, &n, &err),
	       0, "two calendars import");
	is_int(n, 2, "both events seen");
	if (n == 2)
		is_str(ev[1].uid, "b", "second calendar's event");
	free(ev);

	/* Past the event limit the whole import is refused. */
	len = 64 + 10001 * 32;
	big = malloc(len);
	if (big == NULL)
		return;
	k = (size_t)snprintf(big, len, "BEGIN:VCALENDAR\r\n");
	for (i = 0; i < 10001; i++)
		k += (size_t)snprintf(big + k, len - k,
				      "BEGIN:VEVENT\r\nEND:VEVENT\r\n");
	snprintf(big + k, len - k, "END:VCALENDAR\r\n");
	memset(&err, 0, sizeof(err));
	is_int(ics_import_parse(big, &ev, &n, &err), -1,
	       "10001 events refused");
	ok(strstr(err.detail, "10000") != NULL, "error says the limit (%s)",
	   err.detail);
	free(big);
}

int
main(void)
{
	test_invite_kolkata();
	test_invite_new_york_email();
	test_invite_cancel_and_utc();
	test_feed();
	test_import_sample();
	test_import_cases();
	test_import_round_trip();
	test_import_rejects();
	icaltimezone_free_builtin_timezones();
	return tap_done();
}
