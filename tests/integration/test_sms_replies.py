"""Two-way SMS, end to end: customers' replies and delivery receipts
through the signed endpoints of each SMS mode (Twilio's form POST with
X-Twilio-Signature; the generic gateway's Standard Webhooks JSON), against
the real daemon, a private MariaDB and the local SMS receiver.

Replies: STOP (and the other carrier opt-out words) stops every further
text to the number, on every instance, at send time; START allows them
again; "C" cancels the next callback with a confirmation; anything else
lands on the case timeline. Receipts: undelivered with a permanent error
flags the number for staff. "Resend my link" keeps to STOP and says
nothing about the number.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

import pytest

from helpers import sign_standard_webhook, wait_until
from util_api import assert_problem, relaxed, row_counts

TOKEN = "sms-replies-auth-token"
SID = "AC" + "5" * 32
INBOUND = "whsec_" + base64.b64encode(b"sms-replies-inbound-secret-01!").decode()
OTHER = "whsec_" + base64.b64encode(b"some-other-secret-entirely-99!").decode()
NOW = "2030-01-10T12:00:00Z"
TABLES = ("callbacks", "customers", "cases", "outbox", "events", "sms_optouts",
          "sms_inbound_seen")

_phones = itertools.count(1)


def phone():
    return "+4478%08d" % (os.getpid() % 1000 * 100000 + next(_phones))


def epoch(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def twilio_conf(rx, **extra):
    return relaxed(sms_mode="twilio", sms_url=rx.url, twilio_account_sid=SID,
                   twilio_auth_token=TOKEN, twilio_from="+15005550006",
                   outbox_poll_ms=50, **extra)


def webhook_conf(rx, **extra):
    return relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                   sms_inbound_secrets=INBOUND, outbox_poll_ms=50, **extra)


def twilio_sig(token, url, params):
    """Twilio's algorithm, as its documentation gives it: the full URL,
    then each POST field name and value in name order, HMAC-SHA1, base64."""
    s = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()


def post_twilio(d, path, params, token=TOKEN, sign=True, signed_url=None, tamper=None):
    sig = twilio_sig(token, signed_url or d.url + path, params)
    sent = dict(params, **(tamper or {}))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = sig
    return d.req("POST", path, data=urllib.parse.urlencode(sent), headers=headers)


def twilio_reply(d, frm, text, sid=None, **kw):
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": SID,
              "From": frm, "To": "+15005550006", "Body": text, "NumMedia": "0"}
    return post_twilio(d, "/v1/sms/twilio/replies", params, **kw)


def post_webhook(d, path, body, secret=INBOUND, ts=None, msg_id=None, headers=None):
    raw = json.dumps(body)
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    ts = str(ts if ts is not None else int(time.time()))
    h = {"Content-Type": "application/json", "webhook-id": msg_id,
         "webhook-timestamp": ts,
         "webhook-signature": sign_standard_webhook(secret, msg_id, ts, raw)}
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    return d.req("POST", path, data=raw, headers=h)


def webhook_reply(d, frm, text, **kw):
    return post_webhook(d, "/v1/sms/replies", {"type": "sms.inbound", "from": frm,
                                               "to": "+15005550006", "body": text}, **kw)


def set_clock(d, now):
    r = d.admin("POST", "/v1/test/clock", json={"now": now})
    assert r.status_code == 200, r.text
    return epoch(r.json()["now"])


def book(d, ph, when="asap", notify=None, topic="Billing question", language=None):
    body = {"customer": {"name": "Ada", "phone": ph, "timezone": "Europe/London"},
            "topic": topic, "when": when}
    if language is not None:
        body["customer"]["language"] = language
    if notify is not None:
        body["notify"] = notify
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == 201, r.text
    b = r.json()
    b["case_id"] = d.admin("GET", f"/v1/callbacks/{b['id']}").json()["case_id"]
    return b


def sms_rows(sql, cid=None, phone_no=None):
    rows = sql.query("SELECT * FROM outbox WHERE channel = 'sms' ORDER BY id")
    out = []
    for r in rows:
        p = json.loads(r["payload"])
        if (cid is None or r["callback_id"] == cid) and (phone_no is None or p.get("to") == phone_no):
            out.append(r)
    return out


def settled(sql):
    """Every text due by now is recorded (sent, suppressed ...)."""
    wait_until(lambda: sql.scalar(
        "SELECT COUNT(*) FROM outbox WHERE channel = 'sms' AND status = 'pending' "
        "AND kind NOT IN ('sms.reminder')") == 0, msg="texts recorded")


def texts_to(rx, ph):
    """Texts that reached the receiver for ph, either mode."""
    out = []
    for r in rx.matching():
        if r.path.endswith("/Messages.json") and r.form().get("To") == ph:
            out.append(r.form()["Body"])
        elif r.path == "/sms" and r.json().get("to") == ph:
            out.append(r.json()["body"])
    return out


def optout_state(sql, ph):
    return sql.scalar("SELECT is_opted_out FROM sms_optouts WHERE phone = %s", (ph,))


# --------------------------------------------------------------------------
# Signatures: refused, and nothing changes


def test_twilio_reply_with_bad_or_missing_signature_is_refused_and_changes_nothing(
        daemon_factory, make_agent, webhook_receiver, sql):
    d = daemon_factory(twilio_conf(webhook_receiver))
    make_agent(d, "alice")
    ph = phone()
    b = book(d, ph, notify=["sms"])
    webhook_receiver.wait_for(1)
    settled(sql)
    before = row_counts(sql, TABLES)

    r = twilio_reply(d, ph, "STOP", sign=False)
    assert_problem(r, 401, "/problems/unauthorized", "X-Twilio-Signature")
    r = twilio_reply(d, ph, "STOP", token="not-the-token")
    assert_problem(r, 403, "/problems/invalid-signature", "X-Twilio-Signature")
    # Signed for another URL (another deployment, or the status endpoint).
    r = twilio_reply(d, ph, "STOP", signed_url=d.url + "/v1/sms/twilio/status")
    assert_problem(r, 403, "/problems/invalid-signature", "X-Twilio-Signature")
    # A field changed after signing.
    r = twilio_reply(d, ph, "Hello", tamper={"Body": "STOP"})
    assert_problem(r, 403, "/problems/invalid-signature", "X-Twilio-Signature")
    r = twilio_reply(d, ph, "C", tamper={"From": phone()})
    assert_problem(r, 403, "/problems/invalid-signature")
    # Receipts are signed the same way.
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005"}
    assert_problem(post_twilio(d, "/v1/sms/twilio/status", params, token="x"), 403,
                   "/problems/invalid-signature")

    assert row_counts(sql, TABLES) == before
    assert optout_state(sql, ph) is None
    assert d.req("GET", f"/v1/callbacks/{b['id']}", key=b["manage_token"]).json()["state"] == "pending"
    # The genuine one works.
    assert twilio_reply(d, ph, "STOP").status_code == 200
    assert optout_state(sql, ph) == 1


def test_webhook_reply_with_bad_missing_or_stale_signature_is_refused_and_changes_nothing(
        daemon_factory, make_agent, webhook_receiver, sql):
    d = daemon_factory(webhook_conf(webhook_receiver))
    make_agent(d, "alice")
    ph = phone()
    b = book(d, ph)
    before = row_counts(sql, TABLES)

    r = webhook_reply(d, ph, "C", headers={"webhook-signature": None})
    assert_problem(r, 401, "/problems/unauthorized", "webhook-signature")
    assert_problem(webhook_reply(d, ph, "C", secret=OTHER), 403,
                   "/problems/invalid-signature", "webhook-signature")
    # Correctly signed, but ten minutes old: a replay of a captured request.
    assert_problem(webhook_reply(d, ph, "C", ts=int(time.time()) - 600), 403,
                   "/problems/invalid-signature", "webhook-timestamp")
    # Signed body, other body sent.
    raw = json.dumps({"from": ph, "body": "hi"})
    ts = str(int(time.time()))
    r = d.req("POST", "/v1/sms/replies", data=json.dumps({"from": ph, "body": "C"}),
              headers={"Content-Type": "application/json", "webhook-id": "m1",
                       "webhook-timestamp": ts,
                       "webhook-signature": sign_standard_webhook(INBOUND, "m1", ts, raw)})
    assert_problem(r, 403, "/problems/invalid-signature")
    assert_problem(post_webhook(d, "/v1/sms/status", {"msg_id": str(uuid.uuid4()),
                                                       "status": "failed"}, secret=OTHER),
                   403, "/problems/invalid-signature")

    assert row_counts(sql, TABLES) == before
    assert d.admin("GET", f"/v1/callbacks/{b['id']}").json()["state"] == "pending"
    # Bad input that is signed: a field error, and nothing changes either.
    assert_problem(webhook_reply(d, "0800 123", "C"), 400, "/problems/invalid-phone", "from")
    r = post_webhook(d, "/v1/sms/replies", {"from": ph, "body": "C", "extra": 1})
    assert_problem(r, 400, "/problems/unknown-field", "extra")
    assert row_counts(sql, TABLES) == before


def test_signed_endpoints_refuse_with_no_inbound_secret_configured(daemon_factory, sql):
    d = daemon_factory(relaxed())
    before = row_counts(sql, TABLES)
    assert_problem(webhook_reply(d, phone(), "STOP"), 403, "/problems/invalid-signature")
    assert_problem(twilio_reply(d, phone(), "STOP"), 403, "/problems/invalid-signature")
    assert row_counts(sql, TABLES) == before


# --------------------------------------------------------------------------
# STOP and START


def test_stop_through_one_instance_stops_a_reminder_queued_by_another(
        daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    a = daemon_factory(twilio_conf(rx))
    b = daemon_factory(twilio_conf(rx))
    make_agent(a, "alice")
    set_clock(a, NOW)
    set_clock(b, NOW)
    ph = phone()
    cb = book(b, ph, when="2030-01-10T13:00:00Z", notify=["sms"])
    [rem] = [r for r in sms_rows(sql, cb["id"]) if r["kind"] == "sms.reminder"]
    assert rem["due_at"] == epoch("2030-01-10T12:45:00Z")
    wait_until(lambda: len(texts_to(rx, ph)) == 1, msg="the confirmation")
    settled(sql)

    r = twilio_reply(a, ph, " stop ")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/xml")
    assert "<Response></Response>" in r.text

    # Only b's clock reaches the reminder: b is the one that sends it.
    set_clock(b, "2030-01-10T12:46:00Z")
    wait_until(lambda: sms_rows(sql, cb["id"])[-1]["status"] != "pending"
               and [x for x in sms_rows(sql, cb["id"]) if x["kind"] == "sms.reminder"][0]["status"]
               != "pending", msg="the reminder dispatched")
    [rem] = [r for r in sms_rows(sql, cb["id"]) if r["kind"] == "sms.reminder"]
    assert rem["status"] == "suppressed", rem
    assert "STOP" in rem["last_error"]
    time.sleep(0.3)  # a wrongly sent text would have arrived by now
    assert len(texts_to(rx, ph)) == 1
    # Suppressed is final: never claimed again.
    set_clock(b, "2030-01-10T14:00:00Z")
    time.sleep(0.3)
    assert len(texts_to(rx, ph)) == 1
    assert [x for x in sms_rows(sql, cb["id"]) if x["kind"] == "sms.reminder"][0]["attempts"] == 1


def test_stop_then_start_and_staff_see_it(daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    _, agent_key = make_agent(d, "alice")
    lead = d.admin("POST", "/v1/keys", json={"role": "lead", "name": "lead-1"}).json()["key"]
    ph = phone()
    cb = book(d, ph, notify=["sms"])
    wait_until(lambda: len(texts_to(rx, ph)) == 1, msg="the confirmation")

    def staff_views():
        c = d.req("GET", f"/v1/callbacks/{cb['id']}", key=agent_key).json()["customer"]
        k = d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()["customer"]
        u = d.req("GET", "/v1/customers", key=agent_key, params={"phone": ph}).json()["customer"]
        q = [i for i in d.req("GET", "/v1/me/queue", key=agent_key).json()["items"]
             if i["id"] == cb["id"]][0]["customer"]
        return [v["sms_opted_out"] for v in (c, k, u, q)]

    assert staff_views() == [False] * 4
    # English CANCEL is a carrier opt-out word: it stops texts, it does not
    # cancel the callback.
    assert webhook_reply(d, ph, "Cancel").status_code == 200
    assert optout_state(sql, ph) == 1
    assert d.admin("GET", f"/v1/callbacks/{cb['id']}").json()["state"] == "pending"
    assert staff_views() == [True] * 4
    ls = d.req("GET", "/v1/sms/opt-outs", key=lead).json()
    assert [(i["phone"], i["word"]) for i in ls["items"] if i["phone"] == ph] == [(ph, "Cancel")]
    assert_problem(d.req("GET", "/v1/sms/opt-outs", key=agent_key), 403, "/problems/forbidden")
    assert_problem(d.req("GET", "/v1/sms/opt-outs"), 401, "/problems/unauthorized")
    assert_problem(d.req("GET", "/v1/sms/opt-outs", key=lead, params={"limit": "0"}), 400,
                   "/problems/invalid-query", "limit")

    # A text caused while opted out is kept, suppressed.
    rx.clear()
    r = d.req("POST", "/v1/manage-links", json={"phone": ph})
    assert r.status_code == 202
    wait_until(lambda: sms_rows(sql, cb["id"])[-1]["status"] == "suppressed", msg="suppressed")
    assert texts_to(rx, ph) == []

    assert webhook_reply(d, ph, "START").status_code == 200
    assert optout_state(sql, ph) == 0
    assert staff_views() == [False] * 4
    assert ph not in [i["phone"] for i in d.req("GET", "/v1/sms/opt-outs", key=lead).json()["items"]]
    assert d.req("POST", "/v1/manage-links", json={"phone": ph}).status_code == 202
    wait_until(lambda: len(texts_to(rx, ph)) == 1, msg="texts again after START")
    kinds = [e["kind"] for e in d.admin("GET", f"/v1/cases/{cb['case_id']}").json()["timeline"]]
    assert "sms_opt_out" in kinds and "sms_opt_in" in kinds


def test_booking_then_stop_then_no_more_messages(daemon_factory, make_agent, webhook_receiver,
                                                 sql):
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    make_agent(d, "alice")
    now = set_clock(d, NOW)
    ph = phone()
    cb = book(d, ph, when="2030-01-12T14:00:00Z", notify=["sms"])
    wait_until(lambda: len(texts_to(rx, ph)) == 1, msg="the confirmation")
    settled(sql)
    assert webhook_reply(d, ph, "UNSUBSCRIBE", ts=now).status_code == 200

    # Everything that would text: a reschedule, both reminders, a link.
    r = d.req("PATCH", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"],
              json={"when": "2030-01-12T15:00:00Z"})
    assert r.status_code == 200, r.text
    assert d.req("POST", "/v1/manage-links", json={"phone": ph}).status_code == 202
    set_clock(d, "2030-01-12T14:59:00Z")
    wait_until(lambda: all(x["status"] != "pending" for x in sms_rows(sql, cb["id"])),
               msg="every text dispatched")
    after = sms_rows(sql, cb["id"])[1:]
    assert {x["kind"] for x in after if x["status"] == "suppressed"} >= \
        {"sms.rescheduled", "sms.reminder", "sms.manage_link"}, after
    assert all(x["status"] in ("suppressed", "withdrawn") for x in after), after
    time.sleep(0.3)
    assert len(texts_to(rx, ph)) == 1


# --------------------------------------------------------------------------
# Cancel by reply, and everything else


def test_c_cancels_the_next_callback_with_a_confirmation(daemon_factory, make_agent,
                                                          webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(twilio_conf(rx))
    make_agent(d, "alice")
    ph = phone()
    cb = book(d, ph)  # no texts asked for: the reply confirms
    sid = "SM" + uuid.uuid4().hex
    r = twilio_reply(d, ph, "c", sid=sid)
    assert r.status_code == 200, r.text
    assert d.admin("GET", f"/v1/callbacks/{cb['id']}").json()["state"] == "cancelled"
    wait_until(lambda: texts_to(rx, ph) == ["Your callback is cancelled. Reply STOP to stop texts."],
               msg="the confirmation")
    ev = [e for e in d.admin("GET", f"/v1/cases/{cb['case_id']}").json()["timeline"]
          if e["kind"] == "cancelled"]
    assert ev[0]["actor"] == "customer (SMS)"

    # Twilio sending the same reply again changes nothing.
    before = row_counts(sql, TABLES)
    assert twilio_reply(d, ph, "c", sid=sid).status_code == 200
    assert row_counts(sql, TABLES) == before

    # A customer who asked for texts gets the usual cancellation text; the
    # words of the other shipped languages cancel too.
    for word in ("Cancelar", "absagen", "रद्द"):
        nxt = book(d, ph, notify=["sms"])
        rx.clear()
        assert twilio_reply(d, ph, word).status_code == 200
        assert d.admin("GET", f"/v1/callbacks/{nxt['id']}").json()["state"] == "cancelled", word
        wait_until(lambda: any("cancelled" in t for t in texts_to(rx, ph)), msg=word)
        assert [x["kind"] for x in sms_rows(sql, nxt["id"]) if x["kind"] == "sms.reply"] == []

    # Nothing left to cancel: told so, nothing else changes.
    rx.clear()
    assert twilio_reply(d, ph, "C").status_code == 200
    wait_until(lambda: texts_to(rx, ph) == ["You have no upcoming callback to cancel."],
               msg="nothing to cancel")


def test_cancel_replies_answer_in_the_customers_language(daemon_factory, make_agent,
                                                          webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(twilio_conf(rx))
    make_agent(d, "alice")
    ph = phone()
    book(d, ph, language="es")
    assert twilio_reply(d, ph, "cancelar").status_code == 200
    wait_until(lambda: texts_to(rx, ph) == [
        "Su llamada está cancelada. Responda STOP para no recibir más mensajes."],
        msg="the confirmation in Spanish")
    # Nothing left: the answer is in the language of their latest booking.
    rx.clear()
    assert twilio_reply(d, ph, "C").status_code == 200
    wait_until(lambda: texts_to(rx, ph) == ["No tiene ninguna llamada pendiente que cancelar."],
               msg="nothing to cancel, in Spanish")
    # An operator's own text replaces the templates in every language.
    d2 = daemon_factory(twilio_conf(rx, sms_reply_nothing_to_cancel="Nothing to cancel."))
    rx.clear()
    assert twilio_reply(d2, ph, "C").status_code == 200
    wait_until(lambda: texts_to(rx, ph) == ["Nothing to cancel."], msg="the operator's text")


def test_other_text_goes_on_the_timeline_and_changes_nothing_else(
        daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    _, agent_key = make_agent(d, "alice")
    ph = phone()
    cb = book(d, ph, when="asap")
    before = sql.query("SELECT id, state, due_at, owner_id FROM callbacks")
    feed = "SELECT COUNT(*) FROM changes WHERE case_id = %s"
    fed = sql.scalar(feed, (cb["case_id"],))
    text = "Please call after 5pm,\r\nI am at work. STOP"
    assert webhook_reply(d, ph, text).status_code == 200
    # The reply reaches the owner's open console too (the change feed).
    assert sql.scalar(feed, (cb["case_id"],)) == fed + 1
    case = d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()
    [ev] = [e for e in case["timeline"] if e["kind"] == "sms_reply"]
    assert ev["data"]["text"] == "Please call after 5pm,\nI am at work. STOP"
    assert ev["actor"] == "customer (SMS)"
    assert sql.query("SELECT id, state, due_at, owner_id FROM callbacks") == before
    assert optout_state(sql, ph) is None

    # An unknown number: answered 200 (or the gateway retries), nothing stored.
    counts = row_counts(sql, TABLES)
    assert webhook_reply(d, phone(), "who is this?").status_code == 200
    assert row_counts(sql, TABLES) == counts


# --------------------------------------------------------------------------
# Delivery receipts


def test_delivery_receipt_undelivered_flags_the_number_for_the_agent(
        daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(twilio_conf(rx))
    _, agent_key = make_agent(d, "alice")
    ph = phone()
    cb = book(d, ph, notify=["sms"])
    [req] = wait_until(lambda: [r for r in rx.matching() if r.form().get("To") == ph] or None,
                       msg="the confirmation")
    form = req.form()
    msg_id = req.headers["I-Twilio-Idempotency-Token"]
    assert form["StatusCallback"] == f"{d.url}/v1/sms/twilio/status?m={msg_id}"
    row = wait_until(lambda: [x for x in sms_rows(sql, cb["id"]) if x["msg_id"] == msg_id
                              and x["status"] == "sent"] or None, msg="recorded sent")[0]
    assert row["provider_id"].startswith("SM")

    path = urllib.parse.urlsplit(form["StatusCallback"])
    target = path.path + "?" + path.query

    def receipt(status, code=None):
        params = {"MessageSid": row["provider_id"], "MessageStatus": status,
                  "AccountSid": SID, "To": ph}
        if code:
            params["ErrorCode"] = code
        return post_twilio(d, target, params)

    assert receipt("sent").status_code == 200
    assert sql.scalar("SELECT delivery_status FROM outbox WHERE msg_id = %s", (msg_id,)) == "sent"
    # A switched-off phone is no wrong number.
    assert receipt("undelivered", "30003").status_code == 200
    case = d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()
    assert case["customer"]["phone_undeliverable"] is False
    # Unknown destination: flagged where the agent looks, before calling,
    # and on the open consoles at once (the change feed).
    feed = "SELECT COUNT(*) FROM changes WHERE case_id = %s"
    fed = sql.scalar(feed, (cb["case_id"],))
    assert receipt("undelivered", "30005").status_code == 200
    assert sql.scalar(feed, (cb["case_id"],)) == fed + 1
    assert sql.scalar("SELECT delivery_error FROM outbox WHERE msg_id = %s", (msg_id,)) == "30005"
    case = d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()
    assert case["customer"]["phone_undeliverable"] is True
    assert case["customer"]["phone_undeliverable_error"] == "30005"
    assert "phone_undeliverable" in [e["kind"] for e in case["timeline"]]
    # The gateway sends the same receipt again: no second flag entry.
    assert receipt("undelivered", "30005").status_code == 200
    case = d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()
    assert [e["kind"] for e in case["timeline"]].count("phone_undeliverable") == 1
    msgs = d.admin("GET", f"/v1/callbacks/{cb['id']}/messages").json()["items"]
    assert [(m["delivery_status"], m["delivery_error"]) for m in msgs if m["id"] == msg_id] == \
        [("undelivered", "30005")]
    q = [i for i in d.req("GET", "/v1/me/queue", key=agent_key).json()["items"]
         if i["id"] == cb["id"]][0]
    assert q["customer"]["phone_undeliverable"] is True
    c = d.req("GET", f"/v1/callbacks/{cb['id']}", key=agent_key).json()
    assert c["customer"]["phone_undeliverable"] is True
    # A late "sent" does not move it back; bad status is a field error.
    assert receipt("sent").status_code == 200
    assert sql.scalar("SELECT delivery_status FROM outbox WHERE msg_id = %s",
                      (msg_id,)) == "undelivered"
    assert_problem(receipt("lost"), 400, "/problems/invalid-field", "MessageStatus")
    # The customer's own view says nothing of it.
    mine = d.req("GET", f"/v1/callbacks/{cb['id']}", key=cb["manage_token"]).json()
    assert "phone_undeliverable" not in json.dumps(mine)


def test_generic_delivery_receipt_flags_and_a_delivered_text_clears(
        daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    _, agent_key = make_agent(d, "alice")
    ph = phone()
    cb = book(d, ph, notify=["sms"])
    req = wait_until(lambda: [r for r in rx.matching("/sms") if r.json()["to"] == ph] or None,
                     msg="the confirmation")[0]
    msg_id = req.json()["msg_id"]
    r = post_webhook(d, "/v1/sms/status", {"type": "sms.status", "msg_id": msg_id,
                                           "status": "failed", "permanent": True})
    assert r.status_code == 200, r.text
    view = lambda: d.req("GET", f"/v1/cases/{cb['case_id']}", key=agent_key).json()["customer"]
    assert view()["phone_undeliverable"] is True
    assert post_webhook(d, "/v1/sms/status", {"msg_id": msg_id,
                                              "status": "delivered"}).status_code == 200
    assert view()["phone_undeliverable"] is False
    # A receipt for no message we know: answered, nothing changes.
    counts = row_counts(sql, TABLES)
    assert post_webhook(d, "/v1/sms/status", {"msg_id": str(uuid.uuid4()),
                                              "status": "failed"}).status_code == 200
    assert row_counts(sql, TABLES) == counts
    assert_problem(post_webhook(d, "/v1/sms/status", {"msg_id": "x", "status": "failed"}),
                   400, "/problems/invalid-field", "msg_id")


# --------------------------------------------------------------------------
# Resend my link


def test_resend_link_reveals_nothing_and_keeps_to_stop(daemon_factory, make_agent,
                                                       webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    make_agent(d, "alice")
    known, stopped, unknown = phone(), phone(), phone()
    cb = book(d, known)
    book(d, stopped)
    assert webhook_reply(d, stopped, "STOP").status_code == 200

    answers = [d.req("POST", "/v1/manage-links", json={"phone": p})
               for p in (known, stopped, unknown)]
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1
    assert str(cb["id"]) not in answers[0].text
    wait_until(lambda: len(texts_to(rx, known)) == 1, msg="the link")
    assert f"token={cb['manage_token']}" in texts_to(rx, known)[0]
    wait_until(lambda: all(x["status"] != "pending" for x in sms_rows(sql, phone_no=stopped)),
               msg="the stopped number's link dispatched")
    assert [x["status"] for x in sms_rows(sql, phone_no=stopped)] == ["suppressed"]
    cid = sms_rows(sql, phone_no=stopped)[0]["callback_id"]
    assert [m["status"] for m in d.admin("GET", f"/v1/callbacks/{cid}/messages").json()["items"]
            if m["kind"] == "sms.manage_link"] == ["suppressed"]
    assert texts_to(rx, stopped) == [] and texts_to(rx, unknown) == []
    assert_problem(d.req("POST", "/v1/manage-links", json={"phone": "12345"}), 400,
                   "/problems/invalid-phone", "phone")


def test_queue_etag_moves_with_an_undeliverable_number_and_a_stop(
        daemon_factory, make_agent, webhook_receiver, sql):
    """The agent's queue shows the number's flags: an unchanged queue is a
    304, and a receipt flagging the number or a STOP is a change."""
    rx = webhook_receiver
    d = daemon_factory(webhook_conf(rx))
    _, agent_key = make_agent(d, "alice")
    ph = phone()
    cb = book(d, ph, notify=["sms"])
    req = wait_until(lambda: [r for r in rx.matching("/sms") if r.json()["to"] == ph] or None,
                     msg="the confirmation")[0]

    def page(tag=None):
        return d.req("GET", "/v1/me/queue", key=agent_key,
                     headers={"If-None-Match": tag} if tag else None)

    def changed(tag):
        r = page(tag)
        assert r.status_code == 200, r.text
        assert r.headers["ETag"] != tag
        assert page(r.headers["ETag"]).status_code == 304
        return r.headers["ETag"], r.json()["items"][0]["customer"]

    tag, customer = changed(None)
    assert customer["phone_undeliverable"] is False and customer["sms_opted_out"] is False
    r = post_webhook(d, "/v1/sms/status", {"type": "sms.status", "msg_id": req.json()["msg_id"],
                                           "status": "failed", "permanent": True})
    assert r.status_code == 200, r.text
    tag, customer = changed(tag)
    assert customer["phone_undeliverable"] is True
    assert webhook_reply(d, ph, "STOP").status_code == 200
    tag, customer = changed(tag)
    assert customer["sms_opted_out"] is True
    assert d.admin("GET", f"/v1/callbacks/{cb['id']}").json()["state"] == "pending"
