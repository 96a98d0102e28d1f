//! The broker's ACL 1.0 check (`aclEnable`): a request hook that validates every request with
//! the accounts of the ACL files before its processor runs (inline sends included), and the
//! `acl-watch` thread that reloads the files when they change.
//!
//! This module owns the loaded [`PlainAcl`] (replaced whole on reload under the write lock, so
//! a request sees either the old accounts or the new ones, never a mix) and the refusal counter. A file
//! that stops loading keeps the accounts loaded before, with an ERROR line naming it.
//!
//! A refusal answers as Java's ACL 1.0 does: SYSTEM_ERROR with the `AclException` text as
//! remark; a oneway request gets no answer. Refusals are logged at WARN, at most one line a
//! second, naming the access key, the request code, the peer and what was refused.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Receiver;
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{Admission, RemotingCommand, RequestContext, RequestHook, ResponseCode};

use crate::acl::plain::{self, Denied, LoadError, PlainAcl, Request};

/// How often the files are checked for changes (the issue asks for a change applied within
/// 5 s; Java polls every 5 s).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Java's exception class, the prefix of every refusal's remark.
const ACL_EXCEPTION: &str = "org.apache.rocketmq.acl.common.AclException";

/// Where the accounts come from.
#[derive(Debug, Clone)]
pub struct AclFiles {
    /// The main file (`plain_acl.yml`); created empty when missing, as Java does.
    pub main: PathBuf,
    /// Every `*.yml` under this directory is loaded too (`conf/acl/`).
    pub extra_dir: Option<PathBuf>,
}

impl AclFiles {
    /// The files now, main first.
    fn list(&self) -> Vec<PathBuf> {
        plain::acl_files(&self.main, self.extra_dir.as_deref())
    }

    /// Loads every file; creates an empty main file first when there is none.
    pub fn load(&self) -> Result<PlainAcl, LoadError> {
        if !self.main.exists() {
            create_empty(&self.main)?;
        }
        let (acl, warnings) = PlainAcl::load_files(&self.list())?;
        for w in warnings {
            log::warn!("ACL: {w}");
        }
        Ok(acl)
    }

    /// Each file's modification time (None when unreadable): a change reloads.
    fn stamps(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        self.list()
            .into_iter()
            .map(|f| {
                let t = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
                (f, t)
            })
            .collect()
    }
}

fn create_empty(path: &Path) -> Result<(), LoadError> {
    let err =
        |e: std::io::Error| LoadError { file: path.display().to_string(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, "globalWhiteRemoteAddresses:\naccounts:\n").map_err(err)?;
    log::warn!(
        "ACL: {} did not exist and was created empty: every request is refused until it names \
         accounts or white-listed addresses",
        path.display()
    );
    Ok(())
}

/// The request hook; cheap to clone into the watcher.
#[derive(Debug)]
pub struct AclHook {
    acl: RwLock<PlainAcl>,
    refused: AtomicU64,
    /// When the last refusal line was logged and how many were not logged since.
    log_state: Mutex<(Option<Instant>, u64)>,
}

impl AclHook {
    /// A hook checking against `acl`.
    pub fn new(acl: PlainAcl) -> Self {
        Self { acl: RwLock::new(acl), refused: AtomicU64::new(0), log_state: Mutex::new((None, 0)) }
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Replaces the accounts (hot reload).
    pub fn replace(&self, acl: PlainAcl) {
        *self.acl.write() = acl;
    }

    fn log_refusal(&self, peer: SocketAddr, req: &RemotingCommand, denied: &Denied) {
        let mut state = self.log_state.lock();
        let now = Instant::now();
        if state.0.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            state.1 += 1;
            return;
        }
        let skipped = std::mem::replace(&mut state.1, 0);
        state.0 = Some(now);
        drop(state);
        let ak = req.ext_fields.get(crate::acl::sign::ACCESS_KEY).unwrap_or("-");
        let more = if skipped > 0 {
            format!(" ({skipped} more since the last line)")
        } else {
            String::new()
        };
        log::warn!(
            "ACL refused request code {} from {peer} (accessKey {ak}, {}): {denied}{more}",
            req.code,
            denied.subject()
        );
    }
}

impl RequestHook for AclHook {
    fn before(&self, ctx: &RequestContext, request: &RemotingCommand) -> Admission {
        let peer = ctx.conn().peer_addr();
        let checked = self.acl.read().validate(&Request {
            code: request.code,
            version: request.version,
            remote: peer.ip(),
            ext: &request.ext_fields,
            body: &request.body,
        });
        let Err(denied) = checked else {
            return Admission::Proceed;
        };
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.log_refusal(peer, request, &denied);
        let remark = format!("{ACL_EXCEPTION}: {denied}");
        Admission::Reject(RemotingCommand::response(
            ResponseCode::SystemError.to_i32(),
            Some(remark),
        ))
    }
}

/// The `acl-watch` thread: reloads when a file is added, removed or modified, until `stop`.
pub fn run_watch(hook: &AclHook, files: &AclFiles, stop: &Receiver<()>) {
    let mut seen = files.stamps();
    while stop.recv_timeout(WATCH_INTERVAL) == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
        let now = files.stamps();
        if now == seen {
            continue;
        }
        seen = now;
        match files.load() {
            Ok(acl) => {
                log::info!(
                    "ACL: reloaded {} account(s) from {} file(s)",
                    acl.accounts.len(),
                    seen.len()
                );
                hook.replace(acl);
            }
            Err(e) => log::error!("ACL: {e}; the accounts loaded before stay in force"),
        }
    }
}
