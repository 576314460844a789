"""A real Rucio server on 127.0.0.1 for the Rucio bridge's tests (see shared/rucio/README.md).

The server lives in a venv of its own (the ``rucio`` package pins SQLAlchemy and urllib3 below what
lifecycle uses, and provides the same ``rucio`` package as ``rucio-clients``), built once and kept
under ``.cache/rucio-server-VERSION/`` in the project (git-ignored), under a file lock so parallel
test workers build it once. Each server gets its own directory, database (SQLite by default; a
PostgreSQL database of its own when ``LIFECYCLE_TEST_POSTGRES`` is set, dropped afterwards) and a
free port; gunicorn serves it, no daemons run.

Locally a venv that cannot be built skips the tests that need it, with the reason; under CI
(env ``CI`` set) it fails them instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

VERSION = "41.5.1"
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LIFECYCLE_RUCIO_SERVER_CACHE", ROOT / ".cache"))
VENV = CACHE / f"rucio-server-{VERSION}"
USERNAME, PASSWORD = "ddmlab", "secret-" + uuid.uuid4().hex[:8]
BUILD_SECONDS = 900


@dataclass
class RucioServer:
    url: str
    username: str
    password: str
    directory: Path
    database: str

    def client(self, account: str = "root"):
        """A ``rucio-clients`` client of this server (tokens kept in the server's directory)."""
        from rucio.client import Client

        return Client(
            rucio_host=self.url,
            auth_host=self.url,
            account=account,
            auth_type="userpass",
            creds={"username": self.username, "password": self.password},
        )


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (under CI) a test that needs the server."""
    if os.environ.get("CI"):
        pytest.fail(f"the Rucio test server is needed under CI: {reason}")
    pytest.skip(f"no Rucio test server: {reason}")


def build_venv() -> Path:
    """The server's venv, built once (under a lock) and reused by later runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    python = VENV / "bin" / "python"
    with open(CACHE / f"rucio-server-{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (VENV / ".complete").exists():
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        base = shutil.which("python3.11") or sys.executable
        steps = [
            [base, "-m", "venv", str(VENV)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"rucio[postgresql]=={VERSION}", "gunicorn"],
        ]  # fmt: skip
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_SECONDS)
            if done.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
                raise RuntimeError(f"building the server venv failed: {tail[0]}")
        (VENV / ".complete").touch()
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_database(url: str) -> tuple[str, str]:
    """A PostgreSQL database of its own for the server (URL, name), created on ``url``'s server."""
    import sqlalchemy as sa

    name = f"rucio_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return str(sa.engine.make_url(url).set(database=name).render_as_string(False)), name


def _drop_postgres(url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def _configure(directory: Path, database: str, python: Path) -> dict[str, str]:
    """rucio.cfg and alembic.ini in ``directory``; the environment of the server's processes."""
    site = subprocess.run(
        [str(python), "-c", "import rucio, os; print(os.path.dirname(rucio.__file__))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (directory / "log").mkdir(parents=True, exist_ok=True)
    alembic = directory / "alembic.ini"
    alembic.write_text(
        textwrap.dedent(f"""\
        [alembic]
        script_location = {site}/db/sqla/migrate_repo
        sqlalchemy.url = {database}

        [loggers]
        keys = root

        [handlers]
        keys = console

        [formatters]
        keys = generic

        [logger_root]
        level = WARN
        handlers = console

        [handler_console]
        class = StreamHandler
        args = (sys.stderr,)
        level = NOTSET
        formatter = generic

        [formatter_generic]
        format = %(levelname)-5.5s [%(name)s] %(message)s
        """)
    )
    config = directory / "rucio.cfg"
    config.write_text(
        textwrap.dedent(f"""\
        [common]
        logdir = {directory}/log
        loglevel = WARNING

        [database]
        default = {database}

        [bootstrap]
        userpass_identity = {USERNAME}
        userpass_pwd = {PASSWORD}
        userpass_email = root@localhost

        [alembic]
        cfg = {alembic}

        [policy]
        permission = generic
        schema = generic
        lfn2pfn_algorithm_default = hash

        [cache]
        url = 127.0.0.1:1

        [client]
        auth_token_file_path = {directory}/token
        """)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUCIO_", "PYTHON"))}
    return {**env, "RUCIO_CONFIG": str(config), "TMPDIR": str(directory)}


def start_server(directory: Path):
    """Build (once), configure and start a server in ``directory``; yields a
    :class:`RucioServer`, stops it and drops its database after."""
    try:
        python = build_venv()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        unavailable(str(exc))
    postgres = os.environ.get("LIFECYCLE_TEST_POSTGRES")
    pg_name = None
    if postgres:
        database, pg_name = _postgres_database(postgres)
    else:
        database = f"sqlite:///{directory}/rucio.db"
    env = _configure(directory, database, python)
    process = None
    try:
        subprocess.run(
            [str(python), "-c", "from rucio.db.sqla.util import build_database, create_base_vo, "
             "create_root_account; build_database(); create_base_vo(); create_root_account()"],
            env=env, capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        port = _free_port()
        log = open(directory / "log" / "gunicorn.log", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [str(python), "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads",
             "4", "rucio.web.rest.flaskapi.v1.main:application"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=directory,
        )  # fmt: skip
        log.close()
        server = RucioServer(f"http://127.0.0.1:{port}", USERNAME, PASSWORD, directory, database)
        _wait_until_up(server, process)
        yield server
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if pg_name:
            _drop_postgres(postgres, pg_name)


def _wait_until_up(server: RucioServer, process: subprocess.Popen) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (server.directory / "log" / "gunicorn.log").read_text()[-2000:]
            raise RuntimeError(f"the Rucio server stopped at start:\n{log}")
        try:
            with urllib.request.urlopen(server.url + "/ping", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise RuntimeError("the Rucio server did not answer within 60 s")


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory):
    """One Rucio server for the test run (per xdist worker); see the module.
    ``LIFECYCLE_TEST_RUCIO_SERVER``: a JSON file {url, password} of a server already running
    (to iterate on the tests without starting one each time)."""
    given = os.environ.get("LIFECYCLE_TEST_RUCIO_SERVER")
    if given:
        import json

        found = json.loads(Path(given).read_text())
        yield RucioServer(found["url"], USERNAME, found["password"], Path(found["dir"]), "")
        return
    yield from start_server(tmp_path_factory.mktemp("rucio-server"))


if __name__ == "__main__":  # .ci/run: build the server's venv before the tests need it
    print(f"Rucio test server venv: {build_venv().parent.parent}")
