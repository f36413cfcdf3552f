"""What operators rely on: health, readiness, metrics, the command line,
refusing a schema from the future, riding out a database outage, draining
on SIGTERM and losing nothing acknowledged to kill -9."""

import json
import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest
import requests

import helpers
from helpers import MariaDB, make_agent, new_daemon, wait_until
from util_api import assert_problem, book, booking, hour_slot, relaxed

METRIC_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})? '
    r'(?P<value>-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def parse_metrics(text):
    """Prometheus text format -> ({(name, frozenset(labels)): value}, {name: type}).
    Fails on any line that is not valid exposition format."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = typ
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = METRIC_LINE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        name = m.group("name")
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group("labels") or ""))
        key = (name, labels)
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = float(m.group("value"))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"sample before its # TYPE: {line!r}"
    return samples, types


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


# --------------------------------------------------------------------------
# Health, readiness, metrics


def test_healthz_is_200(daemon):
    r = daemon.req("GET", "/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "alive"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_readyz_reports_the_schema(daemon, sql):
    r = daemon.req("GET", "/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["schema"] == sql.scalar("SELECT MAX(version) FROM schema_version")
    assert body["schema"] >= 1


def test_metrics_count_requests_by_route_and_show_store_gauges(daemon, make_agent):
    make_agent(daemon, "alice")
    for _ in range(3):
        assert daemon.req("GET", "/healthz").status_code == 200
    assert daemon.req("GET", "/v1/nope").status_code == 404
    book(daemon)
    assert daemon.req("POST", "/v1/callbacks", json={}).status_code == 400

    r = daemon.req("GET", "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, types = parse_metrics(r.text)
    assert types["callbackd_http_requests_total"] == "counter"
    assert metric(samples, "callbackd_http_requests_total", route="healthz", status="200") >= 4
    assert metric(samples, "callbackd_http_requests_total", route="callbacks_create",
                  status="201") == 1
    assert metric(samples, "callbackd_http_requests_total", route="callbacks_create",
                  status="400") == 1
    assert metric(samples, "callbackd_http_requests_total", route="unmatched",
                  status="404") == 1
    assert types["callbackd_http_request_duration_seconds"] == "histogram"
    assert metric(samples, "callbackd_http_request_duration_seconds_count",
                  route="callbacks_create") == 2
    assert metric(samples, "callbackd_http_request_duration_seconds_bucket",
                  route="callbacks_create", le="+Inf") == 2
    for g in ("callbackd_store_connections", "callbackd_store_workers_in_use",
              "callbackd_store_jobs_busy"):
        assert types[g] == "gauge", g
        assert metric(samples, g) is not None, g
    assert metric(samples, "callbackd_store_connections") >= 1

    # Counters only go up, by exactly what happened.
    before = metric(samples, "callbackd_http_requests_total", route="healthz", status="200")
    daemon.req("GET", "/healthz")
    samples, _ = parse_metrics(daemon.req("GET", "/metrics").text)
    assert metric(samples, "callbackd_http_requests_total", route="healthz",
                  status="200") == before + 1


# --------------------------------------------------------------------------
# Command line


def test_version(daemon):
    out = subprocess.run([daemon.binary, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert re.match(r"^callbackd \d+\.\d+(\.\d+)?\S*$", out.stdout.strip()), out.stdout


def test_check_config_accepts_a_good_config(daemon):
    out = subprocess.run([daemon.binary, "-c", daemon.conf_path, "--check-config"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "valid" in out.stdout


@pytest.mark.parametrize("line,key", [
    ("listen_port = 70000", "listen_port"),
    ("max_body_bytes = lots", "max_body_bytes"),
    ("test_clock = maybe", "test_clock"),
    ("log_level = chatty", "log_level"),
    ("frobnicate = 1", "frobnicate"),
    ("sms_mode = pigeon", "sms_mode"),
])
def test_check_config_rejects_a_bad_config_naming_the_key(tmp_path, line, key):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"listen_addr = 127.0.0.1\n{line}\n")
    binary = os.environ.get("CBD_BINARY") or str(helpers.DEFAULT_BINARY)
    out = subprocess.run([binary, "-c", str(conf), "--check-config"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0, out.stdout
    assert key in out.stderr, out.stderr
    assert "valid" not in out.stdout


def test_check_config_rejects_a_missing_file(tmp_path):
    binary = os.environ.get("CBD_BINARY") or str(helpers.DEFAULT_BINARY)
    out = subprocess.run([binary, "-c", str(tmp_path / "nope.conf"), "--check-config"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "nope.conf" in out.stderr


def test_refuses_to_start_on_a_newer_schema(daemon, sql):
    assert daemon.stop() == 0
    sql.execute("INSERT INTO schema_version (version, name, applied_at) "
                "VALUES (9999, 'from the future', 0)")
    proc = subprocess.Popen([daemon.binary, "-c", daemon.conf_path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=daemon.env)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"daemon kept running on schema 9999:\n{out[-3000:]}")
    assert proc.returncode != 0, out
    assert "schema" in out.lower(), out
    assert "9999" in out, out
    # Nothing was touched.
    assert sql.scalar("SELECT MAX(version) FROM schema_version") == 9999


def test_readyz_is_503_when_the_schema_moves_ahead(daemon, sql):
    sql.execute("INSERT INTO schema_version (version, name, applied_at) "
                "VALUES (9999, 'from the future', 0)")
    r = daemon.req("GET", "/readyz")
    assert_problem(r, 503, "/problems/schema-not-current")
    assert int(r.headers["Retry-After"]) > 0
    assert daemon.req("GET", "/healthz").status_code == 200


# --------------------------------------------------------------------------
# Database outage


def _mariadb_local(cmd, directory):
    out = subprocess.run([str(helpers.MARIADB_LOCAL), cmd, directory], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"mariadb-local {cmd}: {out.stdout}{out.stderr}"


@pytest.fixture
def own_mariadb():
    """A MariaDB of this test's own, so stopping it hurts no other test."""
    server = MariaDB.start_private()
    yield server
    server.stop()


def test_database_outage_gives_503_and_recovers(own_mariadb, tmp_path):
    dbname = helpers.new_dbname()
    own_mariadb.create_database(dbname)
    d = new_daemon(tmp_path, own_mariadb, dbname, extra=relaxed(store_threads=2))
    try:
        make_agent(d, "alice")
        book(d)

        _mariadb_local("stop", own_mariadb.dir)
        t0 = time.monotonic()
        for _ in range(3):
            r = d.req("POST", "/v1/callbacks", json=booking(), timeout=15)
            p = assert_problem(r, 503, "/problems/database-unavailable")
            assert int(r.headers["Retry-After"]) >= 1, r.headers
            assert "manage_token" not in p
        r = d.req("GET", "/readyz", timeout=15)
        assert r.status_code == 503, r.text
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert "Retry-After" in r.headers
        r = d.req("GET", "/v1/agents", key=d.admin_key, timeout=15)
        assert r.status_code == 503, r.text
        # Fast failure, not a hang per request.
        assert time.monotonic() - t0 < 20
        assert d.req("GET", "/healthz").status_code == 200
        assert d.is_running()

        _mariadb_local("start", own_mariadb.dir)

        def booked():
            r = d.req("POST", "/v1/callbacks", json=booking(), timeout=15)
            return r.status_code == 201
        wait_until(booked, timeout=10, interval=0.2, msg="a booking after the database is back")
        # Each worker reconnects on its own (at most once a second): the
        # one /readyz runs on may come back a moment after the booking's.
        wait_until(lambda: d.req("GET", "/readyz").status_code == 200, timeout=10,
                   interval=0.2, msg="ready again")
        conn = own_mariadb.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) AS n FROM callbacks")
                assert cur.fetchone()["n"] == 2
        finally:
            conn.close()
    finally:
        try:
            d.finish()
        finally:
            own_mariadb.drop_database(dbname)


# --------------------------------------------------------------------------
# Stopping


def test_sigterm_drains_and_loses_nothing_acknowledged(daemon_factory, sql, make_agent):
    grace = 5
    d = daemon_factory(relaxed(store_threads=1, shutdown_grace_sec=grace))
    make_agent(d, "alice")
    n = 48
    base = datetime.now(timezone.utc)
    bodies = [booking(when=hour_slot(i, now=base)) for i in range(n)]
    results = [None] * n
    first = threading.Event()
    go = threading.Barrier(n + 1)

    def client(i):
        go.wait()
        try:
            r = requests.post(d.url + "/v1/callbacks", json=bodies[i], timeout=30)
            results[i] = ("response", r.status_code, r.headers, r.content)
        except requests.ConnectionError as e:
            results[i] = ("no-response", repr(e))
        except requests.RequestException as e:
            results[i] = ("broken", repr(e))
        first.set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    go.wait()
    first.wait(10)
    t0 = time.monotonic()
    rc = d.stop(signal.SIGTERM, timeout=grace + 10)
    elapsed = time.monotonic() - t0
    for t in threads:
        t.join(30)

    assert rc == 0, helpers.tail(d.log_path)
    assert elapsed < grace + 2, f"exit took {elapsed:.1f}s, grace is {grace}s"
    broken = [x for x in results if x is None or x[0] == "broken"]
    assert not broken, broken
    acked = []
    for x in results:
        if x[0] != "response":
            continue
        _, status, headers, content = x
        assert status in (201, 503), (status, content)
        body = json.loads(content)  # complete and parseable
        if status == 201:
            acked.append(body["id"])
        else:
            assert headers["Content-Type"].startswith("application/problem+json")
            assert body["type"] == "/problems/shutting-down", body
            assert "Retry-After" in headers
    assert acked, results
    ids = {row["id"] for row in sql.query("SELECT id FROM callbacks")}
    assert set(acked) <= ids, f"acknowledged but missing: {set(acked) - ids}"


def test_kill9_loses_no_acknowledged_booking(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    acked = []
    base = datetime.now(timezone.utc)
    for i in range(12):
        b = book(daemon, booking(when="asap" if i % 2 else hour_slot(i, now=base))).json()
        acked.append((b["id"], b["manage_token"]))
    daemon.kill9()
    assert not daemon.is_running()
    daemon.start()

    ids = {row["id"] for row in sql.query("SELECT id FROM callbacks")}
    assert {i for i, _ in acked} <= ids
    for cid, tok in acked:
        r = daemon.req("GET", f"/v1/callbacks/{cid}", key=tok)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == cid
    # open_count kept in step with the rows.
    assert sql.scalar("SELECT SUM(open_count) FROM agents") == len(acked)
    # And the restarted daemon takes new bookings.
    book(daemon)
