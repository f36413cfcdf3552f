/*
 * mailer.h: iMIP (RFC 6047) invitations over SMTP with libcurl. curl builds
 * the MIME: multipart/mixed holding multipart/alternative (text/plain and
 * text/calendar; method=...) and the same calendar as invite.ics.
 */
#ifndef CBD_MAILER_H
#define CBD_MAILER_H

#include <curl/curl.h>
#include <stdint.h>

struct mailer_msg {
	const char *smtp_url;	 /* smtp://host:port */
	const char *from;	 /* bare address */
	const char *from_name;	 /* display name, may be NULL */
	const char *to;		 /* bare address */
	const char *subject;	 /* UTF-8; encoded by mailer */
	const char *text;	 /* text/plain body, UTF-8 */
	const char *ics;	 /* the calendar text */
	const char *ics_method;	 /* "REQUEST" or "CANCEL" */
	const char *message_id;	 /* "<id@domain>" */
	int64_t date;		 /* Date header, UTC epoch */
};

/* A configured easy handle that sends m; NULL on a curl setup failure. */
CURL *mailer_easy_new(const struct mailer_msg *m);

#endif
