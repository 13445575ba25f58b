#!/usr/bin/env bash
# Installs the Debian packages that the tests and benchmarks shell out to, only when missing.
# Checking binaries (not dpkg state) keeps the common case, everything present, instant.
set -euo pipefail

# binary → Debian package that ships it
declare -A PKG_OF=(
  [/usr/bin/curl]=curl
  [/usr/bin/openssl]=openssl
  [/usr/bin/promtool]=prometheus
  [/usr/sbin/nginx]=nginx
  [/usr/sbin/haproxy]=haproxy
  [/usr/bin/wrk]=wrk
  [/usr/bin/h2load]=nghttp2-client
  [/usr/bin/taskset]=util-linux
  [/usr/bin/valgrind]=valgrind
)

missing=()
for bin in "${!PKG_OF[@]}"; do
  [[ -x "$bin" ]] || missing+=("${PKG_OF[$bin]}")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all tools present (curl openssl promtool nginx haproxy wrk h2load taskset valgrind)"
  exit 0
fi
# Sorted and unique so the message is stable.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages: ${missing[*]} — run this script as root (or install them yourself)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg may be running (e.g. a background install). apt honours this for the dpkg
# frontend lock; the loop below also covers the lists lock that `apt-get update` takes.
APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300)
wait_for_apt_locks() {
  command -v fuser >/dev/null || return 0
  local deadline=$((SECONDS + 300))
  while fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "setup: apt/dpkg is still locked by another process after 300s; try again later" >&2
      exit 1
    fi
    echo "setup: waiting for another apt/dpkg to finish..."
    sleep 5
  done
}

# Tests and benchmarks start their own nginx/haproxy/prometheus on ephemeral ports, so the
# packages' system services must not start (they would grab :80 and stay running). A
# policy-rc.d that answers 101 ("action forbidden") is Debian's switch for that; we add one
# only for the duration of the install and only if the machine has none.
POLICY=/usr/sbin/policy-rc.d
added_policy=0
cleanup() { if ((added_policy)); then rm -f "$POLICY"; fi; }
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  added_policy=1
fi

echo "setup: installing ${missing[*]}"
wait_for_apt_locks
if ! apt-get update -q -o DPkg::Lock::Timeout=300; then
  echo "setup: apt-get update failed; cannot install ${missing[*]}" >&2
  exit 1
fi
wait_for_apt_locks
if ! apt-get install "${APT_OPTS[@]}" "${missing[@]}"; then
  echo "setup: apt-get install ${missing[*]} failed" >&2
  exit 1
fi

# On a systemd host the unit may still be enabled for the next boot (and started if the
# policy file was ignored): stop and disable the services of what we just installed.
if [[ -d /run/systemd/system ]]; then
  for pkg in "${missing[@]}"; do
    case "$pkg" in nginx | haproxy | prometheus)
      systemctl disable --now "$pkg" >/dev/null 2>&1 || true ;;
    esac
  done
fi

still=()
for bin in "${!PKG_OF[@]}"; do
  [[ -x "$bin" ]] || still+=("$bin")
done
if ((${#still[@]})); then
  echo "setup: installed packages but still missing: ${still[*]}" >&2
  exit 1
fi
echo "setup: done"
