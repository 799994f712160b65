"""A PostgreSQL restart under a running node: requests fail clearly, then recover on their own."""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodes import free_port, manage, node, node_env

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class Server:
    """A PostgreSQL server of this test's own, so it can be stopped and started at will."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.data = root / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def ctl(self, *args: str, check: bool = True) -> None:
        command = [*self.as_postgres, f"{PG_BIN[-1]}/pg_ctl", "-D", str(self.data), "-w", *args]
        subprocess.run(command, check=check, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self.ctl("-l", str(self.root / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@pytest.fixture
def postgres() -> Iterator[Server]:
    if not PG_BIN:
        message = "PostgreSQL server binaries are not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's tmp_path: the postgres user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="querylab-faults-"))
    server = Server(root)
    if server.as_postgres:
        shutil.chown(root, "postgres")
    initdb = [
        *server.as_postgres,
        f"{PG_BIN[-1]}/initdb",
        "-D",
        str(server.data),
        "-U",
        "postgres",
        "--auth=trust",
    ]
    subprocess.run(initdb, check=True, capture_output=True, timeout=120)
    server.start()
    subprocess.run(
        [
            *server.as_postgres,
            f"{PG_BIN[-1]}/createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            "postgres",
            "faults",
        ],
        check=True,
        capture_output=True,
    )
    yield server
    server.ctl("-m", "immediate", "stop", check=False)  # it may be stopped already
    shutil.rmtree(root, ignore_errors=True)


def fetch(url: str) -> tuple[int, str, str | None]:
    try:
        response = urllib.request.urlopen(url, timeout=30)
        return response.status, response.read().decode(), None
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Retry-After")


@pytest.mark.slow
def test_a_postgresql_restart_fails_requests_clearly_and_the_node_recovers_by_itself(
    postgres: Server, tmp_path: Path
) -> None:
    env = node_env(
        str(tmp_path / "var"), DATABASE_URL=f"postgres://postgres@127.0.0.1:{postgres.port}/faults"
    )
    manage("migrate", "-v", "0", env=env)
    manage("seed_blog", "--size", "tiny", env=env)
    with node(env) as url:
        assert fetch(url + "/api/dataset")[0] == 200
        statuses: list[int] = []
        stop = threading.Event()

        def learners_keep_going() -> None:  # the load the restart happens under
            while not stop.is_set():
                for path in ("/api/dataset", "/lessons/n-plus-one/", "/blog/"):
                    statuses.append(fetch(url + path)[0])

        load = [threading.Thread(target=learners_keep_going) for _ in range(4)]
        for thread in load:
            thread.start()
        time.sleep(1)
        postgres.stop()
        status, body, retry_after = fetch(url + "/api/dataset")
        assert status == 503
        assert "The database is unavailable right now" in json.loads(body)["error"]
        assert retry_after == "5"
        health_status, health, _ = fetch(url + "/healthz")
        assert health_status == 503
        assert json.loads(health)["status"] == "error"
        page_status, page, _ = fetch(url + "/lessons/n-plus-one/")
        assert page_status == 503 and "Traceback" not in page

        postgres.start()
        deadline = time.monotonic() + 30
        while fetch(url + "/api/dataset")[0] != 200:
            assert time.monotonic() < deadline, "the node did not recover"
            time.sleep(0.2)
        assert json.loads(fetch(url + "/api/dataset")[1])["size"] == "tiny"
        time.sleep(1)
        stop.set()
        for thread in load:
            thread.join(timeout=60)
        assert set(statuses) <= {200, 503}  # clear answers only: no 500, no hang
        assert 503 in statuses and statuses[-1] == 200
