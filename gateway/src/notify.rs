//! systemd's readiness protocol (`Type=notify`): `READY=1` once the gateway listens,
//! `RELOADING=1` … `READY=1` around a SIGHUP reload, `STOPPING=1` at shutdown — one datagram
//! each to the socket in `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//! Without `$NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (for example `READY=1`) to systemd, if it is listening; failures are logged
/// once and otherwise ignored (the service works without them).
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)
            }
            None => sock.send_to(state.as_bytes(), &path),
        }
    });
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "cannot tell systemd (NOTIFY_SOCKET)");
    }
}
