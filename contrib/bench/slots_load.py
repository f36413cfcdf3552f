#!/usr/bin/env python3
"""Helper of contrib/bench/bench-slots; the standard library only.

  slots_load.py setup --url URL --key ADMIN_KEY --first N --last M
                      [--bookings-per-agent K] [--seed S]
      Create agents N..M (POST /v1/agents), give each a weekly shift rule
      of five 8-hour days in its own zone (PUT /v1/agents/{id}/shifts),
      then book K callbacks per new agent into slots that have room.
      Prints one line "setup: key=value ...".

  slots_load.py probe --url URL [--tz TZ] [--days D] [--count N]
      N GET /v1/slots for the week ahead, one at a time: the latency of a
      request alone, and what the answer holds; prints "probe: ...".

  slots_load.py load --url URL [--rate R] [--duration S] [--warmup W]
                     [--tz TZ] [--days D] [--workers N]
      GET /v1/slots?from=now&to=now+D days&tz=TZ at a fixed rate: request
      i is due at start + i/R whatever happened to the ones before (an
      open loop, unlike wrk's closed one). Latency is measured from the
      time a request was due, so a stall that delays later requests counts
      against them too (no coordinated omission). Requests due in the
      first W seconds warm up and are not counted; requests not sent by
      5 s (--grace) after the schedule ends are counted as unsent, and
      rank above every answer in the percentiles. Prints one line
      "load: key=value ...".
"""

import argparse
import http.client
import json
import random
import resource
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata",
         "America/Los_Angeles", "Europe/Berlin", "Australia/Sydney")
START_HOURS = (7, 8, 9, 10, 12, 14)
DAY_SETS = ("MO,TU,WE,TH,FR", "MO,TU,WE,TH,FR", "TU,WE,TH,FR,SA")


def utc(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Client:
    """One keep-alive HTTP/1.1 connection, reopened after any failure."""

    def __init__(self, url, key=None, timeout=60):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.key = key
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        headers = {}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port,
                                                           timeout=self.timeout)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def die(msg):
    print("slots_load: " + msg, file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# setup


def make_agent(url, key, i, rule_start):
    c = Client(url, key)
    zone = ZONES[i % len(ZONES)]
    st, body = c.request("POST", "/v1/agents", {
        "name": f"bench{i}", "display_name": f"Bench {i}", "timezone": zone,
        "team": "blue", "capacity": 4})
    if st != 201:
        die(f"POST /v1/agents -> {st}: {body[:300]!r}")
    agent = json.loads(body)
    hour = START_HOURS[(i // len(ZONES)) % len(START_HOURS)]
    days = DAY_SETS[i % len(DAY_SETS)]
    st, body = c.request("PUT", f"/v1/agents/{agent['id']}/shifts", {"shifts": [{
        "start": f"{rule_start}T{hour:02d}:00:00", "duration": "PT8H",
        "rrule": f"FREQ=WEEKLY;BYDAY={days}", "tz": zone}]})
    if st != 200:
        die(f"PUT shifts -> {st}: {body[:300]!r}")
    c.close()


def week_slots(c, tz, days, offset=0):
    now = time.time() + offset
    q = urllib.parse.urlencode({"from": utc(now), "to": utc(now + days * 86400), "tz": tz})
    st, body = c.request("GET", "/v1/slots?" + q)
    if st != 200:
        die(f"GET /v1/slots -> {st}: {body[:300]!r}")
    return json.loads(body), len(body)


def book_one(url, phone, when, tz):
    c = Client(url)
    st, body = c.request("POST", "/v1/callbacks", {
        "customer": {"name": "Bench Customer", "phone": phone, "timezone": tz},
        "topic": "Benchmark booking", "when": when})
    c.close()
    return st


def setup(a):
    rng = random.Random(a.seed * 1000003 + a.last)
    # Rules began a few weeks ago, on a Monday, as a real roster would.
    today = datetime.now(timezone.utc).date()
    monday = today - timedelta(days=today.weekday() + 28)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as ex:
        list(ex.map(lambda i: make_agent(a.url, a.key, i, monday.isoformat()),
                    range(a.first, a.last + 1)))
    t_agents = time.monotonic() - t0

    # Book into slots with room (an hour ahead, past the minimum notice).
    c = Client(a.url)
    body, _ = week_slots(c, "UTC", 7, offset=3600)
    c.close()
    free = [s["start"] for s in body if s["available"] > 0]
    want = a.bookings_per_agent * (a.last - a.first + 1)
    picks = [rng.choice(free) for _ in range(want)] if free else []
    phones = [f"+4479{a.last:03d}{n:05d}" for n in range(len(picks))]
    zones = [rng.choice(ZONES) for _ in picks]
    t1 = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as ex:
        codes = list(ex.map(lambda p: book_one(a.url, *p), zip(phones, picks, zones)))
    t_book = time.monotonic() - t1
    booked = codes.count(201)
    bad = [x for x in codes if x not in (201, 409)]
    if bad:
        die(f"bookings answered {sorted(set(bad))}")
    print(f"setup: agents={a.last - a.first + 1} agents_sec={t_agents:.1f} "
          f"booked={booked} full={codes.count(409)} book_sec={t_book:.1f}")


# ---------------------------------------------------------------------------
# probe


def probe(a):
    """--count requests one after another: the time one request takes
    with nothing else queued (from this client), and what it returns."""
    c = Client(a.url)
    times = []
    for _ in range(a.count):
        t = time.monotonic()
        body, size = week_slots(c, a.tz, a.days)
        times.append((time.monotonic() - t) * 1000)
    c.close()
    times.sort()
    s = body
    print(f"probe: slots={len(s)} with_room={sum(1 for x in s if x['available'] > 0)} "
          f"places={sum(x['available'] for x in s)} bytes={size} "
          f"alone_min_ms={times[0]:.1f} alone_p50_ms={pct(times, 50):.1f}")


# ---------------------------------------------------------------------------
# load


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def load(a):
    total = int(a.rate * (a.warmup + a.duration))
    lock = threading.Lock()
    nxt = [0]
    results = []  # (index, latency from due, service time, status, bytes)
    tz = urllib.parse.quote(a.tz, safe="")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic() + 0.2
    # A daemon slower than the rate cannot stretch the run for ever: what
    # is not sent by the end of the schedule plus the grace period is
    # counted as unsent (and as slower than anything measured).
    stop_sending = start + a.warmup + a.duration + a.grace

    def worker():
        c = Client(a.url, timeout=30)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= total:
                break
            due = start + i / a.rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif time.monotonic() > stop_sending:
                break
            now = time.time()
            path = (f"/v1/slots?from={utc(now)}&to={utc(now + a.days * 86400)}"
                    f"&tz={tz}")
            sent = time.monotonic()
            try:
                st, body = c.request("GET", path)
                n = len(body)
            except (OSError, http.client.HTTPException):
                st, n = 0, 0
            done = time.monotonic()
            with lock:
                results.append((i, done - due, done - sent, st, n))
        c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime) * 1000

    skip = int(a.rate * a.warmup)
    scheduled = total - skip
    measured = [r for r in results if r[0] >= skip]
    ok = [r for r in measured if r[3] == 200]
    unsent = scheduled - len(measured)
    # Percentiles over every scheduled request: failed and unsent ones rank
    # above every answer (shown as "inf" when a percentile lands on them).
    lat = sorted(r[1] * 1000 for r in ok) + [float("inf")] * (scheduled - len(ok))
    svc = sorted(r[2] * 1000 for r in ok)
    first_due = start + skip / a.rate
    span = max(end - first_due, 1e-9)
    errors = len(measured) - len(ok)
    codes = sorted({r[3] for r in measured if r[3] != 200})
    finite = [x for x in lat if x != float("inf")]
    print("load: "
          f"rate={a.rate:g} duration={a.duration:g} scheduled={scheduled} "
          f"answered={len(ok)} errors={errors} "
          f"error_codes={','.join(map(str, codes)) or '-'} unsent={unsent} "
          f"achieved_per_sec={len(ok) / span:.1f} "
          f"p50_ms={pct(lat, 50):.1f} p90_ms={pct(lat, 90):.1f} "
          f"p99_ms={pct(lat, 99):.1f} max_ms={(finite[-1] if finite else float('nan')):.1f} "
          f"svc_p50_ms={pct(svc, 50):.1f} svc_p99_ms={pct(svc, 99):.1f} "
          f"bytes={(ok[0][4] if ok else 0)} "
          f"client_cpu_ms_per_req={client_cpu / max(len(results), 1):.2f} "
          f"all_answered={sum(1 for r in results if r[3] == 200)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--url", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--first", type=int, required=True)
    s.add_argument("--last", type=int, required=True)
    s.add_argument("--bookings-per-agent", type=int, default=2)
    s.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("probe")
    p.add_argument("--url", required=True)
    p.add_argument("--tz", default="Europe/London")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--count", type=int, default=30)
    g = sub.add_parser("load")
    g.add_argument("--url", required=True)
    g.add_argument("--rate", type=float, default=200)
    g.add_argument("--duration", type=float, default=15)
    g.add_argument("--warmup", type=float, default=2)
    g.add_argument("--tz", default="Europe/London")
    g.add_argument("--days", type=int, default=7)
    g.add_argument("--workers", type=int, default=128)
    g.add_argument("--grace", type=float, default=5,
                   help="seconds past the schedule still used to send")
    a = ap.parse_args()
    {"setup": setup, "probe": probe, "load": load}[a.cmd](a)


if __name__ == "__main__":
    main()
