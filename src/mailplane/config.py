"""One typed settings object, read from the environment (prefix ``MAILPLANE_``).

Secrets are never defaulted outside development: ``Settings.check_production`` refuses to
start with the development secret, and ``mailplane init`` writes a random one into the
state directory, which is read back here.

Values are typed so that a wrong one stops the start with a message naming the variable
(``settings_problem``), not a 500 on the first request that uses it: addresses are
``ipaddress`` types, and every secret is a ``SecretStr``, which ``repr()``, ``str()``,
logs and tracebacks show as ``**********``. Read one with ``.get_secret_value()``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    IPvAnyAddress,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only ever accepted when MAILPLANE_ENV=development; see Settings.check_production.
DEVELOPMENT_SECRET = "development-only-secret-do-not-use-in-production"  # noqa: S105


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/mailplane")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mailplane"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILPLANE_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    state_dir: Path = Field(default_factory=_default_state_dir)
    # The whole URL is secret: a PostgreSQL URL carries the password.
    database_url: SecretStr | None = None
    # SQLite: how long a writer waits for the write lock (held by another process, or by a
    # writer of this process ahead of it) before giving up with 503 / a retried batch.
    database_busy_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    secret_key: SecretStr | None = None

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    # Admission (docs/architecture.md, "Transactions and load"): a request runs in a worker
    # thread and keeps its database connection (and on SQLite the write lock) until its
    # response is serialised, which needs a thread again. Bounding requests in flight below
    # the thread and connection pools makes a burst queue instead of deadlocking; writers get
    # their own share so that reads never wait behind them. Beyond the queue time: 503.
    api_max_concurrent_writes: int = Field(default=4, ge=1, le=256)
    api_max_concurrent_reads: int = Field(default=24, ge=1, le=256)
    api_queue_seconds: float = Field(default=20.0, gt=0, le=300)

    # Tenant admin and mailbox user sessions
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # mail_access tokens for IMAP/SMTP clients (XOAUTH2, OAUTHBEARER): seed 001 says 60.
    mail_token_minutes: int = Field(default=60, ge=1, le=24 * 60)

    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks). Empty: nobody's, so a client cannot choose the address it is throttled by.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    # Login throttling (auth/throttling.py, docs/operations.md): failed logins allowed per
    # window per (account, client network), per client network and per account. Networks
    # and accounts ceilings do not apply to a known source (one that logged in before).
    login_max_failures_per_source: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=100, ge=1)
    login_max_failures_per_account: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    login_known_source_days: int = Field(default=30, ge=0)

    # Mailbox password hashes (Dovecot verifies them itself). Argon2id through libsodium
    # in Dovecot supports parallelism 1 only.
    password_scheme: Literal["ARGON2ID", "BLF-CRYPT"] = "ARGON2ID"  # noqa: S105
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    bcrypt_rounds: int = 12

    # Platform identity, used for the DNS records customers publish.
    mail_hostname: str = "mail.mailplane.test"
    mx_hosts: list[str] = Field(default_factory=lambda: ["mail.mailplane.test"])
    spf_include: str | None = None
    sending_ips: list[IPvAnyAddress] = Field(default_factory=lambda: [ip_address("127.0.0.1")])
    dmarc_policy: Literal["none", "quarantine", "reject"] = "quarantine"
    dmarc_rua: str | None = None
    dkim_selector: str = "mp1"
    dkim_algorithm: Literal["rsa-2048", "ed25519"] = "rsa-2048"
    mta_sts_mode: Literal["none", "testing", "enforce"] = "testing"

    # Mail plane: Postfix and Dovecot, run by `mailplane up` as child processes.
    # High loopback ports by default (development, tests); the standard ports in production.
    mail_enabled: bool = True
    mail_listen_address: str = "127.0.0.1"
    smtp_port: int = 2525  # inbound (MX): no relaying, unknown recipients refused at RCPT
    submission_port: int = 2587  # STARTTLS + SASL (RFC 6409)
    submissions_port: int = 2465  # implicit TLS + SASL (RFC 8314)
    inject_port: int = 2588  # the platform's own sending path; trusts mail_inject_networks
    imap_port: int = 1143
    imaps_port: int = 1993
    mail_inject_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32")]
    )
    # Outbound relay for the delivery engine (see "Sending" below): "host" or "host:port";
    # None: deliver to each recipient domain's MX.
    relay_host: str | None = None
    # Off on machines without a usable resolver (the tests): Postfix then never queries DNS.
    mail_dns_enabled: bool = False
    # Over quota: "defer" (4xx, the sender retries; nothing is lost) or "refuse" (5xx at RCPT).
    quota_exceeded_policy: Literal["defer", "refuse"] = "defer"
    tls_cert_file: Path | None = None  # default: <state_dir>/tls/cert.pem (made by init)
    tls_key_file: Path | None = None
    vmail_user: str = "vmail"
    # fsync after each delivery; tests and benchmarks may turn it off.
    mail_fsync: bool = True
    message_size_limit_mb: int = 50
    # RFC 7662 introspection for XOAUTH2/OAUTHBEARER logins (SPEC section E). None: the
    # API's own endpoint on api_host:api_port, with Dovecot's client credentials derived
    # from the platform secret (mailplane.auth.mail_tokens). Set it when Dovecot reaches
    # the API through another address (several nodes, a proxy).
    oauth2_introspection_url: str | None = None
    # Webmail (webmail/pool.py): IMAP connections to the managed Dovecot kept across
    # requests, logged in with XOAUTH2 as their mailbox. None: mail_listen_address (or
    # loopback when it is a wildcard) and imap_port.
    webmail_imap_host: str | None = None
    webmail_pool_per_user: int = Field(default=4, ge=1, le=64)
    webmail_pool_total: int = Field(default=256, ge=1, le=10_000)
    webmail_pool_idle_seconds: float = Field(default=300.0, gt=0)
    webmail_pool_max_age_seconds: float = Field(default=1800.0, gt=0)
    webmail_pool_wait_seconds: float = Field(default=10.0, gt=0, le=120)
    webmail_imap_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Off: a new IMAP connection (and login) per request, like Modoboa; the benchmark's
    # reference (bench/webmail.py). Never useful in production.
    webmail_pool_reuse: bool = True
    # --- Live mail events over WebSocket (docs/webmail.md, "Live events") ---
    # Where events come from: push (Dovecot's push_notification plugin posting to the API),
    # idle (an IMAP IDLE connection per watched mailbox), poll (STATUS every
    # webmail_poll_seconds). auto: push when mailplane renders Dovecot with it, else idle.
    webmail_event_source: Literal["auto", "idle", "push", "poll"] = "auto"
    # Render Dovecot's push_notification (Lua driver) posting new mail to the API.
    webmail_dovecot_push: bool = True
    webmail_poll_seconds: float = Field(default=60.0, gt=0)
    # Open event sockets per mailbox user and per API process.
    webmail_events_max_per_user: int = Field(default=10, ge=1)
    webmail_events_max_total: int = Field(default=2000, ge=1)
    # How often an open socket re-checks its token's expiry and the mailbox's state.
    webmail_events_recheck_seconds: float = Field(default=30.0, gt=0)
    # A deleted mailbox's files (and a deleted domain's mailboxes') are kept this long, so
    # that an operator can restore them; then `mailplane up` (or `mailplane mailboxes
    # purge`) removes them. 0 purges at the next run.
    mailbox_purge_grace_hours: float = Field(default=168.0, ge=0)
    # How often `mailplane up` looks for files whose grace period is over.
    mailbox_purge_interval_seconds: float = Field(default=300.0, gt=0)

    # --- DNS verification, automation and DKIM rotation (docs/dns.md) ---
    # Resolvers asked by verification; empty means the system's /etc/resolv.conf.
    dns_resolvers: list[IPvAnyAddress] = Field(default_factory=list)
    dns_port: int = 53
    dns_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # A domain whose SPF/DKIM/MX break keeps sending this long, then sending is disabled.
    verification_grace_hours: float = Field(default=72.0, ge=0)
    # A name a tenant added but never proved stops blocking other tenants after this long:
    # the next tenant to claim it takes it over (a squatter cannot hold a name forever).
    unproven_claim_days: float = Field(default=14.0, gt=0)
    # Periodic re-check: every domain is looked at about this often, spread by jitter.
    verification_interval_minutes: float = Field(default=360.0, gt=0)
    verification_failing_interval_minutes: float = Field(default=30.0, gt=0)
    verification_jitter_fraction: float = Field(default=0.2, ge=0, lt=1)
    verification_batch_size: int = Field(default=20, ge=1)
    verification_concurrency: int = Field(default=8, ge=1, le=256)
    # A retiring DKIM key stays published this long so that mail in flight still verifies.
    dkim_retire_after_hours: float = Field(default=48.0, ge=0)
    # RFC 2136 dynamic updates: the platform default; a domain's dns_settings override it.
    rfc2136_server: IPvAnyAddress | None = None
    rfc2136_port: int = 53
    rfc2136_key_name: str | None = None
    rfc2136_key_algorithm: str = "hmac-sha256"
    rfc2136_key_secret: SecretStr | None = None
    # Servers a domain's own dns_settings may send updates to, besides rfc2136_server.
    rfc2136_allowed_servers: list[IPvAnyAddress] = Field(default_factory=list)
    dns_record_ttl: int = 3600
    # dns-lexicon: provider name and its options (e.g. {"auth_token": "..."}).
    lexicon_provider: str | None = None
    lexicon_options: dict[str, SecretStr] = Field(default_factory=dict)
    lexicon_allowed_providers: list[str] = Field(default_factory=list)
    # Ports shown to mail clients (autoconfig, autodiscover, SRV records): the public ones,
    # which differ from the loopback ports the managed servers listen on in development.
    public_imap_port: int = 993
    public_submission_port: int = 465  # implicit TLS, RFC 8314
    public_submission_starttls_port: int = 587
    mta_sts_max_age: int = 604800

    # --- Sending: the send API and the delivery engine (docs/sending.md) ---
    # Recipients per hour a domain may send through the send API (seed 000: 100/hour);
    # a tenant's send_rate_per_hour and a key's rate_limit_per_hour override it.
    send_rate_per_hour: int = Field(default=100, ge=1)
    # Form keys are public (they sit in a web page): a low limit of their own.
    form_key_rate_per_hour: int = Field(default=20, ge=1)
    send_max_recipients: int = Field(default=100, ge=1, le=10000)  # to + cc + bcc
    send_max_batch: int = Field(default=500, ge=1, le=10000)
    send_max_message_mb: int = Field(default=25, ge=1, le=200)
    send_max_schedule_hours: float = Field(default=72.0, gt=0)  # how far ahead send_at may be
    idempotency_hours: float = Field(default=24.0, gt=0)
    # Suppression (docs/sending.md): entries expire after this many days (0: never);
    # soft bounces suppress after this many within suppression_soft_bounce_days (0: never).
    suppression_expiry_days: float = Field(default=365.0, ge=0)
    suppression_soft_bounce_limit: int = Field(default=3, ge=0)
    suppression_soft_bounce_days: float = Field(default=7.0, gt=0)
    suppression_import_max: int = Field(default=10000, ge=1, le=1000000)
    # The circuit breaker (docs/deliverability.md): over a sliding window of this many
    # minutes, a tenant (or one of its batches) with at least breaker_min_sample settled
    # deliveries whose hard-bounce or complaint rate exceeds the threshold has its bulk
    # sending paused until an operator resumes it.
    breaker_window_minutes: int = Field(default=1440, ge=1, le=43200)
    breaker_min_sample: int = Field(default=100, ge=1)
    breaker_hard_bounce_rate: float = Field(default=0.05, gt=0, le=1)
    breaker_complaint_rate: float = Field(default=0.003, gt=0, le=1)
    # ARF feedback reports (RFC 5965) are received at <feedback_local_part>@bounce domain.
    feedback_local_part: str = Field(default="fbl", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    # Workers: `mailplane up` runs this many delivery worker processes (0: none; then run
    # `mailplane worker` yourself), each claiming due deliveries in batches.
    workers: int = Field(default=1, ge=0, le=64)
    delivery_batch_size: int = Field(default=200, ge=1, le=5000)
    # A claimed delivery whose worker died is claimed again after this long; a live worker
    # renews its lease while it works.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    # Retries: exponential backoff with jitter from the base up to the cap; a delivery still
    # deferred after delivery_max_age_hours fails (RFC 5321 section 4.5.4.1: 4-5 days).
    delivery_retry_base_seconds: float = Field(default=60.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=3600.0, gt=0)
    delivery_max_age_hours: float = Field(default=120.0, gt=0)
    delivery_connect_timeout_seconds: float = Field(default=30.0, gt=0)
    # RFC 5321 section 4.5.3.2 suggests minutes per command; a stalled server must not hold
    # a worker for ten of them.
    delivery_command_timeout_seconds: float = Field(default=120.0, gt=0)
    delivery_concurrency_per_destination: int = Field(default=10, ge=1, le=1000)
    delivery_concurrency_total: int = Field(default=100, ge=1, le=10000)
    # The port of remote MX hosts (25; tests point it at a free port on loopback).
    delivery_smtp_port: int = Field(default=25, ge=1, le=65535)
    # Resolvers for MX lookups; empty: dns_resolvers, then the system's.
    delivery_resolvers: list[IPvAnyAddress] = Field(default_factory=list)
    # HELO name of outbound connections; None: mail_hostname.
    delivery_helo_name: str | None = None
    # The platform's bounce domain: VERP return paths (b+<token>@...) and SRS addresses
    # live there; its MX must be the platform and its SPF must allow sending_ips.
    bounce_domain: str | None = None  # None: mail_hostname
    # Bulk mail's List-Unsubscribe also names unsubscribe+<token>@<bounce domain>
    # (RFC 2369 mailto), besides the one-click HTTPS link under public_url (RFC 8058).
    unsubscribe_mailto: bool = True
    # Instead of MX delivery, hand everything to this relay ("host" or "host:port").
    relay_username: str | None = None
    relay_password: SecretStr | None = None
    # starttls: required; opportunistic: when offered; implicit: TLS from the first byte.
    relay_tls: Literal["starttls", "opportunistic", "implicit", "none"] = "starttls"
    # The SMTP intake: Postfix hands every non-local message to it (loopback only).
    intake_port: int = Field(default=2590, ge=1, le=65535)
    # The bounce receiver in the same process: Postfix relays the bounce domain's mail
    # (VERP and SRS addresses only) to it (loopback only; docs/mail-plane.md).
    bounce_port: int = Field(default=2591, ge=1, le=65535)
    # Side-effect jobs (DNS publication and removal, ...; docs/architecture.md): the runner
    # in `mailplane up` and in each `mailplane worker` looks for due jobs this often.
    jobs_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    jobs_batch_size: int = Field(default=20, ge=1, le=1000)
    # Jobs of different subjects run side by side, so one slow DNS server holds no others.
    jobs_concurrency: int = Field(default=4, ge=1, le=64)
    # A claimed job whose runner died is taken over after this long; longer than any one
    # job takes (a DNS update waits at most a few dns_timeout_seconds).
    jobs_lease_seconds: float = Field(default=120.0, gt=0)
    # A transient failure (DNS server unreachable) retries with exponential backoff and
    # jitter, from the base up to the cap; after jobs_max_attempts the job has failed.
    jobs_retry_base_seconds: float = Field(default=5.0, gt=0)
    jobs_retry_max_seconds: float = Field(default=900.0, gt=0)
    jobs_max_attempts: int = Field(default=12, ge=1, le=1000)
    # Finished jobs (done or failed) are deleted this long after they finished: their
    # payloads may hold what a removal needed (records, a domain's DNS settings).
    jobs_keep_days: float = Field(default=7.0, gt=0)

    # Signed webhooks (webhooks/, docs/sending.md "Webhooks"): the dispatcher in each
    # `mailplane worker` fans events out and sends due webhook deliveries; idle, it looks
    # again this often (outcome commit to arrival aims at under a second).
    webhook_poll_seconds: float = Field(default=0.1, gt=0, le=60)
    webhook_batch_size: int = Field(default=200, ge=1, le=5000)
    # Requests in flight per dispatcher; one slow receiver holds only its own.
    webhook_concurrency: int = Field(default=32, ge=1, le=512)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A claimed webhook delivery whose dispatcher died is taken over after this long.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    # Retries (any answer but 2xx, or no answer): exponential backoff with jitter from the
    # base up to the cap; a delivery still failing this long after its event has failed.
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_age_seconds: float = Field(default=86400.0, gt=0)
    # An endpoint whose every attempt failed for this long is disabled (with a notice).
    webhook_disable_after_seconds: float = Field(default=3 * 86400.0, gt=0)
    # Endpoints on loopback, private, link-local or reserved addresses (SSRF towards the
    # platform's own network) are refused in production unless the operator allows them;
    # development and test always allow loopback.
    webhook_allow_private_targets: bool = False

    @field_validator("mail_hostname")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().rstrip(".").lower()

    @property
    def db_dir(self) -> Path:
        return self.state_dir / "db"

    @property
    def sqlite_path(self) -> Path:
        return self.db_dir / "mailplane.sqlite"

    @property
    def resolved_database_url(self) -> str:
        """The URL with its password: for the engine and the Postfix/Dovecot maps only."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    @property
    def shown_database_url(self) -> str:
        """The URL with any password replaced, for output and logs."""
        from sqlalchemy.engine import make_url

        return make_url(self.resolved_database_url).render_as_string(hide_password=True)

    @property
    def sending_ip_texts(self) -> list[str]:
        return [str(ip) for ip in self.sending_ips]

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def mail_root(self) -> Path:
        return self.state_dir / "mail"

    @property
    def tls_cert_path(self) -> Path:
        return self.tls_cert_file or self.state_dir / "tls" / "cert.pem"

    @property
    def tls_key_path(self) -> Path:
        return self.tls_key_file or self.state_dir / "tls" / "key.pem"

    @property
    def webmail_imap_address(self) -> tuple[str, int]:
        host = self.webmail_imap_host or self.mail_listen_address
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard listener: use loopback)
            host = "127.0.0.1"
        return host, self.imap_port

    @property
    def effective_bounce_domain(self) -> str:
        return (self.bounce_domain or self.mail_hostname).strip().rstrip(".").lower()

    @property
    def secret_file(self) -> Path:
        return self.state_dir / "secret_key"

    def effective_secret(self) -> str:
        """The signing secret: the environment wins, then the state directory's file."""
        if self.secret_key:
            return self.secret_key.get_secret_value()
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        return DEVELOPMENT_SECRET

    def check_production(self) -> None:
        """Refuse to run outside development with a secret anybody can read in the source."""
        if self.env == "development":
            return
        secret = self.effective_secret()
        if secret == DEVELOPMENT_SECRET or len(secret) < 32:
            raise RuntimeError(
                "refusing to start: MAILPLANE_ENV="
                f"{self.env} needs a real secret (run `mailplane init` or set "
                "MAILPLANE_SECRET_KEY to at least 32 random characters)"
            )


SECRET_FIELDS = frozenset(
    {"database_url", "secret_key", "rfc2136_key_secret", "lexicon_options", "relay_password"}
)


def settings_problem(error: ValidationError) -> str:
    """A ValidationError as lines an operator can act on: the variable, what is wrong, and
    the value given (never for a secret)."""
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        position = "".join(f"[{part}]" for part in item["loc"][1:])
        variable = f"MAILPLANE_{field.upper()}{position}"
        shown = "" if field in SECRET_FIELDS else f" (got {item.get('input')!r})"
        lines.append(f"invalid setting {variable}: {item['msg']}{shown}")
    return "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
