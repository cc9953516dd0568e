#!/usr/bin/env bash
# Run the whole test suite: lint, types, then pytest on SQLite and on PostgreSQL.
# Every server the tests need (PostgreSQL, Postfix, Dovecot, Knot) is installed here if
# missing and started by the tests themselves on free loopback ports.
# Extra arguments go to pytest, e.g. scripts/test.sh -k aliases -x
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# shellcheck disable=SC2086
install_debian_packages $MAILPLANE_PACKAGES postgresql knot knot-dnsutils swaks \
  libnet-ssleay-perl libio-socket-ssl-perl
ensure_venv dev

log "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
log "mypy --strict"
.venv/bin/mypy
log "pytest on SQLite"
.venv/bin/pytest --db sqlite --durations=10 "$@"
log "pytest on PostgreSQL"
.venv/bin/pytest --db postgresql --durations=10 "$@"
log "all passed"
