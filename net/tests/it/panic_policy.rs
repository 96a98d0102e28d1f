//! The panic policy as shipped: a panicking processor answers SYSTEM_ERROR and the server goes
//! on; with the policy's hook installed, a panic anywhere else aborts the process. The abort is
//! observed in a child process re-executed from this test binary.

use std::process::Command;
use std::sync::Arc;

use rocketmq_net::{panic_policy, RemotingCommand, RequestContext, ResponseCode, ServerBuilder};
use rocketmq_net::{Inline, Processor, ServerConfig};

use crate::support::*;

/// Set in the child process: run the body that ends in an abort.
const CHILD_ENV: &str = "RMQ_NET_PANIC_POLICY_CHILD";
const BOOM: i32 = 66;
const INLINE_BOOM: i32 = 67;

/// Panics on requests carrying `boom`, on the pool and inline alike.
struct Fragile;

impl Processor for Fragile {
    fn process(&self, _ctx: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        assert!(!req.ext_fields.contains("boom"), "kaboom {}", req.opaque);
        Some(RemotingCommand::response(0, None))
    }

    fn process_inline(&self, ctx: &RequestContext, req: RemotingCommand) -> Inline {
        Inline::Done(self.process(ctx, req))
    }
}

fn fragile_server() -> rocketmq_net::Server {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("fragile", 1, 16);
    builder.register(BOOM, pool, Arc::new(Fragile));
    builder.register_inline(INLINE_BOOM, pool, Arc::new(Fragile));
    builder.start().expect("start server")
}

/// Panics in processors are answered and counted; the next request is served.
fn processor_panics_are_contained(server: &rocketmq_net::Server) {
    let client = client();
    for code in [BOOM, INLINE_BOOM] {
        let req = RemotingCommand::request(code).with_ext("boom", "1");
        let resp = client.invoke_sync(&addr(server), req, TIMEOUT).expect("answered");
        assert_eq!(resp.response_code(), ResponseCode::SystemError, "code {code}");
        assert!(resp.remark.unwrap_or_default().contains("kaboom"));
        let next = client.invoke_sync(&addr(server), RemotingCommand::request(code), TIMEOUT);
        assert_eq!(next.expect("answered").response_code(), ResponseCode::Success);
    }
    assert_eq!(server.processor_panics(), 2);
}

#[test]
fn a_processor_panic_answers_system_error_and_the_server_answers_the_next_request() {
    processor_panics_are_contained(&fragile_server());
}

#[test]
fn with_the_hook_installed_a_panic_outside_a_processor_aborts_the_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_body();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([
            "--exact",
            "panic_policy::with_the_hook_installed_a_panic_outside_a_processor_aborts_the_process",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("contained panics answered"), "child stderr: {stderr}");
    assert!(stderr.contains("store invariant broken"), "child stderr: {stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "child: {:?}", output.status);
}

/// In the child: installs the policy, shows that processor panics are still contained, then
/// panics on a plain thread, which must abort the whole process.
fn child_body() -> ! {
    panic_policy::install();
    processor_panics_are_contained(&fragile_server());
    eprintln!("contained panics answered");
    let thread = std::thread::spawn(|| panic!("store invariant broken"));
    let _ = thread.join();
    // Only reached if the panic did not abort: exit with a status the parent rejects.
    std::process::exit(3);
}

/// The policy needs unwinding in the profile we ship: with `panic = "abort"` no processor
/// panic could be answered.
#[test]
fn the_release_profile_unwinds() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let text = std::fs::read_to_string(manifest).expect("workspace Cargo.toml");
    let release = text.split("[profile.release]").nth(1).expect("a release profile");
    let section = release.split("\n[").next().unwrap_or_default();
    let panic_line = section.lines().find(|l| l.trim_start().starts_with("panic"));
    assert_eq!(panic_line.map(str::trim), Some("panic = \"unwind\""), "{section}");
}
