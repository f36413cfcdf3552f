"""Authorization matrix: every route declared in src/api_*.c, called as
nobody, as a customer (a real manage token), with an agent's calendar feed
token (where that role exists), and with agent, lead and admin keys. The route list and each route's roles are read from the C tables, so
a new route is covered as soon as it is declared.

Expected: a caller whose role the route allows never gets 401 or 403; a
caller without credentials gets 401; a credential of another role gets 403.
No call may end in a 5xx.
"""

import itertools
import re
from datetime import datetime, timezone

import pytest

import helpers
from helpers import Sql, make_agent, make_key, new_daemon
from util_api import (assert_problem, booking, hour_slot, parse_routes,
                      relaxed, role_names, unique_name, unique_phone)

ROUTES = parse_routes()
ROLES = role_names()
# Every kind of caller the daemon knows: nobody, a customer's manage token,
# an agent's calendar feed token (when that role exists) and the three keys.
CALLERS = ("none", "customer") + (("feed",) if "feed" in ROLES else ()) + \
    ("agent", "lead", "admin")


def test_route_tables_were_found():
    paths = {(r.method, r.path) for r in ROUTES}
    # A few routes the contract names; if these are missing the parser broke.
    for want in (("POST", "/v1/callbacks"), ("GET", "/v1/callbacks/:id"),
                 ("GET", "/healthz"), ("POST", "/v1/keys"), ("GET", "/v1/me/queue")):
        assert want in paths, f"{want} not parsed from src/api_*.c"
    assert {"public", "customer", "agent", "lead", "admin"} <= ROLES
    for r in ROUTES:
        assert r.roles, f"{r} has no roles"
        assert r.roles <= ROLES, r
    # Every role a route can grant has a caller in the matrix.
    assert ROLES - {"public"} <= set(CALLERS), (ROLES, CALLERS)


class World:
    """One daemon with one agent, a lead key, and a booked callback."""

    def __init__(self, mariadb, workdir):
        self.mariadb = mariadb
        self.dbname = helpers.new_dbname()
        self.daemon = self.sql = None
        mariadb.create_database(self.dbname)
        try:
            self._setup(workdir)
        except BaseException:
            self.close()
            raise

    def _setup(self, workdir):
        mariadb = self.mariadb
        self.daemon = new_daemon(workdir, mariadb, self.dbname, extra=relaxed())
        self.sql = Sql(mariadb, self.dbname)
        self.slots = itertools.count()
        self.t0 = datetime.now(timezone.utc)
        d = self.daemon
        self.agent, self.agent_key = make_agent(d, "matrix-agent")
        # The lead runs the matrix agent's team, so may manage its keys.
        self.lead_key = make_key(d, "lead", "matrix-lead", team=self.agent["team"])
        self.phone = unique_phone()
        self.callback_id, self.token = self.fresh_callback(self.phone)
        self.case_id = self.sql.scalar("SELECT case_id FROM callbacks WHERE id = %s",
                                       (self.callback_id,))
        self.customer_id = self.sql.scalar("SELECT customer_id FROM callbacks WHERE id = %s",
                                           (self.callback_id,))

    def fresh_callback(self, phone=None):
        # Each in a slot of its own, so none is ever full.
        r = self.daemon.req("POST", "/v1/callbacks",
                            json=booking(phone=phone, when=self.slot()))
        assert r.status_code == 201, r.text
        b = r.json()
        # The matrix is about roles: the agent key must own what it touches.
        owner = self.sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (b["id"],))
        assert owner == self.agent["id"], "a route created another active agent"
        return b["id"], b["manage_token"]

    def slot(self):
        """A bookable time no other booking of this module uses."""
        return hour_slot(next(self.slots), now=self.t0)

    def fresh_key_id(self):
        # An agent key of the lead's team: leads may revoke those.
        r = self.daemon.admin("POST", "/v1/keys", json={"role": "agent", "name": unique_name("spare"),
                                                        "agent_id": self.agent["id"]})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def fresh_feed_token(self):
        """The matrix agent's calendar feed token, new each time (a route in
        the matrix may rotate it)."""
        r = self.daemon.admin("POST", f"/v1/agents/{self.agent['id']}/feed-token")
        if r.status_code != 201:
            pytest.skip(f"no feed token to be had: {r.status_code} {r.text[:200]}")
        return r.json()["token"]

    def close(self):
        try:
            if self.daemon is not None:
                self.daemon.finish()
        finally:
            if self.sql is not None:
                self.sql.close()
            self.mariadb.drop_database(self.dbname)


@pytest.fixture(scope="module")
def world(mariadb, tmp_path_factory):
    w = World(mariadb, tmp_path_factory.mktemp("authz"))
    yield w
    w.close()


def sample_body(world, route):
    """A valid body for the routes we know, so that an allowed call gets
    past validation; {} for the rest."""
    key = (route.method, route.path)
    if key == ("POST", "/v1/callbacks"):
        return booking(phone=unique_phone())
    if key == ("PATCH", "/v1/callbacks/:id"):
        return {"when": world.slot()}
    if key == ("POST", "/v1/agents"):
        # Inactive, so bookings keep going to the matrix agent.
        return {"name": unique_name("m"), "display_name": "M", "timezone": "UTC",
                "active": False}
    if key == ("PATCH", "/v1/agents/:id"):
        return {"team": "blue"}
    if key == ("POST", "/v1/keys"):
        return {"role": "agent", "name": unique_name("k"), "agent_id": world.agent["id"]}
    if key == ("POST", "/v1/test/clock"):
        return {"advance_sec": 0}
    if key == ("PUT", "/v1/agents/:id/shifts"):
        return {"shifts": []}
    if key == ("POST", "/v1/cases/:id/notes"):
        return {"text": "Called, left a message."}
    if key == ("POST", "/v1/callbacks/:id/outcome"):
        return {"result": "no_answer"}
    if route.method in ("POST", "PUT", "PATCH"):
        return {}
    return None


def sample_query(world, route):
    if (route.method, route.path) == ("GET", "/v1/customers"):
        return {"phone": world.phone}
    return None


def resolve(world, route):
    """The route's path with real ids, and the manage token that fits it."""
    token = world.token
    segs = route.path.split("/")
    for i, seg in enumerate(segs):
        if not seg.startswith(":"):
            continue
        parent = segs[i - 1] if i > 0 else ""
        if parent == "callbacks":
            cid, token = world.fresh_callback()
            segs[i] = str(cid)
        elif parent == "keys":
            segs[i] = str(world.fresh_key_id())
        elif parent == "agents":
            segs[i] = str(world.agent["id"])
        elif parent == "cases":
            segs[i] = str(world.case_id)
        elif parent == "customers":
            segs[i] = str(world.customer_id)
        else:
            segs[i] = str(world.callback_id)
    return "/".join(segs), token


def credential(world, caller, token):
    if caller == "feed":
        return world.fresh_feed_token()
    return {
        "none": None,
        "customer": token,
        "agent": world.agent_key,
        "lead": world.lead_key,
        "admin": world.daemon.admin_key,
    }[caller]


CASES = [pytest.param(r, c, id=f"{r.method} {r.path} as {c}") for r in ROUTES for c in CALLERS]


@pytest.mark.parametrize("route,caller", CASES)
def test_route_authorization(world, route, caller):
    path, token = resolve(world, route)
    body = sample_body(world, route)
    r = world.daemon.req(route.method, path, key=credential(world, caller, token), json=body,
                         params=sample_query(world, route))
    allowed = "public" in route.roles or caller in route.roles
    assert r.status_code < 500, f"{route.method} {path} as {caller}: {r.status_code} {r.text[:500]}"
    if "HTTP_F_SIGNED" in route.flags:
        # The SMS provider's endpoints: its signature is the credential, and
        # no caller here holds it (test_sms_replies.py signs, both ways).
        assert r.status_code in (401, 403, 415), \
            f"{route.method} {path} unsigned as {caller}: {r.status_code} {r.text[:500]}"
        return
    if allowed:
        assert r.status_code not in (401, 403), \
            f"{caller} is allowed on {route} ({sorted(route.roles)}) but got " \
            f"{r.status_code}: {r.text[:500]}"
    elif caller == "none":
        assert_problem(r, 401, "/problems/unauthorized")
    else:
        assert_problem(r, 403, "/problems/forbidden")


# --------------------------------------------------------------------------
# Credentials that are not valid at all


def test_revoked_key_is_401(world):
    d = world.daemon
    r = d.admin("POST", "/v1/keys", json={"role": "lead", "name": "soon-gone"})
    assert r.status_code == 201, r.text
    kid, key = r.json()["id"], r.json()["key"]
    assert d.req("GET", "/v1/agents", key=key).status_code == 200
    r = d.admin("DELETE", f"/v1/keys/{kid}")
    assert r.status_code == 204, r.text
    assert_problem(d.req("GET", "/v1/agents", key=key), 401, "/problems/unauthorized")
    assert_problem(d.req("POST", "/v1/agents", key=key,
                         json={"name": unique_name(), "display_name": "X", "timezone": "UTC"}),
                   401, "/problems/unauthorized")
    # Revoking twice: no such active key.
    assert_problem(d.admin("DELETE", f"/v1/keys/{kid}"), 404, "/problems/not-found")


def test_revoked_agent_key_loses_its_queue(world):
    d = world.daemon
    r = d.admin("POST", "/v1/keys", json={"role": "agent", "name": "old-phone",
                                          "agent_id": world.agent["id"]})
    assert r.status_code == 201, r.text
    kid, key = r.json()["id"], r.json()["key"]
    assert d.req("GET", "/v1/me/queue", key=key).status_code == 200
    assert d.admin("DELETE", f"/v1/keys/{kid}").status_code == 204
    assert_problem(d.req("GET", "/v1/me/queue", key=key), 401, "/problems/unauthorized")


@pytest.mark.parametrize("auth", [
    "Bearer hello",
    "Bearer " + "x" * 64,
    "Bearer cbk",
    "Bearer cbk_",
    "Bearer cbk_" + "A" * 43,
    "Bearer  cbk_nope",
    "Bearer",
    "Basic YWRtaW46YWRtaW4=",
    "cbk_" + "A" * 43,
], ids=["word", "long-garbage", "prefix-without-underscore", "bare-prefix",
        "unknown-cbk-key", "unknown-cbk-extra-space", "empty-bearer", "basic-auth",
        "no-scheme"])
@pytest.mark.parametrize("method,path", [("GET", "/v1/agents"), ("GET", "/v1/me/queue"),
                                         ("GET", "/v1/keys")])
def test_invalid_credentials_are_401(world, auth, method, path):
    r = world.daemon.req(method, path, headers={"Authorization": auth})
    assert_problem(r, 401, "/problems/unauthorized")


def test_admin_key_is_not_a_prefix_match(world):
    # A key with something appended or cut off is another key.
    key = world.daemon.admin_key
    for bad in (key + "x", key[:-1], key.upper()):
        assert_problem(world.daemon.req("GET", "/v1/keys", key=bad), 401,
                       "/problems/unauthorized")


def test_customer_token_on_staff_routes_is_403(world):
    d = world.daemon
    for method, path in (("GET", "/v1/agents"), ("GET", "/v1/keys"), ("GET", "/v1/me/queue")):
        assert_problem(d.req(method, path, key=world.token), 403, "/problems/forbidden")


def test_unknown_key_is_401_even_with_an_invalid_body(world):
    # Authentication comes before validation: an unknown caller learns
    # nothing about what a valid body would be.
    r = world.daemon.req("POST", "/v1/agents", key="cbk_" + "Z" * 43, json={})
    assert_problem(r, 401, "/problems/unauthorized")
    r = world.daemon.req("POST", "/v1/keys", key="cbk_" + "Z" * 43, json={"role": "root"})
    assert_problem(r, 401, "/problems/unauthorized")


def test_wrong_role_is_403_even_with_an_invalid_body(world):
    r = world.daemon.req("POST", "/v1/agents", key=world.agent_key, json={})
    assert_problem(r, 403, "/problems/forbidden")
    r = world.daemon.req("POST", "/v1/keys", key=world.agent_key, json={"name": "x"})
    assert_problem(r, 403, "/problems/forbidden")


@pytest.mark.parametrize("role", ["agent", "lead"])
def test_forbidden_answer_names_the_role(world, role):
    # The 403 from the role check is a full problem: its detail says which
    # kind of key was refused.
    key = world.agent_key if role == "agent" else world.lead_key
    for _ in range(3):
        r = world.daemon.req("GET", "/v1/keys", key=key)
        p = assert_problem(r, 403, "/problems/forbidden")
        assert role in p["detail"], p


def test_staff_keys_are_not_accepted_in_the_query_string(world):
    # ?token= is for customers' links; staff keys in URLs end up in access
    # logs and Referer headers.
    r = world.daemon.req("GET", "/v1/keys", params={"token": world.daemon.admin_key})
    assert_problem(r, 401, "/problems/unauthorized")


def test_role_of_each_key_is_what_it_was_created_with(world):
    # Sanity of the fixtures the matrix relies on.
    keys = world.daemon.admin("GET", "/v1/keys", params={"limit": 200}).json()["items"]
    roles = {k["name"]: k["role"] for k in keys}
    assert roles["matrix-agent"] == "agent"
    assert roles["matrix-lead"] == "lead"
    assert re.match(r"^cbk_[A-Za-z0-9_-]{20,}$", world.daemon.admin_key)
