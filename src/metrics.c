/*
 * metrics.c: a handful of series kept in small arrays. The route set is
 * fixed by the route tables, so linear search over a few dozen entries is
 * cheaper than any hashing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xalloc.h"

static const int64_t metrics_buckets_ms[] = { 1,   5,   10,   25,   50,  100,
					      250, 500, 1000, 2500, 5000 };
#define METRICS_NB (sizeof(metrics_buckets_ms) / sizeof(metrics_buckets_ms[0]))

struct metrics_route {
	const char *route;
	uint64_t buckets[METRICS_NB + 1]; /* last: +Inf */
	uint64_t count;
	uint64_t sum_ms;
	struct {
		int status;
		uint64_t n;
	} statuses[16];
	int nstatus;
};

struct metrics_scalar {
	const char *name;
	const char *help;
	int is_gauge;
	double value;
};

/* Labelled gauges worked out elsewhere (per routing queue ...), kept as
 * their exposition lines. */
struct metrics_lines {
	const char *family;
	char *text;
};

struct metrics {
	struct metrics_route *routes;
	int nroutes;
	struct metrics_scalar *scalars;
	int nscalars;
	struct metrics_lines *lines;
	int nlines;
};

struct metrics *
metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->routes);
	free(m->scalars);
	for (int i = 0; i < m->nlines; i++)
		free(m->lines[i].text);
	free(m->lines);
	free(m);
}

void
metrics_request(struct metrics *m, const char *route, int status, int64_t ms)
{
	struct metrics_route *r = NULL;
	size_t b;
	int i;

	for (i = 0; i < m->nroutes; i++)
		if (strcmp(m->routes[i].route, route) == 0)
			r = &m->routes[i];
	if (r == NULL) {
		m->routes = xrealloc(m->routes, (size_t)(m->nroutes + 1) *
							sizeof(*m->routes));
		r = &m->routes[m->nroutes++];
		memset(r, 0, sizeof(*r));
		r->route = route;
	}
	for (b = 0; b < METRICS_NB && ms > metrics_buckets_ms[b]; b++)
		;
	r->buckets[b]++;
	r->count++;
	r->sum_ms += (uint64_t)(ms < 0 ? 0 : ms);
	for (i = 0; i < r->nstatus; i++) {
		if (r->statuses[i].status == status) {
			r->statuses[i].n++;
			return;
		}
	}
	if (r->nstatus < (int)(sizeof(r->statuses) / sizeof(r->statuses[0]))) {
		r->statuses[r->nstatus].status = status;
		r->statuses[r->nstatus].n = 1;
		r->nstatus++;
	}
}

static struct metrics_scalar *
metrics_scalar(struct metrics *m, const char *name, const char *help,
	       int is_gauge)
{
	for (int i = 0; i < m->nscalars; i++)
		if (strcmp(m->scalars[i].name, name) == 0)
			return &m->scalars[i];
	m->scalars = xrealloc(m->scalars,
			      (size_t)(m->nscalars + 1) * sizeof(*m->scalars));
	m->scalars[m->nscalars].name = name;
	m->scalars[m->nscalars].help = help;
	m->scalars[m->nscalars].is_gauge = is_gauge;
	m->scalars[m->nscalars].value = 0;
	return &m->scalars[m->nscalars++];
}

void
metrics_add(struct metrics *m, const char *name, const char *help,
	    uint64_t delta)
{
	metrics_scalar(m, name, help, 0)->value += (double)delta;
}

void
metrics_set_total(struct metrics *m, const char *name, const char *help,
		  uint64_t total)
{
	metrics_scalar(m, name, help, 0)->value = (double)total;
}

void
metrics_set(struct metrics *m, const char *name, const char *help, double value)
{
	metrics_scalar(m, name, help, 1)->value = value;
}

void
metrics_set_lines(struct metrics *m, const char *family, const char *text)
{
	int i;

	for (i = 0; i < m->nlines; i++)
		if (strcmp(m->lines[i].family, family) == 0)
			break;
	if (i == m->nlines) {
		m->lines = xrealloc(m->lines, (size_t)(m->nlines + 1) *
						      sizeof(*m->lines));
		m->lines[i].family = family;
		m->lines[i].text = NULL;
		m->nlines++;
	}
	free(m->lines[i].text);
	m->lines[i].text = xstrdup(text);
}

char *
metrics_render(const struct metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "# HELP callbackd_http_requests_total HTTP requests "
		   "answered, by route and status.\n"
		   "# TYPE callbackd_http_requests_total counter\n");
	for (int i = 0; i < m->nroutes; i++)
		for (int s = 0; s < m->routes[i].nstatus; s++)
			fprintf(f,
				"callbackd_http_requests_total{route=\"%s\","
				"status=\"%d\"} %llu\n",
				m->routes[i].route,
				m->routes[i].statuses[s].status,
				(unsigned long long)m->routes[i].statuses[s].n);
	fprintf(f,
		"# HELP callbackd_http_request_duration_seconds Time from "
		"request to answer.\n"
		"# TYPE callbackd_http_request_duration_seconds histogram\n");
	for (int i = 0; i < m->nroutes; i++) {
		const struct metrics_route *r = &m->routes[i];
		uint64_t cum = 0;

		for (size_t b = 0; b <= METRICS_NB; b++) {
			cum += r->buckets[b];
			if (b < METRICS_NB)
				fprintf(f,
					"callbackd_http_request_duration_"
					"seconds_bucket{route=\"%s\",le=\"%g\"}"
					" %llu\n",
					r->route,
					(double)metrics_buckets_ms[b] / 1000.0,
					(unsigned long long)cum);
			else
				fprintf(f,
					"callbackd_http_request_duration_"
					"seconds_bucket{route=\"%s\",le=\"+"
					"Inf\"} %llu\n",
					r->route, (unsigned long long)cum);
		}
		fprintf(f,
			"callbackd_http_request_duration_seconds_sum{route=\"%"
			"s\"} %g\n"
			"callbackd_http_request_duration_seconds_count{route="
			"\"%s\"} %llu\n",
			r->route, (double)r->sum_ms / 1000.0, r->route,
			(unsigned long long)r->count);
	}
	for (int i = 0; i < m->nscalars; i++) {
		const struct metrics_scalar *s = &m->scalars[i];

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", s->name,
			s->help, s->name, s->is_gauge ? "gauge" : "counter",
			s->name, s->value);
	}
	for (int i = 0; i < m->nlines; i++)
		fputs(m->lines[i].text, f);
	fclose(f);
	return buf;
}
