// Header encode/decode cost per operation, JSON and ROCKETMQ binary, for a SEND_MESSAGE_V2
// request (14 ext fields, 128 B body) and a typical send response.
//
// Run: `cargo bench --bench net_codec`
//
// Shared by `cargo bench --bench net_codec` (root wrapper in benches/) and `cargo bench -p rocketmq-net --bench net_codec`.

use std::hint::black_box;
use std::time::Instant;

use rocketmq_net::{RemotingCommand, SerializeType};

const ITERS: u32 = 200_000;
const RUNS: usize = 7;

fn send_v2_request() -> RemotingCommand {
    let fields = [
        ("a", "please_rename_unique_group_name"),
        ("b", "BenchmarkTopic"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000123"),
        ("h", "0"),
        ("i", "UNIQ_KEY\u{1}7F0000010F4418B4AAC2836B7C6D0000\u{2}WAIT\u{1}true\u{2}"),
        ("j", "0"),
        ("k", "false"),
        ("l", "0"),
        ("m", "false"),
        ("n", "broker-a"),
    ];
    let mut cmd = RemotingCommand::request(310).with_body(vec![b'x'; 128]);
    for (k, v) in fields {
        cmd.ext_fields.insert(k, v);
    }
    cmd
}

fn send_response() -> RemotingCommand {
    let mut cmd = RemotingCommand::response(0, None)
        .with_ext("msgId", "7F0000010F4418B4AAC2836B7C6D0000")
        .with_ext("queueId", "3")
        .with_ext("queueOffset", "123456")
        .with_ext("MSG_REGION", "DefaultRegion")
        .with_ext("TRACE_ON", "true");
    cmd.opaque = 42;
    cmd
}

/// Median ns per call of `f` over `RUNS` runs of `ITERS` calls.
fn measure(mut f: impl FnMut()) -> f64 {
    for _ in 0..ITERS / 10 {
        f();
    }
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERS {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(ITERS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn bench(name: &str, cmd: &RemotingCommand, ser: SerializeType) {
    let mut out = Vec::with_capacity(1024);
    let encode = measure(|| {
        out.clear();
        black_box(cmd).encode(ser, &mut out);
        black_box(&out);
    });
    let frame = cmd.encode_to_vec(ser);
    let decode = measure(|| {
        let decoded = RemotingCommand::decode(black_box(&frame)).expect("decode");
        black_box(decoded);
    });
    let header = frame.len() - 8 - cmd.body.len();
    println!(
        "{name:<28} {:<8} header {header:>4} B   encode {encode:>7.1} ns/op   decode {decode:>7.1} ns/op",
        ser.name()
    );
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("net_codec: whole-frame encode (into a reused Vec) and decode, median of {RUNS} runs");
    let request = send_v2_request();
    let response = send_response();
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        bench("SEND_MESSAGE_V2 request", &request, ser);
        bench("send response", &response, ser);
    }
}
