"""Admin API benchmark: create mailboxes through HTTP, then list them page by page.

Starts the real API (``mailplane init`` + ``mailplane serve`` under uvicorn, on a free
loopback port, SQLite in a temporary state dir unless --database-url is given), creates
N mailboxes over D domains with concurrent clients, walks every page of the mailbox list,
and times page 1 against the last page. Page 1 is the reference: with keyset pagination
the last page should cost about the same (OFFSET would read and discard every earlier row).

Password hashing uses cheap argon2 parameters (1 MiB, t=1): the benchmark measures the API
and the database, not the hash cost, which is a production setting.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
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
        return measure(args, base, headers)
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
        "database": "postgresql" if args.database_url else "sqlite",
        "argon2": "m=1024KiB,t=1 (cheap, test setting)",
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


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so that the API server started here is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 mailboxes over 10 domains")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=100, help="timed requests per page, x3")
    args = parser.parse_args()
    if args.quick:
        args.mailboxes, args.domains, args.repeats = 1_000, 10, 30
    print(
        f"admin API benchmark: {args.mailboxes} mailboxes over {args.domains} domains, "
        f"{args.concurrency} concurrent clients; cheap argon2 (1 MiB, t=1)",
        flush=True,
    )
    result = run(args)
    print(f"create: {result['create_per_s']} mailboxes/s ({result['create_seconds']} s)")
    print(f"list:   {result['list_pages']} pages of {PAGE}, {result['list_pages_per_s']} pages/s")
    print(f"page 1:    p50 {result['first_page_p50_ms']} ms  p99 {result['first_page_p99_ms']} ms")
    print(f"last page: p50 {result['last_page_p50_ms']} ms  p99 {result['last_page_p99_ms']} ms")
    print(f"ratio last/first p99: {result['last_page_p99_ratio']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
