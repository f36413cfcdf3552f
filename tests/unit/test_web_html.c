/* test_web_html.c: the escaping and page templates of the pages the daemon
 * writes itself (web_html.c): every value lands escaped, a placeholder
 * never shows, and text given cannot become a placeholder or a tag. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "tap.h"
#include "web_html.h"
#include "xalloc.h"

static char *
fill(const char *tmpl, const struct web_html_vars *vs)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	web_html_fill(b, tmpl, strlen(tmpl), vs);
	n = evbuffer_get_length(b);
	s = xmalloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

static void
test_escape(void)
{
	char *s = web_html_escaped("<a href=\"x\" title='y'>&amp;</a>");

	is_str(s,
	       "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;"
	       "&lt;/a&gt;",
	       "the five characters are escaped");
	free(s);
	s = web_html_escaped("Zoë 日本 plain");
	is_str(s, "Zoë 日本 plain", "other text is left as it is");
	free(s);
	s = web_html_escaped(NULL);
	is_str(s, "", "NULL writes nothing");
	free(s);
}

static void
test_fill(void)
{
	struct web_html_vars vs = { NULL, 0 };
	char *s;

	web_html_text(&vs, "name", "<b>\"{{name}}\"</b>");
	web_html_take(&vs, "opts", xstrdup("<option>1</option>"));
	web_html_text(&vs, "name", "second");
	s = fill("<p title=\"{{name}}\">{{name}}</p><select>{{&opts}}</select>"
		 "{{missing}}{{&missing}}!",
		 &vs);
	is_str(s,
	       "<p title=\"&lt;b&gt;&quot;{{name}}&quot;&lt;/b&gt;\">&lt;b&gt;"
	       "&quot;{{name}}&quot;&lt;/b&gt;</p><select><option>1</option>"
	       "</select>!",
	       "text escaped, HTML as built, unknown names empty, values "
	       "never read as placeholders, the first value kept");
	free(s);
	s = fill("a {{ b", &vs);
	is_str(s, "a {{ b", "an unclosed {{ is plain text");
	free(s);
	s = fill("", &vs);
	is_str(s, "", "an empty page");
	free(s);
	web_html_vars_free(&vs);
}

int
main(void)
{
	test_escape();
	test_fill();
	return tap_done();
}
