#!/usr/bin/python3
"""continuity_sim: a simulated week of callbacks against the real daemon.

    contrib/sim/continuity_sim.py [options]          (see --help)

Generates a roster (agents in three shifts, 06-14, 14-22 and 22-06 local,
over two time zones, with rotating days off and some time off), then drives
a real callbackd with the simulated clock: callbacks are booked through the
public API (scheduled ones mostly ahead of the week, in parallel; ASAP ones
and some scheduled ones as the week runs; some customers come back; some
reschedule), and every step the clock advances, the handoff planner runs
(POST /v1/planner/run), and every agent on shift claims their due calls and
records outcomes (reached, no answer, busy, wrong number, reschedule).
Sick days and short absences are entered on the day, after the calls they
affect were booked, so the planner has to move them.

At the end it reports, from the database:
  orphans        callbacks that came due (or stayed overdue) at a planner
                 pass with their owner off shift, not back within
                 handoff_tolerance_min, while someone else was on duty.
                 Must be 0. With nobody on duty it is "unstaffed", not an
                 orphan.
  notes          share of ownership changes that have a handoff row with a
                 note (summary, next step, reason). Must be 100 %.
  announced      share of ownership changes with an sms.owner_changed row
                 written with the change, and of those created before the
                 callback was due.
  same owner     share of callbacks called by the agent who had them at
                 booking, next to the best possible under the shift plan:
                 the share whose booking owner was on shift (or back within
                 the tolerance) at the callback's final due time; and the
                 first as a share of the second (target >= 95 %).
  overdue        open callbacks more than overdue_grace_min past due at the
                 end of each day, with their minutes late (p50/p95); and
                 how late calls were made (p50/p95 of all calls made).
  moved > 2      callbacks whose owner changed more than twice, and of those
                 by the planner alone (not a lead's or a reschedule's
                 move). The latter must be 0.
  past times     SMS that name a call time already past when they are sent
                 (the time in the text against the message's send time).
                 Must be 0.
  cancelled      messages to customers (SMS, invites), sent or pending, due
                 after their callback was cancelled, other than the
                 cancellation itself. Customers cancel at random during
                 the week (customer_cancel_share).
  told late      ownership changes made before the call was due whose
                 customer text goes out at or after the due time (or not
                 at all). Must be 0.
  unskilled      routing: three queues (billing, fibre, Spanish, each
                 needing a skill at a level) take queue_share of the
                 bookings, by name or by a mapped topic; agents hold 1 to 3
                 skills. Calls owned by, booked to or handed to an agent
                 without their queue's skills (judged from this model of
                 the skills, not the daemon's). Must be 0. Orphans count
                 only skilled agents as "someone else on duty", and the
                 returning customers' best possible needs the last agent
                 to have the new call's skills.
  per queue      same owner against the best possible (under the roster
                 and the skills), and the service's own first-response and
                 on-time figures against each queue's target
                 (GET /v1/routing/figures).

Every booking goes through POST /v1/callbacks: with 16 client threads
on a two-CPU machine the daemon took about 400 bookings a second (slot
locks serialise bookings of one slot only), so 20 k bookings cost under a
minute and no faster path (SQL) is needed; the figure is in the report.

The roster is modelled here independently of the daemon (zoneinfo, not
libical) and compared at the end with the spans GET /v1/agents/{id}/shifts
returns.

By default a private MariaDB and daemon are started (contrib/mariadb-local
and build/normal/callbackd, or CBD_BINARY). --url/--admin-key/--db-socket/
--db-name attach to a running daemon instead (it needs test_clock = true and
rate limits off; see daemon_config()).

Exit status: 0 when orphans == 0 and notes == 100 %, 1 otherwise, 2 on a
usage error. The short form (--short) runs in well under two minutes.
"""

import argparse
import bisect
import collections
import concurrent.futures as cf
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, asdict
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import requests

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

OPEN = ("pending", "scheduled", "retry_wait")
ZONES = ("Europe/London", "America/New_York")
SHIFT_STARTS = (6, 14, 22)  # local hours; 8 hours each
SHIFT_HOURS = 8
SLOT = 15 * 60
# Routing queues: name -> (skill, minimum level, topic mapped to it).
QUEUES = {"billing": ("billing", 2, "Invoice question"),
          "fibre": ("fibre", 1, "Fibre outage"),
          "spanish": ("lang:es", 3, "Consulta en español")}
SKILLS = tuple(q[0] for q in QUEUES.values())
NOTE = {"summary": "Lead rebalance", "next_step": "Call as booked",
        "reason": "Simulated lead reassignment"}


@dataclass
class Params:
    agents: int = 50
    callbacks: int = 20000
    days: int = 7
    start: str = "2026-11-02T00:00:00Z"  # a Monday, no DST change that week
    step_min: int = 15
    seed: int = 1
    threads: int = 16
    asap_share: float = 0.4
    prebook_share: float = 0.6      # of scheduled: booked before the week
    returning_share: float = 0.15   # of in-week bookings
    customer_reschedule_share: float = 0.03
    workdays: int = 5               # per week, days off rotate
    vacation_share: float = 0.06    # agents with a day off known in advance
    sick_share: float = 0.10        # agents calling in sick on a day
    absence_share: float = 0.10     # agents out for 2-3 h, said 3 h before
    calls_per_hour: int = 20        # an agent's pace (3 min a call)
    p_no_answer: float = 0.10
    p_busy: float = 0.03
    p_wrong: float = 0.01
    p_reschedule: float = 0.03
    lead_handoffs: int = 2          # lead reassignments with a note
    tolerance_min: int = 30         # the daemon's handoff_tolerance_min
    overdue_grace_min: int = 15     # the daemon's overdue_grace_min
    handle_sec: int = 300           # the daemon's avg_handle_sec
    customer_cancel_share: float = 0.03
    queue_share: float = 0.5        # bookings into a routing queue

    @classmethod
    def short(cls, **kw):
        base = dict(agents=12, callbacks=600, days=2, threads=8,
                    vacation_share=0.0, workdays=7)
        base.update(kw)
        return cls(**base)


def daemon_config(params=None):
    """Config keys the daemon under simulation needs (on top of database
    and listen settings)."""
    return {
        "test_clock": True,
        "rate_ip_per_10min": 0,
        "rate_phone_per_hour": 0,
        "max_per_agent_per_slot": 3,
        "slot_minutes": 15,
        "opening_hours": "",
        "planner_interval_sec": 3600,  # the simulation runs each pass
        "handoff_tolerance_min": (params or Params()).tolerance_min,
        "overdue_grace_min": (params or Params()).overdue_grace_min,
        "avg_handle_sec": (params or Params()).handle_sec,
        "outbox_poll_ms": 1000,
        "outbox_batch": 500,
        "log_level": "info",
        "store_threads": 8,
    }


# --------------------------------------------------------------------------
# Time helpers


def parse_ts(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def align(t):
    return t - t % SLOT


def pctl(xs, q):
    """The q-quantile (0..1) of xs by nearest rank; None when empty."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


_MONTHS = {m: i + 1 for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
     "Nov", "Dec"))}
# The call time as texts render it: "Mon 02 Nov at 11:00 (UTC+0)".
import re  # noqa: E402
_TEXT_TIME = re.compile(r"\w{3} (\d{2}) (\w{3}) at (\d{2}):(\d{2}) "
                        r"\(UTC([+-])(\d+)(?::(\d{2}))?\)")


def time_in_text(text, year):
    """UTC epoch of the call time a text names, or None."""
    m = _TEXT_TIME.search(text)
    if not m or m.group(2) not in _MONTHS:
        return None
    day, mon, hh, mm = int(m.group(1)), _MONTHS[m.group(2)], int(m.group(3)), int(m.group(4))
    off = int(m.group(6)) * 3600 + int(m.group(7) or 0) * 60
    if m.group(5) == "-":
        off = -off
    local = datetime(year, mon, day, hh, mm, tzinfo=timezone.utc)
    return int(local.timestamp()) - off


# --------------------------------------------------------------------------
# The roster, modelled independently of the daemon


@dataclass
class Agent:
    idx: int
    name: str
    zone: str
    start_hour: int
    workdays: tuple  # weekday numbers 0 = Monday
    id: int = 0
    key: str = ""
    skills: dict = None  # skill -> level


def assign_skills(agents, seed):
    """1 to 3 skills per agent, levels 1-5, from their own random stream
    (the roster and bookings stay as they were). The first agent of each
    zone and shift holds all three at level 5, so each queue has someone
    most of the time; days off and absences still leave gaps."""
    rng = random.Random(seed + 2)
    seen = set()
    for a in agents:
        group = (a.zone, a.start_hour)
        if group not in seen:
            seen.add(group)
            a.skills = {k: 5 for k in SKILLS}
            continue
        n = rng.randint(1, 3)
        a.skills = {k: rng.randint(1, 5) for k in rng.sample(SKILLS, n)}


def skilled(agent, queue):
    """May agent (an Agent) take calls of queue (a name; None: default)?"""
    if queue is None:
        return True
    skill, level, _ = QUEUES[queue]
    return (agent.skills or {}).get(skill, 0) >= level


WD = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class Roster:
    """Shift spans per agent in UTC, cut by time off."""

    def __init__(self, agents, t0, t1):
        self.agents = agents
        self.raw = {}
        for a in agents:
            spans = []
            zone = ZoneInfo(a.zone)
            d0 = datetime.fromtimestamp(t0 - 3 * 86400, timezone.utc).date()
            for k in range((t1 - t0) // 86400 + 7):
                day = d0 + timedelta(days=k)
                if day.weekday() not in a.workdays:
                    continue
                local = datetime(day.year, day.month, day.day, a.start_hour,
                                 tzinfo=zone)
                start = int(local.timestamp())
                # A wall-clock duration, as the daemon stores it.
                end_local = (local.replace(tzinfo=None) +
                             timedelta(hours=SHIFT_HOURS)).replace(tzinfo=zone)
                spans.append((start, int(end_local.timestamp())))
            self.raw[a.id or a.idx] = spans
        self.off = collections.defaultdict(list)
        self._rebuild()

    def rekey(self):
        """After agents got their daemon ids."""
        self.raw = {a.id: self.raw[a.idx] for a in self.agents}
        self._rebuild()

    def add_off(self, agent_key, frm, to):
        self.off[agent_key].append((frm, to))
        self._rebuild()

    def _rebuild(self):
        self.spans = {}
        for k, spans in self.raw.items():
            out = []
            offs = sorted(self.off.get(k, []))
            for s, e in spans:
                cur = s
                for f, t in offs:
                    if t <= cur or f >= e:
                        continue
                    if f > cur:
                        out.append((cur, f))
                    cur = max(cur, t)
                if cur < e:
                    out.append((cur, e))
            out.sort()
            self.spans[k] = out
        self.starts = {k: [s for s, _ in v] for k, v in self.spans.items()}

    def on_duty(self, a, t):
        spans = self.spans.get(a, ())
        i = bisect.bisect_right(self.starts.get(a, ()), t)
        return i > 0 and spans[i - 1][1] > t

    def next_start(self, a, t):
        starts = self.starts.get(a, ())
        i = bisect.bisect_right(starts, t)
        return starts[i] if i < len(starts) else None

    def shift_containing(self, a, t):
        spans = self.spans.get(a, ())
        i = bisect.bisect_right(self.starts.get(a, ()), t)
        if i > 0 and spans[i - 1][1] > t:
            return spans[i - 1]
        return None

    def on_duty_ids(self, t):
        return [k for k in self.spans if self.on_duty(k, t)]


def make_agents(p, rng):
    agents = []
    groups = [(z, h) for z in ZONES for h in SHIFT_STARTS]
    for i in range(p.agents):
        zone, hour = groups[i % len(groups)]
        k = i // len(groups)  # rank within its group
        off = {(2 * k + j) % 7 for j in range(7 - p.workdays)}
        work = tuple(d for d in range(7) if d not in off)
        agents.append(Agent(i, f"sim{i:03d}", zone, hour, work))
    assign_skills(agents, p.seed)
    return agents


def shift_rule(a):
    # Rules start the Monday before the week; BYDAY lists the workdays.
    return {"start": f"2026-10-26T{a.start_hour:02d}:00:00",
            "duration": SHIFT_HOURS * 3600,
            "rrule": "FREQ=WEEKLY;BYDAY=" + ",".join(WD[d] for d in a.workdays),
            "tz": a.zone}


# --------------------------------------------------------------------------
# HTTP


class Api:
    def __init__(self, url, admin_key, timeout=60):
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout
        self._local = threading.local()
        self.count = 0
        self._lock = threading.Lock()

    def _session(self):
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s

    def req(self, method, path, key=None, **kw):
        h = kw.pop("headers", {}) or {}
        if key:
            h["Authorization"] = f"Bearer {key}"
        with self._lock:
            self.count += 1
        for attempt in range(5):
            try:
                return self._session().request(method, self.url + path, headers=h,
                                               timeout=self.timeout, **kw)
            except requests.ConnectionError:
                if attempt == 4:
                    raise
                self._local.s = None
                time.sleep(0.05 * (attempt + 1))

    def admin(self, method, path, **kw):
        return self.req(method, path, key=self.admin_key, **kw)

    def ok(self, r, *codes):
        if r.status_code not in codes:
            raise RuntimeError(f"{r.request.method} {r.request.path_url} -> "
                               f"{r.status_code}: {r.text[:500]}")
        return r


class Receiver:
    """A local HTTP server answering 200 to the daemon's webhooks and SMS."""

    def __init__(self):
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            # A sender that gave up (its send timeout, on a loaded
            # machine) and closed first: it retries the same message.
            def handle_error(self, request, client_address):
                outer.dropped += 1

        outer = self
        self.dropped = 0
        self.server = Server(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# The simulation


class Sim:
    def __init__(self, p, api, connect, log=print):
        self.p = p
        self.api = api
        self.connect = connect  # () -> pymysql connection (DictCursor)
        self.log = log
        self.rng = random.Random(p.seed)
        self.t0 = parse_ts(p.start)
        self.t1 = self.t0 + p.days * 86400
        self.step = p.step_min * 60
        self.phone_seq = 0
        self.stats = collections.Counter()
        self.lock = threading.Lock()
        self.orphans = {}
        self.unstaffed = set()
        self.kept_tolerance = set()
        self.completed_phones = []   # customers free to come back
        self.phones_of = {}          # callback id -> phone
        self.tokens = {}             # callback id -> manage token
        self.planner_reports = collections.Counter()
        self.timing = {}
        self._db = None
        # Draws added after the first version come from their own stream,
        # so the original bookings, roster and outcomes stay as they were.
        self.rng2 = random.Random(p.seed + 1)
        self.cancelled_at = {}       # callback id -> when the customer cancelled
        self.minutes_late = []       # of every call made
        self.overdue_by_day = []     # [{day, overdue, p50, p95}]

    # -- helpers --

    def db(self):
        if self._db is None:
            self._db = self.connect()
        self._db.ping(reconnect=True)
        return self._db

    def query(self, sql, args=None):
        with self.db().cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def count(self, what, n=1):
        with self.lock:
            self.stats[what] += n

    def new_phone(self):
        with self.lock:
            self.phone_seq += 1
            # Denver numbers the phone library calls valid.
            return "+1303%07d" % (2000000 + self.phone_seq)

    def set_clock(self, t):
        self.api.ok(self.api.admin("POST", "/v1/test/clock", json={"now": iso(t)}), 200)

    def pmap(self, fn, items):
        if not items:
            return []
        with cf.ThreadPoolExecutor(self.p.threads) as ex:
            return list(ex.map(fn, items))

    # -- the world --

    def plan(self):
        p, rng = self.p, self.rng
        self.agents = make_agents(p, rng)
        self.roster = Roster(self.agents, self.t0, self.t1)
        # Bookings: (book_time or None for ahead of the week, kind, due)
        self.bookings = []
        for _ in range(p.callbacks):
            if rng.random() < p.asap_share:
                t = rng.randrange(self.t0, self.t1)
                self.bookings.append({"at": t, "asap": True, "due": None})
            else:
                due = align(rng.randrange(self.t0 + 3600, self.t1))
                if rng.random() < p.prebook_share or due - 3600 <= self.t0:
                    at = None
                else:
                    at = rng.randrange(self.t0, due - 3600)
                self.bookings.append({"at": at, "asap": False, "due": due})
        for b in self.bookings:
            b["returning"] = b["at"] is not None and rng.random() < p.returning_share
            b["zone"] = rng.choice(ZONES)
        # Queues from their own stream, so the rest is drawn as before.
        rq = random.Random(p.seed + 3)
        for b in self.bookings:
            b["queue"] = (rq.choice(sorted(QUEUES))
                          if rq.random() < p.queue_share else None)
            b["by_topic"] = rq.random() < 0.5
        # Time off: vacations known ahead (a whole day), sick days and short
        # absences entered on the day.
        self.offs = []
        for a in self.agents:
            r = rng.random()
            if r < p.vacation_share:
                kind = "vacation"
            elif r < p.vacation_share + p.sick_share:
                kind = "sick"
            elif r < p.vacation_share + p.sick_share + p.absence_share:
                kind = "absence"
            else:
                continue
            spans = [s for s in self.roster.raw[a.idx]
                     if self.t0 + 3 * 3600 <= s[0] < self.t1 - SHIFT_HOURS * 3600]
            if not spans:
                continue
            s, e = rng.choice(spans)
            if kind == "absence":
                frm = s + rng.randrange(1, 5) * 3600
                to = frm + rng.choice((2, 3)) * 3600
                announce = frm - 3 * 3600
            elif kind == "sick":
                frm, to, announce = s, e, s - 2 * 3600
            else:
                frm, to, announce = s, e, None
            self.offs.append({"agent": a, "kind": kind, "from": frm, "to": to,
                              "announce": announce})
        # Customers who move their booking, and when.
        self.moves = []
        for i, b in enumerate(self.bookings):
            if b["asap"] or rng.random() >= p.customer_reschedule_share:
                continue
            start = max(b["at"] or self.t0, self.t0)
            if b["due"] - 2 * 3600 <= start:
                continue
            at = rng.randrange(start, b["due"] - 3600)
            if at + 2 * 3600 >= self.t1:
                continue
            new = align(rng.randrange(at + 2 * 3600, self.t1))
            self.moves.append({"booking": i, "at": at, "due": new})
        # Customers who cancel, some time between booking and the call.
        self.cancels = []
        for i, b in enumerate(self.bookings):
            if self.rng2.random() >= p.customer_cancel_share:
                continue
            start = max(b["at"] or self.t0, self.t0)
            end = (b["due"] - 1800) if b["due"] else start + 1800
            if end <= start + 60 or end >= self.t1:
                continue
            self.cancels.append({"booking": i, "at": self.rng2.randrange(start + 60, end)})

    def setup(self):
        api = self.api
        self.set_clock(self.t0 - 2 * 3600)

        def mk(a):
            r = api.ok(api.admin("POST", "/v1/agents", json={
                "name": a.name, "display_name": a.name.capitalize(),
                "timezone": a.zone, "team": a.zone.split("/")[0].lower(),
                "capacity": 3}), 200, 201)
            a.id = r.json()["id"]
            k = api.ok(api.admin("POST", "/v1/keys", json={
                "role": "agent", "name": a.name, "agent_id": a.id}), 200, 201)
            a.key = k.json()["key"]
            api.ok(api.admin("PUT", f"/v1/agents/{a.id}/shifts",
                             json={"shifts": [shift_rule(a)]}), 200)
            api.ok(api.admin("PUT", f"/v1/agents/{a.id}/skills", json={
                "skills": [{"skill": k, "level": v}
                           for k, v in sorted(a.skills.items())]}), 200)
        self.pmap(mk, self.agents)
        self.queue_ids = {}
        for name, (skill, level, topic) in sorted(QUEUES.items()):
            r = api.ok(api.admin("POST", "/v1/routing/queues", json={
                "name": name, "timezone": "UTC", "topics": [topic],
                "skills": [{"skill": skill, "min_level": level}],
                "target": {"asap_pct": 80, "asap_minutes": 30,
                           "scheduled_minutes": 15}}), 201)
            self.queue_ids[name] = r.json()["id"]
        self.queue_names = {v: k for k, v in self.queue_ids.items()}
        self.roster.rekey()
        self.by_id = {a.id: a for a in self.agents}
        lk = api.ok(api.admin("POST", "/v1/keys", json={"role": "lead",
                                                        "name": "sim-lead"}), 200, 201)
        self.lead_key = lk.json()["key"]
        for o in self.offs:
            if o["announce"] is None:
                self.enter_off(o)

    def enter_off(self, o):
        a = o["agent"]
        self.api.ok(self.api.admin("POST", f"/v1/agents/{a.id}/time-off", json={
            "from": iso(o["from"]), "to": iso(o["to"]), "reason": o["kind"]}), 201)
        self.roster.add_off(a.id, o["from"], o["to"])
        self.count("time_off_" + o["kind"])

    # -- bookings --

    def book(self, b, now):
        """Book b at the current clock; returns the callback id or None."""
        phone = None
        if b["returning"]:
            with self.lock:
                if self.completed_phones:
                    phone = self.completed_phones.pop(
                        self.rng.randrange(len(self.completed_phones)))
        returning = phone is not None
        phone = phone or self.new_phone()
        body = {"customer": {"name": f"Customer {phone[-6:]}", "phone": phone,
                             "timezone": b["zone"]},
                "topic": "Order question", "notify": ["sms"]}
        if b.get("queue"):
            if b["by_topic"]:
                body["topic"] = QUEUES[b["queue"]][2]
            else:
                body["queue"] = b["queue"]
        due = b["due"]
        for attempt in range(8):
            if b["asap"]:
                body["when"] = "asap"
            else:
                if due < now + 1800:
                    due = align(now + 1800 + SLOT - 1)
                if due >= self.t1:
                    self.count("booking_beyond_week")
                    return None
                body["when"] = iso(due)
            r = self.api.req("POST", "/v1/callbacks", json=body)
            if r.status_code == 201:
                cb = r.json()
                with self.lock:
                    self.phones_of[cb["id"]] = phone
                    self.tokens[cb["id"]] = cb["manage_token"]
                self.count("booked_asap" if b["asap"] else "booked_scheduled")
                if b.get("queue"):
                    self.count("booked_in_queue_" + b["queue"])
                if returning:
                    self.count("booked_returning")
                return cb["id"]
            if r.status_code == 202:
                # Came back too soon: the open callback's link is texted.
                self.count("booking_existing_open")
                return None
            ptype = r.json().get("type", "") if r.headers.get(
                "Content-Type", "").startswith("application/problem") else ""
            if r.status_code == 409 and ptype.endswith("slot-full") and not b["asap"]:
                due += SLOT * self.rng.randrange(1, 5)
                self.count("booking_slot_full_retry")
                continue
            self.count(f"booking_refused_{r.status_code}{ptype.replace('/problems/', '_')}")
            return None
        self.count("booking_gave_up")
        return None

    # -- one step --

    def agent_work(self, a, now, budget):
        api = self.api
        for _ in range(budget):
            r = api.req("POST", "/v1/me/queue/next", key=a.key)
            if r.status_code == 204:
                return
            api.ok(r, 200)
            cb = r.json()
            due = cb.get("scheduled_at") or cb.get("requested_at") or cb.get("due_at")
            if due:
                with self.lock:
                    self.minutes_late.append(max(0, now - parse_ts(due)) / 60)
            x = self.rng.random()
            p = self.p
            body = {"result": "reached"}
            if x < p.p_no_answer:
                body = {"result": "no_answer"}
            elif x < p.p_no_answer + p.p_busy:
                body = {"result": "busy"}
            elif x < p.p_no_answer + p.p_busy + p.p_wrong:
                body = {"result": "wrong_number"}
            elif x < p.p_no_answer + p.p_busy + p.p_wrong + p.p_reschedule:
                when = align(now + self.rng.randrange(2 * 3600, 48 * 3600))
                if when < self.t1:
                    body = {"result": "reschedule", "when": iso(when),
                            "note": "Customer asked for another time"}
            r = api.req("POST", f"/v1/callbacks/{cb['id']}/outcome", key=a.key,
                        json=body)
            if r.status_code != 200 and body["result"] == "reschedule":
                self.count("outcome_reschedule_refused")
                body = {"result": "reached"}
                r = api.req("POST", f"/v1/callbacks/{cb['id']}/outcome",
                            key=a.key, json=body)
            api.ok(r, 200)
            self.count("outcome_" + body["result"])
            if r.json().get("state") in ("completed", "failed"):
                phone = self.phones_of.get(cb["id"])
                if phone:
                    with self.lock:
                        self.completed_phones.append(phone)

    def customer_move(self, m, now):
        b = self.bookings[m["booking"]]
        cid = b.get("id")
        if cid is None:
            return
        r = self.api.req("PATCH", f"/v1/callbacks/{cid}", key=self.tokens[cid],
                         json={"when": iso(m["due"])})
        if r.status_code == 200:
            self.count("customer_rescheduled")
        else:
            self.count(f"customer_reschedule_refused_{r.status_code}")

    def customer_cancel(self, c, now):
        b = self.bookings[c["booking"]]
        cid = b.get("id")
        if cid is None or cid in self.cancelled_at:
            return
        r = self.api.req("DELETE", f"/v1/callbacks/{cid}", key=self.tokens[cid])
        if r.status_code == 200 and r.json().get("state") == "cancelled":
            self.cancelled_at[cid] = now
            self.count("customer_cancelled")
        else:
            self.count(f"customer_cancel_refused_{r.status_code}")

    def end_of_day(self, now):
        """Overdue calls left at the end of a day, and how late they are."""
        rows = self.query(
            "SELECT due_at FROM callbacks WHERE state IN "
            "('pending','scheduled','retry_wait') AND due_at < %s",
            (now - self.p.overdue_grace_min * 60,))
        late = [(now - r["due_at"]) / 60 for r in rows]
        self.overdue_by_day.append({
            "day": iso(now - 86400)[:10], "overdue": len(late),
            "minutes_late_p50": pctl(late, 0.5), "minutes_late_p95": pctl(late, 0.95)})

    def check_orphans(self, now):
        tol = self.p.tolerance_min * 60
        rows = self.query(
            "SELECT id, owner_id, due_at, queue_id FROM callbacks WHERE state IN "
            "('pending','scheduled','retry_wait') AND due_at < %s",
            (now + self.step,))
        for r in rows:
            t = max(r["due_at"], now)
            o = r["owner_id"]
            if self.roster.on_duty(o, t):
                continue
            ns = self.roster.next_start(o, t)
            if ns is not None and ns - t <= tol:
                self.kept_tolerance.add(r["id"])
                continue
            q = self.queue_names.get(r["queue_id"])
            # Someone else who could take it: on duty, with its skills.
            others = [x for x in self.roster.on_duty_ids(t)
                      if x != o and skilled(self.by_id[x], q)]
            if r["due_at"] <= now:
                # Already due: only someone not about to leave can take it.
                others = [x for x in others
                          if self.roster.shift_containing(x, t)[1] - t >= self.p.handle_sec]
            if others:
                self.orphans.setdefault(r["id"], (iso(now), o, iso(r["due_at"])))
            else:
                self.unstaffed.add(r["id"])

    def lead_rebalance(self, now):
        """A lead moves one agent's next hours to whoever is on duty."""
        on = self.roster.on_duty_ids(now)
        if not on:
            return
        a = self.rng.choice(on)
        r = self.api.req("POST", "/v1/handoffs", key=self.lead_key, json={
            "from_agent": a, "from": iso(now + 3600), "to": iso(now + 4 * 3600),
            "note": NOTE})
        self.api.ok(r, 201)
        self.count("lead_moves", r.json()["counts"]["moves"])

    def run(self):
        p = self.p
        t_start = time.monotonic()
        self.plan()
        self.setup()
        self.timing["setup_s"] = round(time.monotonic() - t_start, 1)

        # Ahead of the week: the pre-booked scheduled callbacks, in parallel.
        pre = [b for b in self.bookings if b["at"] is None]
        tb = time.monotonic()
        ids = self.pmap(lambda b: self.book(b, self.t0 - 2 * 3600), pre)
        for b, i in zip(pre, ids):
            b["id"] = i
        dt = time.monotonic() - tb
        self.timing["prebook_n"] = len(pre)
        self.timing["prebook_s"] = round(dt, 1)
        self.timing["prebook_per_s"] = round(len(pre) / dt, 1) if dt else None

        # Events by step.
        ev = collections.defaultdict(list)

        def slot_of(t):
            return self.t0 + max(0, -(-(t - self.t0) // self.step)) * self.step
        for b in self.bookings:
            if b["at"] is not None:
                ev[slot_of(b["at"])].append(("book", b))
        for o in self.offs:
            if o["announce"] is not None:
                ev[slot_of(max(o["announce"], self.t0))].append(("off", o))
        for m in self.moves:
            ev[slot_of(m["at"])].append(("move", m))
        for c in self.cancels:
            ev[slot_of(c["at"])].append(("cancel", c))
        lead_at = set()
        for k in range(p.lead_handoffs):
            lead_at.add(slot_of(self.t0 + (k + 1) * (self.t1 - self.t0) //
                                (p.lead_handoffs + 1)))

        budget = max(1, round(p.calls_per_hour * self.step / 3600))
        tw = time.monotonic()
        t = self.t0
        steps = 0
        while t <= self.t1:
            self.set_clock(t)
            todo = ev.get(t, [])
            for kind, x in todo:
                if kind == "off":
                    self.enter_off(x)
            books = [x for k, x in todo if k == "book"]
            got = self.pmap(lambda b: self.book(b, t), books)
            for b, i in zip(books, got):
                b["id"] = i
            for kind, x in todo:
                if kind == "move":
                    self.customer_move(x, t)
                elif kind == "cancel":
                    self.customer_cancel(x, t)
            if t in lead_at:
                self.lead_rebalance(t)
            rep = self.api.ok(self.api.admin("POST", "/v1/planner/run"), 200).json()
            for k in ("kept", "handed_off", "at_risk"):
                self.planner_reports[k] += rep.get(k, 0)
            self.check_orphans(t)
            if t > self.t0 and (t - self.t0) % 86400 == 0:
                self.end_of_day(t)
            if t < self.t1:
                on = [self.by_id[i] for i in self.roster.on_duty_ids(t)]
                self.pmap(lambda a: self.agent_work(a, t, budget), on)
            t += self.step
            steps += 1
        self.timing["week_s"] = round(time.monotonic() - tw, 1)
        self.timing["steps"] = steps
        self.timing["requests"] = self.api.count
        report = self.report()
        self.timing["total_s"] = round(time.monotonic() - t_start, 1)
        report["timing"] = self.timing
        return report

    # -- the figures --

    def roster_crosscheck(self):
        """Compare this roster with the daemon's spans at every slot."""
        bad = 0
        for a in self.agents:
            r = self.api.ok(self.api.admin(
                "GET", f"/v1/agents/{a.id}/shifts",
                params={"from": iso(self.t0), "to": iso(self.t1)}), 200).json()
            spans = [(parse_ts(s["start"]), parse_ts(s["end"])) for s in r["upcoming"]]
            for t in range(self.t0 + 60, self.t1, SLOT):
                daemon_on = any(s <= t < e for s, e in spans)
                if daemon_on != self.roster.on_duty(a.id, t):
                    bad += 1
        return bad

    def report(self):
        tol = self.p.tolerance_min * 60
        cbs = self.query(
            "SELECT c.id, c.owner_id, c.due_at, c.state, c.is_asap, c.case_id, "
            "c.created_at, c.queue_id, e.body AS booked FROM callbacks c JOIN "
            "events e ON e.callback_id = c.id AND e.kind = 'booked'")
        handoffs = self.query("SELECT * FROM handoffs ORDER BY id")
        hevents = self.query(
            "SELECT id, callback_id, body, at FROM events WHERE kind = 'handoff' "
            "ORDER BY id")
        owner_sms = self.query(
            "SELECT callback_id, created_at FROM outbox WHERE kind = "
            "'sms.owner_changed'")

        # Ownership changes: every path writes a 'handoff' event; a change
        # that wrote neither is found by following each callback's chain.
        rows_by_cb = collections.defaultdict(list)
        for h in handoffs:
            rows_by_cb[h["callback_id"]].append(h)
        ev_by_cb = collections.defaultdict(list)
        for e in hevents:
            ev_by_cb[e["callback_id"]].append(e)
        changes = 0
        with_note = 0
        silent = 0
        unmatched_events = []
        for c in cbs:
            booked_owner = json.loads(c["booked"])["owner_id"]
            evs = ev_by_cb.get(c["id"], [])
            rows = rows_by_cb.get(c["id"], [])
            pool = collections.Counter((h["from_agent"], h["to_agent"]) for h in rows
                                       if h["summary"].strip() and h["next_step"].strip()
                                       and h["reason"].strip())
            for e in evs:
                b = json.loads(e["body"])
                changes += 1
                k = (b.get("from"), b.get("to"))
                if pool[k] > 0:
                    pool[k] -= 1
                    with_note += 1
                else:
                    unmatched_events.append({"callback_id": c["id"], "event": e["id"],
                                             "from": k[0], "to": k[1],
                                             "actor": b.get("author")})
            # Chain of events from the booked owner to the current one.
            cur = booked_owner
            for e in evs:
                cur = json.loads(e["body"]).get("to", cur)
            if cur != c["owner_id"]:
                silent += 1
                changes += 1
        notes_share = with_note / changes if changes else 1.0

        # Announced: an sms.owner_changed row written with the change.
        sms_by_cb = collections.defaultdict(list)
        for s in owner_sms:
            sms_by_cb[s["callback_id"]].append(s["created_at"])
        ann = ann_before = sched_changes = sched_before = 0
        for h in handoffs:
            times = sms_by_cb.get(h["callback_id"], [])
            # The test clock runs on in real time, so a transaction that
            # straddles a second stamps its rows a second apart.
            told = any(h["at"] <= t <= h["at"] + 2 for t in times)
            if told:
                ann += 1
                if h["at"] < h["due_at"]:
                    ann_before += 1
            if h["due_at"] > h["at"]:
                sched_changes += 1
                if told:
                    sched_before += 1

        # Same owner, and the best possible under the shift plan; the calls
        # that could have kept their owner but did not, by why they first
        # moved.
        same = possible = 0
        missed = collections.Counter()
        for c in cbs:
            bo = json.loads(c["booked"])["owner_id"]
            if c["owner_id"] == bo:
                same += 1
            t = c["due_at"]
            ns = self.roster.next_start(bo, t)
            if self.roster.on_duty(bo, t) or (ns is not None and ns - t <= tol):
                possible += 1
                if c["owner_id"] != bo and rows_by_cb.get(c["id"]):
                    h = rows_by_cb[c["id"]][0]
                    missed[f"{h['kind']}_{'ahead' if h['due_at'] > h['at'] else 'late'}"] += 1
        n = len(cbs) or 1

        # Returning customers: the same agent as last time?
        by_case = collections.defaultdict(list)
        for c in cbs:
            by_case[c["case_id"]].append(c)
        ret = ret_same = ret_possible = 0
        for lst in by_case.values():
            lst.sort(key=lambda c: c["id"])
            for prev, c in zip(lst, lst[1:]):
                ret += 1
                if c["owner_id"] == prev["owner_id"]:
                    ret_same += 1
                t = c["due_at"]
                ns = self.roster.next_start(prev["owner_id"], t)
                q = self.queue_names.get(c["queue_id"])
                if (self.roster.on_duty(prev["owner_id"], t) or
                        (ns is not None and ns - t <= tol)) and \
                        skilled(self.by_id[prev["owner_id"]], q):
                    ret_possible += 1

        # ASAP calls given to an agent about to leave: their shift ends
        # within handoff_tolerance_min of the booking. Under a pick that
        # ignored shift ends this would be about tolerance / shift length.
        asap = [c for c in cbs if c["is_asap"]]
        late = 0
        for c in asap:
            bo = json.loads(c["booked"])["owner_id"]
            span = self.roster.shift_containing(bo, c["created_at"])
            if span and span[1] - c["created_at"] <= tol:
                late += 1
        asap_late = late / len(asap) if asap else None
        # Work per agent-shift as booked (by the booking owner and due
        # time), against what an agent gets through in a shift.
        per_shift = collections.Counter()
        for c in cbs:
            b = json.loads(c["booked"])
            span = self.roster.shift_containing(b["owner_id"], b["due_at"])
            if span:
                per_shift[(b["owner_id"], span)] += 1
        loads = sorted(per_shift.values()) or [0]
        states = collections.Counter(c["state"] for c in cbs)
        kinds = collections.Counter(h["kind"] for h in handoffs)
        # Why calls moved: ahead of the due time (absence, roster) or once
        # overdue (a backlog left at the end of a shift).
        causes = collections.Counter(
            f"{h['kind']}_{'ahead' if h['due_at'] > h['at'] else 'overdue'}"
            for h in handoffs)
        mismatch = self.roster_crosscheck()
        moved_counts = collections.Counter(h["callback_id"] for h in handoffs)
        # Moves the service made on its own (the planner), as opposed to a
        # lead's reassignment or a customer's or agent's reschedule.
        auto_counts = collections.Counter(h["callback_id"] for h in handoffs
                                          if h["author"] == "planner")
        routing = self.routing_figures(cbs, handoffs, tol)
        return dict(self.message_figures(handoffs), **routing, **{
            "params": asdict(self.p),
            "callbacks": len(cbs),
            "states": dict(states),
            "orphans": len(self.orphans),
            "orphan_examples": list(self.orphans.items())[:10],
            "unstaffed_at_risk": len(self.unstaffed),
            "kept_within_tolerance": len(self.kept_tolerance),
            "ownership_changes": changes,
            "changes_with_note": with_note,
            "notes_share": notes_share,
            "changes_without_handoff_row": unmatched_events[:10],
            "changes_without_handoff_row_count": len(unmatched_events),
            "silent_owner_changes": silent,
            "handoff_rows_by_kind": dict(kinds),
            "handoff_rows_by_cause": dict(sorted(causes.items())),
            "announced_share": ann / len(handoffs) if handoffs else 1.0,
            "announced_before_due_share": ann_before / len(handoffs) if handoffs else 1.0,
            "announced_before_due_share_scheduled":
                sched_before / sched_changes if sched_changes else 1.0,
            "same_owner_rate": same / n,
            "same_owner_best_possible": possible / n,
            "returning_calls": ret,
            "returning_same_agent_rate": ret_same / ret if ret else None,
            "returning_same_agent_best_possible": ret_possible / ret if ret else None,
            "asap_to_agent_leaving_share": asap_late,
            "booked_per_agent_shift": {
                "mean": round(sum(loads) / len(loads), 1),
                "p95": loads[int(0.95 * (len(loads) - 1))], "max": loads[-1],
                "capacity": self.p.calls_per_hour * SHIFT_HOURS},
            "asap_to_agent_leaving_uniform": tol / (SHIFT_HOURS * 3600),
            "planner": dict(self.planner_reports),
            "roster_mismatches": mismatch,
            "events": dict(sorted(self.stats.items())),
            "same_owner_of_best": same / possible if possible else None,
            "same_owner_missed_by_first_move": dict(sorted(missed.items())),
            "moved_more_than_twice": sum(1 for n in moved_counts.values() if n > 2),
            "moved_by_planner_more_than_twice": sum(
                1 for n in auto_counts.values() if n > 2),
            "moved_max": max(moved_counts.values(), default=0),
            "overdue_by_day": self.overdue_by_day,
            "minutes_late_made_p50": pctl(self.minutes_late, 0.5),
            "minutes_late_made_p95": pctl(self.minutes_late, 0.95),
            "calls_made": len(self.minutes_late),
        })

    def routing_figures(self, cbs, handoffs, tol):
        """No call owned by, booked to or handed to an agent without its
        queue's skills; same owner per queue against the best possible; and
        the service's first-response figures per queue."""
        unskilled = []
        queue_of = {c["id"]: self.queue_names.get(c["queue_id"]) for c in cbs}
        per = collections.defaultdict(collections.Counter)
        for c in cbs:
            q = queue_of[c["id"]]
            bo = json.loads(c["booked"])["owner_id"]
            for who, what in ((bo, "booked"), (c["owner_id"], "owner")):
                if not skilled(self.by_id[who], q):
                    unskilled.append({"callback_id": c["id"], "queue": q,
                                      "agent": who, "as": what})
            f = per[q or "default"]
            f["callbacks"] += 1
            f["same"] += c["owner_id"] == bo
            t = c["due_at"]
            ns = self.roster.next_start(bo, t)
            if self.roster.on_duty(bo, t) or (ns is not None and ns - t <= tol):
                f["possible"] += 1
        for h in handoffs:
            q = queue_of.get(h["callback_id"])
            if not skilled(self.by_id[h["to_agent"]], q):
                unskilled.append({"callback_id": h["callback_id"], "queue": q,
                                  "agent": h["to_agent"], "as": "handed"})
        figs = self.api.ok(self.api.req("GET", "/v1/routing/figures",
                                        key=self.lead_key), 200).json()
        by_queue = {}
        for name, f in sorted(per.items()):
            by_queue[name] = {
                "callbacks": f["callbacks"],
                "same_owner_rate": f["same"] / f["callbacks"],
                "same_owner_best_possible": f["possible"] / f["callbacks"],
                "same_owner_of_best": f["same"] / f["possible"] if f["possible"] else None}
        for q in figs["queues"]:
            by_queue.setdefault(q["queue"], {})["service"] = {
                "target": q["target"], "asap": q["asap"],
                "scheduled": q["scheduled"], "meets_target": q["meets_target"]}
        return {"unskilled_calls": len(unskilled),
                "unskilled_examples": unskilled[:10],
                "queued_callbacks": sum(1 for c in cbs if c["queue_id"]),
                "queues": by_queue,
                "agents_skills": collections.Counter(
                    len(a.skills) for a in self.agents)}

    def message_figures(self, handoffs):
        """What customers were told: past times, messages after a
        cancellation, and changes of owner told too late."""
        year = datetime.fromtimestamp(self.t0, timezone.utc).year
        sms = self.query(
            "SELECT id, callback_id, kind, payload, due_at, created_at, status "
            "FROM outbox WHERE channel = 'sms' AND status IN ('pending', 'sent')")
        past = []
        for m in sms:
            named = time_in_text(json.loads(m["payload"]).get("body", ""), year)
            if named is not None and named < max(m["due_at"], m["created_at"]):
                past.append({"callback_id": m["callback_id"], "kind": m["kind"],
                             "sent": iso(m["due_at"]), "named": iso(named)})
        # After a cancellation: anything to the customer but the notice of
        # the cancellation itself.
        after_cancel = []
        if self.cancelled_at:
            ids = ",".join(str(int(i)) for i in self.cancelled_at)
            rows = self.query(
                "SELECT callback_id, kind, due_at, sent_at, status FROM outbox "
                f"WHERE callback_id IN ({ids}) AND channel IN ('sms', 'email') "
                "AND kind NOT IN ('sms.cancelled', 'invite.cancel') AND "
                "status IN ('pending', 'sent')")
            for m in rows:
                t = self.cancelled_at[m["callback_id"]]
                # Due after the cancellation: a text meant for a call
                # that no longer exists (a confirmation of a booking
                # cancelled in the same minute is not one).
                if m["due_at"] > t:
                    after_cancel.append({"callback_id": m["callback_id"],
                                         "kind": m["kind"], "status": m["status"]})
        # Moves made before the call was due: the text telling of it (the
        # owner-change text, or for a customer's own reschedule the
        # "rescheduled" text naming the new agent, which replaces it) must
        # go out (its send time) before the due time.
        # Withdrawn ones count too: the simulated clock outruns the
        # dispatcher, so a text due at once can be withdrawn by the call's
        # completion a simulated step later, before it left; what is
        # checked here is when the service meant to send it. So every
        # status counts, a dead one too: on a loaded machine the local
        # receiver can miss a send and the simulated clock runs through
        # the retries in seconds; delivery is the outbox tests' concern.
        told = collections.defaultdict(list)
        for m in self.query(
                "SELECT callback_id, kind, created_at, due_at FROM outbox WHERE "
                "kind IN ('sms.owner_changed', 'sms.rescheduled')"):
            told[m["callback_id"]].append((m["created_at"], m["due_at"]))
        ahead = late = 0
        late_examples = []
        for h in handoffs:
            if h["due_at"] <= h["at"] or h["callback_id"] in self.cancelled_at:
                continue
            ahead += 1
            # Written in the move's transaction; the test clock runs on
            # from where it was set, so allow the second it may tick over.
            # A later change may replace the text (withdrawn, a new one
            # naming who calls now): any live text from the move on counts.
            sends = [d for c, d in told.get(h["callback_id"], [])
                     if c >= h["at"]]
            if not sends or min(sends) >= h["due_at"]:
                late += 1
                if len(late_examples) < 10:
                    late_examples.append({"callback_id": h["callback_id"],
                                          "at": iso(h["at"]), "due": iso(h["due_at"]),
                                          "text_at": iso(min(sends)) if sends else None})
        return {
            "texts_naming_past_time": len(past),
            "texts_naming_past_time_examples": past[:10],
            "messages_after_cancel": len(after_cancel),
            "messages_after_cancel_kinds": dict(collections.Counter(
                m["kind"] for m in after_cancel)),
            "moves_before_due": ahead,
            "moves_before_due_told_late": late,
            "moves_before_due_told_late_examples": late_examples,
        }


def summary(rep):
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"
    t = rep["timing"]
    p = rep["params"]
    lines = [
        f"continuity: {p['agents']} agents, {p['callbacks']} callbacks, "
        f"{p['days']} days, {p['step_min']} min steps",
        f"  booked                  {rep['callbacks']}  states {rep['states']}",
        f"  orphans                 {rep['orphans']}  (target 0; unstaffed at risk "
        f"{rep['unstaffed_at_risk']}, kept within tolerance {rep['kept_within_tolerance']})",
        f"  ownership changes       {rep['ownership_changes']}  handoff rows "
        f"{rep['handoff_rows_by_cause']}",
        f"  with a note             {pct(rep['notes_share'])}  (target 100 %; "
        f"without a handoff row {rep['changes_without_handoff_row_count']}, "
        f"silent {rep['silent_owner_changes']})",
        f"  customer told           {pct(rep['announced_share'])} of handoffs; before "
        f"due {pct(rep['announced_before_due_share'])} (scheduled: "
        f"{pct(rep['announced_before_due_share_scheduled'])})",
        f"  same owner              {pct(rep['same_owner_rate'])}  (best possible "
        f"under the roster {pct(rep['same_owner_best_possible'])}; "
        f"{pct(rep['same_owner_of_best'])} of best, target >= 95 %; could have "
        f"kept it, first moved {rep['same_owner_missed_by_first_move']})",
        f"  moved more than twice   {rep['moved_more_than_twice']}; by the planner "
        f"alone {rep['moved_by_planner_more_than_twice']} (target 0; most moves of "
        f"one callback {rep['moved_max']})",
        f"  overdue at day's end    " + ", ".join(
            f"{d['day']}: {d['overdue']} (p50 {d['minutes_late_p50']} min, p95 "
            f"{d['minutes_late_p95']} min)" for d in rep["overdue_by_day"]),
        f"  calls made, min late    p50 {rep['minutes_late_made_p50']}, p95 "
        f"{rep['minutes_late_made_p95']} of {rep['calls_made']}",
        f"  texts naming a past time {rep['texts_naming_past_time']}  (target 0)",
        f"  messages after cancel   {rep['messages_after_cancel']}  "
        f"{rep['messages_after_cancel_kinds']}",
        f"  moves before due, told late {rep['moves_before_due_told_late']} of "
        f"{rep['moves_before_due']}  (target 0)",
        f"  returning, same agent   {pct(rep['returning_same_agent_rate'])} of "
        f"{rep['returning_calls']}  (best possible "
        f"{pct(rep['returning_same_agent_best_possible'])})",
        f"  ASAP to agent leaving   {pct(rep['asap_to_agent_leaving_share'])} booked "
        f"within the tolerance of the owner's shift end (uniform would be "
        f"{pct(rep['asap_to_agent_leaving_uniform'])})",
        f"  unskilled               {rep['unskilled_calls']} calls owned by, booked to "
        f"or handed to an agent without the skills (target 0); "
        f"{rep['queued_callbacks']} in queues",
        *[f"  queue {name:<17} same owner {pct(q.get('same_owner_rate'))} (best "
          f"possible {pct(q.get('same_owner_best_possible'))}); ASAP first "
          f"response avg {q.get('service', {}).get('asap', {}).get('avg_first_response_sec')} s, "
          f"{q.get('service', {}).get('asap', {}).get('within_target_pct')} % within "
          f"{q.get('service', {}).get('target', {}).get('asap_minutes')} min (target "
          f"{q.get('service', {}).get('target', {}).get('asap_pct')} %); scheduled on "
          f"time {q.get('service', {}).get('scheduled', {}).get('on_time_pct')} %"
          for name, q in sorted(rep["queues"].items())],
        f"  booked per agent-shift  {rep['booked_per_agent_shift']}",
        f"  planner (sum of passes) {rep['planner']}",
        f"  roster cross-check      {rep['roster_mismatches']} slot mismatches",
        f"  time                    setup {t['setup_s']} s, pre-booking "
        f"{t['prebook_n']} in {t['prebook_s']} s ({t['prebook_per_s']}/s), week "
        f"{t['week_s']} s over {t['steps']} steps, total {t['total_s']} s, "
        f"{t['requests']} requests",
    ]
    return "\n".join(lines)


def passed(rep):
    return (rep["orphans"] == 0 and rep["notes_share"] == 1.0 and
            rep["moved_by_planner_more_than_twice"] == 0 and
            rep["texts_naming_past_time"] == 0 and
            rep["moves_before_due_told_late"] == 0 and
            rep["unskilled_calls"] == 0)


# --------------------------------------------------------------------------
# Running it


def spawn(params, binary=None, keep=False):
    """Start a private MariaDB and daemon; returns (api, connect, cleanup)."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration"))
    import tempfile
    import helpers  # noqa: E402  (the test harness's process helpers)

    server = helpers.MariaDB.start_private()
    workdir = tempfile.mkdtemp(prefix="cbd-sim-")
    rx = Receiver()
    name = helpers.new_dbname()
    server.create_database(name)
    extra = daemon_config(params)
    extra.update({"sms_mode": "webhook", "sms_url": rx.url + "/sms",
                  "webhook_url": rx.url + "/events"})
    # An older build (for before/after figures) lacks newer keys.
    import util_api  # noqa: E402
    known = util_api.config_keys(binary or util_api.binary())
    extra = {k: v for k, v in extra.items() if k in known}
    d = helpers.new_daemon(workdir, server, name, extra=extra, binary=binary)

    def cleanup():
        try:
            d.stop()
        finally:
            rx.close()
            server.stop()
            if not keep:
                import shutil
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"kept {workdir} (daemon log {d.log_path})")

    return Api(d.url, d.admin_key), (lambda: server.connect(name)), cleanup


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true",
                    help="12 agents, 600 callbacks, 2 days (the test's form)")
    for f in ("agents", "callbacks", "days", "step_min", "seed", "threads"):
        ap.add_argument("--" + f.replace("_", "-"), type=int)
    ap.add_argument("--start", help="first instant, RFC 3339 (default a Monday)")
    ap.add_argument("--binary", help="callbackd (default CBD_BINARY or build/normal)")
    ap.add_argument("--url", help="attach to this daemon instead of starting one")
    ap.add_argument("--admin-key")
    ap.add_argument("--db-socket")
    ap.add_argument("--db-name")
    ap.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON")
    a = ap.parse_args(argv)
    kw = {k: v for k, v in vars(a).items()
          if k in Params.__dataclass_fields__ and v is not None}
    p = Params.short(**kw) if a.short else Params(**kw)
    if a.url:
        if not (a.admin_key and a.db_socket and a.db_name):
            ap.error("--url needs --admin-key, --db-socket and --db-name")
        import pymysql
        import pymysql.cursors
        api = Api(a.url, a.admin_key)
        connect = lambda: pymysql.connect(  # noqa: E731
            unix_socket=a.db_socket, user="root", database=a.db_name,
            autocommit=True, cursorclass=pymysql.cursors.DictCursor)
        cleanup = lambda: None  # noqa: E731
    else:
        api, connect, cleanup = spawn(p, binary=a.binary, keep=a.keep)
    try:
        rep = Sim(p, api, connect).run()
    finally:
        cleanup()
    print(json.dumps(rep, indent=2, default=str) if a.json else summary(rep))
    return 0 if passed(rep) else 1


if __name__ == "__main__":
    sys.exit(main())
