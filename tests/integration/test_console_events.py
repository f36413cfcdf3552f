"""Server push for the web console: GET /v1/me/events (an agent's changes)
and GET /v1/events (a lead's team, an admin's everything) as Server-Sent
Events, fed by the database's change feed, so a change made through any
instance reaches every stream; Last-Event-ID resume, heartbeats, streams
that count against the connection caps and free their slot when closed,
and who may open which stream."""

import re
import time

import pytest

from helpers import make_agent, make_key, wait_until
from sse_client import SseStream
from util_api import assert_problem, booking, clock_advance, relaxed, unique_name

NOTE = {"summary": "Refund promised", "next_step": "Confirm the refund",
        "reason": "Shift change"}


def metric(daemon, name):
    text = daemon.req("GET", "/metrics").text
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def book_asap(daemon):
    r = daemon.req("POST", "/v1/callbacks", json=booking())
    assert r.status_code == 201, r.text
    return r.json()["id"], time.monotonic()


@pytest.fixture
def crew(daemon_factory):
    d = daemon_factory(relaxed(events_poll_ms=50))
    agent, key = make_agent(d, unique_name("eve"), team="blue")
    return d, agent, key


def test_booking_reaches_the_owners_stream_within_a_second(crew):
    d, agent, key = crew
    s = SseStream(d.url, "/v1/me/events", key=key)
    try:
        assert s.status == 200
        assert s.headers["Content-Type"].startswith("text/event-stream")
        cid, t0 = book_asap(d)
        [ev] = s.until(lambda e: e["json"]["callback_id"] == cid)
        assert ev["event"] == "callback"
        assert ev["received"] - t0 < 1.0, ev["received"] - t0
        j = ev["json"]
        assert j["kind"] == "booked" and j["owner_id"] == agent["id"], j
        assert j["state"] == "pending" and j["previous_owner_id"] is None, j
        assert j["case_id"] > 0 and j["at"].endswith("Z"), j
        assert int(ev["id"]) > 0
        assert s.retry == 2000
        # The claim is the next change of this callback.
        assert d.req("POST", f"/v1/callbacks/{cid}/claim", key=key).status_code == 200
        [ev] = s.until(lambda e: e["json"]["callback_id"] == cid)
        assert ev["json"]["kind"] == "claimed" and ev["json"]["state"] == "in_progress"
    finally:
        s.close()


def test_booking_through_another_instance_reaches_the_stream(daemon_factory):
    d1 = daemon_factory(relaxed(events_poll_ms=100))
    d2 = daemon_factory(relaxed(events_poll_ms=100))
    agent, key = make_agent(d1, unique_name("ivy"))
    s = SseStream(d1.url, "/v1/me/events", key=key)
    try:
        cid, t0 = book_asap(d2)
        [ev] = s.until(lambda e: e["json"]["callback_id"] == cid)
        assert ev["json"]["kind"] == "booked"
        assert ev["received"] - t0 < 1.0, ev["received"] - t0
    finally:
        s.close()


def test_handoff_reaches_both_owners_and_only_them(crew):
    d, a, akey = crew
    cid, _ = book_asap(d)
    b, bkey = make_agent(d, unique_name("bo"), team="green")
    sa = SseStream(d.url, "/v1/me/events", key=akey)
    sb = SseStream(d.url, "/v1/me/events", key=bkey)
    green_lead = make_key(d, "lead", "green-lead", agent_id=b["id"])
    blue_only = make_agent(d, unique_name("bl"), team="blue")[0]
    blue_lead = make_key(d, "lead", "blue-lead", agent_id=blue_only["id"])
    sg = SseStream(d.url, "/v1/events", key=green_lead)
    sadm = SseStream(d.url, "/v1/events", key=d.admin_key)
    try:
        r = d.admin("POST", "/v1/handoffs",
                    json={"callback_ids": [cid], "to_agent": b["id"], "note": NOTE})
        assert r.status_code in (200, 201), r.text
        for s in (sa, sb, sg, sadm):
            ev = s.until(lambda e: e["json"]["kind"] == "owner_changed")[-1]["json"]
            assert ev["callback_id"] == cid
            assert ev["owner_id"] == b["id"] and ev["previous_owner_id"] == a["id"], ev
        # B's stream and the green lead's began with the move: the booking
        # before it was A's and blue, not theirs.
        sb2 = SseStream(d.url, "/v1/me/events", key=bkey)
        sblue = SseStream(d.url, "/v1/events", key=blue_lead)
        try:
            cid2, _ = book_asap(d)  # the least loaded agent of all gets it
            owner = d.admin("GET", f"/v1/callbacks/{cid2}").json()
            d.admin("POST", "/v1/handoffs",
                    json={"callback_ids": [cid2], "to_agent": b["id"], "note": NOTE})
            first = sb2.next()["json"]
            assert first["callback_id"] == cid2, (first, owner)
        finally:
            sb2.close()
            sblue.close()
    finally:
        for s in (sa, sb, sg, sadm):
            s.close()


def test_last_event_id_replays_what_was_missed(crew):
    d, agent, key = crew
    s = SseStream(d.url, "/v1/me/events", key=key)
    cid, _ = book_asap(d)
    [seen] = s.until(lambda e: e["json"]["callback_id"] == cid)
    s.close()
    missed = [book_asap(d)[0] for _ in range(3)]
    s = SseStream(d.url, "/v1/me/events", key=key, headers={"Last-Event-ID": seen["id"]})
    try:
        got = s.until(lambda e: e["json"]["callback_id"] == missed[-1])
        ids = [e["json"]["callback_id"] for e in got]
        assert set(missed) <= set(ids), ids
        assert seen["id"] not in [e["id"] for e in got]
        # Resumed in order of the changes.
        assert [i for i in ids if i in missed] == missed
    finally:
        s.close()
    # A reloaded page passes the id it kept in the query instead.
    s = SseStream(d.url, f"/v1/me/events?last_event_id={seen['id']}", key=key)
    try:
        got = s.until(lambda e: e["json"]["callback_id"] == missed[-1])
        assert set(missed) <= {e["json"]["callback_id"] for e in got}
    finally:
        s.close()
    # An id no longer kept: the client is told to start over.
    s = SseStream(d.url, "/v1/me/events", key=key, headers={"Last-Event-ID": "999999999"})
    try:
        ev = s.next()
        assert ev["event"] == "resync", ev
    finally:
        s.close()
    r = d.req("GET", "/v1/me/events", key=key,
              headers={"Accept": "text/event-stream", "Last-Event-ID": "x"})
    assert_problem(r, 400, "/problems/invalid-header", "Last-Event-ID")


def test_heartbeats_keep_a_quiet_stream_open_past_the_idle_timeout(daemon_factory):
    d = daemon_factory(relaxed(events_heartbeat_sec=1, request_timeout_sec=2,
                               events_poll_ms=50))
    agent, key = make_agent(d, unique_name("hal"))
    s = SseStream(d.url, "/v1/me/events", key=key)
    try:
        # Four heartbeats is twice the idle timeout.
        wait_until(lambda: s.heartbeats >= 4, timeout=15, msg="heartbeats")
        assert not s.closed.is_set()
        cid, _ = book_asap(d)
        [ev] = s.until(lambda e: e["json"]["callback_id"] == cid)
    finally:
        s.close()


def test_streams_count_against_the_caps_and_free_their_slot(daemon_factory):
    d = daemon_factory(relaxed(max_connections_per_addr=2, events_heartbeat_sec=1))
    agent, key = make_agent(d, unique_name("cap"))
    streams = [SseStream(d.url, "/v1/me/events", key=key) for _ in range(2)]
    try:
        assert [s.status for s in streams] == [200, 200]
        # Two open streams fill this address's two connections.
        third = SseStream(d.url, "/v1/me/events", key=key)
        assert third.status == 503, third.status
        third.close()
        streams[0].close()

        def slot_free():
            s = SseStream(d.url, "/v1/me/events", key=key)
            if s.status == 200:
                streams.append(s)
                return True
            s.close()
            return False
        wait_until(slot_free, msg="the closed stream's slot")
    finally:
        for s in streams:
            s.close()
    wait_until(lambda: metric(d, "callbackd_event_streams") == 0,
               msg="closed streams are dropped")


def test_stream_authorization(crew):
    d, agent, key = crew
    lead = make_key(d, "lead", "lara")
    ev = {"Accept": "text/event-stream"}
    assert_problem(d.req("GET", "/v1/me/events", headers=ev), 401, "/problems/unauthorized")
    assert_problem(d.req("GET", "/v1/events", headers=ev), 401, "/problems/unauthorized")
    assert_problem(d.req("GET", "/v1/events", key=key, headers=ev), 403, "/problems/forbidden")
    assert_problem(d.req("GET", "/v1/me/events", key=lead, headers=ev), 403,
                   "/problems/forbidden")
    # A client that does not take an event stream gets an answer, not a hang.
    assert_problem(d.req("GET", "/v1/me/events", key=key), 406, "/problems/not-acceptable",
                   "Accept")
    assert_problem(d.req("GET", "/v1/events", key=lead), 406, "/problems/not-acceptable")
    # The console's cookie opens the agent's stream.
    link = d.admin("POST", f"/v1/agents/{agent['id']}/sign-in-links").json()
    r = d.req("POST", "/v1/sessions", json={"token": link["url"].split("#")[1]})
    cookie = r.headers["Set-Cookie"].split(";")[0]
    s = SseStream(d.url, "/v1/me/events", headers={"Cookie": cookie})
    try:
        assert s.status == 200
        cid, _ = book_asap(d)
        s.until(lambda e: e["json"]["callback_id"] == cid)
    finally:
        s.close()
    s = SseStream(d.url, "/v1/me/events", headers={"Cookie": "cbd_session=cbs_nope"})
    assert s.status == 401


def test_shutdown_closes_open_streams(daemon_factory):
    d = daemon_factory(relaxed())
    agent, key = make_agent(d, unique_name("sam"))
    s = SseStream(d.url, "/v1/me/events", key=key)
    try:
        assert s.status == 200
        assert d.stop() == 0
        assert s.closed.wait(5), "the stream outlived the daemon"
    finally:
        s.close()


def cookie_session(daemon, agent_id):
    """A console session for the agent (sign-in link); (cookie header, id)."""
    link = daemon.admin("POST", f"/v1/agents/{agent_id}/sign-in-links").json()
    r = daemon.req("POST", "/v1/sessions", json={"token": link["url"].split("#")[1]})
    assert r.status_code in (200, 201), r.text
    return r.headers["Set-Cookie"].split(";")[0], r.json()["session_id"]


def test_streams_end_when_access_ends_on_every_instance(daemon_factory):
    d1 = daemon_factory(relaxed(events_poll_ms=50))
    d2 = daemon_factory(relaxed(events_poll_ms=50))
    agent, key = make_agent(d1, unique_name("rita"))
    other, other_key = make_agent(d1, unique_name("otto"))
    lead = make_key(d1, "lead", unique_name("lena"))
    cookie, session_id = cookie_session(d1, agent["id"])
    by_cookie = SseStream(d2.url, "/v1/me/events", headers={"Cookie": cookie})
    by_key = SseStream(d2.url, "/v1/me/events", key=key)
    bystander = SseStream(d2.url, "/v1/me/events", key=other_key)
    streams = [by_cookie, by_key, bystander]
    try:
        assert [s.status for s in streams] == [200, 200, 200]
        # A lead ends the session through the other instance: its stream
        # closes within a second, and reopening it is refused.
        assert d1.req("DELETE", f"/v1/sessions/{session_id}", key=lead).status_code == 204
        assert by_cookie.closed.wait(2), "a revoked session kept its stream"
        again = SseStream(d2.url, "/v1/me/events", headers={"Cookie": cookie})
        assert again.status == 401
        # The agent's key stream closed with it and may come straight back.
        assert by_key.closed.wait(2)
        by_key = SseStream(d2.url, "/v1/me/events", key=key)
        streams.append(by_key)
        assert by_key.status == 200
        # Deactivated: the agent's stream ends and stays shut.
        r = d1.admin("PATCH", f"/v1/agents/{agent['id']}", json={"active": False})
        assert r.status_code == 200, r.text
        assert by_key.closed.wait(2), "a deactivated agent kept their stream"
        assert SseStream(d2.url, "/v1/me/events", key=key).status == 403
        # A revoked key: the same.
        okey = d1.admin("GET", "/v1/keys").json()["items"]
        [kid] = [k["id"] for k in okey if k.get("agent_id") == other["id"] and
                 not k.get("revoked_at")]
        assert not bystander.closed.is_set(), "another agent's stream was closed"
        cid, _ = book_asap(d1)
        assert d1.admin("POST", "/v1/handoffs", json={
            "callback_ids": [cid], "to_agent": other["id"], "note": NOTE}).status_code in (200, 201)
        bystander.until(lambda e: e["json"]["callback_id"] == cid)
        assert d1.admin("DELETE", f"/v1/keys/{kid}").status_code == 204
        assert bystander.closed.wait(2), "a revoked key kept its stream"
        assert SseStream(d2.url, "/v1/me/events", key=other_key).status == 401
    finally:
        for s in streams:
            s.close()


def test_a_stream_ends_with_its_session(daemon_factory):
    d = daemon_factory(relaxed(session_ttl_sec=600, session_idle_sec=600,
                               events_heartbeat_sec=1))
    agent, key = make_agent(d, unique_name("tess"))
    cookie, _ = cookie_session(d, agent["id"])
    s = SseStream(d.url, "/v1/me/events", headers={"Cookie": cookie})
    k = SseStream(d.url, "/v1/me/events", key=key)
    try:
        assert s.status == 200 and k.status == 200
        clock_advance(d, 300)
        assert not s.closed.wait(2.5), "closed before the session's end"
        clock_advance(d, 301)
        assert s.closed.wait(3), "the stream outlived its session"
        assert SseStream(d.url, "/v1/me/events", headers={"Cookie": cookie}).status == 401
        # A key has no end: its stream stays.
        assert not k.closed.is_set()
    finally:
        s.close()
        k.close()
