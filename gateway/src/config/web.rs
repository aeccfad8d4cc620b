//! The gateway's place on the web: the URL people reach it at (`public_url`, from which
//! one-time links are built — never from a request's `Host`), the other origins whose pages
//! may open WebSockets to it (`allow_origins`: a portal hosting noVNC or our viewer), and the
//! Content-Security-Policy sent with `--web-root` content (`web_root_csp`).

use hyper::header::HeaderValue;

/// An origin as browsers send it: `https://HOST[:PORT]` (or `http://`), lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOrigin(String);

/// The URL people open to reach the gateway: `https://HOST[:PORT][/PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// What is wrong with an origin, a URL or a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebProblem {
    #[error("expected an origin like https://portal.example.org or https://portal.example.org:8443 (scheme, host and port only: no path)")]
    Origin,
    #[error("expected a URL like https://vnc.example.org or https://vnc.example.org:8443/vnc (https, no query or fragment)")]
    PublicUrl,
    #[error("a Content-Security-Policy must be one line of visible ASCII")]
    Csp,
}

/// Splits `scheme://authority[rest]` and checks the authority (host, optional port).
fn authority(s: &str, schemes: &[&str]) -> Option<(String, String, String)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !schemes.contains(&scheme.as_str()) {
        return None;
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        addr.parse::<std::net::Ipv6Addr>().ok()?;
        (format!("[{addr}]"), after)
    } else {
        match auth.rfind(':') {
            Some(i) => (auth[..i].to_owned(), &auth[i..]),
            None => (auth.to_owned(), ""),
        }
    };
    if !host.starts_with('[') && !host_ok(&host) {
        return None;
    }
    if let Some(p) = port.strip_prefix(':') {
        p.parse::<u16>().ok().filter(|&p| p > 0)?;
    } else if !port.is_empty() {
        return None;
    }
    Some((
        scheme,
        format!("{}{port}", host.to_ascii_lowercase()),
        tail.to_owned(),
    ))
}

impl WebOrigin {
    pub fn parse(s: &str) -> Result<Self, WebProblem> {
        let s = s.trim().trim_end_matches('/');
        match authority(s, &["https", "http"]) {
            Some((scheme, auth, tail)) if tail.is_empty() => Ok(Self(format!("{scheme}://{auth}"))),
            _ => Err(WebProblem::Origin),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request's `Origin` header is this origin.
    pub fn matches(&self, origin: &str) -> bool {
        self.0.eq_ignore_ascii_case(origin.trim())
    }
}

impl std::fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PublicUrl {
    pub fn parse(s: &str) -> Result<Self, WebProblem> {
        let s = s.trim().trim_end_matches('/');
        match authority(s, &["https"]) {
            Some((_, auth, tail))
                if !tail.contains(['?', '#', ' ', '\\'])
                    && tail.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self(format!("https://{auth}{tail}")))
            }
            _ => Err(WebProblem::PublicUrl),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a Content-Security-Policy given by the operator.
pub fn parse_csp(s: &str) -> Result<String, WebProblem> {
    let s = s.trim();
    if s.is_empty()
        || HeaderValue::from_str(s).is_err()
        || !s.bytes().all(|b| (0x20..0x7f).contains(&b))
    {
        return Err(WebProblem::Csp);
    }
    Ok(s.to_owned())
}

/// The web settings in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Web {
    /// Links are built from this; `None`: from the listening address (as `otk issue` does).
    pub public_url: Option<PublicUrl>,
    /// Pages from these origins may open WebSockets (besides the gateway's own).
    pub allow_origins: Vec<WebOrigin>,
    /// Sent with `--web-root` content instead of the viewer's strict policy.
    pub web_root_csp: Option<String>,
}

impl Web {
    /// Whether a page from `origin` may open a WebSocket here (its own origin aside).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|o| o.matches(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for (given, want) in [
            ("https://Portal.Example.org", "https://portal.example.org"),
            (
                "https://portal.example.org:8443/",
                "https://portal.example.org:8443",
            ),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("https://[::1]:9000", "https://[::1]:9000"),
        ] {
            assert_eq!(
                WebOrigin::parse(given).map(|o| o.0),
                Ok(want.to_owned()),
                "{given}"
            );
        }
        for bad in [
            "portal.example.org",
            "https://portal.example.org/page",
            "ftp://portal.example.org",
            "https://",
            "https://a b",
            "https://x:0",
            "https://x:99999",
            "https://user@x",
            "https://x\ny",
            "*",
        ] {
            assert_eq!(WebOrigin::parse(bad), Err(WebProblem::Origin), "{bad:?}");
        }
        let o = WebOrigin::parse("https://portal.example.org").expect("valid");
        assert!(o.matches("https://PORTAL.example.org"));
        assert!(!o.matches("https://portal.example.org.evil"));
    }

    #[test]
    fn public_urls_and_policies() {
        assert_eq!(
            PublicUrl::parse("https://vnc.example.org:8443/vnc/").map(|u| u.0),
            Ok("https://vnc.example.org:8443/vnc".to_owned())
        );
        for bad in [
            "http://vnc.example.org",
            "https://vnc.example.org/?x=1",
            "https://a/#f",
            "vnc",
        ] {
            assert_eq!(PublicUrl::parse(bad), Err(WebProblem::PublicUrl), "{bad}");
        }
        assert!(parse_csp("default-src 'self'; script-src 'self' 'unsafe-inline'").is_ok());
        assert_eq!(parse_csp("a\r\nX-Evil: 1"), Err(WebProblem::Csp));
        assert_eq!(parse_csp(""), Err(WebProblem::Csp));
    }
}
