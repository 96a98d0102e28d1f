//! `mqbench`: a load generator for RocketMQ-compatible brokers, built on the blocking client.
//!
//! * `mqbench produce`: sync, async (bounded in-flight), oneway, batch or transactional
//!   (prepare, then commit) sends from N threads,
//!   for a count or a duration; a live line every second (TPS, p50, p99, failures); a final
//!   report (sent, succeeded, failed by reason, TPS, MB/s, HDR-histogram percentiles) and
//!   an accounting check: every async callback must arrive, and the broker's queue offsets
//!   must have grown by at least the acknowledged (oneway: accepted) count.
//! * `mqbench consume`: a push (or lite pull) consumer; TPS and end-to-end latency from store
//!   time and from born time to receipt.
//!
//! Exit codes: 0 done (failures, if any, are in the report), 1 the run could not start or lost
//! track of messages, 2 usage error. Live lines go to stderr; the report (text or `--json`)
//! to stdout.

mod consume;
mod produce;
pub mod stats;

use std::ffi::OsString;
use std::io::Write;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use consume::ConsumeReport;
pub use produce::ProduceReport;

/// `mqbench <produce|consume> [options]`.
#[derive(Debug, Parser)]
#[command(
    name = "mqbench",
    version,
    about = "Load generator for RocketMQ-compatible brokers",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Nameserver address(es): host:port, several joined by ';' (default: $NAMESRV_ADDR)
    #[arg(short = 'n', long = "namesrv", global = true, value_name = "ADDR")]
    pub namesrv: Option<String>,
    /// Print the final report as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// No live line every interval
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Seconds between live lines
    #[arg(long, global = true, default_value_t = 1.0, value_name = "SECONDS")]
    pub interval: f64,
    /// ACL 1.0 access key: sign every request (with --secret-key)
    #[arg(long = "access-key", global = true, value_name = "AK", requires = "secret_key")]
    pub access_key: Option<String>,
    /// ACL 1.0 secret key
    #[arg(long = "secret-key", global = true, value_name = "SK", requires = "access_key")]
    pub secret_key: Option<String>,
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Send messages and measure TPS and latency
    Produce(ProduceArgs),
    /// Consume messages and measure TPS and end-to-end latency
    Consume(ConsumeArgs),
}

/// How messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SendMode {
    /// One blocking send per thread at a time
    Sync,
    /// Callback sends, up to --in-flight outstanding per producer
    Async,
    /// Fire-and-forget (no acknowledgement)
    Oneway,
    /// --batch-size messages per request, sent synchronously
    Batch,
    /// Transactional: a half message then its commit (the local transaction does nothing)
    Transaction,
}

impl SendMode {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
            Self::Oneway => "oneway",
            Self::Batch => "batch",
            Self::Transaction => "transaction",
        }
    }
}

/// `mqbench produce`.
#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    /// Topic (created on --cluster if missing)
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    pub topic: String,
    /// Send mode
    #[arg(short = 'm', long, value_enum, default_value_t = SendMode::Sync)]
    pub mode: SendMode,
    /// Sending threads
    #[arg(short = 'w', long, default_value_t = 1)]
    pub threads: usize,
    /// Producer instances (each has its own connection); threads are spread over them
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Async sends outstanding per producer (async mode)
    #[arg(long = "in-flight", default_value_t = 256)]
    pub in_flight: usize,
    /// Body size in bytes
    #[arg(short = 's', long, default_value_t = 128)]
    pub size: usize,
    /// Microseconds each connection's reader polls for the next reply before sleeping
    /// (default: the client's default); 0 saves CPU when threads outnumber cores
    #[arg(long = "busy-poll-us")]
    pub busy_poll_us: Option<u64>,
    /// Messages to send in total (default: run for --duration)
    #[arg(short = 'c', long)]
    pub count: Option<u64>,
    /// Seconds to run when no --count is given
    #[arg(short = 'd', long, default_value_t = 10.0)]
    pub duration: f64,
    /// Messages per request (batch mode)
    #[arg(short = 'b', long = "batch-size", default_value_t = 32)]
    pub batch_size: usize,
    /// Give every message a tag
    #[arg(long)]
    pub tags: bool,
    /// Give every message a unique key (indexed by the broker)
    #[arg(long)]
    pub keys: bool,
    /// Send timer messages (TIMER_DELIVER_MS) due 1 s to 1 s + this many ms from their send,
    /// spread evenly (measure delivery lag with `consume`, which reports it; implies
    /// --no-verify: they are not in the topic's queues yet when the run ends)
    #[arg(long = "deliver-spread-ms", value_name = "MS")]
    pub deliver_spread_ms: Option<u64>,
    /// Give every message a property `a` = its sequence number modulo N (for SQL92 filter
    /// selectivity: `consume --sql "a < 10"` with N = 1000 matches 1 %)
    #[arg(long = "prop-mod", value_name = "N")]
    pub prop_mod: Option<u64>,
    /// Cap on messages per second over all threads (default: as fast as possible)
    #[arg(long)]
    pub rate: Option<f64>,
    /// Sync sends before measuring (routes fetched, connections open); spread over threads
    #[arg(long, default_value_t = 1000)]
    pub warmup: u64,
    /// Queues per broker when the topic has to be created
    #[arg(long, default_value_t = 8)]
    pub queues: i32,
    /// Cluster to create the topic on
    #[arg(long, default_value = "DefaultCluster")]
    pub cluster: String,
    /// Producer group
    #[arg(short = 'g', long, default_value = "mqbench_producer")]
    pub group: String,
    /// Timeout of one send attempt, milliseconds
    #[arg(long = "timeout-ms", default_value_t = 3000)]
    pub timeout_ms: u64,
    /// Retries of a failed send on another broker
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Skip checking the broker's offsets after the run
    #[arg(long = "no-verify")]
    pub no_verify: bool,
}

/// Which consumer API `mqbench consume` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConsumerKind {
    /// PushConsumer with a listener
    Push,
    /// PushConsumer with an orderly listener (each queue on one thread at a time, under its
    /// broker lock)
    Orderly,
    /// Lite pull consumer, polled by --threads threads
    Lite,
}

/// Where a new group starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartFrom {
    /// Only new messages
    Last,
    /// Everything stored (drain a backlog)
    First,
}

/// `mqbench consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Topic
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    pub topic: String,
    /// Consumer group
    #[arg(short = 'g', long, default_value = "mqbench_consumer")]
    pub group: String,
    /// Consumer API
    #[arg(long, value_enum, default_value_t = ConsumerKind::Push)]
    pub client: ConsumerKind,
    /// Listener threads (push) or polling threads (lite)
    #[arg(short = 'w', long, default_value_t = 4)]
    pub threads: usize,
    /// Where the group starts when it has no offset
    #[arg(long, value_enum, default_value_t = StartFrom::Last)]
    pub from: StartFrom,
    /// Tag expression
    #[arg(short = 'e', long, default_value = "*")]
    pub expression: String,
    /// A SQL92 selector instead of the tag expression (`a < 10`)
    #[arg(long, value_name = "EXPR")]
    pub sql: Option<String>,
    /// Stop after this many messages
    #[arg(short = 'c', long)]
    pub count: Option<u64>,
    /// Stop after this many seconds
    #[arg(short = 'd', long, default_value_t = 60.0)]
    pub duration: f64,
    /// Stop once nothing has arrived for this many seconds (after the first message)
    #[arg(long, default_value_t = 5.0)]
    pub idle: f64,
    /// Messages per listener call (consumeMessageBatchMaxSize)
    #[arg(long = "batch-size", default_value_t = 1)]
    pub batch_size: usize,
    /// Messages per pull request
    #[arg(long = "pull-batch", default_value_t = 32)]
    pub pull_batch: i32,
    /// Messages cached per queue before pulling pauses
    #[arg(long = "queue-cache", default_value_t = 1000)]
    pub queue_cache: usize,
}

/// Why a run did not complete.
#[derive(Debug)]
pub enum BenchError {
    /// Bad arguments (exit 2).
    Usage(String),
    /// The run could not start or finish (exit 1).
    Failed(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) => f.write_str(m),
        }
    }
}

impl From<crate::client::ClientError> for BenchError {
    fn from(e: crate::client::ClientError) -> Self {
        Self::Failed(e.to_string())
    }
}

impl RunOptions {
    /// A client config with these options' credentials (the nameserver is set by builders).
    pub fn client_config(&self) -> crate::client::ClientConfig {
        let mut config = crate::client::ClientConfig::new();
        config.credentials = self.credentials.clone();
        config
    }
}

/// Settings every run shares.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub namesrv: String,
    /// Signs every request when set (ACL 1.0).
    pub credentials: Option<crate::acl::SessionCredentials>,
    pub quiet: bool,
    pub interval: std::time::Duration,
}

/// Runs `mqbench` with `args` (program name first); returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let _ = if e.use_stderr() { write!(err, "{text}") } else { write!(out, "{text}") };
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    match execute(&cli, out, err) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(BenchError::Usage(m)) => {
            let _ = writeln!(err, "mqbench: {m}");
            2
        }
        Err(BenchError::Failed(m)) => {
            let _ = writeln!(err, "mqbench: {m}");
            1
        }
    }
}

/// Runs the command; `Ok(false)` when the run lost track of messages.
fn execute(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<bool, BenchError> {
    let namesrv = cli
        .namesrv
        .clone()
        .or_else(|| std::env::var(crate::client::NAMESRV_ADDR_ENV).ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            BenchError::Usage("no nameserver address: pass -n host:9876 or set NAMESRV_ADDR".into())
        })?;
    if !(cli.interval > 0.0 && cli.interval.is_finite()) {
        return Err(BenchError::Usage("--interval must be a positive number of seconds".into()));
    }
    let credentials = match (&cli.access_key, &cli.secret_key) {
        (Some(ak), Some(sk)) => Some(crate::acl::SessionCredentials::new(ak, sk)),
        _ => None,
    };
    let opts = RunOptions {
        namesrv,
        credentials,
        quiet: cli.quiet,
        interval: std::time::Duration::from_secs_f64(cli.interval),
    };
    let write_failed =
        |e: std::io::Error| BenchError::Failed(format!("cannot write the report: {e}"));
    match &cli.command {
        BenchCommand::Produce(args) => {
            let report = produce::run(&opts, args, err)?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())
            } else {
                write!(out, "{}", report.text())
            }
            .map_err(write_failed)?;
            Ok(report.accounting.lost == 0)
        }
        BenchCommand::Consume(args) => {
            let report = consume::run(&opts, args, err)?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report).unwrap_or_default())
            } else {
                write!(out, "{}", report.text())
            }
            .map_err(write_failed)?;
            Ok(true)
        }
    }
}

/// The process entry point used by `bin/mqbench.rs`.
pub fn main() -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = run(std::env::args_os(), &mut out, &mut std::io::stderr());
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_produce_and_consume_flags() {
        let cli = Cli::try_parse_from([
            "mqbench",
            "-n",
            "127.0.0.1:9876",
            "produce",
            "--mode",
            "async",
            "-w",
            "4",
            "--in-flight",
            "128",
            "-s",
            "1024",
            "-c",
            "1000",
            "--tags",
            "--keys",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let BenchCommand::Produce(p) = cli.command else { panic!("not produce") };
        assert_eq!(
            (p.mode, p.threads, p.in_flight, p.size, p.count),
            (SendMode::Async, 4, 128, 1024, Some(1000))
        );
        assert!(p.tags && p.keys);
        let cli = Cli::try_parse_from([
            "mqbench", "consume", "-t", "T", "-g", "G", "--from", "first", "--client", "lite",
            "-c", "5",
        ])
        .unwrap();
        let BenchCommand::Consume(c) = cli.command else { panic!("not consume") };
        assert_eq!((c.from, c.client, c.count), (StartFrom::First, ConsumerKind::Lite, Some(5)));
    }

    #[test]
    fn usage_errors_exit_2() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(["mqbench", "produce", "--mode", "fast"], &mut out, &mut err), 2);
        assert_eq!(run(["mqbench"], &mut out, &mut err), 2);
    }
}
