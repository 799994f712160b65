"""Production mode for real: gunicorn serving the app with DEBUG off, as `make serve` runs it."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.nodes import manage, node


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "QUERYLAB_VAR_DIR": str(tmp_path_factory.mktemp("prod")),
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
        manage(*command, env=env)
    with node(env) as url:
        yield url


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
    worker = health.pop("sandbox")["worker"]
    assert health == {"status": "ok", "database": "sqlite", "isolation": "bubblewrap"}
    assert isinstance(worker, int) and Path(f"/proc/{worker}").exists()
