"""Tests of the test harness itself: the pieces that need no daemon."""

import smtplib
import socket
from email.message import EmailMessage

import pytest
import requests

from helpers import (RecordedRequest, sign_standard_webhook,
                     verify_standard_webhook, wait_until)

# The test vector published with the Standard Webhooks specification.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = "1614265330"
SW_BODY = b'{"test": 2432232314}'
SW_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _signed_request(sig, body=SW_BODY, msg_id=SW_ID, ts=SW_TS):
    headers = {"webhook-id": msg_id, "webhook-timestamp": ts,
               "webhook-signature": sig}
    from requests.structures import CaseInsensitiveDict
    return RecordedRequest("POST", "/hook", CaseInsensitiveDict(headers), body, 200)


def test_signature_helper_matches_the_standard_webhooks_vector():
    assert sign_standard_webhook(SW_SECRET, SW_ID, SW_TS, SW_BODY) == SW_SIG
    assert verify_standard_webhook(_signed_request(SW_SIG), SW_SECRET)


def test_signature_verify_accepts_any_of_several_and_rejects_tampering():
    rotated = "v1,bm90IHRoZSByaWdodCBvbmU= " + SW_SIG
    assert verify_standard_webhook(_signed_request(rotated), SW_SECRET)
    assert not verify_standard_webhook(
        _signed_request(SW_SIG, body=b'{"test": 2432232315}'), SW_SECRET)
    assert not verify_standard_webhook(_signed_request(SW_SIG, ts="1614265331"), SW_SECRET)
    assert not verify_standard_webhook(_signed_request("v1,AAAA"), SW_SECRET)
    # The vector is from 2021: with a freshness window it is stale.
    assert not verify_standard_webhook(_signed_request(SW_SIG), SW_SECRET, tolerance=300)
    assert verify_standard_webhook(_signed_request(SW_SIG), SW_SECRET, tolerance=300,
                                   now=int(SW_TS) + 10)


def test_webhook_receiver_records_requests_and_fails_on_demand(webhook_receiver):
    r = requests.post(webhook_receiver.url + "/hook", json={"a": 1},
                      headers={"webhook-id": "msg_1"}, timeout=5)
    assert r.status_code == 200

    webhook_receiver.fail_next(2, status=503)
    codes = [requests.post(webhook_receiver.url + "/hook", data=b"x", timeout=5).status_code
             for _ in range(3)]
    assert codes == [503, 503, 200]

    sms = requests.post(webhook_receiver.url + "/2010-04-01/Accounts/AC1/Messages.json",
                        data={"To": "+15551234567", "Body": "hi"}, timeout=5)
    assert sms.status_code == 201 and sms.json()["sid"].startswith("SM")

    webhook_receiver.set_status(410)
    assert requests.get(webhook_receiver.url + "/x", timeout=5).status_code == 410
    webhook_receiver.set_status(None)

    reqs = webhook_receiver.wait_for(6)
    assert [q.status for q in reqs] == [200, 503, 503, 200, 201, 410]
    first = reqs[0]
    assert first.method == "POST" and first.path == "/hook"
    assert first.headers["Webhook-Id"] == "msg_1"
    assert first.json() == {"a": 1}
    assert reqs[4].form() == {"To": "+15551234567", "Body": "hi"}
    assert len(webhook_receiver.matching("/hook")) == 4


def test_webhook_receiver_down_refuses_connections_until_up(webhook_receiver):
    port = webhook_receiver.port
    # A kept-alive connection must not survive down() either.
    with requests.Session() as s:
        assert s.get(webhook_receiver.url + "/a", timeout=5).status_code == 200
        webhook_receiver.down()
        with pytest.raises(requests.ConnectionError):
            s.get(webhook_receiver.url + "/b", timeout=5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    webhook_receiver.up()
    assert webhook_receiver.port == port
    assert requests.get(webhook_receiver.url + "/c", timeout=5).status_code == 200
    assert [q.path for q in webhook_receiver.requests] == ["/a", "/c"]


def test_sql_fixture_works_in_a_fresh_database(sql, dbname, mariadb):
    assert sql.scalar("SELECT DATABASE()") == dbname
    assert sql.query("SHOW TABLES") == []
    sql.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
    assert sql.execute("INSERT INTO t VALUES (%s, %s), (%s, %s)", (1, "ä", 2, "b")) == 2
    assert sql.query("SELECT id, name FROM t ORDER BY id") == [
        {"id": 1, "name": "ä"}, {"id": 2, "name": "b"}]
    assert sql.scalar("SELECT name FROM t WHERE id = %s", (3,)) is None
    # Durable commits are part of what the tests rely on.
    assert sql.scalar("SELECT @@innodb_flush_log_at_trx_commit") == 1


def test_each_test_gets_its_own_database(dbname, mariadb):
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (dbname,))
            assert cur.fetchall() == [{f"Database ({dbname})": dbname}]
    finally:
        conn.close()


def test_smtp_receiver_captures_a_message(smtp_receiver):
    msg = EmailMessage()
    msg["From"] = "callbackd@example.test"
    msg["To"] = "ada@example.test"
    msg["Subject"] = "Your callback"
    msg.set_content("See you soon")
    msg.add_attachment(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", maintype="text",
                       subtype="calendar", filename="invite.ics")
    assert smtp_receiver.url.startswith("smtp://127.0.0.1:")
    with smtplib.SMTP(smtp_receiver.host, smtp_receiver.port, timeout=5) as s:
        s.send_message(msg)
    mails = smtp_receiver.wait_for(1)
    assert mails[0].mail_from == "callbackd@example.test"
    assert mails[0].rcpt_tos == ["ada@example.test"]
    assert mails[0].message["Subject"] == "Your callback"
    assert len(mails[0].parts("text/calendar")) == 1

    smtp_receiver.fail_next(1)
    with smtplib.SMTP(smtp_receiver.host, smtp_receiver.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.send_message(msg)
    assert e.value.smtp_code == 451
    assert len(smtp_receiver.messages) == 1


def test_wait_until_returns_the_value_or_fails_with_a_message():
    seen = []
    assert wait_until(lambda: seen.append(1) or (len(seen) >= 3 and len(seen))) == 3
    with pytest.raises(AssertionError, match="the impossible"):
        wait_until(lambda: False, timeout=0.2, msg="the impossible")
