/*
 * templates.c: message templates per language (see templates.h).
 *
 * Files are read when a message is rendered, not cached: messages are few
 * and small, and an operator's edit takes effect with the next message,
 * without a reload.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "templates.h"
#include "xalloc.h"

#ifndef CBD_TEMPLATE_DIR
#define CBD_TEMPLATE_DIR "/usr/local/share/callbackd/templates"
#endif
#define TEMPLATES_MAX_BYTES 16384

/* The old single-language keys: when set, they replace the English text
 * of their message (see the sms_template_* help in config.c). */
static const char *
templates_config_override(const struct config *cfg, const char *message)
{
	const struct {
		const char *message;
		const char *value;
	} keys[] = {
		{ "sms_confirmation", cfg->sms_template_confirmation },
		{ "sms_confirmation_asap",
		  cfg->sms_template_confirmation_asap },
		{ "sms_reminder", cfg->sms_template_reminder },
		{ "sms_rescheduled", cfg->sms_template_rescheduled },
		{ "sms_cancelled", cfg->sms_template_cancelled },
		{ "sms_manage_link", cfg->sms_template_manage_link },
		{ "sms_owner_changed", cfg->sms_template_owner_changed },
		{ "sms_running_late", cfg->sms_template_running_late },
		{ "sms_retry", cfg->sms_template_retry },
	};

	for (size_t i = 0; i < CBD_ARRAY_LEN(keys); i++)
		if (!strcmp(keys[i].message, message) && keys[i].value &&
		    keys[i].value[0] != '\0')
			return keys[i].value;
	return NULL;
}

static char *
templates_read_file(const char *dir, const char *lang, const char *message)
{
	char *path, *text = NULL;
	size_t n;
	FILE *f;

	if (dir == NULL || *dir == '\0')
		return NULL;
	path = xasprintf("%s/%s/%s.txt", dir, lang, message);
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return NULL;
	text = xmalloc(TEMPLATES_MAX_BYTES + 1);
	n = fread(text, 1, TEMPLATES_MAX_BYTES, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static char *
templates_builtin_text(const char *lang, const char *message)
{
	char name[96];

	snprintf(name, sizeof(name), "%s/%s", lang, message);
	for (size_t i = 0; i < templates_builtin_count; i++)
		if (!strcmp(templates_builtin[i].name, name))
			return xstrdup(templates_builtin[i].text);
	return NULL;
}

/* One language exactly: operator's, installed, built in. */
static char *
templates_find(const struct config *cfg, const char *lang, const char *message)
{
	char *t;

	if (!strcmp(lang, "en")) {
		const char *o = templates_config_override(cfg, message);
		if (o != NULL)
			return xstrdup(o);
	}
	t = templates_read_file(cfg->template_dir, lang, message);
	if (t == NULL)
		t = templates_read_file(CBD_TEMPLATE_DIR, lang, message);
	if (t == NULL)
		t = templates_builtin_text(lang, message);
	return t;
}

/* Say once per language and message that English stood in. */
static void
templates_note_fallback(const char *lang, const char *message)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char **seen;
	static size_t nseen;
	char *key = xasprintf("%s/%s", lang, message);
	int is_new = 1;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nseen && is_new; i++)
		is_new = strcmp(seen[i], key) != 0;
	if (is_new && nseen < 1024) {
		seen = xrealloc(seen, (nseen + 1) * sizeof(*seen));
		seen[nseen++] = key;
		key = NULL;
	} else {
		is_new = 0;
	}
	pthread_mutex_unlock(&lock);
	free(key);
	if (is_new)
		log_warn("no template in this language: sent in English",
			 "language=%s message=%s", lang, message);
}

char *
templates_get(const struct config *cfg, const char *lang, const char *message)
{
	char tag[64], *t = NULL, *dash;
	size_t n;

	/* Names are ours, but never let one walk the file system. */
	if (strspn(message, "abcdefghijklmnopqrstuvwxyz_") != strlen(message))
		return NULL;
	snprintf(tag, sizeof(tag), "%s", lang && *lang ? lang : "en");
	if (strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789-") != strlen(tag))
		snprintf(tag, sizeof(tag), "en");
	/* "es-MX", then "es": each subtag dropped in turn. */
	for (;;) {
		t = templates_find(cfg, tag, message);
		if (t != NULL || (dash = strrchr(tag, '-')) == NULL)
			break;
		*dash = '\0';
	}
	if (t == NULL && strcmp(tag, "en") != 0) {
		templates_note_fallback(lang, message);
		t = templates_find(cfg, "en", message);
	}
	if (t == NULL)
		return NULL;
	n = strlen(t);
	if (n > 0 && t[n - 1] == '\n')
		t[--n] = '\0';
	return t;
}

char *
templates_expand(const char *tpl, const struct templates_var *vars,
		 size_t nvars)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (const char *p = tpl; *p;) {
		size_t i = nvars;
		if (*p == '{') {
			for (i = 0; i < nvars; i++) {
				size_t n = strlen(vars[i].key);
				if (strncmp(p + 1, vars[i].key, n) == 0 &&
				    p[1 + n] == '}') {
					fputs(vars[i].val ? vars[i].val : "",
					      f);
					p += n + 2;
					break;
				}
			}
		}
		if (i == nvars)
			fputc(*p++, f);
	}
	fclose(f);
	return out;
}
