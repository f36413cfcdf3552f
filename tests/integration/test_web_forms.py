"""The book and manage pages without JavaScript (src/web_forms.c,
src/web_page.c): HTML forms posted as application/x-www-form-urlencoded,
answered with the page (the problem in words beside the field at fault) or
303 See Other to the manage link; the same rules, limits and manage-token
check as the JSON API; everything a person typed comes back escaped; a
cross-site post is refused."""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

import helpers
from util_api import assert_problem, book, booking, clock_to, relaxed, unique_phone

WEB_DIR = helpers.REPO_ROOT / "web"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def web(daemon_factory):
    return daemon_factory(relaxed(web_dir=str(WEB_DIR), site_timezone="Europe/London"))


def page(d, path, **kw):
    """GET a page as a browser would."""
    return d.req("GET", path, headers={"Accept": HTML}, **kw)


def post(d, path, fields, origin=True, **kw):
    """POST a form as a browser would (Origin: this site)."""
    headers = {"Accept": HTML}
    if origin:
        headers["Origin"] = d.url
    headers.update(kw.pop("headers", {}))
    return d.req("POST", path, data=fields, headers=headers, allow_redirects=False, **kw)


def form(phone=None, **over):
    f = {"when": "asap", "zone": "Europe/London", "name": "Ada Lovelace",
         "phone": phone or unique_phone(), "topic": "Billing question", "notify": "sms"}
    f.update(over)
    return [(k, v) for k, v in f.items() if v is not None]


def options(text, select_id):
    """(value, label) of the options of <select id=...>."""
    m = re.search(r'<select id="%s"[^>]*>(.*?)</select>' % select_id, text, re.S)
    assert m, f"no select {select_id}"
    return [(html.unescape(v), html.unescape(l)) for v, l in
            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', m.group(1))]


def selected(text, select_id):
    m = re.search(r'<select id="%s"[^>]*>(.*?)</select>' % select_id, text, re.S)
    s = re.search(r'<option value="([^"]*)" selected>', m.group(1))
    return html.unescape(s.group(1)) if s else None


def field_error(text, fid):
    """The error line under a field, or None when it is hidden."""
    m = re.search(r'<p class="field-error" id="%s-error"\s*(hidden)?>([^<]*)</p>' % fid, text)
    assert m, f"no error line for {fid}"
    return None if m.group(1) else html.unescape(m.group(2))


def counts(sql):
    return sql.scalar("SELECT COUNT(*) FROM callbacks")


def problem_text(text):
    """The words of the page's problem box."""
    m = re.search(r'<div id="problem" role="alert">(.*?)</div>', text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else ""


def manage_path(r):
    assert r.status_code == 303, (r.status_code, problem_text(r.text))
    loc = r.headers["Location"]
    assert loc.startswith("/v1/callbacks/"), loc
    return loc


def token_of(loc):
    return parse_qs(urlsplit(loc).query)["token"][0]


def test_book_page_is_written_with_free_times_in_the_zone_asked_for(web, make_agent):
    make_agent(web, "alice")
    r = page(web, "/book")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert "{{" not in r.text
    assert '<form id="book-form" method="post" action="/book"' in r.text
    # Without a script the company's zone is chosen, and the times are in it.
    assert selected(r.text, "zone") == "Europe/London"
    slots = [v for v, _ in options(r.text, "slot") if v]
    assert slots and all(re.search(r"(\+00:00|Z|\+01:00)$", s) for s in slots), slots[:3]
    tokyo = page(web, "/book?zone=Asia/Tokyo")
    assert selected(tokyo.text, "zone") == "Asia/Tokyo"
    assert all(v.endswith("+09:00") for v, _ in options(tokyo.text, "slot") if v)
    # An unknown zone is not a zone: the company's is shown.
    assert selected(page(web, "/book?zone=Mars/Olympus").text, "zone") == "Europe/London"
    assert web.req("HEAD", "/book").status_code == 200


def test_book_asap_by_form_then_see_it_on_the_manage_page(web, make_agent, sql):
    make_agent(web, "alice", display_name="Alice")
    # A national number, read in the zone's country and kept normalised.
    national = "07911 " + unique_phone()[-6:]
    r = post(web, "/book", form(phone=national))
    loc = manage_path(r)
    assert "done=booked" in loc
    cid = int(re.match(r"/v1/callbacks/(\d+)", loc).group(1))
    m = page(web, loc)
    assert m.status_code == 200, m.text[:500]
    assert "Your callback is booked" in m.text
    assert "Alice will call you as soon as possible" in m.text
    assert "number 1 in line" in m.text
    assert "{{" not in m.text
    as_json = web.req("GET", f"/v1/callbacks/{cid}", key=token_of(loc)).json()
    assert as_json["asap"] is True and as_json["owner"]["display_name"] == "Alice"
    staff = web.admin("GET", f"/v1/callbacks/{cid}").json()
    assert staff["customer"]["phone"] == "+447911" + national[-6:]
    # The JSON API still answers programs at the same address.
    assert web.req("GET", loc).json()["id"] == cid


def test_book_a_slot_by_form_and_add_it_to_the_calendar(web, make_agent):
    make_agent(web, "alice", display_name="Alice")
    free = [v for v, _ in options(page(web, "/book").text, "slot") if v]
    slot = free[len(free) // 2]
    loc = manage_path(post(web, "/book", form(when="later", slot=slot)))
    cid = int(re.match(r"/v1/callbacks/(\d+)", loc).group(1))
    cb = web.req("GET", f"/v1/callbacks/{cid}", key=token_of(loc)).json()
    assert cb["asap"] is False
    assert helpers_epoch(cb["scheduled_at"]) == helpers_epoch(slot)
    m = page(web, loc)
    assert "Alice will call you" in m.text
    ics = re.search(r'<a href="([^"]+)" download="callback-%d.ics"' % cid, m.text).group(1)
    r = web.req("GET", html.unescape(ics))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in r.text


def helpers_epoch(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("over,fid,words,status", [
    ({"name": ""}, "name", "Please give your name.", 400),
    ({"phone": "12"}, "phone", "That phone number does not look right", 400),
    ({"topic": "  "}, "topic", "Please say briefly what it is about.", 400),
    ({"when": "later", "slot": ""}, "slot", "Please pick a time.", 400),
    ({"when": "later", "slot": "tomorrow at 3"}, "slot", "RFC 3339", 400),
    ({"notify": "email"}, "email", "Give an e-mail address", 400),
    ({"email": "not-an-address"}, "email", "does not look right", 400),
    ({"zone": "Mars/Olympus"}, "zone", "IANA zone", 400),
])
def test_book_form_problems_are_told_at_the_field_and_change_nothing(
        web, make_agent, sql, over, fid, words, status):
    make_agent(web, "alice")
    before = counts(sql)
    r = post(web, "/book", form(**over))
    assert r.status_code == status, r.text[:500]
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert words in field_error(r.text, fid)
    assert re.search(r'id="%s"[^>]*aria-invalid="true"' % fid, r.text)
    # Other fields show no error, and what was typed is kept.
    others = {"name", "phone", "email", "topic", "slot"} - {fid}
    assert all(field_error(r.text, o) is None for o in others)
    if fid != "name":
        assert 'value="Ada Lovelace"' in r.text
    assert words in problem_text(r.text)
    assert counts(sql) == before


def test_outside_hours_is_told_with_the_next_opening(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(web_dir=str(WEB_DIR), site_timezone="Europe/London",
                               opening_hours="mon-fri 09:00-17:00"))
    clock_to(d, "2026-12-05T12:00:00Z")  # a Saturday
    make_agent(d, "alice")
    before = counts(sql)
    r = post(d, "/book", form())
    assert r.status_code == 409
    assert "We are closed at that time. The next opening is Mon 07 Dec, 09:00." \
        in field_error(r.text, "slot")
    assert counts(sql) == before


def test_too_many_requests_is_told_with_retry_after(daemon_factory, make_agent):
    d = daemon_factory({"web_dir": str(WEB_DIR), "rate_phone_per_hour": 1,
                        "rate_ip_per_10min": 1000})
    make_agent(d, "alice")
    phone = unique_phone()
    statuses = [post(d, "/book", form(phone=phone)).status_code for _ in range(4)]
    assert 429 in statuses, statuses
    r = post(d, "/book", form(phone=phone))
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "Too many requests from here. Please try again in about" in r.text


def test_a_phone_with_a_callback_gets_its_link_texted_not_a_second_one(web, make_agent, sql):
    make_agent(web, "alice")
    phone = unique_phone()
    manage_path(post(web, "/book", form(phone=phone)))
    before = counts(sql)
    r = post(web, "/book", form(phone=phone))
    assert r.status_code == 200
    assert "already has a callback booked" in r.text
    assert counts(sql) == before


HOSTILE = '<script>alert("x")</script>\'&amp;<img src=x onerror=alert(1)>'


def test_everything_typed_comes_back_escaped(web, make_agent):
    make_agent(web, "alice", display_name='Al<b>ice</b> "&"')
    # Refused (no phone): the page shows the name and topic typed, escaped.
    r = post(web, "/book", form(name=HOSTILE, topic=HOSTILE, phone="",
                                email='"><script>x</script>'))
    assert r.status_code == 400
    assert "<script>" not in r.text.split("</head>")[1]
    assert "<img" not in r.text
    assert html.escape(HOSTILE, quote=True).replace("&#x27;", "&#39;") in r.text
    # Booked: the manage page shows topic and agent name escaped.
    loc = manage_path(post(web, "/book", form(name=HOSTILE, topic=HOSTILE)))
    m = page(web, loc)
    assert "<script>" not in m.text.split("</head>")[1] and "<img" not in m.text
    assert "Al&lt;b&gt;ice&lt;/b&gt; &quot;&amp;&quot;" in m.text
    # A zone or a slot that is not one is not written back as given.
    r = page(web, '/book?zone="><script>x</script>')
    assert "<script>x" not in r.text


def test_hostile_bodies_get_a_4xx_and_change_nothing(web, make_agent, sql):
    make_agent(web, "alice")
    before = counts(sql)
    hdr = {"Accept": HTML, "Origin": web.url,
           "Content-Type": "application/x-www-form-urlencoded"}
    for body, status in ((b"name=%ff%fe&phone=%2B447700900123&topic=x&when=asap", 400),
                         (b"name=a%00b&phone=%2B447700900123&topic=x&when=asap", 400),
                         (b"name=" + b"A" * 70000, 413),
                         (b"&&&==&=", 400)):
        r = web.req("POST", "/book", data=body, headers=hdr, allow_redirects=False)
        assert 400 <= r.status_code < 500 and r.status_code == status, (body[:40], r.status_code)
    r = web.req("POST", "/book", data=b"{}", allow_redirects=False,
                headers={"Accept": HTML, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert counts(sql) == before


def test_a_cross_site_form_post_is_refused(web, make_agent, sql):
    make_agent(web, "alice")
    before = counts(sql)
    r = post(web, "/book", form(), headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert "own pages" in r.text
    r = post(web, "/book", form(), headers={"Origin": "null"})
    assert r.status_code == 403
    r = post(web, "/book", form(), headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = post(web, "/book", form(), origin=False, headers={"Sec-Fetch-Site": "same-site"})
    assert r.status_code == 403
    assert counts(sql) == before
    # The pages send no referrer, so their own posts say "Origin: null",
    # with the browser's Sec-Fetch-Site: same-origin.
    manage_path(post(web, "/book", form(), headers={"Origin": "null",
                                                     "Sec-Fetch-Site": "same-origin"}))
    # Sent from the page as the browser reached it (Origin = Host).
    host = web.url.split("//")[1]
    manage_path(post(web, "/book", form(), headers={"Origin": f"http://{host}"}))


def booked_slot(d, slot_index=None):
    """Book a slot through the form; returns (id, token, manage path)."""
    free = [v for v, _ in options(page(d, "/book").text, "slot") if v]
    slot = free[slot_index if slot_index is not None else len(free) // 2]
    loc = manage_path(post(d, "/book", form(when="later", slot=slot)))
    return int(re.match(r"/v1/callbacks/(\d+)", loc).group(1)), token_of(loc), loc


def as_json(d, cid, tok):
    return d.req("GET", f"/v1/callbacks/{cid}", key=tok).json()


def test_manage_page_reschedules_with_the_same_person_or_the_earliest(web, make_agent):
    make_agent(web, "alice", display_name="Alice")
    make_agent(web, "bob", display_name="Bob")
    cid, tok, loc = booked_slot(web, 20)
    before = as_json(web, cid, tok)
    m = page(web, loc)
    assert 'action="/manage/%d/reschedule"' % cid in m.text
    assert "The same person (%s)" % before["owner"]["display_name"] in m.text
    new = [v for v, _ in options(m.text, "slot") if v][30]
    r = post(web, f"/manage/{cid}/reschedule",
             {"token": tok, "choice": "same_person", "slot": new, "zone": "Europe/London"})
    assert manage_path(r).endswith("done=moved")
    after = as_json(web, cid, tok)
    assert after["owner"] == before["owner"]
    assert helpers_epoch(after["scheduled_at"]) == helpers_epoch(new)
    assert "Done: the time is changed." in page(web, manage_path(r)).text
    # The earliest anyone can, with no time picked: the first free slot.
    first = [v for v, _ in options(m.text, "slot") if v][0]
    r = post(web, f"/manage/{cid}/reschedule", {"token": tok, "choice": "earliest", "slot": ""})
    manage_path(r)
    assert helpers_epoch(as_json(web, cid, tok)["scheduled_at"]) <= helpers_epoch(first) + 3600
    # A choice the API does not offer is told, and changes nothing.
    was = as_json(web, cid, tok)
    r = post(web, f"/manage/{cid}/reschedule", {"token": tok, "choice": "whoever"})
    assert r.status_code == 400
    assert "choice must be" in problem_text(r.text)
    assert as_json(web, cid, tok) == was


def test_a_slot_taken_or_closed_is_told_beside_the_time(daemon_factory, make_agent):
    d = daemon_factory(relaxed(web_dir=str(WEB_DIR), site_timezone="Europe/London",
                               opening_hours="mon-fri 09:00-17:00"))
    clock_to(d, "2026-12-07T08:00:00Z")  # a Monday morning
    make_agent(d, "alice")
    cid, tok, loc = booked_slot(d, 0)
    was = as_json(d, cid, tok)
    r = post(d, f"/manage/{cid}/reschedule",
             {"token": tok, "choice": "earliest", "slot": "2026-12-12T12:00:00Z"})
    assert r.status_code == 409
    assert "We are closed at that time. The next opening is Mon 14 Dec, 09:00." \
        in field_error(r.text, "slot")
    # The page is still the callback's, with its forms.
    assert 'action="/manage/%d/cancel"' % cid in r.text
    assert as_json(d, cid, tok) == was


def test_cancel_asks_first_then_cancels(web, make_agent):
    make_agent(web, "alice")
    cid, tok, loc = booked_slot(web)
    assert re.search(r'<div id="confirm-cancel" hidden>', page(web, loc).text)
    r = post(web, f"/manage/{cid}/cancel", {"token": tok})
    assert r.status_code == 200
    assert re.search(r'<div id="confirm-cancel" >', r.text)
    assert "Yes, cancel it" in r.text
    assert as_json(web, cid, tok)["state"] == "scheduled"
    r = post(web, f"/manage/{cid}/cancel", {"token": tok, "confirm": "yes"})
    assert manage_path(r).endswith("done=cancelled")
    assert as_json(web, cid, tok)["state"] == "cancelled"
    m = page(web, manage_path(r))
    assert "This callback is cancelled." in m.text
    assert re.search(r'<section id="change" hidden', m.text)


def test_a_wrong_or_missing_token_opens_nothing_and_changes_nothing(web, make_agent):
    make_agent(web, "alice", display_name="Alice")
    cid, tok, loc = booked_slot(web)
    other, other_tok, _ = booked_slot(web, 3)
    was = as_json(web, cid, tok)
    wrong = tok[:-4] + ("aaaa" if not tok.endswith("aaaa") else "bbbb")
    for path in (f"/v1/callbacks/{cid}?token={wrong}", f"/v1/callbacks/{cid}",
                 f"/v1/callbacks/{cid}?token={other_tok}", f"/manage?id={cid}&token={wrong}",
                 f"/manage?id={cid}", "/manage", f"/v1/callbacks/{cid}?token=cbk_x"):
        r = page(web, path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert "This link does not open a callback" in r.text, path
        assert "Alice" not in r.text and "Billing" not in r.text and tok not in r.text
        assert f'action="/manage/{cid}' not in r.text
        assert re.search(r'<section id="change" hidden', r.text)
    for fields in ({"token": wrong, "choice": "earliest"}, {"choice": "earliest"},
                   {"token": other_tok, "choice": "earliest"},
                   {"token": "cbk_" + "a" * 40, "choice": "earliest"}):
        for action in ("reschedule", "cancel"):
            r = post(web, f"/manage/{cid}/{action}", dict(fields, confirm="yes"))
            assert 400 <= r.status_code < 500, (action, fields, r.status_code)
            assert "Alice" not in r.text and "Billing" not in r.text
    assert as_json(web, cid, tok) == was
    # A cross-site post with the right token is refused too.
    r = post(web, f"/manage/{cid}/cancel", {"token": tok, "confirm": "yes"},
             headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert as_json(web, cid, tok)["state"] == "scheduled"
    # The page itself opens with the token, times in another zone on asking.
    r = page(web, f"/manage?id={cid}&token={tok}&zone=Asia/Tokyo")
    assert r.status_code == 200 and selected(r.text, "zone") == "Asia/Tokyo"
