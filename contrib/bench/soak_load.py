#!/usr/bin/python3
"""soak_load.py: rounds of mixed API requests against one daemon, with the
daemon's memory after each round. Driven by contrib/bench/bench-soak.

    soak_load.py URL PID ADMIN_KEY [--rounds R] [--requests N] [--clients C]

Each round sends N requests from C keep-alive clients, in a fixed mix:
ASAP bookings (each from a new phone number), reads of a booking with its
manage token, cancellations (as many as bookings, so the open callbacks
and with them the work per request stay level), slot queries for a week,
an agent's queue, /readyz and /metrics. After each round, once the daemon is idle, it prints
VmRSS and VmHWM from /proc/PID/status, the number of anonymous mappings of
64 MiB class (glibc malloc arenas reserve 64 MiB each) and the requests per
second. The point is the shape of the RSS column: growth that stops after
a round or two is a heap reaching its working size; growth every round is
a leak or a cache without bounds.
"""

import argparse
import http.client
import itertools
import json
import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

PHONE_SEQ = itertools.count(1)
PHONE_LOCK = threading.Lock()


def next_phone(prefix):
    with PHONE_LOCK:
        return "+44%03d%07d" % (prefix, next(PHONE_SEQ))


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def arena_like_mappings(pid):
    """Anonymous mappings of 64 MiB class: one per glibc malloc arena."""
    n = 0
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if len(parts) < 6 and (hi - lo) >= (32 << 20):
                n += 1
    return n


class Client:
    def __init__(self, url, admin_key, agent_key, prefix):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.admin_key = admin_key
        self.agent_key = agent_key
        self.prefix = prefix
        self.conn = None
        self.mine = []  # (id, token) of open bookings
        self.errors = 0

    def req(self, method, path, body=None, key=None):
        headers = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, text
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
        self.errors += 1
        return 0, b""

    def one(self, rng):
        x = rng.random()
        if x < 0.25 or not self.mine:
            st, text = self.req("POST", "/v1/callbacks", {
                "customer": {"name": "Soak Tester", "phone": next_phone(self.prefix),
                             "timezone": "Europe/London"},
                "topic": "soak " + "x" * rng.randrange(0, 200), "when": "asap"})
            if st == 201:
                b = json.loads(text)
                self.mine.append((b["id"], b["manage_token"]))
            elif st >= 500 or st == 0:
                self.errors += 1
        elif x < 0.40:
            cid, tok = rng.choice(self.mine)
            self.req("GET", f"/v1/callbacks/{cid}?token={tok}")
        elif x < 0.60:
            cid, tok = self.mine.pop(rng.randrange(len(self.mine)))
            self.req("DELETE", f"/v1/callbacks/{cid}?token={tok}")
        elif x < 0.75:
            start = datetime.now(timezone.utc) + timedelta(days=1 + rng.randrange(5))
            end = start + timedelta(days=7)
            self.req("GET", "/v1/slots?from=%s&to=%s&tz=Europe/London" % (
                start.strftime("%Y-%m-%dT00:00:00Z"), end.strftime("%Y-%m-%dT00:00:00Z")))
        elif x < 0.88:
            self.req("GET", "/v1/me/queue", key=self.agent_key)
        elif x < 0.95:
            self.req("GET", "/readyz")
        else:
            self.req("GET", "/metrics")


def setup(url, admin_key):
    c = Client(url, admin_key, None, 0)
    st, text = c.req("POST", "/v1/agents", {
        "name": "soak-agent", "display_name": "Soak", "timezone": "Europe/London",
        "team": "blue", "capacity": 100}, key=admin_key)
    if st not in (200, 201):
        sys.exit(f"soak_load: cannot create the agent: {st} {text[:300]!r}")
    agent = json.loads(text)
    st, text = c.req("POST", "/v1/keys", {"role": "agent", "name": "soak-agent",
                                          "agent_id": agent["id"]}, key=admin_key)
    if st not in (200, 201):
        sys.exit(f"soak_load: cannot create the agent key: {st} {text[:300]!r}")
    return json.loads(text)["key"]


def run_round(clients, n):
    per = n // len(clients)
    threads = []
    for i, c in enumerate(clients):
        rng = random.Random(i * 7919 + int(time.time()))
        t = threading.Thread(target=lambda c=c, rng=rng: [c.one(rng) for _ in range(per)])
        threads.append(t)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * len(clients) / (time.monotonic() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("admin_key")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()

    agent_key = setup(a.url, a.admin_key)
    clients = [Client(a.url, a.admin_key, agent_key, 100 + i) for i in range(a.clients)]
    s = proc_status(a.pid)
    print(f"{'round':>5} {'requests':>9} {'req/s':>7} {'RSS MiB':>8} {'HWM MiB':>8} "
          f"{'arenas':>6} {'errors':>6}")
    print(f"{0:>5} {0:>9} {'-':>7} {s['VmRSS']:8.1f} {s['VmHWM']:8.1f} "
          f"{arena_like_mappings(a.pid):>6} {0:>6}", flush=True)
    total = 0
    for r in range(1, a.rounds + 1):
        rate = run_round(clients, a.requests)
        total += a.requests
        time.sleep(1)  # let the outbox and timers settle before reading RSS
        s = proc_status(a.pid)
        errors = sum(c.errors for c in clients)
        print(f"{r:>5} {total:>9} {rate:7.0f} {s['VmRSS']:8.1f} {s['VmHWM']:8.1f} "
              f"{arena_like_mappings(a.pid):>6} {errors:>6}", flush=True)


if __name__ == "__main__":
    main()
