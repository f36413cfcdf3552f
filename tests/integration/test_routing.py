"""Routing end to end: queues and skills through the API, bookings into a
queue (slots, ETAs and owners count only agents with its skills), handoffs
and the planner that never give a call to an agent without them (and a
lead's explicit override), two sites' hours across daylight-saving
changes, priority order with ageing, and the per-queue figures.

The clock is Monday 2 November 2026, 08:05 UTC unless a test says
otherwise; London is on GMT then, so London times read as UTC. Bookings go
in in a random order (seeded; CBD_TEST_SEED repeats a run).
"""

import os
import random

import pytest

from helpers import make_key, wait_until
from util_api import assert_problem as _assert_problem, relaxed, unique_phone

NOW = "2026-11-02T08:05:00Z"
DAY = "2026-11-02"
NOTE = {"summary": "Refund in Spanish", "next_step": "Call back",
        "reason": "Ana is away"}

SEED = int(os.environ.get("CBD_TEST_SEED") or random.SystemRandom().randrange(1 << 30))
shuffler = random.Random(SEED)


def shuffled(items):
    items = list(items)
    shuffler.shuffle(items)
    return items


def assert_problem(r, status, ptype, field=None):
    return _assert_problem(r, status, f"/problems/{ptype}", field)


def at(hhmm, day=DAY):
    return f"{day}T{hhmm}:00Z"


def daily(start_hhmm, hours):
    return {"start": f"2026-11-01T{start_hhmm}:00", "duration": f"PT{hours}H",
            "rrule": "FREQ=DAILY", "tz": "Europe/London"}


def set_clock(d, now):
    r = d.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text


def put_shifts(d, agent_id, *shifts):
    r = d.admin("PUT", f"/v1/agents/{agent_id}/shifts",
                json={"shifts": list(shifts)})
    assert r.status_code == 200, r.text


def time_off(d, agent_id, frm, to):
    r = d.admin("POST", f"/v1/agents/{agent_id}/time-off",
                json={"from": frm, "to": to, "reason": "leave"})
    assert r.status_code == 201, r.text


def skills(d, key, agent_id, **levels):
    body = {"skills": [{"skill": k.replace("_", ":"), "level": v}
                       for k, v in levels.items()]}
    r = d.req("PUT", f"/v1/agents/{agent_id}/skills", key=key, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def new_queue(d, key, name, skills=(), tz="Europe/London", **extra):
    body = {"name": name, "timezone": tz,
            "skills": [{"skill": s, "min_level": lv} for s, lv in skills]}
    body.update(extra)
    r = d.req("POST", "/v1/routing/queues", key=key, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def book(d, when="asap", queue=None, topic="Billing question", phone=None,
         expect=201, **extra):
    body = {"customer": {"name": "Ana Cliente", "phone": phone or unique_phone(),
                         "timezone": "Europe/London"},
            "topic": topic, "when": when}
    if queue:
        body["queue"] = queue
    body.update(extra)
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == expect, f"{when} {queue}: {r.status_code} {r.text}"
    return r


def owner(sql, cb_id):
    return sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb_id,))


def planner(d):
    r = d.admin("POST", "/v1/planner/run")
    assert r.status_code == 200, r.text
    rep = r.json()
    rep.pop("overdue", None)
    return rep


class Crew:
    pass


@pytest.fixture
def crew(daemon_factory, make_agent):
    """Rostered agents (London): Ana speaks Spanish 08-14, Eva speaks
    Spanish 14-22, Sam speaks none 08-22. A queue "spanish" needs lang:es
    at level 2 or more."""
    d = daemon_factory(relaxed())
    set_clock(d, NOW)
    c = Crew()
    c.d = d
    c.lead = make_key(d, "lead", "lena")
    for name in ("ana", "eva", "sam"):
        a, key = make_agent(d, name, capacity=4)
        setattr(c, name, a["id"])
        setattr(c, name + "_key", key)
    put_shifts(d, c.ana, daily("08:00", 6))
    put_shifts(d, c.eva, daily("14:00", 8))
    put_shifts(d, c.sam, daily("08:00", 14))
    skills(d, c.lead, c.ana, lang_es=4, billing=2)
    skills(d, c.lead, c.eva, lang_es=3)
    skills(d, c.lead, c.sam, billing=5, lang_es=1)  # es too weak: level 1
    c.q = new_queue(d, c.lead, "spanish", [("lang:es", 2)],
                    topics=["Factura"], default_priority=1)
    return c


# --------------------------------------------------------------------------
# The resources and who may use them


def test_queues_and_skills_through_the_api(crew):
    c = crew
    q = c.q
    assert q["skills"] == [{"skill": "lang:es", "min_level": 2}]
    assert q["topics"] == ["factura"] and q["default_priority"] == 1
    assert q["target"] == {"asap_pct": 80, "asap_minutes": 10,
                           "scheduled_minutes": 5}
    # Agents read queues; leads and admins write them.
    r = c.d.req("GET", "/v1/routing/queues", key=c.sam_key)
    assert r.status_code == 200 and [x["name"] for x in r.json()["items"]] == ["spanish"]
    r = c.d.req("GET", f"/v1/routing/queues/{q['id']}", key=c.sam_key)
    assert r.status_code == 200 and r.json() == q
    body = dict(name="denver-billing", timezone="America/Denver",
                opening_hours="mon-fri 09:00-17:00", closures="2026-12-25",
                skills=[{"skill": "billing", "min_level": 3}],
                target={"asap_pct": 90, "asap_minutes": 5,
                        "scheduled_minutes": 2})
    r = c.d.req("PUT", f"/v1/routing/queues/{q['id']}", key=c.lead, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["name"] == "denver-billing" and got["timezone"] == "America/Denver"
    assert got["topics"] == [] and got["target"]["asap_pct"] == 90
    r = c.d.req("GET", f"/v1/agents/{c.ana}/skills", key=c.sam_key)
    assert r.status_code == 200
    assert r.json() == {"agent_id": c.ana, "skills": [
        {"skill": "billing", "level": 2}, {"skill": "lang:es", "level": 4}]}
    r = c.d.req("DELETE", f"/v1/routing/queues/{q['id']}", key=c.lead)
    assert r.status_code == 204, r.text
    assert_problem(c.d.req("GET", f"/v1/routing/queues/{q['id']}", key=c.lead),
                   404, "not-found")


def test_routing_authorization(crew):
    c = crew
    qid = c.q["id"]
    body = {"name": "x", "timezone": "UTC"}
    sk = {"skills": [{"skill": "lang:fr", "level": 2}]}
    for key in (c.sam_key,):
        assert_problem(c.d.req("POST", "/v1/routing/queues", key=key, json=body),
                       403, "forbidden")
        assert_problem(c.d.req("PUT", f"/v1/routing/queues/{qid}", key=key,
                               json=body), 403, "forbidden")
        assert_problem(c.d.req("DELETE", f"/v1/routing/queues/{qid}", key=key),
                       403, "forbidden")
        assert_problem(c.d.req("PUT", f"/v1/agents/{c.sam}/skills", key=key,
                               json=sk), 403, "forbidden")
        assert_problem(c.d.req("GET", "/v1/routing/figures", key=key),
                       403, "forbidden")
    for method, path, js in (("GET", "/v1/routing/queues", None),
                             ("POST", "/v1/routing/queues", body),
                             ("GET", f"/v1/routing/queues/{qid}", None),
                             ("PUT", f"/v1/agents/{c.sam}/skills", sk),
                             ("GET", f"/v1/agents/{c.sam}/skills", None),
                             ("GET", "/v1/routing/figures", None)):
        r = c.d.req(method, path, json=js)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
    # An admin may do what a lead does.
    r = c.d.admin("PUT", f"/v1/agents/{c.sam}/skills", json=sk)
    assert r.status_code == 200, r.text
    r = c.d.admin("GET", "/v1/routing/figures")
    assert r.status_code == 200, r.text


def test_bad_queue_and_skill_input_changes_nothing(crew, sql):
    c = crew
    base = {"name": "q2", "timezone": "Europe/London"}
    cases = [
        (dict(base, timezone="Mars/Base"), 400, "invalid-timezone", "timezone"),
        (dict(base, opening_hours="weekdays 9-5"), 400, "invalid-field",
         "opening_hours"),
        (dict(base, closures="25/12/2026"), 400, "invalid-field", "closures"),
        (dict(base, name="Has Space"), 400, "invalid-field", "name"),
        (dict(base, skills=[{"skill": "lang:es", "min_level": 6}]), 400,
         "invalid-field", "skills.min_level"),
        (dict(base, skills=[{"skill": "Lang ES"}]), 400, "invalid-skill",
         "skills.skill"),
        (dict(base, skills=[{"skill": "x"}, {"skill": "x"}]), 400,
         "invalid-field", "skills.skill"),
        (dict(base, target={"asap_pct": 0}), 400, "invalid-field",
         "target.asap_pct"),
        (dict(base, colour="red"), 400, "unknown-field", "colour"),
        ({"timezone": "UTC"}, 400, "missing-field", "name"),
    ]
    for body, status, ptype, field in cases:
        assert_problem(c.d.req("POST", "/v1/routing/queues", key=c.lead,
                               json=body), status, ptype, field)
    assert_problem(c.d.req("POST", "/v1/routing/queues", key=c.lead,
                           json={"name": "spanish", "timezone": "UTC"}),
                   409, "queue-exists", "name")
    for body, ptype, field in (
            ({"skills": [{"skill": "lang:es", "level": 0}]}, "invalid-field",
             "skills.level"),
            ({"skills": [{"skill": "lang:es"}]}, "missing-field", "skills.level"),
            ({"skills": "lang:es"}, "invalid-field", "skills"),
            ({"skils": []}, "unknown-field", "skils")):
        assert_problem(c.d.req("PUT", f"/v1/agents/{c.ana}/skills", key=c.lead,
                               json=body), 400, ptype, field)
    assert_problem(c.d.req("PUT", "/v1/agents/999999/skills", key=c.lead,
                           json={"skills": []}), 404, "not-found")
    assert sql.scalar("SELECT COUNT(*) FROM routing_queues") == 1
    assert sql.scalar("SELECT COUNT(*) FROM agent_skills WHERE agent_id = %s",
                      (c.ana,)) == 2
    # A booking into a queue that does not exist.
    assert_problem(book(c.d, queue="nope", expect=422), 422, "unknown-queue",
                   "queue")
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 0
    # A queue with open calls cannot go.
    book(c.d, queue="spanish")
    assert_problem(c.d.req("DELETE", f"/v1/routing/queues/{c.q['id']}",
                           key=c.lead), 409, "queue-in-use")


# --------------------------------------------------------------------------
# Booking: slots, ETAs and owners


def test_slots_and_placement_count_only_skilled_agents(crew, sql):
    c = crew
    params = {"from": at("09:00"), "to": at("10:00")}
    plain = c.d.req("GET", "/v1/slots", params=params).json()
    es = c.d.req("GET", "/v1/slots", params=dict(params, queue="spanish")).json()
    # Ana and Sam work 09-10; only Ana speaks Spanish well enough.
    assert [s["available"] for s in plain] == [2, 2, 2, 2]
    assert [s["available"] for s in es] == [1, 1, 1, 1]
    # A topic mapped to the queue means the same.
    by_topic = c.d.req("GET", "/v1/slots",
                       params=dict(params, topic="FACTURA")).json()
    assert by_topic == es
    # Book the Spanish slots, in a random order: all go to Ana.
    times = ["09:00", "09:15", "09:30", "09:45"]
    for t in shuffled(times):
        cb = book(c.d, at(t), queue="spanish").json()
        assert owner(sql, cb["id"]) == c.ana, f"seed {SEED}"
    # Now every Spanish slot is full, though Sam is free.
    p = assert_problem(book(c.d, at("09:30"), queue="spanish", expect=409),
                       409, "slot-full", "when")
    assert "next_available" in p
    assert [s["available"] for s in c.d.req(
        "GET", "/v1/slots", params=dict(params, queue="spanish")).json()] == [0] * 4
    # A call by topic lands in the queue too.
    cb = book(c.d, at("16:00"), topic="factura").json()
    assert owner(sql, cb["id"]) == c.eva
    assert sql.scalar("SELECT queue_id FROM callbacks WHERE id = %s",
                      (cb["id"],)) == c.q["id"]
    # Outside the queue, Sam takes the call.
    cb = book(c.d, at("09:30")).json()
    assert owner(sql, cb["id"]) == c.sam


def test_a_call_outliving_its_deleted_queue_can_still_move(crew, sql):
    # A booking reads its queue without writing it, so a delete may commit
    # beside it and leave the call in a queue that is gone (done here by
    # hand). The call then counts as in the default queue: it can still be
    # rescheduled, never a 404 for ever.
    c = crew
    cb = book(c.d, at("10:00"), queue="spanish").json()
    sql.execute("DELETE FROM routing_queue_skills WHERE queue_id = %s", (c.q["id"],))
    sql.execute("DELETE FROM routing_queues WHERE id = %s", (c.q["id"],))
    r = c.d.admin("PATCH", f"/v1/callbacks/{cb['id']}", json={"when": at("11:00")})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == cb["id"]


def test_asap_goes_to_a_skilled_agent_and_the_eta_counts_only_them(crew, sql):
    c = crew
    ids = []
    for _ in range(3):
        r = book(c.d, queue="spanish").json()
        ids.append(r["id"])
        assert owner(sql, r["id"]) == c.ana
    # Ana's queue holds the three: the third waits behind two calls.
    assert r["position"] == 3 and r["eta_seconds"] == 2 * 300
    # With Ana away nobody with Spanish is on duty until Eva at 14:00.
    time_off(c.d, c.ana, at("08:00"), at("14:00"))
    p = assert_problem(book(c.d, queue="spanish", expect=409), 409,
                       "no-agents-on-duty", "when")
    assert p["next_available"].startswith(f"{DAY}T14:00"), p
    # The default queue still has Sam.
    assert owner(sql, book(c.d).json()["id"]) == c.sam


def test_a_queue_nobody_can_serve_says_so(crew, sql):
    c = crew
    new_queue(c.d, c.lead, "german", [("lang:de", 1)])
    assert_problem(book(c.d, queue="german", expect=409), 409, "no-agents",
                   "queue")
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 0


def test_best_skilled_match_by_level(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    set_clock(d, NOW)
    lead = make_key(d, "lead", "lena")
    low, _ = make_agent(d, "low", capacity=4)
    high, _ = make_agent(d, "high", capacity=4)
    skills(d, lead, low["id"], fibre=2)
    skills(d, lead, high["id"], fibre=5)
    new_queue(d, lead, "fibre", [("fibre", 1)])
    # Both always on duty, equally idle: the expert gets the call.
    cb = book(d, at("10:00"), queue="fibre").json()
    assert owner(sql, cb["id"]) == high["id"]


def test_case_owner_keeps_the_customer_when_skilled(crew, sql):
    c = crew
    phone = unique_phone()
    first = book(c.d, at("10:00"), queue="spanish", phone=phone).json()
    assert owner(sql, first["id"]) == c.ana
    # The same customer again, in the default queue, while Sam is as free:
    # the case owner first.
    second = book(c.d, at("11:00"), phone=phone, force_new=True).json()
    assert owner(sql, second["id"]) == c.ana
    # Sam owns a customer's case, then the customer asks in Spanish: Sam
    # lacks the skill, so the call goes to Ana, and Sam never gets it.
    phone2 = unique_phone()
    time_off(c.d, c.ana, at("08:00"), at("09:00"))
    a = book(c.d, at("08:45"), phone=phone2).json()
    assert owner(sql, a["id"]) == c.sam
    b = book(c.d, at("12:00"), phone=phone2, queue="spanish",
             force_new=True).json()
    assert owner(sql, b["id"]) == c.ana


# --------------------------------------------------------------------------
# Handoffs and the planner


def test_planner_never_hands_a_call_to_an_unskilled_agent(crew, sql):
    c = crew
    cb = book(c.d, at("12:00"), queue="spanish").json()["id"]
    assert owner(sql, cb) == c.ana
    # Ana is away from 11:00 to the end of her shift; Sam is on duty but
    # has Spanish at level 1 only, Eva starts at 14:00: the call stays, at
    # risk, saying until when.
    time_off(c.d, c.ana, at("11:00"), at("14:00"))
    assert planner(c.d) == {"kept": 0, "handed_off": 0, "at_risk": 1}
    assert owner(sql, cb) == c.ana
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0
    r = c.d.req("GET", "/v1/coverage", key=c.lead,
                params={"from": at("08:00"), "to": at("16:00")})
    assert r.status_code == 200, r.text
    [risk] = [x for h in r.json()["hours"] for x in h["at_risk"]]
    assert risk["callback_id"] == cb
    assert risk["reason"] == ("no agent with lang:es (queue spanish) on duty "
                              "until Mon 14:00 Europe/London"), risk
    # The lead's preview says the same.
    r = c.d.req("POST", "/v1/handoffs", key=c.lead,
                json={"callback_ids": [cb], "note": NOTE, "dry_run": True})
    assert r.status_code == 200, r.text
    [stay] = r.json()["stays"]
    assert stay["at_risk"] and "lang:es" in stay["why"] and "14:00" in stay["why"]


def test_planner_hands_off_to_a_skilled_agent_on_duty(crew, sql, make_agent):
    c = crew
    # Zoe speaks Spanish and works with Sam 08-22, with more to do than Sam.
    zoe, _ = make_agent(c.d, "zoe", capacity=4)
    put_shifts(c.d, zoe["id"], daily("08:00", 14))
    skills(c.d, c.lead, zoe["id"], lang_es=2)
    ids = [book(c.d, at(t), queue="spanish").json()["id"]
           for t in shuffled(["12:00", "12:30"])]
    assert {owner(sql, i) for i in ids} == {c.ana}
    time_off(c.d, c.ana, at("11:00"), at("14:00"))
    assert planner(c.d)["handed_off"] == 2
    assert {owner(sql, i) for i in ids} == {zoe["id"]}


def test_lead_handoff_to_an_unskilled_agent_needs_the_override(crew, sql):
    c = crew
    cb = book(c.d, at("12:00"), queue="spanish").json()["id"]
    body = {"callback_ids": [cb], "to_agent": c.sam, "note": NOTE}
    r = c.d.req("POST", "/v1/handoffs", key=c.lead, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["moves"] == [] and out["counts"]["stays"] == 1
    assert "lacks lang:es" in out["stays"][0]["why"], out
    assert owner(sql, cb) == c.ana
    assert sql.scalar("SELECT COUNT(*) FROM handoffs") == 0
    assert_problem(c.d.req("POST", "/v1/handoffs", key=c.lead,
                           json=dict(body, override_skills="yes")),
                   400, "invalid-field", "override_skills")
    # With the override it moves, and the note says so.
    r = c.d.req("POST", "/v1/handoffs", key=c.lead,
                json=dict(body, override_skills=True))
    assert r.status_code == 201, r.text
    assert [m["callback_id"] for m in r.json()["moves"]] == [cb]
    assert owner(sql, cb) == c.sam
    reason = sql.scalar("SELECT reason FROM handoffs WHERE callback_id = %s",
                        (cb,))
    assert reason.startswith(NOTE["reason"]) and "overridden" in reason, reason
    assert "Sam lacks lang:es" in reason, reason
    # To a skilled agent no override is needed.
    r = c.d.req("POST", "/v1/handoffs", key=c.lead,
                json={"callback_ids": [cb], "to_agent": c.eva, "note": NOTE})
    assert [m["callback_id"] for m in r.json()["moves"]] == [cb]


# --------------------------------------------------------------------------
# Two sites across daylight-saving changes


def test_queue_hours_in_two_sites_across_dst(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    # Thursday 22 October 2026: the UK leaves summer time on Sunday 25th,
    # the US on Sunday 1 November.
    set_clock(d, "2026-10-22T12:00:00Z")
    lead = make_key(d, "lead", "lena")
    ldn, _ = make_agent(d, "ldn", capacity=4)
    den, _ = make_agent(d, "den", capacity=4, timezone="America/Denver")
    skills(d, lead, ldn["id"], site_london=1)
    skills(d, lead, den["id"], site_denver=1)
    hours = "mon-fri 09:00-17:00"
    new_queue(d, lead, "london", [("site:london", 1)], tz="Europe/London",
              opening_hours=hours)
    new_queue(d, lead, "denver", [("site:denver", 1)], tz="America/Denver",
              opening_hours=hours)

    def first_slot(queue, day):
        r = d.req("GET", "/v1/slots", params={
            "queue": queue, "from": f"{day}T00:00:00Z",
            "to": f"{day}T23:59:00Z"})
        assert r.status_code == 200, r.text
        return r.json()[0]["start"], r.json()[-1]["end"]

    assert first_slot("london", "2026-10-23") == ("2026-10-23T08:00:00Z",
                                                  "2026-10-23T16:00:00Z")
    assert first_slot("london", "2026-10-26") == ("2026-10-26T09:00:00Z",
                                                  "2026-10-26T17:00:00Z")
    assert first_slot("denver", "2026-10-30")[0] == "2026-10-30T15:00:00Z"
    assert first_slot("denver", "2026-11-02")[0] == "2026-11-02T16:00:00Z"
    # Bookings keep to each site's hours, in whatever order they come.
    tries = [("denver", "2026-11-02T15:30:00Z", 409),
             ("denver", "2026-11-02T16:00:00Z", 201),
             ("london", "2026-10-26T08:30:00Z", 409),
             ("london", "2026-10-26T09:00:00Z", 201),
             ("denver", "2026-10-30T15:00:00Z", 201)]
    for queue, when, status in shuffled(tries):
        r = book(d, when, queue=queue, expect=status)
        if status == 409:
            assert_problem(r, 409, "outside-hours", "when")
        else:
            who = ldn if queue == "london" else den
            assert owner(sql, r.json()["id"]) == who["id"], f"seed {SEED}"
    # ASAP at 12:00 UTC Thursday: London (13:00 BST) is open, Denver
    # (06:00 MDT) is not.
    book(d, queue="london")
    assert_problem(book(d, queue="denver", expect=409), 409, "outside-hours",
                   "when")


# --------------------------------------------------------------------------
# Priorities


def claim_next(d, key):
    r = d.req("POST", "/v1/me/queue/next", key=key)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def reached(d, key, cb):
    r = d.req("POST", f"/v1/callbacks/{cb}/outcome", key=key,
              json={"result": "reached"})
    assert r.status_code == 200, r.text


def test_priority_order_with_ageing(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(priority_ageing_min=10))
    set_clock(d, NOW)
    lead = make_key(d, "lead", "lena")
    ag, key = make_agent(d, "solo", capacity=50)
    new_queue(d, lead, "urgent", default_priority=2)
    # Old low-priority calls first, booked 25 and 5 minutes before the
    # urgent ones (random order within each time).
    old = book(d).json()["id"]
    d.admin("POST", "/v1/test/clock", json={"now": "2026-11-02T08:25:00Z"})
    mid = book(d).json()["id"]
    d.admin("POST", "/v1/test/clock", json={"now": "2026-11-02T08:30:00Z"})
    urgent = [book(d, queue="urgent").json()["id"] for _ in range(2)]
    assert {owner(sql, i) for i in [old, mid] + urgent} == {ag["id"]}
    assert sql.scalar("SELECT priority FROM callbacks WHERE id = %s",
                      (urgent[0],)) == 2
    # At 08:30: old has waited 25 min (0 + 2 = 2), mid 5 (0), urgent 0 (2).
    # old ties with the urgent ones at 2 and is older: it goes first; then
    # the urgent ones in age order; the newer low one last.
    order = []
    for _ in range(4):
        cb = claim_next(d, key)
        order.append(cb)
        reached(d, key, cb)
    assert order == [old] + urgent + [mid], (order, old, mid, urgent)


def test_repeat_contact_raises_priority(crew, sql):
    c = crew
    phone = unique_phone()
    a = book(c.d, at("10:00"), phone=phone).json()["id"]
    b = book(c.d, at("11:00"), phone=phone, force_new=True).json()["id"]
    c2 = book(c.d, at("11:00"), queue="spanish").json()["id"]
    prio = lambda i: sql.scalar("SELECT priority FROM callbacks WHERE id = %s", (i,))
    assert (prio(a), prio(b), prio(c2)) == (0, 1, 1)
    r = c.d.req("GET", f"/v1/callbacks/{b}", key=c.lead)
    assert r.json()["priority"] == 1 and r.json()["queue_id"] is None


# --------------------------------------------------------------------------
# Figures


def test_first_response_figures_per_queue(crew, sql):
    c = crew
    cb = book(c.d, queue="spanish").json()["id"]
    book(c.d)  # default queue, never answered
    set_clock(c.d, "2026-11-02T08:08:00Z")
    assert claim_next(c.d, c.ana_key) == cb
    set_clock(c.d, "2026-11-02T08:30:00Z")
    r = c.d.req("GET", "/v1/routing/figures", key=c.lead)
    assert r.status_code == 200, r.text
    figs = {q["queue"]: q for q in r.json()["queues"]}
    es = figs["spanish"]
    assert es["asap"]["booked"] == 1 and es["asap"]["within_target"] == 1
    # Three minutes, less the seconds the test clock ran on in real time
    # between setting it and the booking.
    assert 170 <= es["asap"]["avg_first_response_sec"] <= 180, es
    assert es["meets_target"]
    dflt = figs["default"]
    # Unanswered and past its 10 minutes: against the target.
    assert dflt["asap"]["booked"] == 1 and dflt["asap"]["within_target"] == 0
    assert not dflt["meets_target"]
    cov = c.d.req("GET", "/v1/coverage", key=c.lead).json()
    assert {q["queue"] for q in cov["queues"]} == {"default", "spanish"}


def test_vip_raises_priority_and_only_leads_mark_it(crew, sql):
    c = crew
    phone = unique_phone()
    first = book(c.d, at("10:00"), phone=phone).json()["id"]
    cust = sql.scalar("SELECT customer_id FROM callbacks WHERE id = %s", (first,))
    assert_problem(c.d.req("PUT", f"/v1/customers/{cust}/vip", key=c.sam_key,
                           json={"vip": True}), 403, "forbidden")
    assert c.d.req("PUT", f"/v1/customers/{cust}/vip", json={"vip": True}).status_code == 401
    assert_problem(c.d.req("PUT", f"/v1/customers/{cust}/vip", key=c.lead,
                           json={"vip": "yes"}), 400, "invalid-field", "vip")
    assert_problem(c.d.req("PUT", "/v1/customers/999999/vip", key=c.lead,
                           json={"vip": True}), 404, "not-found")
    r = c.d.req("PUT", f"/v1/customers/{cust}/vip", key=c.lead, json={"vip": True})
    assert r.status_code == 200 and r.json() == {"customer_id": cust, "vip": True}
    # VIP (+2) and a repeat within 48 h (+1), in the spanish queue (1).
    again = book(c.d, at("11:00"), phone=phone, queue="spanish",
                 force_new=True).json()["id"]
    assert sql.scalar("SELECT priority FROM callbacks WHERE id = %s", (again,)) == 4
    assert sql.scalar("SELECT priority FROM callbacks WHERE id = %s", (first,)) == 0


def test_queue_figures_in_metrics(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(planner_interval_sec=1))
    set_clock(d, NOW)
    lead = make_key(d, "lead", "lena")
    ag, key = make_agent(d, "solo", capacity=9)
    skills(d, lead, ag["id"], lang_es=3)
    new_queue(d, lead, "spanish", [("lang:es", 1)])
    cb = book(d, queue="spanish").json()["id"]
    set_clock(d, "2026-11-02T08:07:00Z")
    assert claim_next(d, key) == cb

    def lines():
        text = d.req("GET", "/metrics").text
        return {l.split(" ")[0]: float(l.split(" ")[1])
                for l in text.splitlines() if l.startswith("callbackd_queue_")}
    # Two minutes, less the seconds the test clock ran on in real time.
    wait_until(lambda: 110 <= lines().get(
        'callbackd_queue_asap_first_response_seconds{queue="spanish"}', 0) <= 120,
        timeout=15, msg="the spanish queue's first response in /metrics")
    got = lines()
    assert got['callbackd_queue_asap_within_target_ratio{queue="spanish"}'] == 1
    assert got['callbackd_queue_target_ratio{queue="spanish"}'] == 0.8
    assert 'callbackd_queue_target_ratio{queue="default"}' in got


def test_after_the_case_owner_who_worked_the_case_then_level(crew, sql, make_agent):
    c = crew
    # Zoe speaks better Spanish than Ana and works from 11:00.
    zoe, _ = make_agent(c.d, "zoe", capacity=4)
    put_shifts(c.d, zoe["id"], daily("11:00", 11))
    skills(c.d, c.lead, zoe["id"], lang_es=5)
    phone = unique_phone()
    first = book(c.d, at("10:00"), queue="spanish", phone=phone).json()["id"]
    assert owner(sql, first) == c.ana
    # A lead gives the case to Eva (off at 10:00, but skilled).
    r = c.d.req("POST", "/v1/handoffs", key=c.lead, json={
        "callback_ids": [first], "to_agent": c.eva, "note": NOTE})
    assert [m["callback_id"] for m in r.json()["moves"]] == [first], r.text
    # The customer again at 12:00: Eva (the case owner) is off; Ana worked
    # the case, Zoe is the better match by level: Ana.
    again = book(c.d, at("12:00"), queue="spanish", phone=phone,
                 force_new=True).json()["id"]
    assert owner(sql, again) == c.ana
    # Someone new at 12:15 gets the best match: Zoe.
    other = book(c.d, at("12:15"), queue="spanish").json()["id"]
    assert owner(sql, other) == zoe["id"]
