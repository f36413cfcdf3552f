/*
 * api_ops.c: what operators and orchestrators poll: liveness, readiness,
 * metrics; and the test clock, which exists only when test_clock is on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "callback.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "store.h"
#include "timefmt.h"
#include "web_forms.h"
#include "xalloc.h"

/* One table per resource; the order only matters for equal paths. */
const struct http_route *const api_tables[] = {
	web_forms_routes, /* first: its browser-only GET /v1/callbacks/:id */
	api_ops_routes,
	api_keys_routes,
	api_agents_routes,
	api_callbacks_routes,
	api_queue_routes,
	api_shifts_routes,
	api_cases_routes,
	api_slots_routes,
	api_handoffs_routes,
	api_sessions_routes,
	api_events_routes,
	api_staff_audit_routes,
	api_messages_routes,
	api_routing_routes,
	api_sms_routes,
	api_report_routes,
	NULL,
};

int
api_page_parse(const struct http_req *r, int64_t *limit, int64_t *after_id,
	       struct cbd_err *err)
{
	const char *l = http_query(r, "limit");
	const char *c = http_query(r, "cursor");
	char *end;

	*limit = 50;
	*after_id = 0;
	if (l != NULL) {
		long v = strtol(l, &end, 10);
		if (*l == '\0' || *end != '\0' || v < 1 || v > 200) {
			cbd_err_set(err, 400, "invalid-query", "limit",
				    "limit must be an integer from 1 to 200");
			return -1;
		}
		*limit = v;
	}
	if (c != NULL) {
		long long v;
		if (c[0] != 'c' || c[1] < '1' || c[1] > '9' || strlen(c) > 20 ||
		    (v = strtoll(c + 1, &end, 10)) <= 0 || *end != '\0') {
			cbd_err_set(err, 400, "invalid-query", "cursor",
				    "cursor is not one this server issued");
			return -1;
		}
		*after_id = v;
	}
	return 0;
}

json_t *
api_page_wrap(json_t *items, int64_t limit, int64_t last_id)
{
	json_t *o = json_object();
	char cur[32];

	if ((int64_t)json_array_size(items) == limit && last_id > 0) {
		snprintf(cur, sizeof(cur), "c%lld", (long long)last_id);
		json_object_set_new(o, "next_cursor", json_string(cur));
	} else
		json_object_set_new(o, "next_cursor", json_null());
	json_object_set_new(o, "items", items);
	return o;
}

void
api_caller(const struct http_req *r, struct callback_caller *who, char *actor,
	   size_t size)
{
	memset(who, 0, sizeof(*who));
	who->role = r->role;
	who->agent_id = r->agent_id;
	who->token = r->bearer;
	who->actor = http_actor(r, actor, size);
}

json_t *
api_time(int64_t t, const char *tz)
{
	char buf[40];

	timefmt_rfc3339(t, tz, buf, sizeof(buf));
	return json_string(buf);
}

static int
api_ops_healthz(struct http_req *r, struct cbd_err *err)
{
	(void)err;
	http_reply_json(r, 200, json_pack("{s:s}", "status", "alive"));
	return 0;
}

/*
 * On Galera a node that is up may still be joining, donating a state
 * transfer or cut off from the primary component: it must not get traffic
 * until it says ready and Synced.
 */
static int
api_ops_galera_ready(struct store_tx *tx, struct cbd_err *err)
{
	struct store_rows *st;
	const char *state = "unknown";
	int is_ready = 0, rc = -1;

	st = store_query(tx, err,
			 "SHOW GLOBAL STATUS WHERE Variable_name IN "
			 "('wsrep_ready', 'wsrep_local_state_comment')",
			 "");
	if (st == NULL)
		return -1;
	for (size_t i = 0; i < store_rows_count(st); i++) {
		const char *k = store_rows_str(st, i, 0);
		const char *v = store_rows_str(st, i, 1);
		if (k == NULL || v == NULL)
			continue;
		if (!strcasecmp(k, "wsrep_ready"))
			is_ready = !strcasecmp(v, "ON");
		else
			state = v;
	}
	if (!is_ready || strcmp(state, "Synced") != 0) {
		cbd_err_set(err, 503, "database-not-synced", "",
			    "the Galera node is %s (%s)", state,
			    is_ready ? "ready" : "not ready");
		err->retry_after_sec = 2;
		goto out;
	}
	rc = 0;
out:
	store_rows_free(st);
	return rc;
}

static int
api_ops_readyz_work(struct store_tx *tx, struct http_req *r,
		    struct cbd_err *err)
{
	int v;

	if (store_is_galera(tx) && api_ops_galera_ready(tx, err) != 0)
		return -1;
	v = migrate_current(tx, err);
	if (v < 0)
		return -1;
	if (v != migrate_latest()) {
		cbd_err_set(err, 503, "schema-not-current", "",
			    "schema version %d, expected %d", v,
			    migrate_latest());
		err->retry_after_sec = 5;
		return -1;
	}
	http_reply_json(
		r, 200,
		json_pack("{s:s, s:i}", "status", "ready", "schema", v));
	return 0;
}

static int
api_ops_metrics(struct http_req *r, struct cbd_err *err)
{
	struct store_pool *p = http_server_pool(r->srv);
	struct metrics *m = http_server_metrics(r->srv);
	struct store_stats st;

	(void)err;
	store_stats(p, &st);
	metrics_set_total(m, "callbackd_db_conflicts_total",
			  "Transactions aborted by a deadlock or a Galera "
			  "certification conflict.",
			  st.conflicts);
	metrics_set_total(m, "callbackd_db_retries_total",
			  "Transactions run again after a conflict.",
			  st.retries);
	metrics_set_total(m, "callbackd_db_retries_exhausted_total",
			  "Transactions given up after db_max_attempts runs "
			  "(answered 503).",
			  st.exhausted);
	metrics_set_total(m, "callbackd_db_unavailable_total",
			  "Statements refused by a Galera node that was not "
			  "ready (1047, 1180).",
			  st.unavailable);
	metrics_set(m, "callbackd_store_jobs_busy",
		    "Store jobs queued or running.", store_busy(p));
	metrics_set(m, "callbackd_store_workers_in_use",
		    "Store worker threads running a job.", store_in_use(p));
	metrics_set(m, "callbackd_store_connections", "MariaDB connections up.",
		    store_connected(p));
	metrics_set(m, "callbackd_db_errors",
		    "MariaDB errors seen since start.",
		    (double)store_db_errors(p));
	r->status = 200;
	{
		/* log.c counts warnings and errors on every thread. */
		char *body = metrics_render(m), *logs = log_metrics_text();
		r->resp_raw = xasprintf("%s%s", body, logs);
		free(body);
		free(logs);
	}
	r->resp_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

static int
api_ops_clock_parse(struct http_req *r, struct cbd_err *err)
{
	static const char *const fields[] = { "now", "advance_sec", NULL };

	if (!r->cfg->test_clock) {
		cbd_err_set(err, 404, "not-found", "", "no such endpoint");
		return -1;
	}
	return http_check_fields(r->body, fields, "", err);
}

/* The clock is process state, not data: set it from the job so that only
 * an authenticated admin gets here. */
static int
api_ops_clock_work(struct store_tx *tx, struct http_req *r, struct cbd_err *err)
{
	const char *now = NULL;
	int64_t t, adv = 0;

	(void)tx;
	if (http_get_str(r->body, "now", "now", 40, 0, &now, err) != 0 ||
	    http_get_int(r->body, "advance_sec", "advance_sec", 0,
			 366LL * 86400, 0, &adv, err) != 0)
		return -1;
	if (now != NULL) {
		if (timefmt_parse_rfc3339(now, &t) != 0) {
			cbd_err_set(err, 400, "invalid-time", "now",
				    "now must be an RFC 3339 time");
			return -1;
		}
		clock_set_ms(t * 1000);
	} else if (!clock_is_simulated())
		clock_set_ms(clock_now_ms());
	clock_advance_ms(adv * 1000);
	log_info("clock set", "now=%lld", (long long)clock_now());
	http_reply_json(r, 200,
			json_pack("{s:o}", "now", api_time(clock_now(), NULL)));
	return 0;
}

const struct http_route api_ops_routes[] = {
	{ EVHTTP_REQ_GET, "/healthz", HTTP_ROLE_PUBLIC, 0, "healthz",
	  api_ops_healthz, NULL },
	{ EVHTTP_REQ_GET, "/readyz", HTTP_ROLE_PUBLIC, 0, "readyz", NULL,
	  api_ops_readyz_work },
	{ EVHTTP_REQ_GET, "/metrics", HTTP_ROLE_PUBLIC, 0, "metrics",
	  api_ops_metrics, NULL },
	{ EVHTTP_REQ_POST, "/v1/test/clock", HTTP_ROLE_ADMIN, 0, "test_clock",
	  api_ops_clock_parse, api_ops_clock_work },
	{ 0, NULL, 0, 0, NULL, NULL, NULL },
};
