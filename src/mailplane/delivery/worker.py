"""A delivery worker: one asyncio loop per process.

claim a batch → sign each message once → route and send every delivery concurrently over
pooled connections → commit the outcomes in batches. Database work runs on one thread of
its own, so the loop keeps serving its SMTP connections while a claim or a commit runs;
claims continue while earlier deliveries are still in flight, up to ``in_flight_limit``.
A live worker renews its lease on the rows it holds. On SIGTERM (``stop`` set) it claims
nothing more, finishes what is in flight, commits, and returns.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.delivery import admission, claims, dsn
from mailplane.delivery.claims import Batch, Claimed, MessageData, Outcome, SigningKey
from mailplane.delivery.connections import Pools
from mailplane.delivery.envelope import envelope_sender
from mailplane.delivery.outcomes import Attempt, Kind, give_up_reply, resolve
from mailplane.delivery.routes import Route, Router
from mailplane.delivery.transfer import Envelope, send
from mailplane.dkim import signer
from mailplane.dkim.signing import SIGNED_HEADERS, loaded_key
from mailplane.models import utcnow
from mailplane.models.statuses import MessageSource, MessageType
from mailplane.unsubscribe import headers as unsubscribe_headers

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_POLL_SECONDS = 0.25
# How old the worker's view of limits, routes and pauses may be (admission.Policy).
POLICY_REFRESH_SECONDS = 1.0
COMMIT_INTERVAL_SECONDS = 0.05
DSN_RETRY_SECONDS = 60.0
CLAIM_RETRY_SECONDS = 1.0


class Worker:
    def __init__(self, settings: Settings, database: Database, stop: threading.Event) -> None:
        self.settings = settings
        self.database = database
        self.stop = stop
        self.worker_id = claims.new_worker_id()
        self.rng = random.Random()  # noqa: S311 (jitter, not secrecy)
        self.router = Router(settings, self.rng)
        self.pools = Pools(settings)
        self.db_thread = ThreadPoolExecutor(1, thread_name_prefix="delivery-db")
        self.in_flight: set[asyncio.Task[None]] = set()
        self.in_flight_limit = settings.delivery_batch_size * 2
        self.pending: list[tuple[Outcome, dict[str, Any] | None]] = []
        self.delivered = 0
        self.policy = admission.Policy()
        self.policy_loaded_at = -POLICY_REFRESH_SECONDS
        self.unsubscribe = unsubscribe_headers.Builder(settings)

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        def unit() -> T:
            with self.database.transaction() as session:
                return function(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self.db_thread, unit)

    async def _read(self, function: Callable[..., T], *args: Any) -> T:
        def unit() -> T:
            with self.database.session(write=False) as session:
                return function(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self.db_thread, unit)

    async def run(self) -> None:
        log.info("delivery worker %s started", self.worker_id)
        committer = asyncio.create_task(self._commit_loop())
        renewer = asyncio.create_task(self._renew_loop())
        try:
            while not self.stop.is_set():
                if len(self.in_flight) >= self.in_flight_limit:
                    await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                room = min(
                    self.settings.delivery_batch_size, self.in_flight_limit - len(self.in_flight)
                )
                try:
                    batch = await self._db(
                        claims.claim,
                        self.worker_id,
                        room,
                        self.settings.delivery_lease_seconds,
                        utcnow(),
                    )
                except Exception:
                    # The database is busy or away: keep serving what is in flight, retry.
                    log.exception("claiming deliveries failed; retrying")
                    await asyncio.sleep(CLAIM_RETRY_SECONDS)
                    continue
                if not batch.claimed:
                    await self._idle()
                    continue
                try:
                    batch = await self._admit(batch)
                except Exception:
                    # Nothing written: the rows stay claimed and are due again when their
                    # lease ends (never lost).
                    log.exception("admitting %d deliveries failed", len(batch.claimed))
                    await asyncio.sleep(CLAIM_RETRY_SECONDS)
                    continue
                self._start(batch)
            if self.in_flight:
                await asyncio.wait(self.in_flight)
        finally:
            committer.cancel()
            renewer.cancel()
            await self._commit_pending()
            await self.pools.quit_all()
            self.db_thread.shutdown(wait=True)
            log.info("delivery worker %s stopped", self.worker_id)

    async def _admit(self, batch: Batch) -> Batch:
        """Pauses, routes and throttles (admission.py), when any is configured."""
        loop = asyncio.get_running_loop()
        if loop.time() - self.policy_loaded_at >= POLICY_REFRESH_SECONDS:
            self.policy = await self._read(admission.load_policy)
            self.policy_loaded_at = loop.time()
        if not self.policy.active:
            return batch
        mx_hosts: dict[str, tuple[str, ...]] = {}
        if self.policy.needs_mx:
            for domain in {c.recipient_domain for c in batch.claimed}:
                route = await self.router.route(domain)
                if isinstance(route, Route) and route.destination != "relay":
                    mx_hosts[domain] = tuple(dict.fromkeys(h.name for h in route.hosts))
        return await self._db(
            admission.admit, self.worker_id, batch, self.policy, mx_hosts, utcnow()
        )

    async def _idle(self) -> None:
        """Wait until something is due, asking with reads (no write lock while idle)."""
        while not self.stop.is_set():
            await asyncio.sleep(IDLE_POLL_SECONDS)
            due: bool = await self._read(claims.any_due, utcnow())
            if due or self.in_flight:
                return

    def _start(self, batch: Batch) -> None:
        signed: dict[str, bytes | str | Exception] = {}
        per_recipient: dict[str, bool] = {}
        for claimed in batch.claimed:
            message = batch.messages[claimed.message_id]
            if message.id not in per_recipient:
                per_recipient[message.id] = self._wants_unsubscribe(message)
            data: bytes | str | Exception
            if per_recipient[message.id]:
                # Bulk mail: each recipient's own List-Unsubscribe, signed with it.
                try:
                    extra = self.unsubscribe.headers(claimed.id)
                    data = self._prepare(message, batch.signers, extra)
                except Exception as exc:
                    data = exc
            else:
                if message.id not in signed:
                    try:
                        signed[message.id] = self._prepare(message, batch.signers)
                    except Exception as exc:  # an unusable key: deferred by _deliver, not lost
                        signed[message.id] = exc
                data = signed[message.id]
            task = asyncio.create_task(self._deliver(claimed, message, data))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    @staticmethod
    def _wants_unsubscribe(message: MessageData) -> bool:
        """A tenant's bulk message without a List-Unsubscribe of its own."""
        return (
            message.type == MessageType.BULK
            and message.tenant_id is not None
            and message.source not in (MessageSource.FORWARD, MessageSource.DSN)
            and not unsubscribe_headers.has_own(message.raw)
        )

    def _prepare(
        self, message: MessageData, signers: dict[str, SigningKey | str], extra: bytes = b""
    ) -> bytes | str:
        """The bytes to send (signed once per message per batch, or per recipient when
        ``extra`` holds that recipient's headers), or why it may not leave."""
        raw = extra + message.raw if extra else message.raw
        if message.source in (MessageSource.FORWARD, MessageSource.DSN) or not message.sign_domain:
            return raw
        key = signers.get(
            message.sign_domain, f"5.7.1 sending domain {message.sign_domain} unknown"
        )
        if isinstance(key, str):
            return key
        header = signer.signature_header(
            raw,
            domain=message.sign_domain,
            selector=key.selector,
            key=loaded_key(key.key_id, key.private_key_pem),
            signed_headers=SIGNED_HEADERS,
        )
        return header + raw

    async def _deliver(
        self, claimed: Claimed, message: MessageData, data: bytes | str | Exception
    ) -> None:
        try:
            if isinstance(data, Exception):
                raise data
            await self._attempt(claimed, message, data)
        except Exception as exc:
            # A defect here must not leave the row claimed until the lease ends, again and
            # again: it is deferred like any transient failure, with the reason on record.
            log.exception("delivery %s failed inside the worker", claimed.id)
            reply = f"4.3.0 internal error in the delivery worker: {type(exc).__name__}"
            self._record(
                claimed, message, Attempt(claimed.id, Kind.DEFERRED, None, reply, utcnow(), 0)
            )

    async def _attempt(self, claimed: Claimed, message: MessageData, data: bytes | str) -> None:
        if isinstance(data, str):
            attempt = Attempt(claimed.id, Kind.FAILED, 550, data, utcnow(), 0)
        else:
            via = self.policy.routes.get(claimed.route_id) if claimed.route_id else None
            route = await self.router.route(claimed.recipient_domain, via)
            sender = envelope_sender(
                self.settings, message.source, message.envelope_from, claimed.id
            )
            attempt = await send(
                self.pools, route, Envelope(claimed.id, sender, claimed.recipient, data)
            )
        self._record(claimed, message, attempt)

    def _record(self, claimed: Claimed, message: MessageData, attempt: Attempt) -> None:
        now = utcnow()
        resolution = resolve(
            self.settings, attempt, attempts_before=claimed.attempts,
            created_at=claimed.created_at, now=now, rng=self.rng,
        )  # fmt: skip
        reply = give_up_reply(self.settings, attempt.reply) if resolution.expired else attempt.reply
        outcome = Outcome(
            delivery_id=claimed.id,
            status=resolution.status,
            next_attempt_at=resolution.next_attempt_at,
            finished_at=resolution.finished_at,
            outcome=resolution.status.value,
            code=attempt.code,
            enhanced_code=attempt.enhanced_code if not resolution.expired else "4.4.7",
            reply=reply,
            remote_host=attempt.remote_host,
            remote_ip=attempt.remote_ip,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
        )
        payload = None
        if (
            resolution.status.is_final
            and outcome.outcome in ("bounced", "failed")
            and dsn.wants_dsn(message)
        ):
            payload = dsn.dsn_payload(self.settings, message, claimed.recipient, outcome)
        self.pending.append((outcome, payload))
        if attempt.kind == Kind.DELIVERED:
            self.delivered += 1

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(COMMIT_INTERVAL_SECONDS)
            await self._commit_pending()

    async def _commit_pending(self) -> None:
        if not self.pending:
            return
        taken, self.pending = self.pending, []
        outcomes = [outcome for outcome, _ in taken]
        payloads = [payload for _, payload in taken if payload is not None]
        try:
            job_ids = await self._db(
                claims.commit_outcomes, self.worker_id, outcomes, payloads, utcnow(),
                self.settings.delivery_lease_seconds,
            )  # fmt: skip
        except Exception:
            # Nothing written: the rows stay claimed and are delivered again after the
            # lease (at least once, never lost). Keep them for the next commit.
            log.exception("committing %d outcomes failed; retrying", len(outcomes))
            self.pending = taken + self.pending
            return
        if job_ids:
            await self._send_dsns(list(zip(job_ids, payloads, strict=True)))

    async def _send_dsns(self, jobs: list[tuple[int, dict[str, Any]]]) -> None:
        done: list[int] = []
        failed: list[tuple[int, str]] = []
        for job_id, payload in jobs:
            try:
                await asyncio.to_thread(dsn.send_dsn_job, self.settings, payload)
                done.append(job_id)
            except Exception as exc:  # Postfix down: the job stays due and is retried
                failed.append((job_id, f"{type(exc).__name__}: {exc}"))
        await self._db(dsn.finish_dsn_jobs, done, failed, utcnow(), DSN_RETRY_SECONDS)

    async def _renew_loop(self) -> None:
        interval = self.settings.delivery_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._db(
                    claims.renew_leases,
                    self.worker_id,
                    self.settings.delivery_lease_seconds,
                    utcnow(),
                )
            except Exception:
                log.exception("renewing leases failed")


def run_worker(settings: Settings, stop_event: threading.Event) -> int:
    """Run one worker until ``stop_event`` is set; return the number delivered."""
    database = Database(settings)
    try:
        worker = Worker(settings, database, stop_event)
        asyncio.run(worker.run())
        return worker.delivered
    finally:
        database.dispose()
