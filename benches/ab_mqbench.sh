#!/usr/bin/env bash
# A/B send benchmark: the same mqbench cases against two builds, interleaved round by round so
# both see the same machine state. Each build's own nameserver, broker and mqbench are used, on
# loopback, with a fresh store per case.
#
#   benches/ab_mqbench.sh BASE_BIN_DIR NEW_BIN_DIR [ROUNDS] [SECONDS]
#
# BASE_BIN_DIR and NEW_BIN_DIR hold release binaries (nameserver, broker, mqbench), e.g. a
# worktree of the baseline commit's target/release and this tree's. Prints one line per run:
#   round build case tps p50_us lost
# and at the end the median TPS and p50 of each case and build, and NEW/BASE ratios.
# Bounded: ROUNDS x cases x SECONDS of load, loopback only. AB_CASES="async256 batch32x16" runs
# only the named cases.
set -euo pipefail

BASE=$1
NEW=$2
ROUNDS=${3:-3}
SECS=${4:-6}
PORT_NS=19876
PORT_BROKER=20911
WORK=$(mktemp -d /tmp/ab-mqbench.XXXXXX)
RESULTS="$WORK/results.tsv"
PIDS=()
# Server logs on stderr (into $WORK), not in ~/logs/rocketmqlogs.
export RMQ_LOG_DIR=-

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

CASES=(
  "sync1|-m sync -w 1"
  "sync64|-m sync -w 64"
  "async256|-m async --in-flight 256"
  "async4x64|-m async -w 4 --producers 4 --in-flight 64"
  "batch32x16|-m batch -b 32 -w 16"
)

# wait_for_line FILE TEXT: waits up to 20 s for TEXT to appear in FILE.
wait_for_line() {
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2
  cat "$1" >&2
  return 1
}

start_servers() {
  local bin=$1 store=$2
  "$bin/nameserver" -port "$PORT_NS" >"$WORK/ns.log" 2>&1 &
  PIDS+=($!)
  wait_for_line "$WORK/ns.log" "boot success"
  "$bin/broker" -port "$PORT_BROKER" -nameserver "127.0.0.1:$PORT_NS" -store "$store" \
    >"$WORK/broker.log" 2>&1 &
  PIDS+=($!)
  wait_for_line "$WORK/broker.log" "boot success"
}

stop_servers() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  PIDS=()
}

run_case() {
  local round=$1 label=$2 bin=$3 name=$4 args=$5
  local store="$WORK/store-$label-$name-$round"
  start_servers "$bin" "$store"
  # shellcheck disable=SC2086
  "$bin/mqbench" -n "127.0.0.1:$PORT_NS" produce $args -d "$SECS" -q --json >"$WORK/out.json"
  stop_servers
  rm -rf "$store"
  python3 - "$round" "$label" "$name" "$WORK/out.json" <<'EOF' | tee -a "$RESULTS"
import json, sys
round_, label, name, path = sys.argv[1:5]
r = json.load(open(path))
print(f"{round_}\t{label}\t{name}\t{r['tps']:.0f}\t{r['latency']['p50_us']:.1f}\t{r['accounting']['lost']}")
EOF
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(date -u +%FT%TZ)"
for round in $(seq 1 "$ROUNDS"); do
  for case in "${CASES[@]}"; do
    name=${case%%|*}
    args=${case#*|}
    if [ -n "${AB_CASES:-}" ] && [[ " $AB_CASES " != *" $name "* ]]; then continue; fi
    # Alternate which build goes first so neither always meets a warmer machine.
    if ((round % 2)); then order="base new"; else order="new base"; fi
    for label in $order; do
      if [ "$label" = base ]; then bin=$BASE; else bin=$NEW; fi
      run_case "$round" "$label" "$bin" "$name" "$args"
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
cases = []
for r in rows:
    if r[2] not in cases:
        cases.append(r[2])
print("case\tbase tps\tnew tps\tnew/base\tbase p50\tnew p50\tlost")
for c in cases:
    def med(label, col):
        return statistics.median(float(r[col]) for r in rows if r[2] == c and r[1] == label)
    lost = sum(int(r[5]) for r in rows if r[2] == c)
    bt, nt = med("base", 3), med("new", 3)
    print(f"{c}\t{bt:.0f}\t{nt:.0f}\t{nt / bt:.3f}\t{med('base', 4):.1f}\t{med('new', 4):.1f}\t{lost}")
EOF
