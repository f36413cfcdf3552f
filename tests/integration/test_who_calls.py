"""GET /v1/callbacks/{id}/who-calls: for a follow-up agreed on the phone,
who would make the call at another time, by the rules the move itself
follows, without writing anything; and who may ask."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from helpers import make_agent
from util_api import assert_problem, book, clock_advance, relaxed, unique_name

LONDON = ZoneInfo("Europe/London")
NOTE = {"summary": "Knows the product", "next_step": "Call", "reason": "expertise"}


def at_london(now_epoch, days, hour):
    day = datetime.fromtimestamp(now_epoch, LONDON).date() + timedelta(days=days)
    local = datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)
    return local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_who_calls_says_owner_or_likeliest_other_and_writes_nothing(daemon_factory, sql):
    d = daemon_factory(relaxed())
    erin, erin_key = make_agent(d, unique_name("erin"), capacity=3)
    otto, otto_key = make_agent(d, unique_name("otto"), capacity=3)
    r = d.admin("PUT", f"/v1/agents/{erin['id']}/shifts", json={"shifts": [
        {"start": "2026-01-01T07:00:00", "duration": "PT12H", "rrule": "FREQ=DAILY",
         "tz": "Europe/London"}]})
    assert r.status_code in (200, 204), r.text
    cb = book(d).json()
    r = d.admin("POST", "/v1/handoffs", json={"callback_ids": [cb["id"]],
                                              "to_agent": erin["id"], "note": NOTE})
    assert r.status_code in (200, 201), r.text
    now = clock_advance(d, 0)
    on, off = at_london(now, 1, 10), at_london(now, 1, 3)
    before = (sql.scalar("SELECT COUNT(*) FROM slot_locks"),
              sql.query("SELECT owner_id, due_at, state FROM callbacks WHERE id = %s",
                        (cb["id"],)))

    r = d.req("GET", f"/v1/callbacks/{cb['id']}/who-calls", key=erin_key, params={"at": on})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["agent"] == {"id": erin["id"], "display_name": erin["display_name"]}, j
    assert j["is_owner"] is True and j["owner"]["id"] == erin["id"], j
    assert j["at"] == on, j
    r = d.req("GET", f"/v1/callbacks/{cb['id']}/who-calls", key=erin_key, params={"at": off})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["agent"]["id"] == otto["id"] and j["is_owner"] is False, j
    # Nothing was written: no slot lock, the call as it was.
    assert (sql.scalar("SELECT COUNT(*) FROM slot_locks"),
            sql.query("SELECT owner_id, due_at, state FROM callbacks WHERE id = %s",
                      (cb["id"],))) == before

    # The move itself lands where the answer said.
    assert d.req("POST", f"/v1/callbacks/{cb['id']}/claim", key=erin_key).status_code == 200
    r = d.req("POST", f"/v1/callbacks/{cb['id']}/outcome", key=erin_key,
              json={"result": "reschedule", "when": off})
    assert r.status_code == 200, r.text
    assert d.admin("GET", f"/v1/callbacks/{cb['id']}").json()["owner"]["id"] == otto["id"]


def test_who_calls_refusals_and_authorization(daemon_factory):
    d = daemon_factory(relaxed())
    agent, key = make_agent(d, unique_name("ann"))
    cb = book(d).json()
    path = f"/v1/callbacks/{cb['id']}/who-calls"
    now = clock_advance(d, 0)
    later = at_london(now, 1, 12)
    assert_problem(d.req("GET", path, params={"at": later}), 401, "/problems/unauthorized")
    # The customer's own manage token is not enough: it names agents.
    assert_problem(d.req("GET", path, key=cb["manage_token"], params={"at": later}), 403,
                   "/problems/forbidden")
    assert d.req("GET", path, key=key, params={"at": later}).status_code == 200
    assert d.admin("GET", path, params={"at": later}).status_code == 200
    assert_problem(d.req("GET", path, key=key), 400, "/problems/invalid-time", "at")
    assert_problem(d.req("GET", path, key=key, params={"at": "tomorrow"}), 400,
                   "/problems/invalid-time", "at")
    assert_problem(d.req("GET", "/v1/callbacks/99999999/who-calls", key=key,
                         params={"at": later}), 404, "/problems/not-found")
    past = datetime.fromtimestamp(now - 3600, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_problem(d.req("GET", path, key=key, params={"at": past}), 422, "/problems/too-soon",
                   "at")
