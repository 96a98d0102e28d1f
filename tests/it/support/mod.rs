//! Shared helpers for integration tests: spawning the real `nameserver` and `broker` binaries on
//! free ports with temp stores, and typed request helpers over the blocking remoting client.
#![allow(dead_code)]

pub mod netns;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rocketmq::net::{ClientConfig, CommandHeader, RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::header::admin::CreateTopicRequestHeader;
use rocketmq::protocol::header::pull::{sys_flag, PullMessageRequestHeader};
use rocketmq::protocol::header::send::SendMessageRequestHeader;
use rocketmq::protocol::message::{decode_messages, format_properties, MessageExt};

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Polls `f` until it gives a value, failing the test after `timeout` (a deadline for a
/// condition, not a measurement).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `cond` until it holds, failing the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, timeout, || cond().then_some(()));
}

/// GET_ROUTEINFO_BY_TOPIC from nameserver `ns`: the route, or `None` when it has none.
pub fn route(
    c: &RemotingClient,
    ns: &str,
    topic: &str,
) -> Option<rocketmq::protocol::body::route::TopicRouteData> {
    let h = rocketmq::protocol::header::namesrv::GetRouteInfoRequestHeader {
        topic: topic.into(),
        accept_standard_json_only: None,
    };
    let cmd = RemotingCommand::request(RequestCode::GetRouteInfoByTopic.to_i32()).with_header(&h);
    let r = call(c, ns, cmd);
    (r.code == 0).then(|| rocketmq::protocol::body::from_json(&r.body).expect("route body"))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// A spawned server process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub addr: String,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    /// SIGKILL and wait.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `bin` with `args` and waits for its `boot success` line; `addr` is where it listens.
pub fn spawn(bin: &str, args: &[String], addr: String) -> Proc {
    spawn_with_env(bin, args, addr, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with_env(bin: &str, args: &[String], addr: String, env: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        // Logs on the test's stderr, not in ~/logs/rocketmqlogs.
        .env("RMQ_LOG_DIR", "-")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {bin}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("boot success") => break,
            Ok(_) => continue,
            Err(_) => panic!("{bin} {args:?} did not print 'boot success'"),
        }
    }
    Proc { child, addr, lines: rx }
}

/// Starts a nameserver on a free port.
pub fn nameserver() -> Proc {
    let port = free_port();
    let args = vec!["-port".to_string(), port.to_string(), "-bind".into(), "127.0.0.1".into()];
    spawn(env!("CARGO_BIN_EXE_nameserver"), &args, format!("127.0.0.1:{port}"))
}

/// Config every test broker gets: small commitlog segments, so that parallel tests do not each
/// allocate and pre-touch a 1 GiB segment.
pub const TEST_BROKER_CONF: &str = "commitlog_file_size_bytes: 16777216, ";

/// Starts a broker on `port` with its store in `store`, registering with `namesrv`. `conf` holds
/// extra RON fields (e.g. `max_message_size_bytes: 1024, `).
pub fn broker_with(
    port: u16,
    namesrv: &str,
    store: &Path,
    name: &str,
    conf: &str,
    extra: &[&str],
) -> Proc {
    std::fs::create_dir_all(store).unwrap();
    let conf_path = store.join("test-broker.ron");
    std::fs::write(&conf_path, format!("({TEST_BROKER_CONF}{conf})")).unwrap();
    let mut args: Vec<String> = vec!["-c".into(), conf_path.to_str().unwrap().into()];
    args.extend(
        [
            "-port",
            &port.to_string(),
            "-ip",
            "127.0.0.1",
            "-bind",
            "127.0.0.1",
            "-nameserver",
            namesrv,
            "-store",
            store.to_str().unwrap(),
            "-name",
            name,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    spawn(env!("CARGO_BIN_EXE_broker"), &args, format!("127.0.0.1:{port}"))
}

/// Starts a broker on `port` with the test config.
pub fn broker_on(port: u16, namesrv: &str, store: &Path, name: &str, extra: &[&str]) -> Proc {
    broker_with(port, namesrv, store, name, "", extra)
}

/// Starts a broker on a free port.
pub fn broker(namesrv: &str, store: &Path, extra: &[&str]) -> Proc {
    broker_on(free_port(), namesrv, store, "broker-a", extra)
}

pub fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default())
}

pub fn call(c: &RemotingClient, addr: &str, cmd: RemotingCommand) -> RemotingCommand {
    c.invoke_sync(addr, cmd, TIMEOUT).unwrap_or_else(|e| panic!("request to {addr} failed: {e}"))
}

pub fn create_topic(c: &RemotingClient, broker: &str, topic: &str, queues: i32) {
    let h = CreateTopicRequestHeader {
        topic: topic.into(),
        default_topic: Some("TBW102".into()),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: Some("SINGLE_TAG".into()),
        topic_sys_flag: Some(0),
        order: Some(false),
        attributes: None,
    };
    let r = call(
        c,
        broker,
        RemotingCommand::request(RequestCode::UpdateAndCreateTopic.to_i32()).with_header(&h),
    );
    assert_eq!(r.code, 0, "create topic: {:?}", r.remark);
}

pub fn send_header(topic: &str, queue_id: i32, props: &[(&str, &str)]) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "test_pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(format_properties(props.iter().copied())),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: None,
    }
}

/// SEND_MESSAGE_V2 of one message; returns the response.
pub fn send_v2(
    c: &RemotingClient,
    broker: &str,
    topic: &str,
    queue: i32,
    body: &[u8],
    props: &[(&str, &str)],
) -> RemotingCommand {
    let mut cmd =
        RemotingCommand::request(RequestCode::SendMessageV2.to_i32()).with_body(body.to_vec());
    cmd.ext_fields = send_header(topic, queue, props).to_v2();
    call(c, broker, cmd)
}

pub fn pull_header(
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
    suspend_ms: i64,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: queue,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: sys_flag::SUBSCRIPTION | if suspend_ms > 0 { sys_flag::SUSPEND } else { 0 },
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    }
}

/// One pull; returns (code, next offset, messages).
pub fn pull(
    c: &RemotingClient,
    broker: &str,
    h: &PullMessageRequestHeader,
    timeout: Duration,
) -> (i32, i64, Vec<MessageExt>) {
    let cmd = RemotingCommand::request(RequestCode::PullMessage.to_i32()).with_header(h);
    let r = c.invoke_sync(broker, cmd, timeout).expect("pull failed");
    let resp: rocketmq::protocol::header::pull::PullMessageResponseHeader =
        CommandHeader::from_ext_fields(&r.ext_fields).expect("pull response header");
    let msgs =
        if r.code == 0 { decode_messages(&r.body).expect("decode pull body") } else { Vec::new() };
    (r.code, resp.next_begin_offset, msgs)
}

/// Pulls everything from `offset` until PULL_NOT_FOUND.
pub fn pull_all(
    c: &RemotingClient,
    broker: &str,
    group: &str,
    topic: &str,
    queue: i32,
    mut offset: i64,
) -> Vec<MessageExt> {
    let mut out = Vec::new();
    loop {
        let (code, next, msgs) =
            pull(c, broker, &pull_header(group, topic, queue, offset, 0), TIMEOUT);
        match code {
            0 => {
                out.extend(msgs);
                offset = next;
            }
            19 => return out,
            20 => offset = next,
            other => panic!("pull returned code {other}"),
        }
    }
}

/// Pulls from `offset` until `n` messages arrived (dispatch runs slightly behind acknowledged
/// sends), failing after 10 s.
pub fn pull_n(
    c: &RemotingClient,
    broker: &str,
    group: &str,
    topic: &str,
    queue: i32,
    offset: i64,
    n: usize,
) -> Vec<MessageExt> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut next = offset;
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} messages arrived", out.len());
        let got = pull_all(c, broker, group, topic, queue, next);
        if let Some(last) = got.last() {
            next = last.queue_offset + 1;
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
        out.extend(got);
    }
    out
}
