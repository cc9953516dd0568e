# Shared by scripts/start.sh and scripts/test.sh: install what is missing, nothing more.
# Debian packages with apt-get when run as root; Python packages into .venv.

MAILPLANE_PACKAGES="postfix postfix-sqlite postfix-pgsql dovecot-imapd dovecot-lmtpd \
dovecot-sqlite dovecot-pgsql dovecot-sieve python3-venv ca-certificates"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing_packages() {
  local missing=""
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $pkg"
  done
  printf '%s' "$missing"
}

install_debian_packages() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "not root: cannot install$missing (run as root, or: sudo apt-get install$missing)"
    return 0
  fi
  log "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not write /etc/postfix/main.cf or start a system instance.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # Debian's packages enable system services; mailplane runs its own instances.
  for svc in postfix dovecot knot postgresql; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
}

ensure_venv() {
  local extras="$1" python="${PYTHON:-python3}" stamp
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    "$python" -m venv .venv
  fi
  stamp=".venv/.mailplane-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -e "$stamp" ]; then
    log "installing Python packages ($extras)"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    if [ "$extras" = "dev" ]; then
      .venv/bin/pip install -q -e '.[dev]'
    else
      .venv/bin/pip install -q -e .
    fi
    touch "$stamp"
  fi
}
