/*
 * fuzz.h: what every libFuzzer target in tests/fuzz shares. Targets link
 * the daemon's own objects (libcbd.a), so a finding is a bug in the code
 * that runs in production, not in a copy of it.
 *
 * A target's input is raw bytes; the daemon's parsers take NUL-terminated
 * text, so fuzz_text() copies the input into a fresh allocation of exactly
 * size + 1 bytes, where ASan catches any read past the end.
 */
#ifndef CBD_FUZZ_H
#define CBD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a C string (caller frees); embedded NULs cut it short. */
static inline char *
fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * A property the code promises did not hold: report it like a sanitizer
 * would, so libFuzzer saves the input as a crash.
 */
#define FUZZ_ASSERT(cond, ...)                                                 \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz: property failed: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* Log lines for refused input would drown the fuzzer's own output. */
static inline void
fuzz_quiet(void)
{
	log_min_level = LOG_FATAL;
}

#endif
