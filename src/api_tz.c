/*
 * api_tz.c: ?tz= on the lists leads read. Times stay RFC 3339 in UTC under
 * their own names ("due_at"); with tz, each also comes as the wall clock of
 * that zone, still RFC 3339 with its offset, under "<stem>_local"
 * ("due_local"), so a person reads it and a program still parses it.
 */
#include <string.h>

#include "api.h"
#include "timefmt.h"
#include "valid.h"

int
api_tz_parse(const struct http_req *r, const char **tz, struct cbd_err *err)
{
	*tz = http_query(r, "tz");
	if (*tz != NULL && !valid_tz(*tz)) {
		cbd_err_set(err, 400, "invalid-timezone", "tz",
			    "tz must be an IANA zone name, e.g. Europe/London");
		return -1;
	}
	return 0;
}

/* Add "<stem>_local" beside each "<stem>_at" time of o, and go down into
 * objects and arrays (a queue item's handoff note has its own times). */
static void
api_localize_one(json_t *o, const char *tz, int depth)
{
	const char *key;
	json_t *v, *locals;
	size_t i;

	if (depth > 4)
		return;
	if (json_is_array(o)) {
		json_array_foreach(o, i, v) api_localize_one(v, tz, depth + 1);
		return;
	}
	if (!json_is_object(o))
		return;
	locals = json_object();
	json_object_foreach(o, key, v)
	{
		size_t n = strlen(key);
		int64_t t;

		if (json_is_object(v) || json_is_array(v)) {
			api_localize_one(v, tz, depth + 1);
			continue;
		}
		if (n > 3 && n < 60 && strcmp(key + n - 3, "_at") == 0 &&
		    json_is_string(v) &&
		    timefmt_parse_rfc3339(json_string_value(v), &t) == 0) {
			char name[64];
			snprintf(name, sizeof(name), "%.*s_local", (int)(n - 3),
				 key);
			json_object_set_new(locals, name, api_time(t, tz));
		}
	}
	json_object_update(o, locals);
	json_decref(locals);
}

void
api_localize(json_t *items, const char *tz)
{
	if (tz != NULL)
		api_localize_one(items, tz, 0);
}
