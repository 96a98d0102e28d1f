// Shared by the server binaries (included with `#[path]`): logging, the panic policy, config
// loading with exit codes, and SIGINT/SIGTERM handling (the first signal asks for a graceful stop; a second one
// exits at once).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Receiver;
use rocketmq::config::{load_raw, ConfigError, FlagOverrides};

/// Initializes logging (RUST_LOG, default info) and turns the command line into a validated
/// config. Help exits 0, a config error exits 2 with the usage.
pub fn start<R: FlagOverrides, C>(
    prog: &str,
    usage: &str,
    validate: impl FnOnce(R) -> Result<C, ConfigError>,
) -> Result<(C, Receiver<()>), ExitCode> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // A panic in one request answers SYSTEM_ERROR; any other panic aborts the process.
    rocketmq_net::panic_policy::install();
    let args: Vec<String> = std::env::args().skip(1).collect();
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
