"""Hostile HTTP clients: slow ones (slowloris, slow bodies), floods of
connections up to running out of file descriptors, framing that a proxy
might read differently (request smuggling), HEAD framing, cross-site
text/plain posts, forged client addresses, and request ids that count.

Framing and slowness need raw sockets: an HTTP library would fix up the
very things under test. Several tests connect from other loopback
addresses (127.0.0.2 ...), which Linux routes to lo like 127.0.0.1, so one
machine can play several clients."""

import http.client
import json
import os
import re
import socket
import stat
import threading
import time

import pytest

from helpers import wait_until
from util_api import (assert_problem, binary, booking, config_keys, relaxed,
                      row_counts, unique_phone)


def known(**conf):
    """Config extras minus keys this build does not know, so the same test
    runs (and fails on behaviour, not on start-up) against an older build."""
    keys = config_keys()
    return {k: v for k, v in conf.items() if k in keys}


def limited_daemon(daemon_factory, tmp_path, nofile, extra):
    """A daemon started with RLIMIT_NOFILE lowered to nofile."""
    d = daemon_factory(extra, start=False)
    wrapper = tmp_path / "with-nofile"
    wrapper.write_text(f"#!/bin/sh\nulimit -n {nofile}\nexec {binary()} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    d.binary = str(wrapper)
    return d.start()


def connect(d, src="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", d.port))
    return s


def read_response(s, head=False):
    """One response from s: (status, headers dict lower-cased, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-headers: {buf!r}")
        buf += chunk
    raw, rest = buf.split(b"\r\n\r\n", 1)
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = 0 if head else int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def is_closed(s):
    """True once the peer closed s (EOF or reset); False while open.
    Whatever arrived before (a refusal's 503) is read and dropped."""
    s.setblocking(False)
    try:
        while True:
            if s.recv(65536) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def quick_get(d, path="/readyz", timeout=3):
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    finally:
        conn.close()


def post_from(d, src, path, body, headers=None, timeout=10):
    """POST from a given source address; returns (status, parsed body)."""
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout,
                                      source_address=(src, 0))
    try:
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        conn.request("POST", path, body=json.dumps(body), headers=hdrs)
        r = conn.getresponse()
        text = r.read()
        return r.status, json.loads(text) if text else None
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Slow clients and floods


def test_slowloris_from_one_address_leaves_others_served(daemon_factory, tmp_path,
                                                         make_agent):
    # 300 half-sent requests from one address against 256 descriptors:
    # without a per-address cap they would take every descriptor.
    d = limited_daemon(daemon_factory, tmp_path, 256, relaxed(**known(
        max_connections_per_addr=20, header_timeout_sec=30)))
    make_agent(d, "alice")
    attackers = []
    stop = threading.Event()
    try:
        for _ in range(300):
            try:
                s = connect(d, "127.0.0.2", timeout=2)
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
                attackers.append(s)
            except OSError:
                pass

        def dribble():
            while not stop.is_set():
                for s in attackers:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.5)

        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        assert len(attackers) > 250
        for _ in range(5):
            status, took = quick_get(d)
            assert status == 200 and took < 1.0, (status, took)
        t0 = time.monotonic()
        status, body = post_from(d, "127.0.0.1", "/v1/callbacks", booking())
        assert status == 201, body
        assert time.monotonic() - t0 < 2.0
        # The attacker holds no more than its share.
        assert sum(not is_closed(s) for s in attackers) <= 20
    finally:
        stop.set()
        for s in attackers:
            s.close()


def test_connection_caps_per_address_and_in_total(daemon_factory):
    d = daemon_factory(known(max_connections=12, max_connections_per_addr=5))
    held = []
    try:
        mine = [connect(d, "127.0.0.2") for _ in range(8)]
        held += mine
        wait_until(lambda: sum(is_closed(s) for s in mine) == 3, timeout=5,
                   msg="3 of 8 connections from one address refused")
        open_mine = [s for s in mine if not is_closed(s)]
        assert len(open_mine) == 5
        # One more is told why, then closed.
        extra = connect(d, "127.0.0.2")
        held.append(extra)
        status, headers, body, _ = read_response(extra)
        assert status == 503 and headers.get("retry-after") == "1"
        assert json.loads(body)["type"] == "/problems/too-many-connections"
        # An open one still works.
        open_mine[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(open_mine[0])[0] == 200

        others = [connect(d, f"127.0.0.{3 + i // 4}") for i in range(12)]
        held += others
        # 5 from .2 are open: 7 more fit under the total of 12.
        wait_until(lambda: sum(is_closed(s) for s in others) == 5, timeout=5,
                   msg="connections over the total cap refused")
    finally:
        for s in held:
            s.close()
    # Once they are gone, there is room again.
    wait_until(lambda: quick_get(d)[0] == 200, timeout=5)
    metrics = d.req("GET", "/metrics").text
    refused = re.search(r"^callbackd_http_conn_refused_addr_cap_total (\d+)", metrics, re.M)
    assert refused and int(refused.group(1)) >= 4, metrics[-2000:]
    assert re.search(r"^callbackd_http_connections \d+", metrics, re.M)


def test_header_deadline_closes_a_dribbling_client(daemon_factory):
    d = daemon_factory(known(header_timeout_sec=2, request_timeout_sec=30))
    s = connect(d)
    t0 = time.monotonic()
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        closed_at = None
        for b in request:
            try:
                s.send(bytes([b]))
            except OSError:
                closed_at = time.monotonic()
                break
            if is_closed(s):
                closed_at = time.monotonic()
                break
            time.sleep(0.2)
            if time.monotonic() - t0 > 8:
                break
        assert closed_at is not None, "a client dribbling headers kept its connection"
        assert closed_at - t0 < 4.0, closed_at - t0
    finally:
        s.close()
    assert quick_get(d)[0] == 200


def test_body_below_the_minimum_rate_is_cut(daemon_factory, sql):
    d = daemon_factory(known(body_timeout_sec=1, body_min_rate=1000,
                             request_timeout_sec=30))
    before = row_counts(sql)
    s = connect(d)
    body = json.dumps(booking(topic="x" * 15000)).encode()
    s.sendall(b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    t0 = time.monotonic()
    cut_at = None
    try:
        for i in range(0, len(body), 100):  # 500 bytes/s
            try:
                s.send(body[i:i + 100])
            except OSError:
                cut_at = time.monotonic()
                break
            if is_closed(s):
                cut_at = time.monotonic()
                break
            time.sleep(0.2)
            if time.monotonic() - t0 > 8:
                break
        assert cut_at is not None, "a body at 500 bytes/s was read to the end"
        # Allowed: 1 s plus 1 s per 1000 bytes; at 500 bytes/s that ends
        # near 2 s.
        assert cut_at - t0 < 4.5, cut_at - t0
    finally:
        s.close()
    assert row_counts(sql) == before


def test_out_of_descriptors_the_daemon_recovers_and_logs_little(daemon_factory,
                                                               tmp_path):
    # max_connections above what 128 descriptors allow: accept() itself
    # fails with EMFILE, the case where libevent used to spin and log.
    d = limited_daemon(daemon_factory, tmp_path, 128, known(
        max_connections=5000, max_connections_per_addr=0, header_timeout_sec=30))
    lines_before = len(d.log_text().splitlines())
    flood = []
    try:
        for i in range(400):
            try:
                flood.append(connect(d, f"127.0.1.{1 + i // 100}", timeout=1))
            except OSError:
                pass
        assert len(flood) > 200, "the flood did not get going"
        # Held for a while: the daemon must neither spin nor write a line
        # per failed accept.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.1)
        lines_flood = len(d.log_text().splitlines()) - lines_before
        assert lines_flood < 100, f"{lines_flood} log lines during the flood"
    finally:
        for s in flood:
            s.close()
    # Once the flood ends, the daemon serves again.
    wait_until(lambda: _answers(d), timeout=10, msg="/readyz after the flood")
    assert d.is_running()
    lines_total = len(d.log_text().splitlines()) - lines_before
    assert lines_total < 200, f"{lines_total} log lines"


def _answers(d):
    try:
        return quick_get(d, timeout=1)[0] == 200
    except OSError:
        return False


# --------------------------------------------------------------------------
# Framing


def test_head_has_no_body_and_keep_alive_goes_on(daemon):
    s = connect(daemon)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, get_body, rest = read_response(s)
        assert status == 200 and get_body and not rest
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body, rest = read_response(s, head=True)
        assert status == 200
        assert headers.get("content-length") == str(len(get_body)), headers
        # What follows on the connection is the next answer, not a body.
        buf = rest
        while len(buf) < 12:
            chunk = s.recv(65536)
            assert chunk, "connection closed after HEAD"
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 200"), buf[:80]
    finally:
        s.close()


def _raw_answer(d, raw):
    s = connect(d)
    try:
        s.sendall(raw)
        status, headers, body, _ = read_response(s)
        closed = wait_until(lambda: is_closed(s), timeout=3, msg="connection closed")
        return status, headers, body, closed
    finally:
        s.close()


# field None: Debian's libevent refuses these itself (a plain 400 and a
# close) before the daemon sees them; the daemon checks them too, for
# builds without that patch.
@pytest.mark.parametrize("framing,field", [
    (b"Content-Length: 2\r\nContent-Length: 40\r\n", "Content-Length"),
    (b"Transfer-Encoding : chunked\r\nContent-Length: 2\r\n", ""),
    (b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n", None),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", None),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", None),
], ids=["two-content-lengths", "te-with-space", "te-gzip", "te-and-length",
                                   "two-te"])
def test_ambiguous_framing_is_400_and_closes(daemon, sql, framing, field):
    before = row_counts(sql)
    body = b"2\r\n{}\r\n0\r\n\r\n" if b": chunked" in framing else b"{}"
    raw = (b"POST /v1/callbacks HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\n" + framing + b"\r\n" + body)
    status, headers, body, closed = _raw_answer(daemon, raw)
    assert status == 400, (status, body)
    assert closed
    if field is not None:
        assert headers["content-type"].startswith("application/problem+json")
        problem = json.loads(body)
        assert problem["type"] == "/problems/invalid-framing", problem
        if field:
            assert problem["errors"][0]["field"] == field
    assert row_counts(sql) == before


# --------------------------------------------------------------------------
# Content-Type


def test_text_plain_json_post_is_415_and_stores_nothing(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    before = row_counts(sql)
    text = json.dumps(booking())
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = daemon.req("POST", "/v1/callbacks", data=text.encode(), headers=headers)
        assert_problem(r, 415, "/problems/unsupported-media-type", "Content-Type")
    assert row_counts(sql) == before
    # Parameters are fine; the media type is what counts.
    r = daemon.req("POST", "/v1/callbacks", data=text.encode(),
                   headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 201, r.text
    token, cid = r.json()["manage_token"], r.json()["id"]
    # A body-less DELETE needs no Content-Type.
    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", key=token)
    assert r.status_code in (200, 204), r.text


def test_calendar_import_wants_text_calendar(daemon, sql):
    r = daemon.admin("POST", "/v1/shifts/import", data=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                     headers={"Content-Type": "application/json"})
    assert_problem(r, 415, "/problems/unsupported-media-type", "Content-Type")
    assert "text/calendar" in r.json()["detail"]


# --------------------------------------------------------------------------
# Client addresses behind a proxy


def test_trusted_proxy_separates_customers_untrusted_peer_is_ignored(daemon_factory,
                                                                     make_agent):
    d = daemon_factory(known(trusted_proxies="127.0.0.1", rate_ip_per_10min=2,
                             rate_phone_per_hour=0))
    make_agent(d, "alice")

    def book_as(src, xff):
        return post_from(d, src, "/v1/callbacks", booking(),
                         headers={"X-Forwarded-For": xff})

    # Through the proxy: two customers, two limits.
    assert book_as("127.0.0.1", "198.51.100.7")[0] == 201
    assert book_as("127.0.0.1", "198.51.100.7")[0] == 201
    assert book_as("127.0.0.1", "198.51.100.7")[0] == 429
    assert book_as("127.0.0.1", "203.0.113.9, 198.51.100.8")[0] == 201
    # What the client wrote in front of the proxy's entry does not count,
    # however much of it there is.
    padded = ", ".join(f"10.9.0.{i}" for i in range(40)) + ", 198.51.100.7"
    assert book_as("127.0.0.1", padded)[0] == 429
    # IPv6 customers count by /64.
    assert book_as("127.0.0.1", "2001:db8:1:2::1")[0] == 201
    assert book_as("127.0.0.1", "2001:db8:1:2::ffff")[0] == 201
    assert book_as("127.0.0.1", "2001:db8:1:2:8000::1")[0] == 429
    assert book_as("127.0.0.1", "2001:db8:1:3::1")[0] == 201
    # The proxy's request id is kept (a sane one), so both logs agree.
    assert d.req("GET", "/healthz", headers={"X-Request-Id": "edge-7f3a.1"}) \
        .headers["X-Request-Id"] == "edge-7f3a.1"
    assert re.fullmatch(r"[0-9a-f]{24}", d.req(
        "GET", "/healthz", headers={"X-Request-Id": "a b\tc"}).headers["X-Request-Id"])
    # Not from the proxy: the header is the client's own claim, ignored.
    assert book_as("127.0.0.2", "192.0.2.1")[0] == 201
    assert book_as("127.0.0.2", "192.0.2.2")[0] == 201
    assert book_as("127.0.0.2", "192.0.2.3")[0] == 429


def test_forwarded_header_when_configured(daemon_factory, make_agent, sql):
    d = daemon_factory(known(trusted_proxies="127.0.0.0/30",
                             client_addr_header="forwarded",
                             rate_ip_per_10min=1, rate_phone_per_hour=0))
    make_agent(d, "alice")
    fwd = 'for="[2001:db8:cafe::17]:4711";proto=https, for=127.0.0.2'
    assert post_from(d, "127.0.0.1", "/v1/callbacks", booking(),
                     headers={"Forwarded": fwd})[0] == 201
    assert post_from(d, "127.0.0.1", "/v1/callbacks", booking(),
                     headers={"Forwarded": fwd})[0] == 429
    ips = {r["client_ip"] for r in sql.query("SELECT client_ip FROM callbacks")}
    assert ips == {"2001:db8:cafe::/64"}, ips


# --------------------------------------------------------------------------
# Request ids


def test_request_ids_are_random_not_a_counter(daemon):
    ids = [daemon.req("GET", "/healthz",
                      headers={"X-Request-Id": "forged-by-client"}).headers["X-Request-Id"]
           for _ in range(6)]
    assert len(set(ids)) == len(ids)
    for rid in ids:
        assert re.fullmatch(r"[0-9a-f]{24}", rid), rid
    # Consecutive ids share no long prefix, as a counter's would.
    for a, b in zip(ids, ids[1:]):
        common = len(os.path.commonprefix([a, b]))
        assert common < 12, (a, b)
