/*
 * fuzz_expand.h: expand shift rules the way the daemon does (one rule into
 * a plan, and a set of rules through the roster's overlap check) and check
 * what every caller of a plan relies on. Shared by fuzz_shift and fuzz_ics.
 */
#ifndef CBD_FUZZ_EXPAND_H
#define CBD_FUZZ_EXPAND_H

#include <stddef.h>

struct shift_rule;

/* Validate r and expand it over windows near and after its start. */
void fuzz_expand_rule(const struct shift_rule *r);
/* Run rules (valid or not) through roster_find_overlap. */
void fuzz_expand_overlap(const struct shift_rule *rules, size_t n);

#endif
