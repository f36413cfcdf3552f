/*
 * callback.h: the callback state machine and its SQL.
 *
 *   pending (ASAP) ---claim---> in_progress ---reached---> completed
 *   scheduled ----------^           |---no_answer/busy--> retry_wait -> ...
 *   any open ---cancel---> cancelled   |---attempts out / wrong number-->
 * failed
 *
 * Every open callback has exactly one owner; agents.open_count follows it
 * in the same transaction. Every change writes a case event and the
 * messages it causes (outbox) in that same transaction.
 */
#ifndef CBD_CALLBACK_H
#define CBD_CALLBACK_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"

struct store_tx;
struct config;

/* SQL list of states in which a callback is open (still to be called). */
#define CALLBACK_OPEN_STATES "'pending','scheduled','in_progress','retry_wait'"

struct callback_booking {
	const char *name;
	const char *phone;
	const char *email; /* NULL: none */
	const char *timezone;
	const char *topic;
	const char *queue; /* routing queue name; NULL: by topic, or default */
	int is_asap;
	int64_t when; /* UTC, when not ASAP */
	int notify_email;
	int notify_sms;
	int force_new;
	const char *actor;     /* "customer", "agent:7" ... */
	const char *client_ip; /* for per-address limits */
	const char *language;  /* canonical BCP 47 */
	char phone_e164[24];   /* phone points here once parsed */
	char language_tag[36]; /* language points here */
};

/* Who is asking to see or change a callback. */
struct callback_caller {
	unsigned role;     /* enum http_role */
	int64_t agent_id;  /* agent keys */
	const char *token; /* manage token (customers) */
	const char *actor; /* for the timeline */
};

/*
 * Choose the owner for a callback at when (or now, for ASAP) under the
 * booking rules: opening hours, notice, shifts and per-slot capacity,
 * preferring prefer (the case owner) when they have room. For a time, takes
 * the slot's lock row so concurrent bookings of one slot cannot overbook.
 * exclude_id is left out of the counts (the callback being moved). tz
 * renders the next free slot in errors. Returns 0 with *owner, or -1 with
 * err (409 slot-full / outside-hours / no-agents-on-duty, 422 too-soon).
 * A slot nobody works is no-agents-on-duty; one whose agents are all
 * booked is slot-full.
 */
int callback_place(struct store_tx *tx, const struct config *cfg,
		   int64_t queue_id, int64_t case_id, int is_asap, int64_t when,
		   int64_t prefer, int64_t exclude_id, const char *tz,
		   int64_t *owner, struct cbd_err *err) CBD_MUSTCHECK;
/* The same; with owner_only, prefer (the case owner) or nobody: 409
 * owner-unavailable with their next free slot. queue_id is the routing
 * queue (0: default): only agents with its skills are candidates, and its
 * site's hours apply (routing_queue.h). After prefer, agents who worked
 * case_id (0: a new case) come first, then the best match by skill level,
 * then the least busy shift. */
int callback_place_for(struct store_tx *tx, const struct config *cfg,
		       int64_t queue_id, int64_t case_id, int is_asap,
		       int64_t when, int64_t prefer, int owner_only,
		       int64_t exclude_id, const char *tz, int64_t *owner,
		       struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Book. On success *out is the answer body (with manage_token) and
 * *status 201; or, when the phone already has an open callback and
 * force_new is not set, 202 with callback_link_sent_json() after texting
 * that callback's link to the phone. The name, e-mail and zone given are
 * kept on the callback; an existing customer row is never changed.
 */
int callback_book(struct store_tx *tx, const struct config *cfg,
		  const struct callback_booking *b, json_t **out, int *status,
		  struct cbd_err *err) CBD_MUSTCHECK;
/*
 * "Send me my link": after the per-phone and per-address limits (429),
 * text the manage link of phone's first open callback to that phone, if it
 * has one. *out is the same whether or not it has (callback_link_sent_json).
 */
int callback_request_link(struct store_tx *tx, const struct config *cfg,
			  const char *phone, const char *client_ip,
			  json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/* The answer to a link request, and to a returning customer's booking. */
json_t *callback_link_sent_json(void);
/* The callback as the caller may see it; 404 for a foreign token, 401
 * token-expired for a token past its time. */
int callback_get(struct store_tx *tx, const struct config *cfg, int64_t id,
		 const struct callback_caller *who, json_t **out,
		 struct cbd_err *err) CBD_MUSTCHECK;
/* Whom the customer wants at a reschedule. */
enum callback_choice {
	CALLBACK_CHOICE_ANY,         /* the owner if they can, else anyone */
	CALLBACK_CHOICE_SAME_PERSON, /* the owner or nobody (409) */
	CALLBACK_CHOICE_EARLIEST,    /* anyone; the owner changes with a note */
};
/*
 * Move to a new time (same id, invite sequence + 1). when 0 (not ASAP):
 * the first slot the choice allows. When the owner changes, the answer
 * names the previous one (previous_owner).
 */
int callback_reschedule(struct store_tx *tx, const struct config *cfg,
			int64_t id, const struct callback_caller *who,
			int is_asap, int64_t when, enum callback_choice choice,
			json_t **out, struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Who would call if callback id moved to when (a follow-up agreed on the
 * phone): the placement the move itself makes (the owner if they have
 * room then, else the likeliest other agent), nothing written. *out:
 * {at (the slot), agent {id, display_name}, is_owner, owner {...}}; or the
 * move's own refusals (too-soon, outside-hours, slot-full, ...).
 */
int callback_who_calls(struct store_tx *tx, const struct config *cfg,
		       int64_t id, int64_t when, json_t **out,
		       struct cbd_err *err) CBD_MUSTCHECK;
/* Cancel (frees capacity, sends CANCEL). */
int callback_cancel(struct store_tx *tx, const struct config *cfg, int64_t id,
		    const struct callback_caller *who, json_t **out,
		    struct cbd_err *err) CBD_MUSTCHECK;
/* The current invite as iCalendar text (caller frees). */
int callback_invite_ics(struct store_tx *tx, const struct config *cfg,
			int64_t id, const struct callback_caller *who,
			char **out, struct cbd_err *err) CBD_MUSTCHECK;
/* Write the messages a change causes (event: enum notify_event), from the
 * callback as it is now in tx. prev_owner_name for owner changes. */
int callback_notify(struct store_tx *tx, const struct config *cfg, int64_t id,
		    int event, const char *prev_owner_name,
		    struct cbd_err *err) CBD_MUSTCHECK;
/* The agent's open callbacks in due order, with customer and case context. */
int callback_queue(struct store_tx *tx, int64_t agent_id, int64_t limit,
		   int64_t after_id, json_t **out,
		   struct cbd_err *err) CBD_MUSTCHECK;

#endif
