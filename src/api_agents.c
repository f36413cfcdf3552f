/* api_agents.c: /v1/agents, managed by leads and admins. */
#include <string.h>

#include "agent.h"
#include "api.h"
#include "config.h"
#include "store.h"
#include "valid.h"

static const char *const api_agents_fields[] = {
	"name", "display_name", "email",  "timezone",
	"team", "capacity",     "active", "on_duty_without_shifts",
	NULL
};

/* Read and check the fields of a create (is_create) or patch body. */
static int
api_agents_read(json_t *b, int is_create, struct agent_fields *f,
		struct cbd_err *err)
{
	json_t *active, *duty;

	memset(f, 0, sizeof(*f));
	f->capacity = -1;
	f->is_active = -1;
	f->on_duty_without_shifts = -1;
	if (http_check_fields(b, api_agents_fields, "", err) != 0 ||
	    http_get_str(b, "name", "name", 64, is_create, &f->name, err) ||
	    http_get_str(b, "display_name", "display_name", 100, is_create,
			 &f->display_name, err) ||
	    http_get_str(b, "email", "email", 254, 0, &f->email, err) ||
	    http_get_str(b, "timezone", "timezone", 64, is_create, &f->timezone,
			 err) ||
	    http_get_str(b, "team", "team", 64, 0, &f->team, err) ||
	    http_get_int(b, "capacity", "capacity", 0, 100, 0, &f->capacity,
			 err))
		return -1;
	if (!is_create && f->name != NULL) {
		cbd_err_set(err, 400, "invalid-field", "name",
			    "name cannot be changed");
		return -1;
	}
	if (f->name != NULL &&
	    strspn(f->name, "abcdefghijklmnopqrstuvwxyz0123456789._-") !=
		    strlen(f->name)) {
		cbd_err_set(err, 400, "invalid-field", "name",
			    "name may hold a-z, 0-9, '.', '_' and '-' only");
		return -1;
	}
	if (f->email != NULL && !valid_email(f->email)) {
		cbd_err_set(err, 400, "invalid-email", "email",
			    "email is not a valid address");
		return -1;
	}
	if (f->timezone != NULL && !valid_tz(f->timezone)) {
		cbd_err_set(err, 400, "invalid-timezone", "timezone",
			    "timezone must be an IANA zone name");
		return -1;
	}
	active = json_object_get(b, "active");
	if (active != NULL) {
		if (!json_is_boolean(active)) {
			cbd_err_set(err, 400, "invalid-field", "active",
				    "active must be true or false");
			return -1;
		}
		f->is_active = json_is_true(active);
	}
	duty = json_object_get(b, "on_duty_without_shifts");
	if (duty != NULL) {
		if (!json_is_boolean(duty)) {
			cbd_err_set(err, 400, "invalid-field",
				    "on_duty_without_shifts",
				    "on_duty_without_shifts must be true or "
				    "false");
			return -1;
		}
		f->on_duty_without_shifts = json_is_true(duty);
	}
	return 0;
}

static int
api_agents_create_parse(struct http_req *r, struct cbd_err *err)
{
	struct agent_fields f;

	return api_agents_read(r->body, 1, &f, err);
}

static int
api_agents_create_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	struct agent_fields f;
	json_t *out;

	if (api_agents_read(r->body, 1, &f, err) != 0)
		return -1;
	if (f.on_duty_without_shifts < 0)
		f.on_duty_without_shifts =
			strcmp(r->cfg->agents_without_shifts, "always") == 0;
	if (agent_insert(tx, &f, &out, err) != 0)
		return -1;
	/* A new agent has no shift rules yet: say what that means. */
	json_object_set_new(
		out, "hint",
		json_string(f.on_duty_without_shifts
				    ? "no shift rules: on duty around the "
				      "clock until PUT "
				      "/v1/agents/{id}/shifts sets some"
				    : "no shift rules: off duty, so not "
				      "bookable, until PUT "
				      "/v1/agents/{id}/shifts sets some (or "
				      "on_duty_without_shifts is true)"));
	http_reply_json(r, 201, out);
	return 0;
}

static int
api_agents_patch_parse(struct http_req *r, struct cbd_err *err)
{
	struct agent_fields f;

	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such agent");
		return -1;
	}
	return api_agents_read(r->body, 0, &f, err);
}

static int
api_agents_patch_work(struct store_tx *tx, struct http_req *r,
		      struct cbd_err *err)
{
	struct agent_fields f;
	json_t *out;

	if (api_agents_read(r->body, 0, &f, err) != 0 ||
	    agent_update(tx, http_param_id(r, 0), &f, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_agents_get_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	json_t *out;

	if (agent_get(tx, http_param_id(r, 0), &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_agents_list_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	int64_t limit, after, last;
	json_t *items;

	if (api_page_parse(r, &limit, &after, err) != 0 ||
	    agent_list(tx, after, limit, &items, &last, err) != 0)
		return -1;
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

const struct http_route api_agents_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/agents", HTTP_ROLES_LEADS, HTTP_F_IDEMPOTENT,
	  "agents_create", api_agents_create_parse, api_agents_create_work },
	{ EVHTTP_REQ_GET, "/v1/agents", HTTP_ROLES_LEADS, 0, "agents_list",
	  NULL, api_agents_list_work },
	{ EVHTTP_REQ_GET, "/v1/agents/:id", HTTP_ROLES_LEADS, 0, "agents_get",
	  NULL, api_agents_get_work },
	{ EVHTTP_REQ_PATCH, "/v1/agents/:id", HTTP_ROLES_LEADS, 0,
	  "agents_update", api_agents_patch_parse, api_agents_patch_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
