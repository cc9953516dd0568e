"""XOAUTH2/OAUTHBEARER for Dovecot on PostgreSQL: a checkpassword program that asks the
API's RFC 7662 introspection endpoint, in place of Dovecot's oauth2 passdb.

Why: Dovecot 2.3's auth process panics at start when it has both a pgsql connection and
the oauth2 passdb's HTTP client (the pgsql driver switches ioloops while it waits for its
first connection, and the HTTP client context asserts; dovecot/core#200, seen with
Debian 12's 2.3.19.1). No order of the passdbs avoids it: the oauth2 passdb makes its HTTP
client at preinit. A checkpassword passdb runs a program per login instead, so the auth
process never holds an HTTP client.

The program is this module's ``PROGRAM``, written next to Dovecot's configuration (0750
root:dovecot) and run by Dovecot with the standard library only (``python3 -I -S``): it
reads the introspection URL (with Dovecot's client credentials) from the 0640 file
beside it, never from its arguments or environment, which other local users can see.
"""

from __future__ import annotations

import sys

# Dovecot's checkpassword protocol: "user\0password\0..." on fd 3; on success the reply
# ("user=...\t") on fd 4 and exit 0; exit 1 = wrong credentials, 111 = temporary failure.
PROGRAM = r"""#!{python} -IS
import base64, json, os, sys, urllib.error, urllib.parse, urllib.request

CONFIG = {config!r}
TIMEOUT = 10


def url_and_auth():
    with open(CONFIG, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition("=")
            if key.strip() == "introspection_url":
                parts = urllib.parse.urlsplit(value.strip())
                netloc = parts.hostname or ""
                if ":" in netloc:
                    netloc = "[" + netloc + "]"
                if parts.port:
                    netloc += ":" + str(parts.port)
                url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
                user = urllib.parse.unquote(parts.username or "")
                secret = urllib.parse.unquote(parts.password or "")
                basic = base64.b64encode((user + ":" + secret).encode()).decode()
                return url, basic
    raise SystemExit(111)


def main():
    with os.fdopen(3, "rb") as handle:
        data = handle.read(64 * 1024)
    fields = data.split(b"\0")
    if len(fields) < 2:
        return 111
    user = fields[0].decode("utf-8", "replace")
    token = fields[1].decode("utf-8", "replace")
    if not user or not token:
        return 1
    url, basic = url_and_auth()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode({{"token": token}}).encode(),
        headers={{
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer = json.loads(response.read(64 * 1024))
    except (urllib.error.URLError, OSError, ValueError):
        return 111  # the API is down: a temporary failure, not a wrong token
    if not isinstance(answer, dict) or answer.get("active") is not True:
        return 1
    username = answer.get("username")
    # The token must be this user's: a token of mailbox A does not open mailbox B.
    if not isinstance(username, str) or username.lower() != user.lower():
        return 1
    # The reply, written here rather than by Dovecot's checkpassword-reply, which would add
    # this process's uid as userdb_uid and so override mail_uid (the mail is vmail's).
    if "\t" in username or "\n" in username:
        return 1
    os.write(4, ("user=" + username + "\t").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""


def program(config_path: str, python: str = "/usr/bin/python3") -> str:
    return PROGRAM.format(python=python, config=config_path)


if __name__ == "__main__":  # pragma: no cover - a manual check: print the program
    sys.stdout.write(program(sys.argv[1] if len(sys.argv) > 1 else "/dev/null"))
