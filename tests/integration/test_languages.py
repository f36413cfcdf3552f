"""Customer messaging in the real world: phone numbers as people type them
(libphonenumber), texts and e-mails in the customer's language with times
written by ICU in their zone (across a DST change), an e-mail confirming an
ASAP booking, and messages rendered when they are sent, so a reminder names
the owner of the moment without a second reminder row.
"""

import itertools
import json

import icalendar
import pytest

from helpers import make_key, wait_until
from util_api import (assert_problem, clock_advance, clock_to, epoch, relaxed,
                      row_counts, COUNTED_TABLES)

QUIET_OFF = {"quiet_hours_start": "", "quiet_hours_end": ""}
_mobiles = itertools.count(1)


def mobile():
    """A UK mobile number, unique in this process."""
    return "+447480%06d" % next(_mobiles)


def book(d, customer, when="asap", notify=None, expect=201):
    body = {"customer": {"name": "Ada", "timezone": "Europe/London", **customer},
            "topic": "Billing", "when": when}
    if notify is not None:
        body["notify"] = notify
    r = d.req("POST", "/v1/callbacks", json=body)
    assert r.status_code == expect, r.text
    return r


# --------------------------------------------------------------------------
# Phone numbers

# (typed, zone, explicit region, notify, E.164, national form)
NUMBERS = [
    ("(303) 555-0142", "America/Denver", None, ["sms"], "+13035550142", "(303) 555-0142"),
    ("303.499.7111", "America/Chicago", None, None, "+13034997111", "(303) 499-7111"),
    ("+1 (720) 555-0199", "Europe/London", None, None, "+17205550199", "(720) 555-0199"),
    ("07400 123456", "Europe/London", None, ["sms"], "+447400123456", "07400 123456"),
    ("+44 (0)20 7946 0018", "Asia/Tokyo", None, None, "+442079460018", "020 7946 0018"),
    ("030 12345678", "Europe/Berlin", None, None, "+493012345678", "030 12345678"),
    ("0151 23456789", "America/New_York", "DE", ["sms"], "+4915123456789", "01512 3456789"),
    ("98765-43210", "Asia/Kolkata", None, ["sms"], "+919876543210", "098765 43210"),
    ("+91 22 2345 6789", "UTC", None, None, "+912223456789", "022 2345 6789"),
    ("612 34 56 78", "Europe/Madrid", None, ["sms"], "+34612345678", "612 34 56 78"),
    ("55 1234 5678", "America/Mexico_City", None, ["sms"], "+525512345678", "55 1234 5678"),
]


def test_numbers_as_people_type_them_are_stored_in_e164(daemon_factory, make_agent):
    d = daemon_factory(relaxed())
    make_agent(d, "alice")
    for typed, tz, region, notify, e164, national in NUMBERS:
        customer = {"phone": typed, "timezone": tz}
        if region:
            customer["region"] = region
        cid = book(d, customer, notify=notify).json()["id"]
        got = d.admin("GET", f"/v1/callbacks/{cid}").json()["customer"]
        assert (got["phone"], got["phone_national"]) == (e164, national), (typed, got)


# (typed, zone, region, notify, status, type, a word of the detail)
REFUSED = [
    ("+999999999999", "UTC", None, None, 400, "invalid-phone", "country code"),
    ("+15550100100", "UTC", None, None, 400, "invalid-phone", "not a valid number"),
    ("+44 7700 900123", "Europe/London", None, None, 400, "invalid-phone", "not a valid number"),
    ("+4420", "UTC", None, None, 400, "invalid-phone", "too short"),
    ("12", "America/Denver", None, None, 400, "invalid-phone", "too short"),
    ("call me", "America/Denver", None, None, 400, "invalid-phone", "not a phone number"),
    ("1-800-FLOWERS", "America/Denver", None, None, 400, "invalid-phone", "not a phone number"),
    # A national number with no region to read it in.
    ("(303) 555-0142", "UTC", None, None, 400, "invalid-phone", "country code"),
    ("030 12345678", "Europe/Berlin", "ZZ", None, 400, "invalid-region", "country"),
    # Landlines cannot take texts; where the library cannot tell (US), the
    # number passes (above).
    ("020 7946 0018", "Europe/London", None, ["sms"], 422, "phone-not-mobile", "landline"),
    ("030 12345678", "Europe/Berlin", None, ["email", "sms"], 422, "phone-not-mobile",
     "landline"),
]


def test_numbers_that_are_not_valid_are_refused_naming_the_problem(daemon_factory, make_agent,
                                                                   sql):
    d = daemon_factory(relaxed())
    make_agent(d, "alice")
    before = row_counts(sql, COUNTED_TABLES)
    for typed, tz, region, notify, status, ptype, word in REFUSED:
        customer = {"phone": typed, "timezone": tz, "email": "ada@example.com"}
        if region:
            customer["region"] = region
        r = book(d, customer, notify=notify, expect=status)
        p = assert_problem(r, status, "/problems/" + ptype,
                           "customer.region" if ptype == "invalid-region" else "customer.phone")
        assert word in p["detail"], (typed, p)
    assert row_counts(sql, COUNTED_TABLES) == before


def test_lookups_by_phone_take_the_forms_people_type(daemon_factory, make_agent,
                                                    webhook_receiver):
    """An agent searching customers and a customer asking for their link
    type numbers as they would at booking: national forms are read in the
    region given, else in the country of the zone sent."""
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=webhook_receiver.url + "/sms",
                               outbox_poll_ms=50))
    _, key = make_agent(d, "alice")
    book(d, {"phone": "07400 123457", "timezone": "Europe/London"})
    for params in ({"phone": "+447400123457"}, {"phone": "07400 123457", "tz": "Europe/London"},
                   {"phone": "07400 123457", "region": "GB"},
                   {"phone": "(0) 7400-123 457", "region": "GB", "tz": "America/Denver"}):
        r = d.req("GET", "/v1/customers", key=key, params=params)
        assert r.status_code == 200, (params, r.text)
        assert r.json()["customer"]["phone"] == "+447400123457", (params, r.json())
    # Read in the wrong country, it is someone else (or nobody).
    r = d.req("GET", "/v1/customers", key=key, params={"phone": "07400 123457", "tz": "Europe/Berlin"})
    assert r.status_code in (400, 404), r.text
    assert_problem(d.req("GET", "/v1/customers", key=key,
                         params={"phone": "07400 123457", "region": "ZZ"}),
                   400, "/problems/invalid-region", "region")

    # "Text me my link", typed as on the book page: the link goes out.
    r = d.req("POST", "/v1/manage-links", json={"phone": "07400 123457",
                                               "timezone": "Europe/London"})
    assert r.status_code == 202, r.text
    wait_until(lambda: any("+447400123457" in rq.text
                           for rq in webhook_receiver.matching("/sms")),
               msg="no link texted")
    assert_problem(d.req("POST", "/v1/manage-links", json={"phone": "07400 123457",
                                                          "timezone": "Mars/Base"}),
                   400, "/problems/invalid-timezone", "timezone")
    assert_problem(d.req("POST", "/v1/manage-links", json={"phone": "07400 123457"}),
                   400, "/problems/invalid-phone", "phone")


def test_language_is_checked_and_kept_in_canonical_form(daemon_factory, make_agent):
    d = daemon_factory(relaxed(default_language="de"))
    make_agent(d, "alice")
    r = book(d, {"phone": mobile(), "language": "ES-mx"})
    assert r.json()["language"] == "es-MX"
    assert book(d, {"phone": mobile()}).json()["language"] == "de"
    for bad in ("english", "xx", "es_MX!", ""):
        r = book(d, {"phone": mobile(), "language": bad}, expect=400)
        assert_problem(r, 400, "/problems/invalid-language", "customer.language")


# --------------------------------------------------------------------------
# Languages and zones, through the real SMS and SMTP receivers

# 15:00 local on the Saturday before and the Monday after each zone's
# change to summer time (Denver 8 March 2026, Berlin 29 March 2026).
WHEN = {"America/Denver": ("2026-03-07T22:00:00Z", "2026-03-09T21:00:00Z"),
        "Europe/Berlin": ("2026-03-28T14:00:00Z", "2026-03-30T13:00:00Z")}
# What each language's texts say of those times: ICU's words, the zone
# named in words, never an offset.
SAYS = {
    ("en", "America/Denver"): ("Saturday, March 7 at 3:00 PM (Denver Time)",
                               "Monday, March 9 at 3:00 PM (Denver Time)"),
    ("en", "Europe/Berlin"): ("Saturday, 28 March at 15:00 (Germany Time)",
                              "Monday, 30 March at 15:00 (Germany Time)"),
    ("es", "America/Denver"): ("sábado, 7 de marzo, 3:00 p. m. (hora de Denver)",
                               "lunes, 9 de marzo, 3:00 p. m. (hora de Denver)"),
    ("es", "Europe/Berlin"): ("sábado, 28 de marzo, 15:00 (hora de Alemania)",
                              "lunes, 30 de marzo, 15:00 (hora de Alemania)"),
    ("de", "America/Denver"): ("Samstag, 7. März um 15:00 Uhr (Ortszeit Denver)",
                               "Montag, 9. März um 15:00 Uhr (Ortszeit Denver)"),
    ("de", "Europe/Berlin"): ("Samstag, 28. März um 15:00 Uhr (Ortszeit Berlin)",
                              "Montag, 30. März um 15:00 Uhr (Ortszeit Berlin)"),
    ("hi", "America/Denver"): ("शनिवार, 7 मार्च को 3:00 pm बजे (डेनवर समय)",
                               "सोमवार, 9 मार्च को 3:00 pm बजे (डेनवर समय)"),
    ("hi", "Europe/Berlin"): ("शनिवार, 28 मार्च को 3:00 pm बजे (जर्मनी समय)",
                              "सोमवार, 30 मार्च को 3:00 pm बजे (जर्मनी समय)"),
}
# A word of each language's confirmation text, invite summary and e-mail.
WORDS = {"en": ("Thanks Ada", "Callback: Billing", "will call you"),
         "es": ("Gracias, Ada", "Llamada: Billing", "le llamará"),
         "de": ("Danke, Ada", "Rückruf: Billing", "ruft Sie"),
         "hi": ("धन्यवाद Ada", "कॉल: Billing", "कॉल करेंगे")}


def test_each_language_in_two_zones_across_a_dst_change(daemon_factory, make_agent,
                                                        webhook_receiver, smtp_receiver):
    rx, smtp = webhook_receiver, smtp_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               smtp_url=smtp.url, outbox_poll_ms=50,
                               max_per_agent_per_slot=10, **QUIET_OFF))
    clock_to(d, "2026-03-01T16:00:00Z")
    make_agent(d, "alice", display_name="Alice", capacity=50)
    booked = {}
    for (lang, tz), says in SAYS.items():
        for k, when in enumerate(WHEN[tz]):
            ph = mobile()
            email = f"c{len(booked)}@example.com"
            book(d, {"phone": ph, "timezone": tz, "language": lang, "email": email},
                 when=when, notify=["sms", "email"])
            booked[ph] = (lang, tz, says[k], email)
    texts = {q.json()["to"]: q.json()["body"] for q in rx.wait_for(len(booked), path="/sms")}
    mails = {m.rcpt_tos[0]: m for m in smtp.wait_for(len(booked))}
    for ph, (lang, tz, says, email) in booked.items():
        thanks, summary, call = WORDS[lang]
        text = texts[ph]
        assert text.startswith(thanks) and says in text, (lang, tz, text)
        assert "UTC" not in text and "GMT" not in text, text
        msg = mails[email].message
        assert says in str(msg["Subject"]), msg["Subject"]
        [plain] = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
        body = plain.get_content()
        assert says in body and call in body, (lang, tz, body)
        [cal] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        ev = next(iter(icalendar.Calendar.from_ical(cal.get_content()).walk("VEVENT")))
        assert str(ev["SUMMARY"]) == summary, (lang, ev["SUMMARY"])
        assert call in str(ev["DESCRIPTION"]), (lang, ev["DESCRIPTION"])


def test_a_language_without_templates_is_told_in_english(daemon_factory, make_agent,
                                                         webhook_receiver):
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               outbox_poll_ms=50, **QUIET_OFF))
    clock_to(d, "2026-03-01T16:00:00Z")
    make_agent(d, "alice", display_name="Alice")
    ph = mobile()
    book(d, {"phone": ph, "timezone": "Europe/Paris", "language": "fr"},
         when="2026-03-02T14:00:00Z", notify=["sms"])
    [req] = rx.wait_for(1, path="/sms")
    # English words; the date as French people write it.
    assert req.json()["body"].startswith("Thanks Ada, Alice will call you at 07480 "), req.json()
    assert "lundi 2 mars" in req.json()["body"], req.json()
    wait_until(lambda: "no template in this language" in open(d.log_path).read(),
               msg="the fallback logged")


def test_operator_templates_are_searched_first(daemon_factory, make_agent, webhook_receiver,
                                               tmp_path):
    rx = webhook_receiver
    (tmp_path / "tpl" / "es").mkdir(parents=True)
    (tmp_path / "tpl" / "es" / "sms_confirmation_asap.txt").write_text(
        "¡Hola {name}! Le llamamos enseguida al {phone}.\n", encoding="utf-8")
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               outbox_poll_ms=50, template_dir=str(tmp_path / "tpl"),
                               **QUIET_OFF))
    make_agent(d, "alice")
    book(d, {"phone": "612 34 56 78", "timezone": "Europe/Madrid", "language": "es"},
         notify=["sms"])
    [req] = rx.wait_for(1, path="/sms")
    assert req.json()["body"] == "¡Hola Ada! Le llamamos enseguida al 612 34 56 78."


def test_asap_booking_with_email_gets_a_confirmation_mail(daemon_factory, make_agent,
                                                          smtp_receiver):
    smtp = smtp_receiver
    d = daemon_factory(relaxed(smtp_url=smtp.url, outbox_poll_ms=50))
    make_agent(d, "alice")
    book(d, {"phone": "612 34 56 78", "timezone": "Europe/Madrid", "language": "es",
             "email": "ada@example.com"}, notify=["email"])
    [mail] = smtp.wait_for(1)
    msg = mail.message
    assert mail.rcpt_tos == ["ada@example.com"]
    assert str(msg["Subject"]) == "Le devolveremos la llamada: Billing"
    # No calendar: an ASAP call has no time to put in one.
    assert not mail.parts("text/calendar") and not mail.parts("application/ics")
    [plain] = mail.parts("text/plain")
    text = plain.get_content()
    assert "Le devolveremos la llamada al 612 34 56 78 lo antes posible" in text, text
    assert "?token=cbt_" in text


# --------------------------------------------------------------------------
# Rendered when sent

NOTE = {"summary": "Refund asked for", "next_step": "Confirm the refund",
        "reason": "Rebalancing the evening"}


def test_reminder_after_a_handoff_names_the_new_owner_without_a_second_row(
        daemon_factory, make_agent, webhook_receiver, sql):
    rx = webhook_receiver
    d = daemon_factory(relaxed(sms_mode="webhook", sms_url=rx.url + "/sms",
                               outbox_poll_ms=50, **QUIET_OFF))
    clock_to(d, "2026-11-02T12:00:00Z")
    alex, _ = make_agent(d, "alex", display_name="Alex")
    sam, _ = make_agent(d, "sam", display_name="Sam")
    lead = make_key(d, "lead", "lena")
    start = "2026-11-04T15:00:00Z"
    cid = book(d, {"phone": mobile(), "timezone": "Europe/London"}, when=start,
               notify=["sms"]).json()["id"]
    owner = sql.scalar("SELECT owner_id FROM callbacks WHERE id = %s", (cid,))
    other = sam["id"] if owner == alex["id"] else alex["id"]
    new_name = "Sam" if other == sam["id"] else "Alex"
    reminders = lambda: sql.query(  # noqa: E731
        "SELECT msg_id, status, due_at FROM outbox WHERE callback_id = %s AND "
        "kind = 'sms.reminder' ORDER BY id", (cid,))
    before = reminders()
    assert [r["due_at"] for r in before] == [epoch(start) - 86400, epoch(start) - 900]
    wait_until(lambda: len(rx.matching("/sms")) == 1, msg="the confirmation")

    r = d.req("POST", "/v1/handoffs", key=lead,
              json={"callback_ids": [cid], "to_agent": other, "note": NOTE})
    assert r.status_code == 201, r.text
    # The same two reminder rows, none withdrawn, none added.
    assert reminders() == before
    clock_to(d, "2026-11-03T15:00:00Z")
    got = wait_until(lambda: [q.json() for q in rx.matching("/sms")
                              if q.json()["body"].startswith("Reminder:")],
                     msg="the first reminder")
    assert got[0]["msg_id"] == before[0]["msg_id"]
    assert got[0]["body"].startswith(f"Reminder: {new_name} will call you on Wednesday, "
                                     "4 November at 15:00"), got[0]["body"]
    # What was sent is kept with the row, for staff.
    wait_until(lambda: sql.scalar("SELECT status FROM outbox WHERE msg_id = %s",
                                  (before[0]["msg_id"],)) == "sent", msg="recorded")
    sent = json.loads(sql.scalar("SELECT payload FROM outbox WHERE msg_id = %s",
                                 (before[0]["msg_id"],)))
    assert sent["body"] == got[0]["body"]
