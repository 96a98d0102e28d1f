//! Connection floods (issue #23): the per-address cap refuses one client's excess connections
//! while other addresses are served, refusals are counted by address, and the connection table
//! and buffers return to their baseline once a flood is gone.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use rocketmq_net::{SerializeType, Server, ServerConfig};

use crate::support::*;

const FLOOD_DEADLINE: Duration = Duration::from_secs(20);

/// Opens `n` raw connections to `server` from 127.0.0.1.
fn open(server: &Server, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(server.local_addr()).expect("connect")).collect()
}

/// One echo round trip on a raw socket.
fn served(stream: &mut TcpStream, text: &str) -> bool {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw_send(stream, &echo_request(text), SerializeType::Json);
    raw_read(stream).body == text.as_bytes()
}

#[test]
fn one_address_over_its_limit_is_refused_while_another_address_is_served() {
    let config = ServerConfig {
        connections_per_address_max: 1000,
        // The flood's connections send nothing; keep them past the test's own length.
        handshake_timeout_ms: 120_000,
        ..ServerConfig::default()
    };
    let server = echo_server(config);
    let flood = open(&server, 1100);
    wait_until("100 refusals and 1000 open", FLOOD_DEADLINE, || {
        server.refused_connections_total() == 100 && server.stats().connections == 1000
    });
    let localhost = IpAddr::from(Ipv4Addr::LOCALHOST);
    assert_eq!(server.refused_connections(), vec![(localhost, 100)]);
    wait_until("the refused sockets see their close", FLOOD_DEADLINE, || {
        flood.iter().filter(|s| closed_now(s)).count() >= 100
    });
    let (closed, mut open_ones): (Vec<TcpStream>, Vec<TcpStream>) =
        flood.into_iter().partition(closed_now);
    assert_eq!((closed.len(), open_ones.len()), (100, 1000), "exactly the excess is refused");

    // Another client address is served, and so is a connection the cap admitted.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 2), server.local_addr());
    assert!(served(&mut other, "from 127.0.0.2"));
    assert!(served(&mut open_ones[0], "admitted"));
    assert_eq!(server.refused_connections_total(), 100);

    // A closed connection frees its place under the cap.
    drop(open_ones.pop());
    wait_until("the close is seen", FLOOD_DEADLINE, || server.stats().connections == 1000);
    let mut again = TcpStream::connect(server.local_addr()).unwrap();
    assert!(served(&mut again, "again"));
    assert_eq!(server.refused_connections_total(), 100, "nothing more was refused");
}

#[test]
fn buffers_and_the_connection_table_return_to_baseline_after_a_flood() {
    let config = ServerConfig {
        connections_per_address_max: 10_000,
        handshake_timeout_ms: 120_000,
        ..ServerConfig::default()
    };
    let server = echo_server(config);
    let baseline = server.stats();
    assert_eq!((baseline.connections, baseline.buffer_bytes), (0, 0));
    let mut flood = open(&server, 2000);
    for (i, stream) in flood.iter_mut().enumerate() {
        assert!(served(stream, &i.to_string()), "connection {i} is served");
    }
    wait_until("2000 open", FLOOD_DEADLINE, || server.stats().connections == 2000);
    assert!(server.stats().connection_table_capacity >= 2000);
    // Connections that have gone quiet give their buffers back while still open.
    wait_until("idle buffers released", FLOOD_DEADLINE, || {
        let stats = server.stats();
        stats.connections == 2000 && stats.buffer_bytes == 0
    });
    drop(flood);
    wait_until("the table back to its baseline", FLOOD_DEADLINE, || {
        let stats = server.stats();
        stats.connections == 0 && stats.buffer_bytes == 0 && stats.connection_table_capacity <= 128
    });
    // And the server is as usable as before.
    let mut after = TcpStream::connect(server.local_addr()).unwrap();
    assert!(served(&mut after, "after the flood"));
}
