"""Building blocks for the integration tests: a private MariaDB, the real
daemon, and real local webhook and SMTP receivers.

conftest.py turns these into fixtures; tests may also import the plain
helpers (wait_until, make_agent, verify_standard_webhook, ...) directly.
Everything here talks to real processes over real sockets: nothing is mocked.
"""

import base64
import email
import functools
import email.policy
import hashlib
import hmac
import json as jsonlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pymysql
import pymysql.cursors
import requests
from requests.structures import CaseInsensitiveDict

REPO_ROOT = Path(__file__).resolve().parents[2]
MARIADB_LOCAL = REPO_ROOT / "contrib" / "mariadb-local"
DEFAULT_BINARY = REPO_ROOT / "build" / "normal" / "callbackd"

# Lines a sanitizer or valgrind writes when it finds a bug. Any of them in a
# daemon's log fails the test that ran it, even if every assertion passed.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
)
VALGRIND_ERRORS_RE = re.compile(r"ERROR SUMMARY: ([1-9][0-9]*) errors")


def wait_until(pred, timeout=10, interval=0.05, msg=None):
    """Poll pred() until it returns something truthy and return that value.

    Raises AssertionError after timeout seconds, so a wait that never ends
    reads as a failed test, with msg (or the predicate's name) in it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = msg or getattr(pred, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# MariaDB


class MariaDB:
    """A MariaDB server reached over a unix socket as root, no password.

    Either one given by the caller (CBD_MARIADB_SOCKET, started by
    contrib/check) or a private one started here with contrib/mariadb-local.
    """

    def __init__(self, socket_path, directory=None):
        self.socket = str(socket_path)
        self.dir = directory  # set only when we started it and must stop it

    @classmethod
    def start_private(cls):
        # A short directory under /tmp: a unix socket path must fit in 107
        # bytes, which deep pytest temp paths can exceed.
        directory = tempfile.mkdtemp(prefix="cbd-mdb-")
        out = subprocess.run(
            [str(MARIADB_LOCAL), "start", directory],
            capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(
                f"mariadb-local start failed:\n{out.stdout}{out.stderr}")
        return cls(os.path.join(directory, "mysqld.sock"), directory)

    def stop(self):
        if self.dir is None:
            return
        subprocess.run([str(MARIADB_LOCAL), "stop", self.dir],
                       capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def connect(self, db=None):
        return pymysql.connect(
            unix_socket=self.socket, user="root", password="", database=db,
            autocommit=True, charset="utf8mb4",
            cursorclass=pymysql.cursors.DictCursor)

    def create_database(self, name):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` "
                            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()

    def drop_database(self, name):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def new_dbname():
    return "t_" + uuid.uuid4().hex


class Sql:
    """Direct SQL on a test's database, for setting up and checking rows the
    API does not show. Autocommit: every statement sees the latest commits.
    Arguments use pymysql's %s placeholders."""

    def __init__(self, mariadb, dbname):
        self.dbname = dbname
        self._conn = mariadb.connect(dbname)

    def _cursor(self):
        # The server may have closed an idle connection while the daemon
        # was being exercised; reconnect rather than fail the test.
        self._conn.ping(reconnect=True)
        return self._conn.cursor()

    def query(self, sql, args=None):
        """All rows as a list of dicts."""
        with self._cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def scalar(self, sql, args=None):
        """The first column of the first row, or None when there is none."""
        with self._cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
            if row is None:
                return None
            return next(iter(row.values()))

    def execute(self, sql, args=None):
        """Run a statement; returns the number of affected rows."""
        with self._cursor() as cur:
            return cur.execute(sql, args)

    def close(self):
        try:
            self._conn.close()
        except Exception:
            pass


# --------------------------------------------------------------------------
# The daemon


def _conf_value(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class Daemon:
    """One running callbackd, started from a config file of its own.

    Attributes: url, port, admin_key, conf_path, log_path, proc.
    expect_clean_exit: whether teardown requires exit code 0; kill9() and
    stop() with a signal other than SIGTERM/SIGINT clear it.
    """

    def __init__(self, binary, conf_path, log_path, port, env=None,
                 valgrind=False):
        self.binary = str(binary)
        self.conf_path = str(conf_path)
        self.log_path = str(log_path)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.admin_key = None
        self.proc = None
        self.valgrind = valgrind
        self.expect_clean_exit = True
        self.stopped_by_test = False
        self.env = dict(os.environ)
        # Defaults for sanitizer builds run straight from pytest; contrib/check
        # sets the same. Harmless for a build without sanitizers.
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            self.env.update(env)
        self.start_timeout = 120 if valgrind else 30

    # -- running commands --

    def command(self, *args):
        """argv for a one-shot command such as --create-key (not wrapped in
        valgrind: only the server is, to keep start-up fast)."""
        return [self.binary, "-c", self.conf_path, *args]

    def run(self, *args, timeout=60):
        """Run a one-shot daemon command; returns CompletedProcess (text)."""
        out = subprocess.run(self.command(*args), capture_output=True,
                             text=True, timeout=timeout, env=self.env)
        self._check_text_for_bugs(out.stderr, " ".join(args))
        return out

    def create_key(self, role, name):
        out = self.run("--create-key", role, name)
        if out.returncode != 0:
            raise AssertionError(
                f"--create-key {role} {name} exited {out.returncode}:\n"
                f"{out.stderr}")
        key = out.stdout.strip()
        assert key and "\n" not in key, f"unexpected --create-key output: {out.stdout!r}"
        return key

    def start(self):
        """Start the server and wait until GET /healthz answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        argv = [self.binary, "-c", self.conf_path]
        if self.valgrind:
            argv = ["valgrind", "--leak-check=full", "--error-exitcode=99",
                    "--errors-for-leak-kinds=definite", *argv]
        # Both streams go to the log: the daemon logs to stderr, and anything
        # on stdout is worth seeing next to it.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env)
        self.expect_clean_exit = True
        self.stopped_by_test = False

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited with {self.proc.returncode} during "
                    f"start-up; log:\n{tail(self.log_path)}")
            try:
                return requests.get(self.url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(healthy, timeout=self.start_timeout, interval=0.05,
                       msg=f"GET /healthz on {self.url}")
        except AssertionError as e:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(f"{e}\nlog:\n{tail(self.log_path)}") from None
        return self

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Send sig and wait for the exit; returns the exit code (negative
        for death by signal, as subprocess reports it)."""
        if self.proc is None:
            return None
        self.stopped_by_test = True
        if sig not in (signal.SIGTERM, signal.SIGINT):
            self.expect_clean_exit = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout * (4 if self.valgrind else 1))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.expect_clean_exit = False
                raise AssertionError(
                    f"daemon ignored signal {sig!s} for {timeout}s; killed. "
                    f"log:\n{tail(self.log_path)}") from None
        return self.proc.returncode

    def kill9(self):
        """Crash the daemon (SIGKILL): no cleanup, no exit code check."""
        return self.stop(signal.SIGKILL)

    def restart(self):
        """Stop with SIGTERM (requiring a clean exit) and start again on the
        same port with the same config."""
        if self.is_running():
            rc = self.stop()
            assert rc == 0, f"daemon exited {rc} on SIGTERM; log:\n{tail(self.log_path)}"
        return self.start()

    # -- HTTP --

    def req(self, method, path, key=None, json=None, data=None, headers=None,
            timeout=30, **kwargs):
        """One HTTP request to the daemon; returns the requests.Response.

        key=None sends no Authorization header, key="..." sends it as a
        bearer token. json= is sent as JSON, data= as the raw body (bytes
        or str). Other keyword arguments (params=, allow_redirects=...)
        go to requests.
        """
        hdrs = dict(headers or {})
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        return requests.request(method, self.url + path, headers=hdrs,
                                timeout=timeout, **kwargs)

    def admin(self, method, path, **kwargs):
        """req() with the admin key."""
        return self.req(method, path, key=self.admin_key, **kwargs)

    # -- checks --

    def log_text(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def _check_text_for_bugs(self, text, what):
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise AssertionError(f"{marker!r} reported by {what}:\n{text[-8000:]}")
        m = VALGRIND_ERRORS_RE.search(text)
        if m:
            raise AssertionError(f"valgrind found {m.group(1)} errors in {what}:\n{text[-8000:]}")

    def check_log(self):
        """Raise if a sanitizer or valgrind reported anything in the log."""
        self._check_text_for_bugs(self.log_text(), f"daemon (log {self.log_path})")

    def finish(self):
        """Teardown: stop if running, then require a clean exit (unless the
        test crashed the daemon on purpose) and a log free of bug reports."""
        problems = []
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    rc = self.stop()
                except AssertionError as e:
                    problems.append(str(e))
                    rc = None
                if rc is not None and rc != 0 and self.expect_clean_exit:
                    problems.append(f"daemon exited {rc} on SIGTERM")
            elif not self.stopped_by_test and self.expect_clean_exit:
                problems.append(
                    f"daemon died during the test (exit {self.proc.returncode})")
            elif self.expect_clean_exit and self.proc.returncode != 0:
                problems.append(f"daemon exited {self.proc.returncode} on SIGTERM")
        if problems:
            problems.append(f"log tail:\n{tail(self.log_path)}")
        try:
            self.check_log()  # its message quotes the report itself
        except AssertionError as e:
            problems.append(str(e))
        if problems:
            raise AssertionError("\n".join(problems))


def write_config(path, values):
    with open(path, "w") as f:
        f.write("# written by tests/integration/conftest.py\n")
        for k, v in values.items():
            f.write(f"{k} = {_conf_value(v)}\n")


@functools.lru_cache(maxsize=None)
def _help_config(binary):
    out = subprocess.run([binary, "--help-config"], capture_output=True, text=True,
                         timeout=10)
    return out.stdout


def new_daemon(workdir, mariadb, dbname, extra=None, binary=None, env=None,
               name="daemon", admin_name="test-admin", start=True):
    """Configure, create an admin key for, and (unless start=False) start a
    daemon. Returns the Daemon; its admin key is in .admin_key."""
    binary = binary or os.environ.get("CBD_BINARY") or str(DEFAULT_BINARY)
    if not os.access(binary, os.X_OK):
        raise AssertionError(
            f"daemon binary {binary} not found: build it first or set CBD_BINARY")
    workdir = Path(workdir)
    port = free_port()
    conf = {
        "listen_addr": "127.0.0.1",
        "listen_port": port,
        "db_socket": mariadb.socket,
        "db_name": dbname,
        "db_user": "root",
        "log_level": "debug",
        "test_clock": True,
        "store_threads": 4,
    }
    # Most tests book with agents that have no shift rules; the product's
    # default (off duty until shifts are set) is tested where it matters,
    # with this key set back. (Older builds, as benchmarks' baselines, do
    # not know the key.)
    if "agents_without_shifts" in _help_config(binary):
        conf["agents_without_shifts"] = "always"
    conf.update(extra or {})
    if "listen_port" in (extra or {}):
        port = int(conf["listen_port"])
    # Links the daemon hands out (manage, invite) must point at this daemon.
    conf.setdefault("public_url", f"http://127.0.0.1:{port}")
    conf_path = workdir / f"{name}.conf"
    write_config(conf_path, conf)
    d = Daemon(binary, conf_path, workdir / f"{name}.log", port, env=env,
               valgrind=os.environ.get("CBD_VALGRIND") == "1")
    d.admin_key = d.create_key("admin", admin_name)
    if start:
        d.start()
    return d


# --------------------------------------------------------------------------
# API shortcuts


def _expect(resp, *codes):
    if resp.status_code not in codes:
        raise AssertionError(
            f"{resp.request.method} {resp.request.path_url} -> "
            f"{resp.status_code} (wanted {codes}): {resp.text[:2000]}")
    return resp


def make_key(daemon, role, name, **fields):
    """POST /v1/keys as admin; returns the new key's secret string."""
    body = {"role": role, "name": name, **fields}
    r = _expect(daemon.req("POST", "/v1/keys", key=daemon.admin_key, json=body), 200, 201)
    return r.json()["key"]


def make_agent(daemon, name, **fields):
    """Create an agent (POST /v1/agents as admin) and an agent key for it.

    Defaults: display_name from name, Europe/London, team blue, capacity 2;
    fields override or add. Returns (agent_json, key).
    """
    body = {
        "name": name,
        "display_name": name.capitalize(),
        "timezone": "Europe/London",
        "team": "blue",
        "capacity": 2,
    }
    body.update(fields)
    r = _expect(daemon.req("POST", "/v1/agents", key=daemon.admin_key, json=body), 200, 201)
    agent = r.json()
    key = make_key(daemon, "agent", name, agent_id=agent["id"])
    return agent, key


# --------------------------------------------------------------------------
# Webhook and SMS receiver


class RecordedRequest:
    """One request as the receiver saw it."""

    def __init__(self, method, path, headers, body, status):
        self.method = method
        self.path = path
        self.headers = headers  # CaseInsensitiveDict
        self.body = body  # bytes
        self.time = time.time()
        self.monotonic = time.monotonic()
        self.status = status  # what the receiver answered

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return jsonlib.loads(self.body)

    def form(self):
        """The body as an x-www-form-urlencoded dict of single values
        (Twilio's Messages.json requests)."""
        return {k: v[0] for k, v in parse_qs(self.text, keep_blank_values=True).items()}

    def __repr__(self):
        return f"<{self.method} {self.path} -> {self.status}, {len(self.body)} bytes>"


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as curl's connection reuse expects

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def setup(self):
        super().setup()
        self.server.receiver._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, False)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        body = self._read_body()
        rec = self.server.receiver
        status, payload, ctype = rec._response_for(self.path)
        delay = rec.delay
        if delay:
            time.sleep(delay)
        rec._record(RecordedRequest(self.command, self.path,
                                    CaseInsensitiveDict(self.headers.items()),
                                    body, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when a burst of due
    # messages arrives at once; the client then waits a SYN retry (1 s)
    # and times out, which looks like a slow receiver.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # A sender that went away mid-request (killed, or timed out) is
        # part of the tests, not an error of the receiver's.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every request.

    By default it answers 200 with an empty JSON object, or, for paths ending
    in /Messages.json (Twilio's send-SMS call), 201 with {"sid": "SM...",
    "status": "queued"}. fail_next(n, status) and set_status(code) change
    that; down()/up() stop and restart listening on the same port.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._conns = set()
        self.requests = []
        self._fail_count = 0
        self._fail_status = 500
        self._status = None
        self.delay = 0
        self._server = None
        self._thread = None
        self.port = None
        self.up()
        self.url = f"http://127.0.0.1:{self.port}"

    # -- control --

    def up(self):
        if self._server is not None:
            return
        server = _ReceiverServer(("127.0.0.1", self.port or 0), _ReceiverHandler)
        server.receiver = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def down(self):
        """Stop listening and drop open connections: clients then see
        'connection refused' until up()."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Kept-alive connections would otherwise go on being served.
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def close(self):
        self.down()

    def fail_next(self, n, status=500):
        """Answer the next n requests with status."""
        with self._lock:
            self._fail_count = n
            self._fail_status = status

    def set_status(self, code):
        """Answer every request with code from now on; None restores the
        default answers."""
        with self._lock:
            self._status = code

    def set_delay(self, seconds):
        """Wait this long before answering (for client time-out tests)."""
        self.delay = seconds

    def clear(self):
        with self._lock:
            self.requests.clear()

    def wait_for(self, n, timeout=10, path=None):
        """Wait until n requests (to path, if given) have arrived; returns them."""
        def enough():
            got = self.matching(path)
            return got if len(got) >= n else None
        return wait_until(enough, timeout=timeout,
                          msg=f"{n} requests at the webhook receiver")

    def matching(self, path=None):
        with self._lock:
            reqs = list(self.requests)
        if path is None:
            return reqs
        return [r for r in reqs if r.path.split("?")[0] == path]

    # -- used by the handler threads --

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _record(self, rec):
        with self._lock:
            self.requests.append(rec)

    def _response_for(self, path):
        with self._lock:
            if self._fail_count > 0:
                self._fail_count -= 1
                status = self._fail_status
                body = jsonlib.dumps({"code": 20500, "message": "injected failure"})
                return status, body.encode(), "application/json"
            status = self._status
        if path.split("?")[0].endswith("/Messages.json"):
            body = jsonlib.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued"})
            return status or 201, body.encode(), "application/json"
        return status or 200, b"{}", "application/json"


def sign_standard_webhook(secret, msg_id, timestamp, body):
    """The Standard Webhooks signature header value, "v1,<base64>"."""
    if isinstance(body, str):
        body = body.encode()
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_standard_webhook(req, secret, tolerance=None, now=None):
    """True if req (a RecordedRequest, or anything with .headers and .body)
    carries a valid Standard Webhooks signature for secret ("whsec_...").

    Any one of several space-separated signatures may match (secret
    rotation). tolerance (seconds) also checks webhook-timestamp against now
    (default: the wall clock); it is off by default because under the test
    clock the daemon's timestamps are simulated time.
    """
    msg_id = req.headers.get("webhook-id")
    ts = req.headers.get("webhook-timestamp")
    sigs = req.headers.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        return False
    if tolerance is not None:
        try:
            skew = abs((now if now is not None else time.time()) - int(ts))
        except ValueError:
            return False
        if skew > tolerance:
            return False
    expected = sign_standard_webhook(secret, msg_id, ts, req.body)
    return any(hmac.compare_digest(s, expected)
               for s in sigs.split(" ") if s.startswith("v1,"))


# --------------------------------------------------------------------------
# SMTP receiver


class ReceivedMail:
    def __init__(self, mail_from, rcpt_tos, data):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data  # the raw message bytes, as sent after DATA
        self.time = time.time()

    @property
    def message(self):
        """The parsed email.message.EmailMessage."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def parts(self, content_type):
        """All MIME parts of the given type (e.g. "text/calendar")."""
        return [p for p in self.message.walk() if p.get_content_type() == content_type]

    def __repr__(self):
        return f"<mail from {self.mail_from} to {self.rcpt_tos}, {len(self.data)} bytes>"


class _SmtpHandler:
    def __init__(self, receiver):
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope):
        reply = self.receiver._take_failure()
        if reply:
            return reply
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.receiver._record(ReceivedMail(envelope.mail_from, envelope.rcpt_tos, data))
        return "250 2.0.0 OK"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message.

    .messages is the list of ReceivedMail; .url is "smtp://127.0.0.1:PORT".
    fail_next(n, reply) answers the next n DATA commands with reply.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.messages = []
        self._fail_count = 0
        self._fail_reply = None
        self.port = free_port()
        self.host = "127.0.0.1"
        self._controller = None
        self.up()
        self.url = f"smtp://{self.host}:{self.port}"

    def up(self):
        """Listen (again) on the same port."""
        from aiosmtpd.controller import Controller

        if self._controller is not None:
            return
        self._controller = Controller(_SmtpHandler(self), hostname=self.host,
                                      port=self.port, enable_SMTPUTF8=True)
        self._controller.start()

    def down(self):
        """Stop listening: senders see 'connection refused' until up()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self):
        self.down()

    def fail_next(self, n, reply="451 4.3.0 Try again later"):
        with self._lock:
            self._fail_count = n
            self._fail_reply = reply

    def clear(self):
        with self._lock:
            self.messages.clear()

    def wait_for(self, n, timeout=10):
        def enough():
            with self._lock:
                got = list(self.messages)
            return got if len(got) >= n else None
        return wait_until(enough, timeout=timeout, msg=f"{n} mails at the SMTP receiver")

    def _take_failure(self):
        with self._lock:
            if self._fail_count > 0:
                self._fail_count -= 1
                return self._fail_reply
        return None

    def _record(self, mail):
        with self._lock:
            self.messages.append(mail)
