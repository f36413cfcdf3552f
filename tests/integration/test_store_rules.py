"""The store's transaction rules on a single server, through the C test
program tests/unit/test_store (built by `make check`): a transaction in
which a statement failed is never committed even when its work function
swallowed the error and answered success; a conflict reported on a later
statement runs the transaction again; 1047 is a 503 with Retry-After; the
retry budget is db_max_attempts. The same rules keep several instances
correct on a Galera cluster (test_galera.py)."""

import os
import subprocess
from pathlib import Path

import helpers


def test_store_never_commits_after_a_failed_statement(mariadb, dbname):
    daemon = Path(os.environ.get("CBD_BINARY") or helpers.DEFAULT_BINARY)
    prog = daemon.parent / "tests" / "unit" / "test_store"
    assert prog.exists(), f"{prog} missing: run make check first"
    env = dict(os.environ, CBD_STORE_TEST_SOCKET=mariadb.socket,
               CBD_STORE_TEST_DB=dbname)
    out = subprocess.run([str(prog)], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0 and "not ok" not in out.stdout, \
        out.stdout + out.stderr
    assert "\nok " in "\n" + out.stdout
