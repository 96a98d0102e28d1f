//! Service-manager readiness: the `sd_notify` protocol of systemd's `Type=notify` units, a
//! datagram such as `READY=1` sent to the socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name after `@`). Without the variable nothing is sent. Only `bin/` calls it, once
//! the server really accepts requests, and again when it starts stopping.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends `state` (`READY=1`, `STOPPING=1`, `STATUS=...`) to the service manager. `Ok(false)`
/// when no manager listens (`$NOTIFY_SOCKET` unset).
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let target = target.to_string_lossy().into_owned();
    let socket = UnixDatagram::unbound()?;
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), &target)?;
        }
    }
    Ok(true)
}
