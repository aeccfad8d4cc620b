//! PROXY protocol v1 and v2 headers (HAProxy's `doc/proxy-protocol.txt`): a pure parser over
//! the first bytes of a connection from a trusted proxy.
//!
//! Drive contract: peek at the connection, call [`parse`] on everything peeked so far; on
//! `Ok(NeedMore)` peek again (bounded by a deadline); on `Ok(Complete { len, .. })` consume
//! exactly `len` bytes, the rest belongs to the client; on `Err` close the connection.
//! Whether a header is expected is the caller's decision, made from the peer's address,
//! never guessed from the bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature; it holds a NUL, so it is never handled as text.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included.
pub const V1_MAX_BYTES: usize = 107;
/// The longest v2 header accepted (16-byte fixed part plus addresses and TLVs).
pub const V2_MAX_BYTES: usize = 4096;

/// What the proxy says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The client's address and the address it connected to.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// v1 `UNKNOWN`, v2 `LOCAL`, or an address family without IP addresses: the proxy's own
    /// connection (a health check); use the connection's address.
    Local,
}

/// A parse that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    Complete { header: ProxyHeader, len: usize },
    NeedMore,
}

/// Why a header is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("no PROXY protocol header (neither v1 \"PROXY \" nor the v2 signature)")]
    Missing,
    #[error("PROXY v1 header has no CRLF within {V1_MAX_BYTES} bytes")]
    V1TooLong,
    #[error("PROXY v1 header has a bare CR or LF")]
    V1LineEnd,
    #[error("PROXY v1 header is malformed: {field}")]
    V1Field { field: &'static str },
    #[error("PROXY v2 version is {got}, expected 2")]
    V2Version { got: u8 },
    #[error("PROXY v2 command is {got}, expected 0 (LOCAL) or 1 (PROXY)")]
    V2Command { got: u8 },
    #[error("PROXY v2 address family/protocol byte {got:#04x} is not defined")]
    V2Family { got: u8 },
    #[error("PROXY v2 header announces {got} bytes, more than the {V2_MAX_BYTES} accepted")]
    V2TooLong { got: usize },
    #[error("PROXY v2 address block is {got} bytes, too short for family {family:#04x}")]
    V2Addresses { family: u8, got: usize },
}

/// Parses a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    const V1_SIG: &[u8] = b"PROXY ";
    let is_prefix_of = |sig: &[u8]| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    };
    if buf.is_empty() {
        return Ok(Parsed::NeedMore);
    }
    if is_prefix_of(V1_SIG) {
        if buf.len() < V1_SIG.len() {
            return Ok(Parsed::NeedMore);
        }
        return parse_v1(buf);
    }
    if is_prefix_of(&V2_SIGNATURE) {
        if buf.len() < V2_SIGNATURE.len() {
            return Ok(Parsed::NeedMore);
        }
        return parse_v2(buf);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_BYTES)];
    let Some(end) = window.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return if buf.len() >= V1_MAX_BYTES {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::NeedMore)
        };
    };
    if window.get(end) == Some(&b'\n') {
        return Err(ProxyError::V1LineEnd);
    }
    if end + 2 > V1_MAX_BYTES {
        return Err(ProxyError::V1TooLong);
    }
    match buf.get(end + 1) {
        None => return Ok(Parsed::NeedMore),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::V1LineEnd),
    }
    let len = end + 2;
    let line =
        std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::V1Field { field: "not ASCII" })?;
    let mut fields = line.split(' ');
    let _proxy = fields.next();
    let header = match fields.next() {
        Some("UNKNOWN") => ProxyHeader::Local,
        Some(family @ ("TCP4" | "TCP6")) => {
            let v4 = family == "TCP4";
            let mut next = |field| fields.next().ok_or(ProxyError::V1Field { field });
            let src = v1_ip(next("source address")?, v4, "source address")?;
            let dst = v1_ip(next("destination address")?, v4, "destination address")?;
            let sport = v1_port(next("source port")?, "source port")?;
            let dport = v1_port(next("destination port")?, "destination port")?;
            if fields.next().is_some() {
                return Err(ProxyError::V1Field {
                    field: "extra field",
                });
            }
            ProxyHeader::Proxied {
                source: SocketAddr::new(src, sport),
                destination: SocketAddr::new(dst, dport),
            }
        }
        _ => return Err(ProxyError::V1Field { field: "protocol" }),
    };
    Ok(Parsed::Complete { header, len })
}

fn v1_ip(s: &str, v4: bool, field: &'static str) -> Result<IpAddr, ProxyError> {
    let bad = ProxyError::V1Field { field };
    if v4 {
        s.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad)
    } else {
        s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad)
    }
}

fn v1_port(s: &str, field: &'static str) -> Result<u16, ProxyError> {
    let bad = ProxyError::V1Field { field };
    let digits_ok = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok || (s.len() > 1 && s.starts_with('0')) {
        return Err(bad);
    }
    s.parse().map_err(|_| bad)
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(&[ver_cmd, fam, len_hi, len_lo]) = buf.get(12..16) else {
        // Check what we have of the fixed part before asking for more.
        if let Some(&ver_cmd) = buf.get(12) {
            v2_version_command(ver_cmd)?;
        }
        if let Some(&fam) = buf.get(13) {
            v2_address_len(fam)?;
        }
        return Ok(Parsed::NeedMore);
    };
    let command = v2_version_command(ver_cmd)?;
    let needed = v2_address_len(fam)?;
    let body_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let len = 16 + body_len;
    if len > V2_MAX_BYTES {
        return Err(ProxyError::V2TooLong { got: len });
    }
    if body_len < needed {
        return Err(ProxyError::V2Addresses {
            family: fam,
            got: body_len,
        });
    }
    let Some(body) = buf.get(16..len) else {
        return Ok(Parsed::NeedMore);
    };
    // Indexing below stays inside `body`: its length was checked against the family above.
    let header = match (command, fam >> 4) {
        (0, _) => ProxyHeader::Local,
        (_, 0x1) => {
            let ip = |at: usize| {
                let mut a = [0u8; 4];
                a.copy_from_slice(&body[at..at + 4]);
                IpAddr::V4(Ipv4Addr::from(a))
            };
            v2_proxied(ip(0), ip(4), &body[8..12])
        }
        (_, 0x2) => {
            let ip = |at: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(a))
            };
            v2_proxied(ip(0), ip(16), &body[32..36])
        }
        // UNSPEC or UNIX: no IP addresses to report.
        _ => ProxyHeader::Local,
    };
    Ok(Parsed::Complete { header, len })
}

fn v2_proxied(src: IpAddr, dst: IpAddr, ports: &[u8]) -> ProxyHeader {
    let port = |i: usize| u16::from_be_bytes([ports[i], ports[i + 1]]);
    ProxyHeader::Proxied {
        source: SocketAddr::new(src, port(0)),
        destination: SocketAddr::new(dst, port(2)),
    }
}

/// The command (0 LOCAL, 1 PROXY) after checking the version nibble.
fn v2_version_command(b: u8) -> Result<u8, ProxyError> {
    if b >> 4 != 2 {
        return Err(ProxyError::V2Version { got: b >> 4 });
    }
    match b & 0x0f {
        c @ (0 | 1) => Ok(c),
        got => Err(ProxyError::V2Command { got }),
    }
}

/// The bytes of addresses a family/protocol byte needs.
fn v2_address_len(fam: u8) -> Result<usize, ProxyError> {
    let family = match fam >> 4 {
        0x0 => 0,
        0x1 => 12,
        0x2 => 36,
        0x3 => 216,
        _ => return Err(ProxyError::V2Family { got: fam }),
    };
    match fam & 0x0f {
        0x0 if fam == 0x00 => Ok(0),
        0x1 | 0x2 if family > 0 => Ok(family),
        _ => Err(ProxyError::V2Family { got: fam }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_TCP4: &[u8] = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
    const V1_TCP6: &[u8] = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 8443\r\n";
    const V1_UNKNOWN: &[u8] = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";

    fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[ver_cmd, fam]);
        h.extend_from_slice(&u16::try_from(body.len()).expect("short").to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn v2_tcp4() -> Vec<u8> {
        // 192.0.2.1:56324 → 198.51.100.2:443, then a NOOP TLV (type 4) of 3 bytes.
        let mut body = vec![192, 0, 2, 1, 198, 51, 100, 2];
        body.extend_from_slice(&56324u16.to_be_bytes());
        body.extend_from_slice(&443u16.to_be_bytes());
        body.extend_from_slice(&[0x04, 0, 3, 0, 0, 0]);
        v2(0x21, 0x11, &body)
    }

    fn client(s: &str) -> ProxyHeader {
        let (src, dst) = s.split_once(' ').expect("two addresses");
        ProxyHeader::Proxied {
            source: src.parse().expect("src"),
            destination: dst.parse().expect("dst"),
        }
    }

    /// Every proper prefix needs more; the whole header is complete with its exact length,
    /// also when the client's first bytes follow it.
    fn assert_every_prefix(capture: &[u8], want: ProxyHeader) {
        for cut in 0..capture.len() {
            assert_eq!(
                parse(&capture[..cut]),
                Ok(Parsed::NeedMore),
                "cut at {cut} of {capture:?}"
            );
        }
        let done = Ok(Parsed::Complete {
            header: want,
            len: capture.len(),
        });
        assert_eq!(parse(capture), done);
        let mut more = capture.to_vec();
        more.extend_from_slice(b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n");
        assert_eq!(parse(&more), done);
    }

    #[test]
    fn every_prefix_of_real_headers() {
        assert_every_prefix(V1_TCP4, client("192.0.2.1:56324 198.51.100.2:443"));
        assert_every_prefix(V1_TCP6, client("[2001:db8::1]:65535 [2001:db8::2]:8443"));
        assert_every_prefix(V1_UNKNOWN, ProxyHeader::Local);
        assert_every_prefix(b"PROXY UNKNOWN\r\n", ProxyHeader::Local);
        assert_every_prefix(&v2_tcp4(), client("192.0.2.1:56324 198.51.100.2:443"));
        let mut body6 = Vec::new();
        body6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("ip").octets());
        body6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("ip").octets());
        body6.extend_from_slice(&[0x1f, 0x90, 0x01, 0xbb]);
        assert_every_prefix(
            &v2(0x21, 0x21, &body6),
            client("[2001:db8::1]:8080 [2001:db8::2]:443"),
        );
        assert_every_prefix(&v2(0x20, 0x00, &[]), ProxyHeader::Local);
        assert_every_prefix(&v2(0x20, 0x11, &[0; 12]), ProxyHeader::Local);
        assert_every_prefix(&v2(0x21, 0x31, &[0; 216]), ProxyHeader::Local);
        assert_every_prefix(&v2(0x21, 0x00, &[]), ProxyHeader::Local);
    }

    #[test]
    fn malformed_headers_are_invalid_as_early_as_possible() {
        let bad_v1: &[(&[u8], ProxyError)] = &[
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
                ProxyError::V1LineEnd,
            ),
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\rX",
                ProxyError::V1LineEnd,
            ),
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",
                ProxyError::V1Field {
                    field: "source port",
                },
            ),
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
                ProxyError::V1Field {
                    field: "source port",
                },
            ),
            (
                b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
                ProxyError::V1Field {
                    field: "source address",
                },
            ),
            (
                b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
                ProxyError::V1Field {
                    field: "source address",
                },
            ),
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n",
                ProxyError::V1Field {
                    field: "destination port",
                },
            ),
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
                ProxyError::V1Field {
                    field: "extra field",
                },
            ),
            (
                b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n",
                ProxyError::V1Field {
                    field: "source address",
                },
            ),
            (
                b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
                ProxyError::V1Field { field: "protocol" },
            ),
            (
                b"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
                ProxyError::V1Field {
                    field: "source address",
                },
            ),
        ];
        for (input, want) in bad_v1 {
            assert_eq!(
                parse(input),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 120]].concat();
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&long[..V1_MAX_BYTES]), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&long[..V1_MAX_BYTES - 1]), Ok(Parsed::NeedMore));

        assert_eq!(
            parse(&v2(0x11, 0x11, &[0; 12])),
            Err(ProxyError::V2Version { got: 1 })
        );
        assert_eq!(
            parse(&v2(0x22, 0x11, &[0; 12])),
            Err(ProxyError::V2Command { got: 2 })
        );
        assert_eq!(
            parse(&v2(0x21, 0x41, &[0; 12])),
            Err(ProxyError::V2Family { got: 0x41 })
        );
        assert_eq!(
            parse(&v2(0x21, 0x13, &[0; 12])),
            Err(ProxyError::V2Family { got: 0x13 })
        );
        assert_eq!(
            parse(&v2(0x21, 0x01, &[])),
            Err(ProxyError::V2Family { got: 0x01 })
        );
        assert_eq!(
            parse(&v2(0x21, 0x11, &[0; 8])),
            Err(ProxyError::V2Addresses {
                family: 0x11,
                got: 8
            })
        );
        // Errors in the fixed part are found before the body arrives.
        assert_eq!(
            parse(&v2(0x31, 0x11, &[])[..13]),
            Err(ProxyError::V2Version { got: 3 })
        );
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(
            parse(&huge),
            Err(ProxyError::V2TooLong { got: 16 + 0xffff })
        );

        for other in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01",
            b"PROXX",
            b"\r\n\r\n\0\r\nQUIT\r",
            b"RFB 003.008\n",
        ] {
            assert_eq!(parse(other), Err(ProxyError::Missing), "{other:?}");
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut corpus = vec![V1_TCP4.to_vec(), V1_TCP6.to_vec(), v2_tcp4()];
        for round in 0..2000 {
            let mut input = corpus[round % corpus.len()].clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = usize::try_from(seed % 64).unwrap_or(0);
                if let Some(b) = input.get_mut(at) {
                    *b = (seed >> 32) as u8;
                }
            }
            let _ = parse(&input);
            corpus.push(input);
            corpus.truncate(64);
        }
    }
}
