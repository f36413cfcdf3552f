/*
 * optout.c: the opt-out list, and the check every text passes right
 * before it is sent.
 *
 * The check is a statement in the outbox's claim transaction, not a
 * cache: an instance that took a STOP a moment ago may not be the one
 * that sends, and a reminder queued days ago must not go to a number
 * that has since said STOP. A suppressed row keeps its place in the
 * outbox (staff see what was not sent, and why) and is never claimed
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "optout.h"
#include "store.h"
#include "xalloc.h"

int
optout_set(struct store_tx *tx, const char *phone, int is_out, const char *word,
	   const char *source, struct cbd_err *err)
{
	return store_exec(tx, err,
			  "INSERT INTO sms_optouts (phone, is_opted_out, word, "
			  "source, changed_at) VALUES (?, ?, ?, ?, ?) ON "
			  "DUPLICATE KEY UPDATE is_opted_out = "
			  "VALUES(is_opted_out), word = VALUES(word), source = "
			  "VALUES(source), changed_at = VALUES(changed_at)",
			  "sissi", phone, (int64_t)(is_out != 0), word, source,
			  clock_now()) < 0
		       ? -1
		       : 0;
}

/* "(1,2,3)": ids are our own integers from our own rows, never input. */
static char *
optout_id_list(const int64_t *ids, size_t n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%lld", i ? "," : "(", (long long)ids[i]);
	fputs(")", f);
	fclose(f);
	return s;
}

int
optout_suppress_claimed(struct store_tx *tx, const int64_t *ids, size_t n,
			int64_t **out, size_t *nout, struct cbd_err *err)
{
	struct store_rows *r = NULL;
	char *list, *sql;
	int64_t changed;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	list = optout_id_list(ids, n);
	/* Without a number in the payload (a text rendered at send time),
	 * the callback's customer is whom it goes to. */
	sql = xasprintf(
		"UPDATE outbox SET status = 'suppressed', last_error = 'not "
		"sent: the number opted out of texts (STOP)' WHERE id IN %s "
		"AND status = 'pending' AND EXISTS (SELECT 1 FROM sms_optouts "
		"s WHERE s.is_opted_out = 1 AND s.phone = "
		"COALESCE(JSON_VALUE(outbox.payload, '$.to'), (SELECT cu.phone "
		"FROM callbacks c JOIN customers cu ON cu.id = c.customer_id "
		"WHERE c.id = outbox.callback_id)))",
		list);
	changed = store_exec_built(tx, err, sql, "");
	free(sql);
	if (changed <= 0) {
		rc = changed < 0 ? -1 : 0;
		goto out;
	}
	sql = xasprintf("SELECT id FROM outbox WHERE id IN %s AND status = "
			"'suppressed'",
			list);
	r = store_query_built(tx, err, sql, "");
	free(sql);
	if (r == NULL)
		goto out;
	*nout = store_rows_count(r);
	*out = xcalloc(*nout ? *nout : 1, sizeof(**out));
	for (size_t i = 0; i < *nout; i++)
		(*out)[i] = store_rows_int(r, i, 0, 0);
	rc = 0;
out:
	store_rows_free(r);
	free(list);
	return rc;
}

/* The three members from an opt-out flag and an undeliverable error
 * (NULL: the number is not flagged). */
static void
optout_set_members(json_t *customer, const char *out, const char *undeliverable)
{
	json_object_set_new(customer, "sms_opted_out",
			    json_boolean(out != NULL && strcmp(out, "0")));
	json_object_set_new(customer, "phone_undeliverable",
			    json_boolean(undeliverable != NULL));
	json_object_set_new(customer, "phone_undeliverable_error",
			    undeliverable != NULL && *undeliverable
				    ? json_string(undeliverable)
				    : json_null());
}

int
optout_annotate(struct store_tx *tx, json_t *customer, struct cbd_err *err)
{
	const char *phone =
		json_string_value(json_object_get(customer, "phone"));
	struct store_rows *r;
	const char *out, *undeliverable;

	if (phone == NULL)
		return 0;
	r = store_query(tx, err,
			"SELECT (SELECT is_opted_out FROM sms_optouts WHERE "
			"phone = ?), (SELECT COALESCE(phone_undeliverable_"
			"error, '') FROM customers WHERE phone = ? AND "
			"phone_undeliverable_at IS NOT NULL)",
			"ss", phone, phone);
	if (r == NULL)
		return -1;
	out = store_rows_str(r, 0, 0);
	undeliverable = store_rows_str(r, 0, 1);
	optout_set_members(customer, out, undeliverable);
	store_rows_free(r);
	return 0;
}

int
optout_annotate_callbacks(struct store_tx *tx, json_t *items, const char *ids,
			  struct cbd_err *err)
{
	struct store_rows *r;
	json_t *item;
	size_t i;
	char *sql;

	if (json_array_size(items) == 0)
		return 0;
	/* The callback's customer is the one whose phone the item shows
	 * (customers.phone is unique): what optout_annotate reads by phone,
	 * for the whole page at once. */
	sql = xasprintf("SELECT c.id, (SELECT o.is_opted_out FROM sms_optouts "
			"o WHERE o.phone = cu.phone), IF(cu.phone_undeliver"
			"able_at IS NULL, NULL, COALESCE(cu.phone_undeliver"
			"able_error, '')) FROM callbacks c JOIN customers cu "
			"ON cu.id = c.customer_id WHERE c.id IN (%s)",
			ids);
	r = store_query_built(tx, err, sql, "");
	free(sql);
	if (r == NULL)
		return -1;
	json_array_foreach(items, i, item)
	{
		int64_t id = json_integer_value(json_object_get(item, "id"));
		json_t *customer = json_object_get(item, "customer");
		for (size_t k = 0; customer != NULL && k < store_rows_count(r);
		     k++)
			if (store_rows_int(r, k, 0, 0) == id) {
				optout_set_members(customer,
						   store_rows_str(r, k, 1),
						   store_rows_str(r, k, 2));
				break;
			}
	}
	store_rows_free(r);
	return 0;
}

int
optout_list(struct store_tx *tx, int64_t limit, const char *after, json_t **out,
	    struct cbd_err *err)
{
	/* Paged by the key itself (phone order), never by insert order. */
	struct store_rows *r = store_query(
		tx, err,
		"SELECT phone, word, source, changed_at FROM sms_optouts WHERE "
		"is_opted_out = 1 AND phone > ? ORDER BY phone LIMIT ?",
		"si", after ? after : "", limit);
	json_t *items;
	size_t n;

	if (r == NULL)
		return -1;
	items = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			items,
			json_pack("{s:s, s:s, s:s, s:o}", "phone",
				  store_rows_str(r, i, 0), "word",
				  store_rows_str(r, i, 1), "source",
				  store_rows_str(r, i, 2), "at",
				  api_time(store_rows_int(r, i, 3, 0), NULL)));
	*out = json_pack("{s:o, s:o}", "items", items, "next_cursor",
			 (int64_t)n == limit
				 ? json_string(store_rows_str(r, n - 1, 0))
				 : json_null());
	store_rows_free(r);
	return 0;
}
