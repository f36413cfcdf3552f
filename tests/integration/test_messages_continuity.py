"""The customer is told the truth, once: texts that no longer hold are
withdrawn (cancel, completion), a move replaces the pending texts rather than
adding to them, a burst of reschedules is one text with the final time, and
a customer's reschedule that changes the agent is confirmed at once.

The clock is Monday 2 November 2026 (London on GMT, so local reads as UTC);
quiet hours are the default 21:00-08:00 in the customer's zone.
"""

import json

import pytest

from helpers import make_key, wait_until
from util_api import clock_advance, clock_to, config_keys, epoch, relaxed

DAY = "2026-11-02"
NEXT = "2026-11-03"
NOTE = {"summary": "Refund asked for", "next_step": "Confirm the refund",
        "reason": "Rebalancing the evening"}

_phone = iter(range(30_000_000, 39_999_999))


def conf(**extra):
    """Test config; keys this build does not know are left out, so the
    same tests can be run against an older daemon to see them fail."""
    keys = config_keys()
    return {k: v for k, v in relaxed(**extra).items() if k in keys}


def at(hhmm, day=DAY):
    return f"{day}T{hhmm}:00Z"


def daily(start_hhmm, hours):
    return {"start": f"2026-11-01T{start_hhmm}:00", "duration": f"PT{hours}H",
            "rrule": "FREQ=DAILY", "tz": "Europe/London"}


def put_shifts(d, agent_id, *shifts):
    r = d.admin("PUT", f"/v1/agents/{agent_id}/shifts", json={"shifts": list(shifts)})
    assert r.status_code == 200, r.text


def book(d, when, tz="Europe/London"):
    body = {"customer": {"name": "Ada Lovelace", "phone": "+4473%08d" % next(_phone),
                         "timezone": tz},
            "topic": "Billing question", "when": when, "notify": ["sms"]}
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def texts(sql, cid, kind=None, status=None):
    q, args = "SELECT * FROM outbox WHERE callback_id = %s AND channel = 'sms'", [cid]
    if kind:
        q += " AND kind = %s"
        args.append(kind)
    if status:
        q += " AND status = %s"
        args.append(status)
    rows = sql.query(q + " ORDER BY id", args)
    for r in rows:
        r["body"] = json.loads(r["payload"])["body"]
    return rows


def messages(d, cid):
    r = d.admin("GET", f"/v1/callbacks/{cid}/messages")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def settle(d, sql):
    """Every message due by the daemon's clock is sent and recorded (so a
    clock jump cannot make a leased one due twice)."""
    now = clock_advance(d, 0)
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND due_at <= %s",
        (now,)) == 0, msg="messages due now sent")


def sms_bodies(rx):
    return [r.json()["body"] for r in rx.matching("/sms")]


@pytest.fixture
def crew(daemon_factory, make_agent, webhook_receiver):
    """A daemon with SMS to the receiver; Alex, Sam and Kim on 08:00-20:00
    daily; a lead key. The clock is 21:30 on Monday: quiet hours."""
    rx = webhook_receiver
    d = daemon_factory(conf(sms_mode="webhook", sms_url=rx.url + "/sms",
                            outbox_poll_ms=50, change_coalesce_sec=60))
    clock_to(d, at("12:00"))

    class Crew:
        pass

    c = Crew()
    c.d, c.rx = d, rx
    for name in ("alex", "sam", "kim"):
        a, key = make_agent(d, name, capacity=4)
        setattr(c, name, a["id"])
        setattr(c, name + "_key", key)
        put_shifts(d, a["id"], daily("08:00", 12))
    c.lead = make_key(d, "lead", "lena")
    return c


def move(c, cid, to):
    r = c.d.req("POST", "/v1/handoffs", key=c.lead,
                json={"callback_ids": [cid], "to_agent": to, "note": NOTE})
    assert r.status_code == 201, r.text


def owned_by(c, sql, who):
    """A callback tomorrow at 11:00 owned by who (booked until it lands)."""
    for _ in range(12):
        cb = book(c.d, at("11:00", NEXT))
        if sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb["id"],)) == who:
            return cb
    raise AssertionError("no booking went to the wanted agent")


@pytest.mark.parametrize("end", ["cancel", "complete"])
def test_call_ended_withdraws_the_owner_text_held_for_quiet_hours(crew, sql, end):
    c = crew
    cb = owned_by(c, sql, c.alex)
    settle(c.d, sql)
    clock_to(c.d, at("21:30"))
    move(c, cb["id"], c.sam)
    [held] = texts(sql, cb["id"], "sms.owner_changed")
    assert held["status"] == "pending" and "Sam" in held["body"]
    assert held["due_at"] == epoch(at("08:00", NEXT)), "not held for quiet hours"

    if end == "cancel":
        r = c.d.req("DELETE", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"])
        assert r.status_code == 200, r.text
    else:
        r = c.d.req("POST", f"/v1/callbacks/{cb['id']}/claim", key=c.sam_key)
        assert r.status_code == 200, r.text
        r = c.d.req("POST", f"/v1/callbacks/{cb['id']}/outcome", key=c.sam_key,
                    json={"result": "reached"})
        assert r.status_code == 200, r.text

    # Withdrawn, and staff see it so.
    by_id = {m["id"]: m for m in messages(c.d, cb["id"])}
    assert by_id[held["msg_id"]]["status"] == "withdrawn", by_id[held["msg_id"]]
    # Nothing else is left to go out; the cancel's own text is not held
    # (it may already be on its way).
    assert [t["kind"] for t in texts(sql, cb["id"])
            if t["id"] > held["id"] and t["status"] != "withdrawn"] == \
        (["sms.cancelled"] if end == "cancel" else [])
    # Morning comes: nothing about a call that is over but the cancel text.
    settle(c.d, sql)
    clock_to(c.d, at("08:30", NEXT))
    settle(c.d, sql)
    assert not [b for b in sms_bodies(c.rx) if "Sam" in b], sms_bodies(c.rx)
    sent = [t["kind"] for t in texts(sql, cb["id"], status="sent")]
    if end == "cancel":
        assert "sms.cancelled" in sent, sent
    assert "sms.owner_changed" not in sent and "sms.reminder" not in sent, sent


def test_second_move_replaces_the_pending_owner_text(crew, sql):
    c = crew
    cb = owned_by(c, sql, c.alex)
    settle(c.d, sql)
    clock_to(c.d, at("21:30"))
    move(c, cb["id"], c.sam)
    clock_advance(c.d, 600)
    move(c, cb["id"], c.kim)
    pending = texts(sql, cb["id"], "sms.owner_changed", "pending")
    assert len(pending) == 1, [t["body"] for t in pending]
    assert pending[0]["body"].startswith("Kim will call you"), pending[0]["body"]
    [old] = texts(sql, cb["id"], "sms.owner_changed", "withdrawn")
    assert "Sam" in old["body"]

    clock_to(c.d, at("08:01", NEXT))
    got = wait_until(lambda: [b for b in sms_bodies(c.rx) if "will call you on Tuesday" in b
                              and "notes" in b], msg="the morning's owner text")
    settle(c.d, sql)
    owner_texts = [b for b in sms_bodies(c.rx) if "notes" in b]
    assert owner_texts == got and len(got) == 1 and got[0].startswith("Kim"), owner_texts


def test_rapid_reschedules_are_one_text_with_the_final_time(crew, sql):
    c = crew
    cb = book(c.d, at("15:00", NEXT))
    settle(c.d, sql)
    # The test clock runs on from 12:00 while the machine works: read it.
    before = clock_advance(c.d, 0)
    for hhmm in ("15:30", "16:00", "16:45"):
        r = c.d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
                    json={"when": at(hhmm, NEXT)})
        assert r.status_code == 200, r.text
    after = clock_advance(c.d, 0)
    pending = texts(sql, cb["id"], "sms.rescheduled", "pending")
    assert len(pending) == 1, [t["body"] for t in pending]
    assert "Tuesday, 3 November at 16:45" in pending[0]["body"], pending[0]["body"]
    assert len(texts(sql, cb["id"], "sms.rescheduled", "withdrawn")) == 2
    # Held for the coalescing window only, then sent once.
    assert before < pending[0]["due_at"] <= after + 60
    assert not [b for b in sms_bodies(c.rx) if "moved" in b]
    clock_advance(c.d, 61)
    got = wait_until(lambda: [b for b in sms_bodies(c.rx) if "moved" in b],
                     msg="the rescheduled text")
    settle(c.d, sql)
    moved = [b for b in sms_bodies(c.rx) if "moved" in b]
    assert moved == got and len(moved) == 1 and "16:45" in moved[0], moved
    # The reminders follow the final time only.
    reminders = texts(sql, cb["id"], "sms.reminder", "pending")
    assert sorted(t["due_at"] for t in reminders) == [epoch(at("16:45")),
                                                      epoch(at("16:30", NEXT))]


def test_owner_changing_reschedule_confirms_at_once(daemon_factory, make_agent, sql,
                                                    webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(conf(sms_mode="webhook", sms_url=rx.url + "/sms",
                            outbox_poll_ms=50, change_coalesce_sec=30))
    clock_to(d, at("12:00"))
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("08:00", 6))
    put_shifts(d, sam["id"], daily("14:00", 8))
    cb = book(d, at("10:00", NEXT))
    assert sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb["id"],)) == alex["id"]
    settle(d, sql)
    # 22:00, the customer's quiet hours: they move the call to 17:00,
    # when only Sam works.
    now = clock_to(d, at("22:00"))
    r = d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
              json={"when": at("17:00", NEXT)})
    assert r.status_code == 200, r.text
    assert r.json()["owner"]["display_name"] == "Sam"
    [confirm] = texts(sql, cb["id"], "sms.rescheduled")
    assert confirm["status"] == "pending"
    assert confirm["due_at"] <= now + 30, "the confirmation waits for the morning"
    assert confirm["body"] == "Your callback is moved: Sam will call you on Tuesday, 3 " \
                           "November at 17:00 (United Kingdom Time).", confirm["body"]
    # No second text saying the same again in the morning.
    assert texts(sql, cb["id"], "sms.owner_changed", "pending") == []
    clock_advance(d, 31)
    wait_until(lambda: [b for b in sms_bodies(rx) if "moved" in b], msg="the confirmation")


# --------------------------------------------------------------------------
# At reschedule the customer chooses: the same person, or the earliest anyone


def test_reschedule_choice_same_person_or_earliest(daemon_factory, make_agent, sql):
    d = daemon_factory(conf(slot_minutes=60))
    clock_to(d, at("06:00"))
    alex, _ = make_agent(d, "alex")
    sam, _ = make_agent(d, "sam")
    put_shifts(d, alex["id"], daily("09:00", 4))
    put_shifts(d, sam["id"], daily("07:00", 13))
    # Sam is on too: book until the case is Alex's.
    for _ in range(12):
        cb = book(d, at("10:00", NEXT))
        if sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cb["id"],)) == alex["id"]:
            break
    else:
        raise AssertionError("no booking went to Alex")
    path, tok = f"/v1/callbacks/{cb['id']}", cb["manage_token"]
    assert d.req("GET", path, key=tok).json()["owner"]["display_name"] == "Alex"

    # The same person, at a time Alex does not work: refused, with Alex's
    # next free slot; nothing changes.
    r = d.req("PATCH", path, key=tok, json={"when": at("16:00", NEXT), "choice": "same_person"})
    assert r.status_code == 409, r.text
    p = r.json()
    assert p["type"] == "/problems/owner-unavailable" and p["errors"][0]["field"] == "when", p
    assert epoch(p["next_available"]) == epoch(at("09:00", "2026-11-04")), p
    assert sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (cb["id"],)) == \
        epoch(at("10:00", NEXT))

    # The same person, no time: Alex's first free slot, still Alex.
    r = d.req("PATCH", path, key=tok, json={"choice": "same_person"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert epoch(b["scheduled_at"]) == epoch(at("09:00")) and b["owner"]["display_name"] == "Alex"
    assert "previous_owner" not in b
    assert sql.scalar("SELECT COUNT(*) FROM handoffs WHERE callback_id = %s", (cb["id"],)) == 0

    # The earliest anyone: Sam at 07:00; the call moves with a handoff note
    # and the answer and the manage view say who is expected now.
    r = d.req("PATCH", path, key=tok, json={"choice": "earliest"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert epoch(b["scheduled_at"]) == epoch(at("07:00"))
    assert b["owner"]["display_name"] == "Sam", b
    assert b["previous_owner"] == {"display_name": "Alex"}, b
    [h] = sql.query("SELECT * FROM handoffs WHERE callback_id = %s", (cb["id"],))
    assert (h["from_agent"], h["to_agent"]) == (alex["id"], sam["id"])
    assert h["reason"] and h["next_step"]
    assert d.req("GET", path, key=tok).json()["owner"]["display_name"] == "Sam"

    # Only the two choices exist.
    r = d.req("PATCH", path, key=tok, json={"choice": "anyone"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "choice", r.text
    r = d.req("PATCH", path, key=tok, json={})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "when", r.text


# --------------------------------------------------------------------------
# Retries: inside the owner's shift, the opening hours and the customer's
# quiet hours; one on another day is news to the customer


def invite_events(smtp):
    """(SEQUENCE, DTSTART, METHOD) of every invite mail, parsed by an
    independent iCalendar parser."""
    import icalendar

    out = []
    for mail in smtp.messages:
        for part in mail.message.walk():
            if part.get_content_type() == "text/calendar" and not part.get_filename():
                cal = icalendar.Calendar.from_ical(part.get_content())
                [ev] = list(cal.walk("VEVENT"))
                out.append((int(ev["SEQUENCE"]), ev.decoded("DTSTART"), str(cal["METHOD"])))
    return out


def attempt(d, key, cid, result="no_answer"):
    r = d.req("POST", f"/v1/callbacks/{cid}/claim", key=key)
    assert r.status_code == 200, r.text
    r = d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key, json={"result": result})
    assert r.status_code == 200, r.text
    return r.json()


def test_retry_keeps_to_the_customers_quiet_hours_across_dst_and_tells_them(
        daemon_factory, make_agent, sql, webhook_receiver, smtp_receiver):
    """Denver is on summer time from 10 March 2030, London only from the
    31st. Alice works 12:00-20:00 London. A no answer at 19:40 London
    (13:40 in Denver) cannot be retried before her shift ends; her next
    shift starts at 06:00 Denver time, inside the customer's quiet hours
    (21:00-08:00): the retry is at 08:00 MDT, 14:00 UTC (on MST it would
    read 15:00). It is on another day, so the customer gets the updated
    invite (SEQUENCE up) and a text with the time in their zone."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    rx = webhook_receiver
    d = daemon_factory(conf(sms_mode="webhook", sms_url=rx.url + "/sms",
                            smtp_url=smtp_receiver.url, outbox_poll_ms=50))
    clock_to(d, "2030-03-11T12:00:00Z")
    alice, key = make_agent(d, "alice", display_name="Alice")
    r = d.admin("PUT", f"/v1/agents/{alice['id']}/shifts", json={"shifts": [
        {"start": "2030-03-01T12:00:00", "duration": "PT8H", "rrule": "FREQ=DAILY",
         "tz": "Europe/London"}]})
    assert r.status_code == 200, r.text
    body = {"customer": {"name": "Dee", "phone": "+13035550100", "timezone": "America/Denver",
                         "email": "dee@example.org"},
            "topic": "Router", "when": "2030-03-11T19:00:00Z", "notify": ["sms", "email"]}
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    smtp_receiver.wait_for(1)
    settle(d, sql)

    clock_to(d, "2030-03-11T19:40:00Z")
    b = attempt(d, key, cid)
    assert b["state"] == "retry_wait", b
    due = sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (cid,))
    assert due == epoch("2030-03-12T14:00:00Z"), utc_of(due)
    local = datetime.fromtimestamp(due, ZoneInfo("America/Denver"))
    assert local.hour == 8 and local.utcoffset().total_seconds() == -6 * 3600

    # Told: the updated invite and a text in the customer's zone.
    [text] = texts(sql, cid, "sms.retry")
    assert "Tuesday, March 12 at 8:00 AM (Denver Time)" in text["body"], text["body"]
    mails = smtp_receiver.wait_for(2)
    invites = invite_events(smtp_receiver)
    assert [(s, m) for s, _, m in invites] == [(0, "REQUEST"), (1, "REQUEST")], invites
    assert invites[1][1] == local, invites
    assert invites[1][1].tzinfo is not None and \
        invites[1][1].utcoffset().total_seconds() == -6 * 3600
    wait_until(lambda: [r for r in rx.matching("/sms") if "8:00 AM (Denver Time)" in r.json()["body"]],
               msg="the retry text")
    assert len(mails) == 2
    ics = d.req("GET", f"/v1/callbacks/{cid}/invite.ics", key=d.admin_key).text
    assert "SEQUENCE:1" in ics, ics


def utc_of(t):
    from util_api import utc_text
    return utc_text(t)


def test_retry_waits_for_opening_hours_and_a_same_day_one_says_nothing(
        daemon_factory, make_agent, sql, webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(conf(sms_mode="webhook", sms_url=rx.url + "/sms", outbox_poll_ms=50,
                            site_timezone="Europe/London",
                            opening_hours="mon-fri 09:00-18:00"))
    clock_to(d, "2030-01-09T09:00:00Z")  # a Wednesday
    _, key = make_agent(d, "alice", display_name="Alice")
    cb = book(d, "2030-01-09T10:00:00Z")
    settle(d, sql)
    # Wednesday 10:05: half an hour later is still Wednesday, open: no news.
    clock_to(d, "2030-01-09T10:05:00Z")
    attempt(d, key, cb["id"], "busy")
    due = sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (cb["id"],))
    assert due == epoch("2030-01-09T10:35:00Z")
    assert texts(sql, cb["id"], "sms.retry") == []
    # Friday 17:45: 18:15 is closed; Monday 09:00 it is, with a text.
    clock_to(d, "2030-01-11T17:45:00Z")
    attempt(d, key, cb["id"], "no_answer")
    due = sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (cb["id"],))
    assert due == epoch("2030-01-14T09:00:00Z"), utc_of(due)
    [text] = texts(sql, cb["id"], "sms.retry")
    assert "Monday, 14 January at 09:00" in text["body"], text["body"]


def test_retry_moved_to_the_next_shift_sends_updated_invite_and_text(
        daemon_factory, make_agent, sql, webhook_receiver, smtp_receiver):
    import icalendar  # noqa: F401 (python3-icalendar parses the invites)

    rx = webhook_receiver
    d = daemon_factory(conf(sms_mode="webhook", sms_url=rx.url + "/sms",
                            smtp_url=smtp_receiver.url, outbox_poll_ms=50))
    clock_to(d, "2030-01-09T09:00:00Z")  # Wednesday, London on GMT
    alice, key = make_agent(d, "alice", display_name="Alice")
    r = d.admin("PUT", f"/v1/agents/{alice['id']}/shifts", json={"shifts": [
        {"start": "2030-01-01T09:00:00", "duration": "PT8H", "rrule": "FREQ=DAILY",
         "tz": "Europe/London"}]})
    assert r.status_code == 200, r.text
    body = {"customer": {"name": "Ada", "phone": "+447400900001", "timezone": "Europe/London",
                         "email": "ada@example.org"},
            "topic": "Invoice", "when": "2030-01-09T16:30:00Z", "notify": ["sms", "email"]}
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    smtp_receiver.wait_for(1)
    settle(d, sql)
    clock_to(d, "2030-01-09T16:45:00Z")
    attempt(d, key, cid)
    # Alice is gone at 17:00: Thursday 09:00.
    due = sql.scalar("SELECT due_at FROM callbacks WHERE id = %s", (cid,))
    assert due == epoch("2030-01-10T09:00:00Z"), utc_of(due)
    smtp_receiver.wait_for(2)
    invites = invite_events(smtp_receiver)
    assert [(s, m) for s, _, m in invites] == [(0, "REQUEST"), (1, "REQUEST")], invites
    assert int(invites[1][1].timestamp()) == due
    got = wait_until(lambda: [r.json()["body"] for r in rx.matching("/sms")
                              if "try again" in r.json()["body"]], msg="the retry text")
    assert got == ["We could not reach you. Alice will try again on Thursday, 10 January at 09:00 "
                   "(United Kingdom Time). "
                   f"Change or cancel: {d.url}/v1/callbacks/{cid}?token="
                   + got[0].split("?token=")[1]], got


def test_rapid_reschedules_are_one_updated_invite(daemon_factory, make_agent, sql,
                                                 smtp_receiver):
    d = daemon_factory(conf(smtp_url=smtp_receiver.url, outbox_poll_ms=50,
                            change_coalesce_sec=60))
    clock_to(d, at("12:00"))
    make_agent(d, "alice", display_name="Alice")
    body = {"customer": {"name": "Ada", "phone": "+447400900002", "timezone": "Europe/London",
                         "email": "ada@example.org"},
            "topic": "Invoice", "when": at("15:00", NEXT), "notify": ["email"]}
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, r.text
    cb = r.json()
    smtp_receiver.wait_for(1)
    settle(d, sql)
    for hhmm in ("15:30", "16:00", "16:45"):
        r = d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
                  json={"when": at(hhmm, NEXT)})
        assert r.status_code == 200, r.text
    rows = sql.query("SELECT status, payload FROM outbox WHERE callback_id = %s AND "
                     "kind = 'invite.request' ORDER BY id", (cb["id"],))
    assert [x["status"] for x in rows] == ["sent", "withdrawn", "withdrawn", "pending"], rows
    clock_advance(d, 61)
    smtp_receiver.wait_for(2)
    settle(d, sql)
    invites = invite_events(smtp_receiver)
    assert [(s, m) for s, _, m in invites] == [(0, "REQUEST"), (3, "REQUEST")], invites
    assert int(invites[1][1].timestamp()) == epoch(at("16:45", NEXT))
