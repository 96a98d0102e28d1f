//! Log output of the server binaries: files under `~/logs/rocketmqlogs/` rolled by size with a
//! bounded number kept (as Apache RocketMQ's logback setup does), and stderr when it is a
//! terminal or files are turned off. Only `bin/` calls [`init`]; the libraries only use `log`.
//!
//! Settings, from the environment so that both servers and a systemd unit share them:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `RUST_LOG` | `info` | level, per module too: `info,rocketmq_store=debug` |
//! | `RMQ_LOG_DIR` | `~/logs/rocketmqlogs` | directory of `broker.log` / `namesrv.log` (links to the current `*_rCURRENT.log`); `-` logs to stderr only |
//! | `RMQ_LOG_MAX_BYTES` | 134217728 (128 MiB) | a file rolls when it reaches this size |
//! | `RMQ_LOG_KEEP` | 10 | rolled files kept; older ones are deleted |
//! | `RMQ_LOG_STDERR` | 1 on a terminal, else 0 | also write every line to stderr |
//!
//! Each line names its module (`rocketmq_store::recovery`, `rocketmq_net::server::reactor`,
//! `rocketmq::broker::...`), so store, remoting and broker lines are told apart by the target.

use std::io::IsTerminal;
use std::path::PathBuf;

pub use flexi_logger::LoggerHandle;
use flexi_logger::{
    Cleanup, Criterion, DeferredNow, Duplicate, FileSpec, FlexiLoggerError, Logger, Naming, Record,
};

/// Where and how a server logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// File base name: `broker` writes `broker.log`.
    pub basename: String,
    /// Directory of the log files; `None` logs to stderr only.
    pub dir: Option<PathBuf>,
    /// Size at which the current file rolls.
    pub max_bytes: u64,
    /// Rolled files kept.
    pub keep: usize,
    /// Also write to stderr.
    pub stderr: bool,
    /// The level spec when `RUST_LOG` is unset.
    pub default_spec: String,
}

impl LogOptions {
    /// The settings from the environment (see the module docs), for the server `basename`.
    pub fn from_env(basename: &str) -> Result<LogOptions, String> {
        Self::from_vars(basename, |name| std::env::var(name).ok(), std::io::stderr().is_terminal())
    }

    /// The settings from `lookup` (an environment); `terminal` is whether stderr is one.
    fn from_vars(
        basename: &str,
        lookup: impl Fn(&str) -> Option<String>,
        terminal: bool,
    ) -> Result<LogOptions, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let dir = match var("RMQ_LOG_DIR") {
            Some(d) if d == "-" => None,
            Some(d) => Some(PathBuf::from(d)),
            None => Some(default_dir()),
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            var(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| format!("{name}={v:?}: expected a positive integer"))
            })
        };
        let max_bytes = number("RMQ_LOG_MAX_BYTES", 128 << 20)?;
        if max_bytes == 0 {
            return Err("RMQ_LOG_MAX_BYTES must be above 0".into());
        }
        let keep = usize::try_from(number("RMQ_LOG_KEEP", 10)?).unwrap_or(usize::MAX);
        let stderr = match var("RMQ_LOG_STDERR").as_deref() {
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(other) => return Err(format!("RMQ_LOG_STDERR={other:?}: expected 0 or 1")),
            None => terminal,
        };
        Ok(LogOptions {
            basename: basename.to_string(),
            dir,
            max_bytes,
            keep,
            stderr,
            default_spec: "info".into(),
        })
    }
}

/// `~/logs/rocketmqlogs`, Apache RocketMQ's default.
fn default_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join("logs").join("rocketmqlogs")
}

/// Starts logging; the handle flushes and closes the files when dropped, so the binary keeps
/// it until it exits.
pub fn init(opts: &LogOptions) -> Result<LoggerHandle, FlexiLoggerError> {
    let logger = Logger::try_with_env_or_str(&opts.default_spec)?;
    let logger = match &opts.dir {
        None => logger.log_to_stderr().format(line_format),
        Some(dir) => logger
            .log_to_file(
                FileSpec::default().directory(dir).basename(&opts.basename).suppress_timestamp(),
            )
            .rotate(
                Criterion::Size(opts.max_bytes),
                Naming::Numbers,
                Cleanup::KeepLogFiles(opts.keep),
            )
            .append()
            // The current file is `broker_rCURRENT.log`, rolled ones `broker_r00001.log`...;
            // `broker.log` always points at the current one, for `tail -F`.
            .create_symlink(dir.join(format!("{}.log", opts.basename)))
            .format(line_format)
            .duplicate_to_stderr(if opts.stderr { Duplicate::All } else { Duplicate::None }),
    };
    logger.start()
}

/// `[2026-12-04T04:21:58.123Z WARN  rocketmq_store::recovery] message`, env_logger's shape
/// with milliseconds.
fn line_format(
    w: &mut dyn std::io::Write,
    now: &mut DeferredNow,
    record: &Record<'_>,
) -> std::io::Result<()> {
    write!(
        w,
        "[{} {:<5} {}] {}",
        now.format_rfc3339(),
        record.level(),
        record.module_path().unwrap_or("<unknown>"),
        record.args()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test in this crate that installs a global logger (a process has one).
    #[test]
    fn files_roll_at_the_size_and_old_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions {
            basename: "broker".into(),
            dir: Some(dir.path().to_path_buf()),
            max_bytes: 2048,
            keep: 2,
            stderr: false,
            // Only this test's lines: other tests of the crate log through the same global
            // logger meanwhile, and their lines would roll the files at other points.
            default_spec: "off,rocketmq::logging::tests=info".into(),
        };
        let handle = init(&opts).unwrap();
        for i in 0..400 {
            log::info!("line {i:04} {}", "x".repeat(60));
        }
        handle.flush();
        // Old files are deleted by the logger's cleanup thread after each roll: wait for it.
        let list = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // 400 lines of ~110 bytes roll ~20 times; only the current file, `keep` rolled ones
        // and the `broker.log` link remain.
        while list().len() != 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let names = list();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.contains(&"broker_rCURRENT.log".to_string()), "{names:?}");
        let current = std::fs::read_to_string(dir.path().join("broker.log")).unwrap();
        assert!(current.len() <= 2048 + 200, "current file {} bytes", current.len());
        assert!(current.contains("line 0399"), "the newest line is in the current file");
        assert!(current.contains("INFO  rocketmq::logging::tests]"), "{current}");
        for name in names.iter().filter(|n| n.contains("_r0")) {
            let rolled = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(rolled.len() >= 2048, "{name} rolled early: {} bytes", rolled.len());
            assert!(!rolled.contains("line 0000"), "the oldest file was not deleted: {name}");
        }
    }

    #[test]
    fn options_from_the_environment_are_checked() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let opts = LogOptions::from_vars("namesrv", env(&[]), true).unwrap();
        assert!(opts.dir.as_ref().unwrap().ends_with("logs/rocketmqlogs"), "{opts:?}");
        assert_eq!((opts.max_bytes, opts.keep, opts.stderr), (128 << 20, 10, true));
        let opts = LogOptions::from_vars(
            "broker",
            env(&[("RMQ_LOG_DIR", "-"), ("RMQ_LOG_MAX_BYTES", "4096"), ("RMQ_LOG_KEEP", "3")]),
            false,
        )
        .unwrap();
        assert_eq!((opts.dir, opts.max_bytes, opts.keep, opts.stderr), (None, 4096, 3, false));
        let err = LogOptions::from_vars("broker", env(&[("RMQ_LOG_MAX_BYTES", "1M")]), false);
        assert!(err.unwrap_err().contains("RMQ_LOG_MAX_BYTES"));
        let err = LogOptions::from_vars("broker", env(&[("RMQ_LOG_STDERR", "yes")]), false);
        assert!(err.unwrap_err().contains("RMQ_LOG_STDERR"));
    }
}
