/* test_report.c: the report's dates and its CSV (RFC 4180 quoting, no
 * formula a spreadsheet would run). */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tap.h"

static json_t *
one_row(const char *name, const char *display)
{
	json_t *rep = json_pack(
		"{s:[{s:s, s:{s:i, s:s, s:s}, s:i, s:i, s:i, s:i, s:f, s:i, "
		"s:n, s:i, s:i, s:f, s:i, s:i, s:n}]}",
		"rows", "day", "2026-11-01", "agent", "id", 7, "name", name,
		"display_name", display, "booked", 2, "completed", 0,
		"kept_on_time", 1, "overdue", 2, "on_time_rate", 1.0 / 3,
		"same_owner", 0, "same_owner_rate", "attempted", 1,
		"first_attempt_reached", 0, "first_attempt_reach_rate", 0.0,
		"handoffs", 0, "handoffs_with_note", 0,
		"handoffs_with_note_rate");

	if (rep == NULL)
		abort();
	return rep;
}

int
main(void)
{
	int64_t d = -1;
	char buf[16];
	json_t *rep;
	char *csv;

	ok(report_parse_day("1970-01-01", &d) == 0 && d == 0, "epoch day");
	ok(report_parse_day("2026-11-01", &d) == 0 && d == 20758, "a Sunday");
	report_format_day(d + 30, buf, sizeof(buf));
	is_str(buf, "2026-12-01", "30 days on");
	ok(report_parse_day("2028-02-29", &d) == 0, "leap day");
	ok(report_parse_day("2026-02-29", &d) != 0, "not a leap year");
	ok(report_parse_day("2026-04-31", &d) != 0, "April has 30 days");
	ok(report_parse_day("2026-1-01", &d) != 0, "one-digit month");
	ok(report_parse_day("2026-01-01T", &d) != 0, "trailing text");
	ok(report_parse_day("2026/01/01", &d) != 0, "slashes");
	ok(report_parse_day("+026-01-01", &d) != 0, "sign");
	ok(report_parse_day("1969-12-31", &d) != 0, "before 1970");
	ok(report_parse_day("", &d) != 0 && report_parse_day(NULL, &d) != 0,
	   "empty");

	rep = one_row("ana", "Ana \"Annie\" Smith, Jr");
	csv = report_csv(rep);
	is_str(csv,
	       "day,agent_id,agent_name,agent_display_name,booked,completed,"
	       "kept_on_time,overdue,on_time_rate,same_owner,same_owner_rate,"
	       "attempted,first_attempt_reached,first_attempt_reach_rate,"
	       "handoffs,handoffs_with_note,handoffs_with_note_rate\r\n"
	       "2026-11-01,7,ana,\"Ana \"\"Annie\"\" Smith, Jr\",2,0,1,2,"
	       "0.3333,0,,1,0,0.0000,0,0,\r\n",
	       "a row, quoted where needed, empty for no rate");
	free(csv);
	json_decref(rep);

	rep = one_row("=cmd", "@SUM(A1)");
	csv = report_csv(rep);
	ok(strstr(csv, ",'=cmd,'@SUM(A1),") != NULL, "formulas defused: %s",
	   csv);
	free(csv);
	json_decref(rep);
	return tap_done();
}
