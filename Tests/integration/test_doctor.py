"""`flux doctor` catches the two outages in the product's history: a deploy without its configuration,
and a database the app cannot reach. It never prints a secret."""
import re

from helpers import METRICS_TOKEN, STRONG_SECRET, clean_env, free_port, run_flux
from openai_server import FakeOpenAI


def test_doctor_passes_on_a_migrated_sqlite_install(workdir):
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    env = clean_env(SESSION_SECRET=STRONG_SECRET, METRICS_TOKEN="mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU")
    result = run_flux(["doctor"], env, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert "ok    SESSION_SECRET: set" in result.stdout
    assert "ok    METRICS_TOKEN: set" in result.stdout
    assert STRONG_SECRET not in result.stdout + result.stderr
    assert "mT9vQ2xK7wR4" not in result.stdout + result.stderr


def test_doctor_fails_on_a_missing_production_secret(workdir):
    result = run_flux(["doctor"], clean_env(FLUX_ENV="production"), workdir)
    assert result.returncode != 0
    assert "FAIL  SESSION_SECRET: is not set" in result.stdout


def test_doctor_fails_on_an_unreachable_database_without_printing_its_password(workdir):
    url = f"postgres://flux:hunter2pass@127.0.0.1:{free_port()}/flux"
    result = run_flux(["doctor"], clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=url), workdir)
    assert result.returncode != 0
    assert "FAIL  database: unreachable" in result.stdout
    assert "ok    DATABASE_URL: set (PostgreSQL)" in result.stdout
    assert "hunter2pass" not in result.stdout + result.stderr


def test_doctor_reports_pending_migrations(workdir):
    result = run_flux(["doctor"], clean_env(), workdir)
    assert result.returncode != 0
    assert re.search(r"FAIL  migrations: [1-9][0-9]* pending \(run: flux migrate\)", result.stdout), result.stdout


def test_doctor_reports_a_world_readable_secret_file(workdir):
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    (workdir / "data" / "secret").chmod(0o644)
    result = run_flux(["doctor"], clean_env(), workdir)
    assert result.returncode != 0
    assert "readable by other users" in result.stdout


def test_doctor_fails_an_https_site_whose_proxy_headers_would_be_ignored(workdir):
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    ignored = run_flux(["doctor"], clean_env(PUBLIC_URL="https://www.example.com"), workdir)
    assert ignored.returncode != 0
    assert "FAIL  proxy: PUBLIC_URL is https but TRUSTED_PROXIES is empty" in ignored.stdout
    believed = run_flux(["doctor"], clean_env(PUBLIC_URL="https://www.example.com", TRUSTED_PROXIES="127.0.0.1"), workdir)
    assert believed.returncode == 0, believed.stdout
    assert "ok    proxy: X-Forwarded-For and -Proto believed from 1 network(s) only" in believed.stdout


def test_doctor_checks_the_model_service_and_warns_when_it_would_fail(workdir):
    """A model outage degrades FluxAI to its graceful answer, so it warns rather than stopping a deploy."""
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    key = "sk-doctor-" + "x" * 24
    for mode, models, expected in [("tools", ("gpt-4o-mini",), "ok    model: gpt-4o-mini offered by"),
                                   ("tools", ("gpt-4.1",), "warn  model: gpt-4o-mini is not among the 1 models"),
                                   ("unauthorized", (), "warn  model: the service refused the key (401)"),
                                   ("error", (), "warn  model: the service answered 500")]:
        service = FakeOpenAI(mode=mode, models=models)
        try:
            result = run_flux(["doctor"], clean_env(OPENAI_API_KEY=key, OPENAI_BASE_URL=service.url), workdir)
        finally:
            service.stop()
        assert result.returncode == 0, result.stdout
        assert expected in result.stdout, result.stdout
        assert key not in result.stdout + result.stderr
        assert service.requests[0]["headers"]["Authorization"] == "Bearer " + key
    unreachable = run_flux(["doctor"], clean_env(OPENAI_API_KEY=key, OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1"), workdir)
    assert "warn  model: unreachable" in unreachable.stdout, unreachable.stdout
    offline = run_flux(["doctor"], clean_env(), workdir)
    assert "ok    model: no OPENAI_API_KEY: FluxAI runs the offline assistant" in offline.stdout


def test_doctor_reports_free_space_on_the_data_directory(workdir):
    assert run_flux(["migrate", "--yes"], clean_env(), workdir).returncode == 0
    result = run_flux(["doctor"], clean_env(), workdir)
    assert re.search(r"ok    disk: [0-9.]+ GiB free of [0-9.]+ GiB under ", result.stdout), result.stdout


def test_doctor_fails_a_production_config_without_a_metrics_token(workdir):
    # In production /metrics answers only METRICS_TOKEN: without one there are no metrics at all.
    production = dict(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET)
    without = run_flux(["doctor"], clean_env(**production), workdir)
    assert without.returncode != 0
    assert "FAIL  METRICS_TOKEN: missing" in without.stdout, without.stdout
    with_token = run_flux(["doctor"], clean_env(**production, METRICS_TOKEN=METRICS_TOKEN), workdir)
    assert "ok    METRICS_TOKEN: set" in with_token.stdout, with_token.stdout
    assert METRICS_TOKEN not in with_token.stdout + with_token.stderr
