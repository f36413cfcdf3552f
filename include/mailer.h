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
	const char *smtp_url;     /* smtp://host:port */
	const char *from;         /* bare address */
	const char *from_name;    /* display name, may be NULL */
	const char *to;           /* bare address */
	const char *subject;      /* UTF-8; encoded by mailer */
	const char *text;         /* text/plain body, UTF-8 */
	const char *ics;          /* the calendar text; NULL: text only */
	const char *ics_method;   /* "REQUEST" or "CANCEL"; NULL with ics */
	const char *message_id;   /* "<id@domain>" */
	int64_t date;             /* Date header, UTC epoch */
	const char *user;         /* SMTP AUTH user, NULL for none */
	const char *password;     /* with user */
	int is_starttls_required; /* smtp:// must upgrade (CURLUSESSL_ALL) */
};

/*
 * A configured easy handle that sends m. Strings are copied: m may go away
 * once this returns. The recipient list, header list and MIME tree are
 * attached with curlloop_easy_attach(), so give the handle to curlloop_add()
 * or free it with curlloop_easy_cleanup(). Returns NULL when an address or
 * the Message-ID is malformed, ics_method is not the calendar's METHOD, or
 * curl refuses an option.
 */
CURL *mailer_easy_new(const struct mailer_msg *m);
/*
 * A header value safe to send: control characters become spaces, and text
 * that is not ASCII becomes RFC 2047 "=?UTF-8?B?...?=" words. Returns a
 * new string the caller frees.
 */
char *mailer_header_text(const char *s);

#endif
