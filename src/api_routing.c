/*
 * api_routing.c: /v1/routing/queues (routing queues: leads and admins
 * write, every staff key reads) and /v1/agents/{id}/skills (leads set
 * them). An agent's own work queue is api_queue.c, a different thing.
 */
#include "api.h"
#include "routing_figures.h"
#include "routing_queue.h"
#include "skills.h"
#include "store.h"

static int
api_routing_id_parse(struct http_req *r, const char *what, struct cbd_err *err)
{
	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such %s", what);
		return -1;
	}
	return 0;
}

static int
api_routing_create_parse(struct http_req *r, struct cbd_err *err)
{
	return routing_queue_check(r->body, 1, err);
}

static int
api_routing_create_work(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	json_t *out;

	if (routing_queue_put(tx, 0, r->body, &out, err) != 0)
		return -1;
	http_reply_json(r, 201, out);
	return 0;
}

static int
api_routing_put_parse(struct http_req *r, struct cbd_err *err)
{
	if (api_routing_id_parse(r, "queue", err) != 0)
		return -1;
	return routing_queue_check(r->body, 0, err);
}

static int
api_routing_put_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	json_t *out;

	if (routing_queue_put(tx, http_param_id(r, 0), r->body, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_routing_get_parse(struct http_req *r, struct cbd_err *err)
{
	return api_routing_id_parse(r, "queue", err);
}

static int
api_routing_get_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	json_t *out;

	if (routing_queue_get(tx, http_param_id(r, 0), &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_routing_list_work(struct store_tx *tx, struct http_req *r,
		      struct cbd_err *err)
{
	json_t *out;

	if (routing_queue_list(tx, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_routing_delete_work(struct store_tx *tx, struct http_req *r,
			struct cbd_err *err)
{
	if (routing_queue_delete(tx, http_param_id(r, 0), err) != 0)
		return -1;
	r->status = 204;
	return 0;
}

static int
api_routing_skills_parse(struct http_req *r, struct cbd_err *err)
{
	if (api_routing_id_parse(r, "agent", err) != 0)
		return -1;
	return r->body != NULL ? skills_check(r->body, err) : 0;
}

static int
api_routing_skills_get_work(struct store_tx *tx, struct http_req *r,
			    struct cbd_err *err)
{
	json_t *out;

	if (skills_get(tx, http_param_id(r, 0), &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_routing_skills_put_work(struct store_tx *tx, struct http_req *r,
			    struct cbd_err *err)
{
	json_t *out;

	if (skills_put(tx, http_param_id(r, 0), r->body, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

/* {"vip": true|false}; pure, runs on the loop and again in the job. */
static int
api_routing_vip_read(const struct http_req *r, int *is_vip, struct cbd_err *err)
{
	static const char *const f[] = { "vip", NULL };
	json_t *v = json_object_get(r->body, "vip");

	if (http_check_fields(r->body, f, "", err) != 0)
		return -1;
	if (!json_is_boolean(v)) {
		cbd_err_set(err, 400, v ? "invalid-field" : "missing-field",
			    "vip", "vip must be true or false");
		return -1;
	}
	*is_vip = json_is_true(v);
	return 0;
}

static int
api_routing_vip_parse(struct http_req *r, struct cbd_err *err)
{
	int is_vip;

	if (api_routing_id_parse(r, "customer", err) != 0)
		return -1;
	return api_routing_vip_read(r, &is_vip, err);
}

static int
api_routing_vip_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	json_t *out;
	int is_vip;

	if (api_routing_vip_read(r, &is_vip, err) != 0 ||
	    routing_customer_set_vip(tx, http_param_id(r, 0), is_vip, &out,
				     err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

static int
api_routing_figures_work(struct store_tx *tx, struct http_req *r,
			 struct cbd_err *err)
{
	json_t *out;

	if (routing_figures(tx, r->cfg, &out, err) != 0)
		return -1;
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_routing_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/routing/queues", HTTP_ROLES_STAFF, 0,
	  "routing_queues_list", NULL, api_routing_list_work },
	{ EVHTTP_REQ_POST, "/v1/routing/queues", HTTP_ROLES_LEADS,
	  HTTP_F_IDEMPOTENT, "routing_queues_create", api_routing_create_parse,
	  api_routing_create_work },
	{ EVHTTP_REQ_GET, "/v1/routing/queues/:id", HTTP_ROLES_STAFF, 0,
	  "routing_queues_get", api_routing_get_parse, api_routing_get_work },
	{ EVHTTP_REQ_PUT, "/v1/routing/queues/:id", HTTP_ROLES_LEADS, 0,
	  "routing_queues_put", api_routing_put_parse, api_routing_put_work },
	{ EVHTTP_REQ_DELETE, "/v1/routing/queues/:id", HTTP_ROLES_LEADS, 0,
	  "routing_queues_delete", api_routing_get_parse,
	  api_routing_delete_work },
	{ EVHTTP_REQ_GET, "/v1/routing/figures", HTTP_ROLES_LEADS, 0,
	  "routing_figures", NULL, api_routing_figures_work },
	{ EVHTTP_REQ_GET, "/v1/agents/:id/skills", HTTP_ROLES_STAFF, 0,
	  "agents_skills_get", api_routing_skills_parse,
	  api_routing_skills_get_work },
	{ EVHTTP_REQ_PUT, "/v1/agents/:id/skills", HTTP_ROLES_LEADS, 0,
	  "agents_skills_put", api_routing_skills_parse,
	  api_routing_skills_put_work },
	{ EVHTTP_REQ_PUT, "/v1/customers/:id/vip", HTTP_ROLES_LEADS, 0,
	  "customers_vip", api_routing_vip_parse, api_routing_vip_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
