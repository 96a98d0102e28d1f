// Shared by the server binaries (included with `#[path]`): logging, the panic policy, config
// loading with exit codes, and SIGINT/SIGTERM handling (the first signal asks for a graceful stop; a second one
// exits at once).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crossbeam_channel::Receiver;
use rocketmq::config::{load_raw, ConfigError, FlagOverrides};
use rocketmq::logging::{LogOptions, LoggerHandle};

/// How a binary prints its config for Java's `-p` (every item) and `-m` (the important ones):
/// the raw config as Java `key=value` pairs, and the keys `-m` shows.
pub struct PrintConfig<R> {
    pub pairs: fn(&R) -> Vec<(String, String)>,
    pub important: &'static [&'static str],
}

/// Initializes logging (`rocketmq::logging`: files under ~/logs/rocketmqlogs, RUST_LOG, default
/// info) and turns the command line into a validated config. Help exits 0, and so do `-p` and
/// `-m` after printing the config (as Java's `mqbroker -p` does); a config or logging error
/// exits 2 with the usage.
pub fn start<R: FlagOverrides, C>(
    prog: &str,
    usage: &str,
    print: PrintConfig<R>,
    validate: impl FnOnce(R) -> Result<C, ConfigError>,
) -> Result<(C, Receiver<()>), ExitCode> {
    if let Err(e) = init_logging(prog) {
        eprintln!("{prog}: cannot start logging: {e}");
        return Err(ExitCode::from(2));
    }
    // A panic in one request answers SYSTEM_ERROR; any other panic, and any panic raised in
    // the store (a violated store invariant, even under a processor), aborts the process.
    rocketmq_net::panic_policy::install_with_fatal_sources(STORE_SOURCES);
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let print_all = take_switch(&mut args, &["-p", "--printConfigItem"]);
    let print_important = take_switch(&mut args, &["-m", "--printImportantConfig"]);
    if print_all || print_important {
        return Err(print_config(prog, usage, &args, &print, print_all));
    }
    let config = match load_raw::<R>(&args).and_then(|raw| raw.map(validate).transpose()) {
        Ok(Some(c)) => c,
        Ok(None) => {
            println!("{usage}");
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("{prog}: {e}\n{usage}");
            return Err(ExitCode::from(2));
        }
    };
    match install_signals() {
        Ok(stop) => Ok((config, stop)),
        Err(e) => {
            eprintln!("{prog}: cannot install signal handler: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Removes every occurrence of the switches `names` from `args`; whether one was there.
fn take_switch(args: &mut Vec<String>, names: &[&str]) -> bool {
    let before = args.len();
    args.retain(|a| !names.contains(&a.as_str()));
    args.len() != before
}

/// Loads the config from `args` and prints it as `key=value` lines (all, or the important ones).
fn print_config<R: FlagOverrides>(
    prog: &str,
    usage: &str,
    args: &[String],
    print: &PrintConfig<R>,
    all: bool,
) -> ExitCode {
    match load_raw::<R>(args) {
        Ok(Some(raw)) => {
            for (key, value) in (print.pairs)(&raw) {
                if all || print.important.contains(&key.as_str()) {
                    println!("{key}={value}");
                }
            }
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{prog}: {e}\n{usage}");
            ExitCode::from(2)
        }
    }
}

/// Where the store's source files are: in this workspace, and as a registry dependency.
const STORE_SOURCES: &[&str] = &["store/src/", "rocketmq-store-"];

/// The logger's handle lives as long as the process.
static LOGGER: OnceLock<LoggerHandle> = OnceLock::new();

/// Starts logging to `broker.log` / `namesrv.log` as `rocketmq::logging` describes.
fn init_logging(prog: &str) -> Result<(), String> {
    let basename = if prog == "nameserver" { "namesrv" } else { prog };
    let opts = LogOptions::from_env(basename)?;
    let handle = rocketmq::logging::init(&opts).map_err(|e| e.to_string())?;
    let _ = LOGGER.set(handle);
    if let Some(dir) = &opts.dir {
        log::info!("logging to {}", dir.join(format!("{basename}.log")).display());
    }
    Ok(())
}

/// Installs the handler and returns a channel that yields once when a stop is requested.
fn install_signals() -> Result<Receiver<()>, ctrlc::Error> {
    static SIGNALS: AtomicUsize = AtomicUsize::new(0);
    let (tx, rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = tx.try_send(());
        } else {
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        }
    })?;
    Ok(rx)
}

/// Tells a `Type=notify` service manager our state (`READY=1` once requests are accepted,
/// `STOPPING=1` when a stop begins); a failure is logged, never fatal.
pub fn notify_service(state: &str) {
    if let Err(e) = rocketmq::service::notify(state) {
        log::warn!("cannot notify the service manager ({state}): {e}");
    }
}
