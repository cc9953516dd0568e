#!/usr/bin/env python3
"""Sending, end to end, in one run on one machine (issue 8's benchmark):

1. accept_per_s: messages/s accepted (committed, 202) through ``POST /api/v1/send`` by
   concurrent clients of a real ``mailplane serve``; batch_recipients_per_s: recipients/s
   through ``POST /api/v1/send/batch`` (bench/send_api.py).
2. delivered_per_s: 2 KB messages, DKIM-signed (RSA-2048, 20 sending domains), delivered
   from mailplane's queue by ``mailplane worker`` into Postfix's ``smtp-sink``.
3. postfix_relay_per_s: the same messages injected into a plain Postfix relaying them to
   the same ``smtp-sink`` (the reference).
4. smtp_sink_per_s: ``smtp-source`` straight into ``smtp-sink``: the machine's limit.
(2-4: bench/delivery.py.)

Usage: .venv/bin/python bench/send.py [--quick] [--db postgresql] [--workers N]
The last line is one JSON object with accept_per_s, batch_recipients_per_s,
delivered_per_s, postfix_relay_per_s, delivery_vs_postfix_relay and smtp_sink_per_s.
Needs root and postfix (smtp-sink, smtp-source, master).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import delivery
import send_api


def accept_half(database_url: str | None, quick: bool, concurrency: int) -> tuple[float, float]:
    messages = 1000 if quick else 5000
    batches = 10 if quick else 40
    with send_api.start_api(database_url) as api:
        domain, key = send_api.prepare_sender(api)
        send_api.accept_rate(api, domain, key, 100, concurrency)  # warm up
        accept = send_api.accept_rate(api, domain, key, messages, concurrency)
        batch = send_api.batch_rate(api, domain, key, batches, 50, 100, 2)
    return accept, batch


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    messages = 3000 if args.quick else 20000

    stack = contextlib.ExitStack()
    with stack:
        url = None
        if args.db == "postgresql":
            from tests.support.postgres import postgres_cluster

            url = stack.enter_context(postgres_cluster())
        accept, batch = accept_half(url, args.quick, args.concurrency)
        print(f"accept: {accept:.0f}/s, batch: {batch:.0f} recipients/s", file=sys.stderr)

    figures = delivery.measure(args.db, messages, args.workers)
    print(
        json.dumps(
            {
                "db": args.db,
                "messages": messages,
                "workers": args.workers,
                "accept_per_s": round(accept, 1),
                "batch_recipients_per_s": round(batch, 1),
                **figures,
            }
        )
    )
    return 0 if figures["delivered"] == messages else 1


if __name__ == "__main__":
    sys.exit(main())
