"""The web console's sign-in: one-time sign-in links issued by leads and
admins, browser sessions in an HttpOnly SameSite cookie that stand for the
person's key, CSRF and Origin checks on changes, absolute and idle expiry,
sign-out and revocation, and who may do what."""

import pytest

from helpers import make_agent, make_key
from util_api import assert_problem, booking, clock_advance, relaxed, unique_name


def cookie_of(r):
    """The cbd_session value a Set-Cookie header carries."""
    sc = r.headers.get("Set-Cookie", "")
    assert sc.startswith("cbd_session="), sc
    return sc.split(";")[0].split("=", 1)[1]


def sign_in(daemon, link_url):
    token = link_url.split("#", 1)[1]
    r = daemon.req("POST", "/v1/sessions", json={"token": token})
    assert r.status_code == 201, r.text
    return cookie_of(r), r.json()


def link_for(daemon, agent_id, key=None):
    r = daemon.req("POST", f"/v1/agents/{agent_id}/sign-in-links",
                   key=key or daemon.admin_key)
    assert r.status_code == 201, r.text
    return r.json()


def with_cookie(cookie, csrf=None, origin=None):
    h = {"Cookie": f"cbd_session={cookie}"}
    if csrf is not None:
        h["X-CSRF-Token"] = csrf
    if origin is not None:
        h["Origin"] = origin
    return h


@pytest.fixture
def console(daemon_factory):
    d = daemon_factory(relaxed())
    agent, agent_key = make_agent(d, unique_name("ann"), team="blue")
    return d, agent, agent_key


def test_sign_in_link_opens_a_session_that_works_like_the_key(console):
    d, agent, agent_key = console
    link = link_for(d, agent["id"])
    assert link["url"].startswith(d.url + "/signin#cbl_"), link
    assert "expires_at" in link
    r = d.req("POST", "/v1/sessions", json={"token": link["url"].split("#")[1]})
    assert r.status_code == 201, r.text
    sc = r.headers["Set-Cookie"]
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attr in sc, sc
    assert "Secure" not in sc  # public_url is http here
    body = r.json()
    assert body["role"] == "agent" and body["agent_id"] == agent["id"], body
    assert body["name"] == agent["display_name"]
    assert body["csrf_token"] and body["expires_at"]
    cookie = cookie_of(r)
    # The queue answers the cookie as it answers the agent's key.
    q = d.req("GET", "/v1/me/queue", headers=with_cookie(cookie))
    assert q.status_code == 200, q.text
    assert q.json() == d.req("GET", "/v1/me/queue", key=agent_key).json()
    # A reloaded page gets the same body back, its CSRF token included.
    cur = d.req("GET", "/v1/sessions/current", headers=with_cookie(cookie))
    assert cur.status_code == 200, cur.text
    assert cur.json()["csrf_token"] == body["csrf_token"]
    # Only the hash is stored.
    assert cookie not in str(d.admin("GET", "/v1/sessions").json())


def test_sign_in_link_works_once(console):
    d, agent, _ = console
    token = link_for(d, agent["id"])["url"].split("#")[1]
    assert d.req("POST", "/v1/sessions", json={"token": token}).status_code == 201
    r = d.req("POST", "/v1/sessions", json={"token": token})
    assert_problem(r, 401, "/problems/sign-in-failed", "token")
    assert "Set-Cookie" not in r.headers


def test_sign_in_link_expires(console, sql):
    d, agent, _ = console
    token = link_for(d, agent["id"])["url"].split("#")[1]
    clock_advance(d, 901)
    assert_problem(d.req("POST", "/v1/sessions", json={"token": token}), 401,
                   "/problems/sign-in-failed", "token")
    assert sql.scalar("SELECT COUNT(*) FROM sessions") == 0
    # The link row is the audit: who issued it, for whom.
    assert sql.scalar("SELECT COUNT(*) FROM signin_links WHERE role = 'agent' AND "
                      "agent_id = %s AND issued_by LIKE 'admin:%%' AND used_at IS NULL",
                      (agent["id"],)) == 1


def test_sign_in_with_an_api_key(console):
    d, agent, agent_key = console
    r = d.req("POST", "/v1/sessions", json={"api_key": agent_key})
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "agent"
    cookie = cookie_of(r)
    assert d.req("GET", "/v1/me/queue", headers=with_cookie(cookie)).status_code == 200
    lead_key = make_key(d, "lead", "lena")
    r = d.req("POST", "/v1/sessions", json={"api_key": lead_key})
    assert r.status_code == 201 and r.json()["role"] == "lead", r.text
    assert r.json()["agent_id"] is None
    lc = cookie_of(r)
    assert d.req("GET", "/v1/agents", headers=with_cookie(lc)).status_code == 200
    # A lead's session is no agent: the agent's queue stays closed to it.
    assert_problem(d.req("GET", "/v1/me/queue", headers=with_cookie(lc)), 403,
                   "/problems/forbidden")
    for bad in ({"api_key": "cbk_" + "A" * 43}, {"token": "cbl_nope"}):
        field = next(iter(bad))
        assert_problem(d.req("POST", "/v1/sessions", json=bad), 401,
                       "/problems/sign-in-failed", field)
    assert_problem(d.req("POST", "/v1/sessions", json={}), 400,
                   "/problems/missing-field", "token")
    assert_problem(d.req("POST", "/v1/sessions", json={"token": "a", "api_key": "b"}),
                   400, "/problems/missing-field", "token")
    assert_problem(d.req("POST", "/v1/sessions", json={"token": "x", "role": "admin"}),
                   400, "/problems/unknown-field", "role")


def test_changes_need_the_csrf_token_and_our_origin(console):
    d, agent, _ = console
    cookie, body = sign_in(d, link_for(d, agent["id"])["url"])
    csrf = body["csrf_token"]
    r = d.req("POST", "/v1/sessions", json={"api_key": d.admin_key})
    admin_cookie, admin_csrf = cookie_of(r), r.json()["csrf_token"]
    new_agent = {"name": unique_name("x"), "display_name": "X", "timezone": "UTC"}
    # No CSRF header: refused, nothing written.
    r = d.req("POST", "/v1/agents", json=new_agent, headers=with_cookie(admin_cookie))
    assert_problem(r, 403, "/problems/csrf-failed", "X-CSRF-Token")
    r = d.req("POST", "/v1/agents", json=new_agent,
              headers=with_cookie(admin_cookie, csrf=csrf))  # another session's
    assert_problem(r, 403, "/problems/csrf-failed", "X-CSRF-Token")
    # A foreign Origin: refused even with the right token.
    r = d.req("POST", "/v1/agents", json=new_agent,
              headers=with_cookie(admin_cookie, csrf=admin_csrf, origin="https://evil.example"))
    assert_problem(r, 403, "/problems/origin-refused", "Origin")
    names = [a["name"] for a in d.admin("GET", "/v1/agents").json()["items"]]
    assert new_agent["name"] not in names
    # Our own origin and the token: done.
    r = d.req("POST", "/v1/agents", json=new_agent,
              headers=with_cookie(admin_cookie, csrf=admin_csrf, origin=d.url))
    assert r.status_code == 201, r.text
    # The agent's claim without the token is refused too; reads need none.
    assert_problem(d.req("POST", "/v1/me/queue/next", headers=with_cookie(cookie)),
                   403, "/problems/csrf-failed")
    assert d.req("GET", "/v1/me/queue", headers=with_cookie(cookie)).status_code == 200
    # Sign-in itself refuses a foreign page.
    r = d.req("POST", "/v1/sessions", json={"api_key": d.admin_key},
              headers={"Origin": "https://evil.example"})
    assert_problem(r, 403, "/problems/origin-refused", "Origin")


def test_configured_origin_is_accepted(daemon_factory):
    d = daemon_factory(relaxed(cors_origins="https://shop.example, https://www.example.com"))
    r = d.req("POST", "/v1/sessions", json={"api_key": d.admin_key},
              headers={"Origin": "https://www.example.com"})
    assert r.status_code == 201, r.text
    # ... but never with CORS headers: the cookie routes are not for other sites.
    assert "Access-Control-Allow-Origin" not in r.headers


def test_expired_and_idle_sessions_are_401(daemon_factory):
    d = daemon_factory(relaxed(session_ttl_sec=7200, session_idle_sec=600))
    agent, _ = make_agent(d, unique_name("ida"))
    cookie, _ = sign_in(d, link_for(d, agent["id"])["url"])
    h = with_cookie(cookie)
    # Used every 500 s, the session lives on past the idle limit ...
    for _ in range(3):
        clock_advance(d, 500)
        assert d.req("GET", "/v1/me/queue", headers=h).status_code == 200
    # ... idle for longer than session_idle_sec, it is over.
    clock_advance(d, 601)
    p = assert_problem(d.req("GET", "/v1/me/queue", headers=h), 401, "/problems/unauthorized")
    assert "idle" in p["detail"]
    # The absolute limit holds however busy the session is.
    cookie, _ = sign_in(d, link_for(d, agent["id"])["url"])
    h = with_cookie(cookie)
    for _ in range(14):
        clock_advance(d, 500)
        assert d.req("GET", "/v1/me/queue", headers=h).status_code == 200
    clock_advance(d, 500)
    p = assert_problem(d.req("GET", "/v1/me/queue", headers=h), 401, "/problems/unauthorized")
    assert "expired" in p["detail"]


def test_sign_out_and_revocation(console):
    d, agent, _ = console
    cookie, body = sign_in(d, link_for(d, agent["id"])["url"])
    h = with_cookie(cookie, csrf=body["csrf_token"])
    r = d.req("DELETE", "/v1/sessions/current", headers=h)
    assert r.status_code == 204, r.text
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert_problem(d.req("GET", "/v1/me/queue", headers=h), 401, "/problems/unauthorized")
    # A lead lists the agent's sessions and ends one; it stops at once.
    cookie, body = sign_in(d, link_for(d, agent["id"])["url"])
    lead_key = make_key(d, "lead", "lee")
    r = d.req("GET", "/v1/sessions", key=lead_key, params={"agent_id": agent["id"]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [s["id"] for s in items] == [body["session_id"]], items
    assert items[0]["role"] == "agent" and items[0]["via"] == "link"
    assert d.req("DELETE", f"/v1/sessions/{body['session_id']}", key=lead_key).status_code == 204
    assert_problem(d.req("GET", "/v1/me/queue", headers=with_cookie(cookie)), 401,
                   "/problems/unauthorized")
    assert_problem(d.req("DELETE", f"/v1/sessions/{body['session_id']}", key=lead_key),
                   404, "/problems/not-found")
    assert d.req("GET", "/v1/sessions", key=lead_key,
                 params={"agent_id": agent["id"]}).json()["items"] == []
    assert_problem(d.req("GET", "/v1/sessions", key=lead_key, params={"agent_id": "x"}),
                   400, "/problems/invalid-query", "agent_id")


def test_revoked_key_ends_its_sessions_and_deactivated_agent_too(console):
    d, agent, _ = console
    r = d.admin("POST", "/v1/keys", json={"role": "lead", "name": "tmp"})
    kid, key = r.json()["id"], r.json()["key"]
    cookie = cookie_of(d.req("POST", "/v1/sessions", json={"api_key": key}))
    assert d.req("GET", "/v1/agents", headers=with_cookie(cookie)).status_code == 200
    assert d.admin("DELETE", f"/v1/keys/{kid}").status_code == 204
    assert_problem(d.req("GET", "/v1/agents", headers=with_cookie(cookie)), 401,
                   "/problems/unauthorized")
    cookie, _ = sign_in(d, link_for(d, agent["id"])["url"])
    r = d.admin("PATCH", f"/v1/agents/{agent['id']}", json={"active": False})
    assert r.status_code == 200, r.text
    assert_problem(d.req("GET", "/v1/me/queue", headers=with_cookie(cookie)), 403,
                   "/problems/agent-inactive")


def test_who_may_issue_sign_in_links(console):
    d, agent, agent_key = console
    other, _ = make_agent(d, unique_name("oz"), team="green")
    # A lead whose key belongs to a blue agent: blue agents only.
    blue_lead, _ = make_agent(d, unique_name("bl"), team="blue")
    lead_key = make_key(d, "lead", "blue-lead", agent_id=blue_lead["id"])
    assert d.req("POST", f"/v1/agents/{agent['id']}/sign-in-links", key=lead_key).status_code == 201
    assert_problem(d.req("POST", f"/v1/agents/{other['id']}/sign-in-links", key=lead_key),
                   403, "/problems/other-team")
    # ... and sees only blue sessions.
    sign_in(d, link_for(d, other["id"])["url"])
    assert all(s["agent_id"] != other["id"] for s in
               d.req("GET", "/v1/sessions", key=lead_key).json()["items"])
    assert any(s["agent_id"] == other["id"] for s in d.admin("GET", "/v1/sessions").json()["items"])
    # A lead key that names team blue (and belongs to no agent) is held to
    # blue as well: the team rule key management follows.
    named_lead = make_key(d, "lead", "named-lead", team="blue")
    assert d.req("POST", f"/v1/agents/{agent['id']}/sign-in-links",
                 key=named_lead).status_code == 201
    assert_problem(d.req("POST", f"/v1/agents/{other['id']}/sign-in-links",
                         key=named_lead), 403, "/problems/other-team")
    assert all(s["agent_id"] != other["id"] for s in
               d.req("GET", "/v1/sessions", key=named_lead).json()["items"])
    # Agents issue none, with a key or a session; nobody without credentials.
    assert_problem(d.req("POST", f"/v1/agents/{agent['id']}/sign-in-links", key=agent_key),
                   403, "/problems/forbidden")
    cookie, body = sign_in(d, link_for(d, agent["id"])["url"])
    assert_problem(d.req("POST", f"/v1/agents/{agent['id']}/sign-in-links",
                         headers=with_cookie(cookie, csrf=body["csrf_token"])),
                   403, "/problems/forbidden")
    assert_problem(d.req("GET", "/v1/sessions", headers=with_cookie(cookie)), 403,
                   "/problems/forbidden")
    assert_problem(d.req("POST", f"/v1/agents/{agent['id']}/sign-in-links"), 401,
                   "/problems/unauthorized")
    assert_problem(d.req("POST", "/v1/agents/999999/sign-in-links"), 401,
                   "/problems/unauthorized")
    assert_problem(d.admin("POST", "/v1/agents/999999/sign-in-links"), 404,
                   "/problems/not-found")


def test_lead_signs_in_as_themselves_with_a_link(console):
    d, _, _ = console
    lead_key = make_key(d, "lead", "lou")
    r = d.req("POST", "/v1/me/sign-in-links", key=lead_key)
    assert r.status_code == 201, r.text
    cookie, body = sign_in(d, r.json()["url"])
    assert body["role"] == "lead" and body["name"] == "lou", body
    assert d.req("GET", "/v1/agents", headers=with_cookie(cookie)).status_code == 200
    # The session cannot mint its own successor (a stolen cookie would
    # then outlive its absolute expiry): only the key may ask.
    r = d.req("POST", "/v1/me/sign-in-links",
              headers=with_cookie(cookie, csrf=body["csrf_token"], origin=d.url))
    assert_problem(r, 409, "/problems/no-key")


def test_sessions_current_without_a_session(console):
    d, _, agent_key = console
    assert_problem(d.req("GET", "/v1/sessions/current", key=agent_key), 404,
                   "/problems/no-session")
    assert_problem(d.req("GET", "/v1/sessions/current"), 401, "/problems/unauthorized")
    assert_problem(d.req("GET", "/v1/sessions/current",
                         headers={"Cookie": "cbd_session=cbs_" + "x" * 43}),
                   401, "/problems/unauthorized")


def test_booking_pages_are_unaffected_by_a_stale_cookie(console):
    d, _, _ = console
    # Customers' routes never look at the console's cookie.
    r = d.req("POST", "/v1/callbacks", json=booking(),
              headers={"Cookie": "cbd_session=cbs_" + "x" * 43})
    assert r.status_code == 201, r.text
