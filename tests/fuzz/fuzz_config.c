/*
 * fuzz_config.c: the config file parser (config.c) and the site rules it
 * carries, opening hours, closures and the site zone (slots.c), which the
 * daemon checks at start and on every SIGHUP.
 *
 * Input: a config file. It is parsed twice into one struct, as a reload
 * does over the running values; what start-up accepts must then answer
 * the booking rules' questions for any instant.
 */
#include "config.h"
#include "fuzz.h"
#include "slots.h"

/*
 * Instants from 1970 to 2100: the booking horizon keeps the daemon's own
 * questions in this range. (Past a few centuries libical 3.0 works out a
 * zone's offset afresh on every call, ~25 ms each: a year-9999 instant
 * here would slow the fuzzer a hundredfold and find nothing new.)
 */
static const int64_t fuzz_instants[] = {
	0,
	1795161600,
	1795161600 + 86400 * 3 + 3599,
	4102444800LL - 1,
};

static void
fuzz_site_rules(const struct config *c)
{
	struct cbd_err err = { 0 };

	if (slots_check_config(c, &err) != 0) {
		FUZZ_ASSERT(err.status == 400 && err.type[0] != '\0',
			    "slots_check_config failed without a reason");
		cbd_err_clear(&err);
		return;
	}
	for (size_t i = 0; i < CBD_ARRAY_LEN(fuzz_instants); i++) {
		int64_t t = fuzz_instants[i];
		int64_t start = slots_align(c, t);
		FUZZ_ASSERT(start <= t &&
				    t - start < (int64_t)c->slot_minutes * 60,
			    "slot of %lld starts at %lld", (long long)t,
			    (long long)start);
		(void)slots_is_open(c, start, (int64_t)c->slot_minutes * 60);
	}
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
	struct config c;
	struct cbd_err err = { 0 };
	int first, second;

	config_init(&c);
	first = config_parse(&c, text, "fuzz.conf", &err);
	if (first != 0)
		FUZZ_ASSERT(err.status == 400 && err.type[0] != '\0',
			    "config_parse failed without a reason");
	cbd_err_clear(&err);
	/* A reload of the same file over the values it set: same verdict. */
	second = config_parse(&c, text, "fuzz.conf", &err);
	FUZZ_ASSERT(second == first, "reload gave %d, first load %d", second,
		    first);
	cbd_err_clear(&err);
	if (first == 0)
		fuzz_site_rules(&c);
	config_clear(&c);
	free(text);
	return 0;
}
