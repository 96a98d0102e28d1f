//! Bad bytes close only the connection they arrive on; the server keeps serving others.

use std::io::Write;

use rocketmq_net::{NetError, RemotingCommand, ServerConfig};

use crate::support::*;

/// Frames that must each make the server close the connection.
fn poison_frames() -> Vec<(&'static str, Vec<u8>)> {
    let json_frame = |header: &[u8], type_byte: u8, header_len: u32| {
        let mut f = u32::try_from(4 + header.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&((u32::from(type_byte) << 24) | header_len).to_be_bytes());
        f.extend_from_slice(header);
        f
    };
    vec![
        ("negative length", vec![0x80, 0, 0, 0, 0, 0, 0, 0]),
        ("huge length", vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
        ("length below 4", vec![0, 0, 0, 1, 0]),
        ("bad json", json_frame(b"{\"code\":10,", 0, 11)),
        ("unknown serialize type", json_frame(b"{}", 7, 2)),
        ("header length past frame", json_frame(b"{}", 0, 900)),
        ("bad binary header", json_frame(b"\x00\x0a\x00", 1, 3)),
    ]
}

#[test]
fn each_poison_frame_closes_only_its_connection() {
    let server = echo_server(ServerConfig::default());
    let client = client();
    let good_addr = addr(&server);
    for (name, bytes) in poison_frames() {
        let mut bad = raw_connect(&server);
        bad.write_all(&bytes).unwrap();
        assert!(closed_by_server(&mut bad), "{name}: the server should close the connection");
        let resp = client.invoke_sync(&good_addr, echo_request(name), TIMEOUT).unwrap();
        assert_eq!(resp.body, name.as_bytes(), "{name}: other connections keep working");
    }
    server.shutdown();
}

#[test]
fn truncated_frame_then_hangup_does_not_disturb_others() {
    let server = echo_server(ServerConfig::default());
    let frame = echo_request("cut").encode_to_vec(rocketmq_net::SerializeType::Json);
    {
        let mut bad = raw_connect(&server);
        bad.write_all(&frame[..frame.len() / 2]).unwrap();
    }
    let client = client();
    let resp = client.invoke_sync(&addr(&server), echo_request("after"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"after");
}

#[test]
fn frame_over_the_configured_limit_closes_the_connection() {
    let config = ServerConfig { frame_max_bytes: 1024, ..ServerConfig::default() };
    let server = echo_server(config);
    let client = client();
    let big = RemotingCommand::request(ECHO).with_body(vec![1; 2000]);
    let err = client.invoke_sync(&addr(&server), big, TIMEOUT).unwrap_err();
    assert!(matches!(err, NetError::ConnectionClosed { .. }), "got {err:?}");
    // The client reconnects and a small frame goes through.
    let resp = client.invoke_sync(&addr(&server), echo_request("small"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"small");
}

#[test]
fn garbage_split_across_many_writes_is_detected() {
    let server = echo_server(ServerConfig::default());
    let mut bad = raw_connect(&server);
    let mut frame = echo_request("x").encode_to_vec(rocketmq_net::SerializeType::Json);
    frame[8] = b'['; // The JSON header no longer starts with '{'.
    for byte in &frame {
        bad.write_all(std::slice::from_ref(byte)).unwrap();
    }
    assert!(closed_by_server(&mut bad));
}
