"""Cases end to end: the timeline of a case after a real sequence of
bookings, claims, attempts and notes (with the messages the customer was
sent, delivered to a real local receiver), append-only notes and their
corrections, finding a customer's cases by phone, and an agent's calendar
feed parsed as iCalendar, with who may read which feed.

Time is the daemon's test clock, moved between steps so that every entry
of a timeline has a time of its own.
"""

import base64
import itertools
import os

from icalendar import Calendar

from helpers import make_key, wait_until
from util_api import (clock_advance, clock_to, epoch, relaxed, unique_name,
                      utc_text as rfc3339)

PROBLEM = "application/problem+json"
NOW = "2031-03-04T10:00:00Z"  # a Tuesday morning in London
SECRET = "whsec_" + base64.b64encode(b"cases-test-secret-number-one-1!").decode()

_phones = itertools.count(1)


def phone():
    return "+4478%02d%06d" % (os.getpid() % 100, next(_phones))


def set_clock(d, now=NOW):
    return clock_to(d, now)


advance = clock_advance


def assert_problem(r, status, ptype, field=None):
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url}: wanted {status} {ptype}, " \
        f"got {r.status_code}: {r.text[:500]}"
    assert r.headers["Content-Type"].split(";")[0] == PROBLEM, r.headers
    p = r.json()
    assert p["type"] == f"/problems/{ptype}", p
    assert p["status"] == status and p["title"] and p["detail"], p
    if field is not None:
        assert p["errors"][0]["field"] == field, p
    return p


def ok(r, status=200):
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url} -> {r.status_code}: {r.text[:500]}"
    return r.json() if r.content else None


def book(d, when="asap", ph=None, topic="Billing question", notify=None):
    body = {"customer": {"name": "Grace Hopper", "phone": ph or phone(),
                         "timezone": "Europe/London"},
            "topic": topic, "when": when}
    if notify is not None:
        body["notify"] = notify
    return ok(d.req("POST", "/v1/callbacks", json=body), 201)


def staff_view(d, cid):
    return ok(d.admin("GET", f"/v1/callbacks/{cid}"))


def get_case(d, case_id, key):
    return ok(d.req("GET", f"/v1/cases/{case_id}", key=key))


def add_note(d, case_id, key, text, corrects=None):
    body = {"text": text}
    if corrects is not None:
        body["corrects"] = corrects
    return d.req("POST", f"/v1/cases/{case_id}/notes", key=key, json=body)


# --------------------------------------------------------------------------
# The timeline


def test_timeline_holds_every_step_in_order_with_the_messages_sent(
        daemon_factory, make_agent, sql, webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               webhook_url=rx.url + "/events",
                               webhook_secrets=SECRET, outbox_poll_ms=50))
    t = {"book": set_clock(d)}
    ann, key = make_agent(d, unique_name("ann"))
    ph = phone()
    cid = book(d, ph=ph, notify=["sms"], topic="Broken router")["id"]
    case_id = staff_view(d, cid)["case_id"]
    # The booking's messages go out before the first claim: a claim
    # withdraws a confirmation still waiting (the call is under way).
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM outbox WHERE callback_id = %s AND status = 'pending'",
        (cid,)) == 0, msg="the booking's messages sent")

    t["claim1"] = advance(d, 60)
    assert ok(d.req("POST", "/v1/me/queue/next", key=key))["id"] == cid
    t["attempt1"] = advance(d, 60)
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
             json={"result": "no_answer", "note": "rang out, left voicemail"}))
    t["note"] = advance(d, 60)
    note = ok(add_note(d, case_id, key, "Customer emailed: call after 11"), 201)
    # The retry is due retry_delay_sec (30 min) after the attempt.
    t["claim2"] = advance(d, 1800)
    assert ok(d.req("POST", "/v1/me/queue/next", key=key))["id"] == cid
    t["attempt2"] = advance(d, 60)
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
             json={"result": "reached", "note": "router replaced"}))

    # Every message delivered before the case is read, so its status is
    # final.
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM outbox WHERE callback_id = %s AND status = 'pending'",
        (cid,)) == 0, msg="the case's messages sent")
    case = get_case(d, case_id, key)

    assert case["id"] == case_id and case["open"] in (True, False)
    assert case["owner"]["id"] == ann["id"]
    assert case["customer"]["phone"] == ph and case["customer"]["name"] == "Grace Hopper"
    [cb] = case["callbacks"]
    assert cb["id"] == cid and cb["state"] == "completed" and cb["attempts"] == 2
    assert cb["topic"] == "Broken router"

    tl = case["timeline"]
    kinds = [(e["kind"], e["data"].get("type") or e["data"].get("result"))
             for e in tl]
    assert kinds == [
        ("booked", None),
        ("message", "callback.booked"),
        ("message", "sms.confirmation"),
        ("claimed", None),
        ("attempt", "no_answer"),
        ("note", None),
        ("claimed", None),
        ("attempt", "reached"),
        ("message", "callback.completed"),
    ], kinds
    at = [epoch(e["at"]) for e in tl]
    assert at == sorted(at)
    step = {0: "book", 1: "book", 2: "book", 3: "claim1", 4: "attempt1",
            5: "note", 6: "claim2", 7: "attempt2", 8: "attempt2"}
    for i, name in step.items():
        assert t[name] <= at[i] <= t[name] + 30, (i, tl[i], name, t[name])
    for e in tl:
        assert e["callback_id"] == (None if e["kind"] == "note" else cid), e

    booked, _, _, claim1, attempt1, n1, claim2, attempt2, _ = tl
    assert booked["data"]["asap"] is True and booked["data"]["owner_id"] == ann["id"]
    assert booked["actor"] == "customer", booked
    for c in (claim1, claim2):
        assert c["actor"] == f"agent:{ann['id']}"
        assert c["data"]["agent_id"] == ann["id"]
    assert attempt1["data"]["note"] == "rang out, left voicemail"
    assert attempt1["data"]["attempt"] == 1 and attempt1["data"]["state"] == "retry_wait"
    assert attempt2["data"] == {"result": "reached", "attempt": 2, "state": "completed",
                                "agent_id": ann["id"], "note": "router replaced"}
    assert n1["id"] == note["id"] and n1["data"] == {"text": "Customer emailed: call after 11"}
    assert n1["actor"] == f"agent:{ann['id']}"

    # The messages are the ones the receiver got, with their outcome.
    msgs = [e for e in tl if e["kind"] == "message"]
    seen = {r.headers.get("webhook-id"): r for r in rx.matching()}
    for m in msgs:
        assert m["actor"] == "system"
        assert m["data"]["status"] == "sent", m
        assert m["data"]["sent_at"] is not None
        assert m["id"] in seen, (m, list(seen))
    assert {msgs[0]["data"]["channel"], msgs[2]["data"]["channel"]} == {"webhook"}
    assert msgs[1]["data"]["channel"] == "sms"
    assert seen[msgs[1]["id"]].path == "/sms"
    assert seen[msgs[2]["id"]].json()["type"] == "callback.completed"

    # The same timeline is every event of the case in MariaDB, in order.
    ev_ids = [r["id"] for r in sql.query(
        "SELECT id FROM events WHERE case_id = %s ORDER BY id", (case_id,))]
    assert [e["id"] for e in tl if e["kind"] != "message"] == ev_ids
    assert sorted(m["id"] for m in msgs) == sorted(r["msg_id"] for r in sql.query(
        "SELECT msg_id FROM outbox WHERE callback_id = %s AND status NOT IN ('skipped', 'withdrawn') "
        "AND kind NOT IN ('callback.claimed', 'callback.attempted', 'callback.failed', "
        "'handoff.created')", (cid,)))

    # Staff of every role read cases; nobody else does.
    lead = make_key(d, "lead", unique_name("lead"))
    assert get_case(d, case_id, lead)["timeline"] == tl
    assert get_case(d, case_id, d.admin_key)["timeline"] == tl
    assert_problem(d.req("GET", f"/v1/cases/{case_id}"), 401, "unauthorized")
    assert_problem(d.req("GET", "/v1/cases/99999999", key=key), 404, "not-found")


def test_customer_lookup_by_phone_lists_their_case(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    set_clock(d)
    ann, key = make_agent(d, unique_name("ann"))
    ph, other = phone(), phone()
    cid = book(d, ph=ph)["id"]
    case_id = staff_view(d, cid)["case_id"]
    book(d, ph=other)

    b = ok(d.req("GET", "/v1/customers", key=key, params={"phone": ph}))
    assert b["customer"]["phone"] == ph and b["customer"]["name"] == "Grace Hopper"
    assert b["customer"]["timezone"] == "Europe/London"
    assert [c["id"] for c in b["cases"]] == [case_id]
    [c] = b["cases"]
    assert c["open"] is True and c["callbacks"] == 1
    assert c["owner"] == ann["display_name"]

    # A second callback for the same customer joins the same case.
    ok(d.req("POST", f"/v1/callbacks/{cid}/claim", key=key))
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key, json={"result": "reached"}))
    again = book(d, ph=ph)["id"]
    assert staff_view(d, again)["case_id"] == case_id
    b = ok(d.req("GET", "/v1/customers", key=key, params={"phone": ph}))
    assert [(c["id"], c["callbacks"]) for c in b["cases"]] == [(case_id, 2)]

    assert_problem(d.req("GET", "/v1/customers", key=key, params={"phone": "+12025550198"}),
                   404, "not-found")
    assert_problem(d.req("GET", "/v1/customers", key=key, params={"phone": "12345"}),
                   400, "invalid-phone", "phone")
    assert_problem(d.req("GET", "/v1/customers", key=key), 400, "invalid-phone", "phone")
    assert_problem(d.req("GET", "/v1/customers", params={"phone": ph}), 401, "unauthorized")


# --------------------------------------------------------------------------
# Notes: append-only, corrections point at what they correct


def test_notes_are_append_only_and_corrections_reference_the_old_note(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    set_clock(d)
    ann, key = make_agent(d, unique_name("ann"))
    lead = make_key(d, "lead", unique_name("lead"))
    case_a = staff_view(d, book(d)["id"])["case_id"]
    case_b = staff_view(d, book(d)["id"])["case_id"]

    first = ok(add_note(d, case_a, key, "Prefers Spanish"), 201)
    assert first["case_id"] == case_a and first["kind"] == "note"
    assert first["actor"] == f"agent:{ann['id']}"
    assert first["data"] == {"text": "Prefers Spanish"}
    other = ok(add_note(d, case_b, key, "Another case"), 201)
    before = sql.query("SELECT * FROM events WHERE id = %s", (first["id"],))

    advance(d, 60)
    fix = ok(add_note(d, case_a, lead, "Prefers Portuguese", corrects=first["id"]), 201)
    assert fix["id"] > first["id"]
    assert fix["data"] == {"text": "Prefers Portuguese", "corrects": first["id"]}
    assert fix["actor"].startswith("lead:")

    # The old note is still there, unchanged; the correction follows it.
    assert sql.query("SELECT * FROM events WHERE id = %s", (first["id"],)) == before
    notes = [e for e in get_case(d, case_a, key)["timeline"] if e["kind"] == "note"]
    assert [(n["id"], n["data"]) for n in notes] == [
        (first["id"], {"text": "Prefers Spanish"}),
        (fix["id"], {"text": "Prefers Portuguese", "corrects": first["id"]})]

    n_events = sql.scalar("SELECT COUNT(*) FROM events")
    # A correction must name a note of this very case.
    assert_problem(add_note(d, case_a, key, "x", corrects=other["id"]), 400,
                   "invalid-field", "corrects")
    booked = sql.scalar("SELECT id FROM events WHERE case_id = %s AND kind = 'booked'",
                        (case_a,))
    assert_problem(add_note(d, case_a, key, "x", corrects=booked), 400,
                   "invalid-field", "corrects")
    assert_problem(add_note(d, case_a, key, "x", corrects=99999999), 400,
                   "invalid-field", "corrects")
    assert_problem(add_note(d, case_a, key, "x", corrects="1"), 400, "invalid-field", "corrects")
    assert_problem(add_note(d, case_a, key, ""), 400, "missing-field", "text")
    assert_problem(d.req("POST", f"/v1/cases/{case_a}/notes", key=key, json={}),
                   400, "missing-field", "text")
    assert_problem(d.req("POST", f"/v1/cases/{case_a}/notes", key=key,
                         json={"text": "x", "author": "someone"}), 400, "unknown-field")
    assert_problem(add_note(d, 99999999, key, "x"), 404, "not-found")
    assert_problem(add_note(d, case_a, None, "x"), 401, "unauthorized")
    # There is no way to edit or delete a note.
    for method in ("PUT", "PATCH", "DELETE"):
        r = d.req(method, f"/v1/cases/{case_a}/notes", key=lead, json={"text": "y"})
        assert r.status_code in (404, 405), (method, r.status_code, r.text)
        r = d.req(method, f"/v1/cases/{case_a}/notes/{first['id']}", key=lead,
                  json={"text": "y"})
        assert r.status_code in (404, 405), (method, r.status_code, r.text)
    assert sql.scalar("SELECT COUNT(*) FROM events") == n_events
    assert sql.query("SELECT * FROM events WHERE id = %s", (first["id"],)) == before


# --------------------------------------------------------------------------
# The agent's calendar feed


def feed_events(text):
    cal = Calendar.from_ical(text)
    return {str(ev["UID"]): ev for ev in cal.walk("VEVENT")}


def test_calendar_feed_lists_exactly_the_agents_upcoming_open_callbacks(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    now = set_clock(d)
    ann, ann_key = make_agent(d, unique_name("ann"), capacity=5)
    day = (now // 86400 + 1) * 86400  # tomorrow 00:00 UTC
    mine = [book(d, when=rfc3339(day + h * 3600), topic=f"Call {h}")["id"]
            for h in (9, 10, 11, 12)]
    asap = book(d, topic="Now please")["id"]
    done, gone = mine[2], mine[3]
    ok(d.req("POST", f"/v1/callbacks/{done}/claim", key=ann_key))
    ok(d.req("POST", f"/v1/callbacks/{done}/outcome", key=ann_key, json={"result": "reached"}))
    ok(d.admin("DELETE", f"/v1/callbacks/{gone}"))
    # Bob joins later: the next bookings are his (the least loaded agent).
    bob, bob_key = make_agent(d, unique_name("bob"), capacity=5)
    bobs = [book(d, when=rfc3339(day + h * 3600), topic="Bob's")["id"] for h in (9, 14)]
    owners = {r["id"]: r["owner_id"] for r in sql.query("SELECT id, owner_id FROM callbacks")}
    assert {owners[c] for c in mine + [asap]} == {ann["id"]}
    assert {owners[c] for c in bobs} == {bob["id"]}

    tok = ok(d.req("POST", f"/v1/agents/{ann['id']}/feed-token", key=ann_key), 201)
    assert tok["url"].endswith(f"/v1/agents/{ann['id']}/calendar.ics?token={tok['token']}")

    def fetch(token=None, key=None, agent=ann):
        params = {"token": token} if token else None
        return d.req("GET", f"/v1/agents/{agent['id']}/calendar.ics", key=key, params=params)

    r = d.req("GET", tok["url"][len(d.url):])  # the URL as handed out
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/calendar")
    first = feed_events(r.content)
    want = {f"callback-{c}-agent@callbackd": c for c in (mine[0], mine[1], asap)}
    assert set(first) == set(want)
    starts = {c: sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (c,)) for c in want.values()}
    for uid, c in want.items():
        ev = first[uid]
        assert int(ev.decoded("DTSTART").timestamp()) == starts[c]
        assert str(ev["SUMMARY"]) == {mine[0]: "Call 9", mine[1]: "Call 10",
                                      asap: "Now please"}[c]
        assert int(ev["SEQUENCE"]) == 0

    # UIDs stay when a call moves: the event changes, with a new SEQUENCE.
    moved = mine[0]
    ok(d.admin("PATCH", f"/v1/callbacks/{moved}", json={"when": rfc3339(day + 15 * 3600)}))
    second = feed_events(fetch(tok["token"]).content)
    assert set(second) == set(first)
    ev = second[f"callback-{moved}-agent@callbackd"]
    assert int(ev.decoded("DTSTART").timestamp()) == day + 15 * 3600
    assert int(ev["SEQUENCE"]) == 1
    assert feed_events(fetch(tok["token"]).content).keys() == second.keys()

    # Who may read it.
    bob_tok = ok(d.req("POST", f"/v1/agents/{bob['id']}/feed-token", key=bob_key), 201)
    assert set(feed_events(fetch(bob_tok["token"], agent=bob).content)) == {
        f"callback-{c}-agent@callbackd" for c in bobs}
    assert_problem(fetch(bob_tok["token"]), 404, "not-found")
    assert_problem(fetch(), 401, "unauthorized")
    assert set(feed_events(ok_text(fetch(key=ann_key)))) == set(first)
    assert_problem(fetch(key=bob_key), 403, "forbidden")
    assert_problem(d.req("POST", f"/v1/agents/{ann['id']}/feed-token", key=bob_key),
                   403, "forbidden")
    lead = make_key(d, "lead", unique_name("lead"))
    assert set(feed_events(ok_text(fetch(key=lead)))) == set(first)
    # An API key is no feed token, even in the URL.
    assert_problem(fetch(ann_key), 401, "unauthorized")
    # A customer's manage token opens only its own callback.
    manage = book(d)["manage_token"]
    assert_problem(fetch(manage), 403, "forbidden")

    # A new token replaces the old one.
    tok2 = ok(d.req("POST", f"/v1/agents/{ann['id']}/feed-token", key=d.admin_key), 201)
    assert tok2["token"] != tok["token"]
    assert_problem(fetch(tok["token"]), 404, "not-found")
    assert set(feed_events(ok_text(fetch(tok2["token"])))) == set(first)
    assert_problem(d.req("POST", "/v1/agents/99999999/feed-token", key=d.admin_key),
                   404, "not-found")


def ok_text(r):
    assert r.status_code == 200, f"{r.request.path_url} -> {r.status_code}: {r.text[:300]}"
    return r.content
