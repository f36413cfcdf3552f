/*
 * fuzz_shift.c: shift rules as PUT /v1/agents/:id/shifts sends them, through
 * validation, expansion (libical's recurrence iterator and the zone
 * arithmetic of shift.c) and the roster's overlap check.
 *
 * Input: up to five lines, the fields of a rule: tz, start
 * ("YYYY-MM-DDTHH:MM:SS", local), duration in seconds, RRULE, EXDATEs. A
 * second rule may follow after a blank line; both are checked against each
 * other as one agent's roster.
 */
#include <string.h>

#include "fuzz.h"
#include "fuzz_expand.h"
#include "shift.h"

/* Copy one line of *p into dst (truncated to size) and move past it. */
static void
fuzz_line(char **p, char *dst, size_t size)
{
	char *nl = strchr(*p, '\n');
	size_t len = nl != NULL ? (size_t)(nl - *p) : strlen(*p);

	snprintf(dst, size, "%.*s", (int)len, *p);
	*p += len + (nl != NULL);
}

static void
fuzz_read_rule(char **p, struct shift_rule *r)
{
	char dur[16];

	memset(r, 0, sizeof(*r));
	r->agent_id = 7;
	fuzz_line(p, r->tz, sizeof(r->tz));
	fuzz_line(p, r->start, sizeof(r->start));
	fuzz_line(p, dur, sizeof(dur));
	r->duration_sec = atoi(dur);
	fuzz_line(p, r->rrule, sizeof(r->rrule));
	fuzz_line(p, r->exdates, sizeof(r->exdates));
}

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
	char *p = text;
	struct shift_rule rules[2];
	size_t n = 0;

	fuzz_read_rule(&p, &rules[n++]);
	if (*p == '\n') {
		p++;
		fuzz_read_rule(&p, &rules[n++]);
	}
	for (size_t i = 0; i < n; i++)
		fuzz_expand_rule(&rules[i]);
	fuzz_expand_overlap(rules, n);
	free(text);
	return 0;
}
