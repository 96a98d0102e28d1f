//! Server-initiated requests: the broker calls a connected client (CHECK_TRANSACTION_STATE,
//! NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use parking_lot::Mutex;
use rocketmq_net::{
    request_code, Connection, NetError, RemotingCommand, RequestContext, ResponseCode,
    ServerBuilder, ServerConfig,
};

use crate::support::*;

/// A server that remembers the connection of the last HEART_BEAT.
fn heartbeat_server() -> (rocketmq_net::Server, Arc<Mutex<Option<Connection>>>) {
    let seen: Arc<Mutex<Option<Connection>>> = Arc::default();
    let slot = Arc::clone(&seen);
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("client-manage", 1, 16);
    builder.register(
        request_code::HEART_BEAT,
        pool,
        Arc::new(move |ctx: &RequestContext, _req: RemotingCommand| {
            *slot.lock() = Some(ctx.conn().clone());
            Some(RemotingCommand::response(0, None))
        }),
    );
    (builder.start().unwrap(), seen)
}

#[test]
fn server_invokes_the_client_and_gets_its_answer() {
    let (server, seen) = heartbeat_server();
    let client = client();
    client.set_request_handler(Arc::new(|addr: &str, req: RemotingCommand| {
        assert!(!addr.is_empty());
        let info =
            format!("running info for {}", req.ext_fields.get("consumerGroup").unwrap_or("?"));
        Some(RemotingCommand::response(0, None).with_body(info.into_bytes()))
    }));
    let hb = client.invoke_sync(
        &addr(&server),
        RemotingCommand::request(request_code::HEART_BEAT),
        TIMEOUT,
    );
    assert_eq!(hb.unwrap().response_code(), ResponseCode::Success);
    let conn = seen.lock().clone().expect("heartbeat seen");
    assert!(conn.is_open());
    assert_eq!(conn.peer_addr().ip().to_string(), "127.0.0.1");
    let req = RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO)
        .with_ext("consumerGroup", "G1");
    let resp = conn.invoke(req, TIMEOUT).unwrap();
    assert!(resp.is_response());
    assert_eq!(resp.body, b"running info for G1");
}

#[test]
fn server_oneway_reaches_the_client_handler() {
    let (server, seen) = heartbeat_server();
    let client = client();
    let (tx, rx) = bounded(1);
    client.set_request_handler(Arc::new(move |_: &str, req: RemotingCommand| {
        tx.send((
            req.code,
            req.is_oneway(),
            req.ext_fields.get("consumerGroup").map(str::to_owned),
        ))
        .unwrap();
        None
    }));
    client
        .invoke_sync(&addr(&server), RemotingCommand::request(request_code::HEART_BEAT), TIMEOUT)
        .unwrap();
    let conn = seen.lock().clone().unwrap();
    let notify = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED)
        .with_ext("consumerGroup", "G2");
    conn.send_oneway(notify).unwrap();
    let got = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(got, (request_code::NOTIFY_CONSUMER_IDS_CHANGED, true, Some("G2".into())));
}

#[test]
fn client_without_handler_answers_not_supported_and_invoke_times_out_on_silence() {
    let (server, seen) = heartbeat_server();
    let client = client();
    client
        .invoke_sync(&addr(&server), RemotingCommand::request(request_code::HEART_BEAT), TIMEOUT)
        .unwrap();
    let conn = seen.lock().clone().unwrap();
    let resp = conn
        .invoke(RemotingCommand::request(request_code::CONSUME_MESSAGE_DIRECTLY), TIMEOUT)
        .unwrap();
    assert_eq!(resp.response_code(), ResponseCode::RequestCodeNotSupported);
    client.set_request_handler(Arc::new(|_: &str, _req: RemotingCommand| None));
    let err = conn.invoke(
        RemotingCommand::request(request_code::CONSUME_MESSAGE_DIRECTLY),
        Duration::from_millis(100),
    );
    assert!(err.unwrap_err().is_timeout());
}

#[test]
fn invoking_a_closed_connection_fails_fast() {
    let (server, seen) = heartbeat_server();
    let client = client();
    client
        .invoke_sync(&addr(&server), RemotingCommand::request(request_code::HEART_BEAT), TIMEOUT)
        .unwrap();
    let conn = seen.lock().clone().unwrap();
    client.close_connection(&addr(&server));
    let deadline = std::time::Instant::now() + TIMEOUT;
    while conn.is_open() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!conn.is_open());
    let err = conn
        .invoke(RemotingCommand::request(request_code::CHECK_TRANSACTION_STATE), TIMEOUT)
        .unwrap_err();
    assert!(matches!(err, NetError::ConnectionClosed { .. }), "{err:?}");
    assert!(conn.send_oneway(RemotingCommand::request(39)).is_err());
}

/// A processor that relays a request to another client and waits for its answer (the broker's
/// GET_CONSUMER_RUNNING_INFO relay): the relayed request must leave at once, not when the
/// worker's batch of replies ends.
#[test]
fn a_processor_can_invoke_a_client_while_it_runs() {
    let (server_conn_tx, server_conn_rx) = bounded::<Connection>(1);
    let seen: Arc<Mutex<Option<Connection>>> = Arc::default();
    let slot = Arc::clone(&seen);
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("admin", 1, 16);
    builder.register(
        request_code::HEART_BEAT,
        pool,
        Arc::new(move |ctx: &RequestContext, _req: RemotingCommand| {
            *slot.lock() = Some(ctx.conn().clone());
            let _ = server_conn_tx.try_send(ctx.conn().clone());
            Some(RemotingCommand::response(0, None))
        }),
    );
    let relay_target = Arc::clone(&seen);
    builder.register(
        request_code::GET_CONSUMER_RUNNING_INFO,
        pool,
        Arc::new(move |_: &RequestContext, req: RemotingCommand| {
            let target = relay_target.lock().clone()?;
            // Far below the 500 ms the I/O thread may sleep when nobody wakes it.
            match target.invoke(req, Duration::from_millis(300)) {
                Ok(answer) => Some(RemotingCommand::response(0, None).with_body(answer.body)),
                Err(e) => Some(RemotingCommand::response(1, Some(e.to_string()))),
            }
        }),
    );
    let server = builder.start().unwrap();
    let consumer = client();
    consumer.set_request_handler(Arc::new(|_: &str, _req: RemotingCommand| {
        Some(RemotingCommand::response(0, None).with_body(b"consumer running info".to_vec()))
    }));
    let hb = RemotingCommand::request(request_code::HEART_BEAT);
    consumer.invoke_sync(&addr(&server), hb, TIMEOUT).unwrap();
    server_conn_rx.recv_timeout(TIMEOUT).unwrap();
    let admin = client();
    let req = RemotingCommand::request(request_code::GET_CONSUMER_RUNNING_INFO);
    for _ in 0..3 {
        let resp = admin.invoke_sync(&addr(&server), req.clone(), TIMEOUT).unwrap();
        assert_eq!(resp.response_code(), ResponseCode::Success, "{:?}", resp.remark);
        assert_eq!(resp.body, b"consumer running info");
    }
}
