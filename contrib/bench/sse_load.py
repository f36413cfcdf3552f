#!/usr/bin/python3
"""Load for bench-sse: many open event streams, bookings, and the latency
from each booking's answer to its event on every stream of its owner.

usage: sse_load.py URL DAEMON_PID ADMIN_KEY [--streams N] [--agents N]
                   [--bookings N] [--rate R]

The streams are asyncio connections (one thread, plain sockets) reading
GET /v1/me/events; bookings go through requests on a worker thread. RSS is
VmRSS from /proc/PID/status; CPU is utime+stime from /proc/PID/stat over
each phase, as a percentage of one core.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
from urllib.parse import urlsplit

import requests


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_sec(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stream:
    def __init__(self, agent_id, key):
        self.agent_id = agent_id
        self.key = key
        self.ready = asyncio.Event()
        self.seen = {}  # callback_id -> monotonic time of its booked event

    async def run(self, host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write((f"GET /v1/me/events HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {self.key}\r\n"
                      "Accept: text/event-stream\r\n\r\n").encode())
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        # Chunk-size lines are skipped: only the event lines matter here.
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"retry:"):
                self.ready.set()
            elif line.startswith(b"data: "):
                d = json.loads(line[6:])
                if d.get("kind") == "booked":
                    self.seen.setdefault(d["callback_id"], time.monotonic())


def setup_agents(url, admin, n, capacity):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {admin}"
    agents = []
    for i in range(n):
        r = s.post(f"{url}/v1/agents", json={
            "name": f"sse-{i}-{int(time.time())}", "display_name": f"Agent {i}",
            "timezone": "UTC", "capacity": capacity})
        r.raise_for_status()
        aid = r.json()["id"]
        k = s.post(f"{url}/v1/keys", json={"role": "agent", "name": f"sse-{i}",
                                          "agent_id": aid})
        k.raise_for_status()
        agents.append((aid, k.json()["key"]))
    return agents


def book_all(url, n, rate, out):
    s = requests.Session()
    gap = 1.0 / rate
    start = time.monotonic()
    for i in range(n):
        due = start + i * gap
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        r = s.post(f"{url}/v1/callbacks", json={
            "customer": {"name": f"Bench {i}", "phone": "+4420%08d" % (70000000 + i),
                         "timezone": "UTC"},
            "topic": "bench", "when": "asap"})
        t = time.monotonic()
        if r.status_code != 201:
            out.append((None, None, t, r.status_code))
            continue
        b = r.json()
        out.append((b["id"], None, t, 201))


async def main_async(a):
    u = urlsplit(a.url)
    pid = a.pid
    print(f"making {a.agents} agents and keys ...", flush=True)
    agents = await asyncio.to_thread(setup_agents, a.url, a.admin_key, a.agents,
                                     min(50, a.bookings))
    streams = [Stream(*agents[i % len(agents)]) for i in range(a.streams)]
    rss0 = proc_rss_kib(pid)
    t_open = time.monotonic()
    tasks = []
    for i, st in enumerate(streams):
        tasks.append(asyncio.create_task(st.run(u.hostname, u.port)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams)), 120)
    print(f"{len(streams)} streams open in {time.monotonic() - t_open:.1f} s; "
          f"daemon RSS {rss0 / 1024:.1f} MiB before, {proc_rss_kib(pid) / 1024:.1f} MiB "
          f"with them open", flush=True)
    cpu0, w0 = proc_cpu_sec(pid), time.monotonic()
    await asyncio.sleep(5)
    idle_cpu = 100 * (proc_cpu_sec(pid) - cpu0) / (time.monotonic() - w0)
    print(f"idle with the streams open (heartbeats only): CPU {idle_cpu:.1f} % of a core",
          flush=True)

    booked = []
    cpu0, w0 = proc_cpu_sec(pid), time.monotonic()
    await asyncio.to_thread(book_all, a.url, a.bookings, a.rate, booked)
    await asyncio.sleep(3)  # the last events on their way
    busy_cpu = 100 * (proc_cpu_sec(pid) - cpu0) / (time.monotonic() - w0)
    rss1 = proc_rss_kib(pid)

    # Owners, from the agents' own streams: a booking is owned by whoever
    # got its "booked" event (the API answer names the owner only by name).
    by_agent = {}
    for st in streams:
        by_agent.setdefault(st.agent_id, []).append(st)
    lat, lost, failed = [], 0, 0
    for cid, _, t, status in booked:
        if status != 201:
            failed += 1
            continue
        owners = [aid for aid, sts in by_agent.items() if any(cid in s.seen for s in sts)]
        if not owners:
            lost += len(streams) // len(agents)
            continue
        for s in by_agent[owners[0]]:
            if cid in s.seen:
                lat.append(max(0.0, s.seen[cid] - t))
            else:
                lost += 1
    for t in tasks:
        t.cancel()
    lat.sort()
    if lat:
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print(f"booking -> owner's streams: {len(lat)} deliveries, "
              f"p50 {p(0.50):.0f} ms, p99 {p(0.99):.0f} ms, max {lat[-1] * 1000:.0f} ms, "
              f"mean {statistics.mean(lat) * 1000:.0f} ms")
    print(f"bookings refused: {failed}; deliveries missing: {lost}")
    print(f"daemon during bookings: CPU {busy_cpu:.1f} % of a core, RSS {rss1 / 1024:.1f} MiB "
          f"({(rss1 - rss0) / max(1, len(streams)):.1f} KiB per stream over the start)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("admin_key")
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--bookings", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20)
    a = ap.parse_args()
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
