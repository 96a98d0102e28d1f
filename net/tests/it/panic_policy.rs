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
    const NAME: &str =
        "panic_policy::with_the_hook_installed_a_panic_outside_a_processor_aborts_the_process";
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("thread") => child_panics_on_a_plain_thread(),
        Ok("fatal") => child_panics_in_a_fatal_section_of_a_processor(),
        Ok("source") => child_panics_in_a_fatal_source_inside_a_processor(),
        _ => {}
    }
    let stderr = assert_child_aborts(NAME, "source");
    assert!(stderr.contains("fatal source reached"), "source: {stderr}");
    assert!(stderr.contains("kaboom"), "source: {stderr}");
    for (scenario, message) in [("thread", "store invariant broken"), ("fatal", "corrupt record")] {
        let stderr = assert_child_aborts(NAME, scenario);
        assert!(stderr.contains("contained panics answered"), "{scenario}: {stderr}");
        assert!(stderr.contains(message), "{scenario}: {stderr}");
    }
}

/// Re-runs test `name` in a child process with `CHILD_ENV=scenario`; asserts it died by SIGABRT
/// and returns its stderr.
fn assert_child_aborts(name: &str, scenario: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, scenario)
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let signal = output.status.signal();
    assert_eq!(signal, Some(libc::SIGABRT), "{scenario}: {:?}\n{stderr}", output.status);
    stderr
}

/// In the child: installs the policy, shows that processor panics are still contained, then
/// panics on a plain thread (a store or flush thread), which must abort the whole process.
fn child_panics_on_a_plain_thread() -> ! {
    panic_policy::install();
    processor_panics_are_contained(&fragile_server());
    eprintln!("contained panics answered");
    let thread = std::thread::spawn(|| panic!("store invariant broken"));
    let _ = thread.join();
    // Only reached if the panic did not abort: exit with a status the parent rejects.
    std::process::exit(3);
}

/// In the child: a processor's `fatal` section (a store append finding corruption) panics; the
/// process must abort although the processor runs in a caught scope.
fn child_panics_in_a_fatal_section_of_a_processor() -> ! {
    panic_policy::install();
    let server = fragile_server();
    processor_panics_are_contained(&server);
    eprintln!("contained panics answered");
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("store", 1, 4);
    let corrupt = |_: &RequestContext, _: RemotingCommand| -> Option<RemotingCommand> {
        panic_policy::fatal(|| panic!("corrupt record"))
    };
    builder.register(BOOM, pool, Arc::new(corrupt));
    let server = builder.start().expect("start server");
    let _ = client().invoke_sync(&addr(&server), RemotingCommand::request(BOOM), TIMEOUT);
    std::process::exit(3);
}

/// In the child: this file is named a fatal source (as the broker names the store crate), so
/// a processor panic raised here aborts although it runs in a caught scope.
fn child_panics_in_a_fatal_source_inside_a_processor() -> ! {
    panic_policy::install_with_fatal_sources(&["tests/it/panic_policy.rs"]);
    let server = fragile_server();
    eprintln!("fatal source reached");
    let req = RemotingCommand::request(BOOM).with_ext("boom", "1");
    let _ = client().invoke_sync(&addr(&server), req, TIMEOUT);
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
