/*
 * metrics.h: counters and histograms in Prometheus text format 0.0.4.
 * Updated and rendered on the loop thread only, so no locking is needed.
 */
#ifndef CBD_METRICS_H
#define CBD_METRICS_H

#include <stdint.h>

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m); /* NULL ok */
/* One answered request: route label, status, duration. */
void metrics_request(struct metrics *m, const char *route, int status,
		     int64_t ms);
/* Add delta to the named counter (created on first use; name static). */
void metrics_add(struct metrics *m, const char *name, const char *help,
		 uint64_t delta);
/* Set the named counter to a running total kept elsewhere (name static). */
void metrics_set_total(struct metrics *m, const char *name, const char *help,
		       uint64_t total);
/* Set the named gauge. */
void metrics_set(struct metrics *m, const char *name, const char *help,
		 double value);
/* Set the labelled gauges of family (a static name, e.g. "queue") to the
 * exposition lines in text, copied; they replace that family's previous
 * lines and are rendered after the scalars. */
void metrics_set_lines(struct metrics *m, const char *family, const char *text);
/* Exposition text; caller frees. */
char *metrics_render(const struct metrics *m);

#endif
