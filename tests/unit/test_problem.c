/* test_problem.c: problem+json rendering and request field helpers. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tap.h"

int
main(void)
{
	struct cbd_err err;
	json_t *o, *b;
	char *s;
	const char *str;
	int64_t n = 0;
	static const char *const allowed[] = { "a", "b", NULL };

	memset(&err, 0, sizeof(err));
	cbd_err_set(&err, 409, "slot-full", "when", "slot %s is full", "10:00");
	s = http_problem_json(&err, "/v1/callbacks");
	o = json_loads(s, 0, NULL);
	is_str(json_string_value(json_object_get(o, "type")),
	       "/problems/slot-full", "type is a relative URI");
	is_str(json_string_value(json_object_get(o, "title")), "Conflict",
	       "title from status");
	is_int(json_integer_value(json_object_get(o, "status")), 409, "status");
	is_str(json_string_value(json_object_get(o, "detail")),
	       "slot 10:00 is full", "detail");
	is_str(json_string_value(json_object_get(
		       json_array_get(json_object_get(o, "errors"), 0),
		       "field")),
	       "when", "field error");
	json_decref(o);
	free(s);

	cbd_err_clear(&err);
	cbd_err_set(&err, 409, "outside-hours", "", "closed");
	err.extra_json = strdup("{\"next_available\":\"x\",\"type\":\"no\"}");
	s = http_problem_json(&err, NULL);
	o = json_loads(s, 0, NULL);
	is_str(json_string_value(json_object_get(o, "next_available")), "x",
	       "extra members merged");
	is_str(json_string_value(json_object_get(o, "type")),
	       "/problems/outside-hours", "extra cannot override type");
	ok(json_object_get(o, "errors") == NULL, "no errors without field");
	json_decref(o);
	free(s);
	cbd_err_clear(&err);

	b = json_pack("{s:s, s:i, s:s}", "a", "x", "b", 5, "c", "y");
	ok(http_check_fields(b, allowed, "p.", &err) == -1 &&
		   strcmp(err.field, "p.c") == 0,
	   "unknown field named with prefix");
	json_object_del(b, "c");
	is_int(http_check_fields(b, allowed, "", &err), 0, "known fields ok");
	ok(http_get_str(b, "b", "b", 10, 1, &str, &err) == -1 &&
		   strcmp(err.type, "invalid-field") == 0,
	   "integer is not a string");
	ok(http_get_str(b, "z", "z", 10, 1, &str, &err) == -1 &&
		   strcmp(err.type, "missing-field") == 0,
	   "missing required");
	ok(http_get_str(b, "z", "z", 10, 0, &str, &err) == 0 && str == NULL,
	   "missing optional");
	ok(http_get_str(b, "a", "a", 0, 1, &str, &err) == -1 &&
		   strcmp(err.type, "too-long") == 0,
	   "too long");
	ok(http_get_int(b, "b", "b", 1, 4, 1, &n, &err) == -1,
	   "integer out of range");
	ok(http_get_int(b, "b", "b", 1, 9, 1, &n, &err) == 0 && n == 5,
	   "integer in range");
	json_decref(b);
	cbd_err_clear(&err);
	return tap_done();
}
