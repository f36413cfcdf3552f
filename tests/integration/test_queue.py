"""The agent's queue end to end: claiming with POST /v1/me/queue/next and
POST /v1/callbacks/{id}/claim, outcomes with the retry policy, leases that
return forgotten claims, who may do what, and what GET /v1/me/queue shows.

Every answer is checked twice: over HTTP and in MariaDB (callbacks, the
events audit trail, agents.open_count). Time is the daemon's test clock,
except in the race across two daemons, whose clocks are the wall clock so
that both instances agree on what is due.
"""

import itertools
import os
import re
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from helpers import make_key, wait_until
from util_api import (clock_advance, clock_to, epoch, relaxed, unique_name,
                      utc_text as rfc3339)

PROBLEM = "application/problem+json"
NOW = "2031-03-04T10:00:00Z"  # a Tuesday, inside any office day
LEASE = 900
RETRY = 1800
JANITOR_WAIT = 12  # the janitor runs every 5 s; a tick may be busy

_batches = itertools.count(1)


# --------------------------------------------------------------------------
# Small helpers


def set_clock(d, now=NOW):
    return clock_to(d, now)


advance = clock_advance


def clock(d):
    """The daemon's current time (the test clock runs on in real time)."""
    return advance(d, 0)


def assert_problem(r, status, ptype):
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url}: wanted {status} {ptype}, " \
        f"got {r.status_code}: {r.text[:500]}"
    assert r.headers["Content-Type"].split(";")[0] == PROBLEM, r.headers
    p = r.json()
    assert p["type"] == f"/problems/{ptype}", p
    assert p["status"] == status and p["title"] and p["detail"], p
    return p


def insert_callbacks(sql, agent_id, n, due_at, *, step=0, asap=True,
                     state=None, topic="Queued call", tz="Europe/London",
                     created_at=None):
    """n open callbacks owned by agent_id, written straight into MariaDB the
    way a booking writes them: one customer and one open case each, and the
    owner's open_count raised by n. The k-th (from 0) is due at due_at +
    k * step. Returns their ids in that order."""
    tag = "+447%02d%04d" % (os.getpid() % 100, next(_batches))
    created = created_at if created_at is not None else due_at
    state = state or ("pending" if asap else "scheduled")
    sql.execute(
        f"INSERT INTO customers (phone, name, email, timezone, created_at, "
        f"updated_at) SELECT CONCAT(%s, LPAD(seq, 5, '0')), "
        f"CONCAT('Customer ', seq), NULL, %s, %s, %s FROM seq_1_to_{n}",
        (tag, tz, created, created))
    sql.execute(
        "INSERT INTO cases (customer_id, owner_id, opened_at) SELECT id, %s, "
        "%s FROM customers WHERE phone LIKE %s ORDER BY id",
        (agent_id, created, tag + "%"))
    sql.execute(
        "INSERT INTO callbacks (case_id, customer_id, owner_id, state, topic, "
        "is_asap, due_at, created_at, updated_at) SELECT k.id, cu.id, %s, %s, "
        "CONCAT(%s, ' ', RIGHT(cu.phone, 5)), %s, "
        "%s + (CAST(RIGHT(cu.phone, 5) AS SIGNED) - 1) * %s, %s, %s "
        "FROM customers cu JOIN cases k ON k.customer_id = cu.id "
        "WHERE cu.phone LIKE %s ORDER BY cu.id",
        (agent_id, state, topic, 1 if asap else 0, due_at, step, created,
         created, tag + "%"))
    sql.execute("UPDATE agents SET open_count = open_count + %s WHERE id = %s",
                (n, agent_id))
    rows = sql.query(
        "SELECT c.id FROM callbacks c JOIN customers cu ON cu.id = "
        "c.customer_id WHERE cu.phone LIKE %s ORDER BY cu.phone",
        (tag + "%",))
    assert len(rows) == n
    return [r["id"] for r in rows]


def cb_row(sql, cid):
    return sql.query("SELECT * FROM callbacks WHERE id = %s", (cid,))[0]


def open_count(sql, agent_id):
    return sql.scalar("SELECT open_count FROM agents WHERE id = %s", (agent_id,))


def real_open_count(sql, agent_id):
    return sql.scalar(
        "SELECT COUNT(*) FROM callbacks WHERE owner_id = %s AND state IN "
        "('pending','scheduled','in_progress','retry_wait')", (agent_id,))


def events(sql, cid, kind=None):
    q = "SELECT id, kind, actor, body, at FROM events WHERE callback_id = %s"
    args = [cid]
    if kind:
        q += " AND kind = %s"
        args.append(kind)
    return sql.query(q + " ORDER BY id", args)


def next_call(d, key):
    return d.req("POST", "/v1/me/queue/next", key=key)


def claim(d, key, cid):
    return d.req("POST", f"/v1/callbacks/{cid}/claim", key=key)


def outcome(d, key, cid, result, **extra):
    return d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
                 json={"result": result, **extra})


def queue(d, key, **params):
    r = d.req("GET", "/v1/me/queue", key=key, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ok(r, status=200):
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url} -> {r.status_code}: {r.text[:500]}"
    return r.json() if r.content else None


@pytest.fixture
def desk(daemon_factory, make_agent):
    """A daemon on the test clock with two agents (ann, bob), their keys,
    and a lead key that belongs to no agent."""
    d = daemon_factory(relaxed())
    set_clock(d)
    ann, ann_key = make_agent(d, unique_name("ann"))
    bob, bob_key = make_agent(d, unique_name("bob"))
    lead_key = make_key(d, "lead", unique_name("lead"))

    class Desk:
        pass

    k = Desk()
    k.d, k.ann, k.ann_key, k.bob, k.bob_key, k.lead_key = (
        d, ann, ann_key, bob, bob_key, lead_key)
    return k


# --------------------------------------------------------------------------
# Two daemons, many agents, one database: no callback is claimed twice


def test_concurrent_next_on_two_daemons_never_claims_a_callback_twice(
        daemon_factory, sql, make_agent, dbname):
    d1 = daemon_factory(relaxed(store_threads=6))
    d2 = daemon_factory(relaxed(store_threads=6))
    # Two instances of one service: the same database, their own ports.
    for d in (d1, d2):
        conf = open(d.conf_path).read()
        assert re.search(rf"^db_name = {dbname}$", conf, re.M), conf
    assert d1.port != d2.port

    n_agents, per_agent, calls = 4, 240, 1000
    agents = [make_agent(d1 if i % 2 else d2, unique_name("racer"))
              for i in range(n_agents)]
    now = int(time.time())
    owned = {}
    for a, _ in agents:
        # Due over the last hour, one second apart: all due, in one order.
        for cid in insert_callbacks(sql, a["id"], per_agent, now - 3600, step=1):
            owned[cid] = a["id"]

    # Calls go round the agents and alternate between the daemons, from 16
    # threads with a connection each per daemon.
    local = threading.local()

    def session():
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s

    start = threading.Barrier(16)

    def one(i):
        if i < 16:
            start.wait(timeout=30)
        agent, key = agents[i % n_agents]
        d = (d1, d2)[(i // n_agents) % 2]
        r = session().post(d.url + "/v1/me/queue/next",
                           headers={"Authorization": f"Bearer {key}"}, timeout=60)
        return agent["id"], (d is d2), r.status_code, (r.json() if r.status_code == 200 else r.text)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(calls)))

    statuses = Counter(r[2] for r in results)
    assert set(statuses) <= {200, 204}, [r for r in results if r[2] not in (200, 204)][:5]
    assert sum(1 for r in results if r[1]) == calls // 2

    claimed = defaultdict(list)
    for agent_id, _, status, body in results:
        if status == 204:
            assert body == "", body
            continue
        claimed[body["id"]].append(agent_id)
        assert body["state"] == "in_progress", body
        assert body["claimed_by"] == agent_id, body
        assert owned[body["id"]] == agent_id, f"agent {agent_id} got {body}"
        assert epoch(body["lease_until"]) > now + LEASE - 120, body

    twice = {cid: who for cid, who in claimed.items() if len(who) > 1}
    assert twice == {}, f"claimed more than once: {twice}"

    # The audit trail agrees: one 'claimed' event per claimed callback, by
    # the agent whose answer carried it.
    rows = sql.query("SELECT callback_id, COUNT(*) AS n, MIN(actor) AS actor "
                     "FROM events WHERE kind = 'claimed' GROUP BY callback_id")
    assert {r["callback_id"] for r in rows if r["n"] > 1} == set()
    assert {r["callback_id"]: r["actor"] for r in rows} == {
        cid: f"agent:{who[0]}" for cid, who in claimed.items()}
    db = sql.query("SELECT id, claimed_by FROM callbacks WHERE state = 'in_progress'")
    assert {r["id"]: r["claimed_by"] for r in db} == {
        cid: who[0] for cid, who in claimed.items()}

    # Whatever the race left is still there, once: asked one at a time
    # (alternating daemons), each agent gets the rest of their calls and
    # then 204, and over both rounds every due call was claimed exactly once.
    for a, key in agents:
        for n in itertools.count():
            r = next_call((d1, d2)[n % 2], key)
            if r.status_code == 204:
                break
            b = ok(r)
            assert b["claimed_by"] == a["id"] and owned[b["id"]] == a["id"], b
            claimed[b["id"]].append(a["id"])
            assert n < per_agent, "next kept answering"
    assert sorted(claimed) == sorted(owned)
    assert {cid: len(who) for cid, who in claimed.items() if len(who) > 1} == {}
    rows = sql.query("SELECT callback_id, COUNT(*) AS n FROM events "
                     "WHERE kind = 'claimed' GROUP BY callback_id")
    assert {r["callback_id"]: r["n"] for r in rows} == {cid: 1 for cid in owned}
    assert sql.scalar("SELECT COUNT(*) FROM callbacks WHERE state <> 'in_progress'") == 0
    for a, _ in agents:
        assert open_count(sql, a["id"]) == per_agent == real_open_count(sql, a["id"])


def test_concurrent_next_answers_204_only_when_nothing_is_left(daemon_factory, sql,
                                                               make_agent):
    """One agent, many due calls, several of their own sessions (say a
    softphone and the console) asking at once: each must get a call, since
    there are plenty; 'nothing due' while calls are waiting leaves them
    waiting."""
    d = daemon_factory(relaxed(store_threads=8))
    ann, key = make_agent(d, unique_name("ann"))
    ids = insert_callbacks(sql, ann["id"], 100, int(time.time()) - 3600, step=1)
    width, rounds = 8, 4
    results = []
    with ThreadPoolExecutor(max_workers=width) as pool:
        for _ in range(rounds):
            gate = threading.Barrier(width)

            def one(_):
                gate.wait(timeout=30)
                return next_call(d, key)
            results += list(pool.map(one, range(width)))
    statuses = Counter(r.status_code for r in results)
    got = [r.json()["id"] for r in results if r.status_code == 200]
    assert len(got) == len(set(got))
    assert statuses == {200: width * rounds}, \
        f"{statuses[204]} of {width * rounds} concurrent next calls answered " \
        f"204 with {len(ids) - len(got)} calls due and unclaimed"
    # The claims were the earliest due ones.
    assert sorted(got) == ids[:width * rounds]


# --------------------------------------------------------------------------
# next: what it takes and when it has nothing


def test_next_takes_the_earliest_due_and_answers_204_when_nothing_is_due(desk, sql):
    d = desk.d
    now = clock(d)
    r = next_call(d, desk.ann_key)
    assert r.status_code == 204 and r.content == b"", r.text

    # Bob's due call is never Ann's; Ann's calls due later than
    # claim_ahead_sec (120 s) are not yet hers to take.
    insert_callbacks(sql, desk.bob["id"], 1, now - 600)
    [later] = insert_callbacks(sql, desk.ann["id"], 1, now + 1800, asap=False)
    assert next_call(d, desk.ann_key).status_code == 204
    [soon] = insert_callbacks(sql, desk.ann["id"], 1, now + 100, asap=False)
    [old, older] = insert_callbacks(sql, desk.ann["id"], 2, now - 60, step=-60)

    got = []
    for _ in range(3):
        b = ok(next_call(d, desk.ann_key))
        assert b["claimed_by"] == desk.ann["id"] and b["state"] == "in_progress"
        assert LEASE - 30 <= epoch(b["lease_until"]) - clock(d) <= LEASE
        for k in ("customer", "case_summary", "handoff_note", "case_id"):
            assert k in b, b
        got.append(b["id"])
    assert got == [older, old, soon]
    assert next_call(d, desk.ann_key).status_code == 204
    assert cb_row(sql, later)["state"] == "scheduled"
    # A claimed call is not handed out again, to anyone.
    assert next_call(d, desk.bob_key).json()["id"] not in got

    # Keys that are not an agent's have no queue.
    lead_only = next_call(d, desk.lead_key)
    assert_problem(lead_only, 403, "forbidden")
    assert_problem(d.req("POST", "/v1/me/queue/next"), 401, "unauthorized")


# --------------------------------------------------------------------------
# Leases


def test_lease_expiry_returns_claims_to_where_they_were(desk, sql):
    d, key = desk.d, desk.ann_key
    now = clock(d)
    [asap] = insert_callbacks(sql, desk.ann["id"], 1, now - 300)
    [sched] = insert_callbacks(sql, desk.ann["id"], 1, now + 60, asap=False)
    [retry] = insert_callbacks(sql, desk.ann["id"], 1, now - 400)
    ok(claim(d, key, retry))
    ok(outcome(d, key, retry, "no_answer"))
    retry_due = cb_row(sql, retry)["due_at"]
    for cid in (asap, sched, retry):
        b = ok(claim(d, key, cid))
        assert b["state"] == "in_progress" and b["claimed_by"] == desk.ann["id"]
    before = open_count(sql, desk.ann["id"])

    # Not yet: a tick of the janitor inside the lease changes nothing.
    advance(d, LEASE - 60)
    time.sleep(6)
    assert {cb_row(sql, c)["state"] for c in (asap, sched, retry)} == {"in_progress"}

    advance(d, 61)
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM events WHERE kind = 'lease_expired' AND "
        "callback_id IN (%s, %s, %s)", (asap, sched, retry)) == 3,
        timeout=JANITOR_WAIT, msg="the janitor to expire three leases")

    want = {asap: "pending", sched: "scheduled", retry: "retry_wait"}
    for cid, state in want.items():
        row = cb_row(sql, cid)
        assert row["state"] == state, (cid, row)
        assert row["claimed_by"] is None and row["lease_until"] is None, row
        [ev] = events(sql, cid, "lease_expired")
        assert ev["actor"] == "system"
        assert f'"agent_id":{desk.ann["id"]}' in ev["body"], ev
        assert f'"returned_to":"{state}"' in ev["body"], ev
    assert cb_row(sql, retry)["due_at"] == retry_due
    assert cb_row(sql, retry)["attempts"] == 1
    # Open all along: the owner's count did not move.
    assert open_count(sql, desk.ann["id"]) == before == real_open_count(sql, desk.ann["id"])

    # Back in the queue: next takes them again (the ASAP one first), and the
    # outcome of the lost attempt can no longer be recorded.
    assert_problem(outcome(d, key, asap, "reached"), 409, "no-attempt-in-progress")
    assert ok(next_call(d, key))["id"] == asap
    assert ok(next_call(d, key))["id"] == sched
    assert next_call(d, key).status_code == 204


def test_claiming_again_renews_the_lease(desk, sql):
    d, key = desk.d, desk.ann_key
    [cid] = insert_callbacks(sql, desk.ann["id"], 1, clock(d) - 10)
    first = ok(claim(d, key, cid))
    advance(d, LEASE - 100)
    again = ok(claim(d, key, cid))
    assert epoch(again["lease_until"]) >= epoch(first["lease_until"]) + LEASE - 100 - 2
    advance(d, 200)  # past the first lease, inside the renewed one
    time.sleep(6)
    row = cb_row(sql, cid)
    assert row["state"] == "in_progress" and row["claimed_by"] == desk.ann["id"], row
    assert events(sql, cid, "lease_expired") == []
    ok(outcome(d, key, cid, "reached"))


# --------------------------------------------------------------------------
# Outcomes and the retry policy


def test_no_answer_and_busy_wait_retry_delay_then_fail_after_max_attempts(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    [cid] = insert_callbacks(sql, ann, 1, clock(d) - 30)
    n_open = open_count(sql, ann)
    for attempt, result in enumerate(("no_answer", "busy"), start=1):
        assert ok(next_call(d, key))["id"] == cid
        t0 = clock(d)
        b = ok(outcome(d, key, cid, result, note=f"try {attempt}"))
        t1 = clock(d)
        assert b["state"] == "retry_wait" and b["attempts"] == attempt, b
        assert "claimed_by" not in b, b
        row = cb_row(sql, cid)
        assert row["state"] == "retry_wait" and row["attempts"] == attempt
        assert row["claimed_by"] is None and row["lease_until"] is None
        assert t0 + RETRY <= row["due_at"] <= t1 + RETRY, (t0, row["due_at"], t1)
        assert open_count(sql, ann) == n_open
        ev = events(sql, cid, "attempt")[-1]
        assert ev["actor"] == f"agent:{ann}"
        for part in (f'"result":"{result}"', f'"attempt":{attempt}',
                     '"state":"retry_wait"', f'"next_at":{row["due_at"]}',
                     f'"note":"try {attempt}"'):
            assert part in ev["body"], ev
        # Not before its time (claim_ahead_sec is 120 s) ...
        advance(d, RETRY - 300)
        assert next_call(d, key).status_code == 204
        # ... and then it is the next call.
        advance(d, 300)

    assert ok(next_call(d, key))["id"] == cid
    b = ok(outcome(d, key, cid, "no_answer"))
    assert b["state"] == "failed" and b["attempts"] == 3, b
    row = cb_row(sql, cid)
    assert row["state"] == "failed" and row["attempts"] == 3
    assert open_count(sql, ann) == n_open - 1 == real_open_count(sql, ann)
    assert next_call(d, key).status_code == 204
    assert_problem(claim(d, key, cid), 409, "not-open")


def test_a_retry_falling_after_the_owners_shift_waits_for_the_next_shift(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    r = d.admin("PUT", f"/v1/agents/{ann}/shifts", json={"shifts": [
        {"start": "2031-03-03T09:00:00", "duration": "PT8H",
         "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}]})
    assert r.status_code == 200, r.text
    # 10:00 London: half an hour later Ann is still on.
    t0 = set_clock(d, "2031-03-04T10:00:00Z")
    a, b = insert_callbacks(sql, ann, 2, t0 - 60, step=1)
    ok(claim(d, key, a))
    ok(outcome(d, key, a, "busy"))
    assert t0 + RETRY <= cb_row(sql, a)["due_at"] <= clock(d) + RETRY
    # 16:45: half an hour later she is gone until Wednesday 09:00.
    set_clock(d, "2031-03-04T16:45:00Z")
    ok(claim(d, key, b))
    ok(outcome(d, key, b, "no_answer"))
    row = cb_row(sql, b)
    assert row["state"] == "retry_wait"
    assert row["due_at"] == epoch("2031-03-05T09:00:00Z"), rfc3339(row["due_at"])


def test_wrong_number_fails_at_once(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    [cid] = insert_callbacks(sql, ann, 1, clock(d) - 30)
    n_open = open_count(sql, ann)
    ok(next_call(d, key))
    b = ok(outcome(d, key, cid, "wrong_number", note="fax tone"))
    assert b["state"] == "failed" and b["attempts"] == 1
    assert cb_row(sql, cid)["state"] == "failed"
    assert open_count(sql, ann) == n_open - 1 == real_open_count(sql, ann)


def test_reached_completes_and_lowers_the_owners_open_count(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    ids = insert_callbacks(sql, ann, 3, clock(d) - 30)
    assert open_count(sql, ann) == 3
    assert ok(next_call(d, key))["id"] == ids[0]
    b = ok(outcome(d, key, ids[0], "reached", note="sorted"))
    assert b["state"] == "completed" and b["attempts"] == 1
    row = cb_row(sql, ids[0])
    assert row["state"] == "completed"
    assert row["claimed_by"] is None and row["lease_until"] is None
    assert open_count(sql, ann) == 2 == real_open_count(sql, ann)
    assert [i["id"] for i in queue(d, key)["items"]] == ids[1:]


def test_reschedule_moves_the_call_and_bumps_the_invite_sequence(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    now = clock(d)
    [cid] = insert_callbacks(sql, ann, 1, now - 30)
    seq = cb_row(sql, cid)["ics_sequence"]
    n_open = open_count(sql, ann)
    ok(next_call(d, key))

    # when goes with reschedule only, and must be a future RFC 3339 time.
    when = rfc3339((now // 3600 + 3) * 3600)
    assert_problem(outcome(d, key, cid, "reschedule"), 400, "missing-field")
    assert_problem(outcome(d, key, cid, "reached", when=when), 400, "invalid-field")
    assert_problem(outcome(d, key, cid, "reschedule", when="tomorrow"), 400, "invalid-time")
    assert_problem(outcome(d, key, cid, "reschedule", when=rfc3339(now - 3600)),
                   422, "invalid-time")
    assert_problem(outcome(d, key, cid, "maybe"), 400, "invalid-field")
    assert cb_row(sql, cid)["state"] == "in_progress"

    b = ok(outcome(d, key, cid, "reschedule", when=when, note="call after lunch"))
    assert b["state"] == "scheduled", b
    assert epoch(b["scheduled_at"]) == epoch(when), b
    row = cb_row(sql, cid)
    assert row["state"] == "scheduled" and row["due_at"] == epoch(when)
    assert row["is_asap"] == 0 and row["owner_id"] == ann
    assert row["ics_sequence"] == seq + 1
    assert row["claimed_by"] is None and row["attempts"] == 1
    assert open_count(sql, ann) == n_open
    inv = d.req("GET", f"/v1/callbacks/{cid}/invite.ics", key=d.admin_key)
    assert inv.status_code == 200, inv.text
    assert f"SEQUENCE:{seq + 1}" in inv.text.replace("\r\n ", ""), inv.text
    # Not due until then; at its time it is the next call again.
    assert next_call(d, key).status_code == 204
    advance(d, epoch(when) - clock(d) - 60)
    assert ok(next_call(d, key))["id"] == cid


def test_reschedule_into_a_slot_the_owner_has_full_hands_the_call_over(desk, sql):
    d, key, ann, bob = desk.d, desk.ann_key, desk.ann["id"], desk.bob["id"]
    now = clock(d)
    slot = (now // 3600 + 4) * 3600
    # Ann already has a call in that slot (one per agent per slot).
    insert_callbacks(sql, ann, 1, slot, asap=False)
    [cid] = insert_callbacks(sql, ann, 1, now - 30)
    ann_open, bob_open = open_count(sql, ann), open_count(sql, bob)
    ok(next_call(d, key))
    b = ok(outcome(d, key, cid, "reschedule", when=rfc3339(slot), note="after four"))
    assert b["state"] == "scheduled" and epoch(b["scheduled_at"]) == slot
    row = cb_row(sql, cid)
    assert row["owner_id"] == bob and row["due_at"] == slot
    assert open_count(sql, ann) == ann_open - 1 == real_open_count(sql, ann)
    assert open_count(sql, bob) == bob_open + 1 == real_open_count(sql, bob)
    [ev] = events(sql, cid, "handoff")
    assert f'"from":{ann}' in ev["body"] and f'"to":{bob}' in ev["body"], ev
    # Bob's queue carries the note of the handover.
    item = {i["id"]: i for i in queue(d, desk.bob_key)["items"]}[cid]
    assert item["handoff_note"]["summary"] == "after four", item


# --------------------------------------------------------------------------
# Who may claim and record outcomes


def test_outcome_only_by_the_claimant_or_a_lead_and_only_once(desk, sql):
    d, ann, bob = desk.d, desk.ann["id"], desk.bob["id"]
    a1, a2, a3 = insert_callbacks(sql, ann, 3, clock(d) - 30, step=1)

    # Without a claim: the owner is told to claim first; others may not.
    assert_problem(outcome(d, desk.ann_key, a1, "reached"), 409, "no-attempt-in-progress")
    assert_problem(outcome(d, desk.bob_key, a1, "reached"), 403, "forbidden")

    ok(next_call(d, desk.ann_key))
    # Bob is not on Ann's call.
    assert_problem(outcome(d, desk.bob_key, a1, "reached"), 403, "forbidden")
    assert cb_row(sql, a1)["state"] == "in_progress"
    assert events(sql, a1, "attempt") == []

    ok(outcome(d, desk.ann_key, a1, "no_answer"))
    # A second outcome for the same attempt.
    assert_problem(outcome(d, desk.ann_key, a1, "reached"), 409, "no-attempt-in-progress")
    assert len(events(sql, a1, "attempt")) == 1
    assert cb_row(sql, a1)["state"] == "retry_wait"

    # A lead may record the outcome of an agent's call.
    ok(claim(d, desk.ann_key, a2))
    b = ok(outcome(d, desk.lead_key, a2, "reached", note="lead closed it"))
    assert b["state"] == "completed"
    [ev] = events(sql, a2, "attempt")
    assert ev["actor"].startswith("lead:"), ev
    assert f'"agent_id":{ann}' in ev["body"], ev
    assert_problem(outcome(d, desk.lead_key, a2, "reached"), 409, "no-attempt-in-progress")

    # Unknown callbacks.
    assert_problem(outcome(d, desk.ann_key, 99999999, "reached"), 404, "not-found")
    assert cb_row(sql, a3)["state"] == "pending"
    assert open_count(sql, ann) == real_open_count(sql, ann) == 2
    assert open_count(sql, bob) == 0


def test_claim_by_owner_or_lead_only(desk, sql, make_agent):
    d, ann, bob = desk.d, desk.ann["id"], desk.bob["id"]
    now = clock(d)
    [a1, a2] = insert_callbacks(sql, ann, 2, now - 30, step=1)
    [b1] = insert_callbacks(sql, bob, 1, now - 30)

    assert_problem(claim(d, desk.bob_key, a1), 403, "forbidden")
    assert_problem(claim(d, desk.ann_key, b1), 403, "forbidden")
    assert cb_row(sql, a1)["state"] == "pending"
    assert events(sql, a1, "claimed") == []
    assert_problem(claim(d, desk.ann_key, 99999999), 404, "not-found")

    # A lead with no agent of their own claims for the owner.
    b = ok(claim(d, desk.lead_key, a1))
    assert b["claimed_by"] == ann and b["state"] == "in_progress"
    [ev] = events(sql, a1, "claimed")
    assert ev["actor"].startswith("lead:"), ev
    # The owner then records the outcome of the call claimed for them.
    ok(outcome(d, desk.ann_key, a1, "reached"))

    # A lead who is also an agent takes the call themselves; the owner
    # then finds it held.
    lead_agent, _ = make_agent(d, unique_name("lea"))
    lead2 = make_key(d, "lead", unique_name("lead-agent"), agent_id=lead_agent["id"])
    b = ok(claim(d, lead2, a2))
    assert b["claimed_by"] == lead_agent["id"]
    assert_problem(claim(d, desk.ann_key, a2), 409, "already-claimed")
    assert_problem(outcome(d, desk.ann_key, a2, "reached"), 403, "forbidden")
    assert next_call(d, desk.ann_key).status_code == 204
    ok(outcome(d, lead2, a2, "busy"))
    assert cb_row(sql, a2)["state"] == "retry_wait"

    # Closed calls cannot be claimed by anyone.
    assert_problem(claim(d, desk.lead_key, a1), 409, "not-open")


# --------------------------------------------------------------------------
# GET /v1/me/queue


def test_queue_in_due_order_with_customer_case_summary_and_handoff_note(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    now = clock(d)
    late = insert_callbacks(sql, ann, 2, now + 7200, step=-3600, asap=False)
    early = insert_callbacks(sql, ann, 2, now - 600, step=300)
    same = insert_callbacks(sql, ann, 2, now + 60)  # equal due: by id
    insert_callbacks(sql, desk.bob["id"], 2, now - 900)
    closed = insert_callbacks(sql, ann, 1, now - 1200)
    ok(claim(d, key, closed[0]))
    ok(outcome(d, key, closed[0], "wrong_number"))

    body = queue(d, key)
    assert body["agent_id"] == ann
    items = body["items"]
    want = early + same + [late[1], late[0]]
    assert [i["id"] for i in items] == want
    assert [epoch(i["due_at"]) for i in items] == sorted(epoch(i["due_at"]) for i in items)
    for it in items:
        assert {"customer", "case_summary", "handoff_note", "case_id", "state",
                "due_at"} <= set(it), it
        assert set(it["customer"]) >= {"name", "phone", "timezone"}, it
        assert it["customer"]["phone"].startswith("+")
        assert it["case_summary"] == {"last_outcome": None, "last_note": None}, it
        assert it["handoff_note"] is None

    # An attempt with a note, and a later case note, show in the summary.
    first = early[0]
    ok(claim(d, key, first))
    in_q = {i["id"]: i for i in queue(d, key)["items"]}
    assert in_q[first]["state"] == "in_progress"
    ok(outcome(d, key, first, "no_answer", note="voicemail full"))
    it = {i["id"]: i for i in queue(d, key)["items"]}[first]
    assert it["case_summary"]["last_outcome"]["result"] == "no_answer"
    assert it["case_summary"]["last_note"]["text"] == "voicemail full"
    assert it["case_summary"]["last_note"]["actor"] == f"agent:{ann}"
    case_id = it["case_id"]
    ok(d.req("POST", f"/v1/cases/{case_id}/notes", key=key,
             json={"text": "prefers mornings"}), 201)
    it = {i["id"]: i for i in queue(d, key)["items"]}[first]
    assert it["case_summary"]["last_note"]["text"] == "prefers mornings"
    assert it["case_summary"]["last_outcome"]["result"] == "no_answer"
    # The retry waits retry_delay_sec (30 min): behind the calls due
    # sooner, ahead of those due later.
    assert [i["id"] for i in queue(d, key)["items"]] == \
        early[1:] + same + [first, late[1], late[0]]

    # A call handed over to Bob arrives with its handoff note.
    moved = early[1]
    r = d.req("POST", "/v1/handoffs", key=desk.lead_key, json={
        "callback_ids": [moved], "to_agent": desk.bob["id"],
        "note": {"summary": "wants a refund", "next_step": "confirm amount",
                 "reason": "Ann is off this afternoon"}})
    assert r.status_code in (200, 201), r.text
    assert moved not in [i["id"] for i in queue(d, key)["items"]]
    bob_items = {i["id"]: i for i in queue(d, desk.bob_key)["items"]}
    note = bob_items[moved]["handoff_note"]
    assert note is not None, bob_items[moved]
    assert note["summary"] == "wants a refund"
    assert note["next_step"] == "confirm amount"
    assert note["reason"] == "Ann is off this afternoon"
    assert all(i["handoff_note"] is None for c, i in bob_items.items() if c != moved)

    assert_problem(d.req("GET", "/v1/me/queue", key=desk.lead_key), 403, "forbidden")
    assert_problem(d.req("GET", "/v1/me/queue"), 401, "unauthorized")


def test_queue_pages_with_limit_and_cursor_in_due_order(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    now = clock(d)
    # Ids and due times in opposite orders, so an id cursor cannot pass.
    ids = insert_callbacks(sql, ann, 23, now + 3600, step=-60)
    want = list(reversed(ids))
    assert [i["id"] for i in queue(d, key, limit=50)["items"]] == want

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = queue(d, key, **params)
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor or pages > 10:
            break
    assert seen == want, f"pages of 5 gave {len(seen)} items, {len(set(seen))} distinct"
    assert pages == 5
    assert_problem(d.req("GET", "/v1/me/queue", key=key, params={"limit": 0}),
                   400, "invalid-query")


# --------------------------------------------------------------------------
# ETag: an unchanged queue answers 304; every change of it a new tag


def queue_get(d, key, etag=None, **params):
    headers = {"If-None-Match": etag} if etag else None
    return d.req("GET", "/v1/me/queue", key=key, params=params, headers=headers)


def assert_unchanged(d, key, etag, **params):
    r = queue_get(d, key, etag, **params)
    assert r.status_code == 304, f"wanted 304, got {r.status_code}: {r.text[:300]}"
    assert r.content == b"" and r.headers["ETag"] == etag, r.headers


def assert_changed(d, key, etag, **params):
    """The queue answers 200 with a new tag, and 304 to that tag; returns
    (tag, items)."""
    r = queue_get(d, key, etag, **params)
    assert r.status_code == 200, f"wanted 200, got {r.status_code}: {r.text[:300]}"
    new = r.headers.get("ETag")
    assert new and new != etag, (etag, new)
    assert_unchanged(d, key, new, **params)
    return new, r.json()["items"]


def test_queue_etag_304_when_unchanged_and_new_after_every_kind_of_change(
        daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    set_clock(d)
    # One agent at first, so that every booking is hers.
    ann, ann_key = make_agent(d, unique_name("ann"))
    lead_key = make_key(d, "lead", unique_name("lead"))
    tag, items = assert_changed(d, ann_key, None)
    assert items == []
    # Weak or listed forms of the tag match too; another tag does not.
    assert queue_get(d, ann_key, f'W/{tag}').status_code == 304
    assert queue_get(d, ann_key, f'"nope", {tag}').status_code == 304
    assert queue_get(d, ann_key, '"nope"').status_code == 200
    # Another page size or zone is another page.
    assert queue_get(d, ann_key, tag, limit=5).status_code == 200
    assert queue_get(d, ann_key, tag, tz="Asia/Tokyo").status_code == 200

    # A booking, ASAP and scheduled.
    asap = ok(d.req("POST", "/v1/callbacks", json={
        "customer": {"name": "Ada", "phone": "+447700100001",
                     "timezone": "Europe/London"},
        "topic": "Billing", "when": "asap"}), 201)
    tag, items = assert_changed(d, ann_key, tag)
    assert [i["id"] for i in items] == [asap["id"]]
    later = ok(d.req("POST", "/v1/callbacks", json={
        "customer": {"name": "Grace", "phone": "+447700100002",
                     "timezone": "Europe/London"},
        "topic": "Plans", "when": rfc3339(clock(d) + 2 * 86400)}), 201)
    tag, items = assert_changed(d, ann_key, tag)
    assert len(items) == 2

    # A claim, then an outcome with a note.
    assert ok(next_call(d, ann_key))["id"] == asap["id"]
    tag, items = assert_changed(d, ann_key, tag)
    assert items[0]["state"] == "in_progress"
    ok(outcome(d, ann_key, asap["id"], "no_answer", note="voicemail"))
    tag, items = assert_changed(d, ann_key, tag)
    assert items[0]["case_summary"]["last_note"]["text"] == "voicemail"

    # A note on the case.
    case_id = next(i["case_id"] for i in items if i["id"] == asap["id"])
    ok(d.req("POST", f"/v1/cases/{case_id}/notes", key=ann_key,
             json={"text": "prefers mornings"}), 201)
    tag, items = assert_changed(d, ann_key, tag)
    assert any(i["case_summary"]["last_note"] and
               i["case_summary"]["last_note"]["text"] == "prefers mornings"
               for i in items)

    # The customer moves and then cancels with the manage token.
    ok(d.req("PATCH", f"/v1/callbacks/{later['id']}", key=later["manage_token"],
             json={"when": rfc3339(clock(d) + 3 * 86400)}))
    tag, _ = assert_changed(d, ann_key, tag)
    ok(d.req("DELETE", f"/v1/callbacks/{later['id']}", key=later["manage_token"]))
    tag, items = assert_changed(d, ann_key, tag)
    assert [i["id"] for i in items] == [asap["id"]]

    # A change written by anything else than the daemon's request paths
    # (here straight into MariaDB) moves the tag as well.
    sql.execute("UPDATE callbacks SET topic = 'Billing, again' WHERE id = %s",
                (asap["id"],))
    tag, items = assert_changed(d, ann_key, tag)
    assert items[0]["topic"] == "Billing, again"

    # A handoff: the call leaves Ann's queue and arrives in Bob's; a rename
    # of Ann changes the handoff note Bob's page shows.
    bob, bob_key = make_agent(d, unique_name("bob"))
    bob_tag, bob_items = assert_changed(d, bob_key, None)
    assert bob_items == []
    r = d.req("POST", "/v1/handoffs", key=lead_key, json={
        "callback_ids": [asap["id"]], "to_agent": bob["id"],
        "note": {"summary": "wants a refund", "next_step": "call back",
                 "reason": "Ann is off"}})
    assert r.status_code in (200, 201), r.text
    tag, items = assert_changed(d, ann_key, tag)
    assert items == []
    bob_tag, bob_items = assert_changed(d, bob_key, bob_tag)
    assert bob_items[0]["handoff_note"]["from_name"] == ann["display_name"]
    ok(d.admin("PATCH", f"/v1/agents/{ann['id']}",
               json={"display_name": "Ann Renamed"}))
    bob_tag, bob_items = assert_changed(d, bob_key, bob_tag)
    assert bob_items[0]["handoff_note"]["from_name"] == "Ann Renamed"

    # Changes of Bob's queue leave Ann's alone.
    tag = queue_get(d, ann_key).headers["ETag"]
    ok(claim(d, bob_key, asap["id"]))
    bob_tag, _ = assert_changed(d, bob_key, bob_tag)
    assert_unchanged(d, ann_key, tag)

    # A claim whose lease runs out goes back to the queue: time passing
    # changes the page through that write.
    advance(d, LEASE + 60)
    wait_until(lambda: queue_get(d, bob_key, bob_tag).status_code == 200,
               timeout=JANITOR_WAIT, msg="the lease's return to move the tag")
    assert queue(d, bob_key)["items"][0]["state"] == "retry_wait"


def test_queue_default_page_is_25_and_limit_goes_to_200(desk, sql):
    d, key, ann = desk.d, desk.ann_key, desk.ann["id"]
    ids = insert_callbacks(sql, ann, 30, clock(d) - 600, step=1)
    body = queue(d, key)
    assert [i["id"] for i in body["items"]] == ids[:25]
    assert body["next_cursor"]
    rest = queue(d, key, cursor=body["next_cursor"])
    assert [i["id"] for i in rest["items"]] == ids[25:]
    assert [i["id"] for i in queue(d, key, limit=200)["items"]] == ids
    assert_problem(d.req("GET", "/v1/me/queue", key=key, params={"limit": 201}),
                   400, "invalid-query")
