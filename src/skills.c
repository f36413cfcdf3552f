/* skills.c: agents' skills and levels, replaced as a whole by leads. */
#include <string.h>

#include "http.h"
#include "roster.h"
#include "routing_queue.h"
#include "skills.h"
#include "store.h"

#define SKILLS_MAX 64 /* skills one agent may hold */

int
skills_check(json_t *b, struct cbd_err *err)
{
	static const char *const top[] = { "skills", NULL };

	if (http_check_fields(b, top, "", err) != 0)
		return -1;
	return routing_skill_list_check(json_object_get(b, "skills"), "level",
					1, SKILLS_MAX, err);
}

int
skills_get(struct store_tx *tx, int64_t agent_id, json_t **out,
	   struct cbd_err *err)
{
	struct store_rows *r = store_query_one(
		tx, err, "agent", "SELECT id FROM agents WHERE id = ?", "i",
		agent_id);
	json_t *items;

	if (r == NULL)
		return -1;
	store_rows_free(r);
	r = store_query(tx, err,
			"SELECT skill, level FROM agent_skills WHERE agent_id "
			"= ? ORDER BY skill",
			"i", agent_id);
	if (r == NULL)
		return -1;
	items = json_array();
	for (size_t i = 0; i < store_rows_count(r); i++)
		json_array_append_new(
			items,
			json_pack("{s:s, s:I}", "skill",
				  store_rows_str(r, i, 0), "level",
				  (json_int_t)store_rows_int(r, i, 1, 1)));
	store_rows_free(r);
	*out = json_pack("{s:I, s:o}", "agent_id", (json_int_t)agent_id,
			 "skills", items);
	return 0;
}

int
skills_put(struct store_tx *tx, int64_t agent_id, json_t *b, json_t **out,
	   struct cbd_err *err)
{
	struct store_rows *r;
	json_t *e;
	size_t i;

	if (skills_check(b, err) != 0)
		return -1;
	/* The agent's row, locked: two leads' replacements serialise. */
	r = store_query_one(tx, err, "agent",
			    "SELECT id FROM agents WHERE id = ? FOR UPDATE",
			    "i", agent_id);
	if (r == NULL)
		return -1;
	store_rows_free(r);
	/* Who can take what is part of every plan, as shifts are. */
	if (roster_bump(tx, err) != 0 ||
	    store_exec(tx, err, "DELETE FROM agent_skills WHERE agent_id = ?",
		       "i", agent_id) < 0)
		return -1;
	json_array_foreach(json_object_get(b, "skills"), i, e)
	{
		if (store_exec(tx, err,
			       "INSERT INTO agent_skills (agent_id, skill, "
			       "level) VALUES (?, ?, ?)",
			       "isi", agent_id,
			       json_string_value(json_object_get(e, "skill")),
			       (int64_t)json_integer_value(
				       json_object_get(e, "level"))) < 0)
			return -1;
	}
	return skills_get(tx, agent_id, out, err);
}
