//! The WebSocket upgrade, as pure functions over the request: which target it asks for
//! (`/ws/NAME`, or websockify's `/websockify?token=NAME`, both percent-decoded the same way
//! and held to the syntax of target names before anything logs them) with which one-time key
//! (`otk=KEY` in the query — the query is never logged), whether it is a valid RFC 6455
//! upgrade (HTTP/1.1) from our own origin or one allowed by `--allow-origin`, and which
//! subprotocol to answer (`binary`, or none).

use certs::session_file::OneTimeKey;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode, Version};

use crate::config::Web;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// What a WebSocket request asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct WsRequest {
    pub target: String,
    /// The one-time key (redacted in `Debug`).
    pub otk: Option<OneTimeKey>,
}

/// `%XX` escapes decoded (and `+` as a space, as forms write it); `None` if malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    decode(s, true)
}

/// A path segment's `%XX` escapes decoded (`+` stays itself); `None` if malformed.
pub fn percent_decode_path(s: &str) -> Option<String> {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in a query string, decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<Result<String, ()>> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .map(|v| percent_decode(v).ok_or(()))
}

/// Refused: the name asked for cannot be a target's (it is never logged or echoed).
const NOT_A_NAME: &str =
    "that is not a target name: names are letters, digits, '-', '_' and '.' (at most 64)\n";

/// The target (and key) a WebSocket path asks for. `None`: not a WebSocket path.
pub fn route(path: &str, query: Option<&str>) -> Option<Result<WsRequest, &'static str>> {
    let target = if let Some(name) = path.strip_prefix("/ws/") {
        match percent_decode_path(name) {
            Some(t) => t,
            None => return Some(Err(NOT_A_NAME)),
        }
    } else if path == "/websockify" || path == "/websockify/" {
        match query_param(query, "token") {
            Some(Ok(t)) if !t.is_empty() => t,
            Some(Err(())) => return Some(Err(NOT_A_NAME)),
            _ => {
                return Some(Err(
                    "websockify path without a target: add ?token=NAME (a target name of this gateway)\n",
                ))
            }
        }
    } else {
        return None;
    };
    if !crate::config::targets::valid_target_name(&target) {
        return Some(Err(NOT_A_NAME));
    }
    let otk = match query_param(query, "otk") {
        None => None,
        Some(Ok(k)) => match OneTimeKey::parse(&k) {
            Ok(k) => Some(k),
            Err(_) => return Some(Err("the one-time key (otk=) is malformed\n")),
        },
        Some(Err(())) => return Some(Err("the one-time key (otk=) is malformed\n")),
    };
    Some(Ok(WsRequest { target, otk }))
}

/// Only subprotocols other than `binary` were offered (such as websockify's old `base64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedSubprotocol;

/// The subprotocol to answer: `binary` if offered, none if nothing was offered; an error if
/// only others were (the old websockify `base64` mode is not supported).
pub fn choose_subprotocol<'a>(
    offers: impl IntoIterator<Item = &'a str>,
) -> Result<Option<&'static str>, UnsupportedSubprotocol> {
    let mut any = false;
    for p in offers {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if p == "binary" {
            return Ok(Some("binary"));
        }
        any = true;
    }
    if any {
        Err(UnsupportedSubprotocol)
    } else {
        Ok(None)
    }
}

/// A browser's `Origin` must be `https://HOST` for the `Host` it connected to. Clients that
/// send no Origin (not browsers) cannot be used for cross-site hijacking and are allowed.
pub fn origin_matches_host(origin: Option<&HeaderValue>, host: Option<&HeaderValue>) -> bool {
    let Some(origin) = origin else { return true };
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(|h| h.to_str())) else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// What the 101 response needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub accept_key: String,
    pub subprotocol: Option<&'static str>,
}

/// A refused upgrade: the status and the text shown.
pub type Rejected = (StatusCode, &'static str);

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks an upgrade request (RFC 6455 section 4.2.1: a GET of HTTP/1.1 or later) and the
/// origin: this gateway's own, or one of `allowed` (`--allow-origin`).
pub fn check_upgrade(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    allowed: &Web,
) -> Result<Accepted, Rejected> {
    if version < Version::HTTP_11 {
        return Err((
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs HTTP/1.1; this request is HTTP/1.0\n",
        ));
    }
    let upgrade = method == Method::GET
        && has_token(headers, header::UPGRADE, "websocket")
        && has_token(headers, header::CONNECTION, "upgrade");
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| k.len() == 24)
        .filter(|_| upgrade)
        .ok_or((
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade request (GET with Upgrade: websocket)\n",
        ))?;
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "only WebSocket version 13 is supported\n",
        ));
    }
    let origin = headers.get(header::ORIGIN);
    let allowed_origin = origin
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| allowed.allows_origin(o));
    if !allowed_origin && !origin_matches_host(origin, headers.get(header::HOST)) {
        return Err((
            StatusCode::FORBIDDEN,
            "the page's origin differs from this gateway's: open the viewer from this gateway, \
             or let the page's site in with --allow-origin https://SITE (allow_origins in the config file)\n",
        ));
    }
    let offers = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    let subprotocol = choose_subprotocol(offers).map_err(|UnsupportedSubprotocol| {
        (
            StatusCode::BAD_REQUEST,
            "unsupported WebSocket subprotocol: offer 'binary' or none\n",
        )
    })?;
    Ok(Accepted {
        accept_key: derive_accept_key(key.as_bytes()),
        subprotocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn upgrade_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, hv("127.0.0.1:8443"));
        h.insert(header::UPGRADE, hv("websocket"));
        h.insert(header::CONNECTION, hv("keep-alive, Upgrade"));
        h.insert(header::SEC_WEBSOCKET_KEY, hv("dGhlIHNhbXBsZSBub25jZQ=="));
        h.insert(header::SEC_WEBSOCKET_VERSION, hv("13"));
        h.insert(header::ORIGIN, hv("https://127.0.0.1:8443"));
        h
    }

    fn target(r: Option<Result<WsRequest, &'static str>>) -> Option<Result<String, &'static str>> {
        r.map(|r| r.map(|w| w.target))
    }

    #[test]
    fn routes() {
        assert_eq!(target(route("/ws/desk", None)), Some(Ok("desk".into())));
        assert_eq!(
            target(route("/websockify", Some("token=desk"))),
            Some(Ok("desk".into()))
        );
        assert_eq!(
            target(route("/websockify", Some("x=1&token=lab&y"))),
            Some(Ok("lab".into()))
        );
        let w = route("/ws/desk", Some("otk=K3y%2Bx_-"))
            .and_then(Result::ok)
            .expect("valid");
        assert_eq!(w.otk.as_ref().map(OneTimeKey::expose), Some("K3y+x_-"));
        assert!(!format!("{w:?}").contains("K3y"), "Debug redacts the key");
        let w = route("/websockify", Some("token=lab&otk=abc"))
            .and_then(Result::ok)
            .expect("valid");
        assert_eq!(
            (w.target.as_str(), w.otk.as_ref().map(OneTimeKey::expose)),
            ("lab", Some("abc"))
        );
        assert!(matches!(route("/ws/desk", Some("otk=")), Some(Err(_))));
        assert!(matches!(route("/ws/desk", Some("otk=%zz")), Some(Err(_))));
        assert!(matches!(route("/ws/desk", Some("otk=a%20b")), Some(Err(_))));
        assert_eq!(
            route("/ws/desk", Some("otkx=1"))
                .and_then(Result::ok)
                .and_then(|w| w.otk),
            None
        );
        assert!(matches!(route("/websockify", None), Some(Err(_))));
        assert!(matches!(route("/websockify", Some("token=")), Some(Err(_))));
        assert_eq!(route("/index.html", None), None);
        assert_eq!(
            target(route("/ws/desk%2D1", None)),
            Some(Ok("desk-1".into())),
            "both routes decode"
        );
        assert_eq!(
            target(route("/websockify", Some("token=desk%2D1"))),
            Some(Ok("desk-1".into()))
        );
        assert_eq!(route("/websockify2", Some("token=a")), None);
    }

    #[test]
    fn names_that_could_forge_a_log_line_are_refused_before_anything_logs_them() {
        for (path, query) in [
            (
                "/websockify",
                Some("token=x%0arelay%20started%20who%3DCN%3Dadmin"),
            ),
            ("/websockify", Some("token=x%0d%0afake")),
            ("/websockify", Some("token=a+b")),
            ("/websockify", Some("token=%zz")),
            ("/ws/x%0arelay%20started", None),
            ("/ws/x%0Dy", None),
            ("/ws/a%20b", None),
            ("/ws/%e2%80%a8", None),
            ("/ws/a/b", None),
            ("/ws/%", None),
        ] {
            let r = route(path, query);
            assert!(matches!(r, Some(Err(_))), "{path} {query:?}: {r:?}");
        }
        let long = "a".repeat(65);
        assert!(matches!(route(&format!("/ws/{long}"), None), Some(Err(_))));
    }

    #[test]
    fn subprotocols() {
        assert_eq!(choose_subprotocol([]), Ok(None));
        assert_eq!(choose_subprotocol(["binary"]), Ok(Some("binary")));
        assert_eq!(
            choose_subprotocol(["base64", " binary"]),
            Ok(Some("binary"))
        );
        assert_eq!(choose_subprotocol(["base64"]), Err(UnsupportedSubprotocol));
        assert_eq!(choose_subprotocol([""]), Ok(None));
    }

    #[test]
    fn accepts_a_browser_upgrade_with_the_rfc_key() {
        let a = check_upgrade(
            &Method::GET,
            Version::HTTP_11,
            &upgrade_headers(),
            &Web::default(),
        )
        .expect("valid");
        assert_eq!(a.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.subprotocol, None);
        let mut h = upgrade_headers();
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, hv("binary"));
        assert_eq!(
            check_upgrade(&Method::GET, Version::HTTP_11, &h, &Web::default())
                .map(|a| a.subprotocol),
            Ok(Some("binary"))
        );
    }

    #[test]
    fn refuses_bad_upgrades_with_a_reason() {
        let status = |h: &HeaderMap, m: &Method| {
            check_upgrade(m, Version::HTTP_11, h, &Web::default())
                .map(|_| ())
                .map_err(|e| e.0)
        };
        assert_eq!(
            status(&upgrade_headers(), &Method::POST),
            Err(StatusCode::BAD_REQUEST)
        );
        for (name, value, want) in [
            (
                header::ORIGIN,
                "https://evil.example",
                StatusCode::FORBIDDEN,
            ),
            (
                header::ORIGIN,
                "http://127.0.0.1:8443",
                StatusCode::FORBIDDEN,
            ),
            (header::SEC_WEBSOCKET_VERSION, "8", StatusCode::BAD_REQUEST),
            (header::SEC_WEBSOCKET_KEY, "short", StatusCode::BAD_REQUEST),
            (header::CONNECTION, "keep-alive", StatusCode::BAD_REQUEST),
            (header::UPGRADE, "h2c", StatusCode::BAD_REQUEST),
            (
                header::SEC_WEBSOCKET_PROTOCOL,
                "base64",
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let mut h = upgrade_headers();
            h.insert(name.clone(), hv(value));
            assert_eq!(status(&h, &Method::GET), Err(want), "{name}: {value}");
        }
        let mut no_origin = upgrade_headers();
        no_origin.remove(header::ORIGIN);
        assert_eq!(
            status(&no_origin, &Method::GET),
            Ok(()),
            "non-browser clients send none"
        );
        assert!(!origin_matches_host(Some(&hv("https://x")), None));
    }

    #[test]
    fn http_1_0_upgrades_are_refused_before_anything_is_decided() {
        let r = check_upgrade(
            &Method::GET,
            Version::HTTP_10,
            &upgrade_headers(),
            &Web::default(),
        );
        assert_eq!(r.map_err(|e| e.0), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn allowed_origins_may_open_websockets() {
        let mut h = upgrade_headers();
        h.insert(header::ORIGIN, hv("https://portal.example.org"));
        let refused = check_upgrade(&Method::GET, Version::HTTP_11, &h, &Web::default());
        let (status, why) = refused.expect_err("foreign origin");
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(why.contains("--allow-origin"), "{why}");
        let web = Web {
            allow_origins: vec![
                crate::config::WebOrigin::parse("https://portal.example.org").expect("valid"),
            ],
            ..Web::default()
        };
        assert!(check_upgrade(&Method::GET, Version::HTTP_11, &h, &web).is_ok());
        h.insert(
            header::ORIGIN,
            hv("https://portal.example.org.evil.example"),
        );
        assert!(check_upgrade(&Method::GET, Version::HTTP_11, &h, &web).is_err());
    }
}
