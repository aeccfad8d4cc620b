#![no_main]
//! The gateway's server side of a viewer's handshake (when the gateway logged in to the VNC
//! server itself) on arbitrary viewer bytes, fed in chunk sizes taken from the first byte.
//! Beyond "no panic": the chunking changes nothing; the gateway always opens with RFB 3.8; it
//! sends the server's ServerInit only after a complete, valid handshake, exactly once and last;
//! and what it hands on as the viewer's first session bytes is exactly the input after the
//! handshake (12-byte version, the security choice unless 3.3, one ClientInit byte).

use gateway::backend::greeting::Greeter;
use libfuzzer_sys::fuzz_target;

const SERVER_INIT: &[u8] = b"\x04\x00\x03\x00SERVER-INIT";

/// What was sent, and the bytes after the handshake (None: not over, Err: refused).
fn run(data: &[u8], chunk: usize) -> (Vec<u8>, Result<Option<Vec<u8>>, String>) {
    let mut out = Vec::new();
    let mut g = Greeter::new(SERVER_INIT.to_vec(), &mut out);
    let mut rest: Option<Vec<u8>> = None;
    for part in data.chunks(chunk.max(1)) {
        match &mut rest {
            // After the handshake the viewer's bytes are the session's, not the greeter's.
            Some(r) => r.extend_from_slice(part),
            None => match g.receive(part, &mut out) {
                Ok(r) => rest = r,
                Err(e) => return (out, Err(e.to_string())),
            },
        }
    }
    (out, Ok(rest))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, input)) = data.split_first() else { return };
    let chunk = usize::from(sizes % 32) + 1;
    let (out, result) = run(input, chunk);
    assert_eq!((out.clone(), result.clone()), run(input, input.len()), "the chunking changed the handshake");
    assert!(out.starts_with(b"RFB 003.008\n"));
    let inits = out.windows(SERVER_INIT.len()).filter(|w| *w == SERVER_INIT).count();
    match result {
        Ok(Some(rest)) => {
            assert!(out.ends_with(SERVER_INIT));
            assert_eq!(inits, 1);
            let used = match &input[..12] {
                b"RFB 003.003\n" => 13,
                b"RFB 003.007\n" | b"RFB 003.008\n" => {
                    assert_eq!(input[12], 1, "a security type other than None was accepted");
                    14
                }
                v => panic!("version {v:?} accepted"),
            };
            assert_eq!(rest, input[used..], "the session's first bytes are not what followed the handshake");
        }
        Ok(None) | Err(_) => assert_eq!(inits, 0, "ServerInit sent before the handshake was complete"),
    }
});
