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

/// Waits until `done` holds, failing the test after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Connects to `server` from the local address `local` (any port): a second client address on
/// loopback, where every 127.0.0.0/8 address is local. `std` cannot bind before connecting.
pub fn connect_from(local: std::net::Ipv4Addr, server: std::net::SocketAddr) -> TcpStream {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let std::net::SocketAddr::V4(server) = server else { panic!("an IPv4 server address") };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::sa_family_t::try_from(libc::AF_INET).unwrap(),
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in>()).unwrap();
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh socket that nothing else owns; `OwnedFd` closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = sockaddr(local, 0);
    let remote = sockaddr(*server.ip(), server.port());
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes that outlives the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&local).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    // SAFETY: `remote` is a valid sockaddr_in of `len` bytes that outlives the call.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), std::ptr::from_ref(&remote).cast(), len) };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    stream
}

/// Whether the server has closed `stream` already, without waiting (EOF or reset pending).
pub fn closed_now(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}
