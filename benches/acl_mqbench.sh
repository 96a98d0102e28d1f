#!/usr/bin/env bash
# ACL 1.0 cost: mqbench against a plain broker and, signed, against an ACL broker (one admin
# account), alternating; async 64 in flight and sync 64 threads, 6 s each, loopback only.
#   benches/acl_mqbench.sh ROUNDS   (release binaries in target/release)
set -euo pipefail
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release"
export RMQ_LOG_DIR=-
run() {
  local label=$1 W; W=$(mktemp -d /tmp/aclb.XXXX)
  cat > $W/plain_acl.yml <<'YML'
accounts:
  - accessKey: bench_admin
    secretKey: bench_secret_1
    admin: true
YML
  if [ $label = acl ]; then echo "(acl_enable: true, acl_file: Some(\"$W/plain_acl.yml\"))" > $W/b.ron; else echo "()" > $W/b.ron; fi
  $BIN/nameserver -port 19876 > $W/ns.log 2>&1 & local NS=$!
  for i in $(seq 100); do grep -q "boot success" $W/ns.log && break; sleep 0.1; done
  $BIN/broker -c $W/b.ron -port 20911 -nameserver 127.0.0.1:19876 -store $W/store > $W/b.log 2>&1 & local BR=$!
  for i in $(seq 100); do grep -q "boot success" $W/b.log && break; sleep 0.1; done
  local creds=""; [ $label = acl ] && creds="--access-key bench_admin --secret-key bench_secret_1"
  $BIN/mqbench -n 127.0.0.1:19876 $creds produce $2 -d 6 -q --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print('$label', '$3', round(r['tps']), r['latency']['p50_us'], r['accounting']['lost'])"
  kill $BR; wait $BR 2>/dev/null || true; kill $NS; wait $NS 2>/dev/null || true; rm -rf $W
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
for r in $(seq 1 $1); do
  for l in plain acl; do run $l "-m async --in-flight 64" async64; done
  for l in acl plain; do run $l "-m sync -w 64" sync64; done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
