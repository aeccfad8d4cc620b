//! Protocol detection on the first bytes of a connection: a pure function over a prefix.

/// What the first bytes of a connection say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A TLS record carrying a handshake (ClientHello): `0x16 0x03 …`.
    Tls,
    /// An HTTP/1.x request line: a method token then a space.
    Http,
    /// A PROXY protocol v1 (`PROXY `) header.
    ProxyV1,
    /// A PROXY protocol v2 signature.
    ProxyV2,
    /// The prefix could still become any of the above: read more.
    NeedMore,
    /// None of the above.
    Unknown,
}

const PROXY_V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Classifies `prefix`. Returns `NeedMore` only while some candidate is still a possibility,
/// so a caller that stops on anything else never waits longer than it must.
pub fn detect(prefix: &[u8]) -> Detected {
    if prefix.is_empty() {
        return Detected::NeedMore;
    }
    let matches = |sig: &[u8]| -> Option<bool> {
        let n = prefix.len().min(sig.len());
        (prefix[..n] == sig[..n]).then_some(prefix.len() >= sig.len())
    };
    // TLS: content type 22 (handshake), major version 3.
    match matches(&[0x16, 0x03]) {
        Some(true) => return Detected::Tls,
        Some(false) => return Detected::NeedMore,
        None => {}
    }
    let mut pending = false;
    for (sig, found) in [
        (&b"PROXY "[..], Detected::ProxyV1),
        (PROXY_V2_SIG, Detected::ProxyV2),
    ] {
        match matches(sig) {
            Some(true) => return found,
            Some(false) => pending = true,
            None => {}
        }
    }
    for m in METHODS {
        match matches(m) {
            Some(true) => return Detected::Http,
            Some(false) => pending = true,
            None => {}
        }
    }
    if pending {
        Detected::NeedMore
    } else {
        Detected::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of an openssl s_client ClientHello.
    const CLIENT_HELLO: &[u8] = &[
        0x16, 0x03, 0x01, 0x01, 0x3a, 0x01, 0x00, 0x01, 0x36, 0x03, 0x03,
    ];
    const GET: &[u8] = b"GET /ws/demo HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n";
    const PROXY1: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 4000 443\r\n";

    fn assert_every_prefix(capture: &[u8], want: Detected) {
        for cut in 0..capture.len() {
            let got = detect(&capture[..cut]);
            assert!(
                got == want || got == Detected::NeedMore,
                "{capture:?} cut at {cut}: {got:?}"
            );
        }
        assert_eq!(detect(capture), want);
    }

    #[test]
    fn every_prefix_of_real_first_bytes() {
        assert_every_prefix(CLIENT_HELLO, Detected::Tls);
        assert_every_prefix(GET, Detected::Http);
        assert_every_prefix(b"POST /api/otk HTTP/1.1\r\n", Detected::Http);
        assert_every_prefix(PROXY1, Detected::ProxyV1);
        let mut v2 = PROXY_V2_SIG.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12]);
        assert_every_prefix(&v2, Detected::ProxyV2);
    }

    /// First flights captured from real clients (gateway/tests/captures): Chromium 156's and
    /// openssl 3.0's ClientHello (Chromium's, with a post-quantum key share, spans several
    /// TCP segments), Chromium's and curl's plain HTTP GET.
    #[test]
    fn every_prefix_of_captured_first_flights() {
        let captures: [(&[u8], Detected); 4] = [
            (
                include_bytes!("../tests/captures/chromium-clienthello.bin"),
                Detected::Tls,
            ),
            (
                include_bytes!("../tests/captures/openssl-clienthello.bin"),
                Detected::Tls,
            ),
            (
                include_bytes!("../tests/captures/chromium-http-get.bin"),
                Detected::Http,
            ),
            (
                include_bytes!("../tests/captures/curl-http-get.bin"),
                Detected::Http,
            ),
        ];
        for (capture, want) in captures {
            assert!(capture.len() > 16, "the capture is the real first flight");
            assert_every_prefix(capture, want);
        }
    }

    #[test]
    fn garbage_and_vnc_client_versions_are_unknown() {
        assert_eq!(detect(b"RFB 003.008\n"), Detected::Unknown);
        assert_eq!(detect(&[0x16, 0x02]), Detected::Unknown);
        assert_eq!(detect(b"GETX"), Detected::Unknown);
        assert_eq!(detect(&[0xff; 32]), Detected::Unknown);
        assert_eq!(detect(b""), Detected::NeedMore);
    }
}
