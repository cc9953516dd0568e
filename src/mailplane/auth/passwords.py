"""Password hashes.

Mailbox hashes are written in Dovecot's ``{SCHEME}hash`` form so that Dovecot verifies
them itself, straight from the SQL view, with mailplane not running. Dovecot checks
``{ARGON2ID}`` through libsodium, which only handles parallelism 1.
"""

from __future__ import annotations

import hmac

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from mailplane.config import Settings
from mailplane.errors import InvalidInput

ARGON2_PREFIX = "{ARGON2ID}"
BCRYPT_PREFIX = "{BLF-CRYPT}"


def _argon2(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=1,
        type=Type.ID,
    )


# bcrypt reads at most 72 bytes of a password; the bcrypt module refuses longer ones rather
# than silently ignoring the rest, and so does this API.
BCRYPT_MAX_BYTES = 72


def hash_password(password: str, settings: Settings) -> str:
    if settings.password_scheme == "BLF-CRYPT":  # noqa: S105
        if len(password.encode()) > BCRYPT_MAX_BYTES:
            raise InvalidInput(
                f"with BLF-CRYPT a password may have at most {BCRYPT_MAX_BYTES} bytes",
                code="password_too_long",
            )
        # The bcrypt module only writes $2b$ (it refuses prefix=b"2y"); $2y$ and $2b$ are the
        # same algorithm, and $2y$ is the form PHP tools and older libcrypts understand.
        # Dovecot (libxcrypt) and bcrypt.checkpw verify both.
        salt = bcrypt.gensalt(rounds=settings.bcrypt_rounds)
        hashed = bcrypt.hashpw(password.encode(), salt).decode()
        return BCRYPT_PREFIX + "$2y$" + hashed.removeprefix("$2b$")
    return ARGON2_PREFIX + _argon2(settings).hash(password)


def verify_password(stored: str, password: str, settings: Settings) -> bool:
    if stored.startswith(ARGON2_PREFIX):
        try:
            return _argon2(settings).verify(stored[len(ARGON2_PREFIX) :], password)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith(BCRYPT_PREFIX):
        try:
            return bcrypt.checkpw(password.encode(), stored[len(BCRYPT_PREFIX) :].encode())
        except ValueError:
            return False
    return False


# Spent on logins for unknown accounts, so that timing does not reveal which exist.
_DUMMY: dict[tuple[str, int, int], str] = {}


def burn_verification(settings: Settings) -> None:
    key = (settings.password_scheme, settings.argon2_memory_kib, settings.argon2_time_cost)
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("not-a-real-password", settings)
    verify_password(_DUMMY[key], "still-not-the-password", settings)


def constant_time_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
