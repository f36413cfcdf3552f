"""Slots and the booking rules behind them, end to end: GET /v1/slots
against opening hours, closures, shifts, time off, capacity and bookings,
in several zones and across a DST change; concurrent bookings for one slot;
the refusals of POST and PATCH /v1/callbacks (too soon, outside hours, slot
full, rate limits) and the owner a booking gets. Refusals are checked in
the problem+json answer and in MariaDB, where nothing may have changed."""

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests

from util_api import (assert_problem, book, booking, relaxed, row_counts,
                      set_clock, unique_phone)

UTC = timezone.utc
WEEKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
OPEN_STATES = "('pending','scheduled','retry_wait','in_progress')"


# --------------------------------------------------------------------------
# Small helpers


def dt(s):
    """An RFC 3339 string as an aware datetime."""
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def epoch(s):
    return int(dt(s).timestamp())


def z(d):
    """An aware datetime as RFC 3339 UTC with Z."""
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def offset_of(s):
    """The offset part of an RFC 3339 string: "Z", "+05:30", ..."""
    return "Z" if s.endswith("Z") else s[-6:]


def expected_offset(instant, tz):
    """The RFC 3339 offset a time in zone tz should carry."""
    off = instant.astimezone(ZoneInfo(tz)).utcoffset()
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return "%s%02d:%02d" % (sign, abs(minutes) // 60, abs(minutes) % 60)


def assert_in_zone(s, tz):
    """s is an RFC 3339 time written with zone tz's local time and offset."""
    instant = dt(s)
    assert offset_of(s) == expected_offset(instant, tz), (s, tz)
    local = instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S")
    assert s.startswith(local), (s, tz, local)


def get_slots(d, frm=None, to=None, tz=None, case=None, key=None):
    params = {}
    for k, v in (("from", frm), ("to", to), ("tz", tz), ("case", case)):
        if v is not None:
            params[k] = v
    return d.req("GET", "/v1/slots", params=params, key=key)


def slots(d, frm, to, tz="UTC", case=None, key=None):
    """GET /v1/slots, asserted 200; the parsed body."""
    r = get_slots(d, frm, to, tz, case, key)
    assert r.status_code == 200, f"GET /v1/slots -> {r.status_code}: {r.text[:2000]}"
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def by_start(body):
    """{start instant (epoch): slot} of a slot list."""
    return {epoch(s["start"]): s for s in body}


def avail(d, start, tz="UTC"):
    """available of the one slot starting at start (RFC 3339). The window
    asked for covers whole slots of up to four hours, so no booking in the
    slot falls outside it."""
    t = dt(start)
    body = slots(d, z(t), z(t + timedelta(hours=4)), tz)
    got = [s for s in body if epoch(s["start"]) == epoch(start)]
    assert len(got) == 1, body
    return got[0]["available"]


def put_shifts(d, agent_id, shifts):
    r = d.admin("PUT", f"/v1/agents/{agent_id}/shifts", json={"shifts": shifts})
    assert r.status_code == 200, r.text
    return r.json()


def cb_row(sql, cid):
    return sql.query("SELECT * FROM callbacks WHERE id = %s", (cid,))[0]


def open_in(sql, start, end):
    """Open callbacks due in [start, end) (epochs), as rows."""
    return sql.query(f"SELECT id, owner_id, due_at FROM callbacks WHERE state IN "
                     f"{OPEN_STATES} AND due_at >= %s AND due_at < %s", (start, end))


def no_writes(sql, before):
    assert row_counts(sql) == before


def is_problem(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip() == \
        "application/problem+json"


# --------------------------------------------------------------------------
# The race: many customers, one slot


RACE_NOW = "2030-03-04T09:00:00Z"  # a Monday
RACE_SLOT = "2030-03-06T10:00:00Z"


@pytest.mark.parametrize("layout", ["three-agents-one-each", "one-agent-three-places"])
def test_200_concurrent_bookings_for_one_slot_of_3_places_book_exactly_3(
        daemon_factory, sql, make_agent, layout):
    if layout == "three-agents-one-each":
        d = daemon_factory(relaxed(max_per_agent_per_slot=1, slot_minutes=30,
                                   store_threads=8))
        set_clock(d, RACE_NOW)
        agents = [make_agent(d, f"racer{i}", capacity=5)[0] for i in range(3)]
        # Rostered: a weekday shift covering the slot, so the on-shift path
        # is the one raced.
        for a in agents:
            put_shifts(d, a["id"], [{"start": "2030-03-04T08:00:00", "duration": "PT8H",
                                     "rrule": WEEKDAYS, "tz": "UTC"}])
        # A fourth agent off shift at that time adds nothing.
        idle, _ = make_agent(d, "idle", capacity=5)
        put_shifts(d, idle["id"], [{"start": "2030-03-04T18:00:00", "duration": "PT4H",
                                    "rrule": WEEKDAYS, "tz": "UTC"}])
    else:
        d = daemon_factory(relaxed(max_per_agent_per_slot=3, slot_minutes=30,
                                   store_threads=8))
        set_clock(d, RACE_NOW)
        agents = [make_agent(d, "solo", capacity=3)[0]]
    assert avail(d, RACE_SLOT) == 3

    n = 200
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        body = booking(phone=unique_phone(), when=RACE_SLOT, tz="Europe/Berlin")
        with requests.Session() as s:
            try:
                barrier.wait(timeout=60)
                results[i] = s.post(d.url + "/v1/callbacks", json=body, timeout=120)
            except Exception as e:  # a failed request is a finding too
                results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    errors = [r for r in results if not isinstance(r, requests.Response)]
    assert not errors, errors[:5]
    codes = {}
    for r in results:
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
    assert codes == {201: 3, 409: 197}, \
        (codes, [r.text[:300] for r in results if r.status_code not in (201, 409)][:5])
    for r in results:
        if r.status_code == 409:
            p = assert_problem(r, 409, "/problems/slot-full", "when")
            # The next slot is free: the answer offers it, in Berlin time.
            assert epoch(p["next_available"]) == epoch(RACE_SLOT) + 1800, p
            assert_in_zone(p["next_available"], "Europe/Berlin")
    won = [r.json() for r in results if r.status_code == 201]
    assert len({b["id"] for b in won}) == 3
    assert all(epoch(b["scheduled_at"]) == epoch(RACE_SLOT) for b in won)

    start = epoch(RACE_SLOT)
    rows = open_in(sql, start, start + 1800)
    assert len(rows) == 3
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 3
    # The losers rolled back completely: no customer, case or event of theirs.
    assert sql.scalar("SELECT COUNT(*) FROM customers") == 3
    assert sql.scalar("SELECT COUNT(*) FROM cases") == 3
    assert sql.scalar("SELECT COUNT(*) FROM events") == 3
    owners = [row["owner_id"] for row in rows]
    if layout == "three-agents-one-each":
        assert sorted(owners) == sorted(a["id"] for a in agents)
    else:
        assert owners == [agents[0]["id"]] * 3
    for a in agents:
        assert sql.scalar("SELECT open_count FROM agents WHERE id = %s", (a["id"],)) == \
            owners.count(a["id"])
    assert avail(d, RACE_SLOT) == 0


# --------------------------------------------------------------------------
# Slot arithmetic across zones


def test_slots_render_the_same_instants_in_every_zone_across_the_fall_back(
        daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 60})
    set_clock(d, "2026-10-30T12:00:00Z")
    make_agent(d, "anne", timezone="Asia/Kolkata")  # no shifts: always on duty
    frm, to = "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"
    lists = {tz: slots(d, frm, to, tz) for tz in
             ("UTC", "Asia/Kolkata", "America/Denver", "Europe/London")}
    for tz, body in lists.items():
        assert len(body) == 72, (tz, len(body))

    instants = [epoch(s["start"]) for s in lists["UTC"]]
    assert instants == [epoch(frm) + 3600 * i for i in range(72)]
    for tz, body in lists.items():
        assert [epoch(s["start"]) for s in body] == instants, tz
        for s in body:
            assert epoch(s["end"]) - epoch(s["start"]) == 3600, s
            assert s["available"] == 1, s
            if tz == "UTC":
                assert s["start"].endswith("Z") and s["end"].endswith("Z"), s
            else:
                assert_in_zone(s["start"], tz)
                assert_in_zone(s["end"], tz)

    kolkata = lists["Asia/Kolkata"]
    assert {offset_of(s["start"]) for s in kolkata} == {"+05:30"}
    assert kolkata[0]["start"] == "2026-10-31T05:30:00+05:30"
    assert kolkata[0]["end"] == "2026-10-31T06:30:00+05:30"

    denver = {s["start"]: s for s in lists["America/Denver"]}
    # Summer time until 2026-11-01T08:00Z, then winter time.
    assert lists["America/Denver"][0]["start"] == "2026-10-30T18:00:00-06:00"
    assert lists["America/Denver"][-1]["start"] == "2026-11-02T16:00:00-07:00"
    # 01:00 local happens twice; both hours are listed, an hour apart.
    assert denver["2026-11-01T01:00:00-06:00"]["end"] == "2026-11-01T01:00:00-07:00"
    assert denver["2026-11-01T01:00:00-07:00"]["end"] == "2026-11-01T02:00:00-07:00"
    assert {offset_of(s) for s in denver} == {"-06:00", "-07:00"}
    for s in denver:
        want = "-06:00" if epoch(s) < epoch("2026-11-01T08:00:00Z") else "-07:00"
        assert offset_of(s) == want, s


def test_kolkata_opening_hours_give_half_hour_aligned_utc_slots(daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 30, "site_timezone": "Asia/Kolkata",
                        "opening_hours": "mon-fri 09:00-17:00"})
    set_clock(d, "2026-10-27T00:00:00Z")  # Tuesday
    make_agent(d, "ravi", capacity=1)
    body = slots(d, "2026-10-28T00:00:00Z", "2026-10-29T00:00:00Z", "Asia/Kolkata")
    starts = [s["start"] for s in body]
    # 09:00-17:00 IST is 03:30-11:30 UTC: 16 half-hour slots.
    assert starts[0] == "2026-10-28T09:00:00+05:30"
    assert body[-1]["end"] == "2026-10-28T17:00:00+05:30"
    assert len(starts) == 16
    utc = slots(d, "2026-10-28T00:00:00Z", "2026-10-29T00:00:00Z")
    assert utc[0]["start"] == "2026-10-28T03:30:00Z" and utc[-1]["end"] == "2026-10-28T11:30:00Z"


def shift_hours_utc(day, tz, start_h, end_h):
    """[start, end) of a local shift on date day (YYYY-MM-DD) in zone tz, UTC."""
    y, m, dd = map(int, day.split("-"))
    a = datetime(y, m, dd, start_h, tzinfo=ZoneInfo(tz))
    b = datetime(y, m, dd, end_h, tzinfo=ZoneInfo(tz))
    return a.astimezone(UTC), b.astimezone(UTC)


def test_new_york_day_shift_gives_slots_only_within_it_across_the_dst_change(
        daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 30})
    set_clock(d, "2026-10-28T12:00:00Z")  # Wednesday, before New York falls back
    agent, _ = make_agent(d, "nora", timezone="America/New_York", capacity=1)
    put_shifts(d, agent["id"], [{"start": "2026-10-05T09:00:00", "duration": "PT8H",
                                 "rrule": WEEKDAYS, "tz": "America/New_York"}])
    frm, to = "2026-10-29T00:00:00Z", "2026-11-05T00:00:00Z"
    body = slots(d, frm, to)
    got = sorted(epoch(s["start"]) for s in body if s["available"] > 0)

    want = []
    for day in ("2026-10-29", "2026-10-30", "2026-11-02", "2026-11-03", "2026-11-04"):
        a, b = shift_hours_utc(day, "America/New_York", 9, 17)
        t = a
        while t < b:
            want.append(int(t.timestamp()))
            t += timedelta(minutes=30)
    assert got == sorted(want)
    # In UTC the day moves by an hour when New York falls back.
    firsts = {}
    for t in got:
        day = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")
        firsts.setdefault(day, datetime.fromtimestamp(t, UTC).strftime("%H:%M"))
    assert firsts == {"2026-10-29": "13:00", "2026-10-30": "13:00",
                      "2026-11-02": "14:00", "2026-11-03": "14:00", "2026-11-04": "14:00"}
    # Every other listed slot (no opening hours: always open) has no room.
    assert all(s["available"] == 0 for s in body if epoch(s["start"]) not in want)

    # In New York time the same slots are always 09:00-16:30 starts.
    ny = slots(d, frm, to, "America/New_York")
    local = [s for s in ny if s["available"] > 0]
    assert len(local) == len(want)
    for s in local:
        assert_in_zone(s["start"], "America/New_York")
        assert "09:00" <= s["start"][11:16] <= "16:30", s
    assert {offset_of(s["start"]) for s in local} == {"-04:00", "-05:00"}

    # Booking outside the shift: nobody works then (not "fully booked"),
    # and the answer offers the next shift's first slot, after the change,
    # in the customer's zone.
    r = d.req("POST", "/v1/callbacks",
              json=booking(when="2026-10-30T21:00:00Z", tz="America/New_York"))
    p = assert_problem(r, 409, "/problems/no-agents-on-duty", "when")
    assert p["next_available"] == "2026-11-02T09:00:00-05:00"
    b = book(d, booking(when="2026-11-02T14:00:00Z", tz="America/New_York")).json()
    assert b["scheduled_at"] == "2026-11-02T09:00:00-05:00"
    assert b["owner"]["display_name"] == "Nora"


def test_time_off_removes_the_agent_from_those_slots(daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 60})
    set_clock(d, "2026-10-28T06:00:00Z")
    agent, _ = make_agent(d, "tess", timezone="UTC", capacity=1)
    put_shifts(d, agent["id"], [{"start": "2026-10-05T09:00:00", "duration": "PT8H",
                                 "rrule": WEEKDAYS, "tz": "UTC"}])
    r = d.admin("POST", f"/v1/agents/{agent['id']}/time-off",
                json={"from": "2026-10-29T11:00:00Z", "to": "2026-10-29T13:30:00Z",
                      "reason": "dentist"})
    assert r.status_code in (200, 201), r.text
    body = by_start(slots(d, "2026-10-29T00:00:00Z", "2026-10-30T00:00:00Z"))
    free = sorted(t for t, s in body.items() if s["available"])
    hours = [datetime.fromtimestamp(t, UTC).hour for t in free]
    # 09-17 minus 11:00-13:30: the 13:00 slot is cut too (on duty for the
    # whole slot only).
    assert hours == [9, 10, 14, 15, 16]


# --------------------------------------------------------------------------
# Capacity and bookings


def test_available_is_capacity_minus_booked_and_cancel_restores_it(
        daemon_factory, sql, make_agent):
    d = daemon_factory(relaxed(slot_minutes=30, max_per_agent_per_slot=2))
    set_clock(d, "2026-10-28T06:00:00Z")
    make_agent(d, "ann", capacity=2)   # 2 per slot
    make_agent(d, "ben", capacity=1)   # 1
    make_agent(d, "cat", capacity=5)   # capped at 2
    make_agent(d, "dan", capacity=3, active=False)  # inactive: nothing
    slot = "2026-10-29T10:00:00Z"
    other = "2026-10-29T10:30:00Z"
    assert avail(d, slot) == 5 and avail(d, other) == 5

    booked = []
    for left in (4, 3, 2, 1, 0):
        b = book(d, booking(when=slot)).json()
        booked.append(b)
        assert avail(d, slot) == left
        assert avail(d, other) == 5
    # Per agent: never more than min(capacity, max per slot).
    rows = open_in(sql, epoch(slot), epoch(slot) + 1800)
    per = {}
    for row in rows:
        per[row["owner_id"]] = per.get(row["owner_id"], 0) + 1
    assert sorted(per.values()) == [1, 2, 2]

    # A full slot is still listed, with nothing available, and refused.
    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-29T10:10:00Z"))
    p = assert_problem(r, 409, "/problems/slot-full", "when")
    assert epoch(p["next_available"]) == epoch(other)
    no_writes(sql, before)

    # Cancelling gives the place back, one at a time.
    r = d.req("DELETE", f"/v1/callbacks/{booked[0]['id']}", key=booked[0]["manage_token"])
    assert r.status_code == 200, r.text
    assert avail(d, slot) == 1
    r = d.req("DELETE", f"/v1/callbacks/{booked[1]['id']}", key=booked[1]["manage_token"])
    assert r.status_code == 200, r.text
    assert avail(d, slot) == 2
    book(d, booking(when=slot))
    assert avail(d, slot) == 1


def test_a_window_ending_inside_a_slot_still_counts_the_whole_slot(daemon_factory, make_agent):
    # The last slot listed runs past "to"; a callback booked in it after
    # "to" still takes its place. A slot listed as available must be one a
    # booking can get.
    d = daemon_factory({"slot_minutes": 30})
    set_clock(d, "2026-10-28T06:00:00Z")
    make_agent(d, "una", capacity=1)
    book(d, booking(when="2026-10-29T10:20:00Z"))
    for to in ("2026-10-29T10:01:00Z", "2026-10-29T10:15:00Z", "2026-10-29T10:20:00Z"):
        body = slots(d, "2026-10-29T09:00:00Z", to)
        last = body[-1]
        assert last["start"] == "2026-10-29T10:00:00Z" and \
            last["end"] == "2026-10-29T10:30:00Z", body
        assert last["available"] == 0, (to, body)
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-29T10:00:00Z"))
    assert_problem(r, 409, "/problems/slot-full", "when")


# --------------------------------------------------------------------------
# Opening hours, closures, notice and horizon


LONDON_HOURS = "mon-fri 08:00-20:00; sat 09:00-13:00"


def london_open(instant, closures):
    """Independent model of the site's hours: the whole 60-minute slot
    starting at instant inside a London opening interval."""
    local = instant.astimezone(ZoneInfo("Europe/London"))
    if local.strftime("%Y-%m-%d") in closures:
        return False
    start = local.hour * 60 + local.minute
    wd = local.weekday()  # Monday 0
    if wd <= 4:
        return 8 * 60 <= start and start + 60 <= 20 * 60
    if wd == 5:
        return 9 * 60 <= start and start + 60 <= 13 * 60
    return False


def test_opening_hours_and_closures_in_the_site_zone(daemon_factory, sql, make_agent):
    closures = {"2026-10-27"}
    d = daemon_factory({"slot_minutes": 60, "site_timezone": "Europe/London",
                        "opening_hours": LONDON_HOURS, "closures": "2026-10-27, 2026-12-25"})
    set_clock(d, "2026-10-21T12:00:00Z")  # Wednesday; London leaves summer time on the 25th
    make_agent(d, "owen", capacity=2)
    frm, to = "2026-10-23T00:00:00Z", "2026-10-29T00:00:00Z"
    body = slots(d, frm, to, "Europe/London")
    got = [epoch(s["start"]) for s in body]
    want = []
    t = dt(frm)
    while t < dt(to):
        if london_open(t, closures):
            want.append(int(t.timestamp()))
        t += timedelta(hours=1)
    assert got == want
    # Fri 12, Sat 4, Sun 0, Mon 12, Tue (closed) 0, Wed 12.
    assert len(got) == 40
    for s in body:
        assert_in_zone(s["start"], "Europe/London")
        assert s["available"] == 1
    locals_ = [s["start"] for s in body]
    assert locals_[0] == "2026-10-23T08:00:00+01:00"  # BST
    assert "2026-10-24T12:00:00+01:00" in locals_ and "2026-10-24T13:00:00+01:00" not in locals_
    assert "2026-10-26T08:00:00+00:00" in locals_  # GMT: 08:00Z now
    assert not any(s.startswith("2026-10-27") for s in locals_)

    before = row_counts(sql)
    # A closed date, a Sunday, and Saturday's 13:00 (slot would end at 14:00).
    for when, nxt in (("2026-10-27T10:00:00Z", "2026-10-28T08:00:00Z"),
                      ("2026-10-25T10:00:00Z", "2026-10-26T08:00:00Z"),
                      ("2026-10-24T12:00:00Z", "2026-10-26T08:00:00Z"),
                      ("2026-10-23T06:30:00Z", "2026-10-23T07:00:00Z")):
        r = d.req("POST", "/v1/callbacks", json=booking(when=when, tz="Asia/Tokyo"))
        p = assert_problem(r, 409, "/problems/outside-hours", "when")
        assert epoch(p["next_available"]) == epoch(nxt), (when, p)
        assert_in_zone(p["next_available"], "Asia/Tokyo")
    no_writes(sql, before)
    # The last Saturday slot, 12:00-13:00 BST, is bookable.
    assert book(d, booking(when="2026-10-24T11:00:00Z")).status_code == 201


def test_asap_outside_opening_hours_is_409_with_next_available_in_customer_zone(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"site_timezone": "Europe/London", "opening_hours": LONDON_HOURS,
                        "closures": "2026-10-27"})
    make_agent(d, "olga")
    before = row_counts(sql)
    cases = [
        # Saturday afternoon: next is Monday 08:00 GMT, and New York has
        # left summer time by then.
        ("2026-10-31T15:00:00Z", "America/New_York", "2026-11-02T03:00:00-05:00"),
        # Sunday: Monday 08:00 GMT, in Kolkata.
        ("2026-10-25T12:00:00Z", "Asia/Kolkata", "2026-10-26T13:30:00+05:30"),
        # A closed Tuesday: Wednesday morning.
        ("2026-10-27T10:00:00Z", "Europe/London", "2026-10-28T08:00:00+00:00"),
        # A weekday evening after 20:00: the next morning, in Denver.
        ("2026-10-28T20:30:00Z", "America/Denver", "2026-10-29T02:00:00-06:00"),
    ]
    for now, tz, nxt in cases:
        set_clock(d, now)
        r = d.req("POST", "/v1/callbacks", json=booking(tz=tz))
        p = assert_problem(r, 409, "/problems/outside-hours", "when")
        assert p["next_available"] == nxt, (now, p)
        assert_in_zone(p["next_available"], tz)
    no_writes(sql, before)
    # Open again: ASAP is accepted.
    set_clock(d, "2026-10-28T10:00:00Z")
    assert book(d, booking()).json()["state"] == "pending"


def test_asap_with_nobody_on_duty_is_409_with_the_next_shift(daemon_factory, sql, make_agent):
    d = daemon_factory({"slot_minutes": 30})
    set_clock(d, "2026-10-28T12:00:00Z")  # 08:00 in New York
    agent, _ = make_agent(d, "nick", timezone="America/New_York")
    put_shifts(d, agent["id"], [{"start": "2026-10-05T09:00:00", "duration": "PT8H",
                                 "rrule": WEEKDAYS}])
    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(tz="Europe/Paris"))
    p = assert_problem(r, 409, "/problems/no-agents-on-duty", "when")
    assert p["next_available"] == "2026-10-28T14:00:00+01:00"
    no_writes(sql, before)
    set_clock(d, "2026-10-28T13:05:00Z")
    assert book(d, booking()).status_code == 201


def test_a_slot_nobody_works_is_no_agents_on_duty_and_a_booked_one_slot_full(
        daemon_factory, sql, make_agent):
    """Two refusals a customer must tell apart: nobody works then (pick
    another time of day), or everyone who works then is booked (the next
    slot may do). Both are 409 with next_available, for bookings and
    reschedules alike."""
    d = daemon_factory(relaxed(slot_minutes=60))
    set_clock(d, "2026-10-28T06:00:00Z")
    una, _ = make_agent(d, "una", timezone="UTC", capacity=1)
    put_shifts(d, una["id"], [{"start": "2026-10-05T09:00:00", "duration": "PT4H",
                               "rrule": WEEKDAYS, "tz": "UTC"}])
    first = book(d, booking(when="2026-10-29T10:00:00Z")).json()
    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-29T15:00:00Z"))
    p = assert_problem(r, 409, "/problems/no-agents-on-duty", "when")
    assert epoch(p["next_available"]) == epoch("2026-10-30T09:00:00Z"), p
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-29T10:00:00Z"))
    p = assert_problem(r, 409, "/problems/slot-full", "when")
    assert epoch(p["next_available"]) == epoch("2026-10-29T11:00:00Z"), p
    no_writes(sql, before)
    r = d.req("PATCH", f"/v1/callbacks/{first['id']}", key=first["manage_token"],
              json={"when": "2026-10-29T18:00:00Z"})
    assert_problem(r, 409, "/problems/no-agents-on-duty", "when")


def test_min_notice_and_horizon(daemon_factory, sql, make_agent):
    d = daemon_factory({"slot_minutes": 30, "min_notice_min": 120,
                        "booking_horizon_days": 2})
    set_clock(d, "2026-10-28T12:10:00Z")
    make_agent(d, "mia")
    body = slots(d, "2026-10-28T00:00:00Z", "2026-11-01T00:00:00Z")
    starts = [s["start"] for s in body]
    # First: the first slot starting at least two hours from now (14:10).
    assert starts[0] == "2026-10-28T14:30:00Z"
    # Last: the last slot starting within two days from now.
    assert starts[-1] == "2026-10-30T12:00:00Z"
    assert len(starts) == (epoch(starts[-1]) - epoch(starts[0])) // 1800 + 1
    assert all(s["available"] == 1 for s in body)

    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-28T14:00:00Z"))
    assert_problem(r, 422, "/problems/too-soon", "when")
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-30T12:30:00Z"))
    assert_problem(r, 422, "/problems/beyond-horizon", "when")
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-28T12:00:00Z"))
    assert_problem(r, 422, "/problems/time-in-past", "when")
    no_writes(sql, before)
    # Listing from beyond the horizon is refused.
    r = get_slots(d, "2026-10-30T13:00:00Z", "2026-10-31T00:00:00Z")
    assert_problem(r, 400, "/problems/beyond-horizon", "from")
    assert book(d, booking(when="2026-10-28T14:30:00Z")).status_code == 201
    assert book(d, booking(when="2026-10-30T12:00:00Z")).status_code == 201


def test_a_time_with_enough_notice_in_a_slot_starting_too_soon_is_not_slot_full(
        daemon_factory, sql, make_agent):
    # 14:20 is more than min_notice ahead, but its slot starts at 14:00,
    # which is not: the answer may accept the time or call it too soon; it
    # must not claim an empty slot is full.
    d = daemon_factory({"slot_minutes": 30, "min_notice_min": 120})
    set_clock(d, "2026-10-28T12:10:00Z")
    make_agent(d, "mo")
    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks", json=booking(when="2026-10-28T14:20:00Z"))
    if r.status_code == 201:
        assert cb_row(sql, r.json()["id"])["due_at"] == epoch("2026-10-28T14:20:00Z")
    else:
        assert_problem(r, 422, "/problems/too-soon", "when")
        no_writes(sql, before)


# --------------------------------------------------------------------------
# case= and owners


def test_case_marks_the_slots_its_owner_can_take(daemon_factory, sql, make_agent):
    d = daemon_factory({"slot_minutes": 60})
    set_clock(d, "2026-10-28T06:00:00Z")
    owner, _ = make_agent(d, "olive", timezone="UTC", capacity=1)
    put_shifts(d, owner["id"], [{"start": "2026-10-05T09:00:00", "duration": "PT4H",
                                 "rrule": WEEKDAYS, "tz": "UTC"}])
    phone = unique_phone()
    b = book(d, booking(phone=phone, when="2026-10-29T10:00:00Z")).json()
    case_id = cb_row(sql, b["id"])["case_id"]
    assert sql.scalar("SELECT owner_id FROM cases WHERE id = %s", (case_id,)) == owner["id"]
    make_agent(d, "other", capacity=1)  # no shifts: always on duty

    frm, to = "2026-10-29T06:00:00Z", "2026-10-29T16:00:00Z"
    plain = slots(d, frm, to)
    assert all("owner_available" not in s for s in plain)
    marked = by_start(slots(d, frm, to, case=str(case_id), key=b["manage_token"]))
    assert sorted(marked) == sorted(by_start(plain))
    for t, s in marked.items():
        hour = datetime.fromtimestamp(t, UTC).hour
        mine = 9 <= hour < 13 and hour != 10  # on shift, and 10:00 is taken
        assert s["owner_available"] is mine, s
        assert s["available"] == (1 + (1 if 9 <= hour < 13 and hour != 10 else 0)), s

    # The case's next booking goes to its owner where marked.
    b2 = book(d, booking(phone=phone, when="2026-10-29T11:00:00Z", force_new=True)).json()
    assert cb_row(sql, b2["id"])["owner_id"] == owner["id"]
    assert by_start(slots(d, frm, to, case=str(case_id), key=d.admin_key))[
        epoch("2026-10-29T11:00:00Z")]["owner_available"] is False

    r = get_slots(d, frm, to, case="999999", key=d.admin_key)
    assert_problem(r, 404, "/problems/not-found", "case")


def test_case_slots_need_that_cases_token_or_staff(daemon_factory, sql, make_agent):
    """Who works when on a case is not for anyone who guesses its id."""
    d = daemon_factory(relaxed(slot_minutes=60))
    set_clock(d, "2026-10-28T06:00:00Z")
    make_agent(d, "olive", timezone="UTC", capacity=2)
    _, agent_key = make_agent(d, "other", capacity=2)
    mine = book(d, booking(when="2026-10-29T10:00:00Z")).json()
    theirs = book(d, booking(when="2026-10-29T11:00:00Z")).json()
    case_id = cb_row(sql, mine["id"])["case_id"]
    frm, to = "2026-10-29T06:00:00Z", "2026-10-29T16:00:00Z"

    # Anonymous: refused, with or without a case that exists.
    for case in (str(case_id), "999999"):
        assert_problem(get_slots(d, frm, to, case=case), 401, "/problems/unauthorized",
                       "case")
    # Another case's token: as if there were no such case.
    assert_problem(get_slots(d, frm, to, case=str(case_id), key=theirs["manage_token"]),
                   404, "/problems/not-found", "case")
    # The case's own token, in the header or the link, and staff: answered.
    for key in (mine["manage_token"], agent_key, d.admin_key):
        assert all("owner_available" in x for x in slots(d, frm, to, case=str(case_id),
                                                         key=key))
    r = d.req("GET", "/v1/slots", params={"from": frm, "to": to, "case": case_id,
                                         "token": mine["manage_token"]})
    assert r.status_code == 200 and all("owner_available" in x for x in r.json()), r.text
    # Without case= the list stays public.
    assert slots(d, frm, to)


def test_owner_is_the_case_owner_on_shift_else_the_least_loaded_on_shift(
        daemon_factory, sql, make_agent):
    d = daemon_factory(relaxed(slot_minutes=30, max_open_per_phone=10))
    set_clock(d, "2026-10-28T06:00:00Z")

    def shift(hour, hours):
        return [{"start": f"2026-10-05T{hour:02d}:00:00", "duration": hours * 3600,
                 "rrule": WEEKDAYS, "tz": "UTC"}]

    amy, _ = make_agent(d, "amy", capacity=10)
    put_shifts(d, amy["id"], shift(9, 4))      # 09-13
    x = unique_phone()
    first = book(d, booking(phone=x, when="2026-10-29T09:00:00Z")).json()
    assert cb_row(sql, first["id"])["owner_id"] == amy["id"]

    bob, _ = make_agent(d, "bob", capacity=10)
    cyd, _ = make_agent(d, "cyd", capacity=10)
    eve, _ = make_agent(d, "eve", capacity=10)
    put_shifts(d, bob["id"], shift(9, 8))      # 09-17
    put_shifts(d, cyd["id"], shift(9, 8))      # 09-17
    put_shifts(d, eve["id"], shift(18, 4))     # 18-22: never on shift below
    # Another customer: goes to bob or cyd (amy has more open, eve is off).
    y = book(d, booking(when="2026-10-29T11:00:00Z")).json()
    loaded = cb_row(sql, y["id"])["owner_id"]
    assert loaded in (bob["id"], cyd["id"])
    light = cyd["id"] if loaded == bob["id"] else bob["id"]

    # The case owner is on shift with room: they keep the customer, although
    # they carry the most open callbacks.
    b = book(d, booking(phone=x, when="2026-10-29T10:30:00Z", force_new=True)).json()
    assert cb_row(sql, b["id"])["owner_id"] == amy["id"]
    assert b["owner"]["display_name"] == "Amy"
    # Off shift: the least loaded agent on shift.
    b = book(d, booking(phone=x, when="2026-10-29T15:00:00Z", force_new=True)).json()
    row = cb_row(sql, b["id"])
    assert row["owner_id"] == light
    assert row["case_id"] == cb_row(sql, first["id"])["case_id"]
    # The case owner on shift but full in that slot: someone else on shift.
    b = book(d, booking(phone=x, when="2026-10-29T09:10:00Z", force_new=True)).json()
    assert cb_row(sql, b["id"])["owner_id"] in (bob["id"], cyd["id"])
    for a in (amy, bob, cyd, eve):
        assert sql.scalar("SELECT open_count FROM agents WHERE id = %s", (a["id"],)) == \
            sql.scalar(f"SELECT COUNT(*) FROM callbacks WHERE owner_id = %s AND state IN "
                       f"{OPEN_STATES}", (a["id"],))
    assert sql.scalar("SELECT open_count FROM agents WHERE id = %s", (eve["id"],)) == 0


def test_returning_customer_gets_200_existing_and_takes_no_second_place(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"slot_minutes": 30})
    set_clock(d, "2026-10-28T06:00:00Z")
    make_agent(d, "rita", capacity=1)
    make_agent(d, "russ", capacity=1)
    phone = unique_phone()
    first = book(d, booking(phone=phone, when="2026-10-29T10:00:00Z")).json()
    assert avail(d, "2026-10-29T10:00:00Z") == 1
    before = row_counts(sql)
    r = book(d, booking(phone=phone, when="2026-10-29T10:00:00Z"), expect=(200,))
    again = r.json()
    assert again["existing"] is True and again["id"] == first["id"]
    assert epoch(again["scheduled_at"]) == epoch("2026-10-29T10:00:00Z")
    assert "manage_token" not in again
    no_writes(sql, before)
    assert avail(d, "2026-10-29T10:00:00Z") == 1
    # Another time does not move the open callback either.
    r = book(d, booking(phone=phone, when="2026-10-29T12:00:00Z"), expect=(200,))
    assert r.json()["id"] == first["id"]
    assert cb_row(sql, first["id"])["due_at"] == epoch("2026-10-29T10:00:00Z")
    assert avail(d, "2026-10-29T12:00:00Z") == 2


# --------------------------------------------------------------------------
# Rescheduling


def test_reschedule_into_a_full_slot_is_409_and_changes_nothing(daemon_factory, sql, make_agent):
    d = daemon_factory(relaxed(slot_minutes=30))
    set_clock(d, "2026-10-28T06:00:00Z")
    make_agent(d, "pat", capacity=1)
    t1, t2, t3 = "2026-10-29T10:00:00Z", "2026-10-29T11:00:00Z", "2026-10-29T14:00:00Z"
    a = book(d, booking(when=t1)).json()
    b = book(d, booking(when=t2, tz="America/Denver")).json()
    assert avail(d, t1) == 0 and avail(d, t2) == 0

    row = cb_row(sql, b["id"])
    before = row_counts(sql)
    r = d.req("PATCH", f"/v1/callbacks/{b['id']}", key=b["manage_token"],
              json={"when": "2026-10-29T10:15:00Z"})
    p = assert_problem(r, 409, "/problems/slot-full", "when")
    assert epoch(p["next_available"]) == epoch("2026-10-29T10:30:00Z")
    assert_in_zone(p["next_available"], "America/Denver")
    assert cb_row(sql, b["id"]) == row
    no_writes(sql, before)
    g = d.req("GET", f"/v1/callbacks/{b['id']}", key=b["manage_token"]).json()
    assert g["id"] == b["id"] and g["scheduled_at"] == b["scheduled_at"]
    assert g["state"] == "scheduled"

    # Within its own slot a callback may move: it does not count against itself.
    r = d.req("PATCH", f"/v1/callbacks/{a['id']}", key=a["manage_token"],
              json={"when": "2026-10-29T10:20:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == a["id"]
    assert avail(d, t1) == 0

    # To a free slot: same id, new time, the old place freed.
    r = d.req("PATCH", f"/v1/callbacks/{b['id']}", key=b["manage_token"], json={"when": t3})
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["id"] == b["id"] and epoch(moved["scheduled_at"]) == epoch(t3)
    assert_in_zone(moved["scheduled_at"], "America/Denver")
    assert cb_row(sql, b["id"])["due_at"] == epoch(t3)
    assert avail(d, t2) == 1 and avail(d, t3) == 0
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == 2

    # The same rules as booking: too soon and outside the horizon.
    for when, status, ptype in (("2026-10-28T06:20:00Z", 422, "/problems/too-soon"),
                                ("2027-10-28T06:20:00Z", 422, "/problems/beyond-horizon")):
        before = row_counts(sql)
        r = d.req("PATCH", f"/v1/callbacks/{b['id']}", key=b["manage_token"],
                  json={"when": when})
        assert_problem(r, status, ptype, "when")
        no_writes(sql, before)
        assert cb_row(sql, b["id"])["due_at"] == epoch(t3)


# --------------------------------------------------------------------------
# Rate limits


def test_per_phone_limit_is_429_with_retry_after_and_writes_nothing(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"rate_phone_per_hour": 2, "rate_ip_per_10min": 0})
    set_clock(d, "2026-10-28T10:00:00Z")
    make_agent(d, "lee")
    phone = unique_phone()
    for _ in range(2):
        b = book(d, booking(phone=phone, name="Ada Lovelace")).json()
        assert d.req("DELETE", f"/v1/callbacks/{b['id']}",
                     key=b["manage_token"]).status_code == 200
    cust = sql.query("SELECT * FROM customers WHERE phone = %s", (phone,))
    before = row_counts(sql)
    r = d.req("POST", "/v1/callbacks",
              json=booking(phone=phone, name="Someone Else", tz="Asia/Tokyo"))
    assert_problem(r, 429, "/problems/rate-limited", "customer.phone")
    ra = int(r.headers["Retry-After"])
    assert 1 <= ra <= 3601, ra
    no_writes(sql, before)
    assert sql.query("SELECT * FROM customers WHERE phone = %s", (phone,)) == cust
    # Another phone from the same address is fine.
    assert book(d, booking()).status_code == 201
    # An hour later the phone may book again.
    set_clock(d, "2026-10-28T11:00:30Z")
    assert book(d, booking(phone=phone)).status_code == 201


def test_per_address_limit_is_429_with_retry_after_and_writes_nothing(
        daemon_factory, sql, make_agent):
    d = daemon_factory({"rate_phone_per_hour": 0, "rate_ip_per_10min": 3})
    set_clock(d, "2026-10-28T10:00:00Z")
    make_agent(d, "ivy")
    for _ in range(3):
        book(d, booking())
    before = row_counts(sql)
    for when in ("asap", "2026-10-29T10:00:00Z"):
        r = d.req("POST", "/v1/callbacks", json=booking(when=when))
        assert_problem(r, 429, "/problems/rate-limited")
        ra = int(r.headers["Retry-After"])
        assert 1 <= ra <= 601, ra
        no_writes(sql, before)
    set_clock(d, "2026-10-28T10:10:30Z")
    assert book(d, booking()).status_code == 201


# --------------------------------------------------------------------------
# Bad input: a clear 4xx problem, never 5xx


BAD_QUERIES = [
    ({"from": "2026-10-29T12:00:00Z", "to": "2026-10-29T10:00:00Z"}, "invalid-range", "to"),
    ({"from": "2026-10-29T12:00:00Z", "to": "2026-10-29T12:00:00Z"}, "invalid-range", "to"),
    ({"from": "2026-10-29T00:00:00Z", "to": "2026-11-13T00:00:01Z"}, "range-too-long", "to"),
    ({"from": "2027-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z"}, "beyond-horizon", "from"),
    ({"tz": "Mars/Olympus_Mons"}, "invalid-timezone", "tz"),
    ({"tz": ""}, "invalid-timezone", "tz"),
    ({"tz": "../../../../etc/passwd"}, "invalid-timezone", "tz"),
    ({"tz": "Europe/London\n"}, "invalid-timezone", "tz"),
    ({"tz": "x" * 300}, "invalid-timezone", "tz"),
    ({"from": "tomorrow"}, "invalid-time", "from"),
    ({"from": ""}, "invalid-time", "from"),
    ({"from": "2026-10-29T10:00:00"}, "invalid-time", "from"),  # no offset
    ({"from": "2026-13-01T10:00:00Z"}, "invalid-time", "from"),
    ({"from": "2026-02-30T10:00:00Z"}, "invalid-time", "from"),
    ({"from": "2026-10-29T25:00:00Z"}, "invalid-time", "from"),
    ({"from": "2026-10-29T10:00:00+25:00"}, "invalid-time", "from"),
    ({"from": "2026-10-29 10:00"}, "invalid-time", "from"),
    ({"from": "2026-10-29T10:00:00Z", "to": "soon"}, "invalid-time", "to"),
    ({"from": "2026-10-29T10:00:00Z", "to": "2026-10-29T11:00:00Zjunk"}, "invalid-time", "to"),
    ({"case": "abc"}, "invalid-query", "case"),
    ({"case": ""}, "invalid-query", "case"),
    ({"case": "0"}, "invalid-query", "case"),
    ({"case": "-3"}, "invalid-query", "case"),
    ({"case": "12abc"}, "invalid-query", "case"),
    ({"case": "1.5"}, "invalid-query", "case"),
]


@pytest.fixture
def slot_daemon(daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 30})
    set_clock(d, "2026-10-28T12:00:00Z")
    make_agent(d, "bea")
    return d


@pytest.mark.parametrize("params,ptype,field", BAD_QUERIES,
                         ids=[f"{i}-{p[1]}" for i, p in enumerate(BAD_QUERIES)])
def test_bad_slot_queries_are_400_problems(slot_daemon, params, ptype, field):
    r = slot_daemon.req("GET", "/v1/slots", params=params)
    assert_problem(r, 400, f"/problems/{ptype}", field)


def test_slot_query_limits_at_the_edges(daemon_factory, make_agent):
    d = daemon_factory({"slot_minutes": 30, "slots_max_range_days": 3,
                        "booking_horizon_days": 10})
    set_clock(d, "2026-10-28T11:59:00Z")
    make_agent(d, "edna")
    # Exactly the widest range is fine, a second more is not.
    slots(d, "2026-10-29T00:00:00Z", "2026-11-01T00:00:00Z")
    r = get_slots(d, "2026-10-29T00:00:00Z", "2026-11-01T00:00:01Z")
    p = assert_problem(r, 400, "/problems/range-too-long", "to")
    assert "3" in p["detail"]
    # from at the horizon is fine; past it is not.
    slots(d, "2026-11-07T11:00:00Z", "2026-11-08T00:00:00Z")
    r = get_slots(d, "2026-11-07T12:00:00Z", "2026-11-08T00:00:00Z")
    assert_problem(r, 400, "/problems/beyond-horizon", "from")
    # An offset in the query is honoured.
    body = slots(d, "2026-10-29T10:00:00+05:30", "2026-10-29T11:00:00+05:30")
    assert [s["start"] for s in body] == ["2026-10-29T04:30:00Z", "2026-10-29T05:00:00Z"]
    # A from in the middle of a slot starts the list at the next whole slot.
    body = slots(d, "2026-10-29T10:10:00Z", "2026-10-29T11:00:00Z")
    assert [s["start"] for s in body] == ["2026-10-29T10:30:00Z"]
    # Defaults: tz UTC, from now (11:59 and a little), with 30 minutes' notice.
    r = d.req("GET", "/v1/slots", params={"to": "2026-10-28T14:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json()[0]["start"] == "2026-10-28T12:30:00Z"


ODD_VALUES = ["", " ", "%", "\x00", "null", "[]", "{}", "1" * 400, "\u00e9\u00e8",
              "2026-10-29T10:00:00.123456789Z", "2026-10-29T10:00:60Z",
              "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
              "-2026-10-29T10:00:00Z", "+002026-10-29T10:00:00Z",
              "2026-10-29T10:00:00-23:59", "2026-10-29T10:00:00+14:00",
              "99999999999999999999", "-1", "1e9"]


def test_odd_slot_queries_never_5xx(slot_daemon):
    for name in ("from", "to", "tz", "case"):
        for v in ODD_VALUES:
            params = {"from": "2026-10-29T00:00:00Z", "to": "2026-10-30T00:00:00Z"}
            params[name] = v
            r = slot_daemon.req("GET", "/v1/slots", params=params)
            assert r.status_code < 500, (name, v, r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert is_problem(r), (name, v, r.headers)
                assert r.json()["status"] == r.status_code
    # Far in the past is harmless: nothing is bookable there (or the time
    # is refused outright).
    r = slot_daemon.req("GET", "/v1/slots", params={"from": "1900-01-01T00:00:00Z",
                                                     "to": "1900-01-10T00:00:00Z"})
    if r.status_code == 200:
        assert r.json() == []
    else:
        assert_problem(r, 400, "/problems/invalid-time", "from")
    assert slot_daemon.req("GET", "/healthz").status_code == 200


@pytest.mark.parametrize("when,status,ptype", [
    ("tomorrow at ten", 400, "invalid-time"),
    ("2026-10-29T10:00:00", 400, "invalid-time"),
    ("2026-10-29", 400, "invalid-time"),
    (1790000000, 400, "invalid-field"),
    ("2026-10-28T11:00:00Z", 422, "time-in-past"),
    ("2027-01-01T10:00:00Z", 422, "beyond-horizon"),
])
def test_bad_booking_times_are_refused_and_write_nothing(slot_daemon, sql, when, status, ptype):
    before = row_counts(sql)
    r = slot_daemon.req("POST", "/v1/callbacks", json=booking(when=when))
    assert_problem(r, status, f"/problems/{ptype}", "when")
    no_writes(sql, before)
