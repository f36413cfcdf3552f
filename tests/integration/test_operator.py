"""What an operator relies on: --check-config finding every problem at once,
SIGHUP reloading what it can, a log that an outage does not flood, and man
pages that match the daemon's one config table."""
import http.client
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from helpers import (MariaDB, make_agent, new_daemon, verify_standard_webhook,
                     wait_until)
from util_api import assert_problem, book, booking, relaxed, unique_phone

REPO = Path(__file__).resolve().parents[2]
EX_CONFIG = 78


def binary():
    return os.environ.get("CBD_BINARY") or str(helpers.DEFAULT_BINARY)


def check_config(tmp_path, text, *extra):
    conf = tmp_path / "check.conf"
    conf.write_text(text)
    out = subprocess.run([binary(), "-c", str(conf), *extra], capture_output=True,
                         text=True, timeout=30)
    return out, str(conf)


def problems(out, path):
    """[(line, key, text)] of the "path:line: key: problem" lines."""
    found = []
    for ln in out.stderr.splitlines():
        m = re.match(re.escape(path) + r"(?::(\d+))?: (warning: )?(?:([a-z_0-9]+): )?(.*)$",
                     ln)
        if m:
            found.append((int(m.group(1) or 0), m.group(3) or "",
                          (m.group(2) or "") + m.group(4)))
    return found


# --------------------------------------------------------------------------
# --check-config


def test_check_config_reports_every_problem_in_file_order_with_its_line(tmp_path):
    out, path = check_config(tmp_path, (
        "# a comment\n"
        "listen_port = 70000\n"
        "\n"
        "frobnicate = 1\n"
        "log_level = chatty\n"
        "just some words\n"
        "\n"
        "max_body_bytes = lots\n"), "--check-config")
    assert out.returncode == EX_CONFIG, out.stderr
    found = problems(out, path)
    # Blank lines count, as in an editor.
    assert [(n, k) for n, k, _ in found] == [
        (2, "listen_port"), (4, "frobnicate"), (5, "log_level"), (6, ""),
        (8, "max_body_bytes")], out.stderr
    assert "5 errors" in out.stderr
    assert "valid" not in out.stdout


@pytest.mark.parametrize("text,line,key,words", [
    # Twilio without its credentials: each missing key is named.
    ("sms_mode = twilio\nsms_url = https://api.example.com\n", 1, "sms_mode",
     ["twilio_account_sid", "twilio_auth_token", "twilio_from"]),
    # A production daemon (no test clock) refuses unsigned webhooks.
    ("test_clock = false\n\nwebhook_url = https://hooks.example.com/in\n", 3,
     "webhook_url", ["webhook_secrets"]),
    ("test_clock = false\nsms_mode = webhook\nsms_url = https://sms.example.com\n", 2,
     "sms_mode", ["webhook_secrets"]),
    # Quiet hours with one end only: blamed on the line that emptied one.
    ("quiet_hours_end = 07:00\nquiet_hours_start =\n", 2, "quiet_hours_start",
     ["both ends"]),
    ("smtp_url = smtp://127.0.0.1:2525\nservice_email = callbacks\n", 2,
     "service_email", ["e-mail"]),
    ("webhook_secrets = whsec_QUJDREVGR0hJSktMTU5PUA==\nwebhook_url = ftp://x/y\n", 2,
     "webhook_url", ["http://"]),
    ("sms_mode = twilio\nsms_url = https://api.example.com\ntwilio_account_sid = AC1\n"
     "twilio_auth_token = t\ntwilio_from = 5551234\n", 5, "twilio_from", ["E.164"]),
    # Rules checked outside config.c (slots.c) get their line too.
    ("# zone\nslot_minutes = 7\n", 2, "slot_minutes", ["divide a day"]),
])
def test_check_config_refuses_keys_that_cannot_work_together(tmp_path, text, line, key,
                                                              words):
    out, path = check_config(tmp_path, text, "--check-config")
    assert out.returncode == EX_CONFIG, out.stderr
    found = [p for p in problems(out, path) if p[0] == line and p[1] == key
             and not p[2].startswith("warning")]
    assert found, out.stderr
    text_of = " ".join(p[2] for p in found)
    for w in words:
        assert w in text_of, out.stderr


def test_check_config_warnings_leave_the_config_valid(tmp_path):
    out, path = check_config(tmp_path, (
        "listen_port = 8081\n"
        "test_clock = true\n"
        "webhook_url = http://127.0.0.1:9/hook\n"
        "listen_port = 8082\n"), "--check-config")
    assert out.returncode == 0, out.stderr
    assert "is valid (3 warnings)" in out.stdout, out.stdout
    found = problems(out, path)
    assert [(n, k) for n, k, _ in found] == [
        (2, "test_clock"), (3, "webhook_url"), (4, "listen_port")], out.stderr
    assert all(t.startswith("warning: ") for _, _, t in found), out.stderr


def test_the_daemon_does_not_start_on_a_bad_config_and_says_every_problem(tmp_path):
    out, path = check_config(tmp_path, "listen_port = 0\nsms_mode = pigeon\n"
                                       "site_timezone = Mars/Base\n")
    assert out.returncode == EX_CONFIG, out.stderr
    assert [(n, k) for n, k, _ in problems(out, path)] == [
        (1, "listen_port"), (2, "sms_mode"), (3, "site_timezone")], out.stderr


# --------------------------------------------------------------------------
# SIGHUP


def edit_config(d, **changes):
    """Rewrite d's config file with changes (key=value) in place of the
    lines that set those keys."""
    lines = Path(d.conf_path).read_text().splitlines()
    kept = [ln for ln in lines if ln.split("=")[0].strip() not in changes]
    kept += [f"{k} = {helpers._conf_value(v)}" for k, v in changes.items()]
    Path(d.conf_path).write_text("\n".join(kept) + "\n")


def reload(d, mark):
    """SIGHUP d and wait for the line that says how the reload ended; mark
    is how many such lines the log held before."""
    os.kill(d.proc.pid, signal.SIGHUP)
    done = re.compile(r'msg="config (reloaded|reload refused, old config kept)"')

    def ended():
        return len(done.findall(d.log_text())) > mark
    wait_until(ended, timeout=10, msg="a log line on how the reload ended")


def reload_lines(d):
    return len(re.findall(r'msg="config (reloaded|reload refused, old config kept)"',
                          d.log_text()))


def keep_alive_request(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return r.status


def test_sighup_reloads_limits_and_log_level_without_dropping_connections(
        daemon_factory):
    d = daemon_factory(relaxed(log_level="info"))
    make_agent(d, "alice")
    phone = unique_phone()
    for _ in range(2):
        book(d, booking(phone=phone, force_new=True))
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    assert keep_alive_request(conn, "/healthz") == 200
    sock = conn.sock
    assert 'level=debug' not in d.log_text()

    edit_config(d, rate_phone_per_hour=1, log_level="debug",
                listen_port=helpers.free_port(), store_threads=2)
    reload(d, reload_lines(d))
    log = d.log_text()
    for key in ("rate_phone_per_hour", "log_level"):
        assert f'msg="config key reloaded" key={key}' in log, log[-3000:]
    # What cannot change in a running daemon is named, and keeps its value.
    for key in ("listen_port", "store_threads"):
        assert f'msg="config key changed but needs a restart" key={key}' in log, log[-3000:]
    assert "needs_restart=2" in log

    # The same connection goes on, on the old port.
    assert keep_alive_request(conn, "/healthz") == 200
    assert conn.sock is sock, "the reload dropped a kept-alive connection"
    conn.close()
    # The new limit holds at once: this phone booked twice this hour.
    r = d.req("POST", "/v1/callbacks", json=booking(phone=phone, force_new=True))
    assert_problem(r, 429, "/problems/rate-limited", "customer.phone")
    # And debug lines now appear.
    d.req("GET", "/healthz")
    wait_until(lambda: "level=debug" in d.log_text(), timeout=5,
               msg="debug lines after log_level = debug")


def test_sighup_with_a_bad_config_keeps_the_old_one(daemon_factory):
    d = daemon_factory(relaxed())
    make_agent(d, "alice")
    phone = unique_phone()
    book(d, booking(phone=phone, force_new=True))
    edit_config(d, rate_phone_per_hour=1, sms_mode="pigeon", max_attempts=0)
    reload(d, reload_lines(d))
    log = d.log_text()
    # Every problem is logged, each on its line, none held as a repeat.
    for key in ("sms_mode", "max_attempts"):
        assert re.search(r'level=error msg="config reload refused, old config kept" '
                         r'file=\S+ line=\d+ key=' + key, log), log[-3000:]
    assert 'msg="config key reloaded"' not in log
    # The old limit (none) still holds.
    book(d, booking(phone=phone, force_new=True))
    assert d.is_running()


def test_sighup_rotates_the_webhook_secret(daemon_factory, webhook_receiver):
    rx = webhook_receiver
    old, new = "whsec_" + "A" * 32, "whsec_" + "B" * 32
    d = daemon_factory(relaxed(webhook_url=rx.url + "/events", webhook_secrets=old,
                               outbox_poll_ms=50))
    make_agent(d, "alice")

    def booked_events():
        return [q for q in rx.matching("/events") if q.json().get("type") == "callback.booked"]
    book(d)
    wait_until(lambda: len(booked_events()) >= 1, timeout=15, msg="first callback.booked")
    assert verify_standard_webhook(booked_events()[0], old)

    edit_config(d, webhook_secrets=new)
    reload(d, reload_lines(d))
    assert 'msg="config key reloaded" key=webhook_secrets' in d.log_text()
    book(d)
    wait_until(lambda: len(booked_events()) >= 2, timeout=15, msg="second callback.booked")
    second = booked_events()[1]
    assert verify_standard_webhook(second, new)
    assert not verify_standard_webhook(second, old)
    # The secret itself is never logged.
    assert "B" * 32 not in d.log_text()


# --------------------------------------------------------------------------
# Log repeats


@pytest.fixture
def own_mariadb():
    """A MariaDB of this test's own, so stopping it hurts no other test."""
    server = MariaDB.start_private()
    yield server
    server.stop()


def _mariadb_local(cmd, directory):
    out = subprocess.run([str(helpers.MARIADB_LOCAL), cmd, directory], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"mariadb-local {cmd}: {out.stdout}{out.stderr}"


def _metric(text, name, **labels):
    for ln in text.splitlines():
        if not ln.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in ln for k, v in labels.items()):
            return float(ln.rsplit(" ", 1)[1])
    return None


def test_a_database_outage_is_logged_once_per_interval_not_per_poll(own_mariadb,
                                                                     tmp_path):
    dbname = helpers.new_dbname()
    own_mariadb.create_database(dbname)
    d = new_daemon(tmp_path, own_mariadb, dbname, extra=relaxed(
        store_threads=2, outbox_poll_ms=20, log_repeat_interval_sec=2))
    try:
        make_agent(d, "alice")
        before = len(d.log_text().splitlines())
        _mariadb_local("stop", own_mariadb.dir)
        claim = 'msg="outbox claim failed"'
        wait_until(lambda: claim in d.log_text(), timeout=15,
                   msg="the first 'outbox claim failed'")
        # Two whole intervals of outage: the dispatcher polls every 20 ms.
        wait_until(lambda: d.log_text().count("repeated=") >= 2, timeout=20,
                   msg="two interval summaries")
        _mariadb_local("start", own_mariadb.dir)
        lines = d.log_text().splitlines()[before:]
        claims = [ln for ln in lines if claim in ln]
        written = [ln for ln in claims if "repeated=" not in ln]
        summaries = [ln for ln in claims if "repeated=" in ln]
        # One line, then one count per interval, instead of ~50 a second.
        assert len(written) == 1, "\n".join(claims)
        assert summaries, "\n".join(claims)
        held = sum(int(re.search(r"repeated=(\d+)", s).group(1)) for s in summaries)
        assert held >= 10, "\n".join(claims)
        assert all("interval_sec=2" in s and "error=" in s for s in summaries)
        noisy = [ln for ln in lines if "level=warn" in ln or "level=error" in ln]
        assert len(noisy) < 40, "\n".join(noisy)
        # /metrics keeps the count of every one, written or held.
        r = d.req("GET", "/metrics")
        n = _metric(r.text, "callbackd_log_errors_total", level="warn",
                    kind="outbox claim failed")
        assert n is not None and n >= len(written) + held, r.text[-2000:]

        def booked():
            r = d.req("POST", "/v1/callbacks", json=booking(), timeout=15)
            return r.status_code == 201
        wait_until(booked, timeout=20, interval=0.2, msg="a booking after the outage")
    finally:
        try:
            d.finish()
        finally:
            own_mariadb.drop_database(dbname)


# --------------------------------------------------------------------------
# Man pages: the key reference is made from the config table; the text
# written by hand may name only keys and options that exist.


def _table_keys():
    out = subprocess.run([binary(), "--help-config"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0
    return [ln.split()[0] for ln in out.stdout.splitlines() if ln and not ln[0].isspace()]


def _config_doc():
    out = subprocess.run([binary(), "--config-doc"], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0
    return out.stdout


def _bold_words(roff):
    """Words set in bold in roff source: .B/.BR/.BI arguments and \\fB..\\fR."""
    words = set()
    for ln in roff.splitlines():
        if re.match(r"\.B[RI]? ", ln):
            words.update(w.strip('"') for w in ln.split()[1:])
        words.update(re.findall(r"\\fB([^\\]+)\\f[RP]", ln))
    return words


def test_conf_man_page_documents_every_key_and_no_other():
    keys = _table_keys()
    doc = _config_doc()
    documented = re.findall(r"^\.TP\n\.B (\S+)$", doc, re.M)
    assert [k.replace("\\-", "-") for k in documented] == keys
    for k in keys:
        assert f".B {k}\n(" in doc
    # The page the build installs is exactly head + table + tail.
    built = Path(binary()).parent / "doc" / "callbackd.conf.5"
    if built.exists():
        expected = ((REPO / "doc" / "callbackd.conf.5.head").read_text() + doc
                    + (REPO / "doc" / "callbackd.conf.5.tail").read_text())
        assert built.read_text() == expected, "doc/callbackd.conf.5 is stale: make"


def test_hand_written_docs_name_only_keys_that_exist():
    keys = set(_table_keys())
    key_like = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")
    for name in ("callbackd.8", "callbackd.conf.5.head", "callbackd.conf.5.tail"):
        for w in _bold_words((REPO / "doc" / name).read_text()):
            w = w.rstrip(",.;:")
            if key_like.match(w):
                assert w in keys, f"doc/{name} names {w}, which is no config key"
    example = (REPO / "contrib" / "callbackd.conf.example").read_text()
    # Each key set, or shown commented out ("# key =") with its default.
    set_keys = re.findall(r"^(?:# )?([a-z_0-9]+) =", example, re.M)
    assert set(set_keys) == keys, (set(set_keys) ^ keys)


def test_callbackd_8_documents_every_option_and_exit_status():
    page = (REPO / "doc" / "callbackd.8").read_text().replace("\\-", "-")
    usage = subprocess.run([binary(), "--help"], capture_output=True, text=True,
                           timeout=10).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", usage))
    assert options, usage
    for opt in options:
        assert opt in page, f"callbackd(8) does not document {opt}"
    for opt in set(re.findall(r"(--[a-z][a-z-]+)", page)) - {"--now"}:
        assert opt in usage, f"callbackd(8) documents {opt}, which --help lacks"
    exits = re.search(r"^\.SH EXIT STATUS$(.*?)^\.SH ", page, re.M | re.S).group(1)
    for code in ("0", "1", "2", str(EX_CONFIG)):
        assert f".B {code}\n" in exits
