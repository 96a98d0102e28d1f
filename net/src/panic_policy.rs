//! The process's panic policy: a bug hit by one request is contained, any other panic stops the
//! process loudly.
//!
//! The server runs application code (processors, request hooks, `on_close` hooks) and the
//! client runs callbacks and request handlers inside [`catch`], which marks the thread as being
//! in a *caught scope* for the duration of the call. A panic there unwinds to the server, which
//! answers SYSTEM_ERROR, logs the request code and counts it ([`crate::Server::processor_panics`]);
//! the thread goes on serving.
//!
//! Every other panic (a violated invariant on `net-io`, in a store thread, in a flush thread, on
//! a thread a processor spawned) means the process can no longer be trusted: after
//! [`install`], such a panic prints its message (and backtrace, as `RUST_BACKTRACE` says) and
//! aborts the process. Binaries call [`install`] first thing; libraries never do.
//!
//! **Invariant:** the release profile unwinds (`panic = "unwind"` in the workspace
//! `Cargo.toml`); with `panic = "abort"` no panic could be caught and this policy degrades to
//! "every panic aborts", which [`install`] warns about.
//!
//! Code that runs inside a caught scope but must stop the process when one of its invariants
//! breaks (a store append called by a processor) wraps that call in [`fatal`], or the binary
//! names the whole crate as a fatal source with [`install_with_fatal_sources`]: a panic raised
//! in a source file whose path contains one of the fragments aborts even inside a caught scope.
//! The broker names the store crate, so a violated store invariant stops the broker wherever
//! the store was called from (a send on `net-io`, a pull on a worker).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::{Once, OnceLock};

/// Path fragments of source files whose panics are always fatal.
static FATAL_SOURCES: OnceLock<&'static [&'static str]> = OnceLock::new();

thread_local! {
    /// Set while this thread runs application code inside [`catch`].
    static CAUGHT_SCOPE: Cell<bool> = const { Cell::new(false) };
    /// Where the last caught panic on this thread happened (set by the installed hook).
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the process-wide panic hook: a panic outside a caught scope prints the usual
/// message through the previous hook and then aborts the process; a panic inside one only
/// records where it happened (the server logs it with the request code). Idempotent.
pub fn install() {
    install_with_fatal_sources(&[]);
}

/// [`install`], and panics raised in source files whose path contains one of `sources`
/// (`"store/src/"`) abort even inside a caught scope. Only the first call takes effect.
pub fn install_with_fatal_sources(sources: &'static [&'static str]) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = FATAL_SOURCES.set(sources);
        if cfg!(panic = "abort") {
            log::warn!("built with panic = \"abort\": a panicking processor stops the process");
        }
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if in_caught_scope() && !from_fatal_source(info) {
                let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                LAST_LOCATION.with(|last| *last.borrow_mut() = location);
                return;
            }
            previous(info);
            eprintln!("panic outside a request's scope or in a fatal source: aborting the process");
            std::process::abort();
        }));
    });
}

/// Whether the panic was raised in one of the fatal sources.
fn from_fatal_source(info: &PanicHookInfo<'_>) -> bool {
    let sources = FATAL_SOURCES.get().copied().unwrap_or_default();
    info.location().is_some_and(|l| sources.iter().any(|s| l.file().contains(s)))
}

/// Whether the current thread is inside a caught scope (see the module doc).
pub fn in_caught_scope() -> bool {
    CAUGHT_SCOPE.with(Cell::get)
}

/// Runs `f` outside any caught scope: after [`install`], a panic in `f` aborts the process
/// even when the caller runs inside a processor. For invariants whose violation must stop the
/// whole process (a store that detected corruption), not just fail one request.
pub fn fatal<R>(f: impl FnOnce() -> R) -> R {
    let _scope = ScopeGuard::enter(false);
    f()
}

/// Runs application code `f` in a caught scope and catches its panic: with the hook installed,
/// a panic in `f` is contained (the caller decides what it answers) instead of aborting. The
/// server and client use it around every processor, hook and callback; other code that
/// contains panics of user code (a consumer's message listener) should use it instead of a
/// bare `catch_unwind`. Pass the panic to [`describe`] for the log line.
pub fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let _scope = ScopeGuard::enter(true);
    // No per-call reset of `LAST_LOCATION`: the hook overwrites it on every panic in a scope,
    // before the unwind reaches this catch, and `describe` takes it.
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Describes a panic caught by [`catch`]: its message and, when the hook is installed, where
/// it happened.
pub fn describe(panic: &(dyn Any + Send)) -> String {
    let message = if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    };
    match LAST_LOCATION.with(|last| last.borrow_mut().take()) {
        Some(location) => format!("{message} (at {location})"),
        None => message,
    }
}

/// Restores the previous scope flag on drop, so scopes nest and unwinding cannot leave the
/// flag set on a thread that goes on running other code.
struct ScopeGuard {
    previous: bool,
}

impl ScopeGuard {
    fn enter(caught: bool) -> Self {
        Self { previous: CAUGHT_SCOPE.with(|s| s.replace(caught)) }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        CAUGHT_SCOPE.with(|s| s.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_are_restored_after_a_panic() {
        assert!(!in_caught_scope());
        let outcome = catch(|| {
            assert!(in_caught_scope());
            fatal(|| assert!(!in_caught_scope()));
            assert!(in_caught_scope());
            panic!("contained");
        });
        let panic = outcome.expect_err("the panic is caught");
        assert!(describe(&*panic).starts_with("contained"));
        assert!(!in_caught_scope());
    }
}
