"""Fixtures for the integration tests: real MariaDB, the real daemon, real
webhook/SMS and SMTP receivers. The building blocks live in helpers.py.

Environment:
  CBD_MARIADB_SOCKET  use this server (root, no password) instead of
                      starting a private one for the session
  CBD_BINARY          the daemon (default: build/normal/callbackd)
  CBD_VALGRIND=1      run the daemon under valgrind
"""

import os

import pytest

import helpers
from helpers import MariaDB, Sql, SmtpReceiver, WebhookReceiver, new_daemon


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Remember each phase's outcome on the item, so fixture teardown can tell
    # whether the test failed and show the daemon's log only then.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _test_failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session")
def mariadb():
    """The session's MariaDB server (helpers.MariaDB: .socket, .connect())."""
    sock = os.environ.get("CBD_MARIADB_SOCKET")
    if sock:
        yield MariaDB(sock)
        return
    server = MariaDB.start_private()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dbname(mariadb):
    """A fresh, empty database for this test; dropped afterwards."""
    name = helpers.new_dbname()
    mariadb.create_database(name)
    yield name
    mariadb.drop_database(name)


@pytest.fixture
def sql(mariadb, dbname):
    """Direct SQL on the test's database: .query(), .scalar(), .execute()."""
    conn = Sql(mariadb, dbname)
    yield conn
    conn.close()


@pytest.fixture
def daemon_factory(request, mariadb, dbname, tmp_path):
    """Start real daemons against the test's database.

    daemon_factory(extra=None, *, env=None, start=True) -> helpers.Daemon

    extra adds or overrides config keys. Each call gets its own port, config
    and log (so several instances can share the database) and a fresh admin
    key. At teardown each daemon gets SIGTERM and must exit 0 (unless the test
    crashed it) with no sanitizer or valgrind report in its log.
    """
    daemons = []

    def factory(extra=None, *, env=None, start=True):
        n = len(daemons) + 1
        name = "daemon" if n == 1 else f"daemon{n}"
        admin = "test-admin" if n == 1 else f"test-admin-{n}"
        d = new_daemon(tmp_path, mariadb, dbname, extra=extra, env=env,
                       name=name, admin_name=admin, start=False)
        daemons.append(d)
        if start:
            d.start()
        return d

    yield factory

    errors = []
    for d in daemons:
        try:
            d.finish()
        except AssertionError as e:
            errors.append(f"{d.conf_path}: {e}")
    if _test_failed(request):
        # Shown under "Captured stdout teardown" of the failed test.
        for d in daemons:
            print(f"==== {d.log_path} (last lines) ====")
            print(helpers.tail(d.log_path, 80))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def daemon(daemon_factory):
    """One daemon with the default test configuration."""
    return daemon_factory()


@pytest.fixture
def make_agent():
    """helpers.make_agent, as a fixture: make_agent(daemon, name, **fields)
    -> (agent_json, key)."""
    return helpers.make_agent


@pytest.fixture
def webhook_receiver():
    """A local HTTP server recording requests (helpers.WebhookReceiver)."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_receiver():
    """A local SMTP server keeping every message (helpers.SmtpReceiver)."""
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()
