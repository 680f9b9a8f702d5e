"""Flux on a real PostgreSQL: healthy, 503 within a second while the server is stopped, healthy again
after it restarts, with no restart of Flux."""
import subprocess
import time

import requests

from helpers import METRICS_TOKEN, STRONG_SECRET, as_cluster_owner, clean_env, run_flux, wait_until


def pg_ctl(settings, action):
    command = [f"{settings['FLUX_PG_BIN']}/pg_ctl", "-D", settings["FLUX_PGDATA"], "-w", "-t", "60"]
    command += ["-m", "fast", "stop"] if action == "stop" else ["start", "-l", f"{settings['FLUX_PGDATA']}/../restart.log"]
    subprocess.run(as_cluster_owner(command), check=True, capture_output=True)


def test_health_follows_postgres_down_and_back(postgres_database, serve):
    server = serve(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"])
    assert requests.get(server.url + "/api/health", timeout=5).json()["db"] == "up"

    pg_ctl(postgres_database, "stop")
    try:
        timings = []
        for _ in range(5):
            started = time.monotonic()
            response = requests.get(server.url + "/api/health", timeout=5)
            timings.append(time.monotonic() - started)
            assert response.status_code == 503
            assert response.json()["db"] == "down"
        assert max(timings) < 1.0, timings
    finally:
        pg_ctl(postgres_database, "start")

    status = wait_until(lambda: requests.get(server.url + "/api/health", timeout=5).status_code, 15, 0.2,
                        enough=lambda answered: answered == 200)
    assert status == 200
    assert server.process.poll() is None


def test_migrate_and_doctor_on_postgres(postgres_database, workdir):
    env = clean_env(FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"],
                    METRICS_TOKEN=METRICS_TOKEN)
    assert run_flux(["migrate", "--yes"], env, workdir).returncode == 0
    result = run_flux(["doctor"], env, workdir)
    assert result.returncode == 0, result.stdout
    assert "ok    migrations: all applied" in result.stdout
