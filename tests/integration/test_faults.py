"""Faults under load: the daemon killed with SIGKILL every few seconds,
MariaDB killed and restarted, the webhook/SMS and SMTP receivers stopped
for a while, all while customers book through the API and reminders come
due. At the end nothing the service promised may be missing:

  - acknowledged bookings lost = 0: every 201 a client saw is a row, and
    a retried Idempotency-Key never made a second callback;
  - messages lost = 0: every outbox row (confirmations, invites,
    reminders, heads-ups) is sent, and each arrived at its receiver;
  - duplicates only with the same id: every arrival carries the id of a
    row, and every copy of one id has the same body.

The scenario lives in FaultRun so contrib/bench/bench-faults can run a
longer one (receivers down for minutes) and print the recovery times; the
test runs a short one and checks only the behaviour, with generous waits.

The daemon runs on the test clock, driven at CLOCK_SPEED times real time,
so reminders come due within seconds. The MariaDB is a private one,
because this test kills it.
"""

import base64
import os
import random
import re
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import requests

import helpers
import util_api
from helpers import MariaDB, SmtpReceiver, Sql, WebhookReceiver, wait_until

SECRET = "whsec_" + base64.b64encode(b"faults-test-secret-number-one!!").decode()
CLOCK_SPEED = 10  # simulated seconds per real second
# Calls are booked 3 to 6 simulated minutes ahead, with an SMS reminder 2
# minutes and the agent's heads-up 1 minute before: at CLOCK_SPEED they
# come due 6 to 30 s after the booking, while the faults go on.
BOOK_AHEAD_SEC = (180, 360)
REMINDER_SEC = 120
HEADS_UP_SEC = 60


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimClock:
    """The daemon's simulated time as a function of real time: from now,
    CLOCK_SPEED times faster, plus jumps. A thread sets the daemon's clock
    to it four times a second. A restarted daemon (its clock is process
    state) runs on real time until then: behind, never ahead, so a booking
    made for simulated time is in its future and within its horizon.

    While the daemon cannot take the time (its database is down), its clock
    runs at real speed and so does this one: catching up afterwards would
    jump past the leases of sends in flight, and resend them, which no real
    clock does."""

    def __init__(self, speed):
        self.speed = speed
        self.nominal = speed
        self.t0 = time.monotonic()
        self.start = int(time.time())
        self.extra = 0
        self.lock = threading.Lock()

    def now(self):
        with self.lock:
            return int(self.start + self.extra + self.speed * (time.monotonic() - self.t0))

    def jump(self, sec):
        with self.lock:
            self.extra += sec

    def set_speed(self, speed):
        with self.lock:
            t = time.monotonic()
            self.extra += self.speed * (t - self.t0)
            self.t0, self.speed = t, speed


class Booker(threading.Thread):
    """One customer after another books a callback with an Idempotency-Key,
    and on a lost connection or a 5xx sends the same request again (as the
    API asks clients to) until it gets its 201."""

    def __init__(self, run, index, rate):
        super().__init__(daemon=True, name=f"booker-{index}")
        self.run_ = run
        self.index = index
        self.interval = 1.0 / rate
        self.stopping = threading.Event()
        self.acks = []  # (wall time, key, callback id, phone, due)
        self.retries = 0
        self.unexpected = []  # (status, body) of answers that are bugs
        self.seq = 0

    def body(self):
        self.seq += 1
        phone = "+4479%02d%06d" % (self.index, self.seq)
        due = self.run_.clock.now() + random.randint(*BOOK_AHEAD_SEC)
        return phone, due, {
            "customer": {"name": f"Customer {self.index}-{self.seq}", "phone": phone,
                         "email": f"c{self.index}-{self.seq}@example.org",
                         "timezone": "Europe/London"},
            "topic": "Fault test", "when": rfc3339(due), "notify": ["sms", "email"],
        }

    def book_until_acknowledged(self, deadline):
        phone, due, body = self.body()
        key = str(uuid.uuid4())
        while time.monotonic() < deadline:
            try:
                r = requests.post(self.run_.daemon.url + "/v1/callbacks", json=body,
                                  headers={"Idempotency-Key": key}, timeout=15)
            except requests.RequestException:
                r = None
            if r is not None and r.status_code == 201:
                self.acks.append((time.time(), key, r.json()["id"], phone, due))
                return
            if r is not None and r.status_code not in (502, 503, 504):
                self.unexpected.append((r.status_code, r.text[:300]))
                return
            self.retries += 1
            time.sleep(0.1)
        self.unexpected.append(("no answer", f"key {key} not acknowledged in time"))

    def run(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            # The last booking may span the end of the load: it still gets
            # its answer (the flush waits for that).
            self.book_until_acknowledged(time.monotonic() + 120)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)


class FaultRun:
    """The service with its receivers and a private MariaDB, under booking
    load, with methods that inject one fault each. log() receives progress
    lines."""

    def __init__(self, workdir, rate=8.0, bookers=2, speed=CLOCK_SPEED, binary=None,
                 log=lambda line: None):
        self.workdir = str(workdir)
        self.rate = rate
        self.nbookers = bookers
        self.clock = SimClock(speed)
        self.binary = binary
        self.log = log
        self.faults = []  # dicts: kind, at, back (wall times), extra figures
        self._mails = []  # arrivals() of the SMTP receiver's mails so far
        self.mariadb = self.daemon = self.sql = None
        self.rx = self.smtp = None
        self.bookers = []
        self.clock_thread = None
        self.stop_clock = threading.Event()

    # -- set-up and tear-down --

    def start(self):
        t = time.monotonic()
        self.mariadb = MariaDB.start_private()
        self.baseline = {"mariadb first start": time.monotonic() - t}
        self.dbname = helpers.new_dbname()
        self.mariadb.create_database(self.dbname)
        self.rx = WebhookReceiver()
        self.smtp = SmtpReceiver()
        conf = {
            "log_level": "info",
            "webhook_url": self.rx.url + "/events",
            "sms_mode": "webhook", "sms_url": self.rx.url + "/sms",
            "webhook_secrets": SECRET, "smtp_url": self.smtp.url,
            "outbox_poll_ms": 50, "send_timeout_ms": 5000,
            "reminder_offsets": REMINDER_SEC, "heads_up_sec": HEADS_UP_SEC,
            "quiet_hours_start": "", "quiet_hours_end": "",
            # Room for every booking: 4 agents x 100 in 5-minute slots
            # (30 s of real time at CLOCK_SPEED) hold 13 bookings/s.
            "min_notice_min": 0, "max_per_agent_per_slot": 100, "slot_minutes": 5,
        }
        # Every client here is 127.0.0.1: no per-address limits.
        conf.update(util_api.relaxed())
        self.daemon = helpers.new_daemon(self.workdir, self.mariadb, self.dbname,
                                         extra=conf, binary=self.binary, name="faults",
                                         start=False)
        t = time.monotonic()
        self.daemon.start()
        self.baseline["daemon first start"] = time.monotonic() - t
        for i in range(4):
            helpers.make_agent(self.daemon, f"agent{i}", capacity=100)
        self.sql = Sql(self.mariadb, self.dbname)
        self.set_clock()
        self.clock_thread = threading.Thread(target=self._drive_clock, daemon=True)
        self.clock_thread.start()

    def close(self):
        """Stop everything; returns the daemon's teardown verdict (raises
        AssertionError on an unclean exit or a sanitizer report)."""
        self.stop_clock.set()
        for b in self.bookers:
            b.stopping.set()
        problem = None
        if self.daemon is not None:
            try:
                self.daemon.finish()
            except AssertionError as e:
                problem = e
        if self.sql is not None:
            self.sql.close()
        for x in (self.rx, self.smtp):
            if x is not None:
                x.close()
        if self.mariadb is not None:
            self.mariadb.stop()
        if problem is not None:
            raise problem

    def measure_clean_restarts(self):
        """Baselines for the recovery times: a SIGTERM restart of the daemon
        and a clean stop and start of MariaDB, with no load."""
        t = time.monotonic()
        self.daemon.restart()
        self.set_clock()
        self.baseline["daemon clean restart"] = time.monotonic() - t
        for cmd in ("stop", "start"):
            t = time.monotonic()
            out = subprocess.run([str(helpers.MARIADB_LOCAL), cmd, self.mariadb.dir],
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stdout + out.stderr
            self.baseline[f"mariadb clean {cmd}"] = time.monotonic() - t
        wait_until(self.set_clock, timeout=30, msg="daemon back on the database")

    # -- the clock and the load --

    def set_clock(self):
        try:
            r = self.daemon.admin("POST", "/v1/test/clock",
                                  json={"now": rfc3339(self.clock.now())}, timeout=5)
            return r.status_code == 200
        except requests.RequestException:
            return False

    def _drive_clock(self):
        while not self.stop_clock.wait(0.25):
            if self.daemon.is_running():
                is_set = self.set_clock()
                self.clock.set_speed(self.clock.nominal if is_set else 1)

    def start_load(self):
        self.bookers = [Booker(self, i, self.rate / self.nbookers)
                        for i in range(self.nbookers)]
        for b in self.bookers:
            b.start()

    def stop_load(self):
        for b in self.bookers:
            b.stopping.set()
        for b in self.bookers:
            b.join(timeout=180)
            assert not b.is_alive(), f"{b.name} did not finish"

    def acks(self):
        return sorted(a for b in self.bookers for a in b.acks)

    # -- faults --

    def _fault(self, kind, at, **extra):
        f = {"kind": kind, "at": at, **extra}
        self.faults.append(f)
        return f

    def kill_daemon(self):
        """SIGKILL, then start again at once (start waits for /healthz)."""
        at = time.time()
        self.daemon.kill9()
        self.daemon.start()
        self.set_clock()
        self._fault("daemon kill -9", at, healthy=time.time())
        self.log(f"  daemon killed and restarted in {time.time() - at:.1f} s")

    def failed_attempts(self):
        return sum(b.retries for b in self.bookers)

    def kill_mariadb(self, down_sec=None, until=None):
        """SIGKILL the server, leave it down down_sec or until until()
        holds, start it again (InnoDB crash recovery)."""
        pid = int(open(os.path.join(self.mariadb.dir, "mysqld.pid")).read())
        at = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                   open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z",
                   timeout=10, msg="mariadbd gone")
        if until is not None:
            wait_until(until, timeout=60, msg="clients see the database down")
        if down_sec:
            time.sleep(down_sec)
        restart = time.time()
        out = subprocess.run([str(helpers.MARIADB_LOCAL), "start", self.mariadb.dir],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        self._fault("mariadb kill -9", at, restarted=restart, up=time.time())
        self.log(f"  MariaDB killed, down {restart - at:.0f} s, back after "
                 f"{time.time() - restart:.1f} s of recovery")

    def receivers_down(self):
        self.rx.down()
        self.smtp.down()
        return time.time()

    def receivers_up(self, since):
        self.rx.up()
        self.smtp.up()
        self._fault("receivers down", since, up=time.time(), sim_up=self.clock.now())
        self.log(f"  receivers were down {time.time() - since:.0f} s")

    # -- the end: everything due is delivered --

    def flush(self, timeout=120):
        """Let every message come due and wait until all are sent: the
        clock jumps past the last call, then, whenever nothing has moved
        for two seconds (no send in flight), on by half an hour at a time,
        so retries waiting out their backoff go too. The clock runs at real
        speed meanwhile, so no send lease (35 simulated seconds) runs out
        under a send in flight; only what is in flight at the first jump
        may be sent again. Returns the seconds it took."""
        t0 = time.monotonic()
        self.clock.nominal = 1
        self.clock.set_speed(1)
        last_due = max((a[4] for a in self.acks()), default=self.clock.now())
        self.clock.jump(max(0, last_due + 60 - self.clock.now()))
        self.set_clock()
        seen = {"left": None, "since": time.monotonic()}

        def all_sent():
            left = self.sql.query(
                "SELECT id, attempts FROM outbox WHERE status <> 'sent' ORDER BY id")
            if left != seen["left"]:
                seen["left"], seen["since"] = left, time.monotonic()
            elif left and time.monotonic() - seen["since"] >= 2:
                self.clock.jump(1800)
                self.set_clock()
                seen["since"] = time.monotonic()
            return not left
        wait_until(all_sent, timeout=timeout, interval=1.0,
                   msg="every outbox row sent")
        # Late arrivals of sends recorded just now.
        time.sleep(0.5)
        return time.monotonic() - t0

    # -- checks and figures --

    def arrivals(self):
        """Every delivery as (wall time, msg id, channel, body)."""
        out = []
        for q in self.rx.matching():
            channel = "sms" if q.path.split("?")[0] == "/sms" else "webhook"
            out.append((q.time, q.headers.get("webhook-id"), channel, q.body))
        with self.smtp._lock:
            mails = list(self.smtp.messages)
        # Parsing MIME is slow: each mail once, however often this is asked.
        for m in mails[len(self._mails):]:
            mid = (m.message["Message-ID"] or "").strip("<>").split("@")[0]
            cal = b"".join(p.get_payload(decode=True) for p in m.parts("text/calendar"))
            # DTSTAMP says when the invite was written, which is at each
            # attempt: a resend differs there and nowhere else.
            cal = re.sub(rb"\r\nDTSTAMP:[0-9TZ]+\r\n", b"\r\nDTSTAMP:-\r\n", cal)
            self._mails.append((m.time, mid, "email", cal))
        return sorted(out + self._mails, key=lambda a: a[0])

    def verify(self):
        """Assert the promises; return the figures."""
        acks = self.acks()
        unexpected = [u for b in self.bookers for u in b.unexpected]
        assert unexpected == [], f"answers that are bugs: {unexpected[:10]}"
        assert acks, "no booking was acknowledged"

        # Acknowledged bookings: each 201 is a row with the customer that
        # booked it, and no key made two callbacks.
        ids = [a[2] for a in acks]
        assert len(set(ids)) == len(ids), "two acknowledgements share a callback id"
        rows = {r["id"]: r for r in self.sql.query(
            "SELECT c.id, c.due_at, u.phone FROM callbacks c "
            "JOIN customers u ON u.id = c.customer_id")}
        lost = [a for a in acks if a[2] not in rows]
        assert lost == [], f"{len(lost)} acknowledged bookings lost: {lost[:5]}"
        wrong = [a for a in acks if rows[a[2]]["phone"] != a[3] or rows[a[2]]["due_at"] != a[4]]
        assert wrong == [], f"acknowledged ids holding other bookings: {wrong[:5]}"
        assert len(rows) == len(acks), \
            f"{len(rows)} callbacks for {len(acks)} acknowledged keys: a retry booked twice"

        # Messages: every row sent, every reminder there, each id arrived,
        # copies of one id identical, nothing that is not a row.
        outbox = self.sql.query("SELECT msg_id, kind, channel, status, callback_id FROM outbox")
        assert [r for r in outbox if r["status"] != "sent"] == []
        reminders = [r for r in outbox if r["kind"] == "sms.reminder"]
        assert sorted(r["callback_id"] for r in reminders) == sorted(ids), \
            "not exactly one reminder per acknowledged booking"
        arrivals = self.arrivals()
        by_id = {}
        for _, mid, channel, body in arrivals:
            by_id.setdefault(mid, []).append((channel, body))
        known = {r["msg_id"]: r for r in outbox}
        strangers = set(by_id) - set(known)
        assert not strangers, f"{len(strangers)} arrivals with ids of no message"
        never = [r for r in outbox if r["msg_id"] not in by_id]
        assert never == [], f"{len(never)} messages never arrived: {never[:5]}"
        for mid, copies in by_id.items():
            assert len({c for c, _ in copies}) == 1, f"{mid} came by two channels"
            bodies = sorted({b for _, b in copies})
            assert len(bodies) == 1, f"copies of {mid} differ: {bodies}"[:3000]
        bad = [q for q in self.rx.matching() if not helpers.verify_standard_webhook(q, SECRET)]
        assert bad == [], f"{len(bad)} webhooks with a bad signature"

        dups = {}
        for mid, copies in by_id.items():
            if len(copies) > 1:
                k = known[mid]["kind"]
                dups[k] = dups.get(k, 0) + len(copies) - 1
        return {
            "duplicates by kind": dups,
            "bookings": len(acks),
            "client retries": sum(b.retries for b in self.bookers),
            "messages": len(outbox),
            "reminders": len(reminders),
            "deliveries": len(arrivals),
            "duplicates": len(arrivals) - len(by_id),
            "lost bookings": len(lost),
            "lost messages": len(never),
        }

    def recoveries(self):
        """Per fault: seconds from the fault (or from its end) until the
        service did the thing again: the next acknowledged booking, and the
        next delivery by each channel."""
        acks = [a[0] for a in self.acks()]
        arrivals = self.arrivals()

        def first_after(times, t):
            later = [x for x in times if x >= t]
            return round(min(later) - t, 2) if later else None

        out = []
        for f in self.faults:
            end = f.get("up", f["at"])
            row = {"fault": f["kind"], "at": f["at"]}
            if "healthy" in f:
                row["restart_s"] = round(f["healthy"] - f["at"], 2)
            if "restarted" in f:
                row["down_s"] = round(f["restarted"] - f["at"], 2)
                row["db_recovery_s"] = round(f["up"] - f["restarted"], 2)
            if f["kind"] == "receivers down":
                row["down_s"] = round(f["up"] - f["at"], 2)
            row["next_booking_s"] = first_after(acks, end if "up" in f else f["at"])
            for ch in ("webhook", "sms", "email"):
                row[f"next_{ch}_s"] = first_after([a[0] for a in arrivals if a[2] == ch], end)
            out.append(row)
        return out


def test_faults_lose_no_booking_and_no_message(tmp_path, record_property):
    """Under booking and reminder load: kill -9 of the daemon every few
    seconds (five times), receivers down for a few seconds (with a kill in
    the middle), MariaDB killed and down until clients have seen it."""
    run = FaultRun(tmp_path, rate=8.0)

    def bookings(n, timeout=30, what="bookings"):
        """Wait for n more acknowledged bookings: the service is back."""
        want = len(run.acks()) + n
        wait_until(lambda: len(run.acks()) >= want, timeout=timeout, msg=what)

    try:
        run.start()
        run.start_load()
        bookings(10, what="bookings under way")
        for _ in range(3):
            run.kill_daemon()
            bookings(15, what="bookings after a restart")

        since = run.receivers_down()
        bookings(15, what="bookings with the receivers down")
        run.kill_daemon()
        bookings(15, what="bookings after a restart, receivers down")
        sent = (len(run.rx.matching()), len(run.smtp.messages))
        run.receivers_up(since)
        run.rx.wait_for(sent[0] + 1, timeout=30)
        run.smtp.wait_for(sent[1] + 1, timeout=30)

        failed = run.failed_attempts()
        run.kill_mariadb(until=lambda: run.failed_attempts() >= failed + 10)
        bookings(15, timeout=60, what="bookings after MariaDB came back")
        run.kill_daemon()
        bookings(15, what="bookings after a restart")
        run.stop_load()
        run.flush(timeout=120)
        figures = run.verify()
        for k, v in figures.items():
            record_property(k, v)
        print(f"\nfaults: {figures}")
        for row in run.recoveries():
            print(f"  {row}")
    finally:
        run.close()
