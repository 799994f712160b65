"""Production mode for real: gunicorn serving the app with DEBUG off, as `make serve` runs it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("prod")
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "QUERYLAB_VAR_DIR": str(var),
        "DJANGO_ENV": "production",
        "SECRET_KEY": "production-test-key-" + "k7Z" * 20,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback; a TLS proxy sits in front in production
    }
    for command in (
        ["migrate", "-v", "0"],
        ["collectstatic", "--noinput", "-v", "0"],
        ["seed_blog", "--size", "tiny"],
    ):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    server = subprocess.Popen(
        [str(GUNICORN), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
    yield url
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    if server.stderr:
        server.stderr.close()


@pytest.mark.slow
def test_production_serves_pages_with_csp_and_no_debug(production: str) -> None:
    response = urllib.request.urlopen(production + "/lessons/n-plus-one/")
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.read().decode()
    assert "djdt" not in html  # no debug toolbar
    static = next(part.split('"')[0] for part in html.split('href="/static/')[1:] if "querylab" in part)
    assert static.startswith("css/querylab.") and static != "css/querylab.css"  # hashed name
    assert urllib.request.urlopen(f"{production}/static/{static}").status == 200
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(production + "/no-such-page/")
    assert missing.value.code == 404
    assert "Traceback" not in missing.value.read().decode()


@pytest.mark.slow
def test_production_runs_code_in_the_sandbox_with_csrf(production: str) -> None:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(production + "/playground/")
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    # As behind the TLS proxy: the CSRF cookie is Secure, so it is sent by hand here.
    request = urllib.request.Request(
        production + "/api/run",
        data=json.dumps({"code": "print(Article.objects.count())"}).encode(),
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": token,
            "Cookie": f"csrftoken={token}",
            "X-Forwarded-Proto": "https",
            "Referer": production.replace("http://", "https://") + "/playground/",
        },
    )
    body = json.loads(urllib.request.urlopen(request).read())
    assert body["error"] is None
    assert body["stdout"] == "20\n"
    assert body["dataset"]["size"] == "tiny"
    health = json.loads(urllib.request.urlopen(production + "/healthz").read())
    assert health == {"status": "ok", "database": "sqlite", "isolation": "bubblewrap"}
