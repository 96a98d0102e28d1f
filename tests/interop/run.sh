#!/usr/bin/env bash
# Interop test: the stock Node client ali-ons 3.12.0 and the official C++ client (PyPI rocketmq
# 0.4.4, tests/interop/cpp) against our nameserver and broker (and our Rust client against
# ali-ons when examples/interop_peer.rs exists).
#
#   tests/interop/run.sh            # from anywhere; .ci/run calls it after cargo test
#
# Builds the binaries if needed, installs ali-ons from package-lock.json (npm ci), starts a
# nameserver and a broker on free loopback ports with a temporary store, runs interop.js under a
# hard timeout, stops the servers on exit, and exits non-zero on any failure. The last line is
# "interop: N passed, M failed".
#
# Environment: INTEROP_TIMEOUT (seconds for the node scenarios, default 150), INTEROP_CPP=0 skips
# the C++ client (see tests/interop/cpp/run.sh for its own settings), INTEROP_KEEP=1 keeps
# the temp dir (logs, store), INTEROP_VERBOSE=1 echoes ali-ons warnings, CARGO_TARGET_DIR honoured.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
NODE_TIMEOUT="${INTEROP_TIMEOUT:-150}"
START=$(date +%s)

WORK=""
PIDS=()

log() { echo "interop: $*"; }

die() {
  log "FAILED: $*"
  log "0 passed, 1 failed"
  exit 1
}

stop_servers() {
  # Newest first: the broker unregisters from the nameserver while it is still up.
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "server pid $pid did not stop within 5s of SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  stop_servers
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${INTEROP_KEEP:-0}" = "1" ]; then
      log "kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
  local f
  for f in "$WORK"/nameserver.log "$WORK"/broker.log "$WORK"/acl-broker.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $(basename "$f")"
    tail -n 40 "$f"
  done
  if [ -f "$WORK/ali-ons.log" ]; then
    echo "---- ali-ons warnings/errors (last 30)"
    grep -E ' (WARN|ERROR) ' "$WORK/ali-ons.log" | tail -n 30
  fi
}

command -v node >/dev/null 2>&1 || die "node is not installed"
command -v npm >/dev/null 2>&1 || die "npm is not installed"

# 1. Binaries (a no-op when cargo test already built them).
log "building nameserver and broker"
(cd "$ROOT" && cargo build --bins --quiet) || die "cargo build --bins failed"
NAMESERVER_BIN="$TARGET_DIR/debug/nameserver"
BROKER_BIN="$TARGET_DIR/debug/broker"
[ -x "$NAMESERVER_BIN" ] || die "$NAMESERVER_BIN missing after cargo build"
[ -x "$BROKER_BIN" ] || die "$BROKER_BIN missing after cargo build"

RUST_PEER=""
if [ -f "$ROOT/examples/interop_peer.rs" ]; then
  log "building the Rust peer (examples/interop_peer.rs)"
  (cd "$ROOT" && cargo build --example interop_peer --quiet) || die "cargo build --example interop_peer failed"
  RUST_PEER="$TARGET_DIR/debug/examples/interop_peer"
fi

# 2. ali-ons from the lock file (offline when the npm cache has it).
log "installing ali-ons from package-lock.json"
(cd "$HERE" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null) || die "npm ci failed in tests/interop"
ALI_VERSION=$(cd "$HERE" && node -p "require('ali-ons/package.json').version") || die "ali-ons not installed"
[ "$ALI_VERSION" = "3.12.0" ] || die "expected ali-ons 3.12.0, npm installed $ALI_VERSION"

# 3. Free loopback ports (all sockets held open together, so they differ): a nameserver and a
# broker, and a second pair with ACL enabled.
read -r NS_PORT BROKER_PORT ACL_NS_PORT ACL_BROKER_PORT < <(node -e '
  const net = require("net");
  const servers = [0, 1, 2, 3].map(() => net.createServer());
  let listening = 0;
  for (const s of servers) {
    s.listen(0, "127.0.0.1", () => {
      if (++listening < servers.length) return;
      console.log(servers.map(x => x.address().port).join(" "));
      for (const x of servers) x.close();
    });
  }') || die "could not pick free ports"
[ -n "${NS_PORT:-}" ] && [ -n "${ACL_BROKER_PORT:-}" ] || die "could not pick free ports"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-interop.XXXXXX")" || die "mktemp failed"
mkdir -p "$WORK/store"

# wait_boot PID LOGFILE NAME: wait until LOGFILE says "boot success" or the process dies.
wait_boot() {
  local pid=$1 file=$2 name=$3
  for _ in $(seq 1 200); do
    if grep -q "boot success" "$file" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      show_logs
      die "$name exited before printing 'boot success'"
    fi
    sleep 0.1
  done
  show_logs
  die "$name did not print 'boot success' within 20s"
}

# 4. Servers.
export RUST_LOG="${RUST_LOG:-info}"
# Server logs go to stderr, which lands in $WORK beside the store, not in ~/logs/rocketmqlogs.
export RMQ_LOG_DIR=-
"$NAMESERVER_BIN" -port "$NS_PORT" -bind 127.0.0.1 >"$WORK/nameserver.log" 2>&1 &
PIDS+=($!)
wait_boot "${PIDS[0]}" "$WORK/nameserver.log" nameserver

"$BROKER_BIN" -port "$BROKER_PORT" -ip 127.0.0.1 -bind 127.0.0.1 \
  -nameserver "127.0.0.1:$NS_PORT" -store "$WORK/store" -name broker-a >"$WORK/broker.log" 2>&1 &
PIDS+=($!)
wait_boot "${PIDS[1]}" "$WORK/broker.log" broker
log "nameserver 127.0.0.1:$NS_PORT, broker 127.0.0.1:$BROKER_PORT, store $WORK/store"

# The ACL pair: its own nameserver, so the other scenarios' topics never route to it. Accounts:
# an admin (creates the topic) and an app account that may produce and consume AclInterop.
mkdir -p "$WORK/acl-store" "$WORK/acl-conf"
cat >"$WORK/acl-conf/plain_acl.yml" <<'YML'
globalWhiteRemoteAddresses:
accounts:
  - accessKey: interop_admin
    secretKey: interop_admin_secret
    admin: true
  - accessKey: interop_app
    secretKey: interop_app_secret
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclInterop=PUB|SUB
YML
echo "(acl_enable: true, acl_file: Some(\"$WORK/acl-conf/plain_acl.yml\"))" >"$WORK/acl-broker.ron"
"$NAMESERVER_BIN" -port "$ACL_NS_PORT" -bind 127.0.0.1 >"$WORK/acl-nameserver.log" 2>&1 &
PIDS+=($!)
wait_boot "${PIDS[2]}" "$WORK/acl-nameserver.log" "ACL nameserver"
"$BROKER_BIN" -c "$WORK/acl-broker.ron" -port "$ACL_BROKER_PORT" -ip 127.0.0.1 -bind 127.0.0.1 \
  -nameserver "127.0.0.1:$ACL_NS_PORT" -store "$WORK/acl-store" -name broker-acl >"$WORK/acl-broker.log" 2>&1 &
PIDS+=($!)
wait_boot "${PIDS[3]}" "$WORK/acl-broker.log" "ACL broker"
log "ACL nameserver 127.0.0.1:$ACL_NS_PORT, ACL broker 127.0.0.1:$ACL_BROKER_PORT"

# 5. Scenarios, under a hard timeout. Output is streamed and kept to recompute the summary.
(cd "$HERE" && NAMESRV_ADDR="127.0.0.1:$NS_PORT" BROKER_ADDR="127.0.0.1:$BROKER_PORT" \
  ACL_NAMESRV_ADDR="127.0.0.1:$ACL_NS_PORT" ACL_BROKER_ADDR="127.0.0.1:$ACL_BROKER_PORT" \
  INTEROP_RUST_PEER="$RUST_PEER" INTEROP_LOG="$WORK/ali-ons.log" \
  timeout --kill-after=5 "$NODE_TIMEOUT" node interop.js) | tee "$WORK/interop.out"
RC=${PIPESTATUS[0]}

SUMMARY=$(grep -E '^interop: [0-9]+ passed, [0-9]+ failed$' "$WORK/interop.out" | tail -n 1)
PASSED=$(echo "$SUMMARY" | sed -nE 's/^interop: ([0-9]+) passed.*/\1/p')
FAILED=$(echo "$SUMMARY" | sed -nE 's/.* ([0-9]+) failed$/\1/p')
PASSED=${PASSED:-0}
FAILED=${FAILED:-0}

if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
  log "FAILED: the scenarios did not finish within ${NODE_TIMEOUT}s"
  FAILED=$((FAILED + 1))
elif [ "$RC" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
  log "FAILED: node exited with $RC without reporting a failed scenario"
  FAILED=1
fi

# 6. The C++ client (tests/interop/cpp) against the same servers, on its own topics and groups.
if [ "${INTEROP_CPP:-1}" != "0" ]; then
  NAMESRV_ADDR="127.0.0.1:$NS_PORT" BROKER_ADDR="127.0.0.1:$BROKER_PORT" \
    MQADMIN="$TARGET_DIR/debug/mqadmin" "$HERE/cpp/run.sh" | tee "$WORK/interop-cpp.out"
  CPP_RC=${PIPESTATUS[0]}
  CPP_SUMMARY=$(grep -E '^interop-cpp: [0-9]+ passed, [0-9]+ failed$' "$WORK/interop-cpp.out" | tail -n 1)
  CPP_PASSED=$(echo "$CPP_SUMMARY" | sed -nE 's/^interop-cpp: ([0-9]+) passed.*/\1/p')
  CPP_FAILED=$(echo "$CPP_SUMMARY" | sed -nE 's/.* ([0-9]+) failed$/\1/p')
  PASSED=$((PASSED + ${CPP_PASSED:-0}))
  FAILED=$((FAILED + ${CPP_FAILED:-0}))
  if [ "$CPP_RC" -ne 0 ] && [ "${CPP_FAILED:-0}" -eq 0 ]; then
    FAILED=$((FAILED + 1))
  fi
fi

# The servers must still be alive: a crash during the run is a failure even if the clients coped.
I=0
for pid in "${PIDS[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    NAMES=(nameserver broker "ACL nameserver" "ACL broker")
    log "FAILED: the ${NAMES[$I]} (pid $pid) died during the run"
    FAILED=$((FAILED + 1))
  fi
  I=$((I + 1))
done

if [ "$FAILED" -ne 0 ]; then
  show_logs
  log "failed after $(( $(date +%s) - START ))s (server logs above; INTEROP_KEEP=1 keeps $WORK)"
  log "$PASSED passed, $FAILED failed"
  exit 1
fi
log "ok in $(( $(date +%s) - START ))s"
log "$PASSED passed, $FAILED failed"
