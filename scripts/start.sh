#!/usr/bin/env bash
# Start the whole platform: the API, Postfix and Dovecot (SQLite by default, high
# loopback ports). Installs what is missing first. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# shellcheck disable=SC2086
install_debian_packages $MAILPLANE_PACKAGES
ensure_venv runtime
.venv/bin/mailplane init
exec .venv/bin/mailplane up
