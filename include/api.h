/*
 * api.h: the route tables, one per HTTP resource. Each api_*.c parses and
 * validates, calls one domain function, and answers; http.c enforces the
 * roles written in these tables.
 */
#ifndef CBD_API_H
#define CBD_API_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"
#include "http.h"

extern const struct http_route api_ops_routes[];
extern const struct http_route api_keys_routes[];
extern const struct http_route api_agents_routes[];
extern const struct http_route api_callbacks_routes[];
extern const struct http_route api_queue_routes[];
extern const struct http_route api_shifts_routes[];
extern const struct http_route api_cases_routes[];
extern const struct http_route api_slots_routes[];
extern const struct http_route api_handoffs_routes[];
extern const struct http_route api_sessions_routes[];
extern const struct http_route api_events_routes[];
extern const struct http_route api_staff_audit_routes[];
extern const struct http_route api_messages_routes[];
extern const struct http_route api_routing_routes[];
extern const struct http_route api_sms_routes[];
extern const struct http_route api_report_routes[];

/* All tables, NULL-terminated, in matching order. */
extern const struct http_route *const api_tables[];

/* Pagination: limit in [1, 200] (default 50) and an opaque cursor that
 * carries the last id seen. Returns 0, or -1 with a field error. */
int api_page_parse(const struct http_req *r, int64_t *limit, int64_t *after_id,
		   struct cbd_err *err) CBD_MUSTCHECK;
/* {"items": items, "next_cursor": ...}; steals items. */
json_t *api_page_wrap(json_t *items, int64_t limit, int64_t last_id);
struct callback_caller;
/* The caller of r as the domain modules see it; actor is written to buf. */
void api_caller(const struct http_req *r, struct callback_caller *who,
		char *actor, size_t size);
/* A time as RFC 3339 JSON string in zone tz (NULL: UTC). */
json_t *api_time(int64_t t, const char *tz);
/* ?tz=: *tz the zone named (NULL when none). -1 with 400 when unknown. */
int api_tz_parse(const struct http_req *r, const char **tz,
		 struct cbd_err *err) CBD_MUSTCHECK;
/* With tz, add "<stem>_local" (RFC 3339 in tz) beside every "<stem>_at"
 * time in items, an array or object; NULL tz: nothing. */
void api_localize(json_t *items, const char *tz);

struct store_tx;
/*
 * The customer's side of /v1/callbacks with r->body in the JSON API's shape,
 * for the API and the book and manage pages' forms alike (one set of rules):
 * book (*status 201, or 202 when the phone already has a callback), move
 * (PATCH: when?, choice?; the callback is path parameter 0) and the
 * messages a caller may see. 0, or -1 with err.
 */
int api_callbacks_book(struct store_tx *tx, struct http_req *r, json_t **out,
		       int *status, struct cbd_err *err) CBD_MUSTCHECK;
int api_callbacks_move(struct store_tx *tx, struct http_req *r, json_t **out,
		       struct cbd_err *err) CBD_MUSTCHECK;
int api_callbacks_messages(struct store_tx *tx, struct http_req *r,
			   json_t **items, struct cbd_err *err) CBD_MUSTCHECK;
/*
 * Insert a staff key: role "admin", "lead" or "agent" (agents need
 * agent_id of an existing agent). *key receives the secret, shown once,
 * caller frees. Shared by POST /v1/keys and callbackd --create-key.
 */
int api_keys_insert(struct store_tx *tx, const char *role, const char *name,
		    int64_t agent_id, int64_t *id, char **key,
		    struct cbd_err *err) CBD_MUSTCHECK;
#endif
