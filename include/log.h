/*
 * log.h: one logfmt line per event on stderr:
 *   ts=2026-11-22T10:04:05.120Z level=info msg="callback booked" id=42
 * The macros test the level before evaluating their arguments, so a debug
 * line costs nothing when debug is off. No tokens, keys or secrets are ever
 * logged; phone numbers pass log_mask_phone() first.
 */
#ifndef CBD_LOG_H
#define CBD_LOG_H

#include <stddef.h>

#include "common.h"

enum log_level {
	LOG_DEBUG, /* per request and per job detail */
	LOG_INFO,  /* state changes worth keeping */
	LOG_WARN,  /* something odd that the service survived */
	LOG_ERROR, /* a bug or an outage: someone should look */
	LOG_FATAL, /* start-up failure; the process exits */
};

/* Set on the loop thread (start, SIGHUP), read by every thread. */
extern _Atomic enum log_level log_min_level;
/* A warning or error repeated within this many seconds is held and counted
 * (log.c); set from log_repeat_interval_sec. */
extern _Atomic int log_repeat_interval_sec;

/* Parse "debug", "info", "warn", "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out) CBD_MUSTCHECK;
/* Write one line: msg is quoted, fields (printf format) follow as is. */
void log_write(enum log_level level, const char *msg, const char *fmt, ...)
	CBD_PRINTF(3, 4);
/* Like log_write, but never held as a repeat: for a run of lines that each
 * say something different on purpose (one per problem of a config file). */
void log_write_each(enum log_level level, const char *msg, const char *fmt, ...)
	CBD_PRINTF(3, 4);
void log_fatal(const char *msg, const char *fmt, ...)
	CBD_PRINTF(2, 3) CBD_NORETURN;
/* Write the count of each repeated line whose interval is over; called
 * every second from the loop, so a count goes out when the trouble stops. */
void log_repeat_flush(void);
/* callbackd_log_errors_total in Prometheus text; caller frees. */
char *log_metrics_text(void);
/* "+15551234567" -> "+155*****567" into buf (size >= 20). */
const char *log_mask_phone(const char *phone, char *buf, size_t size);

#define LOG_AT(lvl, msg, ...)                                                  \
	do {                                                                   \
		if ((lvl) >= log_min_level)                                    \
			log_write((lvl), (msg), __VA_ARGS__);                  \
	} while (0)
#define log_debug(msg, ...) LOG_AT(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  LOG_AT(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  LOG_AT(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) LOG_AT(LOG_ERROR, msg, __VA_ARGS__)

#endif
