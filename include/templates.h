/*
 * templates.h: the words of every text and e-mail, per language, as
 * files templates/<lang>/<message>.txt. An operator's template_dir is
 * searched first, then the installed set, then the copy built into the
 * daemon (the same files), so a daemon always has every English text. A
 * language without the message falls back from "es-MX" to "es" to
 * English, and says so in the log once per language and message.
 */
#ifndef CBD_TEMPLATES_H
#define CBD_TEMPLATES_H

#include <stddef.h>

struct config;

/* A placeholder: {key} in a template becomes val (NULL: empty). */
struct templates_var {
	const char *key; /* without the braces */
	const char *val;
};

/*
 * The template of message ("sms_reminder", "email_request_body" ...) in
 * lang (a canonical BCP 47 tag; NULL or "" is English), with a single
 * trailing newline removed. Returns text the caller frees, or NULL when
 * message is not one of the daemon's.
 */
char *templates_get(const struct config *cfg, const char *lang,
		    const char *message);
/*
 * Expand {key} placeholders of tpl with vars. Unknown placeholders stay as
 * written, so a typo shows in the text rather than vanishing. Returns
 * text the caller frees.
 */
char *templates_expand(const char *tpl, const struct templates_var *vars,
		       size_t nvars);
/* The built-in copy (generated from templates/ by build-aux). */
struct templates_builtin {
	const char *name; /* "en/sms_reminder" */
	const char *text;
};
extern const struct templates_builtin templates_builtin[];
extern const size_t templates_builtin_count;

#endif
