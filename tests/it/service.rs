//! Readiness for service managers (issue #21): with `$NOTIFY_SOCKET` set, as systemd sets it
//! for a `Type=notify` unit, each server sends `READY=1` once its port accepts requests and
//! `STOPPING=1` when SIGTERM starts a graceful stop.

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::support::{self, free_port};

fn recv_state(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("no notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn check_server(bin: &str, args: Vec<String>, port: u16) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let addr = format!("127.0.0.1:{port}");
    let mut proc = support::spawn_with_env(
        bin,
        &args,
        addr.clone(),
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    assert_eq!(recv_state(&socket), "READY=1");
    // READY=1 promises that the port accepts: connecting now must work at once.
    TcpStream::connect(&addr).expect("READY=1 was sent before the port accepted");
    assert!(proc.terminate().success());
    assert_eq!(recv_state(&socket), "STOPPING=1");
}

#[test]
fn nameserver_and_broker_notify_ready_and_stopping() {
    let ns_port = free_port();
    let ns_args = vec!["-port".into(), ns_port.to_string(), "-bind".into(), "127.0.0.1".into()];
    check_server(env!("CARGO_BIN_EXE_nameserver"), ns_args, ns_port);

    let store = tempfile::tempdir().unwrap();
    let conf = store.path().join("b.ron");
    std::fs::write(&conf, format!("({})", support::TEST_BROKER_CONF)).unwrap();
    let port = free_port();
    let args = vec![
        "-c".into(),
        conf.display().to_string(),
        "-port".into(),
        port.to_string(),
        "-bind".into(),
        "127.0.0.1".into(),
        "-ip".into(),
        "127.0.0.1".into(),
        "-store".into(),
        store.path().join("store").display().to_string(),
    ];
    check_server(env!("CARGO_BIN_EXE_broker"), args, port);
}

/// `broker -check live|ready` (issue #21): the health check scripts and load balancers use.
#[test]
fn broker_check_reports_live_and_ready() {
    let ns = support::nameserver();
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let args = |kind: &'static str| {
        let port = port.to_string();
        let store = store.path().display().to_string();
        let ns = ns.addr.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_broker"))
                .env("RMQ_LOG_DIR", "-")
                .args(["-check", kind, "-port", &port, "-ip", "127.0.0.1", "-nameserver", &ns])
                .args(["-store", &store])
                .output()
                .unwrap()
        }
    };
    let out = args("live")();
    assert_eq!(out.status.code(), Some(1), "live before the broker started: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not answer"), "{out:?}");

    let _broker = support::broker_on(port, &ns.addr, store.path(), "broker-a", &[]);
    let out = args("live")();
    assert!(out.status.success(), "{out:?}");
    let out = args("ready")();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ready:"), "{out:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_broker"))
        .args(["-check", "maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
