"""Ownership and handoffs end to end: the planner's decisions on hand-made
rosters under the test clock (keep, hand off, nobody on duty), lead
reassignments (dry run = real run, notes required), the audit trail, who may
do what, annotations until the call starts, the new owner's queue, and the
customer's message written with the change.

Every agent here has shift rules (an agent without any counts as always on
duty, which would make every case trivial). The clock is Monday 2 November
2026, 08:05 UTC; London is on GMT then, so local times read as UTC.

Bookings go in in a random order (seeded, the seed in the failure message):
ids are then not in due order, as they are not for any real agent, and code
that mixes up the two orders is caught.
"""

import collections
import json
import os
import random

import pytest

from helpers import make_key, wait_until
from util_api import assert_problem as _assert_problem, relaxed

NOW = "2026-11-02T08:05:00Z"
DAY = "2026-11-02"
NOTE = {"summary": "Billing dispute, refund promised",
        "next_step": "Confirm the refund went out",
        "reason": "Alex is on leave"}


def assert_problem(r, status, ptype, field=None):
    return _assert_problem(r, status, f"/problems/{ptype}", field)


def at(hhmm, day=DAY):
    return f"{day}T{hhmm}:00Z"


def daily(start_hhmm, hours):
    return {"start": f"2026-11-01T{start_hhmm}:00", "duration": f"PT{hours}H",
            "rrule": "FREQ=DAILY", "tz": "Europe/London"}


def put_shifts(daemon, agent_id, *shifts):
    r = daemon.admin("PUT", f"/v1/agents/{agent_id}/shifts",
                     json={"shifts": list(shifts)})
    assert r.status_code == 200, r.text
    return r.json()


def time_off(daemon, agent_id, frm, to, reason="leave"):
    r = daemon.admin("POST", f"/v1/agents/{agent_id}/time-off",
                     json={"from": frm, "to": to, "reason": reason})
    assert r.status_code == 201, r.text
    return r.json()


def set_clock(daemon, now):
    r = daemon.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text


_phone = iter(range(10_000_000, 99_999_999))


def book(daemon, when, name="Ada Lovelace", email=None, notify=None,
         phone=None, topic="Billing question"):
    customer = {"name": name, "phone": phone or "+4473%08d" % next(_phone),
                "timezone": "Europe/London"}
    if email:
        customer["email"] = email
    body = {"customer": customer, "topic": topic, "when": when}
    if notify is not None:
        body["notify"] = notify
    r = daemon.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, f"booking {when}: {r.status_code} {r.text}"
    return r.json()


def owner(sql, cb_id):
    return sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb_id,))


def planner(daemon, key=None):
    """One planner pass; its report without the overdue count (nothing
    here is overdue; test_overdue.py is about that)."""
    r = daemon.req("POST", "/v1/planner/run", key=key or daemon.admin_key)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep.pop("overdue") == 0, r.text
    return rep


def handoff(daemon, key, body, expect=None):
    r = daemon.req("POST", "/v1/handoffs", key=key, json=body)
    if expect is not None:
        assert r.status_code == expect, r.text
    return r


def assert_loads_consistent(sql):
    """agents.open_count equals the open callbacks each agent owns."""
    rows = sql.query(
        "SELECT a.id, a.open_count, (SELECT COUNT(*) FROM callbacks c WHERE "
        "c.owner_id = a.id AND c.state IN ('pending','scheduled','retry_wait',"
        "'in_progress')) AS owned FROM agents a")
    assert all(r["open_count"] == r["owned"] for r in rows), rows


def audit_chain_ok(daemon, sql, cb_id):
    """Every change of owner of cb_id is in the audit trail, in order, from
    the owner it was booked with to the owner it has now."""
    booked = json.loads(sql.scalar(
        "SELECT body FROM events WHERE callback_id = %s AND kind = 'booked'",
        (cb_id,)))
    r = daemon.admin("GET", "/v1/audit", params={"callback": cb_id})
    assert r.status_code == 200, r.text
    items = list(reversed(r.json()["items"]))  # oldest first
    cur = booked["owner_id"]
    for it in items:
        assert it["from"]["id"] == cur, (cb_id, items)
        for f in ("summary", "next_step", "reason"):
            assert it["note"][f], it
        assert it["author"], it
        cur = it["to"]["id"]
    assert cur == owner(sql, cb_id), (cb_id, booked, items)
    return items


@pytest.fixture
def crew(daemon_factory, make_agent, request):
    """A daemon at NOW and three agents: Alex 08-14, Sam and Kim 14-22,
    daily. Returns a namespace with the daemon, the agents, their keys and
    a lead key."""
    extra = dict(relaxed())
    extra.update(getattr(request, "param", {}) or {})
    d = daemon_factory(extra)
    set_clock(d, NOW)

    class Crew:
        pass

    c = Crew()
    c.d = d
    for name in ("alex", "sam", "kim"):
        a, key = make_agent(d, name, capacity=4)
        setattr(c, name, a["id"])
        setattr(c, name + "_key", key)
    put_shifts(d, c.alex, daily("08:00", 6))
    put_shifts(d, c.sam, daily("14:00", 8))
    put_shifts(d, c.kim, daily("14:00", 8))
    c.lead = make_key(d, "lead", "lena")
    return c


SEED = int(os.environ.get("CBD_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
shuffler = random.Random(SEED)


def shuffled(items):
    """items in a random order (CBD_TEST_SEED repeats a run's order)."""
    items = list(items)
    shuffler.shuffle(items)
    return items


def book_for_alex(c, sql, *hhmm, **kw):
    """Book at these times today, in a random order: only Alex is on duty
    then. Returns the ids in the order of hhmm."""
    got = {}
    for t in shuffled(hhmm):
        cb = book(c.d, at(t), **kw)
        assert owner(sql, cb["id"]) == c.alex, f"seed {SEED}"
        got[t] = cb["id"]
    return [got[t] for t in hhmm]


# --------------------------------------------------------------------------
# Planner decisions


def test_owner_on_duty_at_due_keeps_the_call(crew, sql):
    c = crew
    ids = book_for_alex(c, sql, "09:00", "13:00")
    assert planner(c.d) == {"kept": 0, "handed_off": 0, "at_risk": 0}
    assert [owner(sql, i) for i in ids] == [c.alex, c.alex]
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0


def test_owner_back_within_tolerance_keeps_the_call(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "10:00")
    # Sam could take it, but Alex is back 15 minutes after it is due.
    put_shifts(c.d, c.sam, daily("08:00", 12))
    time_off(c.d, c.alex, at("09:45"), at("10:15"), "doctor")
    assert planner(c.d) == {"kept": 1, "handed_off": 0, "at_risk": 0}
    assert owner(sql, cb) == c.alex
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0


def test_owner_back_too_late_hands_off(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "10:00")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    time_off(c.d, c.alex, at("09:45"), at("10:45"), "doctor")
    assert planner(c.d) == {"kept": 0, "handed_off": 1, "at_risk": 0}
    assert owner(sql, cb) == c.sam
    [h] = sql.query("SELECT * FROM handoffs")
    assert (h["callback_id"], h["from_agent"], h["to_agent"]) == (cb, c.alex, c.sam)
    assert h["kind"] == "planned" and h["author"] == "planner"
    assert "Alex is off shift" in h["reason"]
    assert h["summary"].startswith("Billing question.")
    assert "Ada Lovelace" in h["next_step"]
    # A second pass finds nothing left to do.
    assert planner(c.d) == {"kept": 0, "handed_off": 0, "at_risk": 0}
    assert_loads_consistent(sql)


def test_hand_off_goes_to_the_least_loaded_agent_on_duty(crew, sql):
    c = crew
    a, b, extra = book_for_alex(c, sql, "10:00", "11:00", "12:00")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    put_shifts(c.d, c.kim, daily("08:00", 12))
    # Sam gets one more open callback than Kim.
    handoff(c.d, c.lead, {"callback_ids": [extra], "to_agent": c.sam,
                          "note": NOTE}, expect=201)
    time_off(c.d, c.alex, at("09:30"), at("11:45"))
    assert planner(c.d)["handed_off"] == 2
    # Kim (0 open) takes the first; then both have one, and Sam, with the
    # lower id, takes the second.
    assert owner(sql, a) == c.kim
    assert owner(sql, b) == c.sam
    assert_loads_consistent(sql)


def test_hand_off_prefers_an_agent_who_worked_the_case(crew, sql):
    c = crew
    cb, x1, x2 = book_for_alex(c, sql, "10:00", "12:00", "12:30")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    put_shifts(c.d, c.kim, daily("08:00", 12))
    # Kim worked the case (it went to her and back) and is busier than Sam.
    handoff(c.d, c.lead, {"callback_ids": [cb], "to_agent": c.kim, "note": NOTE},
            expect=201)
    handoff(c.d, c.lead, {"callback_ids": [cb], "to_agent": c.alex, "note": NOTE},
            expect=201)
    handoff(c.d, c.lead, {"callback_ids": [x1, x2], "to_agent": c.kim,
                          "note": NOTE}, expect=201)
    # The lead's preview says why.
    r = handoff(c.d, c.lead, {"callback_ids": [cb], "note": NOTE,
                              "dry_run": True}, expect=200)
    [m] = r.json()["moves"]
    assert m["to_agent"] == c.kim and "worked this case" in m["why"], m
    time_off(c.d, c.alex, at("09:30"), at("11:30"))
    assert planner(c.d)["handed_off"] == 1
    assert owner(sql, cb) == c.kim


def test_nobody_on_duty_stays_at_risk_and_shows_in_coverage(crew, sql):
    c = crew
    keep, risk = book_for_alex(c, sql, "09:00", "11:00")
    time_off(c.d, c.alex, at("10:30"), at("12:00"))
    # Sam and Kim start at 14:00: nobody can take the 11:00 call.
    assert planner(c.d) == {"kept": 0, "handed_off": 0, "at_risk": 1}
    assert owner(sql, risk) == c.alex and owner(sql, keep) == c.alex
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0

    r = c.d.req("GET", "/v1/coverage", key=c.lead,
                params={"from": at("08:00"), "to": at("16:00")})
    assert r.status_code == 200, r.text
    cov = r.json()
    assert cov["at_risk_total"] == 1
    listed = [x for h in cov["hours"] for x in h["at_risk"]]
    assert [(x["callback_id"], x["owner_id"]) for x in listed] == [(risk, c.alex)]
    hours = {h["hour"]: h for h in cov["hours"]}
    assert hours[at("11:00")]["on_duty"] == 0 and hours[at("11:00")]["unstaffed"]
    assert hours[at("09:00")]["on_duty"] == 1 and not hours[at("09:00")]["unstaffed"]
    assert hours[at("09:00")]["booked"] == 1
    assert hours[at("15:00")]["on_duty"] == 2

    # A lead's preview without a target says the same.
    r = handoff(c.d, c.lead, {"callback_ids": [risk], "note": NOTE,
                              "dry_run": True}, expect=200)
    body = r.json()
    assert body["moves"] == [] and body["counts"]["at_risk"] == 1
    assert body["stays"][0]["callback_id"] == risk and body["stays"][0]["at_risk"]

    # Once someone is rostered for then, the next pass hands it off and
    # coverage is clear.
    put_shifts(c.d, c.kim, daily("08:00", 14))
    assert planner(c.d)["handed_off"] == 1
    assert owner(sql, risk) == c.kim
    r = c.d.req("GET", "/v1/coverage", key=c.lead,
                params={"from": at("08:00"), "to": at("16:00")})
    assert r.json()["at_risk_total"] == 0


def test_time_off_entered_today_hands_off_the_calls_due_during_it(crew, sql):
    c = crew
    before, during1, during2, after = book_for_alex(
        c, sql, "09:00", "10:00", "11:45", "13:30")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    set_clock(c.d, at("09:10"))
    time_off(c.d, c.alex, at("09:30"), at("13:00"), "sick")
    assert planner(c.d) == {"kept": 0, "handed_off": 2, "at_risk": 0}
    assert [owner(sql, i) for i in (before, during1, during2, after)] == \
        [c.alex, c.sam, c.sam, c.alex]
    rows = sql.query("SELECT callback_id, from_agent, to_agent, kind FROM "
                     "handoffs ORDER BY due_at")
    assert rows == [
        {"callback_id": during1, "from_agent": c.alex, "to_agent": c.sam, "kind": "planned"},
        {"callback_id": during2, "from_agent": c.alex, "to_agent": c.sam, "kind": "planned"}]
    assert_loads_consistent(sql)


@pytest.mark.parametrize("crew", [{"planner_interval_sec": 1}], indirect=True)
def test_the_planner_timer_hands_off_without_being_asked(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "11:00")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    time_off(c.d, c.alex, at("10:00"), at("12:00"))
    wait_until(lambda: owner(sql, cb) == c.sam, timeout=15,
               msg="the planner timer to move the callback")
    assert sql.scalar("SELECT COUNT(*) FROM handoffs WHERE callback_id = %s",
                      (cb,)) == 1


def test_asap_call_left_at_shift_end_goes_to_the_next_shift(crew, sql):
    c = crew
    set_clock(c.d, at("13:50"))
    cb = book(c.d, "asap")["id"]
    assert owner(sql, cb) == c.alex
    set_clock(c.d, at("14:01"))
    assert planner(c.d)["handed_off"] == 1
    assert owner(sql, cb) in (c.sam, c.kim)
    [h] = sql.query("SELECT * FROM handoffs WHERE callback_id = %s", (cb,))
    assert "as soon as possible" in h["next_step"], h


# --------------------------------------------------------------------------
# Lead reassignments


def test_dry_run_equals_real_run(crew, sql):
    c = crew
    ids = book_for_alex(c, sql, "09:00", "10:00", "11:00", "12:00", "13:00")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    put_shifts(c.d, c.kim, daily("10:30", 8))
    body = {"from_agent": c.alex, "note": NOTE, "dry_run": True}
    tables = ("handoffs", "outbox", "events")
    counts = {t: sql.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables}
    owners = [owner(sql, i) for i in ids]

    dry = handoff(c.d, c.lead, body, expect=200).json()
    again = handoff(c.d, c.lead, body, expect=200).json()
    assert dry == again
    assert {t: sql.scalar(f"SELECT COUNT(*) FROM {t}") for t in tables} == counts
    assert [owner(sql, i) for i in ids] == owners
    assert dry["dry_run"] is True and dry["counts"]["moves"] == 5

    real = handoff(c.d, c.lead, dict(body, dry_run=False), expect=201).json()
    assert real["dry_run"] is False
    for k in ("moves", "stays", "counts"):
        assert real[k] == dry[k], k
    # 09:00 and 10:00: only Sam is on; then the least busy shift with the
    # call added, counting what the plan gave so far: at 11:00 Sam's 12 h
    # would hold 3, Kim's 8 h 1 (Kim); at 12:00 3/12 h against 2/8 h, a
    # tie, to the lower id (Sam); at 13:00 4/12 h against 2/8 h (Kim).
    got = {m["callback_id"]: m["to_agent"] for m in real["moves"]}
    assert got == {ids[0]: c.sam, ids[1]: c.sam, ids[2]: c.kim,
                   ids[3]: c.sam, ids[4]: c.kim}
    assert {i: owner(sql, i) for i in ids} == got
    rows = sql.query("SELECT callback_id, from_agent, to_agent, kind, reason, "
                     "summary, next_step FROM handoffs ORDER BY due_at")
    assert [(r["callback_id"], r["from_agent"], r["to_agent"]) for r in rows] == \
        [(i, c.alex, got[i]) for i in ids]
    assert all(r["kind"] == "lead" and r["reason"] == NOTE["reason"] and
               r["summary"] == NOTE["summary"] and
               r["next_step"] == NOTE["next_step"] for r in rows)
    assert_loads_consistent(sql)


def test_lead_handoff_to_a_named_agent_reports_what_stays(crew, sql):
    c = crew
    a, b = book_for_alex(c, sql, "09:00", "10:00")
    # Kim is off at 09:00 and 10:00: the move is done but flagged.
    r = handoff(c.d, c.lead, {"callback_ids": [b, a, 999999, a],
                              "to_agent": c.kim, "note": NOTE}, expect=201)
    body = r.json()
    assert [m["callback_id"] for m in body["moves"]] == [a, b]
    assert all(m["at_risk"] and m["to_agent"] == c.kim for m in body["moves"])
    assert body["stays"] == [{"callback_id": 999999, "why": "no such callback",
                              "at_risk": False}]
    assert body["counts"] == {"moves": 2, "stays": 1, "at_risk": 2}
    # Moving to the owner is a no-op that says so.
    r = handoff(c.d, c.lead, {"callback_ids": [a], "to_agent": c.kim,
                              "note": NOTE}, expect=201)
    assert r.json()["moves"] == [] and r.json()["stays"][0]["why"] == "already the owner"
    assert_loads_consistent(sql)


def test_handoff_needs_a_note(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "09:00")
    base = {"callback_ids": [cb], "to_agent": c.sam}
    assert_problem(handoff(c.d, c.lead, base), 400, "missing-field", "note")
    for f in ("summary", "next_step", "reason"):
        note = {k: v for k, v in NOTE.items() if k != f}
        assert_problem(handoff(c.d, c.lead, dict(base, note=note)),
                       400, "missing-field", f"note.{f}")
        assert_problem(handoff(c.d, c.lead, dict(base, note=dict(NOTE, **{f: "  "}))),
                       400, "missing-field", f"note.{f}")
    assert_problem(handoff(c.d, c.lead, dict(base, note="call her")),
                   400, "invalid-field", "note")
    assert_problem(handoff(c.d, c.lead, dict(base, note=dict(NOTE, mood="ok"))),
                   400, "unknown-field", "note.mood")
    # A dry run needs one too: the preview is of what would be written.
    assert_problem(handoff(c.d, c.lead, dict(base, dry_run=True)),
                   400, "missing-field", "note")
    assert owner(sql, cb) == c.alex
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0


def test_handoff_bad_requests(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "09:00")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE}),
                   400, "invalid-field", "callback_ids")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE, "callback_ids": [cb],
                                         "from_agent": c.alex}),
                   400, "invalid-field", "callback_ids")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE, "callback_ids": []}),
                   400, "invalid-field", "callback_ids")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE, "callback_ids": [cb],
                                         "to_agent": 999999}),
                   400, "invalid-field", "to_agent")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE, "from_agent": 999999}),
                   404, "not-found", "from_agent")
    assert_problem(handoff(c.d, c.lead, {"note": NOTE, "from_agent": c.alex,
                                         "from": at("12:00"), "to": at("11:00")}),
                   400, "invalid-range", "to")
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0


def test_from_agent_moves_all_of_an_agents_calls_whatever_the_booking_order(crew, sql):
    c = crew
    # Booked latest first: ids run against due order.
    late, mid, early, first = [book(c.d, at(t))["id"]
                               for t in ("12:00", "11:00", "10:00", "09:00")]
    assert {owner(sql, i) for i in (late, mid, early, first)} == {c.alex}
    more = book_for_alex(c, sql, "09:30", "10:30", "11:30", "12:30", "13:00")
    ids = [late, mid, early, first] + more
    put_shifts(c.d, c.sam, daily("08:00", 12))
    put_shifts(c.d, c.kim, daily("08:00", 12))
    for to in ({"to_agent": c.sam}, {}):
        body = dict(to, from_agent=c.alex, note=NOTE, dry_run=True)
        r = handoff(c.d, c.lead, body, expect=200).json()
        assert r["stays"] == [], f"seed {SEED}: {r}"
        assert sorted(m["callback_id"] for m in r["moves"]) == sorted(ids), r
    r = handoff(c.d, c.lead, {"from_agent": c.alex, "note": NOTE}, expect=201).json()
    assert r["counts"] == {"moves": len(ids), "stays": 0, "at_risk": 0}, r
    # Shown in due order, and the earliest picked first: Sam and Kim
    # alternate from the 09:00 call on (equal load, Sam's lower id first).
    assert [m["due_at"] for m in r["moves"]] == sorted(m["due_at"] for m in r["moves"])
    assert [m["to_agent"] for m in r["moves"]] == [c.sam, c.kim] * 4 + [c.sam]
    assert all(owner(sql, i) != c.alex for i in ids)
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == len(ids)
    assert_loads_consistent(sql)


def test_from_agent_with_a_due_range_moves_only_that_range(crew, sql):
    c = crew
    ids = book_for_alex(c, sql, "09:00", "10:00", "11:00")
    r = handoff(c.d, c.lead, {"from_agent": c.alex, "from": at("09:30"),
                              "to": at("11:00"), "to_agent": c.sam,
                              "note": NOTE}, expect=201)
    assert [m["callback_id"] for m in r.json()["moves"]] == [ids[1]]
    assert [owner(sql, i) for i in ids] == [c.alex, c.sam, c.alex]


# --------------------------------------------------------------------------
# Audit


def test_audit_has_every_ownership_change_with_its_note(crew, sql):
    c = crew
    ids = book_for_alex(c, sql, "09:00", "10:00", "11:00")
    put_shifts(c.d, c.sam, daily("08:00", 12))
    handoff(c.d, c.lead, {"callback_ids": [ids[0]], "to_agent": c.kim,
                          "note": NOTE}, expect=201)
    handoff(c.d, c.lead, {"callback_ids": [ids[0]], "to_agent": c.sam,
                          "note": dict(NOTE, reason="Kim is busy")}, expect=201)
    time_off(c.d, c.alex, at("09:30"), at("12:00"))
    assert planner(c.d)["handed_off"] == 2

    lead_key_id = sql.scalar("SELECT id FROM api_keys WHERE name = 'lena'")
    chains = {i: audit_chain_ok(c.d, sql, i) for i in ids}
    assert [(x["from"]["id"], x["to"]["id"], x["kind"], x["author"])
            for x in chains[ids[0]]] == [
        (c.alex, c.kim, "lead", f"lead:{lead_key_id}"),
        (c.kim, c.sam, "lead", f"lead:{lead_key_id}")]
    assert chains[ids[0]][1]["note"]["reason"] == "Kim is busy"
    assert chains[ids[0]][0]["from"]["display_name"] == "Alex"
    assert [(x["kind"], x["author"]) for x in chains[ids[1]]] == [("planned", "planner")]
    # Every row of the trail has a note; nothing moved without a row.
    assert sql.scalar("SELECT COUNT(*) FROM handoffs WHERE summary = '' OR "
                      "next_step = '' OR reason = ''") == 0
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == \
        sql.scalar("SELECT COUNT(*) FROM events WHERE kind = 'handoff'") == 4

    # By agent: every change Alex was part of, newest first, paginated.
    r = c.d.req("GET", "/v1/audit", key=c.lead, params={"agent": c.alex, "limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    r2 = c.d.req("GET", "/v1/audit", key=c.lead,
                 params={"agent": c.alex, "limit": 2, "cursor": page["next_cursor"]})
    assert r2.status_code == 200, r2.text
    seen = [x["id"] for x in page["items"] + r2.json()["items"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == 3
    assert_problem(c.d.req("GET", "/v1/audit", key=c.lead, params={"agent": "x"}),
                   400, "invalid-query", "agent")


# --------------------------------------------------------------------------
# Roles


def test_agents_cannot_reassign_or_plan(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "09:00")
    for key in (c.alex_key, c.sam_key):
        assert_problem(handoff(c.d, key, {"callback_ids": [cb], "to_agent": c.sam,
                                          "note": NOTE}), 403, "forbidden")
        assert_problem(c.d.req("POST", "/v1/planner/run", key=key), 403, "forbidden")
        assert_problem(c.d.req("GET", "/v1/coverage", key=key), 403, "forbidden")
        assert_problem(c.d.req("GET", "/v1/audit", key=key), 403, "forbidden")
    assert c.d.req("POST", "/v1/handoffs", json={"callback_ids": [cb],
                                                 "note": NOTE}).status_code == 401
    assert owner(sql, cb) == c.alex
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0
    # Leads and admins may.
    handoff(c.d, c.d.admin_key, {"callback_ids": [cb], "to_agent": c.sam,
                                 "note": NOTE}, expect=201)
    assert sql.scalar("SELECT author FROM handoffs").startswith("admin:")


def test_annotate_until_the_call_starts(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "09:00")
    r = handoff(c.d, c.lead, {"callback_ids": [cb], "to_agent": c.sam,
                              "note": NOTE}, expect=201)
    hid = sql.scalar("SELECT id FROM handoffs WHERE callback_id = %s", (cb,))

    given = c.d.req("GET", "/v1/me/handoffs", key=c.alex_key).json()
    assert [h["id"] for h in given["given"]] == [hid] and given["received"] == []
    got = c.d.req("GET", "/v1/me/handoffs", key=c.sam_key).json()
    assert [h["id"] for h in got["received"]] == [hid] and got["given"] == []
    assert got["received"][0]["note"] == dict(NOTE, annotation=None)

    # Only the agent who handed over (or a lead) may add to the note.
    for key in (c.kim_key, c.sam_key):
        assert_problem(c.d.req("PATCH", f"/v1/handoffs/{hid}", key=key,
                               json={"annotation": "not mine"}), 403, "forbidden")
    assert_problem(c.d.req("PATCH", f"/v1/handoffs/{hid}", key=c.alex_key,
                           json={}), 400, "missing-field")
    r = c.d.req("PATCH", f"/v1/handoffs/{hid}", key=c.alex_key,
                json={"annotation": "She prefers mornings"})
    assert r.status_code == 200, r.text
    assert r.json()["note"]["annotation"] == "She prefers mornings"
    r = c.d.req("PATCH", f"/v1/handoffs/{hid}", key=c.lead,
                json={"next_step": "Refund first, then ask about the plan"})
    assert r.status_code == 200, r.text
    assert r.json()["note"] == dict(NOTE, annotation="She prefers mornings",
                                    next_step="Refund first, then ask about the plan")
    assert_problem(c.d.req("PATCH", "/v1/handoffs/999999", key=c.lead,
                           json={"annotation": "x"}), 404, "not-found")

    # Sam starts the call: the note is closed.
    r = c.d.req("POST", f"/v1/callbacks/{cb}/claim", key=c.sam_key)
    assert r.status_code == 200, r.text
    for key in (c.alex_key, c.lead):
        assert_problem(c.d.req("PATCH", f"/v1/handoffs/{hid}", key=key,
                               json={"annotation": "too late"}), 409, "call-started")
    assert sql.scalar("SELECT annotation FROM handoffs WHERE id = %s",
                      (hid,)) == "She prefers mornings"
    assert c.d.req("GET", "/v1/me/handoffs", key=c.alex_key).json()["given"] == []


def test_new_owners_queue_shows_the_handoff_note(crew, sql):
    c = crew
    [cb] = book_for_alex(c, sql, "09:00")
    handoff(c.d, c.lead, {"callback_ids": [cb], "to_agent": c.sam, "note": NOTE},
            expect=201)
    q = c.d.req("GET", "/v1/me/queue", key=c.sam_key)
    assert q.status_code == 200, q.text
    [item] = q.json()["items"]
    assert item["id"] == cb
    hn = item["handoff_note"]
    assert hn["summary"] == NOTE["summary"] and hn["next_step"] == NOTE["next_step"]
    assert hn["reason"] == NOTE["reason"]
    assert hn["from"] == c.alex and hn["to"] == c.sam
    assert c.d.req("GET", "/v1/me/queue", key=c.alex_key).json()["items"] == []

    # What Alex adds before the call is what Sam reads in the queue.
    hid = sql.scalar("SELECT id FROM handoffs WHERE callback_id = %s", (cb,))
    r = c.d.req("PATCH", f"/v1/handoffs/{hid}", key=c.alex_key,
                json={"annotation": "Call her mobile", "next_step": "Refund first"})
    assert r.status_code == 200, r.text
    [item] = c.d.req("GET", "/v1/me/queue", key=c.sam_key).json()["items"]
    assert item["handoff_note"]["next_step"] == "Refund first", item["handoff_note"]
    assert item["handoff_note"].get("annotation") == "Call her mobile", item["handoff_note"]


# --------------------------------------------------------------------------
# The customer is told, in the same transaction


def test_owner_change_writes_the_customers_messages(daemon_factory, make_agent, sql,
                                                    webhook_receiver, smtp_receiver):
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               webhook_url=rx.url + "/events",
                               webhook_secrets="whsec_" + "A" * 32,
                               smtp_url=smtp_receiver.url, outbox_poll_ms=50))
    set_clock(d, NOW)
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("14:00", 8))
    cb = book(d, at("11:00"), email="ada@example.com", notify=["email", "sms"])["id"]
    assert owner(sql, cb) == alex["id"]
    seq = sql.scalar("SELECT ics_sequence FROM callbacks WHERE id = %s", (cb,))
    last = sql.scalar("SELECT MAX(id) FROM outbox")

    put_shifts(d, sam["id"], daily("08:00", 12))
    time_off(d, alex["id"], at("10:00"), at("12:00"))
    assert planner(d)["handed_off"] == 1
    h = sql.query("SELECT * FROM handoffs WHERE callback_id = %s", (cb,))[0]
    rows = sql.query("SELECT channel, kind, payload, due_at, created_at, status "
                     "FROM outbox WHERE id > %s AND callback_id = %s ORDER BY id",
                     (last, cb))
    kinds = [(r["channel"], r["kind"]) for r in rows]
    assert ("sms", "sms.owner_changed") in kinds, kinds
    assert ("webhook", "callback.owner_changed") in kinds, kinds
    assert ("email", "invite.request") in kinds, kinds
    assert all(r["created_at"] == h["at"] for r in rows), (rows, h)

    [sms] = [r for r in rows if r["kind"] == "sms.owner_changed"]
    text = json.loads(sms["payload"])["body"]
    assert text.startswith("Sam will call you on Monday, 2 November at 11:00"), text
    assert "Sam has Alex's notes" in text, text
    # Told ahead of the call.
    assert sms["due_at"] < h["due_at"]
    [ev] = [r for r in rows if r["kind"] == "callback.owner_changed"]
    data = json.loads(ev["payload"])["data"]
    assert data["owner"] == "Sam" and data["owner_id"] == sam["id"]
    [inv] = [r for r in rows if r["kind"] == "invite.request"]
    inv = json.loads(inv["payload"])
    assert inv["owner_name"] == "Sam" and inv["method"] == "REQUEST"
    assert inv["sequence"] == seq + 1

    # And they go out.
    def sms_sent():
        return [r for r in rx.matching("/sms") if "Sam has Alex" in r.text]
    wait_until(sms_sent, timeout=15, msg="the owner-changed SMS")
    wait_until(lambda: [r for r in rx.matching("/events")
                        if r.json().get("type") == "callback.owner_changed"],
               timeout=15, msg="the owner_changed webhook")


def test_lead_handoff_writes_one_message_per_move(daemon_factory, make_agent, sql,
                                                  webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               webhook_url=rx.url + "/events",
                               webhook_secrets="whsec_" + "A" * 32))
    set_clock(d, NOW)
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("08:00", 12))
    lead = make_key(d, "lead", "lena")
    # Sam is on too: book until Alex has three.
    mine = []
    for t in shuffled(("09:00", "09:15", "09:30", "09:45", "10:00", "10:15",
                       "10:30", "10:45", "11:00", "11:15")):
        cb = book(d, at(t), notify=["sms"])["id"]
        if owner(sql, cb) == alex["id"]:
            mine.append(cb)
    assert mine, "no booking went to Alex"
    last = sql.scalar("SELECT MAX(id) FROM outbox")
    r = handoff(d, lead, {"from_agent": alex["id"], "to_agent": sam["id"],
                          "note": NOTE}, expect=201)
    assert sorted(m["callback_id"] for m in r.json()["moves"]) == sorted(mine)
    rows = sql.query("SELECT callback_id, kind FROM outbox WHERE id > %s", (last,))
    for kind in ("sms.owner_changed", "callback.owner_changed"):
        assert sorted(x["callback_id"] for x in rows if x["kind"] == kind) == sorted(mine)


# --------------------------------------------------------------------------
# Reschedules that change the owner


@pytest.fixture
def resched(daemon_factory, make_agent, sql, webhook_receiver):
    d = daemon_factory(relaxed(sms_mode="webhook",
                               sms_url=webhook_receiver.url + "/sms"))
    set_clock(d, NOW)
    alex, akey = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("14:00", 8))
    cb = book(d, at("10:00"), notify=["sms"])
    assert owner(sql, cb["id"]) == alex["id"]
    return d, alex, akey, sam, cb


def test_customer_reschedule_to_a_time_the_owner_is_off_moves_with_a_handoff(resched, sql):
    d, alex, _, sam, cb = resched
    r = d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
              json={"when": at("16:00")})
    assert r.status_code == 200, r.text
    assert r.json()["owner"]["display_name"] == "Sam"
    assert owner(sql, cb["id"]) == sam["id"]
    rows = sql.query("SELECT from_agent, to_agent, reason, summary, next_step, "
                     "due_at FROM handoffs WHERE callback_id = %s", (cb["id"],))
    assert len(rows) == 1, f"no handoff row for the owner change: {rows}"
    h = rows[0]
    assert (h["from_agent"], h["to_agent"]) == (alex["id"], sam["id"])
    assert h["reason"] and h["summary"] and h["next_step"]
    audit_chain_ok(d, sql, cb["id"])
    # The case follows the callback, and the customer is told who calls.
    assert sql.scalar("SELECT k.owner_id FROM cases k JOIN callbacks c ON "
                      "c.case_id = k.id WHERE c.id = %s", (cb["id"],)) == sam["id"]
    texts = [json.loads(p)["body"] for p in [x["payload"] for x in sql.query(
        "SELECT payload FROM outbox WHERE callback_id = %s AND channel = 'sms' "
        "AND kind IN ('sms.rescheduled', 'sms.owner_changed')", (cb["id"],))]]
    assert any("Sam" in t for t in texts), texts
    assert_loads_consistent(sql)


def test_agent_reschedule_outcome_to_a_time_the_owner_is_off_moves_with_a_handoff(resched, sql):
    d, alex, akey, sam, cb = resched
    set_clock(d, at("09:59"))
    r = d.req("POST", f"/v1/callbacks/{cb['id']}/claim", key=akey)
    assert r.status_code == 200, r.text
    r = d.req("POST", f"/v1/callbacks/{cb['id']}/outcome", key=akey,
              json={"result": "reschedule", "when": at("17:00"),
                    "note": "Asked for a call after work"})
    assert r.status_code == 200, r.text
    assert owner(sql, cb["id"]) == sam["id"]
    assert sql.scalar("SELECT COUNT(*) FROM handoffs WHERE callback_id = %s",
                      (cb["id"],)) == 1, "no handoff row for the owner change"
    audit_chain_ok(d, sql, cb["id"])
    assert_loads_consistent(sql)


# --------------------------------------------------------------------------
# More planner paths


def test_leaving_agent_hands_off_calls_beyond_the_lookahead(crew, sql):
    c = crew
    # Wednesday 10:00: two days ahead, out of the 24 h lookahead.
    cb = book(c.d, at("10:00", "2026-11-04"))["id"]
    assert owner(sql, cb) == c.alex
    put_shifts(c.d, c.sam, daily("08:00", 12))
    time_off(c.d, c.alex, at("00:00", "2026-11-04"), at("23:59", "2026-11-04"))
    # Mid-shift, nothing is planned that far ahead ...
    assert planner(c.d)["handed_off"] == 0
    assert owner(sql, cb) == c.alex
    # ... until Alex's shift is about to end (handoff_lead_min 30).
    set_clock(c.d, at("13:35"))
    assert planner(c.d)["handed_off"] == 1
    assert owner(sql, cb) == c.sam


def test_calls_in_progress_and_closed_ones_stay(crew, sql):
    c = crew
    live, done, open_ = book_for_alex(c, sql, "09:00", "10:00", "11:00")
    set_clock(c.d, at("08:58"))
    assert c.d.req("POST", f"/v1/callbacks/{live}/claim", key=c.alex_key).status_code == 200
    assert c.d.req("POST", f"/v1/callbacks/{done}/claim", key=c.alex_key).status_code == 200
    r = c.d.req("POST", f"/v1/callbacks/{done}/outcome", key=c.alex_key,
                json={"result": "reached"})
    assert r.status_code == 200, r.text
    r = handoff(c.d, c.lead, {"callback_ids": [live, done, open_], "to_agent": c.sam,
                              "note": NOTE}, expect=201).json()
    assert [m["callback_id"] for m in r["moves"]] == [open_]
    why = {s["callback_id"]: s["why"] for s in r["stays"]}
    assert why == {live: "call in progress", done: "callback is completed"}
    # The planner leaves a call in progress alone, even with its agent gone.
    put_shifts(c.d, c.sam, daily("08:00", 12))
    put_shifts(c.d, c.kim, daily("08:00", 12))
    time_off(c.d, c.alex, at("08:59"), at("12:00"))
    assert planner(c.d)["handed_off"] == 0
    assert owner(sql, live) == c.alex
    assert sql.scalar("SELECT state FROM callbacks WHERE id = %s", (live,)) == "in_progress"
    assert_loads_consistent(sql)


def test_a_handoff_replayed_with_its_idempotency_key_moves_nothing_twice(crew, sql):
    c = crew
    a, b = book_for_alex(c, sql, "09:00", "10:00")
    body = {"callback_ids": [a], "to_agent": c.sam, "note": NOTE}
    h = {"Idempotency-Key": "move-a-to-sam"}
    r1 = c.d.req("POST", "/v1/handoffs", key=c.lead, json=body, headers=h)
    assert r1.status_code == 201, r1.text
    r2 = c.d.req("POST", "/v1/handoffs", key=c.lead, json=body, headers=h)
    assert r2.status_code == 201 and r2.json() == r1.json()
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 1
    assert_problem(c.d.req("POST", "/v1/handoffs", key=c.lead, headers=h,
                           json=dict(body, callback_ids=[b])), 409, "idempotency-key-reused")
    assert owner(sql, b) == c.alex


def test_two_instances_planning_at_once_move_each_call_once(daemon_factory, make_agent, sql):
    d1 = daemon_factory(relaxed())
    d2 = daemon_factory(relaxed())
    for d in (d1, d2):
        set_clock(d, NOW)
    alex, _ = make_agent(d1, "alex")
    sam, _ = make_agent(d1, "sam")
    kim, _ = make_agent(d1, "kim")
    put_shifts(d1, alex["id"], daily("08:00", 6))
    put_shifts(d1, sam["id"], daily("14:00", 8))
    put_shifts(d1, kim["id"], daily("14:00", 8))
    ids = [book(d1, at(f"{h:02d}:{m:02d}"))["id"] for h in (9, 10, 11, 12)
           for m in (0, 15, 30, 45)]
    assert {owner(sql, i) for i in ids} == {alex["id"]}
    put_shifts(d1, sam["id"], daily("08:00", 12))
    put_shifts(d1, kim["id"], daily("08:00", 12))
    time_off(d1, alex["id"], at("08:30"), at("14:00"))

    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(8) as ex:
        reports = list(ex.map(lambda d: planner(d), [d1, d2] * 4))
    moved = sum(r.get("handed_off", 0) for r in reports)
    assert moved == len(ids), reports
    rows = sql.query("SELECT callback_id, COUNT(*) AS n FROM handoffs GROUP BY callback_id")
    assert sorted(r["callback_id"] for r in rows) == sorted(ids)
    assert all(r["n"] == 1 for r in rows), rows
    # Least loaded each time: the two share them evenly.
    assert sorted(sql.scalar("SELECT COUNT(*) FROM callbacks WHERE owner_id = %s", (x,))
                  for x in (sam["id"], kim["id"])) == [8, 8]
    assert_loads_consistent(sql)


def test_coverage_range_is_checked(crew):
    c = crew
    cov = lambda **p: c.d.req("GET", "/v1/coverage", key=c.lead, params=p)
    assert_problem(cov(**{"from": at("10:00"), "to": at("09:00")}), 400, "invalid-range", "to")
    assert_problem(cov(**{"from": at("10:00"), "to": at("10:00", "2026-11-10")}),
                   400, "range-too-long", "to")
    assert_problem(cov(**{"from": "today"}), 400, "invalid-time", "from")
    # Default: the next 24 hours from the (test) clock.
    r = cov()
    assert r.status_code == 200, r.text
    assert r.json()["from"] == NOW and len(r.json()["hours"]) == 25


def test_asap_owner_change_message_says_back_soon(daemon_factory, make_agent, sql,
                                                   webhook_receiver):
    d = daemon_factory(relaxed(sms_mode="webhook",
                               sms_url=webhook_receiver.url + "/sms"))
    set_clock(d, at("13:50"))
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("14:00", 8))
    cb = book(d, "asap", notify=["sms"])["id"]
    set_clock(d, at("14:01"))
    assert planner(d)["handed_off"] == 1
    [text] = [json.loads(r["payload"])["body"] for r in sql.query(
        "SELECT payload FROM outbox WHERE callback_id = %s AND kind = "
        "'sms.owner_changed'", (cb,))]
    assert text == "Sam will call you back soon; Sam has Alex's notes.", text


# --------------------------------------------------------------------------
# Who gets a new call: the work in the shift it falls in, against its length


def test_booking_weighs_the_shift_the_call_falls_in_not_all_open_calls(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(max_per_agent_per_slot=4))
    set_clock(d, NOW)
    alex, _ = make_agent(d, "alex", capacity=4)
    sam, _ = make_agent(d, "sam", capacity=4)
    # Sam works every day; Alex only today.
    put_shifts(d, alex["id"], {"start": f"{DAY}T08:00:00", "duration": "PT6H",
                               "rrule": "", "tz": "Europe/London"})
    put_shifts(d, sam["id"], daily("08:00", 6))
    # Sam has a full week ahead (only Sam works those days).
    for day in shuffled(["2026-11-03", "2026-11-04", "2026-11-05"]):
        for t in ("09:00", "10:00"):
            assert owner(sql, book(d, at(t, day))["id"]) == sam["id"]
    # Today both work the same hours: today's calls split evenly, rather
    # than all going to Alex for having fewer open calls in the week.
    today = [book(d, at(t))["id"] for t in shuffled(["09:00", "10:00", "11:00", "12:00"])]
    got = collections.Counter(owner(sql, i) for i in today)
    assert got == {alex["id"]: 2, sam["id"]: 2}, f"seed {SEED}: {got}"


def test_asap_goes_to_an_agent_who_stays_long_enough_to_call(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    set_clock(d, NOW)
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("08:00", 12))
    # Sam has calls this afternoon; Alex has none, but leaves at 14:00.
    for t in shuffled(["15:00", "16:00", "17:00"]):
        assert owner(sql, book(d, at(t))["id"]) == sam["id"]
    set_clock(d, at("13:57"))
    cb = book(d, "asap")["id"]
    assert owner(sql, cb) == sam["id"]


def test_planner_gives_a_call_to_the_least_busy_shift_not_the_fewest_calls(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(max_per_agent_per_slot=4))
    set_clock(d, NOW)
    lead = make_key(d, "lead", "lena")
    alex, _ = make_agent(d, "alex", capacity=4)
    sam, _ = make_agent(d, "sam", capacity=4)
    kim, _ = make_agent(d, "kim", capacity=4)
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("08:00", 12))
    # Kim works only today.
    put_shifts(d, kim["id"], {"start": f"{DAY}T08:00:00", "duration": "PT12H",
                              "rrule": "", "tz": "Europe/London"})
    # Sam has three calls tomorrow afternoon (only Sam works then) ...
    for t in shuffled(["15:00", "16:00", "17:00"]):
        assert owner(sql, book(d, at(t, "2026-11-03"))["id"]) == sam["id"]
    # ... Kim two today, and Alex the 11:00 call.
    k1, k2, cb = [book(d, at(t))["id"] for t in ("09:00", "09:30", "11:00")]
    for ids, to in (([k1, k2], kim["id"]), ([cb], alex["id"])):
        handoff(d, lead, {"callback_ids": ids, "to_agent": to, "note": NOTE},
                expect=201)
    time_off(d, alex["id"], at("10:30"), at("12:00"))
    assert planner(d)["handed_off"] == 1
    # Today Sam has nothing and Kim two: Sam takes it, though Sam has more
    # open calls counting tomorrow's.
    assert owner(sql, cb) == sam["id"]
    [h] = sql.query("SELECT to_agent FROM handoffs WHERE callback_id = %s "
                    "AND kind = 'planned'", (cb,))
    assert h["to_agent"] == sam["id"]
