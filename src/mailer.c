/*
 * mailer.c: iMIP invitations (RFC 6047) sent over SMTP by libcurl.
 *
 * The message curl builds from the MIME tree (as curl's smtp-mime example):
 *
 *   multipart/mixed
 *     multipart/alternative                      (inline)
 *       text/plain; charset=UTF-8                (quoted-printable)
 *       text/calendar; method=M; charset=UTF-8   (quoted-printable)
 *     application/ics; name="invite.ics"         (attachment, base64)
 *
 * Calendar clients act on the inline text/calendar part, whose method
 * parameter must equal the calendar's METHOD property (checked here); the
 * attachment serves clients that ignore inline calendars. The top-level
 * headers go in through CURLOPT_HTTPHEADER, which curl uses as the mail
 * header for SMTP. Every header value is either checked (addresses, ids)
 * or cleaned of control characters (subject, display name), so no input
 * can add a header line.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curlloop.h"
#include "mailer.h"
#include "xalloc.h"

/*
 * Raw bytes per RFC 2047 encoded-word: 45 bytes are 60 base64 characters,
 * and with "=?UTF-8?B?" and "?=" the word stays within the 75 allowed.
 */
#define MAILER_WORD_BYTES 45

/* A bare address: non-empty, nothing that ends it or the header line. */
static int
mailer_is_addr(const char *s)
{
	return s != NULL && *s != '\0' && strpbrk(s, "<>\r\n\t ,;\"") == NULL;
}

/* "<local@domain>", one token. */
static int
mailer_is_message_id(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 2 && s[0] == '<' && s[n - 1] == '>' &&
	       strpbrk(s, "\r\n\t ") == NULL;
}

/* A MIME parameter token such as REQUEST or CANCEL. */
static int
mailer_is_method(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '-')
			return 0;
	}
	return 1;
}

/*
 * Does the calendar's METHOD property equal method? RFC 6047 makes a
 * mismatch with the Content-Type parameter an invalid message, and clients
 * then ignore it, so it is refused here rather than sent.
 */
static int
mailer_ics_has_method(const char *ics, const char *method)
{
	const char *p = ics;
	size_t want = strlen(method);

	while (p != NULL) {
		if (strncasecmp(p, "METHOD:", 7) == 0) {
			size_t n = strcspn(p + 7, "\r\n");

			return n == want && strncasecmp(p + 7, method, n) == 0;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return 0;
}

/* A copy of s with control characters (CR and LF above all) as spaces. */
static char *
mailer_clean(const char *s)
{
	char *copy = xstrdup(s);
	char *p;

	for (p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return copy;
}

static int
mailer_is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return 0;
	}
	return 1;
}

/*
 * s as RFC 2047 "=?UTF-8?B?...?=" words separated by spaces, which decoders
 * join without the space. A word never splits a UTF-8 sequence (RFC 2047
 * section 5 wants whole characters per word). Returns a new string.
 */
static char *
mailer_encode_words(const char *s)
{
	unsigned char b64[4 * ((MAILER_WORD_BYTES + 2) / 3) + 1];
	size_t len = strlen(s);
	char *out = xstrdup("");
	size_t off = 0;

	while (off < len) {
		size_t n = len - off;
		char *joined;

		if (n > MAILER_WORD_BYTES) {
			n = MAILER_WORD_BYTES;
			/* Back off continuation bytes (10xxxxxx). */
			while (n > 1 &&
			       ((unsigned char)s[off + n] & 0xc0) == 0x80)
				n--;
		}
		EVP_EncodeBlock(b64, (const unsigned char *)s + off, (int)n);
		joined = xasprintf("%s%s=?UTF-8?B?%s?=", out,
				   off > 0 ? " " : "", (const char *)b64);
		free(out);
		out = joined;
		off += n;
	}
	return out;
}

/* An unstructured header value (Subject): as is if ASCII, else encoded. */
char *
mailer_header_text(const char *s)
{
	char *clean = mailer_clean(s);
	char *out;

	if (mailer_is_ascii(clean))
		return clean;
	out = mailer_encode_words(clean);
	free(clean);
	return out;
}

/* "Name" <addr>, =?UTF-8?B?..?= <addr>, or <addr> without a name. */
static char *
mailer_mailbox(const char *name, const char *addr)
{
	char *clean, *quoted, *q, *out;
	const char *p;

	if (name == NULL || *name == '\0')
		return xasprintf("<%s>", addr);
	clean = mailer_clean(name);
	if (!mailer_is_ascii(clean)) {
		char *words = mailer_encode_words(clean);

		out = xasprintf("%s <%s>", words, addr);
		free(words);
		free(clean);
		return out;
	}
	/* A quoted-string escapes '"' and '\' with a backslash. */
	quoted = xmalloc(2 * strlen(clean) + 1);
	for (p = clean, q = quoted; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			*q++ = '\\';
		*q++ = *p;
	}
	*q = '\0';
	out = xasprintf("\"%s\" <%s>", quoted, addr);
	free(quoted);
	free(clean);
	return out;
}

/*
 * RFC 5322 date-time in UTC, "Mon, 23 Nov 2026 09:30:00 +0000". Names come
 * from tables, not strftime, so the process locale cannot change them.
 */
static char *
mailer_date(int64_t date)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
					    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
					      "May", "Jun", "Jul", "Aug",
					      "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)date;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return NULL;
	return xasprintf("%s, %02d %s %04d %02d:%02d:%02d +0000",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * A copy of s with every line ending as CRLF. curl's quoted-printable
 * encoder keeps CRLF as a line break but writes a bare LF as "=0A", which
 * turns a plain text into one long soft-wrapped line in the raw mail.
 */
static char *
mailer_crlf(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1);
	char *q = out;

	for (; *s != '\0'; s++) {
		if (*s == '\n' && (q == out || q[-1] != '\r'))
			*q++ = '\r';
		*q++ = *s;
	}
	*q = '\0';
	return out;
}

/* The multipart/alternative body: the text and the inline calendar. */
static curl_mime *
mailer_alternative(CURL *easy, const struct mailer_msg *m)
{
	curl_mime *alt = curl_mime_init(easy);
	curl_mimepart *part;
	char *text = NULL;
	char *type = NULL;
	int bad = 0;

	if (alt == NULL)
		return NULL;
	text = mailer_crlf(m->text);
	part = curl_mime_addpart(alt);
	bad |= part == NULL ||
	       curl_mime_data(part, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
	       curl_mime_type(part, "text/plain; charset=UTF-8") != CURLE_OK ||
	       curl_mime_encoder(part, "quoted-printable") != CURLE_OK;

	type = xasprintf("text/calendar; method=%s; charset=UTF-8",
			 m->ics_method);
	part = curl_mime_addpart(alt);
	bad |= part == NULL ||
	       curl_mime_data(part, m->ics, CURL_ZERO_TERMINATED) != CURLE_OK ||
	       curl_mime_type(part, type) != CURLE_OK ||
	       curl_mime_encoder(part, "quoted-printable") != CURLE_OK;
	free(type);
	free(text);
	if (bad) {
		curl_mime_free(alt);
		alt = NULL;
	}
	return alt;
}

/* The multipart/mixed top: the alternative (inline) and invite.ics. */
static curl_mime *
mailer_mime(CURL *easy, const struct mailer_msg *m)
{
	struct curl_slist *inline_hdr = NULL;
	curl_mime *mime = NULL;
	curl_mime *alt = NULL;
	curl_mimepart *part;
	int bad = 1;

	mime = curl_mime_init(easy);
	if (mime != NULL && m->ics == NULL) {
		/* No calendar (an ASAP confirmation): the text alone. */
		char *text = mailer_crlf(m->text);
		part = curl_mime_addpart(mime);
		bad = part == NULL ||
		      curl_mime_data(part, text, CURL_ZERO_TERMINATED) !=
			      CURLE_OK ||
		      curl_mime_type(part, "text/plain; charset=UTF-8") !=
			      CURLE_OK ||
		      curl_mime_encoder(part, "quoted-printable") != CURLE_OK;
		free(text);
		goto out;
	}
	alt = mailer_alternative(easy, m);
	if (mime == NULL || alt == NULL)
		goto out;

	part = curl_mime_addpart(mime);
	if (part == NULL || curl_mime_subparts(part, alt) != CURLE_OK)
		goto out;
	alt = NULL; /* part owns it now */
	/*
	 * curl marks non-multipart parts as attachments by default; the
	 * alternative is the message itself, so say inline explicitly.
	 */
	inline_hdr = curlloop_slist_add(NULL, "Content-Disposition: inline");
	if (curl_mime_type(part, "multipart/alternative") != CURLE_OK ||
	    curl_mime_headers(part, inline_hdr, 1) != CURLE_OK)
		goto out;
	inline_hdr = NULL; /* taken by the part (take_ownership = 1) */

	part = curl_mime_addpart(mime);
	if (part == NULL ||
	    curl_mime_data(part, m->ics, CURL_ZERO_TERMINATED) != CURLE_OK ||
	    curl_mime_type(part, "application/ics; name=\"invite.ics\"") !=
		    CURLE_OK ||
	    curl_mime_filename(part, "invite.ics") != CURLE_OK ||
	    curl_mime_encoder(part, "base64") != CURLE_OK)
		goto out;
	bad = 0;
out:
	curl_slist_free_all(inline_hdr);
	curl_mime_free(alt);
	if (bad) {
		curl_mime_free(mime);
		mime = NULL;
	}
	return mime;
}

CURL *
mailer_easy_new(const struct mailer_msg *m)
{
	struct curl_slist *headers = NULL;
	struct curl_slist *rcpt = NULL;
	curl_mime *mime = NULL;
	char *from = NULL, *subject = NULL, *date = NULL, *mail_from = NULL;
	CURL *easy = NULL;
	int bad = 0;

	if (!mailer_is_addr(m->from) || !mailer_is_addr(m->to) ||
	    !mailer_is_message_id(m->message_id) || m->subject == NULL ||
	    m->text == NULL ||
	    (m->ics == NULL ? m->ics_method != NULL
			    : (!mailer_is_method(m->ics_method) ||
			       !mailer_ics_has_method(m->ics, m->ics_method))))
		goto out;
	date = mailer_date(m->date);
	if (date == NULL)
		goto out;
	easy = curl_easy_init();
	if (easy == NULL)
		goto out;

	from = mailer_mailbox(m->from_name, m->from);
	subject = mailer_header_text(m->subject);
	headers = curlloop_slist_add(headers, "Date: %s", date);
	headers = curlloop_slist_add(headers, "From: %s", from);
	headers = curlloop_slist_add(headers, "To: <%s>", m->to);
	headers = curlloop_slist_add(headers, "Subject: %s", subject);
	headers = curlloop_slist_add(headers, "Message-ID: %s", m->message_id);
	headers = curlloop_slist_add(headers, "MIME-Version: 1.0");
	rcpt = curlloop_slist_add(NULL, "<%s>", m->to);
	mime = mailer_mime(easy, m);
	bad |= mime == NULL;
	bad |= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, rcpt) != CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_MIMEPOST, mime) != CURLE_OK;
	curlloop_easy_attach(easy, headers, rcpt, mime);
	headers = rcpt = NULL; /* the handle owns them now */
	mime = NULL;

	mail_from = xasprintf("<%s>", m->from);
	bad |= curl_easy_setopt(easy, CURLOPT_URL, m->smtp_url) != CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps") !=
	       CURLE_OK;
	bad |= curl_easy_setopt(easy, CURLOPT_MAIL_FROM, mail_from) != CURLE_OK;
	/*
	 * curl sends QUIT and waits for the reply, blocking the loop, when it
	 * closes an SMTP connection. Closing right after the message, while
	 * the server is known to be answering, beats doing it at some later
	 * cache prune or at shutdown; invites are too few to need reuse.
	 */
	bad |= curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
	if (m->is_starttls_required)
		bad |= curl_easy_setopt(easy, CURLOPT_USE_SSL,
					(long)CURLUSESSL_ALL) != CURLE_OK;
	if (m->user != NULL) {
		bad |= curl_easy_setopt(easy, CURLOPT_USERNAME, m->user) !=
		       CURLE_OK;
		bad |= curl_easy_setopt(easy, CURLOPT_PASSWORD,
					m->password != NULL ? m->password
							    : "") != CURLE_OK;
	}
	if (bad) {
		curlloop_easy_cleanup(easy);
		easy = NULL;
	}
out:
	free(from);
	free(subject);
	free(date);
	free(mail_from);
	return easy;
}
