/* routing_figures.c: per-queue service-level figures for leads. */
#include <stdio.h>

#include "api.h"
#include "clock.h"
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
	double asap_pct =
		booked ? 100.0 * (double)within / (double)booked : 100;
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

/* One gauge family: HELP, TYPE and a line per queue of the value at the
 * path (section, key) of each queue's figures; ratios are shares / 100. */
static void
routing_figures_family(FILE *f, const json_t *queues, const char *name,
		       const char *help, const char *section, const char *key,
		       double scale)
{
	size_t i;
	json_t *q;

	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	json_array_foreach(queues, i, q)
	{
		json_t *v = json_object_get(json_object_get(q, section), key);
		fprintf(f, "%s{queue=\"%s\"} %.17g\n", name,
			json_string_value(json_object_get(q, "queue")),
			json_number_value(v) * scale);
	}
}

char *
routing_figures_metrics(const json_t *figures)
{
	const json_t *queues = json_object_get(figures, "queues");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	/* Queue names are a-z, 0-9, '.', '_', '-': nothing to escape. */
	routing_figures_family(f, queues,
			       "callbackd_queue_asap_first_response_seconds",
			       "Average time from booking to first attempt of "
			       "ASAP calls, last "
			       "7 days.",
			       "asap", "avg_first_response_sec", 1);
	routing_figures_family(f, queues,
			       "callbackd_queue_asap_within_target_ratio",
			       "Share of ASAP calls first attempted within the "
			       "queue's target, "
			       "last 7 days.",
			       "asap", "within_target_pct", 0.01);
	routing_figures_family(f, queues,
			       "callbackd_queue_scheduled_on_time_ratio",
			       "Share of scheduled calls first attempted on "
			       "time, last 7 days.",
			       "scheduled", "on_time_pct", 0.01);
	routing_figures_family(f, queues, "callbackd_queue_target_ratio",
			       "The queue's service-level target share.",
			       "target", "asap_pct", 0.01);
	fclose(f);
	return buf;
}
