"""The real binary refuses an unsafe production configuration before it listens."""
import pytest

from helpers import STRONG_SECRET, clean_env, free_port, run_flux

PLACEHOLDER = "replace-with-output-of-openssl-rand-base64-48"


@pytest.mark.parametrize("secret, reason", [
    (None, "is not set"),
    ("short-but-not-empty", "shorter than 32 characters"),
    (PLACEHOLDER, "publicly known"),
    ("abababababababababababababababababababab", "too little randomness"),
])
def test_production_refuses_each_bad_secret(workdir, secret, reason):
    port = free_port()
    result = run_flux(["serve"], clean_env(FLUX_ENV="production", SESSION_SECRET=secret, PORT=port), workdir)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SESSION_SECRET" in result.stderr
    assert reason in result.stderr
    assert "openssl rand -base64 48" in result.stderr
    if secret:
        assert secret not in output
    assert "Server started" not in output


@pytest.mark.parametrize("variable, value", [
    ("FLUX_ENV", "staging"),
    ("PORT", "99999"),
    ("DATABASE_URL", "mysql://flux:hunter2pass@db/flux"),
])
def test_other_bad_values_fail_the_same_way(workdir, variable, value):
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, PORT=free_port())
    env[variable] = value
    result = run_flux(["serve"], env, workdir)
    assert result.returncode != 0
    assert variable in result.stderr
    assert "hunter2pass" not in result.stdout + result.stderr


def test_unwritable_data_dir_fails(workdir):
    blocker = workdir / "a-file"
    blocker.write_text("x")
    result = run_flux(["serve"], clean_env(DATA_DIR=blocker / "data", PORT=free_port()), workdir)
    assert result.returncode != 0
    assert "DATA_DIR" in result.stderr
