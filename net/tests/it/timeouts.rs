//! Timeouts that count whole frames, not bytes (issue #23): a connection that sends no frame,
//! or drips a frame a byte at a time, is closed; one that sends whole frames stays open.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rocketmq_net::{SerializeType, ServerConfig};

use crate::support::*;

/// Short handshake and frame timeouts, and an idle timeout the tests never reach.
fn strict() -> ServerConfig {
    ServerConfig {
        handshake_timeout_ms: 500,
        frame_timeout_ms: 500,
        idle_timeout_ms: 600_000,
        ..ServerConfig::default()
    }
}

/// Writes the first bytes of a large frame one byte every 20 ms (a slowloris) until `stop` is
/// set or the write fails; it would take minutes to finish the frame.
fn drip(mut stream: TcpStream, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let frame = echo_request(&"x".repeat(8000)).encode_to_vec(SerializeType::Json);
    thread::spawn(move || {
        for byte in frame {
            if stop.load(Ordering::Relaxed) || stream.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    })
}

/// Drips bytes on `raw` and checks that the server closes it (within the read timeout, long
/// before the frame could be complete).
fn assert_drip_is_cut_off(mut raw: TcpStream) {
    let stop = Arc::new(AtomicBool::new(false));
    let dripper = drip(raw.try_clone().unwrap(), Arc::clone(&stop));
    let closed = closed_by_server(&mut raw);
    stop.store(true, Ordering::Relaxed);
    dripper.join().unwrap();
    assert!(closed, "a byte every 20 ms kept the connection open");
}

#[test]
fn a_connection_that_sends_nothing_is_closed_at_the_handshake_timeout() {
    let server = echo_server(strict());
    let mut raw = raw_connect(&server);
    assert!(closed_by_server(&mut raw));
}

#[test]
fn a_first_frame_dripped_a_byte_at_a_time_is_cut_off() {
    let server = echo_server(strict());
    assert_drip_is_cut_off(raw_connect(&server));
    let resp = client().invoke_sync(&addr(&server), echo_request("ok"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"ok", "others are still served");
}

#[test]
fn a_later_frame_dripped_a_byte_at_a_time_is_cut_off() {
    let server = echo_server(strict());
    let mut raw = raw_connect(&server);
    raw_send(&mut raw, &echo_request("first"), SerializeType::Json);
    assert_eq!(raw_read(&mut raw).body, b"first");
    assert_drip_is_cut_off(raw);
}

#[test]
fn whole_frames_keep_a_connection_open_past_every_timeout() {
    let config = ServerConfig { idle_timeout_ms: 500, ..strict() };
    let server = echo_server(config);
    let mut raw = raw_connect(&server);
    // Four times the timeouts, a whole frame every 25 ms.
    for i in 0..80 {
        let text = i.to_string();
        raw_send(&mut raw, &echo_request(&text), SerializeType::Json);
        assert_eq!(raw_read(&mut raw).body, text.as_bytes(), "request {i} answered");
        thread::sleep(Duration::from_millis(25));
    }
}
