//! `mqadmin`: RocketMQ's admin CLI over [`crate::client::Admin`]: the same command names,
//! short flags and `#Header` column layouts as the Java tool, `--json` for scripts, and stable
//! exit codes: 0 success, 1 the command failed (one line on stderr), 2 usage error.
//!
//! Layout: `cli` (clap definitions), `commands` (runs a command against the cluster),
//! `render` (pure text and JSON renderers).

mod cli;
mod commands;
pub mod render;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

pub use cli::{Cli, Command};

/// Exit code of a command that failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error.
pub const EXIT_USAGE: u8 = 2;

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The arguments make no sense (exit 2).
    Usage(String),
    /// The cluster refused or could not be reached (exit 1).
    Failed(String),
    /// Whoever reads our output went away (`mqadmin topicList | head`): not a failure.
    OutputClosed,
}

impl CliError {
    fn failed(e: impl std::fmt::Display) -> Self {
        Self::Failed(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::OutputClosed
        } else {
            Self::Failed(format!("cannot write output: {e}"))
        }
    }
}

/// Runs `mqadmin` with `args` (program name first), writing to `out` and `err`; returns the
/// exit code.
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
            return u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE);
        }
    };
    let name = command_name(&cli.command);
    let result = commands::execute(&cli, out).and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) | Err(CliError::OutputClosed) => 0,
        Err(CliError::Usage(msg)) => {
            let _ = writeln!(err, "mqadmin {name}: {}", one_line(&msg));
            let _ = writeln!(err, "See 'mqadmin help {name}'.");
            EXIT_USAGE
        }
        Err(CliError::Failed(msg)) => {
            let _ = writeln!(err, "mqadmin {name} failed: {}", one_line(&msg));
            EXIT_FAILED
        }
    }
}

/// The process entry point used by `bin/mqadmin.rs`.
pub fn main() -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let code = run(std::env::args_os(), &mut out, &mut std::io::stderr());
    std::process::ExitCode::from(code)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The RocketMQ name of a command.
pub fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::UpdateTopic(_) => "updateTopic",
        Command::DeleteTopic(_) => "deleteTopic",
        Command::TopicList(_) => "topicList",
        Command::TopicRoute(_) => "topicRoute",
        Command::TopicStatus(_) => "topicStatus",
        Command::ClusterList(_) => "clusterList",
        Command::BrokerStatus(_) => "brokerStatus",
        Command::ConsumerProgress(_) => "consumerProgress",
        Command::ConsumerConnection(_) => "consumerConnection",
        Command::QueryMsgById(_) => "queryMsgById",
        Command::QueryMsgByKey(_) => "queryMsgByKey",
        Command::QueryMsgByOffset(_) => "queryMsgByOffset",
        Command::ResetOffsetByTime(_) => "resetOffsetByTime",
        Command::UpdateSubGroup(_) => "updateSubGroup",
        Command::DeleteSubGroup(_) => "deleteSubGroup",
        Command::SendMessage(_) => "sendMessage",
        Command::ConsumeMessage(_) => "consumeMessage",
        Command::PrintMsg(_) => "printMsg",
        Command::GetBrokerConfig(_) => "getBrokerConfig",
        Command::UpdateBrokerConfig(_) => "updateBrokerConfig",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(args.iter().copied(), &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn usage_errors_exit_2_and_help_exits_0() {
        let (code, _, err) = run_args(&["mqadmin", "updateTopic", "-t", "T"]);
        assert_eq!(code, EXIT_USAGE, "{err}");
        let (code, _, _) = run_args(&["mqadmin", "noSuchCommand"]);
        assert_eq!(code, EXIT_USAGE);
        let (code, _, _) =
            run_args(&["mqadmin", "updateTopic", "-t", "T", "-c", "C", "-o", "maybe"]);
        assert_eq!(code, EXIT_USAGE);
        let (code, out, _) = run_args(&["mqadmin", "help", "updateTopic"]);
        assert_eq!(code, 0);
        assert!(out.contains("--readQueueNums") && out.contains("-t, --topic"), "{out}");
        let (code, out, _) = run_args(&["mqadmin", "help"]);
        assert_eq!(code, 0);
        for name in ["updateTopic", "consumerProgress", "resetOffsetByTime", "getBrokerConfig"] {
            assert!(out.contains(name), "{name} missing from {out}");
        }
    }

    #[test]
    fn every_command_parses_its_java_flags() {
        let cases: &[&[&str]] = &[
            &["updateTopic", "-t", "T", "-c", "C", "-r", "4", "-w", "4", "-p", "6", "-o", "true"],
            &["updateTopic", "-t", "T", "-b", "127.0.0.1:10911"],
            &["deleteTopic", "-t", "T", "-c", "C"],
            &["topicList", "-c"],
            &["topicRoute", "-t", "T", "-l"],
            &["topicStatus", "-t", "T"],
            &["clusterList", "-m", "-i", "5"],
            &["brokerStatus", "-b", "127.0.0.1:10911"],
            &["consumerProgress", "-g", "G", "-t", "T", "-s", "true"],
            &["consumerProgress"],
            &["consumerConnection", "-g", "G"],
            &["queryMsgById", "-i", "ID", "-t", "T"],
            &["queryMsgByKey", "-t", "T", "-k", "K", "-m", "10", "-b", "0", "-e", "1"],
            &["queryMsgByOffset", "-t", "T", "-b", "broker-a", "-i", "0", "-o", "3"],
            &["resetOffsetByTime", "-g", "G", "-t", "T", "-s", "now"],
            &["updateSubGroup", "-g", "G", "-c", "C", "-s", "true", "-r", "3", "-q", "1"],
            &["deleteSubGroup", "-g", "G", "-b", "127.0.0.1:10911", "-r", "true"],
            &["sendMessage", "-t", "T", "-p", "body", "-k", "K", "-c", "TagA"],
            &["sendMessage", "-t", "T", "-p", "body", "-b", "broker-a", "-i", "1"],
            &["consumeMessage", "-t", "T", "-b", "broker-a", "-i", "0", "-o", "0", "-c", "5"],
            &["printMsg", "-t", "T", "-s", "TagA || TagB", "-d", "false"],
            &["getBrokerConfig", "-c", "C"],
        ];
        for case in cases {
            let mut args = vec!["mqadmin", "-n", "127.0.0.1:1"];
            args.extend_from_slice(case);
            args.push("--json");
            let cli = Cli::try_parse_from(&args);
            assert!(cli.is_ok(), "{case:?}: {}", cli.unwrap_err());
            let cli = cli.unwrap();
            assert!(cli.json);
            assert_eq!(command_name(&cli.command), case[0]);
        }
    }

    #[test]
    fn missing_nameserver_is_a_usage_error() {
        if std::env::var_os("NAMESRV_ADDR").is_some() {
            return;
        }
        let (code, _, err) = run_args(&["mqadmin", "topicList"]);
        assert_eq!(code, EXIT_USAGE);
        assert!(err.contains("NAMESRV_ADDR"), "{err}");
    }
}
