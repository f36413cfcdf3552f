"""The booking path end to end: POST /v1/callbacks, the owner's queue, and
reading, moving and cancelling a callback with its manage token or a staff
key. Every check that matters is made twice: in the answer and in MariaDB."""

import threading
from datetime import datetime

import pytest

from helpers import make_key
from util_api import (assert_problem, book, booking, from_now, row_counts,
                      set_clock, unique_phone)

NOW = "2030-01-10T12:00:00Z"


def epoch(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def cb_row(sql, cid):
    return sql.query("SELECT * FROM callbacks WHERE id = %s", (cid,))[0]


def open_count(sql, agent_id):
    return sql.scalar("SELECT open_count FROM agents WHERE id = %s", (agent_id,))


STAFF_ONLY = ("customer", "case_id")


def assert_customer_view(body):
    for k in STAFF_ONLY:
        assert k not in body, f"customer view leaks {k}: {body}"
    assert set(body["owner"]) == {"display_name"}, body["owner"]


# --------------------------------------------------------------------------
# Booking


def test_asap_booking_answers_201_and_commits(daemon_factory, sql, make_agent):
    d = daemon_factory({"avg_handle_sec": 240})
    agent, _ = make_agent(d, "alice", display_name="Alice A.")
    phone = unique_phone()
    r = book(d, booking(phone=phone, tz="America/New_York", topic="Router down"))
    b = r.json()
    assert isinstance(b["id"], int) and b["id"] > 0
    assert b["state"] == "pending"
    assert b["asap"] is True
    assert b["manage_token"].startswith("cbt_") and len(b["manage_token"]) > 20
    assert b["owner"]["display_name"] == "Alice A."
    assert b["position"] == 1 and b["eta_seconds"] == 0
    assert b["topic"] == "Router down"
    assert r.headers["Location"] == f"/v1/callbacks/{b['id']}"
    assert r.headers["Content-Type"].startswith("application/json")
    # Times come back in the customer's zone, with its offset.
    assert b["requested_at"].endswith(("-05:00", "-04:00")), b["requested_at"]
    assert b["links"]["manage"].endswith(f"/v1/callbacks/{b['id']}?token={b['manage_token']}")
    assert_customer_view(b)

    row = cb_row(sql, b["id"])
    assert row["state"] == "pending" and row["is_asap"] == 1
    assert row["owner_id"] == agent["id"]
    assert row["topic"] == "Router down"
    cust = sql.query("SELECT * FROM customers WHERE id = %s", (row["customer_id"],))[0]
    assert cust["phone"] == phone and cust["timezone"] == "America/New_York"
    assert sql.scalar("SELECT customer_id FROM cases WHERE id = %s",
                      (row["case_id"],)) == row["customer_id"]
    assert sql.scalar("SELECT COUNT(*) FROM events WHERE callback_id = %s AND kind = 'booked'",
                      (b["id"],)) == 1
    assert open_count(sql, agent["id"]) == 1

    # The second ASAP caller waits behind the first.
    b2 = book(d).json()
    assert b2["position"] == 2 and b2["eta_seconds"] == 240
    assert open_count(sql, agent["id"]) == 2


def test_scheduled_booking_renders_time_in_customer_zone(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    set_clock(daemon, NOW)
    r = book(daemon, booking(when="2030-01-15T15:00:00Z", tz="Asia/Kolkata"))
    b = r.json()
    assert b["state"] == "scheduled" and b["asap"] is False
    assert b["scheduled_at"] == "2030-01-15T20:30:00+05:30"
    assert "position" not in b and "eta_seconds" not in b
    assert b["manage_token"].startswith("cbt_")
    assert_customer_view(b)
    assert cb_row(sql, b["id"])["due_at"] == epoch("2030-01-15T15:00:00Z")

    # An offset in the request is honoured; the answer uses the customer's zone.
    b = book(daemon, booking(when="2030-01-20T09:30:00+01:00",
                             tz="America/New_York")).json()
    assert b["scheduled_at"] == "2030-01-20T03:30:00-05:00"
    assert cb_row(sql, b["id"])["due_at"] == epoch("2030-01-20T08:30:00Z")


def test_owner_is_the_active_agent_with_fewest_open_callbacks(daemon, sql, make_agent):
    a, _ = make_agent(daemon, "alice")
    b, _ = make_agent(daemon, "bob")
    c, _ = make_agent(daemon, "carol", active=False)
    first = book(daemon).json()
    second = book(daemon).json()
    owners = {cb_row(sql, first["id"])["owner_id"], cb_row(sql, second["id"])["owner_id"]}
    assert owners == {a["id"], b["id"]}
    assert open_count(sql, a["id"]) == 1 and open_count(sql, b["id"]) == 1

    for _ in range(4):
        book(daemon)
    assert open_count(sql, a["id"]) == 3 and open_count(sql, b["id"]) == 3
    assert open_count(sql, c["id"]) == 0
    assert sql.scalar("SELECT COUNT(*) FROM callbacks WHERE owner_id = %s", (c["id"],)) == 0
    # open_count is the number of open callbacks owned, nothing else.
    for ag in (a, b):
        assert sql.scalar("SELECT COUNT(*) FROM callbacks WHERE owner_id = %s AND state IN "
                          "('pending','scheduled','in_progress','retry_wait')",
                          (ag["id"],)) == open_count(sql, ag["id"])


def test_owner_queue_lists_callbacks_in_due_order(daemon, make_agent):
    agent, key = make_agent(daemon, "alice")
    set_clock(daemon, NOW)
    later = book(daemon, booking(when="2030-01-12T09:00:00Z")).json()
    asap = book(daemon, booking(when="asap", name="Grace Hopper")).json()
    soon = book(daemon, booking(when="2030-01-10T14:00:00Z", tz="Asia/Kolkata")).json()

    r = daemon.req("GET", "/v1/me/queue", key=key)
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["agent_id"] == agent["id"]
    assert [i["id"] for i in q["items"]] == [asap["id"], soon["id"], later["id"]]
    dues = [epoch(i["due_at"]) for i in q["items"]]
    assert dues == sorted(dues)
    item = q["items"][0]
    assert item["customer"]["name"] == "Grace Hopper"
    assert item["state"] == "pending"
    assert q["items"][1]["due_at_local"] == "2030-01-10T19:30:00+05:30"

    # Another agent's queue does not show them.
    _, other = make_agent(daemon, "bob")
    r = daemon.req("GET", "/v1/me/queue", key=other)
    assert r.status_code == 200 and r.json()["items"] == []


# --------------------------------------------------------------------------
# Managing a callback


def test_manage_with_token_in_header_and_query(daemon, sql, make_agent):
    agent, _ = make_agent(daemon, "alice")
    set_clock(daemon, NOW)
    b = book(daemon, booking(when="2030-01-15T15:00:00Z", tz="Europe/Berlin",
                             topic="Move my plan")).json()
    cid, tok = b["id"], b["manage_token"]

    r = daemon.req("GET", f"/v1/callbacks/{cid}", key=tok)
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["id"] == cid and g["state"] == "scheduled" and g["topic"] == "Move my plan"
    assert g["scheduled_at"] == "2030-01-15T16:00:00+01:00"
    assert g["owner"]["display_name"] == agent["display_name"]
    assert "manage_token" not in g
    assert_customer_view(g)

    r = daemon.req("GET", f"/v1/callbacks/{cid}", params={"token": tok})
    assert r.status_code == 200 and r.json()["id"] == cid

    # Reschedule: same id, new time, invite sequence + 1, no new row.
    before = sql.scalar("SELECT COUNT(*) FROM callbacks")
    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", params={"token": tok},
                   json={"when": "2030-01-16T08:15:00Z"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["id"] == cid and p["state"] == "scheduled"
    assert p["scheduled_at"] == "2030-01-16T09:15:00+01:00"
    row = cb_row(sql, cid)
    assert row["due_at"] == epoch("2030-01-16T08:15:00Z")
    assert row["ics_sequence"] == 1
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == before

    # Rescheduling to ASAP also keeps the id.
    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=tok, json={"when": "asap"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == cid and r.json()["state"] == "pending"

    # Cancel frees the owner's capacity; a second cancel changes nothing.
    assert open_count(sql, agent["id"]) == 1
    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", key=tok)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled" and r.json()["id"] == cid
    assert cb_row(sql, cid)["state"] == "cancelled"
    assert open_count(sql, agent["id"]) == 0
    events = sql.scalar("SELECT COUNT(*) FROM events WHERE callback_id = %s", (cid,))

    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", params={"token": tok})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert open_count(sql, agent["id"]) == 0
    assert sql.scalar("SELECT COUNT(*) FROM events WHERE callback_id = %s", (cid,)) == events

    # A cancelled callback cannot be moved.
    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=tok,
                   json={"when": "2030-01-17T08:00:00Z"})
    assert_problem(r, 409, "/problems/not-reschedulable")


def test_manage_with_staff_keys(daemon, sql, make_agent):
    owner, owner_key = make_agent(daemon, "alice")
    lead = make_key(daemon, "lead", "lead-1")
    set_clock(daemon, NOW)
    phone = unique_phone()
    b = book(daemon, booking(phone=phone, when="2030-01-15T15:00:00Z")).json()
    cid = b["id"]
    _, other_key = make_agent(daemon, "bob")

    for key in (daemon.admin_key, lead, owner_key, other_key):
        r = daemon.req("GET", f"/v1/callbacks/{cid}", key=key)
        assert r.status_code == 200, r.text
        g = r.json()
        assert g["id"] == cid
        # Staff see who the customer is.
        assert g["customer"]["phone"] == phone
        assert g["owner"]["id"] == owner["id"]

    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=owner_key,
                   json={"when": "2030-01-15T16:00:00Z"})
    assert r.status_code == 200, r.text
    assert cb_row(sql, cid)["due_at"] == epoch("2030-01-15T16:00:00Z")

    # An agent may not move or cancel another agent's callback.
    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=other_key,
                   json={"when": "2030-01-15T17:00:00Z"})
    assert_problem(r, 403, "/problems/forbidden")
    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", key=other_key)
    assert_problem(r, 403, "/problems/forbidden")
    assert cb_row(sql, cid)["due_at"] == epoch("2030-01-15T16:00:00Z")
    assert cb_row(sql, cid)["state"] == "scheduled"

    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=daemon.admin_key,
                   json={"when": "2030-01-15T18:00:00Z"})
    assert r.status_code == 200, r.text
    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", key=lead)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert open_count(sql, owner["id"]) == 0


def test_token_of_another_callback_gets_404_and_no_data(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    set_clock(daemon, NOW)
    mine = book(daemon, booking(when="2030-01-15T15:00:00Z")).json()
    phone = unique_phone()
    theirs = book(daemon, booking(phone=phone, name="Secret Person",
                                  topic="Private matter",
                                  when="2030-01-16T15:00:00Z")).json()
    tok = mine["manage_token"]
    tid = theirs["id"]
    before = cb_row(sql, tid)
    counts = row_counts(sql)

    def no_data(r):
        for s in ("Secret Person", "Private matter", phone, theirs["manage_token"]):
            assert s not in r.text, f"foreign callback data in {r.text}"

    for kwargs in ({"key": tok}, {"params": {"token": tok}},
                   {"key": "cbt_" + "A" * 43}):
        r = daemon.req("GET", f"/v1/callbacks/{tid}", **kwargs)
        assert_problem(r, 404, "/problems/not-found")
        no_data(r)
        r = daemon.req("GET", f"/v1/callbacks/{tid}/invite.ics", **kwargs)
        assert_problem(r, 404, "/problems/not-found")
        no_data(r)
        r = daemon.req("PATCH", f"/v1/callbacks/{tid}", json={"when": "2030-01-17T15:00:00Z"},
                       **kwargs)
        assert_problem(r, 404, "/problems/not-found")
        no_data(r)
        r = daemon.req("DELETE", f"/v1/callbacks/{tid}", **kwargs)
        assert_problem(r, 404, "/problems/not-found")
        no_data(r)

    # A foreign token reads exactly like a callback that does not exist.
    r = daemon.req("GET", "/v1/callbacks/999999", key=tok)
    assert_problem(r, 404, "/problems/not-found")
    assert cb_row(sql, tid) == before
    assert row_counts(sql) == counts


def test_invite_ics_for_scheduled_callback(daemon, make_agent):
    make_agent(daemon, "alice")
    set_clock(daemon, NOW)
    b = book(daemon, booking(when="2030-01-15T15:00:00Z", tz="Asia/Kolkata",
                             topic="Contract renewal")).json()
    cid, tok = b["id"], b["manage_token"]

    def ics():
        r = daemon.req("GET", f"/v1/callbacks/{cid}/invite.ics", key=tok)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].split(";")[0] == "text/calendar"
        text = r.text
        assert text.startswith("BEGIN:VCALENDAR")
        assert "END:VCALENDAR" in text
        lines = text.replace("\r\n", "\n").split("\n")
        uids = [ln for ln in lines if ln.startswith("UID:")]
        seqs = [ln for ln in lines if ln.startswith("SEQUENCE:")]
        assert len(uids) == 1 and len(seqs) == 1, text
        return text, uids[0], int(seqs[0].split(":", 1)[1])

    text, uid, seq = ics()
    assert seq == 0
    assert "SUMMARY:Callback: Contract renewal" in text
    assert "DTSTART;TZID=Asia/Kolkata:20300115T203000" in text

    r = daemon.req("PATCH", f"/v1/callbacks/{cid}", key=tok, json={"when": "2030-01-16T15:00:00Z"})
    assert r.status_code == 200, r.text
    text, uid2, seq = ics()
    assert uid2 == uid and seq == 1
    assert "DTSTART;TZID=Asia/Kolkata:20300116T203000" in text

    r = daemon.req("DELETE", f"/v1/callbacks/{cid}", key=tok)
    assert r.status_code == 200
    text, uid3, seq = ics()
    assert uid3 == uid and seq == 2
    assert "METHOD:CANCEL" in text and "STATUS:CANCELLED" in text

    # Staff may fetch it too; an ASAP callback has no invite.
    r = daemon.admin("GET", f"/v1/callbacks/{cid}/invite.ics")
    assert r.status_code == 200 and "BEGIN:VCALENDAR" in r.text
    asap = book(daemon).json()
    r = daemon.req("GET", f"/v1/callbacks/{asap['id']}/invite.ics", key=asap["manage_token"])
    assert_problem(r, 404, "/problems/no-invite")


# --------------------------------------------------------------------------
# Returning customers and retries


def test_returning_customer_is_offered_the_link_not_a_second_callback(daemon_factory, sql,
                                                                     make_agent):
    # Four requests for one phone: more than the default hourly limit.
    daemon = daemon_factory({"rate_phone_per_hour": 10})
    make_agent(daemon, "alice")
    phone = unique_phone()
    first = book(daemon, booking(phone=phone)).json()

    # The open callback is not given back (a phone number is no
    # credential): the answer says a text is on its way, nothing more.
    r = book(daemon, booking(phone=phone, topic="Still waiting"), expect=(202,))
    again = r.json()
    assert set(again) == {"status", "detail"}, again
    assert again["status"] == "link-sent-if-booked"
    assert "Location" not in r.headers
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 1

    r = book(daemon, booking(phone=phone, force_new=True))
    new = r.json()
    assert new["id"] != first["id"] and "existing" not in new
    assert new["manage_token"] != first["manage_token"]
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 2
    # Both callbacks belong to one customer.
    assert sql.scalar("SELECT COUNT(*) FROM customers WHERE phone = %s", (phone,)) == 1

    # With nothing open any more, a booking is new again.
    for b in (first, new):
        assert daemon.req("DELETE", f"/v1/callbacks/{b['id']}",
                          key=b["manage_token"]).status_code == 200
    third = book(daemon, booking(phone=phone)).json()
    assert third["id"] not in (first["id"], new["id"])


def test_returning_customer_answer_shows_nothing_of_the_callback(daemon, make_agent):
    # Anyone who knows a phone number can ask: the answer must not tell
    # them the topic, owner, time or id of the customer's callback.
    make_agent(daemon, "alice", display_name="Alice Owner")
    phone = unique_phone()
    first = book(daemon, booking(phone=phone, email="ada@example.com",
                                 topic="Secret topic")).json()
    again = book(daemon, booking(phone=phone), expect=(202,)).json()
    text = str(again)
    for leak in ("ada@example.com", "Secret topic", "Alice", str(first["id"]),
                 first["manage_token"], "scheduled", "requested_at"):
        assert leak not in text, (leak, again)


def test_returning_customer_answer_changes_no_contact_details(daemon, sql, make_agent):
    # Knowing a phone number is no credential: a request answered with the
    # link offer books nothing, so it must not rewrite the customer's
    # name, email or zone either (later invites and manage links go there).
    make_agent(daemon, "alice")
    phone = unique_phone()
    book(daemon, booking(phone=phone, name="Ada Lovelace", email="ada@example.com",
                         tz="Europe/London", notify=["email"]))
    cols = "name, email, timezone"
    before = sql.query(f"SELECT {cols} FROM customers WHERE phone = %s", (phone,))
    r = book(daemon, booking(phone=phone, name="Mallory", email="mallory@example.net",
                             tz="Pacific/Auckland"), expect=(202,))
    assert r.json()["status"] == "link-sent-if-booked"
    assert sql.query(f"SELECT {cols} FROM customers WHERE phone = %s", (phone,)) == before


def test_open_callbacks_per_phone_are_capped(daemon_factory, sql, make_agent):
    d = daemon_factory({"max_open_per_phone": 2})
    make_agent(d, "alice")
    phone = unique_phone()
    book(d, booking(phone=phone))
    book(d, booking(phone=phone, force_new=True))
    counts = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(phone=phone, force_new=True))
    assert_problem(r, 409, "/problems/too-many-open", "customer.phone")
    assert row_counts(sql) == counts


def test_idempotency_key_replays_the_first_answer(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    body = booking(when=from_now(days=3))
    hdr = {"Idempotency-Key": "book-7f3a2c"}
    r1 = daemon.req("POST", "/v1/callbacks", json=body, headers=hdr)
    assert r1.status_code == 201, r1.text
    assert "Idempotent-Replayed" not in r1.headers

    r2 = daemon.req("POST", "/v1/callbacks", json=body, headers=hdr)
    assert r2.status_code == 201, r2.text
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert r2.json() == r1.json()
    assert r2.json()["manage_token"] == r1.json()["manage_token"]
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 1
    assert sql.scalar("SELECT COUNT(*) FROM events") == 1

    # Same key, another body: refused, nothing written.
    counts = row_counts(sql)
    other = dict(body, topic="Something else")
    r3 = daemon.req("POST", "/v1/callbacks", json=other, headers=hdr)
    assert_problem(r3, 409, "/problems/idempotency-key-reused", "Idempotency-Key")
    assert row_counts(sql) == counts


def test_idempotent_replay_keeps_the_location_header(daemon, make_agent):
    make_agent(daemon, "alice")
    body = booking()
    hdr = {"Idempotency-Key": "loc-1"}
    r1 = daemon.req("POST", "/v1/callbacks", json=body, headers=hdr)
    r2 = daemon.req("POST", "/v1/callbacks", json=body, headers=hdr)
    assert r1.status_code == r2.status_code == 201
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert r2.headers.get("Location") == r1.headers["Location"]


def test_concurrent_retries_with_one_idempotency_key_book_once(daemon, sql, make_agent):
    make_agent(daemon, "alice")
    body = booking()
    hdr = {"Idempotency-Key": "twins-1"}
    results = [None] * 6

    def go(i):
        results[i] = daemon.req("POST", "/v1/callbacks", json=body, headers=hdr)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None and r.status_code == 201 for r in results), \
        [(r.status_code, r.text[:200]) for r in results if r is not None]
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 5
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 1


@pytest.mark.parametrize("when", ["asap", "scheduled"])
@pytest.mark.parametrize("inactive_agent", [False, True], ids=["no-agent", "only-inactive"])
def test_no_agent_at_all_is_409_no_agents_and_writes_nothing(daemon, sql, make_agent,
                                                             inactive_agent, when):
    if inactive_agent:
        make_agent(daemon, "alice", active=False)
    counts = row_counts(sql)
    body = booking(when="asap" if when == "asap" else from_now(days=3))
    r = daemon.req("POST", "/v1/callbacks", json=body, headers={"Idempotency-Key": "k1"})
    assert_problem(r, 409, "/problems/no-agents")
    assert row_counts(sql) == counts == {t: 0 for t in counts}
    assert sql.scalar("SELECT COUNT(*) FROM idempotency") == 0
