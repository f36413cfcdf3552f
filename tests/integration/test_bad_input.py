"""Bad input, one case each: the exact status, an RFC 9457 problem with its
stable type and (where one field is at fault) errors[0].field, and a
database that is exactly as it was. Never a 5xx."""

import json
from datetime import datetime, timezone

import pytest

import helpers
from helpers import Sql, make_agent, new_daemon
from util_api import (COUNTED_TABLES, assert_problem, booking, from_now, hour_slot,
                      relaxed, row_counts)

TABLES = COUNTED_TABLES + ("agents", "api_keys", "idempotency")
T0 = datetime.now(timezone.utc)  # one base for every hour_slot() of this module
PHONE = "+13035550100"


class World:
    """One daemon with one agent and one booked callback."""

    def __init__(self, mariadb, workdir):
        self.mariadb = mariadb
        self.dbname = helpers.new_dbname()
        self.daemon = self.sql = None
        mariadb.create_database(self.dbname)
        try:
            self.daemon = new_daemon(workdir, mariadb, self.dbname, extra=relaxed())
            self.sql = Sql(mariadb, self.dbname)
            self.agent, self.agent_key = make_agent(self.daemon, "bad-input-agent")
            r = self.daemon.req("POST", "/v1/callbacks", json=booking(when=hour_slot(0, now=T0)))
            assert r.status_code == 201, r.text
            self.callback_id = r.json()["id"]
            self.token = r.json()["manage_token"]
        except BaseException:
            self.close()
            raise

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
    w = World(mariadb, tmp_path_factory.mktemp("bad-input"))
    yield w
    w.close()


def good(**over):
    """A valid booking body with changes: customer.X keys go to customer,
    a value of DROP removes the key."""
    body = booking(phone=PHONE, when=hour_slot(1, now=T0))
    for k, v in over.items():
        target, key = (body["customer"], k[len("customer_"):]) if k.startswith("customer_") \
            else (body, k)
        if v is DROP:
            target.pop(key, None)
        else:
            target[key] = v
    return body


DROP = object()


def raw(text):
    """A body sent byte for byte (str is encoded as UTF-8)."""
    return text.encode() if isinstance(text, str) else text


def valid_json_text(**over):
    return json.dumps(good(**over))


class Case:
    def __init__(self, id, status, ptype, field=None, *, method="POST", path="/v1/callbacks",
                 body=None, data=None, auth=None, headers=None, params=None):
        self.id = id
        self.status = status
        self.ptype = "/problems/" + ptype
        self.field = field
        self.method = method
        self.path = path
        self.body = body
        self.data = data
        self.auth = auth  # None, "admin" or "token"
        self.headers = headers or {}
        self.params = params


def _cases():
    C = Case
    return [
        # Not JSON, or not an object.
        C("malformed-json", 400, "invalid-json", "body", data=raw('{"customer": {"name": ')),
        C("json-array", 400, "invalid-json", "body", data=raw("[" + valid_json_text() + "]")),
        C("json-string", 400, "invalid-json", "body", data=raw('"asap"')),
        C("trailing-garbage", 400, "invalid-json", "body", data=raw(valid_json_text() + " x")),
        C("duplicate-top-level-key", 400, "invalid-json", "body",
          data=raw(valid_json_text()[:-1] + ', "topic": "again"}')),
        C("duplicate-customer-key", 400, "invalid-json", "body",
          data=raw('{"customer": {"name": "Ada", "phone": "+13035550100", "phone": '
                   '"+15550100101", "timezone": "UTC"}, "topic": "x", "when": "asap"}')),
        C("invalid-utf8-bytes", 400, "invalid-json", "body",
          data=b'{"customer": {"name": "Ad\xff\xfe", "phone": "+15550100100", '
               b'"timezone": "UTC"}, "topic": "x", "when": "asap"}'),
        C("nul-escape-in-string", 400, "invalid-json", "body",
          data=raw(valid_json_text(customer_name="Ada\x00"))),
        C("body-over-max-body-bytes", 413, "body-too-large", "body",
          data=raw(valid_json_text(topic="x" * 70000))),
        # Wrong types.
        C("phone-as-number", 400, "invalid-field", "customer.phone", body=good(customer_phone=15550100100)),
        C("notify-as-string", 400, "invalid-field", "notify", body=good(notify="sms")),
        C("when-as-number", 400, "invalid-field", "when", body=good(when=1894276800)),
        C("force-new-as-string", 400, "invalid-field", "force_new", body=good(force_new="yes")),
        C("customer-as-string", 400, "invalid-field", "customer", body=good(customer="Ada")),
        C("name-as-object", 400, "invalid-field", "customer.name", body=good(customer_name={"first": "Ada"})),
        C("topic-as-list", 400, "invalid-field", "topic", body=good(topic=["a"])),
        # Phone numbers.
        C("phone-without-plus", 400, "invalid-phone", "customer.phone", body=good(customer_phone="15550100100")),
        C("phone-with-letters", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+1555CALLNOW")),
        C("phone-too-short", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+123456")),
        C("phone-too-long", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+1234567890123456")),
        C("phone-over-length-limit", 400, "too-long", "customer.phone", body=good(customer_phone="+1 " + "2" * 40)),
        C("phone-not-a-number-of-its-country", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+15550100100")),
        C("phone-unknown-country-code", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+999999999999")),
        C("phone-landline-for-sms", 422, "phone-not-mobile", "customer.phone", body=good(customer_phone="+442079460018", notify=["sms"])),
        C("region-unknown", 400, "invalid-region", "customer.region", body=good(customer_region="XX")),
        C("language-not-bcp47", 400, "invalid-language", "customer.language", body=good(customer_language="english")),
        C("phone-leading-zero", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+0123456789")),
        C("phone-with-spaces", 400, "invalid-phone", "customer.phone", body=good(customer_phone="+1 555 0100")),
        # Time zones.
        C("tz-mars", 400, "invalid-timezone", "customer.timezone", body=good(customer_timezone="Mars/Olympus")),
        C("tz-empty", 400, "missing-field", "customer.timezone", body=good(customer_timezone="")),
        C("tz-offset", 400, "invalid-timezone", "customer.timezone", body=good(customer_timezone="+05:30")),
        # Times.
        C("time-in-past", 422, "time-in-past", "when", body=good(when=from_now(days=-1))),
        C("time-malformed", 400, "invalid-time", "when", body=good(when="tomorrow at 3")),
        C("time-without-offset", 400, "invalid-time", "when", body=good(when="2030-01-15T15:00:00")),
        C("time-feb-30", 400, "invalid-time", "when", body=good(when="2027-02-30T10:00:00Z")),
        C("time-hour-25", 400, "invalid-time", "when", body=good(when="2027-01-10T25:00:00Z")),
        C("time-asap-uppercase", 400, "invalid-time", "when", body=good(when="ASAP")),
        C("beyond-horizon", 422, "beyond-horizon", "when", body=good(when=from_now(days=61))),
        # Unknown, missing, blank, too long.
        C("unknown-top-level-field", 400, "unknown-field", "colour", body=good(colour="blue")),
        C("unknown-customer-field", 400, "unknown-field", "customer.age", body=good(customer_age=42)),
        C("missing-customer", 400, "missing-field", "customer", body=good(customer=DROP)),
        C("missing-when", 400, "missing-field", "when", body=good(when=DROP)),
        C("when-null", 400, "invalid-field", "when", body=good(when=None)),
        C("missing-topic", 400, "missing-field", "topic", body=good(topic=DROP)),
        C("missing-phone", 400, "missing-field", "customer.phone", body=good(customer_phone=DROP)),
        C("empty-body", 400, "missing-field", "customer", data=b""),
        C("name-101-chars", 400, "too-long", "customer.name", body=good(customer_name="a" * 101)),
        C("name-101-non-ascii-chars", 400, "too-long", "customer.name", body=good(customer_name="é" * 101)),
        C("topic-201-chars", 400, "too-long", "topic", body=good(topic="t" * 201)),
        C("blank-name", 400, "missing-field", "customer.name", body=good(customer_name="  \t ")),
        C("blank-topic", 400, "missing-field", "topic", body=good(topic=" ")),
        C("control-char-in-name", 400, "invalid-field", "customer.name", body=good(customer_name="Ada\u0007")),
        C("escape-char-in-topic", 400, "invalid-field", "topic", body=good(topic="x\u001b[31mred")),
        C("bad-email", 400, "invalid-email", "customer.email", body=good(customer_email="not-an-email")),
        # Notifications.
        C("notify-email-without-email", 400, "missing-field", "customer.email", body=good(notify=["email"])),
        C("notify-unknown-channel", 400, "invalid-field", "notify", body=good(notify=["fax"])),
        C("notify-number", 400, "invalid-field", "notify", body=good(notify=[1])),
        C("notify-too-many", 400, "invalid-field", "notify", body=good(notify=["sms", "sms", "sms"])),
        # Headers.
        C("idempotency-key-256-chars", 400, "invalid-header", "Idempotency-Key",
          body=good(), headers={"Idempotency-Key": "k" * 256}),
        # Listing agents.
        C("agents-limit-zero", 400, "invalid-query", "limit", method="GET", path="/v1/agents",
          auth="admin", params={"limit": "0"}),
        C("agents-limit-text", 400, "invalid-query", "limit", method="GET", path="/v1/agents",
          auth="admin", params={"limit": "ten"}),
        C("agents-limit-too-big", 400, "invalid-query", "limit", method="GET", path="/v1/agents",
          auth="admin", params={"limit": "201"}),
        C("agents-cursor-garbage", 400, "invalid-query", "cursor", method="GET", path="/v1/agents",
          auth="admin", params={"cursor": "xyz"}),
        C("agents-cursor-zero", 400, "invalid-query", "cursor", method="GET", path="/v1/agents",
          auth="admin", params={"cursor": "c0"}),
        # Rescheduling.
        C("patch-bad-when", 400, "invalid-time", "when", method="PATCH", path="/v1/callbacks/{cb}",
          auth="token", body={"when": "next tuesday"}),
        C("patch-past-when", 422, "time-in-past", "when", method="PATCH", path="/v1/callbacks/{cb}",
          auth="token", body={"when": from_now(days=-2)}),
        C("patch-missing-when", 400, "missing-field", "when", method="PATCH", path="/v1/callbacks/{cb}",
          auth="token", body={}),
        C("patch-unknown-field", 400, "unknown-field", "state", method="PATCH",
          path="/v1/callbacks/{cb}", auth="token", body={"state": "completed"}),
        C("patch-non-numeric-id", 404, "not-found", None, method="PATCH", path="/v1/callbacks/abc",
          auth="admin", body={"when": "asap"}),
        # Agents and keys.
        C("agent-patch-unknown-field", 400, "unknown-field", "nickname", method="PATCH",
          path="/v1/agents/{agent}", auth="admin", body={"nickname": "x"}),
        C("agent-patch-rename", 400, "invalid-field", "name", method="PATCH",
          path="/v1/agents/{agent}", auth="admin", body={"name": "other"}),
        C("agent-patch-negative-capacity", 400, "invalid-field", "capacity", method="PATCH",
          path="/v1/agents/{agent}", auth="admin", body={"capacity": -1}),
        C("agent-create-bad-timezone", 400, "invalid-timezone", "timezone", method="POST",
          path="/v1/agents", auth="admin",
          body={"name": "zed", "display_name": "Zed", "timezone": "Europe/Atlantis"}),
        C("agent-create-bad-name", 400, "invalid-field", "name", method="POST",
          path="/v1/agents", auth="admin",
          body={"name": "Zed Zed", "display_name": "Zed", "timezone": "UTC"}),
        C("agent-create-duplicate-name", 409, "agent-exists", "name", method="POST",
          path="/v1/agents", auth="admin",
          body={"name": "bad-input-agent", "display_name": "Again", "timezone": "UTC"}),
        C("key-bad-role", 400, "invalid-field", "role", method="POST", path="/v1/keys",
          auth="admin", body={"role": "root", "name": "x"}),
        C("key-agent-without-agent-id", 400, "missing-field", "agent_id", method="POST",
          path="/v1/keys", auth="admin", body={"role": "agent", "name": "x"}),
        C("key-unknown-agent", 400, "invalid-field", "agent_id", method="POST",
          path="/v1/keys", auth="admin", body={"role": "agent", "name": "x", "agent_id": 999999}),
        # Routing.
        C("unknown-path", 404, "not-found", None, method="GET", path="/v1/nope"),
        C("unknown-nested-path", 404, "not-found", None, method="GET",
          path="/v1/callbacks/{cb}/nope", auth="token"),
        C("wrong-method", 405, "method-not-allowed", None, method="PUT", path="/v1/callbacks",
          body=good()),
        C("wrong-method-on-item", 405, "method-not-allowed", None, method="POST",
          path="/v1/callbacks/{cb}", auth="token", body={}),
    ]


CASES = _cases()


def send(world, case):
    d = world.daemon
    path = case.path.format(cb=world.callback_id, agent=world.agent["id"])
    headers = dict(case.headers)
    key = {"admin": d.admin_key, "token": world.token, None: None}[case.auth]
    if case.data is not None:
        headers.setdefault("Content-Type", "application/json")
        return d.req(case.method, path, key=key, data=case.data, headers=headers,
                     params=case.params)
    return d.req(case.method, path, key=key, json=case.body, headers=headers,
                 params=case.params)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(world, case):
    before = row_counts(world.sql, TABLES)
    cb_before = world.sql.query("SELECT * FROM callbacks")
    r = send(world, case)
    assert r.status_code < 500, r.text
    assert_problem(r, case.status, case.ptype, case.field)
    assert row_counts(world.sql, TABLES) == before
    assert world.sql.query("SELECT * FROM callbacks") == cb_before


def test_valid_booking_from_the_same_template_is_accepted(world):
    # The cases above differ from a good request in one thing only: this
    # shows the template itself is good (and runs last: it writes).
    r = world.daemon.req("POST", "/v1/callbacks", json=good(customer_phone="+13035550999"))
    assert r.status_code == 201, r.text
    r = world.daemon.req("PATCH", f"/v1/callbacks/{world.callback_id}", key=world.token,
                         json={"when": hour_slot(2, now=T0)})
    assert r.status_code == 200, r.text
    r = world.daemon.req("POST", "/v1/callbacks",
                         json=good(customer_phone="+13035550998", customer_name="é" * 100,
                                   topic="t" * 200, when=from_now(days=59)))
    assert r.status_code == 201, r.text


def test_405_names_the_allowed_methods(world):
    # RFC 9110 section 15.5.6: a 405 response must carry Allow.
    r = world.daemon.req("PUT", "/v1/callbacks", json=good())
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert "POST" in allow, r.headers
