"""Overdue calls, a state the service manages: a call not made more than
overdue_grace_min after its due time stays with its owner while they are on
duty, moves once at their shift end to the agent on duty with the most shift
left (never one leaving within the handle time), with a true note and a
"running late" text that names no time already past; leads see it in
GET /v1/overdue, in coverage, as a callback.overdue webhook (once) and as a
metric.

The clock is Monday 2 November 2026; London is on GMT, so local times read
as UTC. Bookings go in in a random order (CBD_TEST_SEED repeats one).
"""

import json
import os
import random
import re

import pytest

from helpers import make_key, wait_until
from util_api import assert_problem, epoch, relaxed, set_clock

DAY = "2026-11-02"
SEED = int(os.environ.get("CBD_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
_rng = random.Random(SEED)
_phone = iter(range(30_000_000, 99_999_999))


def at(hhmm, day=DAY):
    return f"{day}T{hhmm}:00Z"


def shift(start, end):
    """A daily shift start-end (HH:MM) in London."""
    h0, m0 = map(int, start.split(":"))
    h1, m1 = map(int, end.split(":"))
    minutes = (h1 * 60 + m1) - (h0 * 60 + m0)
    if minutes <= 0:
        minutes += 24 * 60
    return {"start": f"2026-11-01T{start}:00", "duration": f"PT{minutes}M",
            "rrule": "FREQ=DAILY", "tz": "Europe/London"}


def put_shifts(d, agent_id, *shifts):
    r = d.admin("PUT", f"/v1/agents/{agent_id}/shifts", json={"shifts": list(shifts)})
    assert r.status_code == 200, r.text


def book_all(d, times, notify=("sms",)):
    """Book one callback at each time, in a random order; ids by time."""
    ids = {}
    for t in _rng.sample(list(times), len(times)):
        body = {"customer": {"name": f"Customer {t}", "timezone": "Europe/London",
                             "phone": "+4473%08d" % next(_phone)},
                "topic": "Billing question", "when": at(t)}
        if notify is not None:
            body["notify"] = list(notify)
        r = d.req("POST", "/v1/callbacks", json=body)
        assert r.status_code == 201, f"seed {SEED}: {r.text}"
        ids[t] = r.json()["id"]
    return [ids[t] for t in times]


def planner(d):
    r = d.admin("POST", "/v1/planner/run")
    assert r.status_code == 200, r.text
    return r.json()


def owner(sql, cb):
    return sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb,))


def texts(sql, cb):
    return [(r["due_at"], json.loads(r["payload"])["body"]) for r in sql.query(
        "SELECT due_at, payload FROM outbox WHERE callback_id = %s AND "
        "channel = 'sms' AND kind = 'sms.owner_changed' ORDER BY id", (cb,))]


_TIME_IN_TEXT = re.compile(r"(\w{3} \d{2} \w{3}) at (\d{2}):(\d{2}) \(UTC\+0\)")


def named_time_in_past(due_at, text):
    """Does text name a time (London = UTC here) before it is sent?"""
    m = _TIME_IN_TEXT.search(text)
    if not m:
        return False
    named = epoch(f"{DAY}T{m.group(2)}:{m.group(3)}:00Z")
    return named < due_at


@pytest.fixture
def floor(daemon_factory, make_agent, webhook_receiver):
    """Alex 08-14; Kim 13:00-14:04 (leaves 4 minutes after Alex, within
    the 5-minute handle time); Sam 13-22; Lee 14-18; Nia 21:00-06:00.
    Agents are made in that order, so Kim has the lowest id after Alex."""
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               webhook_url=rx.url + "/events",
                               webhook_secrets="whsec_" + "A" * 32,
                               outbox_poll_ms=50, avg_handle_sec=300,
                               overdue_grace_min=15))
    set_clock(d, at("08:05"))

    class Floor:
        pass

    f = Floor()
    f.d, f.rx = d, rx
    for name, (s, e) in (("alex", ("08:00", "14:00")), ("kim", ("13:00", "14:04")),
                         ("sam", ("13:00", "22:00")), ("lee", ("14:00", "18:00")),
                         ("nia", ("21:00", "06:00"))):
        a, key = make_agent(d, name)
        setattr(f, name, a["id"])
        setattr(f, name + "_key", key)
        put_shifts(d, a["id"], shift(s, e))
    f.lead = make_key(d, "lead", "lena")
    return f


def test_overdue_stays_with_its_owner_on_duty_then_moves_once_to_who_stays_longest(floor, sql):
    f = floor
    first, second = book_all(f.d, ["10:00", "11:00"])
    assert {owner(sql, i) for i in (first, second)} == {f.alex}

    # 11:30: both are overdue (grace 15 minutes); Alex is on duty: they stay.
    set_clock(f.d, at("11:30"))
    rep = planner(f.d)
    assert rep["overdue"] == 2 and rep["handed_off"] == 0, rep
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0

    # 14:01: Alex's shift ended. Each moves once, to Sam (until 22:00), not
    # Kim (leaving at 14:04, within the handle time) nor Lee (until 18:00).
    set_clock(f.d, at("14:01"))
    assert planner(f.d)["handed_off"] == 2
    assert [owner(sql, i) for i in (first, second)] == [f.sam, f.sam], f"seed {SEED}"
    rows = sql.query("SELECT callback_id, from_agent, to_agent, kind, reason, "
                     "next_step FROM handoffs ORDER BY due_at")
    assert [(r["callback_id"], r["from_agent"], r["to_agent"], r["kind"])
            for r in rows] == [(first, f.alex, f.sam, "overdue"),
                               (second, f.alex, f.sam, "overdue")]
    for r in rows:
        # The note's reason is the true one: not "off shift at the due time".
        assert r["reason"] == "overdue: Alex's shift ended before the call was made", r
        assert "as soon as possible" in r["next_step"], r

    # The customer hears "running late" with a real estimate from Sam's
    # queue (one call ahead of the second), never a time already past.
    [(due1, t1)] = texts(sql, first)
    [(due2, t2)] = texts(sql, second)
    assert t1 == ("We are running late; Sam will call you within about 5 "
                  "minutes and has Alex's notes."), t1
    assert "within about 10 minutes" in t2, t2
    for due, t in ((due1, t1), (due2, t2)):
        assert not named_time_in_past(due, t), t
        assert not _TIME_IN_TEXT.search(t), t

    # Sam is on duty: later passes leave them with Sam.
    for hhmm in ("14:30", "17:59", "21:30"):
        set_clock(f.d, at(hhmm))
        assert planner(f.d)["handed_off"] == 0, hhmm
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 2

    # Sam reaches the first; the second is still untouched at 22:00, when
    # Sam leaves with it: only then does it move again, to Nia.
    r = f.d.req("POST", f"/v1/callbacks/{first}/claim", key=f.sam_key)
    assert r.status_code == 200, r.text
    r = f.d.req("POST", f"/v1/callbacks/{first}/outcome", key=f.sam_key,
                json={"result": "reached"})
    assert r.status_code == 200, r.text
    set_clock(f.d, at("22:01"))
    assert planner(f.d)["handed_off"] == 1
    assert owner(sql, second) == f.nia
    counts = {r["callback_id"]: r["n"] for r in sql.query(
        "SELECT callback_id, COUNT(*) AS n FROM handoffs GROUP BY callback_id")}
    assert counts == {first: 1, second: 2}
    # 22:01 is inside the customer's quiet hours: no "within minutes" text
    # that would be false by the morning.
    assert len(texts(sql, second)) == 1


def test_overdue_is_announced_once_and_listed_for_leads(floor, sql):
    f = floor
    a, b, later = book_all(f.d, ["09:00", "10:30", "12:00"])
    set_clock(f.d, at("11:00"))
    for _ in range(3):
        assert planner(f.d)["overdue"] == 2
    # One case event and one webhook per overdue callback, however many
    # passes saw it.
    rows = sql.query("SELECT callback_id, COUNT(*) AS n FROM outbox WHERE kind = "
                     "'callback.overdue' GROUP BY callback_id")
    assert {r["callback_id"]: r["n"] for r in rows} == {a: 1, b: 1}
    assert sql.scalar("SELECT COUNT(*) FROM events WHERE kind = 'overdue'") == 2
    wait_until(lambda: len([r for r in f.rx.matching("/events")
                            if r.json().get("type") == "callback.overdue"]) == 2,
               timeout=15, msg="two callback.overdue webhooks")
    got = sorted(r.json()["data"]["callback_id"] for r in f.rx.matching("/events")
                 if r.json().get("type") == "callback.overdue")
    assert got == sorted([a, b])

    # The lead's list: most late first, how late, and whether the owner is on.
    r = f.d.req("GET", "/v1/overdue", key=f.lead)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(x["callback_id"], x["minutes_late"], x["owner"]["id"],
             x["owner"]["on_duty"]) for x in items] == [
        (a, 120, f.alex, True), (b, 30, f.alex, True)]
    assert items[0]["due_at"] == at("09:00") and items[0]["state"] == "scheduled"
    # Paged.
    r1 = f.d.req("GET", "/v1/overdue", key=f.lead, params={"limit": 1}).json()
    assert [x["callback_id"] for x in r1["items"]] == [a] and r1["next_cursor"]
    r2 = f.d.req("GET", "/v1/overdue", key=f.lead,
                 params={"limit": 1, "cursor": r1["next_cursor"]}).json()
    assert [x["callback_id"] for x in r2["items"]] == [b]
    assert_problem(f.d.req("GET", "/v1/overdue", key=f.lead, params={"limit": 0}),
                   400, "/problems/invalid-query", "limit")
    assert_problem(f.d.req("GET", "/v1/overdue", key=f.alex_key), 403,
                   "/problems/forbidden")

    # Coverage looks back too.
    r = f.d.req("GET", "/v1/coverage", key=f.lead)
    assert r.status_code == 200, r.text
    cov = r.json()
    assert cov["overdue_total"] == 2
    assert [x["callback_id"] for x in cov["overdue"]] == [a, b]

    # Called: no longer overdue.
    r = f.d.req("POST", f"/v1/callbacks/{a}/claim", key=f.alex_key)
    assert r.status_code == 200, r.text
    assert [x["callback_id"] for x in
            f.d.req("GET", "/v1/overdue", key=f.lead).json()["items"]] == [b]


def test_overdue_with_nobody_staying_long_enough_stays_and_is_listed(floor, sql):
    f = floor
    [cb] = book_all(f.d, ["09:00"])
    # Sam and Lee are away this afternoon; only Kim (leaving at 14:04) is on.
    for who in (f.sam, f.lee):
        r = f.d.admin("POST", f"/v1/agents/{who}/time-off",
                      json={"from": at("12:00"), "to": at("23:00"), "reason": "away"})
        assert r.status_code == 201, r.text
    set_clock(f.d, at("14:01"))
    rep = planner(f.d)
    assert rep["handed_off"] == 0 and rep["at_risk"] == 1 and rep["overdue"] == 1, rep
    assert owner(sql, cb) == f.alex
    [item] = f.d.req("GET", "/v1/overdue", key=f.lead).json()["items"]
    assert item["owner"] == {"id": f.alex, "display_name": "Alex", "on_duty": False}
    assert item["minutes_late"] == 301
    # A lead's preview says why it stays.
    r = f.d.req("POST", "/v1/handoffs", key=f.lead, json={
        "from_agent": f.alex, "dry_run": True,
        "note": {"summary": "s", "next_step": "n", "reason": "r"}})
    assert r.status_code == 200, r.text
    [stay] = r.json()["stays"]
    assert stay["why"] == "nobody else on duty stays long enough to make the call"
    assert stay["at_risk"] is True
    # Nia comes on at 21:00 and takes it.
    set_clock(f.d, at("21:01"))
    assert planner(f.d)["handed_off"] == 1
    assert owner(sql, cb) == f.nia
    [reason] = [r["reason"] for r in sql.query("SELECT reason FROM handoffs")]
    assert reason == "overdue: Alex's shift ended before the call was made"


def test_lead_moving_an_overdue_call_never_names_a_past_time(floor, sql):
    f = floor
    a, b = book_all(f.d, ["09:00", "12:30"])
    set_clock(f.d, at("13:10"))
    r = f.d.req("POST", "/v1/handoffs", key=f.lead, json={
        "from_agent": f.alex, "note": {"summary": "Alex is needed elsewhere",
                                       "next_step": "Call now",
                                       "reason": "Rebalance"}})
    assert r.status_code == 201, r.text
    moves = {m["callback_id"]: m["to_agent"] for m in r.json()["moves"]}
    # Sam stays longest of those on duty (Kim leaves at 14:04); the 12:30
    # call is late though not yet overdue: no time is named either.
    assert moves == {a: f.sam, b: f.sam}, r.json()
    for cb in (a, b):
        [(due, text)] = texts(sql, cb)
        assert text.startswith("We are running late; Sam will call you within about"), text
        assert not named_time_in_past(due, text), text


def test_overdue_metric(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(planner_interval_sec=1, overdue_grace_min=10))
    set_clock(d, at("08:05"))
    alex, _ = make_agent(d, "alex")
    put_shifts(d, alex["id"], shift("08:00", "14:00"))
    book_all(d, ["09:00", "09:30", "12:00"], notify=None)
    set_clock(d, at("09:35"))

    def gauge():
        text = d.req("GET", "/metrics").text
        m = re.search(r"^callbackd_overdue_callbacks (\S+)$", text, re.M)
        return m and float(m.group(1))
    wait_until(lambda: gauge() == 1.0, timeout=15, msg="the overdue gauge at 1")
    set_clock(d, at("09:45"))
    wait_until(lambda: gauge() == 2.0, timeout=15, msg="the overdue gauge at 2")
