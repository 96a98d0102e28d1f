// Shared by the server binaries (included with `#[path]`): SIGINT/SIGTERM handling.
//
// The first signal asks for a graceful stop; a second one exits at once.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Receiver;

/// Installs the handler and returns a channel that yields once when a stop is requested.
pub fn install() -> Result<Receiver<()>, ctrlc::Error> {
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
