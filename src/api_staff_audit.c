/*
 * api_staff_audit.c: GET /v1/audit/staff, the trail of key changes and
 * message requeues, for leads and admins.
 */
#include <string.h>

#include "api.h"
#include "staff_audit.h"

static const char *const api_staff_audit_actions[] = {
	"key.created",
	"key.revoked",
	"message.requeued",
};

static int
api_staff_audit_read(const struct http_req *r, const char **action,
		     int64_t *limit, int64_t *before, struct cbd_err *err)
{
	*action = http_query(r, "action");
	if (*action != NULL) {
		size_t i;
		for (i = 0; i < CBD_ARRAY_LEN(api_staff_audit_actions); i++)
			if (strcmp(*action, api_staff_audit_actions[i]) == 0)
				break;
		if (i == CBD_ARRAY_LEN(api_staff_audit_actions)) {
			cbd_err_set(err, 400, "invalid-query", "action",
				    "action must be key.created, key.revoked "
				    "or message.requeued");
			return -1;
		}
	}
	return api_page_parse(r, limit, before, err);
}

static int
api_staff_audit_parse(struct http_req *r, struct cbd_err *err)
{
	const char *a;
	int64_t l, b;

	return api_staff_audit_read(r, &a, &l, &b, err);
}

static int
api_staff_audit_work(struct store_tx *tx, struct http_req *r,
		     struct cbd_err *err)
{
	const char *action;
	int64_t limit, before, last;
	json_t *items;

	if (api_staff_audit_read(r, &action, &limit, &before, err) != 0 ||
	    staff_audit_list(tx, action, before, limit, &items, &last, err) !=
		    0)
		return -1;
	http_reply_json(r, 200, api_page_wrap(items, limit, last));
	return 0;
}

const struct http_route api_staff_audit_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/audit/staff", HTTP_ROLES_LEADS, 0, "audit_staff",
	  api_staff_audit_parse, api_staff_audit_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
