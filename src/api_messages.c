/*
 * api_messages.c: the dead-letter view across callbacks, for leads and
 * admins: GET /v1/messages?status=dead|failed, and POST
 * /v1/messages/{outbox_id}/requeue to send one again (audited).
 */
#include <string.h>

#include "api.h"
#include "log.h"
#include "outbox_dead.h"
#include "staff_audit.h"

static int
api_messages_list_read(const struct http_req *r, const char **status,
		       const char **tz, int64_t *limit, int64_t *before,
		       struct cbd_err *err)
{
	*status = http_query(r, "status");
	if (*status == NULL)
		*status = "dead";
	if (strcmp(*status, "dead") != 0 && strcmp(*status, "failed") != 0) {
		cbd_err_set(err, 400, "invalid-query", "status",
			    "status must be dead or failed");
		return -1;
	}
	return api_tz_parse(r, tz, err) || api_page_parse(r, limit, before, err)
		       ? -1
		       : 0;
}

static int
api_messages_list_parse(struct http_req *r, struct cbd_err *err)
{
	const char *status, *tz;
	int64_t limit, before;

	return api_messages_list_read(r, &status, &tz, &limit, &before, err);
}

static int
api_messages_list_work(struct store_tx *tx, struct http_req *r,
		       struct cbd_err *err)
{
	const char *status, *tz;
	int64_t limit, before, last;
	json_t *items;

	if (api_messages_list_read(r, &status, &tz, &limit, &before, err) !=
		    0 ||
	    outbox_dead_list(tx, status, before, limit, &items, &last, err) !=
		    0)
		return -1;
	api_localize(items, tz);
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

static int
api_messages_requeue_parse(struct http_req *r, struct cbd_err *err)
{
	if (http_param_id(r, 0) == 0) {
		cbd_err_set(err, 404, "not-found", "", "no such message");
		return -1;
	}
	return 0;
}

static int
api_messages_requeue_work(struct store_tx *tx, struct http_req *r,
			  struct cbd_err *err)
{
	int64_t id = http_param_id(r, 0);
	char actor[48];
	json_t *out;

	if (outbox_dead_requeue(tx, id, &out, err) != 0)
		return -1;
	if (staff_audit_add(tx, http_actor(r, actor, sizeof(actor)),
			    "message.requeued", id,
			    json_pack("{s:O, s:O, s:O}", "id",
				      json_object_get(out, "id"), "kind",
				      json_object_get(out, "kind"),
				      "callback_id",
				      json_object_get(out, "callback_id")),
			    err) != 0) {
		json_decref(out);
		return -1;
	}
	log_info("message requeued", "outbox_id=%lld by=%s", (long long)id,
		 actor);
	http_reply_json(r, 200, out);
	return 0;
}

const struct http_route api_messages_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/messages", HTTP_ROLES_LEADS, 0, "messages_list",
	  api_messages_list_parse, api_messages_list_work },
	{ EVHTTP_REQ_POST, "/v1/messages/:id/requeue", HTTP_ROLES_LEADS,
	  HTTP_F_IDEMPOTENT, "messages_requeue", api_messages_requeue_parse,
	  api_messages_requeue_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
