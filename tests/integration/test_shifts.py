"""Shift rosters end to end: PUT and GET of an agent's shift rules with their
spans in UTC across DST changes, time off, calendar import, and who may do
what. Every refusal is checked twice: in the problem+json answer and in
MariaDB, where nothing may have changed."""

import pytest

from helpers import make_key

PROBLEM = "application/problem+json"
NOW = "2026-10-28T12:00:00Z"  # a Wednesday, four days before New York's DST end
WEEKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
DAY_SHIFT = {"start": "2026-10-05T09:00:00", "duration": "PT8H",
             "rrule": WEEKDAYS}


def set_clock(daemon, now=NOW):
    r = daemon.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text


def put_shifts(daemon, agent_id, shifts, key=None):
    return daemon.req("PUT", f"/v1/agents/{agent_id}/shifts",
                      key=key or daemon.admin_key, json={"shifts": shifts})


def get_shifts(daemon, agent_id, key=None, **params):
    return daemon.req("GET", f"/v1/agents/{agent_id}/shifts",
                      key=key or daemon.admin_key, params=params)


def spans(body):
    return [(s["start"], s["end"]) for s in body["upcoming"]]


def assert_problem(r, status, ptype, field=None):
    assert r.status_code == status, f"wanted {status} {ptype}: {r.status_code} {r.text}"
    assert r.headers["Content-Type"].split(";")[0] == PROBLEM, r.headers
    p = r.json()
    assert p["type"] == f"/problems/{ptype}", p
    assert p["status"] == status and p["title"] and isinstance(p["detail"], str), p
    if field is not None:
        assert p["errors"][0]["field"] == field, p
        assert p["errors"][0]["message"], p
    return p


def shift_rows(sql, agent_id=None):
    q = ("SELECT agent_id, tz, start_local, duration_sec, rrule, exdates, "
         "source, import_uid FROM shifts")
    if agent_id is None:
        return sql.query(q + " ORDER BY id")
    return sql.query(q + " WHERE agent_id = %s ORDER BY id", (agent_id,))


@pytest.fixture
def ny_agent(daemon, make_agent):
    set_clock(daemon)
    return make_agent(daemon, "nora", display_name="Nora North",
                      timezone="America/New_York", email="nora@example.com")


# --------------------------------------------------------------------------
# PUT and GET


def test_weekday_shifts_answer_utc_spans_across_the_fall_back(daemon, sql, ny_agent):
    agent, _ = ny_agent
    r = put_shifts(daemon, agent["id"], [DAY_SHIFT])
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["agent_id"] == agent["id"]
    [rule] = b["shifts"]
    assert isinstance(rule["id"], int) and rule["id"] > 0
    # No tz given: the agent's zone. A string duration is stored in seconds.
    assert rule["tz"] == "America/New_York"
    assert rule["duration"] == 8 * 3600
    assert rule["start"] == "2026-10-05T09:00:00" and rule["rrule"] == WEEKDAYS
    assert rule["source"] == "api" and rule["exdates"] == []
    assert b["from"] == NOW and b["to"] == "2026-11-04T12:00:00Z"
    # 09:00-17:00 New York is 13-21Z in EDT and 14-22Z from 1 November.
    assert spans(b) == [
        ("2026-10-28T13:00:00Z", "2026-10-28T21:00:00Z"),
        ("2026-10-29T13:00:00Z", "2026-10-29T21:00:00Z"),
        ("2026-10-30T13:00:00Z", "2026-10-30T21:00:00Z"),
        ("2026-11-02T14:00:00Z", "2026-11-02T22:00:00Z"),
        ("2026-11-03T14:00:00Z", "2026-11-03T22:00:00Z"),
    ]
    assert shift_rows(sql) == [{
        "agent_id": agent["id"], "tz": "America/New_York",
        "start_local": "2026-10-05T09:00:00", "duration_sec": 28800,
        "rrule": WEEKDAYS, "exdates": "", "source": "api", "import_uid": None}]

    g = get_shifts(daemon, agent["id"])
    assert g.status_code == 200, g.text
    assert g.json()["shifts"] == b["shifts"] and spans(g.json()) == spans(b)


def test_spans_follow_the_spring_forward(daemon, ny_agent):
    agent, _ = ny_agent
    assert put_shifts(daemon, agent["id"], [DAY_SHIFT]).status_code == 200
    # Clocks go forward on Sunday 14 March 2027.
    r = get_shifts(daemon, agent["id"], **{"from": "2027-03-11T00:00:00Z",
                                           "to": "2027-03-17T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert spans(r.json()) == [
        ("2027-03-11T14:00:00Z", "2027-03-11T22:00:00Z"),
        ("2027-03-12T14:00:00Z", "2027-03-12T22:00:00Z"),
        ("2027-03-15T13:00:00Z", "2027-03-15T21:00:00Z"),
        ("2027-03-16T13:00:00Z", "2027-03-16T21:00:00Z"),
    ]


def test_night_shift_over_midnight_lasts_nine_hours_on_the_fall_back(daemon, sql, ny_agent):
    agent, _ = ny_agent
    night = {"start": "2026-10-30T22:00:00", "duration": 28800,
             "rrule": "FREQ=DAILY", "tz": "America/New_York"}
    assert put_shifts(daemon, agent["id"], [night]).status_code == 200
    r = get_shifts(daemon, agent["id"], **{"from": "2026-10-31T00:00:00Z",
                                           "to": "2026-11-02T12:00:00Z"})
    assert r.status_code == 200, r.text
    # 22:00-06:00 local: 8 hours, 9 the night the clocks go back.
    assert spans(r.json()) == [
        ("2026-10-31T02:00:00Z", "2026-10-31T10:00:00Z"),
        ("2026-11-01T02:00:00Z", "2026-11-01T11:00:00Z"),
        ("2026-11-02T03:00:00Z", "2026-11-02T11:00:00Z"),
    ]


def test_put_replaces_all_rules_and_an_empty_list_clears_them(daemon, sql, ny_agent):
    agent, _ = ny_agent
    london = {"start": "2026-10-05T08:00:00", "duration": "PT4H",
              "rrule": "RRULE:FREQ=WEEKLY;BYDAY=SA", "tz": "Europe/London",
              "exdates": ["2026-10-31T08:00:00"]}
    r = put_shifts(daemon, agent["id"], [DAY_SHIFT, london])
    assert r.status_code == 200, r.text
    rules = r.json()["shifts"]
    assert [x["tz"] for x in rules] == ["America/New_York", "Europe/London"]
    assert rules[1]["rrule"] == "FREQ=WEEKLY;BYDAY=SA"
    assert rules[1]["exdates"] == ["2026-10-31T08:00:00"]
    # The Saturday of 31 October is excluded: no span that day.
    assert not [s for s in spans(r.json()) if s[0].startswith("2026-10-31")]

    r = put_shifts(daemon, agent["id"], [DAY_SHIFT])
    assert r.status_code == 200, r.text
    assert len(shift_rows(sql, agent["id"])) == 1
    assert r.json()["shifts"][0]["id"] > rules[1]["id"]

    r = put_shifts(daemon, agent["id"], [])
    assert r.status_code == 200, r.text
    assert r.json()["shifts"] == [] and r.json()["upcoming"] == []
    assert shift_rows(sql, agent["id"]) == []


def test_get_window_is_checked(daemon, ny_agent):
    agent, _ = ny_agent
    assert_problem(get_shifts(daemon, agent["id"], **{
        "from": "2026-11-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"}),
        400, "invalid-range", "to")
    assert_problem(get_shifts(daemon, agent["id"], **{
        "from": "2026-10-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}),
        400, "invalid-range", "to")
    assert_problem(get_shifts(daemon, agent["id"], **{"from": "yesterday"}),
                   400, "invalid-query", "from")


BAD_RULES = [
    ("malformed rrule", [dict(DAY_SHIFT, rrule="FREQ=SOMETIMES")],
     "invalid-shift", "shifts[0].rrule"),
    ("hourly rrule", [dict(DAY_SHIFT, rrule="FREQ=HOURLY")],
     "invalid-shift", "shifts[0].rrule"),
    ("unknown tz", [dict(DAY_SHIFT, tz="Mars/Olympus_Mons")],
     "invalid-shift", "shifts[0].tz"),
    ("zero duration", [dict(DAY_SHIFT, duration=0)],
     "invalid-shift", "shifts[0].duration"),
    ("duration over a day", [dict(DAY_SHIFT, duration=86401)],
     "invalid-shift", "shifts[0].duration"),
    ("iso duration over a day", [dict(DAY_SHIFT, duration="PT25H")],
     "invalid-shift", "shifts[0].duration"),
    ("negative iso duration", [dict(DAY_SHIFT, duration="-PT8H")],
     "invalid-shift", "shifts[0].duration"),
    ("duration in words", [dict(DAY_SHIFT, duration="eight hours")],
     "invalid-shift", "shifts[0].duration"),
    ("missing duration", [{"start": "2026-10-05T09:00:00"}],
     "missing-field", "shifts[0].duration"),
    ("start with a bad offset", [dict(DAY_SHIFT, start="2026-10-05T09:00:00+25:00")],
     "invalid-shift", "shifts[0].start"),
    ("start without seconds", [dict(DAY_SHIFT, start="2026-10-05T09:00")],
     "invalid-shift", "shifts[0].start"),
    ("impossible date", [DAY_SHIFT, dict(DAY_SHIFT, start="2026-02-30T09:00:00")],
     "invalid-shift", "shifts[1].start"),
    ("bad exdate", [dict(DAY_SHIFT, exdates=["2026-10-06"])],
     "invalid-shift", "shifts[0].exdates"),
    ("unknown field", [dict(DAY_SHIFT, end="2026-10-05T17:00:00")],
     "unknown-field", "shifts[0].end"),
    ("not an object", ["09:00-17:00"], "invalid-field", "shifts[0]"),
    ("overlapping rules", [DAY_SHIFT, {"start": "2026-10-05T16:00:00",
                                       "duration": "PT4H", "rrule": WEEKDAYS}],
     "overlapping-shifts", "shifts[1]"),
    ("a rule overlapping itself", [dict(DAY_SHIFT, rrule="FREQ=DAILY;BYHOUR=9,13")],
     "overlapping-shifts", "shifts[0]"),
    ("51 rules", [{"start": f"2026-11-{d:02d}T09:00:00", "duration": 3600}
                  for d in range(1, 31)] +
     [{"start": f"2026-12-{d:02d}T09:00:00", "duration": 3600} for d in range(1, 22)],
     "too-many-shifts", "shifts"),
]


@pytest.mark.parametrize("shifts,ptype,field",
                         [b[1:] for b in BAD_RULES], ids=[b[0] for b in BAD_RULES])
def test_bad_rules_are_refused_and_nothing_changes(daemon, sql, ny_agent, shifts, ptype, field):
    agent, _ = ny_agent
    assert put_shifts(daemon, agent["id"], [DAY_SHIFT]).status_code == 200
    before = shift_rows(sql)
    assert_problem(put_shifts(daemon, agent["id"], shifts), 400, ptype, field)
    assert shift_rows(sql) == before


def test_overlap_names_both_rules_and_the_time(daemon, ny_agent):
    agent, _ = ny_agent
    late = {"start": "2026-10-05T16:00:00", "duration": "PT4H", "rrule": WEEKDAYS}
    p = assert_problem(put_shifts(daemon, agent["id"], [DAY_SHIFT, late]),
                       400, "overlapping-shifts", "shifts[1]")
    assert "shifts[1] overlaps shifts[0]" in p["detail"]
    assert "T20:00:00Z" in p["detail"] or "T21:00:00Z" in p["detail"], p
    # Back to back is a handover, not an overlap.
    evening = {"start": "2026-10-05T17:00:00", "duration": "PT4H", "rrule": WEEKDAYS}
    assert put_shifts(daemon, agent["id"], [DAY_SHIFT, evening]).status_code == 200


def test_one_off_shift_far_ahead_is_checked_against_rules(daemon, ny_agent):
    agent, _ = ny_agent
    # A Monday next spring: inside the weekday rule's 09:00-17:00.
    extra = {"start": "2027-04-05T12:00:00", "duration": "PT2H"}
    assert_problem(put_shifts(daemon, agent["id"], [DAY_SHIFT, extra]),
                   400, "overlapping-shifts", "shifts[1]")
    saturday = {"start": "2027-04-03T12:00:00", "duration": "PT2H"}
    assert put_shifts(daemon, agent["id"], [DAY_SHIFT, saturday]).status_code == 200


def test_malformed_bodies_are_refused(daemon, sql, ny_agent):
    agent, _ = ny_agent
    path = f"/v1/agents/{agent['id']}/shifts"
    assert_problem(daemon.admin("PUT", path, json={}), 400, "missing-field", "shifts")
    assert_problem(daemon.admin("PUT", path, json={"shifts": {"start": "x"}}),
                   400, "invalid-field", "shifts")
    assert_problem(daemon.admin("PUT", path, json="just text"),
                   400, "invalid-json", "body")
    assert shift_rows(sql) == []


def test_the_contracts_bare_list_and_offset_starts_are_accepted(daemon, sql, ny_agent):
    # API.md writes the body as a list of {start, duration, rrule, tz} and
    # times as RFC 3339 with offset: both forms are understood.
    agent, _ = ny_agent
    path = f"/v1/agents/{agent['id']}/shifts"
    r = daemon.admin("PUT", path, json=[dict(DAY_SHIFT, start="2026-10-05T13:00:00Z")])
    assert r.status_code == 200, r.text
    [rule] = r.json()["shifts"]
    # 13:00Z on 5 October is 09:00 in New York (EDT).
    assert rule["start"] == "2026-10-05T09:00:00"
    assert rule["tz"] == "America/New_York"
    assert len(shift_rows(sql)) == 1


def test_unknown_agent_is_404(daemon, sql):
    set_clock(daemon)
    assert_problem(put_shifts(daemon, 999999, [DAY_SHIFT]), 404, "not-found")
    assert_problem(get_shifts(daemon, 999999), 404, "not-found")
    assert_problem(daemon.admin("POST", "/v1/agents/999999/time-off", json={
        "from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}),
        404, "not-found")
    assert_problem(daemon.admin("GET", "/v1/agents/999999/time-off"), 404, "not-found")
    assert_problem(put_shifts(daemon, "abc", [DAY_SHIFT]), 404, "not-found")
    assert shift_rows(sql) == []
    assert sql.scalar("SELECT COUNT(*) FROM time_off") == 0


# --------------------------------------------------------------------------
# Time off


def test_time_off_cuts_spans_and_can_be_removed(daemon, sql, ny_agent):
    agent, _ = ny_agent
    aid = agent["id"]
    assert put_shifts(daemon, aid, [DAY_SHIFT]).status_code == 200
    # Out on Thursday afternoon, and all of Monday.
    r = daemon.admin("POST", f"/v1/agents/{aid}/time-off", json={
        "from": "2026-10-29T13:00:00-04:00", "to": "2026-10-29T18:00:00-04:00",
        "reason": "dentist"})
    assert r.status_code == 201, r.text
    off = r.json()
    assert off["agent_id"] == aid and off["reason"] == "dentist"
    assert off["from"] == "2026-10-29T17:00:00Z" and off["to"] == "2026-10-29T22:00:00Z"
    assert r.headers["Location"] == f"/v1/agents/{aid}/time-off/{off['id']}"
    r = daemon.admin("POST", f"/v1/agents/{aid}/time-off", json={
        "from": "2026-11-02T00:00:00-05:00", "to": "2026-11-03T00:00:00-05:00"})
    assert r.status_code == 201, r.text
    monday = r.json()
    assert monday["reason"] == ""

    assert spans(get_shifts(daemon, aid).json()) == [
        ("2026-10-28T13:00:00Z", "2026-10-28T21:00:00Z"),
        ("2026-10-29T13:00:00Z", "2026-10-29T17:00:00Z"),
        ("2026-10-30T13:00:00Z", "2026-10-30T21:00:00Z"),
        ("2026-11-03T14:00:00Z", "2026-11-03T22:00:00Z"),
    ]
    lst = daemon.admin("GET", f"/v1/agents/{aid}/time-off")
    assert lst.status_code == 200, lst.text
    assert [x["id"] for x in lst.json()["items"]] == [off["id"], monday["id"]]
    assert lst.json()["next_cursor"] is None
    # Absences that ended before ?from are not listed.
    later = daemon.admin("GET", f"/v1/agents/{aid}/time-off",
                         params={"from": "2026-10-30T00:00:00Z"})
    assert [x["id"] for x in later.json()["items"]] == [monday["id"]]

    r = daemon.admin("DELETE", f"/v1/agents/{aid}/time-off/{monday['id']}")
    assert r.status_code == 204, r.text
    assert_problem(daemon.admin("DELETE", f"/v1/agents/{aid}/time-off/{monday['id']}"),
                   404, "not-found")
    assert sql.scalar("SELECT COUNT(*) FROM time_off") == 1
    assert ("2026-11-02T14:00:00Z", "2026-11-02T22:00:00Z") in spans(get_shifts(daemon, aid).json())


BAD_TIME_OFF = [
    ("ends before it starts", {"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
     "invalid-range", "to"),
    ("empty", {"from": "2026-11-03T00:00:00Z", "to": "2026-11-03T00:00:00Z"},
     "invalid-range", "to"),
    ("longer than 90 days", {"from": "2026-11-01T00:00:00Z", "to": "2027-01-30T00:00:01Z"},
     "invalid-range", "to"),
    ("no offset", {"from": "2026-11-01T00:00:00", "to": "2026-11-02T00:00:00Z"},
     "invalid-time", "from"),
    ("missing to", {"from": "2026-11-01T00:00:00Z"}, "missing-field", "to"),
    ("reason too long", {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
                         "reason": "x" * 201}, "too-long", "reason"),
    ("unknown field", {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z",
                       "kind": "sick"}, "unknown-field", "kind"),
]


@pytest.mark.parametrize("body,ptype,field", [b[1:] for b in BAD_TIME_OFF],
                         ids=[b[0] for b in BAD_TIME_OFF])
def test_bad_time_off_is_refused_and_nothing_is_written(daemon, sql, ny_agent, body, ptype, field):
    agent, _ = ny_agent
    r = daemon.admin("POST", f"/v1/agents/{agent['id']}/time-off", json=body)
    assert_problem(r, 400, ptype, field)
    assert sql.scalar("SELECT COUNT(*) FROM time_off") == 0


def test_time_off_of_exactly_90_days_is_accepted(daemon, ny_agent):
    agent, _ = ny_agent
    r = daemon.admin("POST", f"/v1/agents/{agent['id']}/time-off", json={
        "from": "2026-11-01T00:00:00Z", "to": "2027-01-30T00:00:00Z",
        "reason": "parental leave \u2013 first part"})
    assert r.status_code == 201, r.text
    assert r.json()["reason"] == "parental leave \u2013 first part"


# --------------------------------------------------------------------------
# Who may do what


def test_agents_read_their_own_roster_only_and_change_nothing(daemon, sql, make_agent, ny_agent):
    agent, key = ny_agent
    other, _ = make_agent(daemon, "otto", timezone="Europe/Berlin")
    lead = make_key(daemon, "lead", "lead-1")
    aid, oid = agent["id"], other["id"]
    assert put_shifts(daemon, aid, [DAY_SHIFT], key=lead).status_code == 200
    assert put_shifts(daemon, oid, [dict(DAY_SHIFT, tz="Europe/Berlin")],
                      key=lead).status_code == 200
    before = shift_rows(sql)

    assert_problem(put_shifts(daemon, aid, [], key=key), 403, "forbidden")
    mine = get_shifts(daemon, aid, key=key)
    assert mine.status_code == 200 and len(mine.json()["shifts"]) == 1
    assert_problem(get_shifts(daemon, oid, key=key), 403, "forbidden")
    assert daemon.req("GET", f"/v1/agents/{aid}/time-off", key=key).status_code == 200
    assert_problem(daemon.req("GET", f"/v1/agents/{oid}/time-off", key=key), 403, "forbidden")
    assert_problem(daemon.req("POST", f"/v1/agents/{aid}/time-off", key=key, json={
        "from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}), 403, "forbidden")
    assert_problem(daemon.req("POST", "/v1/shifts/import", key=key, data=ics([]),
                              headers={"Content-Type": "text/calendar"}), 403, "forbidden")
    assert_problem(daemon.req("GET", f"/v1/agents/{aid}/shifts"), 401, "unauthorized")
    assert shift_rows(sql) == before
    assert sql.scalar("SELECT COUNT(*) FROM time_off") == 0


# --------------------------------------------------------------------------
# Calendar import


def vevent(uid, lines):
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261001T000000Z", *lines, "END:VEVENT"]


def ics(events):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//callbackd tests//EN"]
    for e in events:
        lines += e
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


GOOD_WEEKLY = vevent("good-1@test", [
    "DTSTART;TZID=America/New_York:20261005T090000",
    "DTEND;TZID=America/New_York:20261005T170000",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "SUMMARY:Day shift",
    "ATTENDEE;CN=NORA:mailto:someone-else@example.com",
])
UNKNOWN_AGENT = vevent("stranger-1@test", [
    "DTSTART;TZID=America/New_York:20261005T090000",
    "DURATION:PT8H",
    "SUMMARY:Day shift",
    "ATTENDEE;CN=Nobody Here:mailto:nobody@example.com",
])
MALFORMED = vevent("bad-1@test", [
    "DTSTART;TZID=America/New_York:20261005T090000",
    "SUMMARY:nora",
])


def import_ics(daemon, body, key=None, **params):
    return daemon.req("POST", "/v1/shifts/import", key=key or daemon.admin_key,
                      data=body, params=params,
                      headers={"Content-Type": "text/calendar"})


def test_import_reports_each_event_and_writes_only_the_good_one(daemon, sql, ny_agent):
    agent, _ = ny_agent
    body = ics([GOOD_WEEKLY, UNKNOWN_AGENT, MALFORMED])

    dry = import_ics(daemon, body, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["imported"] == 1
    assert shift_rows(sql) == []

    r = import_ics(daemon, body)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["imported"] == 1 and b["rejected"] == 2 and b["dry_run"] is False
    good, stranger, bad = b["events"]
    assert good == {"index": 0, "uid": "good-1@test", "agent": "NORA",
                    "agent_id": agent["id"], "status": "imported", "error": None}
    assert stranger["index"] == 1 and stranger["uid"] == "stranger-1@test"
    assert stranger["agent"] == "Nobody Here" and stranger["agent_id"] is None
    assert stranger["status"] == "rejected" and "no agent" in stranger["error"]
    assert bad["index"] == 2 and bad["status"] == "rejected"
    assert "DTEND" in bad["error"] or "DURATION" in bad["error"], bad
    # The dry run said the same as the real run.
    assert dry.json()["events"] == b["events"]

    assert shift_rows(sql) == [{
        "agent_id": agent["id"], "tz": "America/New_York",
        "start_local": "2026-10-05T09:00:00", "duration_sec": 28800,
        "rrule": WEEKDAYS, "exdates": "", "source": "import",
        "import_uid": "good-1@test"}]
    g = get_shifts(daemon, agent["id"]).json()
    assert g["shifts"][0]["source"] == "import"
    assert spans(g)[3] == ("2026-11-02T14:00:00Z", "2026-11-02T22:00:00Z")


def test_reimport_replaces_imported_rules_and_keeps_api_rules(daemon, sql, ny_agent):
    agent, _ = ny_agent
    saturday = {"start": "2026-10-03T10:00:00", "duration": "PT3H",
                "rrule": "FREQ=WEEKLY;BYDAY=SA"}
    assert put_shifts(daemon, agent["id"], [saturday]).status_code == 200
    assert import_ics(daemon, ics([GOOD_WEEKLY])).json()["imported"] == 1

    # Mapped by email this time; the old imported rule goes, the API one stays.
    evening = vevent("evening-1@test", [
        "DTSTART;TZID=America/New_York:20261005T170000",
        "DURATION:PT4H",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
        "ATTENDEE:mailto:Nora@Example.com",
    ])
    # Overlaps the Saturday API rule: refused, the evening one is still taken.
    clash = vevent("clash-1@test", [
        "DTSTART;TZID=America/New_York:20261031T120000",
        "DURATION:PT2H",
        "SUMMARY:Nora North",
    ])
    r = import_ics(daemon, ics([evening, clash]))
    assert r.status_code == 200, r.text
    ev, cl = r.json()["events"]
    assert ev["status"] == "imported" and ev["agent_id"] == agent["id"]
    assert cl["status"] == "rejected" and cl["agent_id"] == agent["id"]
    assert "overlaps stored shift" in cl["error"], cl
    rows = shift_rows(sql, agent["id"])
    assert [(x["source"], x["import_uid"]) for x in rows] == [
        ("api", None), ("import", "evening-1@test")]

    # A PUT replaces everything, imported rules included.
    assert put_shifts(daemon, agent["id"], [DAY_SHIFT]).status_code == 200
    assert [x["source"] for x in shift_rows(sql, agent["id"])] == ["api"]


def test_import_refuses_overlapping_events_after_the_first(daemon, sql, ny_agent):
    agent, _ = ny_agent
    second = vevent("good-2@test", [
        "DTSTART;TZID=America/New_York:20261006T120000",
        "DURATION:PT8H",
        "RRULE:FREQ=WEEKLY;BYDAY=TU",
        "SUMMARY:nora",
    ])
    r = import_ics(daemon, ics([GOOD_WEEKLY, second]))
    assert r.status_code == 200, r.text
    first, dup = r.json()["events"]
    assert first["status"] == "imported"
    assert dup["status"] == "rejected" and "overlaps event 0" in dup["error"], dup
    assert len(shift_rows(sql)) == 1


@pytest.mark.parametrize("body", [
    b"this is not a calendar",
    b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
    b"",
], ids=["text", "bare vevent", "empty"])
def test_import_of_something_not_icalendar_is_400_and_writes_nothing(daemon, sql, ny_agent, body):
    agent, _ = ny_agent
    assert import_ics(daemon, ics([GOOD_WEEKLY])).status_code == 200
    before = shift_rows(sql)
    assert_problem(import_ics(daemon, body), 400, "invalid-ics", "body")
    assert shift_rows(sql) == before


def test_import_over_2_mib_is_413(daemon, sql, ny_agent):
    r = import_ics(daemon, b"X" * (5 * 1000 * 1000))
    assert_problem(r, 413, "body-too-large")
    assert shift_rows(sql) == []


def test_import_dry_run_flag_is_checked(daemon, ny_agent):
    assert_problem(import_ics(daemon, ics([GOOD_WEEKLY]), dry_run="maybe"),
                   400, "invalid-query", "dry_run")
