#!/usr/bin/env bash
# Issue #16 benchmarks on one broker (release binaries in target/release), loopback only:
#  - filtered pull: a 1 M backlog with a = seq mod 100, lite-pull consumers with SQL92
#    selectors of 1 %, 50 % and 100 % selectivity; scanned/s = 1 M / first-to-last receipt;
#  - timers: 1 M timer messages due 1..61 s after their send, a push consumer started first;
#    enqueue msg/s, and delivery lag (receipt minus TIMER_OUT_MS) percentiles.
#   benches/timer_filter_mqbench.sh
set -euo pipefail
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release"
W=$(mktemp -d /tmp/tfb.XXXX); export RMQ_LOG_DIR=-
trap 'kill $BR $NS 2>/dev/null || true; rm -rf $W' EXIT
$BIN/nameserver -port 19876 >$W/ns.log 2>&1 & NS=$!
for i in $(seq 100); do grep -q "boot success" $W/ns.log && break; sleep 0.1; done
$BIN/broker -port 20911 -nameserver 127.0.0.1:19876 -store $W/store >$W/b.log 2>&1 & BR=$!
for i in $(seq 100); do grep -q "boot success" $W/b.log && break; sleep 0.1; done
N="-n 127.0.0.1:19876"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
$BIN/mqbench $N produce -t FilterBench -m batch -b 32 -w 8 -c 1000000 --prop-mod 100 -q --json 2>/dev/null >/dev/null
for sel in "a < 1" "a < 50" "a >= 0"; do
  $BIN/mqbench $N consume -t FilterBench -g "g_$(echo $sel | tr -dc 'a-z0-9')" --client lite -w 4 --sql "$sel" --from first -d 60 --idle 3 -q --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print('filter', '$sel', 'received', r['received'], 'secs', round(r['duration_secs'],2), 'scanned/s', round(1e6/max(r['duration_secs'],1e-6)))"
done
# The topic first, so the consumer has its route before the first timer is due.
$BIN/mqbench $N produce -t TimerBench -m sync -c 1 --warmup 0 -q --json >/dev/null 2>&1
$BIN/mqbench $N consume -t TimerBench -g timer_cg --from first -c 1000001 -d 150 --idle 10 -q --json > $W/tc.json 2>/dev/null &
CONS=$!
sleep 5
$BIN/mqbench $N produce -t TimerBench -m async --in-flight 256 -c 1000000 --warmup 0 --deliver-spread-ms 60000 -q --json 2>/dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print('timer enqueue msg/s', round(r['tps']), 'callbacks', r['accounting']['callbacks_received'])"
wait $CONS || true
python3 -c "
import json; r=json.load(open('$W/tc.json'))
print('timer received', r['received'], 'stopped by', r['stopped_by'])
for k in ('timer_lag','store_to_receipt','born_to_receipt'):
    l=r.get(k) or {}
    print(k, {x: round(l.get(x,0)/1000,1) for x in ('p50_us','p90_us','p99_us','max_us')}, 'ms')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
