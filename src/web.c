/*
 * web.c: the web console's pages and files.
 *
 * At start every regular file under web_dir (no dot files, no symbolic
 * links, a few levels deep, known types only) is read into a table; a
 * request is answered from that table or not at all. So a hostile path
 * ("/assets/../../etc/passwd", "%2e%2e", a symbolic link planted in the
 * directory) can only miss: nothing is ever opened by a name a client
 * sent. A change to the files takes effect at the next start.
 *
 * Pages have fixed addresses (/, /signin, ...); their scripts and
 * styles live under /assets/. Every answer carries a Content-Security-
 * Policy of default-src 'self' (no inline script, nothing from elsewhere)
 * and an ETag, so a browser revalidates with one small 304.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "web.h"
#include "xalloc.h"

#define WEB_MAX_DEPTH      4
#define WEB_MAX_FILES      512
#define WEB_MAX_FILE_BYTES (2 * 1024 * 1024)
#define WEB_MAX_ALL_BYTES  (32 * 1024 * 1024)

struct web_file {
	char *rel;  /* path below web_dir, "assets/book.js" */
	char *body; /* the whole file */
	size_t len;
	const char *type; /* Content-Type */
	char etag[24];    /* "\"<16 hex of SHA-256>\"" */
};

struct web {
	struct web_file *files;
	size_t n;
	size_t all_bytes;
	char *csp_page;  /* pages no other site may frame */
	char *csp_embed; /* the book page: framed by web_embed_origins */
};

/* The pages: address, file, and whether other sites may frame it. */
static const struct {
	const char *path;
	const char *file;
	int is_embeddable;
} web_pages[] = {
	{ "/", "index.html", 0 },
	{ "/signin", "signin.html", 0 },
	{ "/agent", "agent.html", 0 },
	{ "/lead", "lead.html", 0 },
	/* A company's site loads this script to frame /book in its pages. */
	{ "/embed.js", "assets/embed.js", 1 },
	/* /book and /manage (and a browser's manage link) are written per
	 * request from book.html and manage.html: see web_forms.c. */
};

static const struct {
	const char *ext;
	const char *type;
} web_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

static const char *
web_type_of(const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < CBD_ARRAY_LEN(web_types); i++) {
		size_t el = strlen(web_types[i].ext);
		if (nl > el && strcmp(name + nl - el, web_types[i].ext) == 0)
			return web_types[i].type;
	}
	return NULL;
}

/* Read one regular file into the table; a file that cannot be read or
 * would pass the limits is logged and left out. */
static void
web_add_file(struct web *w, const char *full, const char *rel, const char *type,
	     off_t size)
{
	struct web_file *f;
	char hex[KEYS_HASH_HEX_LEN + 1];
	FILE *fp;
	char *body;

	if (w->n >= WEB_MAX_FILES || size > WEB_MAX_FILE_BYTES ||
	    w->all_bytes + (size_t)size > WEB_MAX_ALL_BYTES) {
		log_warn("web file left out: over the limits", "file=%s", rel);
		return;
	}
	fp = fopen(full, "rb");
	if (fp == NULL) {
		log_warn("web file unreadable", "file=%s error=\"%s\"", rel,
			 strerror(errno));
		return;
	}
	body = xmalloc((size_t)size + 1);
	if (fread(body, 1, (size_t)size, fp) != (size_t)size) {
		log_warn("web file short read", "file=%s", rel);
		free(body);
		fclose(fp);
		return;
	}
	fclose(fp);
	body[size] = '\0';
	w->files = xrealloc(w->files, (w->n + 1) * sizeof(*w->files));
	f = &w->files[w->n++];
	f->rel = xstrdup(rel);
	f->body = body;
	f->len = (size_t)size;
	f->type = type;
	keys_digest_hex(body, (unsigned long)size, hex);
	snprintf(f->etag, sizeof(f->etag), "\"%.16s\"", hex);
	w->all_bytes += (size_t)size;
}

/* Walk dir (whose path below web_dir is rel, "" at the top). */
static void
web_load_dir(struct web *w, const char *dir, const char *rel, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL) {
		log_warn("web_dir unreadable: the console is off",
			 "dir=%s error=\"%s\"", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char *full, *sub;
		const char *type;

		if (e->d_name[0] == '.')
			continue; /* ".", "..", and dot files stay private */
		full = xasprintf("%s/%s", dir, e->d_name);
		sub = xasprintf("%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		/* lstat: a symbolic link is never followed, so one planted
		 * in the directory cannot publish a file from elsewhere. */
		if (lstat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < WEB_MAX_DEPTH)
				web_load_dir(w, full, sub, depth + 1);
			else if (S_ISREG(st.st_mode) &&
				 (type = web_type_of(e->d_name)) != NULL)
				web_add_file(w, full, sub, type, st.st_size);
		}
		free(full);
		free(sub);
	}
	closedir(d);
}

/* frame-ancestors for the embeddable page: this site and the configured
 * origins (config_load checked they hold no ';' or quote). */
static char *
web_csp(const char *ancestors)
{
	return xasprintf("default-src 'self'; base-uri 'none'; "
			 "object-src 'none'; form-action 'self'; "
			 "frame-ancestors %s",
			 ancestors);
}

struct web *
web_new(const struct config *cfg)
{
	struct web *w = xcalloc(1, sizeof(*w));
	char *anc;

	if (cfg->web_dir[0] != '\0')
		web_load_dir(w, cfg->web_dir, "", 0);
	w->csp_page = web_csp("'none'");
	anc = xasprintf("'self'%s%s", cfg->web_embed_origins[0] ? " " : "",
			cfg->web_embed_origins);
	w->csp_embed = web_csp(anc);
	free(anc);
	log_info("web console loaded", "dir=%s files=%zu bytes=%zu",
		 cfg->web_dir, w->n, w->all_bytes);
	return w;
}

void
web_free(struct web *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free(w->files[i].rel);
		free(w->files[i].body);
	}
	free(w->files);
	free(w->csp_page);
	free(w->csp_embed);
	free(w);
}

size_t
web_file_count(const struct web *w)
{
	return w->n;
}

static const struct web_file *
web_find(const struct web *w, const char *rel)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->files[i].rel, rel) == 0)
			return &w->files[i];
	return NULL;
}

const char *
web_template(const struct web *w, const char *rel, size_t *len)
{
	const struct web_file *f = web_find(w, rel);

	*len = f != NULL ? f->len : 0;
	return f != NULL ? f->body : NULL;
}

/* A file name under /assets/ as the table spells them: letters, digits,
 * '-', '_', '.', single '/' between names, no name starting with '.'. */
static int
web_is_plain_rel(const char *s)
{
	int at_start = 1;

	for (; *s; s++) {
		if (at_start && (*s == '.' || *s == '/'))
			return 0;
		at_start = *s == '/';
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_./", *s)))
			return 0;
	}
	return !at_start;
}

/*
 * Which file a path names, and whether it may be framed; NULL when the
 * path is not the console's. *is_ours is set when the path is under the
 * console's addresses even if no such file exists (then a 404 here).
 */
static const struct web_file *
web_resolve(const struct web *w, const char *path, int *is_ours,
	    int *is_embeddable)
{
	*is_ours = 0;
	*is_embeddable = 0;
	for (size_t i = 0; i < CBD_ARRAY_LEN(web_pages); i++)
		if (strcmp(path, web_pages[i].path) == 0) {
			*is_ours = 1;
			*is_embeddable = web_pages[i].is_embeddable;
			return web_find(w, web_pages[i].file);
		}
	if (strncmp(path, "/assets/", 8) == 0) {
		*is_ours = 1;
		return web_is_plain_rel(path + 8) ? web_find(w, path + 1)
						  : NULL;
	}
	return NULL;
}

void
web_security_headers(const struct web *w, struct evkeyvalq *h,
		     int is_embeddable)
{
	evhttp_add_header(h, "Content-Security-Policy",
			  is_embeddable ? w->csp_embed : w->csp_page);
	if (!is_embeddable)
		evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* Manage pages carry their token in the address: never tell it to
	 * another site. */
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Permissions-Policy",
			  "camera=(), microphone=(), geolocation=()");
	/* Not on the page other sites frame: their documents embed it. */
	if (!is_embeddable)
		evhttp_add_header(h, "Cross-Origin-Resource-Policy",
				  "same-origin");
}

static int
web_fail(struct evhttp_request *ev, int status, const char *reason,
	 const char *type, const char *detail)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(h, "Content-Type", "application/problem+json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (evhttp_request_get_command(ev) != EVHTTP_REQ_HEAD)
		evbuffer_add_printf(out,
				    "{\"type\":\"/problems/%s\",\"title\":"
				    "\"%s\",\"status\":%d,\"detail\":\"%s\"}",
				    type, reason, status, detail);
	evhttp_send_reply(ev, status, reason, out);
	evbuffer_free(out);
	return status;
}

/* Whether If-None-Match lists etag (or is "*"). */
static int
web_is_fresh(struct evhttp_request *ev, const char *etag)
{
	const char *inm = evhttp_find_header(
		evhttp_request_get_input_headers(ev), "If-None-Match");

	if (inm == NULL)
		return 0;
	return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static int
web_send_file(const struct web *w, struct evhttp_request *ev,
	      const struct web_file *f, int is_embeddable)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	struct evbuffer *out = evbuffer_new();
	int status = 200;

	web_security_headers(w, h, is_embeddable);
	evhttp_add_header(h, "ETag", f->etag);
	/* Names carry no version: revalidate each time (a 304 is cheap). */
	evhttp_add_header(h, "Cache-Control", "no-cache");
	if (web_is_fresh(ev, f->etag)) {
		status = 304;
	} else {
		evhttp_add_header(h, "Content-Type", f->type);
		if (evhttp_request_get_command(ev) == EVHTTP_REQ_HEAD) {
			/* evhttp would leave the length out of a HEAD. */
			char n[24];
			snprintf(n, sizeof(n), "%zu", f->len);
			evhttp_add_header(h, "Content-Length", n);
		} else
			evbuffer_add_reference(out, f->body, f->len, NULL,
					       NULL);
	}
	evhttp_send_reply(ev, status, status == 200 ? "OK" : "Not Modified",
			  out);
	evbuffer_free(out);
	return status;
}

int
web_handle(struct web *w, struct evhttp_request *ev, const char *req_id)
{
	const char *raw =
		evhttp_uri_get_path(evhttp_request_get_evhttp_uri(ev));
	enum evhttp_cmd_type m = evhttp_request_get_command(ev);
	const struct web_file *f;
	int is_ours, is_embeddable;
	size_t dlen = 0;
	char *path;

	if (raw == NULL || *raw == '\0')
		raw = "/";
	/* The API's own paths are the API's, except a browser's manage link
	 * (checked below on the decoded path). */
	if (strncmp(raw, "/v1/", 4) == 0 && strncmp(raw, "/v1/callbacks/", 14))
		return 0;
	path = evhttp_uridecode(raw, 0, &dlen);
	if (path == NULL || strlen(path) != dlen) {
		free(path);
		return 0; /* http.c refuses the malformed path */
	}
	f = web_resolve(w, path, &is_ours, &is_embeddable);
	free(path);
	if (!is_ours)
		return 0;
	evhttp_add_header(evhttp_request_get_output_headers(ev), "X-Request-Id",
			  req_id);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(ev),
				  "Allow", "GET, HEAD");
		return web_fail(ev, 405, "Method Not Allowed",
				"method-not-allowed",
				"the console's pages are read with GET");
	}
	if (f == NULL)
		return web_fail(ev, 404, "Not Found", "not-found",
				"no such page or file");
	return web_send_file(w, ev, f, is_embeddable);
}
