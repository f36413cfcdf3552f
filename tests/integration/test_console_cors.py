"""CORS for the sites a company embeds booking in (cors_origins): preflight
and Access-Control-Allow-Origin on the public customer endpoints only,
never with credentials and never on the console's cookie routes; and the
client address behind a trusted proxy, as the console's sessions see it."""

from helpers import make_agent
from util_api import booking, relaxed, unique_name

SHOP = "https://shop.example"
EVIL = "https://evil.example"


def test_preflight_and_headers_on_public_routes_for_listed_origins(daemon_factory):
    d = daemon_factory(relaxed(cors_origins=f"{SHOP} https://www.example.com"))
    make_agent(d, unique_name("cora"))
    r = d.req("OPTIONS", "/v1/callbacks",
              headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                       "Access-Control-Request-Headers": "content-type,idempotency-key"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "idempotency-key" in allowed
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert "Origin" in r.headers.get("Vary", "")

    b = d.req("POST", "/v1/callbacks", json=booking(), headers={"Origin": SHOP})
    assert b.status_code == 201, b.text
    assert b.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in b.headers
    assert "Location" in b.headers["Access-Control-Expose-Headers"]
    cid, token = b.json()["id"], b.json()["manage_token"]
    for method, path, kw in (("GET", "/v1/slots", {}),
                             ("GET", f"/v1/callbacks/{cid}", {"params": {"token": token}})):
        r = d.req(method, path, headers={"Origin": "https://www.example.com"}, **kw)
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    r = d.req("OPTIONS", f"/v1/callbacks/{cid}", headers={"Origin": SHOP})
    assert r.status_code == 204
    assert set(m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")) >= \
        {"GET", "PATCH", "DELETE"}


def test_no_cors_for_other_origins_or_staff_and_console_routes(daemon_factory):
    d = daemon_factory(relaxed(cors_origins=SHOP))
    make_agent(d, unique_name("cory"))
    r = d.req("OPTIONS", "/v1/callbacks", headers={"Origin": EVIL})
    assert r.status_code == 405
    assert "Access-Control-Allow-Origin" not in r.headers
    b = d.req("POST", "/v1/callbacks", json=booking(), headers={"Origin": EVIL})
    assert b.status_code == 201 and "Access-Control-Allow-Origin" not in b.headers
    # Staff routes and the console's sign-in and streams: never.
    for method, path in (("GET", "/v1/agents"), ("POST", "/v1/sessions"),
                         ("GET", "/v1/me/events"), ("GET", "/v1/sessions/current")):
        r = d.req("OPTIONS", path, headers={"Origin": SHOP})
        assert r.status_code == 405, (path, r.status_code)
        assert "Access-Control-Allow-Origin" not in r.headers
    r = d.admin("GET", "/v1/agents", headers={"Origin": SHOP})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    # Without cors_origins nobody gets CORS headers.
    d2 = daemon_factory(relaxed())
    r = d2.req("OPTIONS", "/v1/callbacks", headers={"Origin": SHOP})
    assert r.status_code == 405 and "Access-Control-Allow-Origin" not in r.headers


def test_stale_console_cookie_does_not_break_public_slots(daemon_factory):
    d = daemon_factory(relaxed())
    r = d.req("GET", "/v1/slots", headers={"Cookie": "cbd_session=cbs_" + "x" * 43})
    assert r.status_code == 200, r.text


def test_session_records_the_client_behind_a_trusted_proxy(daemon_factory, sql):
    d = daemon_factory(relaxed(trusted_proxies="127.0.0.1"))
    r = d.req("POST", "/v1/sessions", json={"api_key": d.admin_key},
              headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 201, r.text
    assert sql.scalar("SELECT client_ip FROM sessions") == "203.0.113.9"
    # An untrusted peer's header is not believed.
    d2 = daemon_factory(relaxed())
    r = d2.req("POST", "/v1/sessions", json={"api_key": d2.admin_key},
               headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 201, r.text
    assert sql.scalar("SELECT client_ip FROM sessions ORDER BY id DESC LIMIT 1") == "127.0.0.1"
