"""Admin API benchmark: create mailboxes through HTTP, list them page by page, then a burst.

Starts the real API (``mailplane init`` + ``mailplane serve`` under uvicorn, on a free
loopback port, SQLite in a temporary state dir unless --database-url or --db postgresql is
given), creates N mailboxes over D domains with concurrent clients, walks every page of the
mailbox list, and times page 1 against the last page. Page 1 is the reference: with keyset
pagination the last page should cost about the same (OFFSET would read and discard every
earlier row).

Then the concurrent-writes phase (issue 7, defect 3): 200 writers at once (half mailbox
creates, half password/name updates), while one prober asks ``/healthz`` and a mailbox GET
in a loop. It reports how many writes answered 5xx (must be 0), 429 (the burst's own
backlog, with Retry-After) and 503 (overload, with Retry-After), and the p99 of /healthz
and the GET during the burst; the reference is the same probes' p99 on the idle server
just before.

Password hashing uses cheap argon2 parameters (1 MiB, t=1): the benchmark measures the API
and the database, not the hash cost, which is a production setting.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAGE = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="mp-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(state),
        "MAILPLANE_ARGON2_MEMORY_KIB": "1024",
        "MAILPLANE_ARGON2_TIME_COST": "1",
    }
    if args.production_hash:
        del env["MAILPLANE_ARGON2_MEMORY_KIB"], env["MAILPLANE_ARGON2_TIME_COST"]
    if args.database_url:
        env["MAILPLANE_DATABASE_URL"] = args.database_url
    cli = [sys.executable, "-m", "mailplane.cli.main"]
    init = subprocess.run([*cli, "init"], env=env, capture_output=True, text=True, check=True)
    token = next(w for w in init.stdout.split() if w.startswith("mpst_"))
    server = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"x-service-token": token}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        result = measure(args, base, headers) if args.mailboxes else {}
        result["database"] = "postgresql" if args.database_url else "sqlite"
        result["argon2"] = "defaults" if args.production_hash else "m=1024KiB,t=1 (cheap)"
        result.update(asyncio.run(burst(args, base, headers)))
        return result
    finally:
        server.terminate()
        server.wait(timeout=10)


def measure(args: argparse.Namespace, base: str, headers: dict[str, str]) -> dict[str, Any]:
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base, headers=headers, timeout=60)
        return local.client  # type: ignore[no-any-return]

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client().post(path, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"{path}: {response.status_code} {response.text}")
        return response.json()  # type: ignore[no-any-return]

    tenant = post("/api/v1/tenants", {"name": f"bench-{time.time_ns()}"})
    with ThreadPoolExecutor(args.concurrency) as pool:
        domains = list(
            pool.map(
                lambda i: post(
                    "/api/v1/mail/domains",
                    {"domain": f"bench{i}-{tenant['id']}.test", "customer_id": tenant["id"]},
                ),
                range(args.domains),
            )
        )
        per_domain = args.mailboxes // args.domains
        jobs = [(d["id"], f"user{n}") for d in domains for n in range(per_domain)]
        started = time.perf_counter()
        list(
            pool.map(
                lambda job: post(
                    f"/api/v1/mail/domains/{job[0]}/accounts",
                    {"local_part": job[1], "password": "bench-password-1"},
                ),
                jobs,
            )
        )
        create_seconds = time.perf_counter() - started

    # Walk every page once; remember the cursor that leads to the last page.
    http = client()
    cursor: str | None = None
    last_cursor: str | None = None
    total = pages = 0
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = http.get("/api/v1/mail/accounts", params=params).json()
        total += len(page["items"])
        pages += 1
        if page["next_cursor"] is None:
            break
        last_cursor, cursor = page["next_cursor"], page["next_cursor"]
    walk_seconds = time.perf_counter() - started
    if total < len(jobs):
        raise RuntimeError(f"listed {total} mailboxes, created {len(jobs)}")

    def timed(params: dict[str, Any]) -> list[float]:
        samples = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            response = http.get("/api/v1/mail/accounts", params=params)
            samples.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        return samples

    # Interleave the two so that both see the same machine state.
    first: list[float] = []
    last: list[float] = []
    for _ in range(3):
        first += timed({"limit": PAGE})
        last += timed({"limit": PAGE, "cursor": last_cursor})
    result = {
        "mailboxes": len(jobs),
        "domains": len(domains),
        "concurrency": args.concurrency,
        "create_seconds": round(create_seconds, 2),
        "create_per_s": round(len(jobs) / create_seconds, 1),
        "list_pages": pages,
        "list_pages_per_s": round(pages / walk_seconds, 1),
        "first_page_p50_ms": round(statistics.median(first), 2),
        "first_page_p99_ms": round(percentile(first, 0.99), 2),
        "last_page_p50_ms": round(statistics.median(last), 2),
        "last_page_p99_ms": round(percentile(last, 0.99), 2),
    }
    result["last_page_p99_ratio"] = round(
        result["last_page_p99_ms"] / result["first_page_p99_ms"], 3
    )
    return result


class Prober:
    """/healthz and a GET in a loop, from a thread of its own: the writers' event loop is
    busy with 200 connections and would add its own delay to every probe it timed."""

    def __init__(self, base: str, headers: dict[str, str], get_path: str) -> None:
        self.http = httpx.Client(base_url=base, headers=headers, timeout=300)
        self.get_path = get_path
        self.done = threading.Event()
        self.healthz_ms: list[float] = []
        self.get_ms: list[float] = []
        self.failures = 0

    def probe(self, path: str) -> float:
        started = time.perf_counter()
        response = self.http.get(path)
        self.failures += response.status_code != 200
        return (time.perf_counter() - started) * 1000

    def idle(self, count: int) -> tuple[list[float], list[float]]:
        healthz = [self.probe("/healthz") for _ in range(count)]
        return healthz, [self.probe(self.get_path) for _ in range(count)]

    def run(self) -> None:
        while not self.done.is_set():
            self.healthz_ms.append(self.probe("/healthz"))
            self.get_ms.append(self.probe(self.get_path))
            self.done.wait(0.01)
        self.http.close()


async def burst(args: argparse.Namespace, base: str, headers: dict[str, str]) -> dict[str, Any]:
    """The concurrent-writes phase: ``args.writers`` writes at once, probes alongside."""
    limits = httpx.Limits(max_connections=args.writers + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=300, limits=limits
    ) as http:

        async def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")
            return response.json()  # type: ignore[no-any-return]

        tenant = await created("/api/v1/tenants", {"name": f"burst-{time.time_ns()}"})
        domain = await created(
            "/api/v1/mail/domains",
            {"domain": f"burst-{tenant['id']}.test", "customer_id": tenant["id"]},
        )
        accounts = f"/api/v1/mail/domains/{domain['id']}/accounts"
        updates = args.writers // 2
        existing = []
        for start in range(0, updates, 10):  # a few at a time: this is setup, not the burst
            batch = [
                created(accounts, {"local_part": f"old{n}", "password": "bench-password-1"})
                for n in range(start, min(start + 10, updates))
            ]
            existing += await asyncio.gather(*batch)

        get_path = f"/api/v1/mail/accounts/{existing[0]['id']}"
        prober = Prober(base, headers, get_path)
        idle_healthz, idle_get = prober.idle(50)

        statuses: list[int] = []
        missing_retry_after = 0
        write_ms: list[float] = []

        async def write(n: int) -> None:
            nonlocal missing_retry_after
            started = time.perf_counter()
            if n % 2:
                target = existing[n // 2]["id"]
                body = {"password": f"bench-password-{n}", "display_name": f"updated {n}"}
                response = await http.put(f"/api/v1/mail/accounts/{target}", json=body)
            else:
                body = {"local_part": f"new{n}", "password": "bench-password-1"}
                response = await http.post(accounts, json=body)
            write_ms.append((time.perf_counter() - started) * 1000)
            statuses.append(response.status_code)
            if response.status_code in (429, 503) and "retry-after" not in response.headers:
                missing_retry_after += 1

        probing = threading.Thread(target=prober.run, name="prober")
        probing.start()
        started = time.perf_counter()
        try:
            await asyncio.gather(*(write(n) for n in range(args.writers)))
        finally:
            burst_seconds = time.perf_counter() - started
            prober.done.set()
            probing.join()
        healthz_ms, get_ms, probe_failures = prober.healthz_ms, prober.get_ms, prober.failures

    return {
        "concurrent_writers": args.writers,
        "concurrent_write_seconds": round(burst_seconds, 2),
        "concurrent_write_2xx": sum(1 for s in statuses if 200 <= s < 300),
        "concurrent_write_4xx": sum(1 for s in statuses if 400 <= s < 500),
        "concurrent_write_5xx": sum(1 for s in statuses if s >= 500),
        "concurrent_write_503": statuses.count(503),
        "concurrent_write_429": statuses.count(429),
        "concurrent_write_missing_retry_after": missing_retry_after,
        "concurrent_write_p50_ms": round(statistics.median(write_ms), 1),
        "concurrent_write_max_ms": round(max(write_ms), 1),
        "healthz_probes_during_burst": len(healthz_ms),
        "probe_failures": probe_failures,
        "healthz_p99_idle_ms": round(percentile(idle_healthz, 0.99), 2),
        "healthz_p99_during_burst_ms": round(percentile(healthz_ms, 0.99), 2),
        "healthz_p50_during_burst_ms": round(statistics.median(healthz_ms), 2),
        "get_p50_during_burst_ms": round(statistics.median(get_ms), 2),
        "get_p99_idle_ms": round(percentile(idle_get, 0.99), 2),
        "get_p99_during_burst_ms": round(percentile(get_ms, 0.99), 2),
    }


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so that the API server started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 mailboxes over 10 domains")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: start a private throw-away cluster (as the tests do)",
    )
    parser.add_argument("--writers", type=int, default=200, help="concurrent writes in the burst")
    parser.add_argument(
        "--production-hash", action="store_true", help="argon2 at its defaults (64 MiB, t=3)"
    )
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=100, help="timed requests per page, x3")
    args = parser.parse_args()
    if args.quick:
        args.mailboxes, args.domains, args.repeats = 1_000, 10, 30
    print(
        f"admin API benchmark: {args.mailboxes} mailboxes over {args.domains} domains, "
        f"{args.concurrency} concurrent clients, then {args.writers} concurrent writes; "
        + ("argon2 at its defaults" if args.production_hash else "cheap argon2 (1 MiB, t=1)"),
        flush=True,
    )
    if args.db == "postgresql" and not args.database_url:
        from tests.support.postgres import postgres_cluster

        with postgres_cluster() as url:
            args.database_url = url
            result = run(args)
    else:
        result = run(args)
    if args.mailboxes:
        report_listing(result)
    print(
        f"burst:  {args.writers} concurrent writes in {result['concurrent_write_seconds']} s: "
        f"{result['concurrent_write_2xx']} 2xx, {result['concurrent_write_4xx']} 4xx, "
        f"{result['concurrent_write_5xx']} 5xx ({result['concurrent_write_503']} x 503), "
        f"{result['concurrent_write_429']} x 429; "
        f"max {result['concurrent_write_max_ms']} ms"
    )
    print(
        f"during: /healthz p99 {result['healthz_p99_during_burst_ms']} ms "
        f"(idle {result['healthz_p99_idle_ms']}), GET p99 {result['get_p99_during_burst_ms']} ms "
        f"(idle {result['get_p99_idle_ms']}), {result['probe_failures']} probe failures"
    )
    print(json.dumps(result))


def report_listing(result: dict[str, Any]) -> None:
    print(f"create: {result['create_per_s']} mailboxes/s ({result['create_seconds']} s)")
    print(f"list:   {result['list_pages']} pages of {PAGE}, {result['list_pages_per_s']} pages/s")
    print(f"page 1:    p50 {result['first_page_p50_ms']} ms  p99 {result['first_page_p99_ms']} ms")
    print(f"last page: p50 {result['last_page_p50_ms']} ms  p99 {result['last_page_p99_ms']} ms")
    print(f"ratio last/first p99: {result['last_page_p99_ratio']}")


if __name__ == "__main__":
    main()
