/*
 * routing_queue.c: routing queues, their typed rules and their rows.
 *
 * A queue's opening hours and closures are the same rules as the global
 * config keys, parsed by the same functions (config.c) when the queue is
 * loaded, so a queue's site is open exactly when the config's would be
 * with the same text. Which agents may take a queue's calls is one SQL
 * condition (ROUTING_SKILLED_SQL) that every ownership decision uses:
 * the booking's pick (slots.c) and the handoffs' world (handoff_world.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "roster.h"
#include "log.h"
#include "routing_queue.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "xalloc.h"

void
routing_queue_free(struct routing_queue *q)
{
	if (q == NULL)
		return;
	free(q->closed_days);
	free(q);
}

int
routing_queue_load(struct store_tx *tx, int64_t id, struct routing_queue **out,
		   struct cbd_err *err)
{
	struct routing_queue *q;
	struct store_rows *r, *s;

	*out = NULL;
	if (id <= 0)
		return 0;
	r = store_query(tx, err,
			"SELECT id, name, timezone, opening_hours, "
			"closures, asap_target_pct, asap_target_min, "
			"scheduled_target_min, default_priority FROM "
			"routing_queues WHERE id = ?",
			"i", id);
	if (r == NULL)
		return -1;
	/* A booking reads its queue without writing it, so a delete can
	 * commit beside one (on Galera too) and leave a call in a queue
	 * that is gone: such a call is in the default queue, as the
	 * planner already takes it, rather than stuck on a 404. */
	if (store_rows_count(r) == 0) {
		store_rows_free(r);
		log_warn("callback in a deleted queue: default queue used",
			 "queue_id=%lld", (long long)id);
		return 0;
	}
	s = store_query(tx, err,
			"SELECT skill, min_level FROM routing_queue_skills "
			"WHERE queue_id = ? ORDER BY skill LIMIT ?",
			"ii", id, (int64_t)ROUTING_SKILLS_MAX);
	if (s == NULL) {
		store_rows_free(r);
		return -1;
	}
	q = xcalloc(1, sizeof(*q));
	q->id = id;
	snprintf(q->name, sizeof(q->name), "%s", store_rows_str(r, 0, 1));
	snprintf(q->tz, sizeof(q->tz), "%s", store_rows_str(r, 0, 2));
	/* Stored only after routing_queue_check accepted them. */
	if (config_week_parse(store_rows_str(r, 0, 3), &q->opening) != 0)
		q->opening.is_always = 1;
	if (config_closures_parse(store_rows_str(r, 0, 4), &q->closed_days,
				  &q->nclosed_days) != 0)
		q->nclosed_days = 0;
	q->asap_target_pct = (int)store_rows_int(r, 0, 5, 80);
	q->asap_target_min = (int)store_rows_int(r, 0, 6, 10);
	q->scheduled_target_min = (int)store_rows_int(r, 0, 7, 5);
	q->default_priority = (int)store_rows_int(r, 0, 8, 0);
	q->nskills = store_rows_count(s);
	for (size_t i = 0; i < q->nskills; i++) {
		snprintf(q->skill[i], sizeof(q->skill[i]), "%s",
			 store_rows_str(s, i, 0));
		q->min_level[i] = (int)store_rows_int(s, i, 1, 1);
	}
	store_rows_free(r);
	store_rows_free(s);
	*out = q;
	return 0;
}

int
routing_queue_resolve(struct store_tx *tx, const char *name, const char *topic,
		      int64_t *queue_id, struct cbd_err *err)
{
	struct store_rows *r;

	*queue_id = 0;
	if (name != NULL)
		r = store_query(tx, err,
				"SELECT id FROM routing_queues WHERE name = ?",
				"s", name);
	else if (topic != NULL)
		r = store_query(tx, err,
				"SELECT queue_id FROM routing_topics WHERE "
				"topic = LOWER(?)",
				"s", topic);
	else
		return 0;
	if (r == NULL)
		return -1;
	if (store_rows_count(r) > 0)
		*queue_id = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	if (name != NULL && *queue_id == 0) {
		cbd_err_set(err, 422, "unknown-queue", "queue",
			    "there is no queue of that name");
		return -1;
	}
	return 0;
}

const char *
routing_zone(const struct config *cfg, const struct routing_queue *q)
{
	return q != NULL ? q->tz : cfg->site_timezone;
}

int
routing_is_open(const struct config *cfg, const struct routing_queue *q,
		int64_t t, int64_t len)
{
	int y, mo, d, hh, mi, wd, day;

	timefmt_local(t, routing_zone(cfg, q), &y, &mo, &d, &hh, &mi, &wd);
	day = y * 10000 + mo * 100 + d;
	if (q == NULL ? config_is_closed_day(cfg, day)
		      : config_days_has(q->closed_days, q->nclosed_days, day))
		return 0;
	return config_week_open(q ? &q->opening : &cfg->opening, wd,
				hh * 60 + mi, (int)((len + 59) / 60));
}

void
routing_needs_text(const struct routing_queue *q, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; q != NULL && i < q->nskills && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
				 q->skill[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int
routing_priority_at_booking(int default_priority, int is_repeat, int is_vip,
			    int repeat_boost, int vip_boost)
{
	return default_priority + (is_repeat ? repeat_boost : 0) +
	       (is_vip ? vip_boost : 0);
}

int64_t
routing_effective_priority(int priority, int64_t waited_sec, int64_t ageing_sec)
{
	if (waited_sec < 0)
		waited_sec = 0;
	return priority + (ageing_sec > 0 ? waited_sec / ageing_sec : 0);
}

int
routing_booking_priority(struct store_tx *tx, const struct config *cfg,
			 const struct routing_queue *q, int64_t customer_id,
			 int64_t now, int *out, struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT cu.is_vip, EXISTS (SELECT 1 FROM callbacks c WHERE "
		"c.customer_id = cu.id AND c.created_at > ?) FROM customers cu "
		"WHERE cu.id = ?",
		"ii", now - (int64_t)ROUTING_REPEAT_SEC, customer_id);

	if (r == NULL)
		return -1;
	*out = routing_priority_at_booking(
		q ? q->default_priority : 0,
		store_rows_count(r) > 0 && store_rows_int(r, 0, 1, 0) != 0,
		store_rows_count(r) > 0 && store_rows_int(r, 0, 0, 0) != 0,
		cfg->priority_repeat_boost, cfg->priority_vip_boost);
	store_rows_free(r);
	return 0;
}

int
routing_skill_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= ROUTING_SKILL_LEN &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789:._-") == n;
}

/* A list of at most max {skill, <level_key>} objects, no skill twice:
 * a queue's needs (min_level, default 1) and an agent's skills (level,
 * required) are checked alike. */
int
routing_skill_list_check(json_t *v, const char *level_key, int level_required,
			 size_t max, struct cbd_err *err)
{
	const char *const f[] = { "skill", level_key, NULL };
	char level_field[32];
	size_t i, k;
	json_t *e;

	snprintf(level_field, sizeof(level_field), "skills.%s", level_key);
	if (!json_is_array(v) || json_array_size(v) > max) {
		cbd_err_set(err, 400, "invalid-field", "skills",
			    "skills must be a list of at most %zu "
			    "{skill, %s}",
			    max, level_key);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		const char *s = NULL;
		int64_t lv = 1;

		if (!json_is_object(e)) {
			cbd_err_set(err, 400, "invalid-field", "skills",
				    "each skill is an object");
			return -1;
		}
		if (http_check_fields(e, f, "skills.", err) != 0 ||
		    http_get_str(e, "skill", "skills.skill", ROUTING_SKILL_LEN,
				 1, &s, err) != 0 ||
		    http_get_int(e, level_key, level_field, 1,
				 ROUTING_LEVEL_MAX, level_required, &lv,
				 err) != 0)
			return -1;
		if (!routing_skill_name_ok(s)) {
			cbd_err_set(err, 400, "invalid-skill", "skills.skill",
				    "a skill is 1 to 64 of a-z, 0-9, ':', "
				    "'.', '_' and '-' (languages: lang:es)");
			return -1;
		}
		for (k = 0; k < i; k++)
			if (!strcmp(s,
				    json_string_value(json_object_get(
					    json_array_get(v, k), "skill")))) {
				cbd_err_set(err, 400, "invalid-field",
					    "skills.skill",
					    "skill %s is listed twice", s);
				return -1;
			}
	}
	return 0;
}

/* topics: up to ROUTING_TOPICS_MAX strings of at most 200 characters. */
static int
routing_queue_check_topics(json_t *v, struct cbd_err *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > ROUTING_TOPICS_MAX) {
		cbd_err_set(err, 400, "invalid-field", "topics",
			    "topics must be a list of at most %d texts",
			    ROUTING_TOPICS_MAX);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL || valid_is_blank(s) ||
		    !valid_text(s, json_string_length(e)) ||
		    valid_utf8_len(s) > 200) {
			cbd_err_set(err, 400, "invalid-field", "topics",
				    "each topic is a text of 1 to 200 "
				    "characters");
			return -1;
		}
	}
	return 0;
}

/* target: {asap_pct, asap_minutes, scheduled_minutes}, all optional. */
static int
routing_queue_check_target(json_t *v, struct cbd_err *err)
{
	static const char *const f[] = { "asap_pct", "asap_minutes",
					 "scheduled_minutes", NULL };
	int64_t x;

	if (!json_is_object(v)) {
		cbd_err_set(err, 400, "invalid-field", "target",
			    "target must be an object");
		return -1;
	}
	return http_check_fields(v, f, "target.", err) != 0 ||
			       http_get_int(v, "asap_pct", "target.asap_pct", 1,
					    100, 0, &x, err) != 0 ||
			       http_get_int(v, "asap_minutes",
					    "target.asap_minutes", 1, 10080, 0,
					    &x, err) != 0 ||
			       http_get_int(v, "scheduled_minutes",
					    "target.scheduled_minutes", 0, 1440,
					    0, &x, err) != 0
		       ? -1
		       : 0;
}

int
routing_queue_check(json_t *b, int is_create, struct cbd_err *err)
{
	static const char *const f[] = {
		"name",   "timezone", "opening_hours",    "closures", "skills",
		"topics", "target",   "default_priority", NULL
	};
	const char *name, *tz, *hours, *closures;
	struct config_week w;
	int *days = NULL;
	size_t nd;
	int64_t prio;
	json_t *v;

	(void)is_create;
	if (http_check_fields(b, f, "", err) != 0 ||
	    http_get_str(b, "name", "name", 64, 1, &name, err) != 0 ||
	    http_get_str(b, "timezone", "timezone", 64, 1, &tz, err) != 0 ||
	    http_get_str(b, "opening_hours", "opening_hours", 500, 0, &hours,
			 err) != 0 ||
	    http_get_str(b, "closures", "closures", 2000, 0, &closures, err) !=
		    0 ||
	    http_get_int(b, "default_priority", "default_priority", -100, 100,
			 0, &prio, err) != 0)
		return -1;
	if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    strlen(name)) {
		cbd_err_set(err, 400, "invalid-field", "name",
			    "name may hold a-z, 0-9, '.', '_' and '-' only");
		return -1;
	}
	if (!valid_tz(tz)) {
		cbd_err_set(err, 400, "invalid-timezone", "timezone",
			    "timezone must be an IANA zone name");
		return -1;
	}
	if (hours != NULL && config_week_parse(hours, &w) != 0) {
		cbd_err_set(err, 400, "invalid-field", "opening_hours",
			    "opening_hours must look like \"mon-fri "
			    "08:00-20:00; sat 09:00-13:00\"");
		return -1;
	}
	if (closures != NULL) {
		if (config_closures_parse(closures, &days, &nd) != 0) {
			cbd_err_set(err, 400, "invalid-field", "closures",
				    "closures must be YYYY-MM-DD dates, comma "
				    "separated");
			return -1;
		}
		free(days);
	}
	if ((v = json_object_get(b, "skills")) != NULL &&
	    routing_skill_list_check(v, "min_level", 0, ROUTING_SKILLS_MAX,
				     err) != 0)
		return -1;
	if ((v = json_object_get(b, "topics")) != NULL &&
	    routing_queue_check_topics(v, err) != 0)
		return -1;
	if ((v = json_object_get(b, "target")) != NULL &&
	    routing_queue_check_target(v, err) != 0)
		return -1;
	return 0;
}

/* Replace the queue's skills and topics with the body's. */
static int
routing_queue_put_lists(struct store_tx *tx, int64_t id, json_t *b,
			struct cbd_err *err)
{
	json_t *skills = json_object_get(b, "skills");
	json_t *topics = json_object_get(b, "topics"), *e;
	size_t i;

	if (store_exec(tx, err,
		       "DELETE FROM routing_queue_skills WHERE queue_id = ?",
		       "i", id) < 0 ||
	    store_exec(tx, err, "DELETE FROM routing_topics WHERE queue_id = ?",
		       "i", id) < 0)
		return -1;
	json_array_foreach(skills, i, e)
	{
		json_t *lv = json_object_get(e, "min_level");
		if (store_exec(tx, err,
			       "INSERT INTO routing_queue_skills (queue_id, "
			       "skill, min_level) VALUES (?, ?, ?)",
			       "isi", id,
			       json_string_value(json_object_get(e, "skill")),
			       (int64_t)(lv ? json_integer_value(lv) : 1)) < 0)
			return -1;
	}
	json_array_foreach(topics, i, e)
	{
		/* A topic leads to one queue: the latest to claim it. */
		if (store_exec(tx, err,
			       "INSERT INTO routing_topics (topic, queue_id) "
			       "VALUES (LOWER(?), ?) ON DUPLICATE KEY UPDATE "
			       "queue_id = VALUES(queue_id)",
			       "si", json_string_value(e), id) < 0)
			return -1;
	}
	return 0;
}

static int64_t
routing_target(json_t *b, const char *key, int64_t def)
{
	json_t *v = json_object_get(json_object_get(b, "target"), key);

	return v ? json_integer_value(v) : def;
}

int
routing_queue_put(struct store_tx *tx, int64_t id, json_t *b, json_t **out,
		  struct cbd_err *err)
{
	const char *hours =
		json_string_value(json_object_get(b, "opening_hours"));
	const char *closures =
		json_string_value(json_object_get(b, "closures"));
	json_t *prio = json_object_get(b, "default_priority");
	int64_t now = clock_now(), n;

	if (routing_queue_check(b, id == 0, err) != 0 || roster_bump(tx, err))
		return -1;
	if (id != 0) {
		struct store_rows *r = store_query_one(
			tx, err, "queue",
			"SELECT id FROM routing_queues WHERE id = ? FOR UPDATE",
			"i", id);
		if (r == NULL)
			return -1;
		store_rows_free(r);
	}
	if (id == 0)
		n = store_exec(
			tx, err,
			"INSERT INTO routing_queues (name, timezone, "
			"opening_hours, closures, asap_target_pct, "
			"asap_target_min, scheduled_target_min, "
			"default_priority, created_at, updated_at) VALUES "
			"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"ssssiiiiii",
			json_string_value(json_object_get(b, "name")),
			json_string_value(json_object_get(b, "timezone")),
			hours ? hours : "", closures ? closures : "",
			routing_target(b, "asap_pct", 80),
			routing_target(b, "asap_minutes", 10),
			routing_target(b, "scheduled_minutes", 5),
			(int64_t)(prio ? json_integer_value(prio) : 0), now,
			now);
	else
		n = store_exec(
			tx, err,
			"UPDATE routing_queues SET name = ?, timezone = ?, "
			"opening_hours = ?, closures = ?, asap_target_pct = ?, "
			"asap_target_min = ?, scheduled_target_min = ?, "
			"default_priority = ?, updated_at = ? WHERE id = ?",
			"ssssiiiiii",
			json_string_value(json_object_get(b, "name")),
			json_string_value(json_object_get(b, "timezone")),
			hours ? hours : "", closures ? closures : "",
			routing_target(b, "asap_pct", 80),
			routing_target(b, "asap_minutes", 10),
			routing_target(b, "scheduled_minutes", 5),
			(int64_t)(prio ? json_integer_value(prio) : 0), now,
			id);
	if (n < 0) {
		if (store_errno(tx) == 1062)
			cbd_err_set(err, 409, "queue-exists", "name",
				    "a queue with this name exists");
		return -1;
	}
	if (id == 0)
		id = store_last_id(tx);
	if (routing_queue_put_lists(tx, id, b, err) != 0)
		return -1;
	return routing_queue_get(tx, id, out, err);
}

#define ROUTING_QUEUE_COLS                                                     \
	"id, name, timezone, opening_hours, closures, asap_target_pct, "       \
	"asap_target_min, scheduled_target_min, default_priority, "            \
	"created_at, updated_at"

/* Row i of a ROUTING_QUEUE_COLS query, with its skills and topics. */
static int
routing_queue_json(struct store_tx *tx, const struct store_rows *r, size_t i,
		   json_t **out, struct cbd_err *err)
{
	int64_t id = store_rows_int(r, i, 0, 0);
	struct store_rows *s, *t;
	json_t *skills = json_array(), *topics = json_array();

	s = store_query(tx, err,
			"SELECT skill, min_level FROM routing_queue_skills "
			"WHERE queue_id = ? ORDER BY skill",
			"i", id);
	t = s ? store_query(tx, err,
			    "SELECT topic FROM routing_topics WHERE queue_id "
			    "= ? ORDER BY topic",
			    "i", id)
	      : NULL;
	if (t == NULL) {
		store_rows_free(s);
		json_decref(skills);
		json_decref(topics);
		return -1;
	}
	for (size_t k = 0; k < store_rows_count(s); k++)
		json_array_append_new(
			skills,
			json_pack("{s:s, s:I}", "skill",
				  store_rows_str(s, k, 0), "min_level",
				  (json_int_t)store_rows_int(s, k, 1, 1)));
	for (size_t k = 0; k < store_rows_count(t); k++)
		json_array_append_new(topics,
				      json_string(store_rows_str(t, k, 0)));
	store_rows_free(s);
	store_rows_free(t);
	*out = json_pack(
		"{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I}, s:I, "
		"s:o, s:o}",
		"id", (json_int_t)id, "name", store_rows_str(r, i, 1),
		"timezone", store_rows_str(r, i, 2), "opening_hours",
		store_rows_str(r, i, 3), "closures", store_rows_str(r, i, 4),
		"skills", skills, "topics", topics, "target", "asap_pct",
		(json_int_t)store_rows_int(r, i, 5, 0), "asap_minutes",
		(json_int_t)store_rows_int(r, i, 6, 0), "scheduled_minutes",
		(json_int_t)store_rows_int(r, i, 7, 0), "default_priority",
		(json_int_t)store_rows_int(r, i, 8, 0), "created_at",
		api_time(store_rows_int(r, i, 9, 0), NULL), "updated_at",
		api_time(store_rows_int(r, i, 10, 0), NULL));
	return 0;
}

int
routing_queue_get(struct store_tx *tx, int64_t id, json_t **out,
		  struct cbd_err *err)
{
	struct store_rows *r =
		store_query_one(tx, err, "queue",
				"SELECT " ROUTING_QUEUE_COLS
				" FROM routing_queues WHERE id = ?",
				"i", id);
	int rc;

	if (r == NULL)
		return -1;
	rc = routing_queue_json(tx, r, 0, out, err);
	store_rows_free(r);
	return rc;
}

int
routing_queue_list(struct store_tx *tx, json_t **out, struct cbd_err *err)
{
	/* Queues are few (a site's lines of business): no paging. */
	struct store_rows *r = store_query(tx, err,
					   "SELECT " ROUTING_QUEUE_COLS
					   " FROM routing_queues ORDER BY "
					   "name LIMIT 1000",
					   "");
	json_t *items;

	if (r == NULL)
		return -1;
	items = json_array();
	for (size_t i = 0; i < store_rows_count(r); i++) {
		json_t *q;
		if (routing_queue_json(tx, r, i, &q, err) != 0) {
			json_decref(items);
			store_rows_free(r);
			return -1;
		}
		json_array_append_new(items, q);
	}
	store_rows_free(r);
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int
routing_queue_delete(struct store_tx *tx, int64_t id, struct cbd_err *err)
{
	struct store_rows *r = store_query_one(
		tx, err, "queue",
		"SELECT id FROM routing_queues WHERE id = ? FOR UPDATE", "i",
		id);
	int64_t n;

	if (r == NULL)
		return -1;
	store_rows_free(r);
	r = store_query(tx, err,
			"SELECT COUNT(*) FROM callbacks WHERE queue_id = ? AND "
			"state IN ('pending','scheduled','in_progress',"
			"'retry_wait')",
			"i", id);
	if (r == NULL)
		return -1;
	n = store_rows_int(r, 0, 0, 0);
	store_rows_free(r);
	if (n > 0) {
		cbd_err_set(err, 409, "queue-in-use", "",
			    "%lld open callbacks are in this queue",
			    (long long)n);
		return -1;
	}
	if (roster_bump(tx, err) != 0 ||
	    store_exec(tx, err,
		       "DELETE FROM routing_queue_skills WHERE queue_id = ?",
		       "i", id) < 0 ||
	    store_exec(tx, err, "DELETE FROM routing_topics WHERE queue_id = ?",
		       "i", id) < 0 ||
	    store_exec(tx, err, "DELETE FROM routing_queues WHERE id = ?", "i",
		       id) < 0)
		return -1;
	return 0;
}

int
routing_customer_set_vip(struct store_tx *tx, int64_t id, int is_vip,
			 json_t **out, struct cbd_err *err)
{
	struct store_rows *r = store_query_one(
		tx, err, "customer",
		"SELECT id FROM customers WHERE id = ? FOR UPDATE", "i", id);

	if (r == NULL)
		return -1;
	store_rows_free(r);
	if (store_exec(tx, err,
		       "UPDATE customers SET is_vip = ?, updated_at = ? WHERE "
		       "id = ?",
		       "iii", (int64_t)is_vip, clock_now(), id) < 0)
		return -1;
	*out = json_pack("{s:I, s:b}", "customer_id", (json_int_t)id, "vip",
			 is_vip);
	return 0;
}
