#![no_main]
//! The WebSocket upgrade checks on arbitrary requests: the route (`/ws/NAME`,
//! `/websockify?token=NAME&otk=KEY`) and the RFC 6455 checks with the origin policy. The input
//! is a request written as lines: the first byte picks the method and HTTP version, the rest of
//! the first line is the path and query, each further line is `name:value` (lines that are not
//! a valid header are skipped). Beyond "no panic", checked against the rules themselves:
//! only a valid target name is ever routed; an upgrade is accepted only as a GET of HTTP/1.1 or
//! later with `Upgrade: websocket`, `Connection: upgrade`, version 13 and a 24-byte key, whose
//! accept key is answered; from no Origin, from `https://` + its own Host, or from an allowed
//! origin; with `binary` or no subprotocol.

use gateway::config::web::{Web, WebOrigin};
use gateway::http::websocket::{check_upgrade, route};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Version};
use libfuzzer_sys::fuzz_target;

const ALLOWED: &str = "https://portal.example.org";

fn tokens<'a>(h: &'a HeaderMap, name: &header::HeaderName) -> impl Iterator<Item = &'a str> {
    h.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let Some(first) = lines.next() else { return };
    let Some((&pick, target)) = first.split_first() else { return };
    let method = [Method::GET, Method::POST, Method::HEAD, Method::OPTIONS][usize::from(pick & 3)].clone();
    let version = [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2, Version::HTTP_09][usize::from(pick >> 2 & 3)];
    let Ok(target) = std::str::from_utf8(target) else { return };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(line[colon + 1..].trim_ascii()))
        else {
            continue;
        };
        headers.append(name, value);
    }

    if let Some(Ok(req)) = route(path, query) {
        let t = &req.target;
        assert!(!t.is_empty() && t.len() <= 64, "routed to {t:?}");
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "routed to {t:?}");
    }

    let web = Web { allow_origins: vec![WebOrigin::parse(ALLOWED).expect("a valid origin")], ..Web::default() };
    let Ok(accepted) = check_upgrade(&method, version, &headers, &web) else { return };
    assert_eq!(method, Method::GET);
    assert!(version >= Version::HTTP_11);
    assert!(tokens(&headers, &header::UPGRADE).any(|t| t.eq_ignore_ascii_case("websocket")));
    assert!(tokens(&headers, &header::CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade")));
    assert_eq!(headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()), Some(&b"13"[..]));
    let key = headers.get(header::SEC_WEBSOCKET_KEY).expect("accepted without a key");
    assert_eq!(key.len(), 24);
    assert_eq!(accepted.accept_key.len(), 28, "accept key {:?}", accepted.accept_key);
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().expect("accepted a non-text Origin");
        let own = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|host| origin.strip_prefix("https://").is_some_and(|o| o.eq_ignore_ascii_case(host)));
        assert!(own || origin.trim().eq_ignore_ascii_case(ALLOWED), "accepted from origin {origin:?}");
    }
    match accepted.subprotocol {
        Some(p) => {
            assert_eq!(p, "binary");
            assert!(tokens(&headers, &header::SEC_WEBSOCKET_PROTOCOL).any(|t| t == "binary"));
        }
        None => assert!(tokens(&headers, &header::SEC_WEBSOCKET_PROTOCOL).all(str::is_empty)),
    }
});
