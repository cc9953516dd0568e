"""``mailplane jobs list|run-due``, run as an operator runs them: a publication whose DNS
server is down shows as queued, then, once run, as retrying with the reason."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from mailplane.api.app import create_app
from mailplane.config import Settings
from tests.cli import test_cli
from tests.support.api import Api
from tests.support.ports import free_port

mailplane = test_cli.mailplane


def test_list_and_run_due(env: dict[str, str]) -> None:
    (token,) = test_cli._tokens(mailplane(env, "init").stdout)
    port = free_port()  # nothing listens there: the DNS server is down
    env = {
        **env,
        "MAILPLANE_RFC2136_SERVER": "127.0.0.1",
        "MAILPLANE_RFC2136_PORT": str(port),
        "MAILPLANE_JOBS_RETRY_BASE_SECONDS": "3600",  # not due again while this test runs
    }
    settings = Settings(
        env="test",
        state_dir=Path(env["MAILPLANE_STATE_DIR"]),
        database_url=env.get("MAILPLANE_DATABASE_URL"),
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        rfc2136_server="127.0.0.1",
        rfc2136_port=port,
    )
    with TestClient(create_app(settings)) as client:
        api = Api(client, {"x-service-token": token})
        domain = api.domain(api.tenant()["id"], dns_automation="rfc2136")
    job_id = domain["dns_publication"]["job_id"]

    (line,) = mailplane(env, "jobs", "list").stdout.splitlines()
    assert line.split("\t")[:5] == [
        str(job_id),
        "dns.publish",
        f"domain:{domain['id']}",
        "queued",
        "attempts 0",
    ]

    assert mailplane(env, "jobs", "run-due").stdout.strip() == "ran 1 jobs"
    (line,) = mailplane(env, "jobs", "list").stdout.splitlines()
    fields = line.split("\t")
    assert fields[3:5] == ["retrying", "attempts 1"]
    assert "unreachable" in fields[6]
    # Not due again before its backoff: nothing runs.
    assert mailplane(env, "jobs", "run-due").stdout.strip() == "ran 0 jobs"
