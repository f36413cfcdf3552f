"""Housekeeping: one instance at a time deletes what is no longer kept
(old change-feed rows, expired idempotency records, sessions and sign-in
links long expired), and keeps everything still within its time."""

import time

from helpers import make_agent, wait_until
from util_api import clock_advance, relaxed, unique_name

DAY = 86400


def test_old_rows_go_and_kept_rows_stay(daemon_factory, sql):
    cfg = relaxed(housekeeping_interval_sec=1, events_keep_sec=600, idempotency_ttl_sec=3600,
                  sessions_keep_days=7)
    d1 = daemon_factory(cfg)
    d2 = daemon_factory(cfg)
    agent, _ = make_agent(d1, unique_name("hal"))
    now = clock_advance(d1, 0)
    real_ms = int(time.time() * 1000)
    # Two of each: one just past what is kept, one just within it.
    for age_ms in (660_000, 480_000):
        sql.execute("INSERT INTO changes (callback_id, case_id, owner_id, state, kind, at,"
                    " written_ms) VALUES (NULL, 0, %s, '', 'note', %s, %s)",
                    (agent["id"], now, real_ms - age_ms))
    for i, age in enumerate((3601, 3500)):
        sql.execute("INSERT INTO idempotency (scope, idem_key, body_hash, status, response,"
                    " created_at) VALUES ('hk', %s, '', 201, '{}', %s)", (f"k{i}", now - age))
    for i, ended in enumerate((7 * DAY + 60, 7 * DAY - 60)):
        sql.execute("INSERT INTO sessions (token_hash, role, agent_id, name, via, created_at,"
                    " last_seen_at, expires_at) VALUES (%s, 'agent', %s, 'hal', 'link', %s, %s,"
                    " %s)", (f"{'%064d' % i}", agent["id"], now - ended - 3600,
                             now - ended - 3600, now - ended))
        sql.execute("INSERT INTO signin_links (token_hash, role, agent_id, issued_by,"
                    " created_at, expires_at) VALUES (%s, 'agent', %s, 'test', %s, %s)",
                    (f"{'%064d' % (i + 10)}", agent["id"], now - ended - 900, now - ended))

    def left():
        return (sql.scalar("SELECT COUNT(*) FROM changes WHERE kind = 'note' AND case_id = 0"),
                sql.scalar("SELECT COUNT(*) FROM idempotency WHERE scope = 'hk'"),
                sql.scalar("SELECT COUNT(*) FROM sessions WHERE name = 'hal'"),
                sql.scalar("SELECT COUNT(*) FROM signin_links WHERE issued_by = 'test'"))

    wait_until(lambda: left() == (1, 1, 1, 1), timeout=15, msg="old rows not deleted")
    assert sql.scalar("SELECT written_ms FROM changes WHERE kind = 'note' AND case_id = 0") \
        == real_ms - 480_000
    assert sql.scalar("SELECT created_at FROM idempotency WHERE scope = 'hk'") == now - 3500
    # One instance holds the lease; the other's passes skip.
    holders = sql.query("SELECT holder FROM leases WHERE name = 'housekeeping'")
    assert len(holders) == 1 and holders[0]["holder"], holders
    time.sleep(2.5)
    assert left() == (1, 1, 1, 1)
    assert sql.query("SELECT holder FROM leases WHERE name = 'housekeeping'") == holders
    assert d2.req("GET", "/readyz").status_code == 200
