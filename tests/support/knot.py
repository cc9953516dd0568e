"""A real authoritative DNS server for the tests: Knot from Debian's packages, on a free
loopback port, accepting RFC 2136 updates signed with a TSIG key.

Zones are added at run time with ``knotc`` (the zone file is written first: Knot loads a
new zone only from an existing file). Tests change zones with signed dynamic updates sent
by dnspython here, independently of mailplane's own publisher.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update

from tests.support.ports import free_port

KEY_NAME = "mailplane-test"


def _zone_string(text: str) -> str:
    """One quoted character-string: bytes outside printable ASCII (CR, a BOM, a NUL) as
    \\DDD escapes, so that records with them can be served as they are."""
    out = []
    for byte in text.encode():
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _txt(value: str | list[str]) -> str:
    """A list is published as those character-strings, a string cut every 255 characters."""
    if isinstance(value, list):
        chunks = value
    else:
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join(_zone_string(c) for c in chunks)


def rdata(rtype: str, value: str | list[str], priority: int | None = None) -> str:
    """A record value (as the API shows it) in zone-file form."""
    if rtype == "TXT":
        return _txt(value)
    assert isinstance(value, str)
    if rtype == "MX":
        return f"{priority if priority is not None else 10} {value}."
    if rtype == "CNAME":
        return f"{value}."
    if rtype == "SRV":
        *numbers, target = value.split()
        return " ".join([*numbers, target if target == "." else target + "."])
    return value


@dataclass
class Knot:
    root: Path
    port: int
    secret: str
    pid: int

    @property
    def conf(self) -> Path:
        return self.root / "knot.conf"

    def knotc(self, *args: str) -> str:
        result = subprocess.run(
            ["knotc", "-c", str(self.conf), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"knotc {' '.join(args)}: {result.stdout} {result.stderr}")
        return result.stdout

    def add_zone(self, zone: str, records: list[dict[str, Any]] | None = None) -> None:
        """Serve ``zone`` with SOA/NS and the given records (dicts shaped like the API's)."""
        lines = [
            f"$ORIGIN {zone}.",
            "$TTL 60",
            f"@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60",
            f"@ NS ns.{zone}.",
            "ns A 127.0.0.1",
        ]
        for record in records or []:
            value = rdata(record["type"], record["value"], record.get("priority"))
            lines.append(f"{record['name']}. 60 IN {record['type']} {value}")
        path = self.root / "zones" / f"{zone}.zone"
        path.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            shutil.chown(path, "knot", "knot")
        self.knotc("conf-begin")
        try:
            self.knotc("conf-set", f"zone[{zone}]")
        except RuntimeError:
            self.knotc("conf-abort")
            raise
        self.knotc("conf-commit")
        self.wait_for(zone, "SOA")

    def wait_for(self, name: str, rtype: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(name, rtype):
                return
            time.sleep(0.01)
        raise TimeoutError(f"Knot does not serve {rtype} {name}")

    def _keyring(self) -> Any:
        return dns.tsigkeyring.from_text({KEY_NAME: ("hmac-sha256", self.secret)})

    def update(
        self,
        zone: str,
        *,
        replace: list[tuple[str, str, list[str]]] = (),  # type: ignore[assignment]
        delete: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> None:
        """Signed RFC 2136 update: replace whole RRsets, delete RRsets. Values: zone-file form."""
        message = dns.update.UpdateMessage(
            zone, keyring=self._keyring(), keyname=dns.name.from_text(KEY_NAME)
        )
        for name, rtype in delete:
            message.delete(dns.name.from_text(name), rtype)
        for name, rtype, values in replace:
            owner = dns.name.from_text(name)
            message.delete(owner, rtype)
            for value in values:
                message.add(owner, 60, rtype, value)
        response = dns.query.tcp(message, "127.0.0.1", port=self.port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())

    def query(self, name: str, rtype: str) -> list[str]:
        """What Knot serves, as presentation text (TXT strings joined)."""
        response = dns.query.udp(
            dns.message.make_query(name, rtype), "127.0.0.1", port=self.port, timeout=5
        )
        values = []
        for rrset in response.answer:
            for item in rrset:
                if rtype == "TXT":
                    values.append(b"".join(item.strings).decode())
                else:
                    values.append(item.to_text())
        return values


CONFIG = """server:
    listen: 127.0.0.1@{port}
    rundir: {root}/run
    user: knot:knot
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
log:
  - target: {root}/knot.log
    any: info
database:
    storage: {root}/db
key:
  - id: {key_name}
    algorithm: hmac-sha256
    secret: {secret}
acl:
  - id: update
    key: {key_name}
    action: update
template:
  - id: default
    storage: {root}/zones
    file: "%s.zone"
    zonefile-sync: 0
    journal-content: changes
    semantic-checks: off
    acl: update
"""


@contextlib.contextmanager
def knot_server() -> Iterator[Knot]:
    if shutil.which("knotd") is None:
        raise RuntimeError("Knot is not installed (apt-get install knot knot-dnsutils)")
    root = Path(tempfile.mkdtemp(prefix="mp-knot-", dir="/tmp"))
    for sub in ("run", "db", "zones"):
        (root / sub).mkdir()
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    (root / "knot.conf").write_text(
        CONFIG.format(port=port, root=root, key_name=KEY_NAME, secret=secret)
    )
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            shutil.chown(path, "knot", "knot")
    # In the foreground, as our child: no PID file to race for, and it stops with us.
    process = subprocess.Popen(
        ["knotd", "-c", str(root / "knot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    knot = Knot(root=root, port=port, secret=secret, pid=process.pid)
    try:
        deadline = time.monotonic() + 10
        while True:  # the control socket comes up a moment after the start
            try:
                knot.knotc("status")
                break
            except RuntimeError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        yield knot
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
