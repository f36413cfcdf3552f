"""Several instances on a three-node MariaDB Galera cluster, one daemon per
node: what row locks and GET_LOCK cannot give there (they exclude only on
one node) must come from real writes that certification compares, and what
a node does not yet know must be waited for (causal reads).

Skipped unless a cluster is given (contrib/check starts one with
contrib/galera-local):
  CBD_GALERA_SOCKETS  three unix sockets, comma-separated, one per node
  CBD_GALERA_DIR      the galera-local directory, for the tests that cut off
                      or kill a node (skipped without it)

Every daemon here runs on the real clock unless a test sets all of them to
the same time before anything is queued: a per-process test clock moved
under a live outbox would let one daemon take over another's leases.
"""

import concurrent.futures as cf
import os
import re
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

import helpers
from helpers import MariaDB, Sql, WebhookReceiver, make_agent, new_daemon, wait_until
from util_api import assert_problem, booking, relaxed, rfc3339, unique_phone

SOCKETS = [s for s in os.environ.get("CBD_GALERA_SOCKETS", "").split(",") if s]
GALERA_DIR = os.environ.get("CBD_GALERA_DIR", "")
GALERA_LOCAL = helpers.REPO_ROOT / "contrib" / "galera-local"

pytestmark = pytest.mark.skipif(
    len(SOCKETS) != 3, reason="no Galera cluster (set CBD_GALERA_SOCKETS)")

needs_dir = pytest.mark.skipif(
    not GALERA_DIR, reason="needs CBD_GALERA_DIR to cut off or kill a node")

PROBLEM = "/problems/"


# --------------------------------------------------------------------------
# Fixtures: a fresh database on the cluster, one daemon per node


@pytest.fixture
def nodes():
    return [MariaDB(s) for s in SOCKETS]


@pytest.fixture
def gdb(nodes):
    name = helpers.new_dbname()
    nodes[0].create_database(name)

    def everywhere():
        for n in nodes:
            try:
                n.connect(name).close()
            except Exception:
                return False
        return True

    wait_until(everywhere, timeout=30, msg="the database on every node")
    yield name
    nodes[0].drop_database(name)


@pytest.fixture
def gsql(nodes, gdb):
    """Direct SQL on each node: gsql[i]. Reads are causal (wsrep_sync_wait),
    as the daemons' are: a read on one node sees what another acknowledged."""
    conns = [Sql(n, gdb) for n in nodes]
    for c in conns:
        c.execute("SET SESSION wsrep_sync_wait = 1")
    yield conns
    for c in conns:
        c.close()


class Trio:
    """Daemons, one per node, sharing the test's database."""

    def __init__(self, tmp_path, nodes, dbname):
        self.tmp_path = tmp_path
        self.nodes = nodes
        self.dbname = dbname
        self.daemons = []

    def start(self, extra=None):
        for i, node in enumerate(self.nodes):
            d = new_daemon(self.tmp_path, node, self.dbname,
                           extra=dict(relaxed(), **(extra or {})),
                           name=f"node{i + 1}", admin_name=f"admin-{i + 1}")
            self.daemons.append(d)
        return self.daemons

    def finish(self, failed):
        errors = []
        for d in self.daemons:
            try:
                d.finish()
            except AssertionError as e:
                errors.append(f"{d.conf_path}: {e}")
        if failed:
            for d in self.daemons:
                print(f"==== {d.log_path} (last lines) ====")
                print(helpers.tail(d.log_path, 60))
        return errors


@pytest.fixture
def trio_factory(request, tmp_path, nodes, gdb):
    t = Trio(tmp_path, nodes, gdb)
    yield t
    rep = getattr(request.node, "rep_call", None)
    errors = t.finish(rep is None or rep.failed)
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def trio(trio_factory):
    return trio_factory.start()


def on_duty(trio):
    """An agent without shifts (always on duty), so bookings find an owner."""
    return make_agent(trio[0], "duty", capacity=100)[0]["id"]


def galera_local(*args, timeout=120):
    out = subprocess.run([str(GALERA_LOCAL), *args, ], capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, f"galera-local {args}: {out.stdout}{out.stderr}"
    return out.stdout


def node_state(node):
    try:
        conn = node.connect()
    except Exception:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
            row = cur.fetchone()
            return row["Value"] if row else None
    finally:
        conn.close()


def post(d, path, **kw):
    """A request that never raises for a slow or refused connection: those
    come back as status 0, so load loops can count them."""
    try:
        return d.req("POST", path, timeout=20, **kw)
    except requests.RequestException:
        return None


def slot_at(days=2, hour=10):
    t = datetime.now(timezone.utc) + timedelta(days=days)
    return rfc3339(t.replace(hour=hour, minute=0, second=0, microsecond=0))


def metric(d, name):
    text = d.req("GET", "/metrics").text
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


# --------------------------------------------------------------------------
# Migrations


def test_three_instances_migrating_at_once_all_succeed(tmp_path, nodes, gdb, gsql):
    procs = []
    for i, node in enumerate(nodes):
        conf = tmp_path / f"m{i}.conf"
        helpers.write_config(conf, {"db_socket": node.socket, "db_name": gdb,
                                    "db_user": "root", "log_level": "info"})
        procs.append(subprocess.Popen(
            [os.environ.get("CBD_BINARY") or str(helpers.DEFAULT_BINARY),
             "-c", str(conf), "--migrate"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [(p.wait(timeout=120), p.stdout.read()) for p in procs]
    for p in procs:
        p.stdout.close()
    assert [rc for rc, _ in outs] == [0, 0, 0], "\n".join(o for _, o in outs)
    versions = [r["version"] for r in gsql[0].query(
        "SELECT version FROM schema_version ORDER BY version")]
    known = sorted(int(f.name[:4]) for f in (helpers.REPO_ROOT / "schema").glob("*.sql"))
    assert versions == known, (versions, known)
    tables = [sorted(r for row in s.query("SHOW TABLES") for r in row.values())
              for s in gsql]
    assert tables[0] == tables[1] == tables[2] and "callbacks" in tables[0]
    # Exactly one of them migrated; the lease is free again.
    applied = sum("applying migration" in o for _, o in outs)
    assert applied >= 1, outs
    assert gsql[0].scalar("SELECT holder FROM leases WHERE name = 'migrate'") == ""


# --------------------------------------------------------------------------
# The slot lock: 200 bookings, three daemons, one slot


def test_slot_race_over_three_daemons_books_exactly_the_capacity(trio, gsql):
    d1 = trio[0]
    capacity = 5
    agents = [make_agent(d1, f"a{i}")[0]["id"] for i in range(capacity)]
    for rnd in range(3):
        when = slot_at(days=2 + rnd)
        bodies = [booking(when=when) for _ in range(200)]
        with cf.ThreadPoolExecutor(24) as ex:
            rs = list(ex.map(lambda ib: post(trio[ib[0] % 3], "/v1/callbacks",
                                             json=ib[1]), enumerate(bodies)))
        codes = sorted(r.status_code if r is not None else 0 for r in rs)
        created = [r.json()["id"] for r in rs if r is not None and r.status_code == 201]
        assert len(created) == capacity, (rnd, codes.count(201), set(codes))
        # Everyone else was told the slot is full: no 500, no 503 "busy"
        # from a retry budget too small for Galera's conflicts.
        assert all(r is not None and r.status_code in (201, 409) for r in rs), \
            (rnd, sorted(set(codes)))
        t = int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
        per_agent = gsql[1].query(
            "SELECT owner_id, COUNT(*) AS n FROM callbacks WHERE due_at = %s "
            "GROUP BY owner_id", (t,))
        assert sorted(r["owner_id"] for r in per_agent) == sorted(agents), per_agent
        assert all(r["n"] == 1 for r in per_agent), per_agent


# --------------------------------------------------------------------------
# Claims: every 200 is backed by a committed claim


def insert_pending(sql, agent_id, n):
    now = int(time.time())
    sql.execute("INSERT INTO customers (phone, name, timezone, created_at, "
                "updated_at) VALUES (%s, 'Claim Test', 'Europe/London', %s, %s)",
                (unique_phone(), now, now))
    cust = sql.scalar("SELECT LAST_INSERT_ID()")
    sql.execute("INSERT INTO cases (customer_id, owner_id, opened_at) VALUES "
                "(%s, %s, %s)", (cust, agent_id, now))
    case = sql.scalar("SELECT LAST_INSERT_ID()")
    for i in range(n):
        sql.execute("INSERT INTO callbacks (case_id, customer_id, owner_id, state, "
                    "topic, is_asap, due_at, created_at, updated_at) VALUES "
                    "(%s, %s, %s, 'pending', 'race', 1, %s, %s, %s)",
                    (case, cust, agent_id, now - 600 + i, now, now))
    sql.execute("UPDATE agents SET open_count = open_count + %s WHERE id = %s",
                (n, agent_id))


def test_claim_race_every_200_is_a_committed_claim(trio, gsql):
    agent, key = make_agent(trio[0], "claimer", capacity=100)
    n = 90
    insert_pending(gsql[0], agent["id"], n)
    got, statuses, lock, trail = [], [], threading.Lock(), []

    def claimer(d):
        while True:
            r = post(d, "/v1/me/queue/next", key=key)
            code = r.status_code if r is not None else 0
            with lock:
                statuses.append(code)
            if code == 200:
                with lock:
                    got.append(r.json()["id"])
                    trail.append((r.json()["id"], d.port))
            elif code != 503:
                return code

    with cf.ThreadPoolExecutor(18) as ex:
        ends = list(ex.map(claimer, [d for d in trio for _ in range(6)]))
    assert set(ends) == {204}, ends
    # No claim handed out twice, and each one handed out is in the database.
    dupes = {i for i in got if got.count(i) > 1}
    assert not dupes, (f"{len(dupes)} calls handed to two claimers",
                       [t for t in trail if t[0] in dupes])
    assert len(got) == n
    rows = gsql[2].query("SELECT id, state, claimed_by FROM callbacks WHERE topic = 'race'")
    assert all(r["state"] == "in_progress" and r["claimed_by"] == agent["id"]
               for r in rows), rows
    claimed = gsql[1].query("SELECT callback_id, COUNT(*) AS n FROM events "
                            "WHERE kind = 'claimed' GROUP BY callback_id")
    assert sorted(r["callback_id"] for r in claimed) == sorted(got)
    assert all(r["n"] == 1 for r in claimed)
    # The retry budget absorbs Galera's conflicts: nobody was told "busy".
    assert statuses.count(503) == 0, f"{statuses.count(503)} answers were 503"
    assert sum(metric(d, "callbackd_db_conflicts_total") for d in trio) > 0


# --------------------------------------------------------------------------
# Conflicts at commit: the retry budget


def test_hot_row_bookings_on_three_daemons_never_answer_busy(trio, gsql):
    # One agent takes every ASAP booking, so every booking writes the same
    # agent row: on three nodes at once that is a certification conflict
    # for most of them, at COMMIT. Each must be retried until it commits.
    agent = on_duty(trio)
    bodies = [booking() for _ in range(150)]
    with cf.ThreadPoolExecutor(24) as ex:
        rs = list(ex.map(lambda ib: post(trio[ib[0] % 3], "/v1/callbacks",
                                         json=ib[1]), enumerate(bodies)))
    codes = [r.status_code if r is not None else 0 for r in rs]
    assert codes.count(201) == len(bodies), \
        {c: codes.count(c) for c in set(codes)}
    assert gsql[0].scalar("SELECT open_count FROM agents WHERE id = %s",
                          (agent,)) == len(bodies)
    assert sum(metric(d, "callbackd_db_retries_total") for d in trio) > 0


# --------------------------------------------------------------------------
# The planner on three daemons at once

NOW = "2026-11-02T08:05:00Z"


def daily(start_hhmm, hours):
    return {"start": f"2026-11-01T{start_hhmm}:00", "duration": f"PT{hours}H",
            "rrule": "FREQ=DAILY", "tz": "Europe/London"}


def at(hhmm):
    return f"2026-11-02T{hhmm}:00Z"


def test_planner_on_three_daemons_applies_one_plan(trio, gsql):
    d1 = trio[0]
    # No outbox here (no receivers configured), so moving the three
    # clocks together is safe.
    for d in trio:
        assert d.admin("POST", "/v1/test/clock", json={"now": NOW}).status_code == 200
    alex = make_agent(d1, "alex")[0]["id"]
    sam = make_agent(d1, "sam")[0]["id"]
    kim = make_agent(d1, "kim")[0]["id"]

    def shifts(agent, *s):
        r = d1.admin("PUT", f"/v1/agents/{agent}/shifts", json={"shifts": list(s)})
        assert r.status_code == 200, r.text

    shifts(alex, daily("08:00", 6))
    shifts(sam, daily("14:00", 8))
    shifts(kim, daily("14:00", 8))
    ids = []
    for h in (9, 10, 11, 12):
        for m in (0, 15, 30, 45):
            r = trio[len(ids) % 3].req("POST", "/v1/callbacks", json=booking(
                when=at(f"{h:02d}:{m:02d}")))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    shifts(sam, daily("08:00", 12))
    shifts(kim, daily("08:00", 12))
    r = d1.admin("POST", f"/v1/agents/{alex}/time-off",
                 json={"from": at("08:30"), "to": at("14:00"), "reason": "leave"})
    assert r.status_code == 201, r.text

    def run(i):
        r = trio[i % 3].req("POST", "/v1/planner/run", key=d1.admin_key)
        assert r.status_code == 200, r.text
        return i % 3, r.json()

    with cf.ThreadPoolExecutor(9) as ex:
        reports = list(ex.map(run, range(9)))
    # One instance holds the planner lease; the others' runs skip.
    planners = {i for i, rep in reports if not rep.get("skipped")}
    assert len(planners) == 1, reports
    moved = sum(rep.get("handed_off", 0) for _, rep in reports)
    rows = gsql[0].query("SELECT callback_id, COUNT(*) AS n FROM handoffs "
                         "GROUP BY callback_id")
    # Every move a planner reported is committed, and each call moved once.
    assert moved == len(ids) == len(rows), (moved, len(rows), reports)
    assert sorted(r["callback_id"] for r in rows) == sorted(ids)
    assert all(r["n"] == 1 for r in rows), rows
    owners = gsql[2].query("SELECT a.id, a.open_count, (SELECT COUNT(*) FROM "
                           "callbacks c WHERE c.owner_id = a.id AND c.state IN "
                           "('pending','scheduled','retry_wait','in_progress'))"
                           " AS owned FROM agents a")
    assert all(r["open_count"] == r["owned"] for r in owners), owners


# --------------------------------------------------------------------------
# The outbox: three dispatchers, one receiver that dedupes by message id


def test_outbox_on_three_daemons_delivers_every_message(trio_factory, gsql):
    receiver = WebhookReceiver()
    try:
        trio = trio_factory.start({"webhook_url": receiver.url + "/hook"})
        on_duty(trio)
        ids = []
        for i in range(45):
            r = trio[i % 3].req("POST", "/v1/callbacks",
                                json=booking(when=slot_at(days=3, hour=8 + i % 10)
                                             if i % 2 else "asap"))
            assert r.status_code in (201, 409), r.text
            if r.status_code == 201:
                ids.append(r.json()["id"])
        assert ids
        due = lambda: {r["msg_id"] for r in gsql[0].query(
            "SELECT msg_id FROM outbox WHERE channel = 'webhook' AND due_at <= %s",
            (int(time.time()),))}
        expected = due()
        assert len(expected) >= len(ids)

        def delivered():
            seen = {r.headers.get("webhook-id") for r in receiver.requests}
            return expected <= seen and seen

        seen = wait_until(delivered, timeout=30, msg="every message delivered")
        assert expected <= seen
        sent = wait_until(lambda: gsql[1].scalar(
            "SELECT COUNT(*) FROM outbox WHERE channel = 'webhook' AND "
            "msg_id IN (%s) AND status = 'sent'" % ",".join(
                "'%s'" % m for m in expected)) == len(expected), timeout=20)
        assert sent
    finally:
        receiver.close()


# --------------------------------------------------------------------------
# Idempotency-Key replays on different daemons


def test_idempotency_key_replays_on_every_daemon(trio, gsql):
    on_duty(trio)
    for rnd in range(5):
        body = booking(when=slot_at(days=4, hour=9 + rnd))
        key = {"Idempotency-Key": uuid.uuid4().hex}
        # The first try on one daemon, the twins on all three at once.
        with cf.ThreadPoolExecutor(6) as ex:
            rs = list(ex.map(lambda d: d.req("POST", "/v1/callbacks", json=body,
                                             headers=key), trio * 2))
        assert all(r.status_code == 201 for r in rs), \
            [(r.status_code, r.text[:200]) for r in rs]
        ok = rs
        assert len({r.json()["id"] for r in rs}) == 1
        phone = body["customer"]["phone"]
        assert gsql[rnd % 3].scalar(
            "SELECT COUNT(*) FROM callbacks c JOIN customers cu ON cu.id = "
            "c.customer_id WHERE cu.phone = %s", (phone,)) == 1
        # Later replays, on each daemon, give the same answer.
        for d in trio:
            r = d.req("POST", "/v1/callbacks", json=body, headers=key)
            assert r.status_code == 201 and r.json()["id"] == ok[0].json()["id"], r.text


# --------------------------------------------------------------------------
# Read your writes across daemons


def test_booking_and_new_key_are_readable_on_another_daemon_at_once(trio):
    admin = trio[0].admin_key
    on_duty(trio)
    misses = []
    for i in range(150):
        src, dst = trio[i % 3], trio[(i + 1) % 3]
        r = src.req("POST", "/v1/callbacks", json=booking())
        assert r.status_code == 201, r.text
        got = dst.req("GET", f"/v1/callbacks/{r.json()['id']}", key=admin)
        if got.status_code != 200:
            misses.append(("booking", got.status_code))
    for i in range(100):
        src, dst = trio[i % 3], trio[(i + 2) % 3]
        r = src.req("POST", "/v1/keys", key=admin,
                    json={"role": "lead", "name": f"lead-{i}"})
        assert r.status_code in (200, 201), r.text
        got = dst.req("GET", "/v1/agents", key=r.json()["key"])
        if got.status_code != 200:
            misses.append(("key", got.status_code))
    assert not misses, misses


# --------------------------------------------------------------------------
# A node that is not ready (1047) and one that dies


def isolate(node, on):
    conn = node.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_provider_options = %s",
                        (f"gmcast.isolate={1 if on else 0}",))
    finally:
        conn.close()


@needs_dir
def test_node_not_ready_answers_503_with_retry_after(trio, nodes):
    d3 = trio[2]
    on_duty(trio)
    assert d3.req("GET", "/readyz").status_code == 200
    isolate(nodes[2], True)
    try:
        wait_until(lambda: node_state(nodes[2]) not in ("Synced", None),
                   timeout=20, msg="node 3 to leave the primary component")
        # Jobs that were waiting on the node when it was cut off finish
        # first (repl.causal_read_timeout); then every answer is a 503.
        def refused():
            x = d3.req("POST", "/v1/callbacks", json=booking())
            return [x] if x.status_code != 201 else None  # a 503 is falsy

        [r] = wait_until(refused, timeout=45, msg="a booking refused")
        p = assert_problem(r, 503, PROBLEM + "database-unavailable")
        assert int(r.headers["Retry-After"]) > 0, p
        ready = d3.req("GET", "/readyz")
        assert ready.status_code == 503 and "Retry-After" in ready.headers, ready.text
        # The other two keep working.
        for d in trio[:2]:
            assert d.req("POST", "/v1/callbacks", json=booking()).status_code == 201
    finally:
        isolate(nodes[2], False)
    wait_until(lambda: node_state(nodes[2]) == "Synced", timeout=60,
               msg="node 3 back in sync")
    wait_until(lambda: d3.req("GET", "/readyz").status_code == 200, timeout=20)
    assert d3.req("POST", "/v1/callbacks", json=booking()).status_code == 201


@needs_dir
def test_kill9_of_a_node_under_booking_load_loses_no_acknowledged_booking(trio, gsql, nodes):
    on_duty(trio)
    acked = {0: [], 1: [], 2: []}
    codes = {0: [], 1: [], 2: []}
    stop = threading.Event()
    lock = threading.Lock()

    def load(i):
        while not stop.is_set():
            r = post(trio[i], "/v1/callbacks", json=booking())
            code = r.status_code if r is not None else 0
            with lock:
                codes[i].append((time.monotonic(), code))
                if code == 201:
                    acked[i].append(r.json()["id"])
            if code != 201:
                time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(i,)) for i in (0, 1, 2, 0, 1, 2)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(len(acked[i]) >= 5 for i in acked), timeout=30)
        galera_local("kill", GALERA_DIR, "3")
        killed = time.monotonic()
        # The orphan answers 503, never 500; the others go on booking.
        wait_until(lambda: any(c == 503 and t > killed for t, c in codes[2]),
                   timeout=30, msg="the orphaned daemon to answer 503")
        r = trio[2].req("GET", "/readyz")
        assert r.status_code == 503, r.text
        before = {i: len(acked[i]) for i in (0, 1)}
        wait_until(lambda: all(len(acked[i]) >= before[i] + 5 for i in (0, 1)),
                   timeout=30, msg="the other daemons to keep booking")
        galera_local("revive", GALERA_DIR, "3", timeout=180)
        revived = time.monotonic()
        wait_until(lambda: trio[2].req("GET", "/readyz").status_code == 200,
                   timeout=60, msg="the orphan to recover by itself")
        wait_until(lambda: any(c == 201 and t > revived for t, c in codes[2]),
                   timeout=30, msg="the orphan to book again")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    all_codes = [c for i in codes for _, c in codes[i]]
    assert 500 not in all_codes, [c for c in all_codes if c >= 500]
    ids = [x for i in acked for x in acked[i]]
    assert len(ids) == len(set(ids))
    for s in gsql:
        have = {r["id"] for r in s.query("SELECT id FROM callbacks")}
        lost = set(ids) - have
        assert not lost, f"{len(lost)} acknowledged bookings missing on a node"
