//! HTTP inside TLS: the viewer's assets, `/healthz`, and the WebSocket upgrade at `/ws/NAME`.

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::assets::Assets;
use crate::config::{AuthMode, Config};
use crate::relay::{self, RelayRequest};

pub type Body = Full<Bytes>;

/// Shared, read-only state of the HTTP layer.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub assets: Assets,
}

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; \
                   img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

fn respond(status: StatusCode, mime: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

impl App {
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, std::convert::Infallible> {
        let path = req.uri().path().to_owned();
        if let Some(target) = path.strip_prefix("/ws/") {
            return Ok(self.websocket(req, target.to_owned()));
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
        }
        Ok(match path.as_str() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            _ => match self.assets.get(&path) {
                Some(a) => {
                    let mut r = respond(StatusCode::OK, a.mime, Bytes::from(a.body.into_owned()));
                    r.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                    r
                }
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            },
        })
    }

    /// Validates a WebSocket upgrade and answers 101; the relay runs once hyper hands over
    /// the connection. Refusals after the upgrade are sent as close frames with a reason, which
    /// a browser can read (an HTTP error status it cannot).
    fn websocket(self: Arc<Self>, req: Request<Incoming>, target: String) -> Response<Body> {
        let h = req.headers();
        let is_upgrade = h
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let Some(key) = h.get(header::SEC_WEBSOCKET_KEY).filter(|_| is_upgrade) else {
            return text(
                StatusCode::BAD_REQUEST,
                "expected a WebSocket upgrade request\n",
            );
        };
        if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return text(
                StatusCode::BAD_REQUEST,
                "only WebSocket version 13 is supported\n",
            );
        }
        if !origin_matches_host(h.get(header::ORIGIN), h.get(header::HOST)) {
            tracing::warn!(origin = ?h.get(header::ORIGIN), "refused a WebSocket from a foreign origin");
            return text(
                StatusCode::FORBIDDEN,
                "the page's origin differs from this gateway's; open the viewer from this gateway\n",
            );
        }
        let offers_binary = h
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == "binary");
        let accept = derive_accept_key(key.as_bytes());
        let refusal = match (self.config.auth, self.config.targets.get(&target)) {
            (_, None) => Some(format!(
                "unknown target '{}': ask the administrator for a link",
                truncate(&target, 40)
            )),
            (AuthMode::Unconfigured, _) => Some(
                "this gateway has no authentication configured, so it relays nothing".to_owned(),
            ),
            (AuthMode::DangerNone, Some(_)) => None,
        };
        let relay_req = RelayRequest {
            target_name: target.clone(),
            target: self.config.targets.get(&target).cloned(),
            refusal,
            limits: self.config.limits.clone(),
        };
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => relay::run(upgraded, relay_req).await,
                Err(e) => tracing::warn!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let rh = r.headers_mut();
        rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        rh.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            rh.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if offers_binary {
            rh.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static("binary"),
            );
        }
        r
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_check() {
        let hv = HeaderValue::from_static;
        assert!(origin_matches_host(
            Some(&hv("https://127.0.0.1:8443")),
            Some(&hv("127.0.0.1:8443"))
        ));
        assert!(!origin_matches_host(
            Some(&hv("https://evil.example")),
            Some(&hv("127.0.0.1:8443"))
        ));
        assert!(!origin_matches_host(
            Some(&hv("http://127.0.0.1:8443")),
            Some(&hv("127.0.0.1:8443"))
        ));
        assert!(!origin_matches_host(Some(&hv("https://x")), None));
        assert!(origin_matches_host(None, Some(&hv("x"))));
    }
}
