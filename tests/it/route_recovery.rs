//! Restart in place and fast route recovery with the real binaries (issue #23): a nameserver
//! restarted on its port right after a stop binds it again while the old connections linger,
//! and has the broker's routes back within seconds instead of at the broker's next 30 s
//! registration.

use crate::support;

use std::time::Duration;

use support::*;

#[test]
fn a_nameserver_restarted_on_its_port_has_the_routes_back_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let mut ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "RECOVER", 1);
    wait_for("the route", Duration::from_secs(10), || route(&c, &ns.addr, "RECOVER"));
    assert!(ns.terminate().success());

    // At once on the same port, while the old server's connections (the broker's, ours) are
    // still in FIN_WAIT2 or TIME_WAIT. `spawn` fails the test unless it boots.
    let port = ns.addr.rsplit(':').next().unwrap().to_owned();
    let args = vec!["-port".to_string(), port, "-bind".into(), "127.0.0.1".into()];
    let again = spawn(env!("CARGO_BIN_EXE_nameserver"), &args, ns.addr.clone());
    // The broker registers every 30 s; a lost nameserver is retried every second.
    let fresh = client();
    let r = wait_for("the route after the restart", Duration::from_secs(5), || {
        route(&fresh, &again.addr, "RECOVER")
    });
    assert_eq!(r.broker_datas[0].master_addr(), Some(b.addr.as_str()));
}

#[test]
fn a_broker_started_before_its_nameserver_is_routed_within_seconds_of_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let ns_addr = format!("127.0.0.1:{}", free_port());
    let b = broker(&ns_addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "EARLY", 1);
    let port = ns_addr.rsplit(':').next().unwrap().to_owned();
    let args = vec!["-port".to_string(), port, "-bind".into(), "127.0.0.1".into()];
    let ns = spawn(env!("CARGO_BIN_EXE_nameserver"), &args, ns_addr);
    let r = wait_for("the route", Duration::from_secs(5), || route(&c, &ns.addr, "EARLY"));
    assert_eq!(r.broker_datas[0].master_addr(), Some(b.addr.as_str()));
}
