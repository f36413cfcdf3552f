"""Small API helpers shared by the integration tests: bookings, problem
checks, row counts, time strings and the route tables read from the C
sources. Plain functions; the fixtures stay in conftest.py."""

import functools
import itertools
import os
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import helpers

SRC_DIR = helpers.REPO_ROOT / "src"

PROBLEM_TYPE = "application/problem+json"

# Tables a booking or a change writes to.
COUNTED_TABLES = ("callbacks", "customers", "cases", "outbox", "events")

_phone_seq = itertools.count(1)


def unique_phone():
    """A valid E.164 number not used before in this test process."""
    return "+4473%08d" % next(_phone_seq)


_name_seq = itertools.count(1)


def unique_name(prefix="agent"):
    return f"{prefix}-{int(time.time() * 1000) % 100000000}-{next(_name_seq)}"


def rfc3339(dt):
    """A UTC datetime as RFC 3339 with Z."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_now(seconds=0, days=0):
    """RFC 3339 for the wall clock plus an offset (daemon clock not set)."""
    return rfc3339(datetime.now(timezone.utc) + timedelta(seconds=seconds, days=days))


def hour_slot(i, days=2, now=None):
    """RFC 3339 for the top of the hour days ahead, plus i hours: distinct
    bookable slots for tests that book many scheduled callbacks. Pass the
    same now to every call of one series, so that the hour turning over
    mid-test cannot make two of them the same."""
    t = (now or datetime.now(timezone.utc)) + timedelta(days=days)
    t = t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=i)
    return rfc3339(t)


def binary():
    return os.environ.get("CBD_BINARY") or str(helpers.DEFAULT_BINARY)


@functools.lru_cache(maxsize=None)
def config_keys(path=None):
    """The config keys the daemon under test knows (from --help-config)."""
    out = subprocess.run([path or binary(), "--help-config"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return frozenset(m.group(1) for m in
                     re.finditer(r"^([a-z0-9_]+)\s+(?:string|integer|boolean)\b",
                                 out.stdout, re.M))


# Booking rules that limit how many bookings tests may make from one
# address or phone, and how many connections one address may hold (every
# test client is 127.0.0.1); off where a test books in bulk (keys this
# build does not know are left out).
RELAXED = {"rate_ip_per_10min": 0, "rate_phone_per_hour": 0,
           "max_connections_per_addr": 0}


def relaxed(**extra):
    """Config extras for daemons that take many bookings from 127.0.0.1."""
    conf = dict(RELAXED, **extra)
    known = config_keys()
    return {k: v for k, v in conf.items() if k in known or k in extra}


def booking(phone=None, when="asap", name="Ada Lovelace", tz="Europe/London",
            topic="Billing question", email=None, notify=None, **extra):
    """A valid POST /v1/callbacks body; keyword arguments add or override."""
    customer = {"name": name, "phone": phone or unique_phone(), "timezone": tz}
    if email is not None:
        customer["email"] = email
    body = {"customer": customer, "topic": topic, "when": when}
    if notify is not None:
        body["notify"] = notify
    body.update(extra)
    return body


def book(daemon, body=None, expect=(201,), headers=None, **kwargs):
    """POST /v1/callbacks; asserts the status is one of expect and returns
    the response."""
    r = daemon.req("POST", "/v1/callbacks", json=body or booking(**kwargs),
                   headers=headers)
    assert r.status_code in expect, f"booking -> {r.status_code}: {r.text[:1000]}"
    return r


def assert_problem(r, status, ptype, field=None):
    """r is an RFC 9457 problem with this status and type (and, when field is
    given, errors[0].field). Returns the parsed body."""
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url}: wanted {status} {ptype}, " \
        f"got {r.status_code}: {r.text[:1000]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == PROBLEM_TYPE, f"Content-Type {ctype!r}"
    p = r.json()
    assert p["type"] == ptype, p
    assert p["status"] == status, p
    assert isinstance(p.get("title"), str) and p["title"], f"problem without title: {p}"
    assert isinstance(p.get("detail"), str) and p["detail"], f"problem without detail: {p}"
    if field is not None:
        assert p.get("errors"), f"no errors[] in {p}"
        assert p["errors"][0]["field"] == field, p
        assert p["errors"][0].get("message"), p
    return p


def row_counts(sql, tables=COUNTED_TABLES):
    return {t: sql.scalar(f"SELECT COUNT(*) FROM `{t}`") for t in tables}


def epoch(text):
    """Seconds since the epoch of an RFC 3339 time."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def utc_text(t):
    """RFC 3339 in UTC of epoch seconds t."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_to(daemon, now):
    """Set the simulated clock; returns the daemon's now in epoch seconds."""
    r = daemon.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text
    return epoch(r.json()["now"])


def clock_advance(daemon, sec):
    """Move the simulated clock on; returns the daemon's now."""
    r = daemon.admin("POST", "/v1/test/clock", json={"advance_sec": sec})
    assert r.status_code == 200, r.text
    return epoch(r.json()["now"])


def set_clock(daemon, now):
    """Set the daemon's simulated clock (test_clock must be on)."""
    r = daemon.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------
# Route tables, read from src/api_*.c

HTTP_H = helpers.REPO_ROOT / "include" / "http.h"

_ROUTE_RE = re.compile(
    r"\{\s*EVHTTP_REQ_([A-Z]+)\s*,\s*\"([^\"]+)\"\s*,\s*([A-Za-z0-9_|()\s]+?)\s*,"
    r"\s*([A-Za-z0-9_|()\s]+?)\s*,\s*\"([^\"]+)\"")
_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Z0-9_]+)[ \t]+(\(?[A-Z0-9_|() \t]+\)?)[ \t]*$",
                        re.M)
_ROLE_ENUM_RE = re.compile(r"\b(HTTP_ROLE_([A-Z0-9_]+))\s*=\s*1\s*<<\s*\d+")


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def role_bits(http_h=HTTP_H):
    """{"HTTP_ROLE_AGENT": {"agent"}, ...} from the enum in include/http.h,
    plus its role macros (HTTP_ROLES_STAFF ...) as raw expressions."""
    text = _strip_comments(Path(http_h).read_text())
    bits = {m.group(1): {m.group(2).lower()} for m in _ROLE_ENUM_RE.finditer(text)}
    macros = {m.group(1): m.group(2) for m in _DEFINE_RE.finditer(text)
              if "HTTP_ROLE" in m.group(2)}
    return bits, macros


def role_names(http_h=HTTP_H):
    bits, _ = role_bits(http_h)
    return set().union(*bits.values())


def _resolve_roles(expr, bits, macros, seen=()):
    roles = set()
    for tok in re.split(r"[|()\s]+", expr):
        if not tok:
            continue
        if tok in bits:
            roles |= bits[tok]
        elif tok in macros and tok not in seen:
            roles |= _resolve_roles(macros[tok], bits, macros, seen + (tok,))
        else:
            raise ValueError(f"cannot resolve role expression {expr!r} (token {tok!r})")
    return roles


class Route:
    def __init__(self, method, path, roles, flags, name, source):
        self.method = method
        self.path = path
        self.roles = roles
        self.flags = flags
        self.name = name
        self.source = source

    def __repr__(self):
        return f"{self.method} {self.path}"


def parse_routes(src_dir=SRC_DIR, http_h=HTTP_H):
    """Every route declared in src/api_*.c, with its roles as a set of
    names from include/http.h ("public", "customer", "agent", ...)."""
    bits, common = role_bits(http_h)
    routes = []
    for path in sorted(Path(src_dir).glob("api_*.c")):
        # Comments dropped so commented-out rows do not count.
        text = _strip_comments(path.read_text())
        macros = dict(common)
        macros.update({m.group(1): m.group(2) for m in _DEFINE_RE.finditer(text)})
        for m in _ROUTE_RE.finditer(text):
            method, rpath, roles, flags, name = m.groups()
            routes.append(Route(method, rpath, _resolve_roles(roles, bits, macros),
                                flags.strip(), name, path.name))
    return routes
