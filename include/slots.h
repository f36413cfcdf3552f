/*
 * slots.h: what can be promised. Bookable slots come from the site's opening
 * hours and closures, the agents on shift for the whole slot, their per-slot
 * capacity and what is already booked. Booking, rescheduling and the slot
 * list all use the same view, so a slot shown as available is one a booking
 * can get (until someone else takes it).
 */
#ifndef CBD_SLOTS_H
#define CBD_SLOTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct config;
struct store_tx;
struct slots_view;
struct routing_queue;

/* Check opening_hours, closures and site_timezone; -1 with err if bad. */
int slots_check_config(const struct config *cfg,
		       struct cbd_err *err) CBD_MUSTCHECK;
/* Start of the slot containing t. */
int64_t slots_align(const struct config *cfg, int64_t t);
/* Is the site open for the whole of [t, t + len)? */
int slots_is_open(const struct config *cfg, int64_t t, int64_t len);
/* The first instant >= t, on a quarter hour, when the site is open; 0 when
 * none by limit. */
int64_t slots_next_open(const struct config *cfg, int64_t t, int64_t limit);

/*
 * Load agents, shifts and bookings for [from, to). exclude_id leaves one
 * callback out of the counts (the one being moved). Agents without any
 * shift rule are unrostered: taken to be always on duty. With a routing
 * queue rq (NULL: the default), only agents with its skills are in the
 * view, and its site's hours and closures say when slots are bookable.
 */
int slots_view_load(struct store_tx *tx, const struct config *cfg,
		    const struct routing_queue *rq, int64_t from, int64_t to,
		    int64_t exclude_id, struct slots_view **out,
		    struct cbd_err *err) CBD_MUSTCHECK;
void slots_view_free(struct slots_view *v); /* NULL ok */
/* Mark the agents who worked case_id (claimed, called, owned or were
 * handed it; 0: none): picks prefer them after the case owner. */
int slots_view_mark_worked(struct store_tx *tx, struct slots_view *v,
			   int64_t case_id, struct cbd_err *err) CBD_MUSTCHECK;
/* Free places in the slot starting at t (0 when closed or full). */
int slots_view_available(const struct slots_view *v, int64_t t);
/* Is agent on duty for the whole slot at t (or at instant t, len 0)? */
int slots_view_on_duty(const struct slots_view *v, int64_t agent_id, int64_t t,
		       int64_t len);
/* Active agents in the view. */
size_t slots_view_agents(const struct slots_view *v);
/* Agents on duty at instant t. */
size_t slots_view_on_duty_count(const struct slots_view *v, int64_t t);
/*
 * The agent to own a callback in the slot at t into *owner: prefer (the
 * case owner) if they have room, else the agent with room whose rest of
 * the shift is least busy with it added: (open calls due from t to the
 * end of their stretch on duty + 1) / (time from t to that end), random
 * among equals. *owner 0 when nobody has room.
 */
int slots_view_pick(struct store_tx *tx, const struct slots_view *v, int64_t t,
		    int64_t prefer, int64_t *owner,
		    struct cbd_err *err) CBD_MUSTCHECK;
/* The same for an ASAP call at instant t: anyone on duty with at least
 * avg_handle_sec of their shift left, no slot cap; the calls waiting in
 * their queue count as their work. */
int slots_view_pick_now(struct store_tx *tx, const struct slots_view *v,
			int64_t t, int64_t prefer, int64_t *owner,
			struct cbd_err *err) CBD_MUSTCHECK;

/* Does agent have room in the slot at t (on duty for all of it, not full)? */
int slots_view_has_room(const struct slots_view *v, int64_t agent_id,
			int64_t t);
/* Agents on duty for the whole slot at t, whether or not they have room:
 * 0 means nobody works then, as opposed to a slot that is full. */
size_t slots_view_staffed(const struct slots_view *v, int64_t t);

/* First bookable slot start >= from with room, within days; 0 when none.
 * agent_id > 0: room with that agent only. exclude_id as in the view. */
int slots_next_available(struct store_tx *tx, const struct config *cfg,
			 const struct routing_queue *rq, int64_t from, int days,
			 int64_t agent_id, int64_t exclude_id, int64_t *out,
			 struct cbd_err *err) CBD_MUSTCHECK;
/*
 * GET /v1/slots: [{start, end, available}] in zone tz for [from, to);
 * with owner_id > 0 each slot also says whether that agent can take it.
 */
int slots_list(struct store_tx *tx, const struct config *cfg,
	       const struct routing_queue *rq, int64_t from, int64_t to,
	       const char *tz, int64_t owner_id, json_t **out,
	       struct cbd_err *err) CBD_MUSTCHECK;

#endif
