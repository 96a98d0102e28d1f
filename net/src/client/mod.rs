//! The blocking remoting client: one reused connection per address, pipelined calls matched by
//! opaque, sync / async / oneway invocation, and a handler for requests the server sends us.
//!
//! Threads: one reader per connection (`net-rd-<port>`), which completes sync calls and runs
//! async callbacks; one `net-client-timer` that fails async calls past their deadline; and one
//! `net-client-req` that runs the [`RequestHandler`] for server-initiated requests.
//!
//! **Callbacks run on the reader thread** (or the timer thread for timeouts): keep them short,
//! and never make a blocking `invoke_sync` to the same address from inside one — it would wait
//! for a response that only this very thread can read, until its timeout.

mod channel;
mod transport;

use std::collections::HashMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use log::{debug, warn};
use parking_lot::{Mutex, RwLock};

use crate::error::NetError;
use crate::panic_policy;
use crate::protocol::{
    next_opaque, response_code, RemotingCommand, SerializeType, FLAG_ONEWAY, FLAG_RESPONSE,
    FRAME_MAX_BYTES_DEFAULT,
};

use channel::{Channel, Completion, Pending};
use transport::Transport;

/// Handles a request the server sent us; a returned command is sent back as the response.
pub type RequestHandler =
    Arc<dyn Fn(&str, RemotingCommand) -> Option<RemotingCommand> + Send + Sync>;

/// Runs on the calling thread just before each request this client sends is encoded, after
/// its opaque is assigned: it may add ext fields (ACL signing: an access key and a signature
/// over the fields and body). Installed once with [`RemotingClient::set_rpc_hook`]; without
/// one, a request pays a single atomic load.
pub trait RpcHook: Send + Sync + 'static {
    /// Amends `request` (sent to `addr`) before it is encoded.
    fn before_request(&self, addr: &str, request: &mut RemotingCommand);
}

/// The connection to one address, once connected; its lock serializes reconnecting.
type Slot = Mutex<Option<Arc<Channel>>>;
/// A server-initiated request on its way to the handler thread.
type Inbound = (Arc<Channel>, RemotingCommand);

/// How often the timer looks for expired async calls while any are pending.
const TIMER_TICK: Duration = Duration::from_millis(5);
/// Server-initiated requests queued for the handler thread before we answer SYSTEM_BUSY.
const INBOUND_QUEUE: usize = 1024;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP connect timeout.
    pub connect_timeout_ms: u64,
    /// A blocked socket write fails (and closes the connection) after this long.
    pub write_timeout_ms: u64,
    /// Largest frame accepted or sent, 4-byte prefix included.
    pub frame_max_bytes: usize,
    /// Header encoding of our requests.
    pub request_serialize: SerializeType,
    /// Unsent bytes one connection may queue before calls fail with `WriteQueueFull`.
    pub write_queue_max_bytes: usize,
    /// After reading responses, a connection's reader keeps polling its socket without
    /// sleeping for this long, so that the next response is read without waking a sleeping
    /// CPU (on VMs that costs tens of microseconds). 0 turns busy polling off.
    pub busy_poll_us: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 3_000,
            write_timeout_ms: 10_000,
            frame_max_bytes: FRAME_MAX_BYTES_DEFAULT,
            request_serialize: SerializeType::Json,
            write_queue_max_bytes: 64 * 1024 * 1024,
            busy_poll_us: 50,
        }
    }
}

/// A blocking remoting client; share it with `Arc` between threads.
pub struct RemotingClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// One slot per address; the slot's lock serializes (re)connecting to that address.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    handler: RwLock<Option<RequestHandler>>,
    inbound_tx: Mutex<Option<Sender<Inbound>>>,
    shutdown: AtomicBool,
    timer: OnceLock<Thread>,
    timer_sleeping: AtomicBool,
    rpc_hook: OnceLock<Arc<dyn RpcHook>>,
}

impl std::fmt::Debug for RemotingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<String> = self.inner.slots.lock().keys().cloned().collect();
        f.debug_struct("RemotingClient")
            .field("config", &self.inner.config)
            .field("addrs", &addrs)
            .finish_non_exhaustive()
    }
}

impl RemotingClient {
    /// A client with no connections yet; spawns its timer and request-handler threads.
    ///
    /// # Panics
    /// If the OS cannot spawn a thread.
    pub fn new(config: ClientConfig) -> Self {
        let (inbound_tx, inbound_rx) = crossbeam_channel::bounded(INBOUND_QUEUE);
        let inner = Arc::new(Inner {
            config,
            slots: Mutex::new(HashMap::new()),
            handler: RwLock::new(None),
            inbound_tx: Mutex::new(Some(inbound_tx)),
            shutdown: AtomicBool::new(false),
            timer: OnceLock::new(),
            timer_sleeping: AtomicBool::new(false),
            rpc_hook: OnceLock::new(),
        });
        let weak = Arc::downgrade(&inner);
        let timer = thread::Builder::new()
            .name("net-client-timer".into())
            .spawn(move || timer_loop(&weak))
            .expect("spawn net-client-timer");
        let _ = inner.timer.set(timer.thread().clone());
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("net-client-req".into())
            .spawn(move || handler_loop(&weak, &inbound_rx))
            .expect("spawn net-client-req");
        Self { inner }
    }

    /// Sends `cmd` (with a fresh opaque) and waits up to `timeout` for the response.
    pub fn invoke_sync(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, NetError> {
        let chan = self.inner.channel(addr)?;
        self.inner.prepare_request(addr, &mut cmd);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let pending = Pending {
            deadline: Instant::now() + timeout,
            timeout_ms: millis(timeout),
            completion: Completion::Sync(tx),
        };
        if chan.register(cmd.opaque, pending).is_err() {
            return Err(NetError::ConnectionClosed { addr: addr.to_owned() });
        }
        if let Err(e) = chan.write_frame(|buf| self.inner.encode_into(&cmd, buf)) {
            chan.unregister(cmd.opaque);
            return Err(e);
        }
        if let Some(result) = spin_for_response(&chan, &rx, timeout) {
            return result;
        }
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Disconnected) => {
                Err(NetError::ConnectionClosed { addr: addr.to_owned() })
            }
            Err(RecvTimeoutError::Timeout) => {
                chan.unregister(cmd.opaque);
                // The response may have landed between the timeout and the removal.
                rx.try_recv().unwrap_or(Err(NetError::Timeout {
                    addr: addr.to_owned(),
                    timeout_ms: millis(timeout),
                }))
            }
        }
    }

    /// Sends `cmd` (with a fresh opaque) and returns at once. On `Ok`, `callback` runs exactly
    /// once, with the response, a timeout or a connection failure, on the connection's reader
    /// thread (or the timer thread). On `Err` it is dropped without being called.
    pub fn invoke_async(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        timeout: Duration,
        callback: Box<dyn FnOnce(Result<RemotingCommand, NetError>) + Send>,
    ) -> Result<(), NetError> {
        let chan = self.inner.channel(addr)?;
        self.inner.prepare_request(addr, &mut cmd);
        let pending = Pending {
            deadline: Instant::now() + timeout,
            timeout_ms: millis(timeout),
            completion: Completion::Async(callback),
        };
        if chan.register(cmd.opaque, pending).is_err() {
            return Err(NetError::ConnectionClosed { addr: addr.to_owned() });
        }
        self.inner.wake_timer();
        match chan.write_frame(|buf| self.inner.encode_into(&cmd, buf)) {
            Ok(()) => Ok(()),
            // Still registered: nobody has called the callback, so report the error here.
            Err(e) if chan.unregister(cmd.opaque).is_some() => Err(e),
            // The failure closed the channel, which already called back with the error.
            Err(_) => Ok(()),
        }
    }

    /// Sends `cmd` with the oneway flag; no response is expected.
    pub fn invoke_oneway(&self, addr: &str, mut cmd: RemotingCommand) -> Result<(), NetError> {
        let chan = self.inner.channel(addr)?;
        self.inner.prepare_request(addr, &mut cmd);
        cmd.flag |= FLAG_ONEWAY;
        chan.write_frame(|buf| self.inner.encode_into(&cmd, buf))
    }

    /// Sets the handler for requests the server sends us (CHECK_TRANSACTION_STATE, …). It runs
    /// on the `net-client-req` thread. Without one, such requests get REQUEST_CODE_NOT_SUPPORTED.
    pub fn set_request_handler(&self, handler: RequestHandler) {
        *self.inner.handler.write() = Some(handler);
    }

    /// Installs the hook run on every request just before it is encoded (see [`RpcHook`]).
    /// A client has at most one; a second call returns its hook as the error.
    pub fn set_rpc_hook(&self, hook: Arc<dyn RpcHook>) -> Result<(), Arc<dyn RpcHook>> {
        self.inner.rpc_hook.set(hook)
    }

    /// Closes the connection to `addr`, failing its pending calls; the next call reconnects.
    pub fn close_connection(&self, addr: &str) {
        let slot = self.inner.slots.lock().remove(addr);
        if let Some(chan) = slot.and_then(|slot| slot.lock().take()) {
            chan.close(|| NetError::ConnectionClosed { addr: chan.addr.clone() });
        }
    }

    /// Whether a connection to `addr` is currently open.
    pub fn is_connected(&self, addr: &str) -> bool {
        let slot = self.inner.slots.lock().get(addr).cloned();
        slot.is_some_and(|slot| slot.lock().as_ref().is_some_and(|c| c.is_open()))
    }

    /// Closes every connection (pending calls fail with `Shutdown`) and stops the helper
    /// threads. Later calls fail with `Shutdown`.
    pub fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        let slots: Vec<_> = self.inner.slots.lock().drain().map(|(_, slot)| slot).collect();
        for slot in slots {
            if let Some(chan) = slot.lock().take() {
                chan.close(|| NetError::Shutdown);
            }
        }
        self.inner.inbound_tx.lock().take();
        if let Some(timer) = self.inner.timer.get() {
            timer.unpark();
        }
    }
}

impl Drop for RemotingClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How long a lone sync caller polls for its response before it blocks.
const SPIN_MAX: Duration = Duration::from_micros(40);

/// A lone sync call (the only one pending on its connection) polls for its response for a few
/// tens of microseconds, yielding the CPU between polls, before it blocks: a loopback round
/// trip is shorter than a sleep/wake-up pair. With more calls pending it blocks at once.
fn spin_for_response(
    chan: &Channel,
    rx: &Receiver<Result<RemotingCommand, NetError>>,
    timeout: Duration,
) -> Option<Result<RemotingCommand, NetError>> {
    if chan.pending_len() > 1 || timeout < SPIN_MAX * 4 {
        return None;
    }
    let start = Instant::now();
    while start.elapsed() < SPIN_MAX {
        if let Ok(result) = rx.try_recv() {
            return Some(result);
        }
        thread::yield_now();
    }
    None
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    /// Gives the request a fresh opaque, clears its flags and runs the RPC hook on it.
    fn prepare_request(&self, addr: &str, cmd: &mut RemotingCommand) {
        cmd.opaque = next_opaque();
        cmd.flag &= !(FLAG_RESPONSE | FLAG_ONEWAY);
        if let Some(hook) = self.rpc_hook.get() {
            hook.before_request(addr, cmd);
        }
    }

    fn encode_into(&self, cmd: &RemotingCommand, out: &mut Vec<u8>) -> Result<(), NetError> {
        let (ser, max) = (self.config.request_serialize, self.config.frame_max_bytes);
        cmd.try_encode(ser, out, max).map_err(NetError::from)
    }

    /// The open connection to `addr`, connecting if there is none.
    fn channel(self: &Arc<Self>, addr: &str) -> Result<Arc<Channel>, NetError> {
        if self.shutdown.load(Ordering::Acquire) {
            return Err(NetError::Shutdown);
        }
        let slot = {
            let mut slots = self.slots.lock();
            match slots.get(addr) {
                Some(slot) => Arc::clone(slot),
                None => Arc::clone(slots.entry(addr.to_owned()).or_default()),
            }
        };
        let mut slot = slot.lock();
        if let Some(chan) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(Arc::clone(chan));
        }
        let chan = self.connect(addr)?;
        *slot = Some(Arc::clone(&chan));
        Ok(chan)
    }

    fn connect(self: &Arc<Self>, addr: &str) -> Result<Arc<Channel>, NetError> {
        let connect_err = |source| NetError::Connect { addr: addr.to_owned(), source };
        let timeout = Duration::from_millis(self.config.connect_timeout_ms.max(1));
        let mut last_err = None;
        for sock_addr in addr.to_socket_addrs().map_err(connect_err)? {
            match TcpStream::connect_timeout(&sock_addr, timeout) {
                Ok(stream) => return self.open_channel(addr, stream),
                Err(e) => last_err = Some(e),
            }
        }
        let e = last_err.unwrap_or_else(|| std::io::Error::other("address resolved to nothing"));
        Err(connect_err(e))
    }

    fn open_channel(
        self: &Arc<Self>,
        addr: &str,
        stream: TcpStream,
    ) -> Result<Arc<Channel>, NetError> {
        let send_err = |source| NetError::Send { addr: addr.to_owned(), source };
        stream.set_nodelay(true).map_err(send_err)?;
        let write_timeout = Duration::from_millis(self.config.write_timeout_ms.max(1));
        stream.set_write_timeout(Some(write_timeout)).map_err(send_err)?;
        let port = stream.peer_addr().map(|a| a.port()).unwrap_or(0);
        let chan = Channel::new(
            addr.to_owned(),
            Transport::Plain(stream),
            self.config.write_queue_max_bytes,
        );
        let chan = Arc::new(chan);
        let weak = Arc::downgrade(self);
        let inbound: Arc<channel::InboundSink> =
            Arc::new(move |chan: &Arc<Channel>, cmd| inbound_request(&weak, chan, cmd));
        let reader_chan = Arc::clone(&chan);
        let reading = channel::ReadConfig {
            frame_max_bytes: self.config.frame_max_bytes,
            busy_poll: Duration::from_micros(self.config.busy_poll_us),
        };
        thread::Builder::new()
            .name(format!("net-rd-{port}"))
            .spawn(move || reader_chan.read_loop(reading, inbound))
            .map_err(send_err)?;
        debug!("connected to {addr}");
        Ok(chan)
    }

    fn wake_timer(&self) {
        if self.timer_sleeping.swap(false, Ordering::AcqRel) {
            if let Some(timer) = self.timer.get() {
                timer.unpark();
            }
        }
    }

    fn open_channels(&self) -> Vec<Arc<Channel>> {
        let slots: Vec<_> = self.slots.lock().values().cloned().collect();
        slots.iter().filter_map(|slot| slot.lock().clone()).collect()
    }
}

/// Fails async calls past their deadline. Ticks while calls are pending, else parks.
fn timer_loop(inner: &Weak<Inner>) {
    loop {
        let Some(client) = inner.upgrade() else { return };
        if client.shutdown.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let mut any_pending = false;
        for chan in client.open_channels() {
            for expired in chan.take_expired(now) {
                let error =
                    NetError::Timeout { addr: chan.addr.clone(), timeout_ms: expired.timeout_ms };
                expired.completion.complete(Err(error));
            }
            any_pending |= chan.has_pending();
        }
        if any_pending {
            drop(client);
            thread::sleep(TIMER_TICK);
        } else {
            // Set before the last look so that a call registered meanwhile unparks us.
            client.timer_sleeping.store(true, Ordering::Release);
            let recheck = client.open_channels().iter().any(|c| c.has_pending());
            drop(client);
            if !recheck {
                thread::park_timeout(Duration::from_secs(1));
            }
        }
    }
}

/// Reader-thread side of a server-initiated request: queue it for the handler thread.
fn inbound_request(inner: &Weak<Inner>, chan: &Arc<Channel>, cmd: RemotingCommand) {
    let Some(client) = inner.upgrade() else { return };
    let Some(tx) = client.inbound_tx.lock().clone() else { return };
    match tx.try_send((Arc::clone(chan), cmd)) {
        Ok(()) => {}
        Err(TrySendError::Full((chan, cmd))) => {
            warn!("request handler queue full; refusing request {} from {}", cmd.code, chan.addr);
            let remark = "client request queue is full".to_owned();
            respond(
                &client,
                &chan,
                &cmd,
                RemotingCommand::response(response_code::SYSTEM_BUSY, Some(remark)),
            );
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// The `net-client-req` thread: runs the request handler and sends back its answers.
fn handler_loop(inner: &Weak<Inner>, rx: &Receiver<Inbound>) {
    for (chan, cmd) in rx.iter() {
        let Some(client) = inner.upgrade() else { return };
        let handler = client.handler.read().clone();
        let request = (cmd.code, cmd.opaque, cmd.flag);
        let response = match handler {
            Some(handler) => {
                panic_policy::catch(|| handler(&chan.addr, cmd)).unwrap_or_else(|panic| {
                    let message = panic_policy::describe(&*panic);
                    log::error!("request handler panicked on request {}: {message}", request.0);
                    Some(RemotingCommand::response(
                        response_code::SYSTEM_ERROR,
                        Some("handler panicked".into()),
                    ))
                })
            }
            None => {
                let remark = format!(" request type {} not supported", request.0);
                Some(RemotingCommand::response(
                    response_code::REQUEST_CODE_NOT_SUPPORTED,
                    Some(remark),
                ))
            }
        };
        if let Some(response) = response {
            let probe = RemotingCommand {
                code: request.0,
                opaque: request.1,
                flag: request.2,
                ..Default::default()
            };
            respond(&client, &chan, &probe, response);
        }
    }
}

/// Sends `response` to a server-initiated `request` (never to a oneway one).
fn respond(
    client: &Inner,
    chan: &Channel,
    request: &RemotingCommand,
    mut response: RemotingCommand,
) {
    if request.is_oneway() {
        return;
    }
    response.opaque = request.opaque;
    response.mark_response();
    let sent = chan.write_frame(|buf| client.encode_into(&response, buf));
    if let Err(e) = sent {
        debug!("cannot answer request {} from {}: {e}", request.code, chan.addr);
    }
}
