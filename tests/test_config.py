"""Settings as a newcomer and an operator meet them: subprocesses with a real environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_ENV", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "QUERYLAB_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unreachable_database_url_gets_a_clear_message(tmp_path: Path) -> None:
    result = manage(
        "seed_blog",
        env={"DATABASE_URL": "postgres://nobody:x@127.0.0.1:1/querylab"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 1
    assert "Could not reach the database (127.0.0.1)" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_requires_a_secret_key_from_the_environment(tmp_path: Path) -> None:
    result = manage("check", env={"DJANGO_ENV": "production", "ALLOWED_HOSTS": "x"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DJANGO_ENV=production" in result.stderr


def test_production_requires_allowed_hosts(tmp_path: Path) -> None:
    result = manage("check", env={"DJANGO_ENV": "production", "SECRET_KEY": "k" * 60}, tmp_path=tmp_path)
    assert "ALLOWED_HOSTS must be set" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "a-production-key-" + "x9Q" * 20,
        "ALLOWED_HOSTS": "querylab.example",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_generates_its_key_into_an_ignored_file(tmp_path: Path) -> None:
    result = manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0


def test_production_refuses_to_start_without_bubblewrap(tmp_path: Path) -> None:
    env = {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "a-production-key-" + "x9Q" * 20,
        "ALLOWED_HOSTS": "querylab.example",
        "PATH": str(tmp_path),  # no bwrap anywhere on it
    }
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DJANGO_ENV=production needs bubblewrap" in result.stderr
