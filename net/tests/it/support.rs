//! Shared fixtures: servers with test processors, raw-socket helpers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rocketmq_net::{
    ClientConfig, RemotingClient, RemotingCommand, RequestContext, SerializeType, Server,
    ServerBuilder, ServerConfig,
};

pub const ECHO: i32 = 10;
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Echoes the request's ext fields, remark and body back with code SUCCESS.
pub fn echo(_ctx: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
    let mut resp = RemotingCommand::response(0, req.remark);
    resp.ext_fields = req.ext_fields;
    resp.body = req.body;
    Some(resp)
}

/// A server whose pool "echo" (2 threads) answers code ECHO.
pub fn echo_server(config: ServerConfig) -> Server {
    let mut builder = ServerBuilder::new(config);
    let pool = builder.pool("echo", 2, 1024);
    builder.register(ECHO, pool, Arc::new(echo));
    builder.start().expect("start server")
}

pub fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default())
}

pub fn addr(server: &Server) -> String {
    server.local_addr().to_string()
}

pub fn echo_request(text: &str) -> RemotingCommand {
    RemotingCommand::request(ECHO).with_ext("text", text).with_body(text.as_bytes().to_vec())
}

/// Connects a raw socket with a read timeout.
pub fn raw_connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.local_addr()).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    stream
}

/// Writes `cmd` as one frame on a raw socket.
pub fn raw_send(stream: &mut TcpStream, cmd: &RemotingCommand, ser: SerializeType) {
    stream.write_all(&cmd.encode_to_vec(ser)).expect("write");
}

/// Reads one whole frame from a raw socket and decodes it.
pub fn raw_read(stream: &mut TcpStream) -> RemotingCommand {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).expect("read prefix");
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap();
    let mut frame = prefix.to_vec();
    frame.resize(4 + len, 0);
    stream.read_exact(&mut frame[4..]).expect("read frame");
    RemotingCommand::decode(&frame).expect("decode").0
}

/// True once the server has closed the socket (EOF or reset) within the read timeout.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
