"""Can this machine run the mail plane? If not, say exactly what is missing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

POSTFIX_MASTER = Path("/usr/lib/postfix/sbin/master")
DOVECOT = Path("/usr/sbin/dovecot")

# Debian package -> a file it installs that the mail plane uses.
PACKAGES: dict[str, Path] = {
    "postfix": POSTFIX_MASTER,
    "postfix-sqlite": Path("/usr/lib/postfix/postfix-sqlite.so"),
    "postfix-pgsql": Path("/usr/lib/postfix/postfix-pgsql.so"),
    "dovecot-imapd": Path("/usr/lib/dovecot/imap"),
    "dovecot-lmtpd": Path("/usr/lib/dovecot/lmtp"),
    "dovecot-sqlite": Path("/usr/lib/dovecot/modules/auth/libdriver_sqlite.so"),
    "dovecot-pgsql": Path("/usr/lib/dovecot/modules/auth/libdriver_pgsql.so"),
}


@dataclass
class Readiness:
    missing_packages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing_packages and not self.problems

    def explain(self) -> str:
        lines = []
        if self.missing_packages:
            lines.append(
                "missing Debian packages; install them with: apt-get install "
                "--no-install-recommends " + " ".join(self.missing_packages)
            )
        lines.extend(self.problems)
        return "; ".join(lines)


def check() -> Readiness:
    readiness = Readiness()
    for package, path in PACKAGES.items():
        if not path.exists():
            readiness.missing_packages.append(package)
    if os.geteuid() != 0:
        readiness.problems.append(
            "Postfix and Dovecot need root to start (they drop privileges themselves); "
            "run `mailplane up` as root"
        )
    return readiness
