//! Fixed-size worker pools, one per kind of work, fed by bounded queues. A full queue is the
//! server's back-pressure signal (SYSTEM_BUSY), decided by the I/O thread with `try_send`;
//! a oneway request that finds it full is held and its connection paused instead (reactor.rs).
//!
//! A worker survives a panicking processor: the panic is caught (in a `panic_policy` scope),
//! counted, logged with the request code and answered with SYSTEM_ERROR.

use std::any::Any;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::error;

use crate::panic_policy;
use crate::protocol::{response_code, RemotingCommand};

use super::conn::{Connection, WakeBatch};
use super::processor::{Admission, Processor, RequestContext};

/// One request on its way to a worker.
pub(crate) struct Job {
    pub processor: Arc<dyn Processor>,
    pub conn: Connection,
    pub request: RemotingCommand,
    /// The `before` hooks already admitted it (on `net-io`, for an inline code handed back).
    pub admitted: bool,
}

/// The I/O thread's side of a pool.
#[derive(Debug)]
pub(crate) struct PoolQueue {
    pub name: String,
    pub capacity: usize,
    pub tx: Sender<Job>,
    /// Requests refused because the queue was full, since the last warning.
    pub rejected_recent: std::cell::Cell<u64>,
}

/// Spawns `threads` workers named `<name>-<n>`. Each holds a clone of `done` and drops it on
/// exit, so the server can wait for all workers with a deadline.
pub(crate) fn spawn_pool(
    name: &str,
    threads: usize,
    capacity: usize,
    done: &Sender<()>,
) -> std::io::Result<(PoolQueue, Vec<JoinHandle<()>>)> {
    // `ServerBuilder::validate` refuses empty pools before any is spawned.
    assert!(threads > 0 && capacity > 0, "pool '{name}' without threads or queue");
    let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity);
    let mut handles = Vec::with_capacity(threads);
    for n in 0..threads {
        let rx = rx.clone();
        let done = done.clone();
        let handle =
            thread::Builder::new().name(format!("{name}-{n}")).spawn(move || work(&rx, done))?;
        handles.push(handle);
    }
    let rejected_recent = std::cell::Cell::new(0);
    Ok((PoolQueue { name: name.to_owned(), capacity, tx, rejected_recent }, handles))
}

/// Jobs a worker runs before it wakes the I/O thread for their replies.
const BATCH_JOBS_MAX: usize = 32;
/// Time after which a worker wakes the I/O thread even if more jobs are queued.
const BATCH_TIME_MAX: Duration = Duration::from_micros(50);

fn work(rx: &Receiver<Job>, _done: Sender<()>) {
    for first in rx.iter() {
        // Replies of jobs run back to back are written together: one wake-up, one `write`.
        let batch = WakeBatch::begin();
        let start = Instant::now();
        run_job(first);
        for _ in 1..BATCH_JOBS_MAX {
            if start.elapsed() >= BATCH_TIME_MAX {
                break;
            }
            match rx.try_recv() {
                Ok(job) => run_job(job),
                Err(_) => break,
            }
        }
        drop(batch);
    }
}

fn run_job(job: Job) {
    let Job { processor, conn, request, admitted } = job;
    let ctx = RequestContext::new(conn, &request);
    let code = request.code;
    let result = panic_policy::catch(|| {
        if !admitted {
            if let Admission::Reject(response) = ctx.admit(&request) {
                return Some(response);
            }
        }
        processor.process(&ctx, request)
    });
    match result {
        Ok(Some(response)) => ctx.respond(response),
        Ok(None) => ctx.finish_unanswered(),
        Err(panic) => ctx.respond(panic_response(ctx.conn(), code, &*panic)),
    }
}

/// Counts and logs a processor's (or hook's) panic and builds the SYSTEM_ERROR answer that
/// names it.
pub(crate) fn panic_response(
    conn: &Connection,
    code: i32,
    panic: &(dyn Any + Send),
) -> RemotingCommand {
    conn.count_panic();
    let message = panic_policy::describe(panic);
    error!("processor for request code {code} panicked: {message}");
    RemotingCommand::response(
        response_code::SYSTEM_ERROR,
        Some(format!("processor panicked: {message}")),
    )
}
