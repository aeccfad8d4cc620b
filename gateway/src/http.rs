//! HTTP inside TLS: the viewer's files, `/healthz`, `/metrics`, the JSON API ([`api`]:
//! targets, one-time keys) and the WebSocket upgrade at `/ws/NAME[?otk=KEY]` and
//! `/websockify?token=NAME[&otk=KEY]`. Request URIs are never logged (their query may hold a
//! one-time key).
//!
//! A valid WebSocket upgrade is answered with 101 and parked in the connection's
//! [`ConnContext`]; once hyper hands the connection over, the connection task asks
//! [`crate::admission::gate::Gate::admit`] and runs the relay, or sends the refusal as a
//! WebSocket close reason, which a page can read (an HTTP status it cannot). A one-time key is
//! used only then: an upgrade that never completes burns nothing.

pub mod api;
pub mod static_files;
pub mod status;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};

use crate::admission::gate::Gate;
use crate::admission::PeerIdentity;
use crate::metrics::Metrics;
use static_files::{Served, StaticFiles};

pub type Body = Full<Bytes>;

/// Shared, read-only state of the HTTP layer.
#[derive(Debug)]
pub struct App {
    /// Where people reach the gateway, for links: `public_url`, else the address the
    /// listener is bound to (its real port, also when `--listen` asked for port 0).
    pub public_url: String,
    pub files: Arc<StaticFiles>,
    /// The operator's page (`/admin/`): always the built-in one, also with `--web-root`.
    pub admin_files: Arc<StaticFiles>,
    pub metrics: Arc<Metrics>,
    pub gate: Arc<Gate>,
    /// What `GET /api/status` reports besides the gate.
    pub status: status::Sources,
}

/// A WebSocket that was answered with 101 and waits for hyper to hand over the connection.
/// Admission (and so the use of a one-time key) waits for the upgrade to complete: a client
/// that never takes the connection over burns nothing.
#[derive(Debug)]
pub struct PendingRelay {
    pub on_upgrade: OnUpgrade,
    /// The target name and one-time key asked for.
    pub request: websocket::WsRequest,
}

/// What one TLS connection knows about its client; shared by its requests.
#[derive(Debug)]
pub struct ConnContext {
    pub client: SocketAddr,
    pub identity: PeerIdentity,
    pending: Mutex<Option<PendingRelay>>,
    /// Requests served: all of them, and those for `/healthz`.
    requests: AtomicU32,
    health_checks: AtomicU32,
}

impl ConnContext {
    pub fn new(client: SocketAddr, identity: PeerIdentity) -> Self {
        Self {
            client,
            identity,
            pending: Mutex::new(None),
            requests: AtomicU32::new(0),
            health_checks: AtomicU32::new(0),
        }
    }

    /// Whether every request was a health check (`/healthz`), and there was one.
    pub fn health_checks_only(&self) -> bool {
        let n = self.requests.load(Ordering::Relaxed);
        n > 0 && n == self.health_checks.load(Ordering::Relaxed)
    }

    /// The upgraded WebSocket waiting for its relay, if a request asked for one.
    pub fn take_pending(&self) -> Option<PendingRelay> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn park(&self, relay: PendingRelay) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(relay);
    }
}

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; \
                   img-src 'self' data: blob:; style-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

fn with_security_headers(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
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

fn respond(status: StatusCode, mime: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    with_security_headers(r)
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

/// A permanent redirect to `location` on this gateway.
fn redirect(location: &'static str) -> Response<Body> {
    let mut r = text(StatusCode::PERMANENT_REDIRECT, "moved\n");
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    r
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

impl App {
    pub async fn handle(
        self: Arc<Self>,
        ctx: Arc<ConnContext>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, std::convert::Infallible> {
        let path = req.uri().path().to_owned();
        ctx.requests.fetch_add(1, Ordering::Relaxed);
        if path == "/healthz" {
            ctx.health_checks.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(target) = websocket::route(&path, req.uri().query()) {
            return Ok(match target {
                Ok(ws) => self.websocket(&ctx, req, ws).await,
                Err(why) => text(StatusCode::BAD_REQUEST, why),
            });
        }
        if path.starts_with("/api/") {
            return Ok(api::handle(&self, &ctx, req).await);
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
        }
        // Leading slashes are one (`//admin/` is `/admin/` to the file lookup): the admin
        // check must see every spelling of the operator's page.
        let rel = path.trim_start_matches('/');
        if rel == "admin" {
            return Ok(redirect("/admin/"));
        }
        if let Some(rest) = rel.strip_prefix("admin/") {
            if let Err(e) = self.check_admin(&ctx, &req).await {
                let body = format!("{}\n", e.message);
                return Ok(respond(e.status, "text/plain; charset=utf-8", body));
            }
            let file = if rest.is_empty() {
                "/admin/index.html".to_owned()
            } else {
                format!("/admin/{rest}")
            };
            return Ok(self.static_file(&self.admin_files, &req, file, false).await);
        }
        Ok(match path.as_str() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/metrics" if (self.gate.rules().config.metrics_from).contains(ctx.client.ip()) => {
                let mut body = self.metrics.render();
                self.gate.render_metrics(&mut body);
                crate::build_info::render_metric(&mut body);
                respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    body,
                )
            }
            _ => {
                let operators = self.files.clone();
                self.static_file(&operators, &req, path, true).await
            }
        })
    }

    async fn static_file(
        &self,
        files: &Arc<StaticFiles>,
        req: &Request<Incoming>,
        path: String,
        web_root_csp: bool,
    ) -> Response<Body> {
        let accept = header_str(req, header::ACCEPT_ENCODING)
            .unwrap_or_default()
            .to_owned();
        let inm = header_str(req, header::IF_NONE_MATCH).map(str::to_owned);
        let files = files.clone();
        let served =
            tokio::task::spawn_blocking(move || files.serve(&path, &accept, inm.as_deref()))
                .await
                .unwrap_or(Served::NotFound);
        let (mut r, etag, vary) = match served {
            Served::NotFound => return text(StatusCode::NOT_FOUND, "not found\n"),
            Served::NotModified { etag, vary } => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NOT_MODIFIED;
                (with_security_headers(r), etag, vary)
            }
            Served::Found {
                body,
                mime,
                etag,
                encoding,
                vary,
            } => {
                let mut r = respond(StatusCode::OK, mime, body);
                if let Some(e) = encoding {
                    r.headers_mut().insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(e.header_value()),
                    );
                }
                (r, etag, vary)
            }
        };
        // The operator's policy for their own pages (--web-root-csp), e.g. noVNC's inline script.
        let rules = self.gate.rules();
        let csp = (rules.config.web.web_root_csp.as_deref()).filter(|_| web_root_csp);
        if let Some(csp) = csp.and_then(|c| HeaderValue::from_str(c).ok()) {
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        let h = r.headers_mut();
        // Revalidate every time: a new vncgate must never run with an old viewer.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        if vary {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        r
    }

    /// Validates a WebSocket upgrade, parks the request, answers 101. Admission is decided
    /// once the upgrade has completed (see [`PendingRelay`]).
    async fn websocket(
        &self,
        ctx: &ConnContext,
        mut req: Request<Incoming>,
        ws: websocket::WsRequest,
    ) -> Response<Body> {
        let accepted = match websocket::check_upgrade(
            req.method(),
            req.version(),
            req.headers(),
            &self.gate.rules().config.web,
        ) {
            Ok(a) => a,
            Err((status, why)) => {
                if status == StatusCode::FORBIDDEN {
                    tracing::warn!(origin = ?req.headers().get(header::ORIGIN), "refused a WebSocket from a foreign origin");
                }
                return text(status, why);
            }
        };
        ctx.park(PendingRelay {
            on_upgrade: hyper::upgrade::on(&mut req),
            request: ws,
        });
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accepted.accept_key) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = accepted.subprotocol {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        r
    }
}
