"""What a hostile client can and cannot do with the domain: a phone number
is no credential (no takeover of someone's callbacks, nothing learned about
them), texts cannot be bombed through reschedules or link requests, links
expire, agents who leave lose access at once, API key secrets never rest in
the idempotency table, shift rules cannot make slot queries spin, and
input at the edges is refused with a clear problem.

Each test drives the real daemon and checks MariaDB and the outbox."""

import json
import re
import time

import pytest

from helpers import make_key, wait_until
from util_api import (assert_problem, book, booking, clock_advance, clock_to,
                      epoch, hour_slot, row_counts, unique_phone)

NOW = "2030-01-10T12:00:00Z"


def outbox_rows(sql, callback_id):
    return sql.query("SELECT channel, kind, payload FROM outbox WHERE callback_id = %s "
                     "ORDER BY id", (callback_id,))


def customer_row(sql, phone):
    return sql.query("SELECT id, name, email, timezone, updated_at FROM customers "
                     "WHERE phone = %s", (phone,))


# --------------------------------------------------------------------------
# A phone number alone takes over nothing


def test_force_new_with_someone_elses_phone_redirects_none_of_their_messages(
        daemon_factory, sql, make_agent, smtp_receiver):
    d = daemon_factory({"smtp_url": smtp_receiver.url, "outbox_poll_ms": 50,
                        "sms_mode": "webhook", "sms_url": "http://127.0.0.1:9/sms",
                        "change_coalesce_sec": 0})
    clock_to(d, NOW)
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    lead = make_key(d, "lead", "lead-1")
    phone = unique_phone()
    victim = book(d, booking(phone=phone, name="Victoria Victim", email="victoria@example.com",
                             tz="Europe/London", when="2030-01-11T10:00:00Z",
                             notify=["email", "sms"])).json()
    before = customer_row(sql, phone)

    # The attacker knows only the phone number.
    attacker = book(d, booking(phone=phone, name="Mallory", email="mallory@example.net",
                               tz="Pacific/Auckland", when="2030-01-12T10:00:00Z",
                               notify=["email"], force_new=True)).json()
    assert customer_row(sql, phone) == before

    def victim_mails(n):
        # Each step's invite goes out before the next step, so a later
        # cancellation cannot withdraw it unsent.
        wait_until(lambda: len([m for m in smtp_receiver.messages
                                if m.rcpt_tos == ["victoria@example.com"]]) >= n,
                   timeout=30, msg=f"{n} invites to the victim")

    victim_mails(1)
    # Then the victim's own callback is moved, handed off and cancelled.
    r = d.req("PATCH", f"/v1/callbacks/{victim['id']}", key=victim["manage_token"],
              json={"when": "2030-01-11T11:00:00Z"})
    assert r.status_code == 200, r.text
    victim_mails(2)
    owner = sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (victim["id"],))
    other = sam["id"] if owner == alex["id"] else alex["id"]
    r = d.req("POST", "/v1/handoffs", key=lead,
              json={"callback_ids": [victim["id"]], "to_agent": other,
                    "note": {"summary": "s", "next_step": "n", "reason": "r"}})
    assert r.status_code == 201, r.text
    victim_mails(3)
    r = d.req("DELETE", f"/v1/callbacks/{victim['id']}", key=victim["manage_token"])
    assert r.status_code == 200, r.text
    victim_mails(4)

    rows = outbox_rows(sql, victim["id"])
    kinds = [row["kind"] for row in rows]
    for k in ("invite.request", "invite.cancel", "sms.rescheduled", "sms.owner_changed",
              "sms.cancelled"):
        assert k in kinds, kinds
    for row in rows:
        p = row["payload"]
        for leak in ("mallory", "Mallory", "Auckland"):
            assert leak not in p, (row["kind"], p)
        if row["channel"] == "email":
            assert json.loads(p)["to"] == "victoria@example.com", p
    # Four invites (booking, move, handoff, cancel) all reach the victim.
    mails = smtp_receiver.wait_for(5, timeout=30)
    victim_mails = [m for m in mails if b"victoria@example.com" in b"".join(
        x.encode() for x in m.rcpt_tos)]
    assert len(victim_mails) >= 4, mails
    for m in mails:
        if m.rcpt_tos == ["mallory@example.net"]:
            assert f"callback-{attacker['id']}@".encode() in m.data
            continue
        assert m.rcpt_tos == ["victoria@example.com"], m
        assert b"Mallory" not in m.data and b"mallory" not in m.data
    # The staff view of each callback shows the details its booking gave.
    v = d.admin("GET", f"/v1/callbacks/{victim['id']}").json()
    assert v["customer"]["name"] == "Victoria Victim"
    assert v["customer"]["email"] == "victoria@example.com"
    a = d.admin("GET", f"/v1/callbacks/{attacker['id']}").json()
    assert a["customer"]["name"] == "Mallory" and a["timezone"] == "Pacific/Auckland"
    assert customer_row(sql, phone) == before


# --------------------------------------------------------------------------
# A phone number reveals nothing


def _comparable(r):
    hide = {"date", "x-request-id"}
    return (r.status_code, r.text,
            sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() not in hide))


def test_link_request_answers_the_same_for_a_phone_with_and_without_a_callback(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"sms_mode": "webhook", "sms_url": "http://127.0.0.1:9/sms"})
    make_agent(d, "alex")
    booked, unknown = unique_phone(), unique_phone()
    cb = book(d, booking(phone=booked, topic="Private matter", when="asap")).json()
    before = sql.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'sms.manage_link'")

    with_cb = d.req("POST", "/v1/manage-links", json={"phone": booked})
    without = d.req("POST", "/v1/manage-links", json={"phone": unknown})
    assert with_cb.status_code == 202, with_cb.text
    assert _comparable(with_cb) == _comparable(without)
    assert "Private matter" not in with_cb.text and str(cb["id"]) not in with_cb.text

    # The link went to the phone on file, and only for the phone with a callback.
    rows = sql.query("SELECT callback_id, payload FROM outbox WHERE kind = 'sms.manage_link'")
    assert len(rows) == before + 1
    p = json.loads(rows[-1]["payload"])
    assert rows[-1]["callback_id"] == cb["id"] and p["to"] == booked
    assert f"/v1/callbacks/{cb['id']}?token={cb['manage_token']}" in p["body"]

    # A second booking for the phone is answered with the same body, and
    # shows nothing of the open callback either.
    again = d.req("POST", "/v1/callbacks", json=booking(phone=booked, topic="x"))
    assert again.status_code == 202 and again.json() == with_cb.json()


def test_returning_customer_probes_are_rate_limited_and_text_a_bounded_number(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"sms_mode": "webhook", "sms_url": "http://127.0.0.1:9/sms",
                        "rate_phone_per_hour": 3, "rate_ip_per_10min": 30})
    clock_to(d, NOW)
    make_agent(d, "alex")
    phone = unique_phone()
    book(d, booking(phone=phone))
    statuses = [d.req("POST", "/v1/callbacks", json=booking(phone=phone)).status_code
                for _ in range(60)]
    assert statuses.count(202) == 2, statuses     # 3 per phone per hour, booking included
    assert set(statuses) == {202, 429}, statuses
    r = d.req("POST", "/v1/callbacks", json=booking(phone=phone))
    assert_problem(r, 429, "/problems/rate-limited", "customer.phone")
    assert 1 <= int(r.headers["Retry-After"]) <= 3601
    assert sql.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'sms.manage_link'") == 2

    # Many phones from one address: the address limit holds, on the link
    # requests too.
    answers = [d.req("POST", "/v1/manage-links", json={"phone": unique_phone()})
               for _ in range(60)]
    codes = [a.status_code for a in answers]
    assert codes.count(202) <= 30 - 3 and 429 in codes, codes
    limited = [a for a in answers if a.status_code == 429][0]
    assert_problem(limited, 429, "/problems/rate-limited")
    assert int(limited.headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------
# No text bombing through reschedules


def test_thirty_reschedules_with_the_token_are_capped(daemon_factory, sql, make_agent):
    # Default limits: 4 moves per callback, 10 per phone, per hour.
    d = daemon_factory({"sms_mode": "webhook", "sms_url": "http://127.0.0.1:9/sms"})
    make_agent(d, "alex")
    cb = book(d, booking(when=hour_slot(0), notify=["sms"])).json()
    results = []
    for i in range(1, 31):
        r = d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
                  json={"when": hour_slot(i)})
        results.append(r)
    ok = [r for r in results if r.status_code == 200]
    assert len(ok) == 4, [r.status_code for r in results]
    refused = results[len(ok)]
    assert_problem(refused, 429, "/problems/too-many-changes", "when")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3601
    assert all(r.status_code == 429 for r in results[4:])
    # Nothing changed by the refused ones: the time is the fourth move's.
    assert sql.scalar("SELECT due_at FROM callbacks WHERE id = %s",
                      (cb["id"],)) == epoch(hour_slot(4))
    texts = sql.scalar("SELECT COUNT(*) FROM outbox WHERE callback_id = %s AND channel = 'sms' "
                       "AND kind <> 'sms.reminder'", (cb["id"],))
    assert texts <= 1 + 4, texts   # the confirmation and one per move
    # Staff are not limited, and the customer may always cancel.
    r = d.admin("PATCH", f"/v1/callbacks/{cb['id']}", json={"when": hour_slot(40)})
    assert r.status_code == 200, r.text
    r = d.req("DELETE", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"])
    assert r.status_code == 200, r.text


def test_reschedules_are_capped_per_phone_across_its_callbacks(daemon, sql, make_agent):
    # Default limits: 4 moves per callback, 10 over the phone's callbacks.
    make_agent(daemon, "alex")
    phone = unique_phone()
    cbs = [book(daemon, booking(phone=phone, when=hour_slot(i), force_new=i > 0)).json()
           for i in range(3)]
    slot = 10
    for cb, n in zip(cbs, (4, 4, 2)):
        for _ in range(n):
            r = daemon.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
                           json={"when": hour_slot(slot)})
            slot += 1
            assert r.status_code == 200, r.text
    before = row_counts(sql)
    r = daemon.req("PATCH", f"/v1/callbacks/{cbs[2]['id']}", key=cbs[2]["manage_token"],
                   json={"when": hour_slot(slot)})
    p = assert_problem(r, 429, "/problems/too-many-changes", "when")
    assert "phone" in p["detail"]
    assert row_counts(sql) == before


# --------------------------------------------------------------------------
# Manage links expire


def test_a_cancelled_callbacks_link_works_for_a_while_then_stops(daemon, sql, make_agent):
    # Default: an hour after the cancellation.
    d = daemon
    clock_to(d, NOW)
    make_agent(d, "alex")
    cb = book(d, booking(when="2030-01-11T10:00:00Z")).json()
    path, tok = f"/v1/callbacks/{cb['id']}", cb["manage_token"]
    assert d.req("DELETE", path, key=tok).status_code == 200
    clock_advance(d, 1800)
    r = d.req("GET", path, key=tok)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    clock_advance(d, 1801)
    for method in ("GET", "PATCH", "DELETE"):
        r = d.req(method, path, key=tok,
                  json={"when": "2030-01-11T12:00:00Z"} if method == "PATCH" else None)
        assert_problem(r, 401, "/problems/token-expired")
    r = d.req("GET", f"{path}/invite.ics?token={tok}")
    assert_problem(r, 401, "/problems/token-expired")
    # Staff still see it; a wrong token still reads as no such callback.
    assert d.admin("GET", path).status_code == 200
    assert_problem(d.req("GET", path, key=tok[:-2] + "xx"), 404, "/problems/not-found")


def test_a_completed_callbacks_link_stops_days_after_the_call(daemon, sql, make_agent):
    # Default: seven days after the call.
    d = daemon
    clock_to(d, NOW)
    _, key = make_agent(d, "alex")
    cb = book(d, booking(when="asap")).json()
    path, tok = f"/v1/callbacks/{cb['id']}", cb["manage_token"]
    r = d.req("POST", "/v1/me/queue/next", key=key)
    assert r.status_code == 200, r.text
    r = d.req("POST", f"{path}/outcome", key=key, json={"result": "reached"})
    assert r.status_code == 200, r.text
    clock_advance(d, 7 * 86400 - 60)
    assert d.req("GET", path, key=tok).status_code == 200
    clock_advance(d, 120)
    assert_problem(d.req("GET", path, key=tok), 401, "/problems/token-expired")


def test_an_open_callbacks_link_keeps_working(daemon_factory, make_agent):
    d = daemon_factory({"manage_token_days": 1})
    clock_to(d, NOW)
    make_agent(d, "alex")
    cb = book(d, booking(when="asap")).json()
    clock_advance(d, 5 * 86400)
    assert d.req("GET", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"]).status_code == 200


# --------------------------------------------------------------------------
# Input at the edges


@pytest.mark.parametrize("field,value,ptype", [
    ("email", "a@b..c", "invalid-email"),
    ("email", "a@-b.example", "invalid-email"),
    ("timezone", "Factory", "invalid-timezone"),
    ("timezone", "posixrules", "invalid-timezone"),
    ("timezone", "right/UTC", "invalid-timezone"),
    ("timezone", "US/Eastern", "invalid-timezone"),
    ("name", "\u00a0\u00a0", "missing-field"),
    ("name", "\u2007 \u202f\u200b", "missing-field"),
    ("name", "\u3000", "missing-field"),
])
def test_booking_with_bad_contact_details_is_refused(daemon, sql, make_agent, field, value,
                                                     ptype):
    make_agent(daemon, "alex")
    body = booking()
    body["customer"][field] = value
    before = row_counts(sql)
    r = daemon.req("POST", "/v1/callbacks", json=body)
    assert_problem(r, 400, f"/problems/{ptype}", f"customer.{field}")
    assert row_counts(sql) == before


def test_agent_and_shift_zones_must_be_places(daemon, sql):
    r = daemon.admin("POST", "/v1/agents", json={"name": "zed", "display_name": "Zed",
                                                 "timezone": "right/Europe/London"})
    assert_problem(r, 400, "/problems/invalid-timezone", "timezone")
    r = daemon.admin("POST", "/v1/agents", json={"name": "zed", "display_name": "Zed",
                                                 "timezone": "Europe/London"})
    assert r.status_code == 201, r.text
    r = daemon.admin("PUT", f"/v1/agents/{r.json()['id']}/shifts",
                     json=[{"start": "2030-01-10T09:00:00", "duration": "PT8H",
                            "rrule": "FREQ=DAILY", "tz": "Factory"}])
    assert_problem(r, 400, "/problems/invalid-shift", "shifts[0].tz")
    assert sql.scalar("SELECT COUNT(*) FROM shifts") == 0


def test_times_past_year_9999_are_refused_not_wrapped(daemon, make_agent):
    make_agent(daemon, "alex")
    for when in ("9999-12-31T23:59:59-14:00", "1970-01-01T00:00:00+01:00"):
        r = daemon.req("POST", "/v1/callbacks", json=booking(when=when))
        assert_problem(r, 400, "/problems/invalid-time", "when")
    r = daemon.req("GET", "/v1/slots", params={"from": "9999-12-31T23:59:59-14:00",
                                               "to": "9999-12-31T23:59:59Z"})
    assert r.status_code == 400, r.text
    assert "10000" not in r.text


# --------------------------------------------------------------------------
# API key secrets never rest in the database


def test_a_created_keys_secret_is_in_no_table_and_a_replay_does_not_show_it(
        daemon, sql, dbname):
    hdr = {"Idempotency-Key": "new-key-1"}
    body = {"role": "lead", "name": "lead-idem"}
    r1 = daemon.admin("POST", "/v1/keys", json=body, headers=hdr)
    assert r1.status_code == 201, r1.text
    secret, key_id = r1.json()["key"], r1.json()["id"]
    assert secret.startswith("cbk_")

    tables = [row["TABLE_NAME"] for row in sql.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
        (dbname,))]
    assert "idempotency" in tables and "api_keys" in tables
    for t in tables:
        for row in sql.query(f"SELECT * FROM `{t}`"):
            assert secret not in str(row), (t, row)
            assert secret[4:] not in str(row), (t, row)

    # The replay says the key exists, by id, without the secret.
    r2 = daemon.admin("POST", "/v1/keys", json=body, headers=hdr)
    p = assert_problem(r2, 409, "/problems/secret-shown-once", "Idempotency-Key")
    assert p["key_id"] == key_id and secret not in r2.text
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert sql.scalar("SELECT COUNT(*) FROM api_keys WHERE name = 'lead-idem'") == 1
    # The key itself works.
    assert daemon.req("GET", "/v1/agents", key=secret).status_code == 200


# --------------------------------------------------------------------------
# Deactivation cuts access


def test_deactivating_an_agent_cuts_their_keys_and_feed_and_says_so(daemon, sql, make_agent):
    alex, key = make_agent(daemon, "alex")
    make_agent(daemon, "sam")
    cb = book(daemon, booking(when="asap")).json()
    case_id = sql.scalar("SELECT case_id FROM callbacks WHERE id = %s", (cb["id"],))
    owner = sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb["id"],))
    feed = daemon.req("POST", f"/v1/agents/{alex['id']}/feed-token", key=key)
    assert feed.status_code in (200, 201), feed.text
    feed_path = f"/v1/agents/{alex['id']}/calendar.ics?token={feed.json()['token']}"

    def can_work():
        return {
            "queue": daemon.req("GET", "/v1/me/queue", key=key).status_code,
            "case": daemon.req("GET", f"/v1/cases/{case_id}", key=key).status_code,
            "feed": daemon.req("GET", feed_path).status_code,
        }

    assert can_work() == {"queue": 200, "case": 200, "feed": 200}

    r = daemon.admin("PATCH", f"/v1/agents/{alex['id']}", json={"active": False})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["access"]["api_keys_refused"] == 1
    assert r.json()["access"]["calendar_feed_refused"] is True

    for method, path in (("GET", "/v1/me/queue"), ("POST", "/v1/me/queue/next"),
                         ("GET", f"/v1/cases/{case_id}"),
                         ("POST", f"/v1/callbacks/{cb['id']}/claim")):
        assert_problem(daemon.req(method, path, key=key), 403, "/problems/agent-inactive")
    assert_problem(daemon.req("GET", feed_path), 410, "/problems/agent-inactive")
    if owner == alex["id"]:
        assert sql.scalar("SELECT state FROM callbacks WHERE id = %s",
                          (cb["id"],)) == "pending"

    # Back again: the same key and feed work.
    r = daemon.admin("PATCH", f"/v1/agents/{alex['id']}", json={"active": True})
    assert r.status_code == 200 and "access" not in r.json(), r.text
    assert can_work() == {"queue": 200, "case": 200, "feed": 200}


# --------------------------------------------------------------------------
# Shift rules cannot make slot queries spin


NEVER = "FREQ=YEARLY;BYMONTHDAY=31;BYMONTH=2,4,6,9,11"


def shift(rrule, start="2030-01-07T09:00:00", tz="Europe/London"):
    return {"start": start, "duration": "PT8H", "rrule": rrule, "tz": tz}


@pytest.mark.parametrize("rrule", [
    NEVER,
    "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2",
    # UNTIL before the start: no occurrence (and no crash on the empty
    # list of spans it leaves).
    "FREQ=DAILY;UNTIL=20200101T000000Z",
])
def test_a_shift_rule_that_never_occurs_is_refused_quickly(daemon, sql, make_agent, rrule):
    agent, _ = make_agent(daemon, "alex")
    t0 = time.monotonic()
    r = daemon.admin("PUT", f"/v1/agents/{agent['id']}/shifts",
                     json=[shift("FREQ=WEEKLY;BYDAY=MO"), shift(rrule)])
    took = time.monotonic() - t0
    assert_problem(r, 422, "/problems/shift-never-occurs", "shifts[1].rrule")
    assert took < 3, took
    assert sql.scalar("SELECT COUNT(*) FROM shifts") == 0
    assert daemon.req("GET", "/healthz").status_code == 200


def test_an_imported_shift_that_never_occurs_is_rejected(daemon, sql, make_agent):
    make_agent(daemon, "alex")
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
           "BEGIN:VEVENT\r\nUID:never-1\r\nSUMMARY:alex\r\n"
           "DTSTART;TZID=Europe/London:20300107T090000\r\n"
           "DTEND;TZID=Europe/London:20300107T170000\r\n"
           f"RRULE:{NEVER}\r\nEND:VEVENT\r\n"
           "BEGIN:VEVENT\r\nUID:weekly-1\r\nSUMMARY:alex\r\n"
           "DTSTART;TZID=Europe/London:20300107T090000\r\n"
           "DTEND;TZID=Europe/London:20300107T170000\r\n"
           "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    t0 = time.monotonic()
    r = daemon.req("POST", "/v1/shifts/import", key=daemon.admin_key, data=ics.encode(),
                   headers={"Content-Type": "text/calendar"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 < 3
    events = {e["uid"]: e for e in r.json()["events"]}
    assert events["never-1"]["status"] == "rejected"
    assert "rrule" in events["never-1"]["error"], events
    assert events["weekly-1"]["status"] == "imported"
    assert sql.scalar("SELECT COUNT(*) FROM shifts") == 1


def test_stored_rules_that_never_occur_cost_one_expansion_not_one_per_query(
        daemon_factory, sql, make_agent):
    # Repeated warnings are held and counted (log.c): a short interval lets
    # the count of the held skips show within the test.
    d = daemon_factory({"log_repeat_interval_sec": 1})
    clock_to(d, NOW)
    # Rows written before rules were checked (or by hand): the roster
    # must not expand them again on every slot query.
    bad = ["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31"]
    agents = [make_agent(d, f"odd{i}")[0] for i in range(len(bad))]
    for a, rule in zip(agents, bad):
        sql.execute("INSERT INTO shifts (agent_id, tz, start_local, duration_sec, rrule, "
                    "exdates, source, created_at) VALUES (%s, 'Europe/London', "
                    "'2030-01-07T09:00:00', 28800, %s, '', 'api', 0)", (a["id"], rule))
    good, _ = make_agent(d, "steady")
    r = d.admin("PUT", f"/v1/agents/{good['id']}/shifts", json=[shift("FREQ=DAILY")])
    assert r.status_code == 200, r.text
    params = {"from": "2030-01-11T09:00:00Z", "to": "2030-01-11T12:00:00Z"}
    first = d.req("GET", "/v1/slots", params=params)
    assert first.status_code == 200, first.text
    # Each change of the roster makes the next query build the plan again.
    for i in range(3):
        r = d.admin("POST", f"/v1/agents/{good['id']}/time-off",
                    json={"from": f"2030-02-0{i + 1}T00:00:00Z",
                          "to": f"2030-02-0{i + 1}T01:00:00Z"})
        assert r.status_code == 201, r.text
        t0 = time.monotonic()
        r = d.req("GET", "/v1/slots", params=params)
        took = time.monotonic() - t0
        assert r.status_code == 200 and r.json() == first.json()
        # Generous: the plan costs milliseconds, this rule costs libical
        # a good part of a second.
        assert took < 1.0, f"slot query after a roster change took {took:.2f}s"
    # Each rule was expanded once; every later plan skipped it at once. The
    # skips repeat one warning, so after the first its lines are counted
    # ("repeated=N" on the line that ends the interval).
    def skips(rule):
        n = 0
        for ln in d.log_text().splitlines():
            if f"rrule '{rule}' expanded too slowly before" in ln:
                m = re.search(r" repeated=(\d+)", ln)
                n += int(m.group(1)) if m else 1
        return n
    log = d.log_text()
    for rule in bad:
        assert log.count(f"rrule '{rule}' cannot be expanded") == 1, log[-3000:]
        wait_until(lambda: skips(rule) >= 3, timeout=15,
                   msg=f"three skips of {rule} logged or counted")


ODD_BUT_VALID = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=MONTHLY;BYDAY=5MO",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYSETPOS=-1;BYDAY=FR",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
]


def test_odd_but_valid_rules_keep_slot_queries_fast(daemon_factory, make_agent):
    d = daemon_factory()
    clock_to(d, NOW)
    for i, rule in enumerate(ODD_BUT_VALID):
        a, _ = make_agent(d, f"odd{i}")
        r = d.admin("PUT", f"/v1/agents/{a['id']}/shifts", json=[shift(rule)])
        assert r.status_code == 200, (rule, r.text)
    steady, _ = make_agent(d, "steady")
    params = {"from": "2030-01-11T09:00:00Z", "to": "2030-01-12T09:00:00Z"}
    for i in range(3):
        r = d.admin("POST", f"/v1/agents/{steady['id']}/time-off",
                    json={"from": f"2030-02-0{i + 1}T00:00:00Z",
                          "to": f"2030-02-0{i + 1}T01:00:00Z"})
        assert r.status_code == 201, r.text
        t0 = time.monotonic()
        r = d.req("GET", "/v1/slots", params=params)
        assert r.status_code == 200, r.text
        # A generous bound: the plan of nine agents costs milliseconds.
        assert time.monotonic() - t0 < 1.0
