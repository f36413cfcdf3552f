/* routing_figures.c: per-queue service-level figures for leads. */
#include "clock.h"
#include "api.h"
#include "routing_figures.h"
#include "store.h"

/* Columns of the figures query, in this order. */
enum {
	FIG_NAME,
	FIG_ASAP_PCT,
	FIG_ASAP_MIN,
	FIG_SCHED_MIN,
	FIG_ASAP_BOOKED,
	FIG_ASAP_ANSWERED,
	FIG_ASAP_WITHIN,
	FIG_ASAP_AVG,
	FIG_SCHED_DUE,
	FIG_SCHED_ON_TIME,
};

static json_t *
routing_figures_row(const struct store_rows *r, size_t i)
{
	int64_t booked = store_rows_int(r, i, FIG_ASAP_BOOKED, 0);
	int64_t within = store_rows_int(r, i, FIG_ASAP_WITHIN, 0);
	int64_t due = store_rows_int(r, i, FIG_SCHED_DUE, 0);
	int64_t on_time = store_rows_int(r, i, FIG_SCHED_ON_TIME, 0);
	int64_t pct = store_rows_int(r, i, FIG_ASAP_PCT, 80);
	double asap_pct = booked ? 100.0 * (double)within / (double)booked : 100;
	double sched_pct = due ? 100.0 * (double)on_time / (double)due : 100;

	return json_pack(
		"{s:s, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:f, s:I}, "
		"s:{s:I, s:I, s:f}, s:b}",
		"queue", store_rows_str(r, i, FIG_NAME), "target", "asap_pct",
		(json_int_t)pct, "asap_minutes",
		(json_int_t)store_rows_int(r, i, FIG_ASAP_MIN, 10),
		"scheduled_minutes",
		(json_int_t)store_rows_int(r, i, FIG_SCHED_MIN, 5), "asap",
		"booked", (json_int_t)booked, "answered",
		(json_int_t)store_rows_int(r, i, FIG_ASAP_ANSWERED, 0),
		"within_target", (json_int_t)within, "within_target_pct",
		asap_pct, "avg_first_response_sec",
		(json_int_t)store_rows_int(r, i, FIG_ASAP_AVG, 0), "scheduled",
		"due", (json_int_t)due, "on_time", (json_int_t)on_time,
		"on_time_pct", sched_pct, "meets_target",
		asap_pct >= (double)pct && sched_pct >= (double)pct);
}

int
routing_figures(struct store_tx *tx, const struct config *cfg, json_t **out,
		struct cbd_err *err)
{
	int64_t now = clock_now();
	int64_t since = now - (int64_t)ROUTING_FIGURES_DAYS * 86400;
	struct store_rows *r;
	json_t *items;

	(void)cfg;
	/* An ASAP call not yet answered counts against the target once its
	 * target time has passed; a scheduled call once its window has. The
	 * default queue (queue_id NULL) is the left-joined "default" row. */
	r = store_query(
		tx, err,
		"SELECT q.name, q.asap_target_pct, q.asap_target_min, "
		"q.scheduled_target_min, "
		"SUM(c.is_asap = 1 AND (c.first_attempt_at IS NOT NULL OR "
		"c.created_at + q.asap_target_min * 60 < ?)), "
		"SUM(c.is_asap = 1 AND c.first_attempt_at IS NOT NULL), "
		"SUM(c.is_asap = 1 AND c.first_attempt_at <= c.created_at + "
		"q.asap_target_min * 60), "
		"COALESCE(AVG(IF(c.is_asap = 1, c.first_attempt_at - "
		"c.created_at, NULL)), 0), "
		"SUM(c.is_asap = 0 AND (c.first_attempt_at IS NOT NULL OR "
		"c.due_at + q.scheduled_target_min * 60 < ?)), "
		"SUM(c.is_asap = 0 AND c.first_attempt_at <= c.due_at + "
		"q.scheduled_target_min * 60) "
		"FROM (SELECT id, name, asap_target_pct, asap_target_min, "
		"scheduled_target_min FROM routing_queues UNION ALL SELECT 0, "
		"'default', 80, 10, 5) q LEFT JOIN callbacks c ON "
		"COALESCE(c.queue_id, 0) = q.id AND c.created_at >= ? AND "
		"c.state <> 'cancelled' GROUP BY q.id, q.name, "
		"q.asap_target_pct, q.asap_target_min, q.scheduled_target_min "
		"ORDER BY q.name",
		"iii", now, now, since);
	if (r == NULL)
		return -1;
	items = json_array();
	for (size_t i = 0; i < store_rows_count(r); i++)
		json_array_append_new(items, routing_figures_row(r, i));
	store_rows_free(r);
	*out = json_pack("{s:o, s:o}", "since", api_time(since, NULL), "queues",
			 items);
	return 0;
}
