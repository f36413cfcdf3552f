/*
 * outbox.c: the transactional outbox: enqueue inside the caller's
 * transaction, and the dispatcher that sends.
 *
 * Design note. The dispatcher is a persistent loop timer. Each tick, unless
 * enough sends are already in flight, it submits a claim job: SELECT the due
 * pending rows FOR UPDATE SKIP LOCKED (other instances skip what we hold),
 * give them a lease (lease_until = now + lease) and count the attempt, and
 * commit. Back on the loop each claimed row becomes one curl transfer on
 * curlloop. Results are collected and written back in batches by a record
 * job: sent, retry later (exponential backoff with jitter, by moving
 * lease_until), or dead (not retriable, or older than outbox_max_age_sec).
 * A daemon that dies mid-send leaves its rows leased: when the lease runs
 * out any dispatcher claims them again and sends with the same msg_id, so
 * delivery is at least once and a deduping receiver sees each message once.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api.h"
#include "clock.h"
#include "config.h"
#include "curlloop.h"
#include "ics.h"
#include "log.h"
#include "mailer.h"
#include "optout.h"
#include "metrics.h"
#include "sms.h"
#include "sms_receipt.h"
#include "timefmt.h"
#include "webhook.h"
#include "keys.h"
#include "callback_row.h"
#include "outbox.h"
#include "render.h"
#include "store.h"
#include "xalloc.h"

static const char *const outbox_channel_names[] = { "email", "sms", "webhook" };

/*
 * Batch mode, for bulk changes inside one job: rows and withdrawals are
 * gathered per worker thread and written at outbox_batch_end, withdrawals
 * first (they must only touch rows that existed before this change).
 * Withdrawals keep the caller's list of kinds by pointer (a static list):
 * callbacks withdrawn with the same list share one UPDATE per 1000.
 */
static __thread struct {
	int is_on;
	struct store_batch *rows;
	int64_t *withdraw_ids;
	const char *const **withdraw_kinds;
	size_t *withdraw_nkinds;
	size_t nwithdraw, capwithdraw;
} outbox_tls;

void
outbox_batch_begin(void)
{
	outbox_batch_abort();
	outbox_tls.is_on = 1;
	outbox_tls.rows = store_batch_new(
		"INSERT INTO outbox (msg_id, channel, kind, callback_id, "
		"payload, due_at, created_at) VALUES",
		"sssnsii");
}

void
outbox_batch_abort(void)
{
	store_batch_free(outbox_tls.rows);
	free(outbox_tls.withdraw_ids);
	free(outbox_tls.withdraw_kinds);
	free(outbox_tls.withdraw_nkinds);
	memset(&outbox_tls, 0, sizeof(outbox_tls));
}

/* "UPDATE ... WHERE status = 'pending' AND kind IN (...) AND " into f. The
 * kinds are our own literals (checked): safe to write into the SQL. */
static void
outbox_withdraw_sql(FILE *f, const char *const *kinds, size_t nkinds)
{
	fprintf(f, "UPDATE outbox SET status = 'withdrawn' WHERE status = "
		   "'pending' AND kind IN (");
	for (size_t k = 0; k < nkinds; k++) {
		assert(strspn(kinds[k], "abcdefghijklmnopqrstuvwxyz._") ==
		       strlen(kinds[k]));
		fprintf(f, "%s'%s'", k ? "," : "", kinds[k]);
	}
	fprintf(f, ") AND ");
}

/* The gathered withdrawals with this list of kinds, first..first+1000. */
static int
outbox_batch_withdraw(struct store_tx *tx, const char *const *kinds,
		      size_t nkinds, size_t first, struct cbd_err *err)
{
	char *sql = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&sql, &len);
	int64_t res;

	outbox_withdraw_sql(f, kinds, nkinds);
	fprintf(f, "callback_id IN (");
	/* Ids are our own integers, never input. */
	for (size_t i = first; i < outbox_tls.nwithdraw && i < first + 1000;
	     i++) {
		if (outbox_tls.withdraw_kinds[i] != kinds)
			continue;
		fprintf(f, "%s%lld", n++ ? "," : "",
			(long long)outbox_tls.withdraw_ids[i]);
	}
	fprintf(f, ")");
	fclose(f);
	res = n ? store_exec_built(tx, err, sql, "") : 0;
	free(sql);
	return res < 0 ? -1 : 0;
}

int
outbox_batch_end(struct store_tx *tx, struct cbd_err *err)
{
	int rc = -1;

	/* One pass per distinct list; notify uses one. */
	for (size_t k = 0; k < outbox_tls.nwithdraw; k++) {
		const char *const *kinds = outbox_tls.withdraw_kinds[k];
		size_t j;

		for (j = 0; j < k && outbox_tls.withdraw_kinds[j] != kinds; j++)
			;
		if (j < k)
			continue; /* done with an earlier entry */
		for (size_t first = 0; first < outbox_tls.nwithdraw;
		     first += 1000)
			if (outbox_batch_withdraw(tx, kinds,
						  outbox_tls.withdraw_nkinds[k],
						  first, err) != 0)
				goto out;
	}
	if (store_batch_flush(tx, outbox_tls.rows, err) != 0)
		goto out;
	rc = 0;
out:
	outbox_batch_abort();
	return rc;
}

int
outbox_enqueue(struct store_tx *tx, enum outbox_channel channel,
	       const char *kind, int64_t callback_id, json_t *payload,
	       int64_t due_at, struct cbd_err *err)
{
	char msg_id[37];
	char *body = json_dumps(payload, JSON_COMPACT);
	int64_t n;

	/* The id is made once, here: every retry sends the same one, so a
	 * receiver that dedupes never shows a message twice. */
	keys_uuid(msg_id);
	if (outbox_tls.is_on) {
		store_batch_add(outbox_tls.rows, msg_id,
				outbox_channel_names[channel], kind,
				callback_id > 0 ? callback_id : STORE_NULL,
				body, due_at, clock_now());
		free(body);
		return 0;
	}
	n = store_exec(tx, err,
		       "INSERT INTO outbox (msg_id, channel, kind, callback_id,"
		       " payload, due_at, created_at) VALUES (?, ?, ?, ?, ?, "
		       "?, ?)",
		       "sssnsii", msg_id, outbox_channel_names[channel], kind,
		       callback_id > 0 ? callback_id : STORE_NULL, body, due_at,
		       clock_now());
	free(body);
	return n < 0 ? -1 : 0;
}

int
outbox_withdraw_pending(struct store_tx *tx, int64_t callback_id,
			const char *const *kinds, size_t nkinds,
			struct cbd_err *err)
{
	char *sql = NULL;
	size_t len = 0;
	FILE *f;
	int64_t res;

	if (outbox_tls.is_on) {
		if (outbox_tls.nwithdraw == outbox_tls.capwithdraw) {
			size_t cap = outbox_tls.capwithdraw
					     ? outbox_tls.capwithdraw * 2
					     : 256;
			outbox_tls.withdraw_ids = xrealloc(
				outbox_tls.withdraw_ids, cap * sizeof(int64_t));
			outbox_tls.withdraw_kinds = xrealloc(
				outbox_tls.withdraw_kinds,
				cap * sizeof(*outbox_tls.withdraw_kinds));
			outbox_tls.withdraw_nkinds =
				xrealloc(outbox_tls.withdraw_nkinds,
					 cap * sizeof(size_t));
			outbox_tls.capwithdraw = cap;
		}
		outbox_tls.withdraw_ids[outbox_tls.nwithdraw] = callback_id;
		outbox_tls.withdraw_kinds[outbox_tls.nwithdraw] = kinds;
		outbox_tls.withdraw_nkinds[outbox_tls.nwithdraw] = nkinds;
		outbox_tls.nwithdraw++;
		return 0;
	}
	f = open_memstream(&sql, &len);
	outbox_withdraw_sql(f, kinds, nkinds);
	fprintf(f, "callback_id = ?");
	fclose(f);
	res = store_exec_built(tx, err, sql, "i", callback_id);
	free(sql);
	return res < 0 ? -1 : 0;
}

int
outbox_list(struct store_tx *tx, int64_t callback_id, json_t **out,
	    struct cbd_err *err)
{
	struct store_rows *r = store_query(
		tx, err,
		"SELECT msg_id, channel, kind, status, attempts, due_at, "
		"sent_at, last_error, created_at, delivery_status, "
		"delivery_error FROM outbox WHERE "
		"callback_id = ? ORDER BY id",
		"i", callback_id);
	size_t n;

	if (r == NULL)
		return -1;
	*out = json_array();
	n = store_rows_count(r);
	for (size_t i = 0; i < n; i++) {
		const char *sent = store_rows_str(r, i, 6);
		const char *last = store_rows_str(r, i, 7);
		const char *ds = store_rows_str(r, i, 9);
		const char *de = store_rows_str(r, i, 10);
		json_array_append_new(
			*out,
			json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, "
				  "s:o}",
				  "id", store_rows_str(r, i, 0), "channel",
				  store_rows_str(r, i, 1), "kind",
				  store_rows_str(r, i, 2), "status",
				  store_rows_str(r, i, 3), "attempts",
				  (json_int_t)store_rows_int(r, i, 4, 0),
				  "due_at",
				  api_time(store_rows_int(r, i, 5, 0), NULL),
				  "sent_at",
				  sent ? api_time(strtoll(sent, NULL, 10), NULL)
				       : json_null(),
				  "last_error",
				  last ? json_string(last) : json_null(),
				  "created_at",
				  api_time(store_rows_int(r, i, 8, 0), NULL)));
		/* What the SMS provider's receipts said of it. */
		json_object_set_new(json_array_get(*out, i), "delivery_status",
				    ds ? json_string(ds) : json_null());
		json_object_set_new(json_array_get(*out, i), "delivery_error",
				    de ? json_string(de) : json_null());
	}
	store_rows_free(r);
	return 0;
}

/* ---- the dispatcher ---- */

/* Retry delays after attempt n (1-based), after Svix's schedule. */
static const int outbox_backoff_sec[] = { 5,     300,   1800, 7200,
					  18000, 36000, 36000 };

/* A claimed message, from the claim job to its send and its record. */
struct outbox_msg {
	struct outbox *ob;
	int64_t id;
	char msg_id[37];
	int channel; /* enum outbox_channel */
	char kind[48];
	char *payload;
	int attempts; /* including this one */
	int64_t due_at;
	int64_t callback_id; /* 0: none */
	/* the outcome */
	int outcome; /* OUTBOX_SENT, OUTBOX_RETRY, OUTBOX_DEAD, OUTBOX_SKIP */
	char error[200];
	char provider_id[65]; /* SMS: the gateway's id of the text, or "" */
	struct outbox_msg *next;
	/* while sending: the outbox's list of transfers in flight */
	struct outbox_msg *snext, *sprev;
};

enum { OUTBOX_SENT, OUTBOX_RETRY, OUTBOX_DEAD, OUTBOX_SKIP };

struct outbox {
	struct event_base *base;
	const struct config *cfg;
	struct store_pool *pool;
	struct metrics *metrics;
	struct curlloop *curl;
	struct event *tick;
	int is_claiming;  /* a claim job is out */
	int is_recording; /* a record job is out */
	int is_stopped;
	int inflight;               /* transfers running */
	struct outbox_msg *sending; /* their messages, to free on abort */
	struct outbox_msg *done;    /* results waiting to be recorded */
	int ndone;
};

/* The claim job's argument and result. */
struct outbox_claim {
	struct outbox *ob;
	int64_t now;
	struct outbox_msg *msgs;
	int n;
};

static int
outbox_lease_sec(const struct config *cfg)
{
	return cfg->send_timeout_ms / 1000 + 30;
}

/*
 * Drop the claimed texts whose number said STOP, marking them suppressed.
 * Read here, at send time, from the database: the STOP may have reached
 * another instance after this text was queued.
 */
static int
outbox_drop_opted_out(struct store_tx *tx, struct outbox_claim *c,
		      struct cbd_err *err)
{
	struct outbox_msg **pp = &c->msgs, *m;
	int64_t *ids = xcalloc((size_t)c->n + 1, sizeof(*ids)), *out = NULL;
	size_t n = 0, nout = 0, i;

	for (m = c->msgs; m != NULL; m = m->next)
		if (m->channel == OUTBOX_SMS)
			ids[n++] = m->id;
	if (optout_suppress_claimed(tx, ids, n, &out, &nout, err) != 0) {
		free(ids);
		return -1;
	}
	while (nout > 0 && (m = *pp) != NULL) {
		for (i = 0; i < nout && out[i] != m->id; i++)
			;
		if (i == nout) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		c->n--;
		free(m->payload);
		free(m);
	}
	free(ids);
	free(out);
	return 0;
}

/* Render one claimed message's words into its payload. */
static void
outbox_render_one(const struct config *cfg, struct outbox_msg *m,
		  const struct store_rows *cbs)
{
	json_t *p = json_loads(m->payload, 0, NULL);
	ptrdiff_t i;

	if (p == NULL)
		return; /* the send says so */
	if (m->channel == OUTBOX_EMAIL) {
		render_email(cfg, p);
	} else if (m->channel == OUTBOX_SMS && cbs != NULL &&
		   (i = callback_row_find(cbs, m->callback_id)) >= 0) {
		render_sms(cfg, cbs, (size_t)i, p);
	}
	free(m->payload);
	m->payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
}

/*
 * Messages are rendered here, on the worker, just before they are sent:
 * a text from its callback as it is now (owner, time, language), an
 * e-mail from its own data. A text whose callback is gone keeps the body
 * it was queued with.
 */
static int
outbox_render(struct store_tx *tx, struct outbox_claim *c, struct cbd_err *err)
{
	struct store_rows *cbs = NULL;
	char *in = NULL, *sql;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&in, &len);

	/* Ids are integers from our own table, never input. */
	for (struct outbox_msg *m = c->msgs; m != NULL; m = m->next)
		if (m->channel == OUTBOX_SMS && m->callback_id > 0)
			fprintf(f, "%s%lld", n++ ? "," : "",
				(long long)m->callback_id);
	fclose(f);
	if (n > 0) {
		sql = xasprintf(CALLBACK_ROW_SELECT
				"WHERE c.id IN (%s) ORDER BY c.id",
				in);
		cbs = store_query_built(tx, err, sql, "");
		free(sql);
		if (cbs == NULL) {
			free(in);
			return -1;
		}
	}
	free(in);
	for (struct outbox_msg *m = c->msgs; m != NULL; m = m->next)
		outbox_render_one(c->ob->cfg, m, cbs);
	store_rows_free(cbs);
	return 0;
}

static int
outbox_claim_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct outbox_claim *c = arg;
	const struct config *cfg = c->ob->cfg;
	struct store_rows *r;
	char *sql = NULL;
	size_t n, len = 0;
	int64_t n2;
	FILE *f;
	int rc = -1;

	/* A deadlock retry runs us again: start from nothing. */
	while (c->msgs != NULL) {
		struct outbox_msg *m = c->msgs;
		c->msgs = m->next;
		free(m->payload);
		free(m);
	}
	c->n = 0;
	c->now = clock_now();
	r = store_query(
		tx, err,
		"SELECT id, msg_id, channel, kind, payload, attempts, "
		"due_at, callback_id FROM outbox WHERE status = 'pending' AND "
		"due_at <= ? AND lease_until <= ? ORDER BY due_at, id "
		"LIMIT ? FOR UPDATE SKIP LOCKED",
		"iii", c->now, c->now, (int64_t)cfg->outbox_batch);
	if (r == NULL)
		return -1;
	n = store_rows_count(r);
	if (n == 0) {
		store_rows_free(r);
		return 0;
	}
	f = open_memstream(&sql, &len);
	fprintf(f, "UPDATE outbox SET lease_until = ?, attempts = attempts + 1 "
		   "WHERE id IN (");
	for (size_t i = n; i-- > 0;) {
		struct outbox_msg *m = xcalloc(1, sizeof(*m));
		const char *ch = store_rows_str(r, i, 2);

		m->ob = c->ob;
		m->id = store_rows_int(r, i, 0, 0);
		snprintf(m->msg_id, sizeof(m->msg_id), "%s",
			 store_rows_str(r, i, 1));
		m->channel = !strcmp(ch, "email") ? OUTBOX_EMAIL
			     : !strcmp(ch, "sms") ? OUTBOX_SMS
						  : OUTBOX_WEBHOOK;
		snprintf(m->kind, sizeof(m->kind), "%s",
			 store_rows_str(r, i, 3));
		m->payload = xstrdup(store_rows_str(r, i, 4));
		m->attempts = (int)store_rows_int(r, i, 5, 0) + 1;
		m->due_at = store_rows_int(r, i, 6, 0);
		m->callback_id = store_rows_int(r, i, 7, 0);
		m->next = c->msgs;
		c->msgs = m;
		c->n++;
		/* Ids are integers read from our own table, never input. */
		fprintf(f, "%s%lld", i + 1 == n ? "" : ",", (long long)m->id);
	}
	fprintf(f, ") AND status = 'pending'");
	fclose(f);
	/* Every locked row must change (attempts always does): on Galera
	 * that change is what keeps another node's dispatcher from claiming
	 * the same messages, and a row that no longer matches means one did. */
	n2 = store_exec_built(tx, err, sql, "i",
			      c->now + outbox_lease_sec(cfg));
	if (n2 >= 0 && (size_t)n2 != n)
		n2 = store_conflict(tx, err, "outbox claim");
	if (n2 >= 0 && outbox_drop_opted_out(tx, c, err) != 0)
		n2 = -1;
	if (n2 >= 0 && outbox_render(tx, c, err) == 0)
		rc = 0;
	free(sql);
	store_rows_free(r);
	return rc;
}

static void outbox_send(struct outbox *ob, struct outbox_msg *m);
static void outbox_flush(struct outbox *ob);

static void
outbox_claim_done(void *arg, int rc, struct cbd_err *err)
{
	struct outbox_claim *c = arg;
	struct outbox *ob = c->ob;
	struct timeval now = { 0, 0 };
	int was_full = c->n >= ob->cfg->outbox_batch;

	ob->is_claiming = 0;
	if (rc != 0)
		log_warn("outbox claim failed", "error=\"%s\"", err->detail);
	while (c->msgs != NULL) {
		struct outbox_msg *m = c->msgs;
		c->msgs = m->next;
		m->next = NULL;
		if (ob->is_stopped) {
			/* Not sent: the lease expires and it goes again. */
			free(m->payload);
			free(m);
			continue;
		}
		outbox_send(ob, m);
	}
	free(c);
	/* A full batch means more is due: claim again at once. */
	if (rc == 0 && was_full && !ob->is_stopped)
		event_active(ob->tick, EV_TIMEOUT, 0);
	(void)now;
}

static void
outbox_finish(struct outbox_msg *m, int outcome, const char *error)
{
	struct outbox *ob = m->ob;

	m->outcome = outcome;
	snprintf(m->error, sizeof(m->error), "%s", error ? error : "");
	m->next = ob->done;
	ob->done = m;
	ob->ndone++;
	/* Record as soon as a batch is ready or nothing else is in flight,
	 * not only at the next tick: leases are short and claims wait. */
	if (ob->ndone >= ob->cfg->outbox_batch || ob->inflight == 0)
		outbox_flush(ob);
	switch (outcome) {
	case OUTBOX_SENT:
		metrics_add(ob->metrics, "callbackd_outbox_sent_total",
			    "Messages delivered.", 1);
		metrics_set(ob->metrics, "callbackd_outbox_lag_seconds",
			    "Delay between due time and delivery of the last "
			    "message sent.",
			    (double)(clock_now() - m->due_at));
		break;
	case OUTBOX_RETRY:
		metrics_add(ob->metrics, "callbackd_outbox_failed_total",
			    "Delivery attempts that failed and will be "
			    "retried.",
			    1);
		break;
	case OUTBOX_DEAD:
		metrics_add(ob->metrics, "callbackd_outbox_dead_total",
			    "Messages given up on.", 1);
		/* One line per death, never held as a repeat of the last:
		 * each names the message staff may requeue. */
		log_write_each(LOG_WARN, "message dead",
			       "msg_id=%s kind=%s attempts=%d "
			       "error=\"%s\"",
			       m->msg_id, m->kind, m->attempts, m->error);
		break;
	default:
		metrics_add(ob->metrics, "callbackd_outbox_skipped_total",
			    "Messages for channels not configured.", 1);
	}
}

/* Loop: a transfer ended; classify it. */
static void
outbox_sent_cb(CURLcode rc, long status, const char *errbuf, void *arg)
{
	struct outbox_msg *m = arg;
	struct outbox *ob = m->ob;
	char why[200];
	int retriable;

	ob->inflight--;
	if (m->sprev)
		m->sprev->snext = m->snext;
	else
		ob->sending = m->snext;
	if (m->snext)
		m->snext->sprev = m->sprev;
	if (rc == CURLE_OK && m->channel == OUTBOX_EMAIL) {
		outbox_finish(m, OUTBOX_SENT, NULL);
		return;
	}
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		if (m->channel == OUTBOX_SMS) {
			/* Twilio's 201 names the text ("sid"): receipts
			 * name it so too. */
			size_t blen;
			json_t *b = json_loads(
				curlloop_done_body(ob->curl, &blen), 0, NULL);
			const char *sid =
				json_string_value(json_object_get(b, "sid"));
			snprintf(m->provider_id, sizeof(m->provider_id), "%s",
				 sid ? sid : "");
			json_decref(b);
		}
		outbox_finish(m, OUTBOX_SENT, NULL);
		return;
	}
	if (rc != CURLE_OK) {
		/* For mail, the server's reply code says more than curl. */
		if (m->channel == OUTBOX_EMAIL && status > 0)
			snprintf(why, sizeof(why), "SMTP %ld (curl %d: %s)",
				 status, (int)rc,
				 errbuf && *errbuf ? errbuf
						   : curl_easy_strerror(rc));
		else
			snprintf(why, sizeof(why), "curl %d: %s", (int)rc,
				 errbuf && *errbuf ? errbuf
						   : curl_easy_strerror(rc));
		/* SMTP 5xx rejections are final; network trouble is not. */
		retriable = !(m->channel == OUTBOX_EMAIL && status >= 500);
	} else {
		snprintf(why, sizeof(why), "HTTP %ld", status);
		retriable = status != 410 && sms_status_is_retriable(status);
	}
	if (!retriable ||
	    clock_now() - m->due_at > ob->cfg->outbox_max_age_sec ||
	    m->attempts >= (int)CBD_ARRAY_LEN(outbox_backoff_sec) + 1)
		outbox_finish(m, OUTBOX_DEAD, why);
	else
		outbox_finish(m, OUTBOX_RETRY, why);
}

static const char *
outbox_str(json_t *p, const char *key)
{
	return json_string_value(json_object_get(p, key));
}

/* The payload was rendered at claim (render_email): words and data. */
static CURL *
outbox_build_email(struct outbox *ob, struct outbox_msg *m, json_t *p)
{
	const struct config *cfg = ob->cfg;
	const char *method = outbox_str(p, "method");
	struct ics_invite inv;
	struct mailer_msg mm;
	char uid[96], mid[96], *ics = NULL;
	CURL *easy;

	memset(&inv, 0, sizeof(inv));
	memset(&mm, 0, sizeof(mm));
	if (method != NULL) {
		snprintf(uid, sizeof(uid), "callback-%lld@callbackd",
			 (long long)json_integer_value(
				 json_object_get(p, "callback_id")));
		inv.uid = uid;
		inv.sequence =
			(int)json_integer_value(json_object_get(p, "sequence"));
		inv.is_cancel = !strcmp(method, "CANCEL");
		inv.start = json_integer_value(json_object_get(p, "start"));
		inv.end = json_integer_value(json_object_get(p, "end"));
		inv.dtstamp = clock_now();
		inv.tz = outbox_str(p, "tz");
		inv.organizer_email = cfg->service_email;
		inv.organizer_cn = outbox_str(p, "owner_name");
		inv.attendee_email = outbox_str(p, "to");
		inv.attendee_phone = outbox_str(p, "phone");
		inv.attendee_cn = outbox_str(p, "to_name");
		inv.summary = outbox_str(p, "summary");
		inv.description = outbox_str(p, "description");
		inv.alarm_min = 15;
		ics = ics_invite_build(&inv);
		mm.ics_method = inv.is_cancel ? "CANCEL" : "REQUEST";
	}
	snprintf(mid, sizeof(mid), "<%s@callbackd>", m->msg_id);
	mm.smtp_url = cfg->smtp_url;
	mm.from = cfg->service_email;
	mm.from_name = cfg->service_name;
	mm.to = outbox_str(p, "to");
	mm.subject = outbox_str(p, "subject");
	mm.text = outbox_str(p, "text");
	mm.ics = ics;
	mm.message_id = mid;
	mm.date = clock_now();
	easy = mailer_easy_new(&mm);
	free(ics);
	return easy;
}

/* Loop: start one message's transfer, or finish it at once. */
static void
outbox_send(struct outbox *ob, struct outbox_msg *m)
{
	const struct config *cfg = ob->cfg;
	json_t *p = json_loads(m->payload, 0, NULL);
	CURL *easy = NULL;

	if (p == NULL) {
		outbox_finish(m, OUTBOX_DEAD, "payload is not JSON");
		return;
	}
	switch (m->channel) {
	case OUTBOX_WEBHOOK:
		if (cfg->webhook_url[0] == '\0')
			break;
		easy = webhook_easy_new(cfg->webhook_url, cfg->webhook_secrets,
					m->msg_id, clock_now(), m->payload);
		break;
	case OUTBOX_SMS:
		if (!strcmp(cfg->sms_mode, "twilio")) {
			char *cb = sms_receipt_callback_url(cfg, m->msg_id);
			struct sms_twilio tw = { cfg->sms_url,
						 cfg->twilio_account_sid,
						 cfg->twilio_auth_token,
						 cfg->twilio_from,
						 NULL,
						 cb };
			struct sms_msg sm = {
				m->msg_id,
				json_string_value(json_object_get(p, "to")),
				json_string_value(json_object_get(p, "body")),
			};
			easy = sms_twilio_easy_new(&tw, &sm);
			free(cb);
		} else if (!strcmp(cfg->sms_mode, "webhook") &&
			   cfg->sms_url[0] != '\0') {
			json_t *b = json_pack("{s:s, s:s, s:O, s:O}", "type",
					      "sms", "msg_id", m->msg_id, "to",
					      json_object_get(p, "to"), "body",
					      json_object_get(p, "body"));
			char *body = json_dumps(b, JSON_COMPACT);
			easy = webhook_easy_new(cfg->sms_url,
						cfg->webhook_secrets, m->msg_id,
						clock_now(), body);
			free(body);
			json_decref(b);
		}
		break;
	case OUTBOX_EMAIL:
		if (cfg->smtp_url[0] == '\0')
			break;
		easy = outbox_build_email(ob, m, p);
		break;
	}
	json_decref(p);
	if (easy == NULL) {
		outbox_finish(m, OUTBOX_SKIP, "channel not configured");
		return;
	}
	ob->inflight++;
	m->sprev = NULL;
	m->snext = ob->sending;
	if (ob->sending)
		ob->sending->sprev = m;
	ob->sending = m;
	curlloop_add(ob->curl, easy, cfg->send_timeout_ms, outbox_sent_cb, m);
}

/* The record job: write a batch of outcomes in one transaction. Each
 * applies only to the claim it came from (attempts as claimed): a staff
 * requeue (attempts back to 0) or a later claim after the lease ran out
 * is newer than this outcome, which then changes nothing. */
static int
outbox_record_work(struct store_tx *tx, void *arg, struct cbd_err *err)
{
	struct outbox_msg *m;
	int64_t now = clock_now();

	for (m = arg; m != NULL; m = m->next) {
		int64_t n = 0;

		switch (m->outcome) {
		case OUTBOX_SENT:
			n = store_exec(tx, err,
				       "UPDATE outbox SET status = 'sent', "
				       "sent_at = ?, last_error = NULL, "
				       "payload = ?, provider_id = "
				       "COALESCE(NULLIF(?, ''), provider_id) "
				       "WHERE id = ? AND attempts = ?",
				       "issii", now, m->payload, m->provider_id,
				       m->id, (int64_t)m->attempts);
			break;
		case OUTBOX_RETRY: {
			int k = m->attempts - 1;
			int64_t delay = outbox_backoff_sec
				[k < (int)CBD_ARRAY_LEN(outbox_backoff_sec)
					 ? k
					 : (int)CBD_ARRAY_LEN(
						   outbox_backoff_sec) -
						   1];
			/* Up to 20 % jitter so retries do not arrive in step.
			 */
			delay += (int64_t)(rand() % (int)(delay / 5 + 1));
			n = store_exec(tx, err,
				       "UPDATE outbox SET lease_until = ?, "
				       "last_error = ? WHERE id = ? AND "
				       "attempts = ?",
				       "isii", now + delay, m->error, m->id,
				       (int64_t)m->attempts);
			break;
		}
		case OUTBOX_DEAD:
		case OUTBOX_SKIP:
			n = store_exec(tx, err,
				       "UPDATE outbox SET status = ?, "
				       "last_error = ? WHERE id = ? AND "
				       "attempts = ?",
				       "ssii",
				       m->outcome == OUTBOX_DEAD ? "dead"
								 : "skipped",
				       m->error, m->id, (int64_t)m->attempts);
			break;
		}
		if (n < 0)
			return -1;
	}
	return 0;
}

static void
outbox_record_done(void *arg, int rc, struct cbd_err *err)
{
	struct outbox_msg *m = arg, *next;
	struct outbox *ob = NULL;

	if (rc != 0)
		log_warn("outbox record failed: messages will be retried",
			 "error=\"%s\"", err->detail);
	for (; m != NULL; m = next) {
		next = m->next;
		ob = m->ob;
		free(m->payload);
		free(m);
	}
	if (ob != NULL)
		ob->is_recording = 0;
}

static void
outbox_flush(struct outbox *ob)
{
	struct outbox_msg *batch = ob->done;

	if (batch == NULL || ob->is_recording)
		return;
	ob->done = NULL;
	ob->ndone = 0;
	ob->is_recording = 1;
	if (store_submit(ob->pool, outbox_record_work, outbox_record_done,
			 batch) != 0) {
		/* Queue full: keep them for the next tick. */
		ob->done = batch;
		ob->is_recording = 0;
	}
}

static void
outbox_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct outbox *ob = arg;
	struct outbox_claim *c;

	(void)fd;
	(void)what;
	outbox_flush(ob);
	if (ob->is_stopped || ob->is_claiming ||
	    ob->inflight >= 4 * ob->cfg->outbox_batch)
		return;
	c = xcalloc(1, sizeof(*c));
	c->ob = ob;
	ob->is_claiming = 1;
	if (store_submit(ob->pool, outbox_claim_work, outbox_claim_done, c) !=
	    0) {
		ob->is_claiming = 0;
		free(c);
	}
}

struct outbox *
outbox_new(struct event_base *base, const struct config *cfg,
	   struct store_pool *pool, struct metrics *metrics)
{
	struct outbox *ob = xcalloc(1, sizeof(*ob));
	struct timeval tv;

	ob->base = base;
	ob->cfg = cfg;
	ob->pool = pool;
	ob->metrics = metrics;
	ob->curl = curlloop_new(base);
	ob->tick = event_new(base, -1, EV_PERSIST, outbox_tick_cb, ob);
	tv.tv_sec = cfg->outbox_poll_ms / 1000;
	tv.tv_usec = (cfg->outbox_poll_ms % 1000) * 1000;
	event_add(ob->tick, &tv);
	return ob;
}

void
outbox_stop(struct outbox *ob)
{
	ob->is_stopped = 1;
	outbox_flush(ob);
}

void
outbox_free(struct outbox *ob)
{
	struct outbox_msg *m, *next;

	if (ob == NULL)
		return;
	event_free(ob->tick);
	/* Abandoned transfers keep their lease and are sent again later. */
	curlloop_free(ob->curl);
	for (m = ob->sending; m != NULL; m = next) {
		next = m->snext;
		free(m->payload);
		free(m);
	}
	for (m = ob->done; m != NULL; m = next) {
		next = m->next;
		free(m->payload);
		free(m);
	}
	free(ob);
}

int
outbox_inflight(const struct outbox *ob)
{
	return ob->inflight;
}
