//! Plain HTTP on the TLS port: the request head is read (bounded), and a browser is sent to
//! the same host and path over https. Nothing else is served in clear.
//!
//! Drive contract: read into a buffer, call [`parse_head`] on all of it; on `Ok(None)` read
//! more (up to `max` bytes, within a deadline); then write [`Reply::bytes`] and close.

/// The parts of a request head the redirect needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request-target as sent (`/path?query` for a browser).
    pub target: String,
    /// The `Host` header, if exactly one was sent.
    pub host: Option<String>,
}

/// Why a request head was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the request head is longer than {max} bytes")]
    TooLarge { max: usize },
    #[error("the request line is malformed")]
    RequestLine,
    #[error("a header line is malformed")]
    HeaderLine,
    #[error("more than one Host header")]
    DuplicateHost,
}

/// Parses a request head once it is complete (`\r\n\r\n`). `Ok(None)`: read more.
pub fn parse_head(buf: &[u8], max: usize) -> Result<Option<RequestHead>, HeadError> {
    let window = &buf[..buf.len().min(max)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= max {
            Err(HeadError::TooLarge { max })
        } else {
            Ok(None)
        };
    };
    let head = &buf[..end];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().ok_or(HeadError::RequestLine)?;
    let request_line = std::str::from_utf8(request_line).map_err(|_| HeadError::RequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::RequestLine);
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method) || target.is_empty() || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadError::RequestLine);
    }
    let mut host = None;
    for line in lines {
        let line = std::str::from_utf8(line).map_err(|_| HeadError::HeaderLine)?;
        let (name, value) = line.split_once(':').ok_or(HeadError::HeaderLine)?;
        if !token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(HeadError::HeaderLine);
        }
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(HeadError::DuplicateHost);
            }
            host = Some(value.trim_matches([' ', '\t']).to_owned());
        }
    }
    Ok(Some(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        host,
    }))
}

/// A `Host` we are willing to put into a `Location`: a DNS name or IPv4 address, or an IPv6
/// address in brackets, with an optional port; nothing else.
pub fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !ok {
            return false;
        }
    }
    let Some(name) = name else { return true };
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An origin-form request-target (`/path?query`) of visible ASCII only.
fn valid_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| b.is_ascii_graphic())
}

/// What the gateway answers in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 301 to this https URL.
    Redirect { location: String },
    /// 400, with the reason shown to the person.
    BadRequest { reason: &'static str },
}

/// The answer to a parsed (or unparseable) request head.
pub fn reply(head: Result<&RequestHead, HeadError>) -> Reply {
    let Ok(head) = head else {
        return Reply::BadRequest {
            reason: "This port speaks TLS: use https:// in the address.",
        };
    };
    if head.method != "GET" && head.method != "HEAD" {
        return Reply::BadRequest {
            reason: "This port speaks TLS: send requests over https://.",
        };
    }
    match &head.host {
        Some(host) if valid_host(host) && valid_target(&head.target) => Reply::Redirect {
            location: format!("https://{host}{}", head.target),
        },
        _ => Reply::BadRequest {
            reason: "This port speaks TLS: use https:// and this server's name in the address.",
        },
    }
}

impl Reply {
    /// The complete HTTP/1.1 response; the connection closes after it.
    pub fn bytes(&self, head_only: bool) -> Vec<u8> {
        let (status, extra, body) = match self {
            Self::Redirect { location } => (
                "301 Moved Permanently",
                format!("Location: {location}\r\n"),
                format!("Moved to {location}\r\n"),
            ),
            Self::BadRequest { reason } => {
                ("400 Bad Request", String::new(), format!("{reason}\r\n"))
            }
        };
        let mut out = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURL: &[u8] = b"GET /pkg/app.js?x=1 HTTP/1.1\r\nHost: gate.example:8443\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n";

    #[test]
    fn every_prefix_of_a_real_request_needs_more_then_redirects() {
        for cut in 0..CURL.len() {
            assert_eq!(parse_head(&CURL[..cut], 8192), Ok(None), "cut at {cut}");
        }
        let head = parse_head(CURL, 8192).expect("valid").expect("complete");
        assert_eq!(
            reply(Ok(&head)),
            Reply::Redirect {
                location: "https://gate.example:8443/pkg/app.js?x=1".into()
            }
        );
        let bytes = String::from_utf8(reply(Ok(&head)).bytes(false)).expect("ascii");
        assert!(bytes.starts_with("HTTP/1.1 301 Moved Permanently\r\nLocation: https://gate.example:8443/pkg/app.js?x=1\r\n"), "{bytes}");
        assert!(String::from_utf8(reply(Ok(&head)).bytes(true))
            .expect("ascii")
            .ends_with("\r\n\r\n"));
    }

    #[test]
    fn hosts() {
        for good in [
            "localhost",
            "gate.example",
            "gate.example.:443",
            "127.0.0.1:8443",
            "[::1]",
            "[::1]:8443",
            "a-b.c",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            ":8443",
            "gate.example:",
            "gate.example:0",
            "gate.example:99999",
            "a..b",
            "-a.b",
            "a_b",
            "evil.com/x",
            "a@b",
            "[::1",
            "[zz]:1",
            "[::1]x",
            "a b",
            "a\r\nb",
            "ex%2fample",
            "a:1:2",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn everything_else_is_400() {
        let parse = |s: &str| parse_head(s.as_bytes(), 8192);
        let bad = |r: Reply| matches!(r, Reply::BadRequest { .. });
        let post = parse("POST / HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(bad(reply(Ok(&post))));
        let nohost = parse("GET / HTTP/1.0\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(bad(reply(Ok(&nohost))));
        let absolute = parse("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(bad(reply(Ok(&absolute))));
        let evil = parse("GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n")
            .expect("ok")
            .expect("complete");
        assert!(bad(reply(Ok(&evil))));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(HeadError::DuplicateHost)
        );
        assert_eq!(
            parse("GET  / HTTP/1.1\r\n\r\n"),
            Err(HeadError::RequestLine)
        );
        assert_eq!(parse("GET / HTTP/2\r\n\r\n"), Err(HeadError::RequestLine));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nno colon\r\n\r\n"),
            Err(HeadError::HeaderLine)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"),
            Err(HeadError::HeaderLine)
        );
        assert!(bad(reply(Err(HeadError::RequestLine))));
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300));
        assert_eq!(
            parse_head(long.as_bytes(), 256),
            Err(HeadError::TooLarge { max: 256 })
        );
        assert_eq!(parse_head(&long.as_bytes()[..255], 256), Ok(None));
    }
}
