"""The leads' callback report, GET /v1/reports/callbacks: callbacks booked,
kept on time, overdue, same-owner rate, handoffs with a note and the
first-attempt reach rate, per local day and per agent, as JSON and as CSV.

Every call is booked, claimed, handed off and ended through the API at
times set on the daemon's test clock. The report is read in New York,
whose summer time ends on Sunday 1 November 2026 at 06:00 UTC: Saturday
31 October runs 04:00Z..04:00Z, Sunday 1 November 04:00Z..05:00Z the next
day (25 hours).
"""

import csv
import io

import pytest

from helpers import make_key
from util_api import (assert_problem as _assert_problem, clock_to, epoch,
                      relaxed, unique_name, unique_phone)

TZ = "America/New_York"
NOTE = {"summary": "Billing dispute, customer waiting",
        "next_step": "Call and confirm the refund", "reason": "Rebalancing"}
MEASURES = ("booked", "completed", "kept_on_time", "overdue", "same_owner",
            "attempted", "first_attempt_reached", "handoffs",
            "handoffs_with_note")


def assert_problem(r, status, ptype, field=None):
    return _assert_problem(r, status, f"/problems/{ptype}", field)


def book(d, at):
    clock_to(d, at)
    r = d.req("POST", "/v1/callbacks", json={
        "customer": {"name": "Rae Report", "phone": unique_phone(),
                     "timezone": "America/New_York"},
        "topic": "Billing question", "when": "asap"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def claim(d, key, cid, at):
    clock_to(d, at)
    r = d.req("POST", f"/v1/callbacks/{cid}/claim", key=key)
    assert r.status_code == 200, r.text


def outcome(d, key, cid, result, at):
    clock_to(d, at)
    r = d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
              json={"result": result})
    assert r.status_code == 200, r.text


def report(d, key, **params):
    params.setdefault("tz", TZ)
    r = d.req("GET", "/v1/reports/callbacks", key=key, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def figures(obj):
    return {m: obj[m] for m in MEASURES}


def zero(**kw):
    f = dict.fromkeys(MEASURES, 0)
    f.update(kw)
    return f


@pytest.fixture
def world(daemon_factory, make_agent, sql):
    """Ana and Bo (team blue), Gus (green), their keys, a blue lead, and
    the calls of the scenario below, each with its owner when booked."""
    d = daemon_factory(relaxed())
    w = type("World", (), {})()
    w.d, w.sql = d, sql
    w.ana, w.ana_key = make_agent(d, unique_name("ana"), team="blue",
                                  display_name='Ana "Annie" Smith, Jr')
    w.bo, w.bo_key = make_agent(d, unique_name("bo"), team="blue")
    w.gus, w.gus_key = make_agent(d, unique_name("gus"), team="green")
    w.lead = make_key(d, "lead", unique_name("lena"), team="blue")
    w.keys = {w.ana["id"]: w.ana_key, w.bo["id"]: w.bo_key,
              w.gus["id"]: w.gus_key}

    def owner(cid):
        return sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s",
                          (cid,))

    def key_of(cid):
        return w.keys[owner(cid)]

    w.owner = owner
    # Before the range: Friday 30 October 23:59 in New York.
    w.c0 = book(d, "2026-10-31T03:59:00Z")
    # Saturday: reached 3 minutes after booking (on time).
    w.c1 = book(d, "2026-10-31T14:00:00Z")
    claim(d, key_of(w.c1), w.c1, "2026-10-31T14:03:00Z")
    outcome(d, key_of(w.c1), w.c1, "reached", "2026-10-31T14:04:00Z")
    # Saturday 23:30 in New York, already Sunday in UTC: first tried 30
    # minutes late, no answer, reached on the retry. The retry moves its
    # due time; the promise stays the booked one.
    w.c2 = book(d, "2026-11-01T03:30:00Z")
    claim(d, key_of(w.c2), w.c2, "2026-11-01T04:00:00Z")
    outcome(d, key_of(w.c2), w.c2, "no_answer", "2026-11-01T04:01:00Z")
    retry_due = sql.scalar("SELECT due_at FROM callbacks WHERE id = %s",
                           (w.c2,))
    assert retry_due > epoch("2026-11-01T03:30:00Z") + 600  # past the promise
    claim(d, key_of(w.c2), w.c2, "2026-11-01T05:00:00Z")
    outcome(d, key_of(w.c2), w.c2, "reached", "2026-11-01T05:02:00Z")
    # Sunday: handed off by the lead a minute after booking, and reached
    # on time by the new owner.
    w.c4 = book(d, "2026-11-01T12:00:00Z")
    w.c4_first = owner(w.c4)
    w.c4_to = w.bo["id"] if w.c4_first != w.bo["id"] else w.ana["id"]
    clock_to(d, "2026-11-01T12:01:00Z")
    r = d.req("POST", "/v1/handoffs", key=d.admin_key,
              json={"callback_ids": [w.c4], "to_agent": w.c4_to, "note": NOTE})
    assert r.status_code == 201, r.text
    claim(d, key_of(w.c4), w.c4, "2026-11-01T12:05:00Z")
    outcome(d, key_of(w.c4), w.c4, "reached", "2026-11-01T12:06:00Z")
    # Sunday: tried on time, wrong number (failed).
    w.c6 = book(d, "2026-11-01T13:00:00Z")
    claim(d, key_of(w.c6), w.c6, "2026-11-01T13:09:00Z")
    outcome(d, key_of(w.c6), w.c6, "wrong_number", "2026-11-01T13:10:00Z")
    # Sunday 23:30 EST (04:30Z Monday; 00:30 the next day at UTC-4): never
    # tried, overdue at the end.
    w.c3 = book(d, "2026-11-02T04:30:00Z")
    # Monday 00:01 in New York: after the range.
    w.c7 = book(d, "2026-11-02T05:01:00Z")
    clock_to(d, "2026-11-02T06:00:00Z")
    return w


def expected_rows(w):
    """(day, agent id) -> figures, from what the scenario did."""
    rows = {}

    def add(day, agent, **kw):
        f = rows.setdefault((day, agent), zero())
        for k, v in kw.items():
            f[k] += v

    sat, sun = "2026-10-31", "2026-11-01"
    add(sat, w.owner(w.c1), booked=1, completed=1, kept_on_time=1,
        same_owner=1, attempted=1, first_attempt_reached=1)
    add(sat, w.owner(w.c2), booked=1, completed=1, overdue=1, same_owner=1,
        attempted=1)
    add(sun, w.c4_to, booked=1, completed=1, kept_on_time=1, attempted=1,
        first_attempt_reached=1)
    add(sun, w.c4_first, handoffs=1, handoffs_with_note=1)
    add(sun, w.owner(w.c6), booked=1, kept_on_time=1, attempted=1)
    add(sun, w.owner(w.c3), booked=1, overdue=1)
    return rows


def test_report_counts_each_measure_per_local_day_and_agent(world):
    w = world
    rep = report(w.d, w.d.admin_key, **{"from": "2026-10-31",
                                        "to": "2026-11-01",
                                        "on_time_minutes": 10})
    assert rep["from"] == "2026-10-31" and rep["to"] == "2026-11-01"
    assert rep["tz"] == TZ and rep["on_time_minutes"] == 10
    assert rep["team"] is None
    # The day totals are exact whoever owned what.
    days = {x["day"]: figures(x) for x in rep["days"]}
    assert days == {
        "2026-10-31": zero(booked=2, completed=2, kept_on_time=1, overdue=1,
                           same_owner=2, attempted=2,
                           first_attempt_reached=1),
        "2026-11-01": zero(booked=3, completed=1, kept_on_time=2, overdue=1,
                           same_owner=0, attempted=2,
                           first_attempt_reached=1, handoffs=1,
                           handoffs_with_note=1),
    }
    sat = next(x for x in rep["days"] if x["day"] == "2026-10-31")
    assert sat["on_time_rate"] == 0.5 and sat["same_owner_rate"] == 1.0
    assert sat["first_attempt_reach_rate"] == 0.5
    assert sat["handoffs_with_note_rate"] is None
    sun = next(x for x in rep["days"] if x["day"] == "2026-11-01")
    assert sun["same_owner_rate"] == 0.0 and sun["handoffs_with_note_rate"] == 1.0
    # Per (day, agent), against what each owner did.
    got = {(x["day"], x["agent"]["id"]): figures(x) for x in rep["rows"]}
    assert got == expected_rows(w)
    # Per agent over the range, and the total.
    per_agent = {}
    for (_, agent), f in expected_rows(w).items():
        acc = per_agent.setdefault(agent, zero())
        for k in MEASURES:
            acc[k] += f[k]
    assert {x["agent"]["id"]: figures(x) for x in rep["agents"]} == per_agent
    assert figures(rep["total"]) == zero(
        booked=5, completed=3, kept_on_time=3, overdue=2, same_owner=2,
        attempted=4, first_attempt_reached=2, handoffs=1,
        handoffs_with_note=1)


def test_days_are_cut_at_the_zones_midnights(world):
    w = world
    # In UTC, the 03:30Z call is Sunday's and the 04:30Z one Monday's.
    rep = report(w.d, w.d.admin_key, tz="UTC", **{"from": "2026-10-31",
                                                  "to": "2026-11-01"})
    days = {x["day"]: x["booked"] for x in rep["days"]}
    assert days == {"2026-10-31": 2, "2026-11-01": 3}  # c0 c1 | c2 c4 c6
    # One New York day alone: Sunday's 25 hours hold the 23:30 EST call.
    rep = report(w.d, w.d.admin_key, **{"from": "2026-11-01",
                                        "to": "2026-11-01"})
    assert [x["booked"] for x in rep["days"]] == [3]
    # Monday in New York starts at 05:00Z: the 05:01Z call.
    rep = report(w.d, w.d.admin_key, **{"from": "2026-11-02",
                                        "to": "2026-11-02"})
    assert rep["total"]["booked"] == 1 and rep["total"]["overdue"] == 1


def test_on_time_minutes_is_the_grace_after_the_promise(world):
    w = world
    rng = {"from": "2026-10-31", "to": "2026-11-01"}
    # 5 minutes (the default): the 9-minute-late wrong number is late.
    rep = report(w.d, w.d.admin_key, **rng)
    assert rep["on_time_minutes"] == 5
    assert rep["total"]["kept_on_time"] == 2 and rep["total"]["overdue"] == 3
    # 30 minutes: the 30-minute-late first try is on time too.
    rep = report(w.d, w.d.admin_key, on_time_minutes=30, **rng)
    assert rep["total"]["kept_on_time"] == 4 and rep["total"]["overdue"] == 1


def test_csv_export_has_the_same_rows(world):
    w = world
    params = {"from": "2026-10-31", "to": "2026-11-01", "on_time_minutes": 10,
              "tz": TZ}
    rep = report(w.d, w.lead, **params)
    for r in (w.d.req("GET", "/v1/reports/callbacks", key=w.lead,
                      params=dict(params, format="csv")),
              w.d.req("GET", "/v1/reports/callbacks", key=w.lead,
                      params=params, headers={"Accept": "text/csv"})):
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["Content-Disposition"] == \
            'attachment; filename="callbacks-2026-10-31-to-2026-11-01.csv"'
        assert r.content.count(b"\r\n") == len(rep["rows"]) + 1
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8"),
                                               newline="")))
        assert len(rows) == len(rep["rows"]) and rows
        for got, want in zip(rows, rep["rows"]):
            assert got["day"] == want["day"]
            assert int(got["agent_id"]) == want["agent"]["id"]
            assert got["agent_display_name"] == want["agent"]["display_name"]
            for m in MEASURES:
                assert int(got[m]) == want[m], m
            rate = want["on_time_rate"]
            assert got["on_time_rate"] == ("" if rate is None else f"{rate:.4f}")
    # The name with a comma and quotes survives quoting.
    names = {x["agent_display_name"] for x in rows}
    if any(x["agent"]["id"] == w.ana["id"] for x in rep["rows"]):
        assert 'Ana "Annie" Smith, Jr' in names
        assert b'"Ana ""Annie"" Smith, Jr"' in r.content
    # format=json wins over Accept.
    r = w.d.req("GET", "/v1/reports/callbacks", key=w.lead,
                params=dict(params, format="json"),
                headers={"Accept": "text/csv"})
    assert r.headers["Content-Type"].startswith("application/json")


def test_a_lead_sees_their_team_and_an_admin_everyone(world):
    w = world
    params = {"from": "2026-10-31", "to": "2026-11-01", "on_time_minutes": 10}
    everyone = report(w.d, w.d.admin_key, **params)
    blue = report(w.d, w.lead, **params)
    assert blue["team"] == "blue"
    blue_ids = {w.ana["id"], w.bo["id"]}
    assert {x["agent"]["id"] for x in blue["rows"]} <= blue_ids
    want = [x for x in everyone["rows"] if x["agent"]["id"] in blue_ids]
    assert blue["rows"] == want
    assert blue["total"]["booked"] == sum(x["booked"] for x in want)
    # A lead of another team sees none of blue's calls.
    green = report(w.d, make_key(w.d, "lead", unique_name("gil"), team="green"),
                   **params)
    assert {x["agent"]["id"] for x in green["rows"]} <= {w.gus["id"]}


def test_only_leads_and_admins_may_read_the_report(world):
    w = world
    r = w.d.req("GET", "/v1/reports/callbacks")
    assert_problem(r, 401, "unauthorized")
    for key in (w.ana_key, w.gus_key):
        assert_problem(w.d.req("GET", "/v1/reports/callbacks", key=key),
                       403, "forbidden")
        assert_problem(w.d.req("GET", "/v1/reports/callbacks?format=csv",
                               key=key), 403, "forbidden")
    assert w.d.req("GET", "/v1/reports/callbacks", key=w.lead).status_code == 200


def test_report_defaults_to_the_week_ending_today(world):
    w = world
    # 06:00Z on Monday 2 November is 01:00 in New York; the admin key
    # has no agent, so the site's zone (UTC in tests) applies.
    rep = report(w.d, w.d.admin_key, tz=None)
    assert rep["tz"] == "UTC" and rep["to"] == "2026-11-02"
    assert rep["from"] == "2026-10-27" and len(rep["days"]) == 7
    rep = report(w.d, w.d.admin_key)
    assert rep["to"] == "2026-11-02"


@pytest.mark.parametrize("params,status,ptype,field", [
    ({"from": "2026-13-01"}, 400, "invalid-date", "from"),
    ({"from": "2026-02-30"}, 400, "invalid-date", "from"),
    ({"from": "26-01-01"}, 400, "invalid-date", "from"),
    ({"to": "2026-01-01x"}, 400, "invalid-date", "to"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, 400, "invalid-range", "to"),
    ({"from": "2026-01-01", "to": "2026-04-03"}, 400, "range-too-long", "to"),
    ({"tz": "Mars/Olympus"}, 400, "invalid-timezone", "tz"),
    ({"on_time_minutes": "-1"}, 400, "invalid-field", "on_time_minutes"),
    ({"on_time_minutes": "1441"}, 400, "invalid-field", "on_time_minutes"),
    ({"on_time_minutes": "5m"}, 400, "invalid-field", "on_time_minutes"),
    ({"format": "xlsx"}, 400, "invalid-field", "format"),
])
def test_bad_input_is_a_problem(daemon, params, status, ptype, field):
    lead = make_key(daemon, "lead", unique_name("lee"))
    r = daemon.req("GET", "/v1/reports/callbacks", key=lead, params=params)
    assert_problem(r, status, ptype, field)


def test_ninety_two_days_is_the_longest_range(daemon):
    r = daemon.req("GET", "/v1/reports/callbacks", key=daemon.admin_key,
                   params={"from": "2026-01-01", "to": "2026-04-02"})
    assert r.status_code == 200, r.text
    assert len(r.json()["days"]) == 92


def test_a_generated_handoff_note_counts_once_annotated(daemon_factory, make_agent):
    """Pam has no shifts (always on duty); Quin works 10:00-12:00 London.
    A call booked at 09:30 goes to Pam, a lead hands it to Quin at 10:30
    with a note, and the planner moves it back once Quin's shift is over
    and the call is late: a handoff with a generated note, which counts
    as written once the lead annotates it."""
    d = daemon_factory(relaxed())
    pam, _ = make_agent(d, unique_name("pam"))
    quin, _ = make_agent(d, unique_name("quin"))
    r = d.admin("PUT", f"/v1/agents/{quin['id']}/shifts", json={"shifts": [
        {"start": "2026-11-01T10:00:00", "duration": "PT2H",
         "rrule": "FREQ=DAILY", "tz": "Europe/London"}]})
    assert r.status_code == 200, r.text
    cid = book(d, "2026-11-03T09:30:00Z")
    clock_to(d, "2026-11-03T10:30:00Z")
    r = d.req("POST", "/v1/handoffs", key=d.admin_key,
              json={"callback_ids": [cid], "to_agent": quin["id"], "note": NOTE})
    assert r.status_code == 201, r.text
    clock_to(d, "2026-11-03T12:30:00Z")
    r = d.admin("POST", "/v1/planner/run")
    assert r.status_code == 200, r.text
    moves = d.req("GET", "/v1/audit", key=d.admin_key,
                  params={"callback": cid}).json()["items"]
    assert sorted(m["from"]["id"] for m in moves) == sorted([pam["id"], quin["id"]])
    planned = next(m for m in moves if m["from"]["id"] == quin["id"])
    assert planned["kind"] != "lead"

    def handoffs():
        rep = report(d, d.admin_key, tz="Europe/London",
                     **{"from": "2026-11-03", "to": "2026-11-03"})
        return {x["agent"]["id"]: (x["handoffs"], x["handoffs_with_note"])
                for x in rep["agents"]}, rep["total"]["handoffs_with_note_rate"]

    assert handoffs() == ({pam["id"]: (1, 1), quin["id"]: (1, 0)}, 0.5)
    r = d.req("PATCH", f"/v1/handoffs/{planned['id']}", key=d.admin_key,
              json={"annotation": "She asked for Pam by name."})
    assert r.status_code == 200, r.text
    assert handoffs() == ({pam["id"]: (1, 1), quin["id"]: (1, 1)}, 1.0)
