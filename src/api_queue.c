/* api_queue.c: /v1/me/queue, an agent's own work in due order. */
#include "api.h"
#include "callback.h"
#include "store.h"

static int
api_queue_get_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	int64_t limit, after;
	json_t *items;

	if (r->agent_id <= 0) {
		cbd_err_set(err, 403, "forbidden", "",
			    "this key belongs to no agent");
		return -1;
	}
	if (api_page_parse(r, &limit, &after, err) != 0 ||
	    callback_queue(tx, r->agent_id, limit, &items, err) != 0)
		return -1;
	http_reply_json(r, 200,
			json_pack("{s:I, s:o}", "agent_id",
				  (json_int_t)r->agent_id, "items", items));
	return 0;
}

const struct http_route api_queue_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/me/queue", HTTP_ROLE_AGENT, 0, "queue_get", NULL,
	  api_queue_get_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
