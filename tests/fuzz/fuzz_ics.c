/*
 * fuzz_ics.c: calendar import, POST /v1/agents/shifts/import: libical's
 * parser on untrusted text, ics.c turning each VEVENT into a shift rule
 * (zones, EXDATEs, RRULEs, durations), and then what the roster does with
 * the accepted rules: expand them and look for overlaps.
 *
 * Input: an iCalendar file.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_expand.h"
#include "ics.h"
#include "roster.h"
#include "shift.h"

/* Expanding (and the overlap check's year of spans per rule) costs far
 * more than parsing; a handful of rules shows any bug. */
#define FUZZ_MAX_EXPANDED 8

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	struct ics_import_event *events = NULL;
	struct shift_rule rules[FUZZ_MAX_EXPANDED];
	struct cbd_err err = { 0 };
	size_t n = 0, nrules = 0, i;

	if (ics_import_parse(text, &events, &n, &err) != 0) {
		FUZZ_ASSERT(err.status == 400 && strcmp(err.field, "body") == 0,
			    "import refused with %d %s", err.status, err.field);
		cbd_err_clear(&err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct ics_import_event *e = &events[i];

		FUZZ_ASSERT(e->index == (int)i, "event %zu has index %d", i,
			    e->index);
		FUZZ_ASSERT(memchr(e->error, '\0', sizeof(e->error)) != NULL &&
				    memchr(e->uid, '\0', sizeof(e->uid)) !=
					    NULL &&
				    memchr(e->agent, '\0', sizeof(e->agent)),
			    "event %zu: text not terminated", i);
		if (!e->is_ok)
			continue;
		/* An accepted event is a rule the API would accept too. */
		FUZZ_ASSERT(shift_rule_validate(&e->rule, &err) == 0,
			    "imported event %zu fails validation: %s: %s", i,
			    err.field, err.detail);
		if (nrules < FUZZ_MAX_EXPANDED) {
			fuzz_expand_rule(&e->rule);
			rules[nrules++] = e->rule;
		}
	}
	fuzz_expand_overlap(rules, nrules);
out:
	free(events);
	free(text);
	return 0;
}
