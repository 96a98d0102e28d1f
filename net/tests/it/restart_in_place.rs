//! Restart in place (issue #23): a server binds its port again right after a stop while the
//! old connections linger (the listener sets SO_REUSEADDR, as mio's `TcpListener::bind` does on
//! Unix).

use std::net::SocketAddr;

use rocketmq_net::{SerializeType, ServerConfig};

use crate::support::*;

#[test]
fn a_server_rebinds_its_port_while_old_connections_linger() {
    let first = echo_server(ServerConfig::default());
    let port_addr: SocketAddr = first.local_addr();
    // Kept open and never read: after the stop its server side waits in FIN_WAIT2 and ours in
    // CLOSE_WAIT.
    let mut lingering = raw_connect(&first);
    raw_send(&mut lingering, &echo_request("old"), SerializeType::Json);
    assert_eq!(raw_read(&mut lingering).body, b"old");
    // Closed by us after the server's close: its server side goes to TIME_WAIT.
    let mut closed = raw_connect(&first);
    raw_send(&mut closed, &echo_request("old"), SerializeType::Json);
    assert_eq!(raw_read(&mut closed).body, b"old");
    first.shutdown();
    assert!(closed_by_server(&mut closed));
    drop(closed);

    let second = echo_server(ServerConfig::new(port_addr));
    assert_eq!(second.local_addr(), port_addr);
    let resp = client().invoke_sync(&addr(&second), echo_request("new"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"new");
    drop(lingering);
}
