/*
 * routing_queue.h: routing queues, the right person for a call. A queue
 * names the skills its calls need (each at a minimum level), the topics
 * that lead to it, its own site zone, opening hours and closures, its
 * service-level target and its default priority. Not to be confused with
 * queue.h, an agent's own work queue (/v1/me/queue).
 *
 * A callback without a queue is in the default queue: no skills needed,
 * the global site_timezone, opening_hours and closures. Everywhere a
 * queue may be NULL, NULL means that default.
 */
#ifndef CBD_ROUTING_QUEUE_H
#define CBD_ROUTING_QUEUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "config.h"

struct store_tx;

#define ROUTING_SKILLS_MAX 8      /* skills one queue may require */
#define ROUTING_TOPICS_MAX 32     /* topics mapped to one queue */
#define ROUTING_SKILL_LEN  64     /* longest skill name */
#define ROUTING_LEVEL_MAX  5      /* levels run 1..5 */
#define ROUTING_REPEAT_SEC 172800 /* a booking this soon after another */

/*
 * SQL condition: agent AGENT (an SQL expression for an agents.id) has
 * every skill queue QUEUE requires at its level. Both arguments are SQL
 * text of ours ("a.id", "?", "q.id"), never client input. True for a
 * queue that requires nothing.
 */
#define ROUTING_SKILLED_SQL(AGENT, QUEUE)                                      \
	"NOT EXISTS (SELECT 1 FROM routing_queue_skills rqs WHERE "            \
	"rqs.queue_id = " QUEUE " AND NOT EXISTS (SELECT 1 FROM "              \
	"agent_skills ags WHERE ags.agent_id = " AGENT " AND ags.skill = "     \
	"rqs.skill AND ags.level >= rqs.min_level))"

/* A queue as routing decisions read it. */
struct routing_queue {
	int64_t id;
	char name[65];
	char tz[65];
	struct config_week opening;
	int *closed_days; /* YYYYMMDD ascending */
	size_t nclosed_days;
	size_t nskills;
	char skill[ROUTING_SKILLS_MAX][ROUTING_SKILL_LEN + 1];
	int min_level[ROUTING_SKILLS_MAX];
	int asap_target_pct;      /* this share of ASAP calls ... */
	int asap_target_min;      /* ... get a first attempt this soon */
	int scheduled_target_min; /* scheduled: called within this of the time
				   */
	int default_priority;
};

/* Load queue id (locking nothing); id <= 0, or a queue deleted since
 * (logged), sets *out NULL: the default. Free with routing_queue_free. */
int routing_queue_load(struct store_tx *tx, int64_t id,
		       struct routing_queue **out,
		       struct cbd_err *err) CBD_MUSTCHECK;
void routing_queue_free(struct routing_queue *q); /* NULL ok */
/*
 * The queue a booking goes to: the queue named (422 unknown-queue on
 * field "queue" when none has that name), else the queue the topic is
 * mapped to (exact text, case-insensitive), else 0 (default).
 */
int routing_queue_resolve(struct store_tx *tx, const char *name,
			  const char *topic, int64_t *queue_id,
			  struct cbd_err *err) CBD_MUSTCHECK;
/* Is q's site (cfg's when q is NULL) open for the whole of [t, t + len)? */
int routing_is_open(const struct config *cfg, const struct routing_queue *q,
		    int64_t t, int64_t len);
/* The zone q's hours are in (cfg's site_timezone when q is NULL). */
const char *routing_zone(const struct config *cfg,
			 const struct routing_queue *q);
/* "lang:es 2, billing 1": what q needs, for reasons and notes. */
void routing_needs_text(const struct routing_queue *q, char *buf, size_t size);

/*
 * Priority. A call is booked at its queue's default priority, raised by
 * repeat_boost when the customer booked another callback within 48 hours
 * and by vip_boost for a VIP customer. Waiting raises it one level per
 * ageing_sec, so a low-priority call is eventually served before any newer
 * one: effective = priority + floor(waited / ageing_sec).
 */
int routing_priority_at_booking(int default_priority, int is_repeat, int is_vip,
				int repeat_boost, int vip_boost);
int64_t routing_effective_priority(int priority, int64_t waited_sec,
				   int64_t ageing_sec);
/* SQL expression of the effective priority of callbacks alias c at time
 * "?" with ageing "?" (seconds), bound in that order. */
#define ROUTING_EFFECTIVE_SQL                                                  \
	"(c.priority + FLOOR(GREATEST(0, ? - c.due_at) / ?))"

/* The booking's priority for customer_id in queue q (NULL: default). */
int routing_booking_priority(struct store_tx *tx, const struct config *cfg,
			     const struct routing_queue *q, int64_t customer_id,
			     int64_t now, int *out,
			     struct cbd_err *err) CBD_MUSTCHECK;

/* The resource (/v1/routing/queues). Bodies are checked by
 * routing_queue_check first (pure: it runs on the loop too). */
int routing_queue_check(json_t *body, int is_create,
			struct cbd_err *err) CBD_MUSTCHECK;
/* Create (id 0) or replace queue id from body; *out is the queue. */
int routing_queue_put(struct store_tx *tx, int64_t id, json_t *body,
		      json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
int routing_queue_get(struct store_tx *tx, int64_t id, json_t **out,
		      struct cbd_err *err) CBD_MUSTCHECK;
int routing_queue_list(struct store_tx *tx, json_t **out,
		       struct cbd_err *err) CBD_MUSTCHECK;
/* 409 queue-in-use while open callbacks are in it. */
int routing_queue_delete(struct store_tx *tx, int64_t id,
			 struct cbd_err *err) CBD_MUSTCHECK;
/* Mark customer id VIP or not (their next bookings get priority_vip_boost);
 * *out {customer_id, vip}; 404 for an unknown customer. */
int routing_customer_set_vip(struct store_tx *tx, int64_t id, int is_vip,
			     json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* Is s a skill name: 1..64 of a-z 0-9 and ":._-"? */
int routing_skill_name_ok(const char *s);
/* v is a list of at most max {skill, <level_key>} (level 1..5; required
 * when level_required), no skill twice; else 400 naming the field. */
int routing_skill_list_check(json_t *v, const char *level_key,
			     int level_required, size_t max,
			     struct cbd_err *err) CBD_MUSTCHECK;

#endif
