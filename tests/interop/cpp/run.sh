#!/usr/bin/env bash
# Interop test of the official C++ client (librocketmq.so, bundled in PyPI rocketmq 0.4.4 and
# driven through its ctypes wrapper) against a running nameserver and broker.
#
#   NAMESRV_ADDR=... BROKER_ADDR=... MQADMIN=target/debug/mqadmin tests/interop/cpp/run.sh
#
# tests/interop/run.sh calls it while its servers are up. It creates a venv (installing
# python3-venv with apt-get when the machine lacks it), installs rocketmq==0.4.4 into it, checks
# that the bundled librocketmq.so loads, and runs interop_cpp.py under a hard timeout. The last
# line is "interop-cpp: N passed, M failed"; the exit status is non-zero on any failure.
#
# Environment: INTEROP_CPP_TIMEOUT (seconds, default 240), INTEROP_VENV (default
# target/interop-venv, kept between runs), CARGO_TARGET_DIR honoured.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${INTEROP_VENV:-${CARGO_TARGET_DIR:-$ROOT/target}/interop-venv}"
TIMEOUT_S="${INTEROP_CPP_TIMEOUT:-240}"

log() { echo "interop-cpp: $*"; }

die() {
  log "FAILED: $*"
  log "0 passed, 1 failed"
  exit 1
}

: "${NAMESRV_ADDR:?NAMESRV_ADDR must name the nameserver}"
: "${BROKER_ADDR:?BROKER_ADDR must name the broker}"
: "${MQADMIN:?MQADMIN must name the mqadmin binary}"

# apt_install PKG...: installs packages when this machine can (root with apt-get, as in CI).
apt_install() {
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing $*"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

command -v python3 >/dev/null 2>&1 || apt_install python3 || die "python3 is not installed"

# 1. The venv (python3 -m venv needs ensurepip, which Debian ships in python3-venv).
if [ ! -x "$VENV/bin/python" ]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    PYVER=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install python3-venv || apt_install "python$PYVER-venv" || die "python3 -m venv failed and python3-venv could not be installed"
    python3 -m venv "$VENV" >/dev/null || die "python3 -m venv $VENV failed"
  fi
fi

# 2. rocketmq 0.4.4 (its wheel carries librocketmq.so; nothing is compiled).
INSTALLED=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("rocketmq"))' 2>/dev/null || true)
if [ "$INSTALLED" != "0.4.4" ]; then
  log "installing rocketmq==0.4.4 into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check rocketmq==0.4.4 || die "pip install rocketmq==0.4.4 failed"
fi
"$VENV/bin/python" -c 'import rocketmq.client' || die "the bundled librocketmq.so does not load"

# 3. The scenarios. The C++ client logs to ~/logs/rocketmq-cpp; keep that out of $HOME.
LOGHOME="$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-interop-cpp.XXXXXX")" || die "mktemp failed"
trap 'rm -rf "$LOGHOME"' EXIT
START=$(date +%s)
(cd "$HERE" && HOME="$LOGHOME" timeout --kill-after=5 "$TIMEOUT_S" "$VENV/bin/python" -u interop_cpp.py) 2>&1 | tee "$LOGHOME/out"
RC=${PIPESTATUS[0]}
if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
  log "FAILED: the scenarios did not finish within ${TIMEOUT_S}s"
  PASSED=$(grep -c '^ok - ' "$LOGHOME/out")
  FAILED=$(( $(grep -c '^not ok - ' "$LOGHOME/out") + 1 ))
  log "$PASSED passed, $FAILED failed"
  exit 1
fi
if ! grep -Eq '^interop-cpp: [0-9]+ passed, [0-9]+ failed$' "$LOGHOME/out"; then
  log "FAILED: python exited with $RC without a summary"
  log "0 passed, 1 failed"
  exit 1
fi
log "done in $(( $(date +%s) - START ))s"
exit "$RC"
