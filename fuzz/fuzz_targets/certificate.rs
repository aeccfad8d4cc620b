#![no_main]
//! What the viewer reads from a link or a session file, and from a VNC server's TLS
//! handshake: CA data, certificates (the viewer's own DER reader) and session files.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certs::CertInfo::parse("fuzz", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = certs::ca_data::decode(text);
    }
    let _ = certs::session_file::parse(data);
});
