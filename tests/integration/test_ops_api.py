"""The API's rough edges for operators and leads: times in timelines as
RFC 3339, event webhooks for what staff do (claims, attempts, failures,
notes, handoffs), and (further down) lists, messages, keys, cases and
agents without shifts.

Time is the daemon's test clock; webhooks go to a real local receiver.
"""

import base64
import itertools
import os
from datetime import datetime

from helpers import make_key, wait_until
from util_api import clock_advance, clock_to, relaxed, unique_name

NOW = "2031-03-04T10:00:00Z"  # a Tuesday morning in London
SECRET = "whsec_" + base64.b64encode(b"ops-api-test-secret-number-1!!").decode()
NOTE = {"summary": "Billing dispute", "next_step": "Confirm the refund",
        "reason": "Ann is on leave"}

_phones = itertools.count(1)


def phone():
    return "+4479%02d%06d" % (os.getpid() % 100, next(_phones))


def ok(r, status=200):
    assert r.status_code == status, \
        f"{r.request.method} {r.request.path_url} -> {r.status_code}: {r.text[:500]}"
    return r.json() if r.content else None


def book(d, when="asap", ph=None):
    body = {"customer": {"name": "Grace Hopper", "phone": ph or phone(),
                         "timezone": "Europe/London"},
            "topic": "Broken router", "when": when}
    return ok(d.req("POST", "/v1/callbacks", json=body), 201)


def is_rfc3339(v):
    if not isinstance(v, str) or "T" not in v:
        return False
    datetime.fromisoformat(v.replace("Z", "+00:00"))
    return True


# --------------------------------------------------------------------------
# Times


def test_timeline_times_are_rfc3339_not_epoch_integers(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    clock_to(d, NOW)
    _, key = make_agent(d, unique_name("ann"))
    cid = book(d, when="2031-03-05T11:00:00Z")["id"]
    case_id = ok(d.admin("GET", f"/v1/callbacks/{cid}"))["case_id"]
    ok(d.admin("PATCH", f"/v1/callbacks/{cid}", json={"when": "asap"}))
    ok(d.req("POST", "/v1/me/queue/next", key=key))
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
             json={"result": "no_answer"}))
    tl = ok(d.req("GET", f"/v1/cases/{case_id}", key=key))["timeline"]
    by_kind = {e["kind"]: e["data"] for e in tl}
    assert is_rfc3339(by_kind["booked"]["due_at"]), by_kind["booked"]
    assert is_rfc3339(by_kind["rescheduled"]["from"]), by_kind["rescheduled"]
    assert is_rfc3339(by_kind["rescheduled"]["to"]), by_kind["rescheduled"]
    assert is_rfc3339(by_kind["claimed"]["lease_until"]), by_kind["claimed"]
    assert is_rfc3339(by_kind["attempt"]["next_at"]), by_kind["attempt"]
    # No time anywhere in the answer is an epoch integer.
    for e in tl:
        for k, v in e["data"].items():
            if k.endswith("_at") or k.endswith("_until"):
                assert is_rfc3339(v), (e["kind"], k, v)


# --------------------------------------------------------------------------
# Event webhooks


def events_of(rx, cid=None):
    """The events received, once each (delivery is at least once: a
    message may come again under the same webhook-id)."""
    out, seen = [], set()
    for req in list(rx.requests):
        if not req.path.startswith("/events") or req.headers["webhook-id"] in seen:
            continue
        seen.add(req.headers["webhook-id"])
        ev = req.json()
        if cid is None or ev["data"].get("callback_id") == cid:
            out.append(ev)
    return out


def test_staff_actions_send_event_webhooks(daemon_factory, make_agent, webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(relaxed(webhook_url=rx.url + "/events", webhook_secrets=SECRET,
                               outbox_poll_ms=50, max_attempts=2))
    clock_to(d, NOW)
    ann, key = make_agent(d, unique_name("ann"))
    cid = book(d)["id"]
    case_id = ok(d.admin("GET", f"/v1/callbacks/{cid}"))["case_id"]
    ok(d.req("POST", "/v1/me/queue/next", key=key))
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
             json={"result": "busy", "note": "engaged"}))
    note = ok(d.req("POST", f"/v1/cases/{case_id}/notes", key=key,
                    json={"text": "call after lunch"}), 201)
    clock_advance(d, 3 * 3600)
    ok(d.req("POST", f"/v1/callbacks/{cid}/claim", key=key))
    ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key,
             json={"result": "no_answer"}))

    def types():
        return [e["type"] for e in events_of(rx, cid)]
    wait_until(lambda: "callback.failed" in types(), msg="callback.failed sent")
    evs = events_of(rx, cid)
    claimed = [e for e in evs if e["type"] == "callback.claimed"]
    attempted = [e for e in evs if e["type"] == "callback.attempted"]
    assert len(claimed) == 2 and claimed[0]["data"]["agent_id"] == ann["id"]
    assert is_rfc3339(claimed[0]["data"]["lease_until"])
    assert [a["data"]["outcome"] for a in attempted] == ["busy", "no_answer"]
    assert attempted[0]["data"]["note"] == "engaged"
    assert attempted[0]["data"]["state"] == "retry_wait"
    assert is_rfc3339(attempted[0]["data"]["next_at"])
    [failed] = [e for e in evs if e["type"] == "callback.failed"]
    assert failed["data"]["attempts"] == 2 and failed["data"]["case_id"] == case_id
    wait_until(lambda: any(e["type"] == "callback.note_added" for e in events_of(rx)),
               msg="note_added sent")
    added_all = [e for e in events_of(rx) if e["type"] == "callback.note_added"]
    [added] = added_all
    assert added["data"]["case_id"] == case_id
    assert added["data"]["note_id"] == note["id"]
    assert added["data"]["text"] == "call after lunch"

    # A lead's handoff of another callback.
    bob, _ = make_agent(d, unique_name("bob"))
    lead = make_key(d, "lead", unique_name("lead"))
    cid2 = book(d)["id"]
    ok(d.req("POST", "/v1/handoffs", key=lead,
             json={"callback_ids": [cid2], "to_agent": bob["id"], "note": NOTE}), 201)
    wait_until(lambda: any(e["type"] == "handoff.created" for e in events_of(rx, cid2)),
               msg="handoff.created sent")
    [h] = [e for e in events_of(rx, cid2) if e["type"] == "handoff.created"]
    assert h["data"]["to_agent"] == bob["id"]
    assert h["data"]["summary"] == NOTE["summary"]


def test_no_webhook_url_no_staff_events(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    clock_to(d, NOW)
    _, key = make_agent(d, unique_name("ann"))
    cid = book(d)["id"]
    ok(d.req("POST", "/v1/me/queue/next", key=key))
    assert sql.scalar("SELECT COUNT(*) FROM outbox WHERE channel = 'webhook'") == 0


# --------------------------------------------------------------------------
# Agents without shift rules


def test_new_agent_without_shifts_is_off_duty_by_default(daemon_factory, sql):
    """The product default (the test base config sets always)."""
    d = daemon_factory(relaxed(agents_without_shifts="off_duty"))
    clock_to(d, NOW)
    body = {"name": unique_name("nia"), "display_name": "Nia",
            "timezone": "Europe/London", "team": "blue"}
    nia = ok(d.admin("POST", "/v1/agents", json=body), 201)
    assert nia["on_duty_without_shifts"] is False
    assert "off duty" in nia["hint"] and "shifts" in nia["hint"]
    # Nobody is on duty: no ASAP booking, no slot.
    n = sql.scalar("SELECT COUNT(*) FROM callbacks")
    r = d.req("POST", "/v1/callbacks",
              json={"customer": {"name": "Grace Hopper", "phone": phone(),
                                 "timezone": "Europe/London"},
                    "topic": "x", "when": "asap"})
    assert r.status_code == 409 and r.json()["type"] == "/problems/no-agents-on-duty", r.text
    assert sql.scalar("SELECT COUNT(*) FROM callbacks") == n
    slots = ok(d.req("GET", "/v1/slots", params={"tz": "Europe/London"}))
    assert not [s for s in slots if s["available"]], slots
    # Inside a shift she is bookable.
    ok(d.admin("PUT", f"/v1/agents/{nia['id']}/shifts",
               json={"shifts": [{"start": "2031-03-03T08:00:00", "duration": "PT10H",
                                 "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"}]}))
    assert book(d)["id"] > 0
    # Per agent, the flag puts another one on duty around the clock.
    body = dict(body, name=unique_name("ola"), on_duty_without_shifts=True)
    ola = ok(d.admin("POST", "/v1/agents", json=body), 201)
    assert ola["on_duty_without_shifts"] is True and "around the clock" in ola["hint"]
    r = d.admin("PATCH", f"/v1/agents/{ola['id']}", json={"on_duty_without_shifts": "yes"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "on_duty_without_shifts"
    clock_to(d, "2031-03-04T22:00:00Z")  # after Nia's shift
    assert book(d)["owner"]["display_name"] == ola["display_name"]


def test_agents_without_shifts_always_keeps_them_on_duty(daemon_factory):
    d = daemon_factory(relaxed(agents_without_shifts="always"))
    clock_to(d, "2031-03-04T03:00:00Z")
    body = {"name": unique_name("al"), "display_name": "Al", "timezone": "Europe/London"}
    al = ok(d.admin("POST", "/v1/agents", json=body), 201)
    assert al["on_duty_without_shifts"] is True
    assert book(d)["owner"]["display_name"] == "Al"


def test_agents_without_shifts_rejects_unknown_value(tmp_path):
    import subprocess
    from util_api import binary
    conf = tmp_path / "c.conf"
    conf.write_text("agents_without_shifts = sometimes\n")
    out = subprocess.run([binary(), "--check-config", "-c", str(conf)],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "agents_without_shifts" in out.stderr + out.stdout


# --------------------------------------------------------------------------
# Dead letters


def test_dead_messages_are_listed_logged_and_requeued(daemon_factory, make_agent,
                                                      webhook_receiver, sql):
    rx = webhook_receiver
    rx.set_status(410)  # gone: not retried, the message dies at once
    d = daemon_factory(relaxed(webhook_url=rx.url + "/events", webhook_secrets=SECRET,
                               outbox_poll_ms=50))
    clock_to(d, NOW)
    make_agent(d, unique_name("ann"))
    lead = make_key(d, "lead", unique_name("lead"))
    book(d)  # a first death, then the one listed first (newest first)
    cid = book(d)["id"]
    wait_until(lambda: sql.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'dead'") >= 2,
               msg="two dead messages")
    page = ok(d.req("GET", "/v1/messages", key=lead,
                    params={"status": "dead", "tz": "Asia/Kolkata", "limit": 1}))
    [m] = page["items"]
    assert m["status"] == "dead" and m["callback_id"] == cid
    assert m["last_error"] == "HTTP 410" and m["next_attempt_at"] is None
    assert m["due_at"].endswith("Z") and m["due_local"].endswith("+05:30")
    # One warning line per death, naming the message.
    with open(d.log_path, encoding="utf-8") as f:
        deaths = [line for line in f if 'msg="message dead"' in line]
    assert len(deaths) == sql.scalar("SELECT COUNT(*) FROM outbox WHERE status = 'dead'")
    assert all("level=warn" in line for line in deaths)
    assert any(m["id"] in line for line in deaths)
    # Bad input changes nothing.
    r = d.req("GET", "/v1/messages", key=lead, params={"status": "sent"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status"
    r = d.req("GET", "/v1/messages", key=lead, params={"tz": "Mars/Olympus"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "tz"
    # Agents may not see or requeue dead letters.
    _, agent_key = make_agent(d, unique_name("bo"))
    assert d.req("GET", "/v1/messages", key=agent_key).status_code == 403
    path = f"/v1/messages/{m['outbox_id']}/requeue"
    assert d.req("POST", path, key=agent_key).status_code == 403
    assert d.req("POST", path).status_code == 401

    # Requeued, it goes out again under the same id and is delivered.
    rx.set_status(200)
    n_before = len([q for q in rx.requests if q.headers.get("webhook-id") == m["id"]])
    r = ok(d.req("POST", path, key=lead, headers={"Idempotency-Key": "rq-1"}))
    assert r["id"] == m["id"] and r["status"] == "pending" and r["attempts"] == 0
    # The same request again replays; without the key, it is no longer dead.
    assert ok(d.req("POST", path, key=lead, headers={"Idempotency-Key": "rq-1"})) == r
    wait_until(lambda: sql.scalar("SELECT status FROM outbox WHERE id = %s",
                                  (m["outbox_id"],)) == "sent", msg="requeued message sent")
    assert len([q for q in rx.requests if q.headers.get("webhook-id") == m["id"]]) == n_before + 1
    r = d.req("POST", path, key=lead)
    assert r.status_code == 409 and r.json()["type"] == "/problems/not-requeueable"
    assert d.req("POST", "/v1/messages/999999/requeue", key=lead).status_code == 404
    audit = ok(d.req("GET", "/v1/audit/staff", key=lead,
                     params={"action": "message.requeued"}))["items"]
    assert len(audit) == 1 and audit[0]["subject_id"] == m["outbox_id"]
    assert audit[0]["actor"].startswith("lead")


# --------------------------------------------------------------------------
# Leads and agent keys


def test_lead_manages_agent_keys_of_own_team_only(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    ann, ann_key = make_agent(d, unique_name("ann"), team="blue")
    red, _ = make_agent(d, unique_name("red"), team="red")
    lead = ok(d.admin("POST", "/v1/keys", json={"role": "lead", "name": "bl", "team": "blue"}),
              201)["key"]
    teamless = make_key(d, "lead", unique_name("tl"))

    k = ok(d.req("POST", "/v1/keys", key=lead,
                 json={"role": "agent", "name": "ann-2", "agent_id": ann["id"]}), 201)
    assert k["role"] == "agent" and k["key"]
    assert d.req("GET", "/v1/me/queue", key=k["key"]).status_code == 200
    # Not for another team, not a lead or admin key, not as a team-less lead.
    for key, body, field in (
            (lead, {"role": "agent", "name": "x", "agent_id": red["id"]}, "agent_id"),
            (lead, {"role": "lead", "name": "x"}, "role"),
            (lead, {"role": "admin", "name": "x"}, "role"),
            (lead, {"role": "lead", "name": "x", "team": "blue"}, "role"),
            (teamless, {"role": "agent", "name": "x", "agent_id": ann["id"]}, "agent_id")):
        r = d.req("POST", "/v1/keys", key=key, json=body)
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == field, (body, r.text)
    r = d.req("POST", "/v1/keys", key=ann_key,
              json={"role": "agent", "name": "x", "agent_id": ann["id"]})
    assert r.status_code == 403
    r = d.admin("POST", "/v1/keys", json={"role": "agent", "name": "x", "agent_id": ann["id"],
                                          "team": "blue"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "team"

    # Revoke: own team's agent keys only.
    red_key = ok(d.admin("POST", "/v1/keys", json={"role": "agent", "name": "red-1",
                                                   "agent_id": red["id"]}), 201)
    other_lead = ok(d.admin("POST", "/v1/keys", json={"role": "lead", "name": "l2",
                                                      "team": "blue"}), 201)
    assert d.req("DELETE", f"/v1/keys/{red_key['id']}", key=lead).status_code == 403
    assert d.req("DELETE", f"/v1/keys/{other_lead['id']}", key=lead).status_code == 403
    assert d.req("DELETE", f"/v1/keys/{k['id']}", key=ann_key).status_code == 403
    assert d.req("DELETE", f"/v1/keys/{k['id']}", key=lead).status_code == 204
    assert d.req("GET", "/v1/me/queue", key=k["key"]).status_code == 401
    assert d.req("GET", "/v1/me/queue", key=red_key["key"]).status_code == 200

    # Every change is in the audit trail, with who made it; agents may not read it.
    audit = ok(d.req("GET", "/v1/audit/staff", key=lead))["items"]
    created = [a for a in audit if a["action"] == "key.created"]
    revoked = [a for a in audit if a["action"] == "key.revoked"]
    assert [a["subject_id"] for a in revoked] == [k["id"]]
    assert revoked[0]["actor"].startswith("lead")
    assert k["id"] in [a["subject_id"] for a in created]
    assert {a["actor"].split(":")[0] for a in created} == {"admin", "lead"}
    assert d.req("GET", "/v1/audit/staff", key=ann_key).status_code == 403
    r = d.req("GET", "/v1/audit/staff", key=lead, params={"action": "x"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "action"
    page = ok(d.req("GET", "/v1/audit/staff", key=lead, params={"limit": 2}))
    rest = ok(d.req("GET", "/v1/audit/staff", key=lead,
                    params={"limit": 200, "cursor": page["next_cursor"]}))
    assert [a["id"] for a in page["items"] + rest["items"]] == [a["id"] for a in audit]


# --------------------------------------------------------------------------
# Lists: cursors and local times


def test_customer_cases_page_with_cursors(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed())
    clock_to(d, NOW)
    _, key = make_agent(d, unique_name("ann"))
    ph = phone()
    cid = book(d, ph=ph)["id"]
    cust = sql.scalar("SELECT customer_id FROM callbacks WHERE id = %s", (cid,))
    owner = sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cid,))
    # Past cases of this customer, closed long ago.
    for _ in range(4):
        sql.execute("INSERT INTO cases (customer_id, owner_id, is_open, opened_at, closed_at) "
                    "VALUES (%s, %s, 0, 1000, 2000)", (cust, owner))
    all_ids = [r["id"] for r in sql.query(
        "SELECT id FROM cases WHERE customer_id = %s ORDER BY id DESC", (cust,))]
    seen, cursor = [], None
    while True:
        params = {"phone": ph, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = ok(d.req("GET", "/v1/customers", key=key, params=params))
        assert page["customer"]["phone"] == ph
        seen += [c["id"] for c in page["cases"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == all_ids
    page = ok(d.req("GET", "/v1/customers", key=key, params={"phone": ph, "tz": "Asia/Kolkata"}))
    assert page["cases"][0]["opened_local"].endswith("+05:30")
    for bad, field in (({"cursor": "x"}, "cursor"), ({"limit": 0}, "limit"),
                       ({"tz": "Nowhere/Else"}, "tz")):
        r = d.req("GET", "/v1/customers", key=key, params=dict(bad, phone=ph))
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, r.text


def test_my_handoffs_page_with_cursors(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    clock_to(d, NOW)
    ann, ann_key = make_agent(d, unique_name("ann"))
    bob, bob_key = make_agent(d, unique_name("bob"))
    lead = make_key(d, "lead", unique_name("lead"))
    ok(d.admin("PATCH", f"/v1/agents/{bob['id']}", json={"active": False}))
    cids = [book(d, when=f"2031-03-05T{9 + i:02d}:00:00Z")["id"] for i in range(5)]
    ok(d.admin("PATCH", f"/v1/agents/{bob['id']}", json={"active": True}))
    ok(d.req("POST", "/v1/handoffs", key=lead,
             json={"callback_ids": cids, "to_agent": bob["id"], "note": NOTE}), 201)
    old = ok(d.req("GET", "/v1/me/handoffs", key=bob_key))  # both lists, as before
    assert len(old["received"]) == 5
    got, cursor = [], None
    while True:
        params = {"direction": "received", "limit": 2, "tz": "America/New_York"}
        if cursor:
            params["cursor"] = cursor
        page = ok(d.req("GET", "/v1/me/handoffs", key=bob_key, params=params))
        got += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [h["callback_id"] for h in got] == cids
    assert all(h["due_local"].endswith("-05:00") for h in got), got[0]
    given = ok(d.req("GET", "/v1/me/handoffs", key=ann_key, params={"direction": "given"}))
    assert len(given["items"]) == 5 and given["next_cursor"] is None
    r = d.req("GET", "/v1/me/handoffs", key=bob_key, params={"direction": "sideways"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "direction"


def test_lead_lists_answer_local_times_with_tz(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    clock_to(d, NOW)
    _, key = make_agent(d, unique_name("ann"))
    lead = make_key(d, "lead", unique_name("lead"))
    book(d)
    clock_advance(d, 3600)
    items = ok(d.req("GET", "/v1/overdue", key=lead, params={"tz": "Asia/Tokyo"}))["items"]
    assert items and items[0]["due_at"].endswith("Z")
    assert items[0]["due_local"].endswith("+09:00"), items[0]
    q = ok(d.req("GET", "/v1/me/queue", key=key, params={"tz": "Asia/Tokyo"}))["items"]
    assert q[0]["due_local"].endswith("+09:00"), q[0]
    for path, k in (("/v1/overdue", lead), ("/v1/audit", lead), ("/v1/me/queue", key)):
        r = d.req("GET", path, key=k, params={"tz": "Europe/Atlantis"})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "tz", (path, r.text)


# --------------------------------------------------------------------------
# Cases close


def test_case_closes_after_case_close_days_and_next_case_links_back(daemon_factory,
                                                                    make_agent, sql):
    d = daemon_factory(relaxed(case_close_days=30))
    clock_to(d, NOW)
    ann, key = make_agent(d, unique_name("ann"))
    ph = phone()

    def done(cid):
        ok(d.req("POST", f"/v1/callbacks/{cid}/claim", key=key))
        ok(d.req("POST", f"/v1/callbacks/{cid}/outcome", key=key, json={"result": "reached"}))

    def force_book():
        body = {"customer": {"name": "Grace Hopper", "phone": ph, "timezone": "Europe/London"},
                "topic": "Broken router", "when": "asap", "force_new": True}
        return ok(d.req("POST", "/v1/callbacks", json=body), 201)["id"]

    first = book(d, ph=ph)["id"]
    case1 = sql.scalar("SELECT case_id FROM callbacks WHERE id = %s", (first,))
    done(first)
    # Within the days, a returning customer joins the same case.
    clock_advance(d, 29 * 86400)
    second = force_book()
    assert sql.scalar("SELECT case_id FROM callbacks WHERE id = %s", (second,)) == case1
    done(second)
    # After case_close_days with no open callback: a new case, naming the old.
    clock_advance(d, 31 * 86400)
    bob, _ = make_agent(d, unique_name("bob"))
    third = force_book()
    case2 = sql.scalar("SELECT case_id FROM callbacks WHERE id = %s", (third,))
    assert case2 != case1
    old = ok(d.req("GET", f"/v1/cases/{case1}", key=key))
    assert old["open"] is False
    [closed] = [e for e in old["timeline"] if e["kind"] == "case_closed"]
    assert closed["callback_id"] is None and closed["data"]["case_close_days"] == 30
    assert is_rfc3339(closed["data"]["last_activity_at"])
    new = ok(d.req("GET", f"/v1/cases/{case2}", key=key))
    assert new["open"] is True
    assert [e["data"]["previous_case_id"] for e in new["timeline"]
            if e["kind"] == "previous_case"] == [case1]
    cases = ok(d.req("GET", "/v1/customers", key=key, params={"phone": ph}))["cases"]
    assert [c["id"] for c in cases] == [case2, case1]


def test_case_close_days_zero_keeps_cases_open(daemon_factory, make_agent, sql):
    d = daemon_factory(relaxed(case_close_days=0))
    clock_to(d, NOW)
    _, key = make_agent(d, unique_name("ann"))
    ph = phone()
    first = book(d, ph=ph)["id"]
    ok(d.req("POST", f"/v1/callbacks/{first}/claim", key=key))
    ok(d.req("POST", f"/v1/callbacks/{first}/outcome", key=key, json={"result": "reached"}))
    clock_advance(d, 300 * 86400)
    second = book(d, ph=ph)["id"]
    assert sql.scalar("SELECT COUNT(DISTINCT case_id) FROM callbacks WHERE id IN (%s, %s)",
                      (first, second)) == 1


# --------------------------------------------------------------------------
# The catalogue of events


def test_every_event_the_sources_emit_is_in_the_webhook_catalogue():
    import re
    import yaml
    from pathlib import Path
    import helpers
    doc = yaml.safe_load((helpers.REPO_ROOT / "contrib" / "openapi.yaml").read_text())
    catalogue = doc["x-webhooks"]
    src = "\n".join(p.read_text() for p in Path(helpers.REPO_ROOT / "src").glob("*.c"))
    emitted = {e for e in re.findall(r'"((?:callback|handoff|agent)\.[a-z_]+)"', src)
               if not e.endswith((".h", ".html"))}
    for name in ("callback.claimed", "callback.attempted", "callback.failed",
                 "callback.note_added", "callback.overdue", "handoff.created"):
        assert name in emitted, name
    assert emitted <= set(catalogue), emitted - set(catalogue)
    for name, item in catalogue.items():
        schema = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["allOf"][1]["properties"]["type"]["enum"] == [name]


def test_callback_messages_show_next_attempt_and_last_error(daemon_factory, make_agent,
                                                            webhook_receiver, sql):
    rx = webhook_receiver
    rx.set_status(503)  # retried with backoff
    d = daemon_factory(relaxed(webhook_url=rx.url + "/events", webhook_secrets=SECRET,
                               outbox_poll_ms=50))
    clock_to(d, NOW)
    make_agent(d, unique_name("ann"))
    cid = book(d)["id"]
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM outbox WHERE callback_id = %s AND last_error IS NOT NULL",
        (cid,)) >= 1, msg="a failed attempt")
    items = ok(d.admin("GET", f"/v1/callbacks/{cid}/messages"))["items"]
    [m] = [i for i in items if i["last_error"]]
    assert m["last_error"] == "HTTP 503" and m["status"] == "pending"
    assert is_rfc3339(m["next_attempt_at"])
    assert m["next_attempt_at"] > m["due_at"]
    lead = make_key(d, "lead", unique_name("lead"))
    failed = ok(d.req("GET", "/v1/messages", key=lead, params={"status": "failed"}))["items"]
    assert [f["outbox_id"] for f in failed] == [m["outbox_id"]]
    assert failed[0]["next_attempt_at"] == m["next_attempt_at"]
