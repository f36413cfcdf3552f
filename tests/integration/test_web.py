"""The web console's pages and files (src/web.c): served from web_dir with
their content types, security headers, ETag revalidation and HEAD; no path
a client sends can reach a file outside the table loaded at start; a
browser that opens a manage link gets the page, a program the JSON."""

import os
import shutil

import pytest
import requests

import helpers
from util_api import assert_problem, book, booking

WEB_DIR = helpers.REPO_ROOT / "web"
# Served from the files as they are; /book and /manage are written per
# request (test_web_forms.py) and checked for the same headers below.
PAGES = ("/", "/signin", "/agent", "/lead")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def web(daemon_factory):
    return daemon_factory({"web_dir": str(WEB_DIR)})


def csp_directives(r):
    csp = r.headers["Content-Security-Policy"]
    return {p.split()[0]: p.split()[1:] for p in
            (d.strip() for d in csp.split(";")) if p}


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_html_with_security_headers(web, path):
    r = web.req("GET", path)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.text.lstrip().lower().startswith("<!doctype html>")
    csp = csp_directives(r)
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == (["'self'"] if path == "/book" else ["'none'"])
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["ETag"].startswith('"')
    assert r.headers["Cache-Control"] == "no-cache"
    if path != "/book":
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    else:
        assert "Cross-Origin-Resource-Policy" not in r.headers


@pytest.mark.parametrize("path,status", [("/book", 200), ("/manage", 404)])
def test_written_pages_have_the_same_security_headers(web, path, status):
    r = web.req("GET", path, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == status
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.text.lstrip().lower().startswith("<!doctype html>")
    csp = csp_directives(r)
    assert csp["default-src"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == (["'self'"] if path == "/book" else ["'none'"])
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    # They hold what a person typed, or a manage token: never cached.
    assert r.headers["Cache-Control"] == "no-store"
    if path != "/book":
        assert r.headers["X-Frame-Options"] == "DENY"
    else:
        assert "Cross-Origin-Resource-Policy" not in r.headers


def test_embed_script_may_be_loaded_by_other_sites(web):
    r = web.req("GET", "/embed.js")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.content == (WEB_DIR / "assets" / "embed.js").read_bytes()
    # A <script src> of another site is a cross-origin load.
    assert "Cross-Origin-Resource-Policy" not in r.headers


def test_book_page_may_be_framed_by_configured_origins_only(daemon_factory):
    d = daemon_factory({"web_dir": str(WEB_DIR),
                        "web_embed_origins": "https://shop.example https://www.shop.example:8443"})
    book_csp = csp_directives(d.req("GET", "/book"))
    assert book_csp["frame-ancestors"] == ["'self'", "https://shop.example",
                                           "https://www.shop.example:8443"]
    assert "X-Frame-Options" not in d.req("GET", "/book").headers
    assert csp_directives(d.req("GET", "/manage"))["frame-ancestors"] == ["'none'"]
    assert csp_directives(d.req("GET", "/lead"))["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path,ctype", [
    ("/assets/book.js", "text/javascript; charset=utf-8"),
    ("/assets/api.js", "text/javascript; charset=utf-8"),
    ("/assets/console.css", "text/css; charset=utf-8"),
])
def test_assets_have_their_content_types(web, path, ctype):
    r = web.req("GET", path)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ctype
    assert r.content == (WEB_DIR / path[1:]).read_bytes()


def test_etag_revalidates_with_304_and_no_body(web):
    first = web.req("GET", "/assets/book.js")
    etag = first.headers["ETag"]
    again = web.req("GET", "/assets/book.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    other = web.req("GET", "/assets/book.js", headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200 and other.content == first.content


def test_head_has_the_get_headers_and_no_body(web):
    get = web.req("GET", "/signin")
    head = web.req("HEAD", "/signin")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


def test_pages_are_read_only(web):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = web.req(method, "/signin", data=b"x", headers={"Content-Type": "text/plain"})
        assert_problem(r, 405, "/problems/method-not-allowed")
        assert r.headers["Allow"] == "GET, HEAD"


def test_api_paths_stay_the_apis(web):
    assert web.req("GET", "/healthz").status_code == 200
    assert_problem(web.req("GET", "/v1/nothing"), 404, "/problems/not-found")
    assert_problem(web.req("GET", "/nothing"), 404, "/problems/not-found")
    assert_problem(web.req("GET", "/assets/nothing.js"), 404, "/problems/not-found")


def raw_get(daemon, target):
    """A GET with the request target sent exactly as written (requests
    would normalise dot segments)."""
    import socket
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


HOSTILE = [
    "/assets/../secret.txt",
    "/assets/../../secret.txt",
    "/assets/%2e%2e/secret.txt",
    "/assets/%2e%2e%2fsecret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/assets/....//secret.txt",
    "/assets//secret.txt",
    "/assets/.hidden.js",
    "/assets/link.js",
    "/assets/linkdir/x.js",
    "/assets/secret.txt%00.js",
    "/assets/%5c..%5csecret.txt",
    "/assets/./book.js/../../secret.txt",
    "/assets/" + "a/" * 40 + "x.js",
    "/assets/book.js/",
    "/book/../secret.txt",
    "/../secret.txt",
    "//secret.txt",
    "/secret.txt",
    "/assets/notes.conf",
]


def test_hostile_paths_reach_nothing_outside_the_table(daemon_factory, tmp_path):
    # A web_dir with a secret beside it, a symbolic link to the secret and
    # to its directory inside it, a dot file, and a file of no known type.
    root = tmp_path / "site"
    shutil.copytree(WEB_DIR, root / "web")
    secret = b"TOP-SECRET-" + os.urandom(8).hex().encode()
    (root / "secret.txt").write_bytes(secret)
    (root / "web" / "secret.txt").write_bytes(secret)  # no route names it
    os.symlink(root / "secret.txt", root / "web" / "assets" / "link.js")
    os.symlink(root, root / "web" / "assets" / "linkdir")
    (root / "x.js").write_bytes(secret)
    (root / "web" / "assets" / ".hidden.js").write_bytes(secret)
    (root / "web" / "assets" / "notes.conf").write_bytes(secret)
    d = daemon_factory({"web_dir": str(root / "web")})
    for target in HOSTILE:
        status, body = raw_get(d, target)
        assert secret not in body, target
        # "//secret.txt" reads as an authority and an empty path: "/".
        index = (WEB_DIR / "index.html").read_bytes()
        assert status in (400, 404) or (status == 200 and body == index), \
            f"{target} -> {status}"
    # The real files are still there.
    assert raw_get(d, "/assets/book.js")[0] == 200


def test_missing_web_dir_leaves_the_api_running(daemon_factory, tmp_path):
    d = daemon_factory({"web_dir": str(tmp_path / "nowhere")})
    assert_problem(d.req("GET", "/book"), 404, "/problems/not-found")
    assert d.req("GET", "/healthz").status_code == 200


def test_manage_link_opens_the_page_in_a_browser_and_json_for_programs(web, make_agent):
    make_agent(web, "alice", display_name="Alice")
    b = book(web, booking()).json()
    link = b["links"]["manage"]
    page = requests.get(link, headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'src="/assets/manage.js"' in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    # Written with the callback, so it reads without a script too.
    assert "Alice will call you" in page.text
    as_json = requests.get(link, timeout=10)
    assert as_json.status_code == 200
    assert as_json.json()["id"] == b["id"]
    as_json = requests.get(link, headers={"Accept": "application/json"}, timeout=10)
    assert as_json.json()["owner"]["display_name"] == "Alice"


def test_customer_lists_texts_and_mails_of_own_callback_only(
        daemon_factory, make_agent, webhook_receiver):
    rx = webhook_receiver
    web = daemon_factory({"web_dir": str(WEB_DIR), "sms_mode": "webhook",
                          "sms_url": rx.url + "/sms", "webhook_url": rx.url + "/hook"})
    make_agent(web, "alice")
    b = book(web, booking(email="ada@example.org", notify=["email", "sms"])).json()
    other = book(web, booking()).json()
    path = f"/v1/callbacks/{b['id']}/messages"
    staff = web.admin("GET", path).json()["items"]
    assert {"sms", "webhook"} <= {m["channel"] for m in staff}, staff
    mine = web.req("GET", path, key=b["manage_token"])
    assert mine.status_code == 200, mine.text
    items = mine.json()["items"]
    assert {m["channel"] for m in items} <= {"email", "sms"}
    assert [m["id"] for m in items] == [m["id"] for m in staff if m["channel"] != "webhook"]
    assert all(m["last_error"] is None for m in items)
    assert_problem(web.req("GET", path, key=other["manage_token"]), 404, "/problems/not-found")
    assert_problem(web.req("GET", path), 401, "/problems/unauthorized")


def test_lead_lists_dead_messages_and_sends_one_again(
        daemon_factory, make_agent, webhook_receiver):
    """The lead page's Messages list and its Send again button: the dead
    letters of GET /v1/messages?status=dead, requeued by outbox_id."""
    rx = webhook_receiver
    rx.set_status(400)  # refused for good: the text is dead at once
    d = daemon_factory({"sms_mode": "webhook", "sms_url": rx.url + "/sms",
                        "outbox_poll_ms": 50})
    _, agent_key = make_agent(d, "alice")
    lead = helpers.make_key(d, "lead", "lena")
    b = book(d, booking(notify=["sms"])).json()

    def dead():
        items = d.req("GET", "/v1/messages?status=dead", key=lead).json()["items"]
        return [m for m in items if m["callback_id"] == b["id"] and m["status"] == "dead"]

    m = helpers.wait_until(dead, msg="a dead text")[0]
    assert m["channel"] == "sms" and m["last_error"], m
    assert_problem(d.req("GET", "/v1/messages?status=dead", key=agent_key),
                   403, "/problems/forbidden")
    assert_problem(d.req("GET", "/v1/messages?status=dead"), 401, "/problems/unauthorized")
    requeue = f"/v1/messages/{m['outbox_id']}/requeue"
    assert_problem(d.req("POST", requeue, key=agent_key), 403, "/problems/forbidden")
    assert_problem(d.req("POST", requeue), 401, "/problems/unauthorized")

    rx.set_status(None)
    r = d.req("POST", requeue, key=lead)
    assert r.status_code == 200, r.text
    assert r.json()["outbox_id"] == m["outbox_id"] and r.json()["id"] == m["id"]

    def sent():
        items = d.admin("GET", f"/v1/callbacks/{b['id']}/messages").json()["items"]
        return [x for x in items if x["id"] == m["id"] and x["status"] == "sent"]

    helpers.wait_until(sent, msg="the text sent again")
    assert m["outbox_id"] not in [
        x["outbox_id"] for x in d.req("GET", "/v1/messages?status=dead", key=lead).json()["items"]]
    assert_problem(d.req("POST", requeue, key=lead), 409, "/problems/not-requeueable")
    assert_problem(d.req("POST", "/v1/messages/999999/requeue", key=lead),
                   404, "/problems/not-found")