/* test_timefmt.c: RFC 3339 parsing and rendering in zones. */
#include <stdint.h>

#include "common.h"
#include "tap.h"
#include "timefmt.h"

int
main(void)
{
	static const struct {
		const char *s;
		int64_t want; /* -1: must fail */
	} cases[] = {
		{ "2026-11-23T15:00:00Z", 1795446000 },
		{ "2026-11-23T15:00:00+00:00", 1795446000 },
		{ "2026-11-23T20:30:00+05:30", 1795446000 },
		{ "2026-11-23T08:00:00-07:00", 1795446000 },
		{ "2026-11-23T15:00:00.123Z", 1795446000 },
		{ "2026-11-23t15:00:00z", 1795446000 },
		{ "2024-02-29T00:00:00Z", 1709164800 },
		{ "2026-02-29T00:00:00Z", -1 },
		{ "2026-02-30T10:00:00Z", -1 },
		{ "2026-13-01T10:00:00Z", -1 },
		{ "2026-11-23T24:00:00Z", -1 },
		{ "2026-11-23T15:00:00", -1 },
		{ "2026-11-23 15:00:00Z", -1 },
		{ "2026-11-23T15:00Z", -1 },
		{ "2026-11-23T15:00:00+0530", -1 },
		{ "tomorrow", -1 },
		{ "", -1 },
		{ "2026-11-23T15:00:00Z trailing", -1 },
	};
	char buf[64];
	int y, mo, d, h, mi, wd, off;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		int rc = timefmt_parse_rfc3339(cases[i].s, &t);
		if (cases[i].want < 0)
			is_int(rc, -1, "rejects '%s'", cases[i].s);
		else
			ok(rc == 0 && t == cases[i].want, "parses '%s'",
			   cases[i].s);
	}
	timefmt_rfc3339(1795446000, NULL, buf, sizeof(buf));
	is_str(buf, "2026-11-23T15:00:00Z", "UTC rendering");
	timefmt_rfc3339(1795446000, "Asia/Kolkata", buf, sizeof(buf));
	is_str(buf, "2026-11-23T20:30:00+05:30", "Kolkata rendering");
	timefmt_rfc3339(1795446000, "America/Denver", buf, sizeof(buf));
	is_str(buf, "2026-11-23T08:00:00-07:00", "Denver rendering (MST)");
	/* 2026-07-01T12:00:00Z in summer time */
	timefmt_rfc3339(1782907200, "America/Denver", buf, sizeof(buf));
	is_str(buf, "2026-07-01T06:00:00-06:00", "Denver rendering (MDT)");
	timefmt_rfc3339(1782907200, "Europe/London", buf, sizeof(buf));
	is_str(buf, "2026-07-01T13:00:00+01:00", "London rendering (BST)");
	off = timefmt_local(1795446000, "Asia/Kolkata", &y, &mo, &d, &h, &mi,
			    &wd);
	ok(off == 19800 && y == 2026 && mo == 11 && d == 23 && h == 20 &&
		   mi == 30 && wd == 1,
	   "local fields in Kolkata");
	is_int(timefmt_from_local("America/New_York", 2026, 3, 9, 9, 0, 0),
	       1773061200, "New York 09:00 after spring forward is 13:00Z");
	is_int(timefmt_from_local("Mars/Base", 2026, 3, 9, 9, 0, 0), -1,
	       "unknown zone");
	/* The ends of the range: an instant either parses and comes back in
	 * a form that parses to the same instant, or is refused. */
	{
		static const struct {
			const char *s;
			int64_t want; /* -1: must fail */
		} edges[] = {
			{ "9999-12-31T23:59:59Z", 253402300799 },
			{ "9999-12-31T23:59:59+14:00", 253402250399 },
			{ "9999-12-31T23:59:59-14:00", -1 },
			{ "9999-12-31T23:59:59-00:01", -1 },
			{ "1970-01-01T00:00:00Z", 0 },
			{ "1970-01-01T00:00:00-05:00", 18000 },
			{ "1970-01-01T00:00:00+01:00", -1 },
			{ "1969-12-31T23:59:59Z", -1 },
			{ "10000-01-01T00:00:00Z", -1 },
		};
		static const char *const zones[] = {
			NULL,
			"Pacific/Kiritimati",
			"Pacific/Pago_Pago",
			"Asia/Kolkata",
			"America/New_York",
		};

		for (size_t i = 0; i < CBD_ARRAY_LEN(edges); i++) {
			int64_t t = -7;
			int rc = timefmt_parse_rfc3339(edges[i].s, &t);

			if (edges[i].want < 0) {
				is_int(rc, -1, "edge '%s' refused", edges[i].s);
				continue;
			}
			ok(rc == 0 && t == edges[i].want, "edge '%s' parses",
			   edges[i].s);
			for (size_t z = 0; z < CBD_ARRAY_LEN(zones); z++) {
				int64_t back = -7;

				timefmt_rfc3339(t, zones[z], buf, sizeof(buf));
				ok(timefmt_parse_rfc3339(buf, &back) == 0 &&
					   back == t,
				   "'%s' in %s is '%s' and round-trips",
				   edges[i].s, zones[z] ? zones[z] : "UTC",
				   buf);
			}
		}
	}
	return tap_done();
}
