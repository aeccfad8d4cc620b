//! The JSON API, for the viewer and for portals:
//!
//! - `GET /api/targets` → `{"targets":["desk",…]}`: the targets the caller may reach (all of
//!   them for admins and with `--danger-no-auth`; the access list's for a certificate; the key's
//!   target for `?otk=KEY` (looked at, not used); for anyone else only if
//!   `anonymous_target_list`, else an empty list).
//! - `POST /api/otk` with `{"target":"desk","ttl_seconds":600,"view_only":false,"for":"cn:bob"}`
//!   → 201 `{"id","link","key","target","mode","expires_at"}`.
//! - `DELETE /api/otk/ID` → 204, 404 (no such key), 409 (used or revoked already).
//! - `GET /api/sessions` → `{"instance","sessions":[{"id","instance","target","who","mode",
//!   "client","via","started_ms","bytes_to_target","bytes_to_client"}…]}`: live sessions of
//!   every instance sharing the store (`"partial"` says why when only this one's are listed).
//! - `DELETE /api/sessions/ID` → 202 `{"id","instance","ended_by"}` (the instance running it
//!   was told: its client sees "ended by an administrator"), 404, 410 (its instance is gone).
//!
//! Issuing, revoking and the session API need an admin: a client certificate named in `[auth] admins`, or
//! `Authorization: Bearer TOKEN` with the token of `--admin-token-file`. A wrong token counts
//! towards the address's lockout; a right one, or an admin certificate, is not refused for it.
//! Links are built from `--public-url` (else the listening address), never from `Host`. Requests that change something must be `application/json`
//! and, from a browser, come from this gateway's own origin (no cross-site requests).

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::websocket::{origin_matches_host, query_param};
use super::{header_str, respond, App, Body, ConnContext};
use crate::auth::{Mode, Pattern};
use crate::config::AuthMode;
use crate::metrics::{AuthFailure, KeyEvent};
use crate::otk::{self, KeyHash, KeyRequest, Revoked, DEFAULT_TTL_SECS, MAX_TTL_SECS};
use crate::store::KillSent;
use certs::session_file::OneTimeKey;

/// The largest request body read.
const MAX_BODY_BYTES: usize = 8 * 1024;

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = respond(status, "application/json", v.to_string());
    // Answers may hold a one-time key: never cache them.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

/// A refused API request: its status and what to tell the caller.
/// The largest recording `GET /api/recordings/ID` sends (the browser holds it whole).
pub const MAX_RECORDING_DOWNLOAD: u64 = 512 << 20;

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn response(&self) -> Response<Body> {
        error(self.status, &self.message)
    }
}

/// Who is calling, as far as the API cares.
enum Caller {
    Admin {
        who: String,
    },
    /// Presented a wrong token.
    BadToken,
    Other,
}

impl App {
    fn caller(&self, ctx: &ConnContext, req: &Request<Incoming>) -> Caller {
        if let Some(token) =
            header_str(req, header::AUTHORIZATION).and_then(crate::auth::admin::bearer)
        {
            return match &self.gate.rules().admin_token {
                Some(t) if t.matches(token) => Caller::Admin {
                    who: "admin token".to_owned(),
                },
                _ => Caller::BadToken,
            };
        }
        let rules = self.gate.rules();
        let access = &rules.config.access;
        if let (Some(id), Some(_)) = (&ctx.identity.client_cert, &access.client_ca) {
            let named = |p: &Pattern| match &access.acl {
                Some(acl) => acl.names(p, id),
                None => p.matches(id, &Default::default()),
            };
            if access.admins.iter().any(named) {
                return Caller::Admin {
                    who: id.subject.clone(),
                };
            }
        }
        Caller::Other
    }

    /// The caller, if it is an admin; else the response to send. A valid admin token or an
    /// admin certificate is never refused for its address's lockout (people behind the same
    /// NAT as an attacker; a token has at least 16 characters, so guessing one online is
    /// hopeless either way); a wrong token counts towards the address's lockout.
    async fn admin(&self, ctx: &ConnContext, req: &Request<Incoming>) -> Result<String, ApiError> {
        let blocked = |left: std::time::Duration| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed attempts from your address: try again in {} s",
                    left.as_secs().max(1)
                ),
            )
        };
        match self.caller(ctx, req) {
            Caller::Admin { who } => Ok(who),
            Caller::BadToken => {
                // Without the lockout a token could be guessed without limit: fail closed.
                match self
                    .gate
                    .blocked_for(ctx.client, &crate::admission::PeerIdentity::default())
                    .await
                {
                    Ok(Some(left)) => return Err(blocked(left)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "admin API: a wrong token, and the lockout cannot be read");
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the gateway cannot check credentials right now: try again later",
                        ));
                    }
                }
                self.gate
                    .failure(ctx.client, AuthFailure::AdminToken)
                    .await;
                tracing::warn!("admin API: wrong admin token");
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong admin token"))
            }
            Caller::Other => Err(match self.gate.blocked(ctx.client).await {
                Some(left) => blocked(left),
                None => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this needs an admin: a client certificate listed in [auth] admins, or Authorization: Bearer with the admin token",
                ),
            }),
        }
    }

    async fn targets(&self, ctx: &ConnContext, req: &Request<Incoming>) -> Response<Body> {
        let rules = self.gate.rules();
        let cfg = &rules.config;
        let all = || cfg.targets.names().map(str::to_owned).collect::<Vec<_>>();
        let list = if cfg.auth == AuthMode::DangerNone
            || matches!(self.caller(ctx, req), Caller::Admin { .. })
        {
            all()
        } else if let Some(key) = query_param(req.uri().query(), "otk") {
            self.key_target(ctx, key.ok().and_then(|k| OneTimeKey::parse(&k).ok()))
                .await
        } else if let (Some(id), Some(_)) = (&ctx.identity.client_cert, &cfg.access.client_ca) {
            match &cfg.access.acl {
                Some(acl) => acl
                    .targets_for(id, cfg.targets.names())
                    .into_iter()
                    .map(|(t, _)| t.to_owned())
                    .collect(),
                None => all(),
            }
        } else if cfg.access.anonymous_target_list {
            all()
        } else {
            Vec::new()
        };
        json_response(StatusCode::OK, &json!({ "targets": list }))
    }

    /// The target of a pending key (looked up, not used).
    async fn key_target(&self, ctx: &ConnContext, key: Option<OneTimeKey>) -> Vec<String> {
        if self.gate.blocked(ctx.client).await.is_some() {
            return Vec::new();
        }
        let found = match key {
            Some(k) => self
                .gate
                .store
                .find_key(&KeyHash::of(&k))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        match found {
            Some(r)
                if r.is_pending(otk::unix_now())
                    && self.gate.rules().config.targets.get(&r.target).is_some() =>
            {
                vec![r.target]
            }
            _ => {
                self.gate.failure(ctx.client, AuthFailure::OneTimeKey).await;
                Vec::new()
            }
        }
    }

    async fn issue(&self, ctx: &ConnContext, req: Request<Incoming>) -> Response<Body> {
        let who = match self.admin(ctx, &req).await {
            Ok(w) => w,
            Err(e) => return e.response(),
        };
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            target: String,
            ttl_seconds: Option<u64>,
            view_only: Option<bool>,
            #[serde(rename = "for")]
            for_identity: Option<String>,
        }
        let bytes = match Limited::new(req.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large or broken",
                )
            }
        };
        let body: Body = match serde_json::from_slice(&bytes) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("expected JSON {{\"target\":NAME,\"ttl_seconds\":N,\"view_only\":BOOL,\"for\":PATTERN}}: {e}")),
        };
        if self.gate.rules().config.targets.get(&body.target).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("there is no target {:?}", body.target),
            );
        }
        let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("ttl_seconds must be from 1 to {MAX_TTL_SECS}"),
            );
        }
        let for_identity = match body.for_identity.as_deref().map(str::parse::<Pattern>) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => return error(StatusCode::BAD_REQUEST, &format!("for: {e}")),
        };
        let request = KeyRequest {
            target: body.target,
            ttl_secs: ttl,
            mode: if body.view_only == Some(true) {
                Mode::ViewOnly
            } else {
                Mode::Full
            },
            for_identity,
            created_by: who,
        };
        let made = match otk::issue(&request, otk::unix_now()) {
            Ok(issued) => match self.gate.store.insert_key(&issued.record).await {
                Ok(()) => Ok(issued),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let issued = match made {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(error = %e, "one-time key not issued");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the key could not be stored: the gateway cannot reach its store right now, try again later",
                );
            }
        };
        self.metrics.one_time_keys.inc(KeyEvent::Issued);
        let r = &issued.record;
        tracing::info!(key_id = %r.id, target = %r.target, mode = %r.mode, by = %r.created_by, "one-time key issued");
        // Never from the request's Host: a link must lead to this gateway, whoever asked.
        let gateway = self.public_url.clone();
        json_response(
            StatusCode::CREATED,
            &json!({
                "id": r.id,
                "key": issued.key.expose(),
                "link": otk::link(&gateway, &issued.key, &r.target, r.mode),
                "target": r.target,
                "mode": r.mode.as_str(),
                "expires_at": crate::audit::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(r.expires_at).unwrap_or(0))),
                "expires_at_unix": r.expires_at,
            }),
        )
    }

    async fn revoke(&self, ctx: &ConnContext, req: &Request<Incoming>, id: &str) -> Response<Body> {
        if let Err(e) = self.admin(ctx, req).await {
            return e.response();
        }
        if !is_id(id) {
            return error(StatusCode::NOT_FOUND, "no such key (ids are 16 hex digits)");
        }
        match self.gate.store.revoke_key(id, otk::unix_now()).await {
            Ok(Revoked::Revoked) => {
                self.metrics.one_time_keys.inc(KeyEvent::Revoked);
                tracing::info!(key_id = %id, "one-time key revoked");
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            Ok(Revoked::NotFound) => error(StatusCode::NOT_FOUND, "no such key"),
            Ok(Revoked::NotPending) => {
                error(StatusCode::CONFLICT, "the key was used or revoked already")
            }
            Err(e) => {
                tracing::error!(error = %e, "one-time key not revoked");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the key store is not available",
                )
            }
        }
    }

    /// Live sessions of every instance sharing the store; this instance's with their bytes
    /// up to now.
    /// Whether the caller is an admin, for the operator's page; else what to answer (403 with
    /// what would do, or 429 while its address is locked out).
    pub(crate) async fn check_admin(
        &self,
        ctx: &ConnContext,
        req: &Request<Incoming>,
    ) -> Result<String, ApiError> {
        self.admin(ctx, req).await
    }

    /// `GET /api/recordings`: this instance's recordings (id, target, session, start, bytes);
    /// `GET /api/recordings/ID`: one of them, as its FBS bytes (up to
    /// [`MAX_RECORDING_DOWNLOAD`]; larger ones are read on the gateway);
    /// `GET /api/recordings/ID/events`: its events file (JSON lines).
    async fn recordings(
        &self,
        ctx: &ConnContext,
        req: &Request<Incoming>,
        id: Option<(String, crate::recording::catalog::Part)>,
    ) -> Response<Body> {
        if let Err(e) = self.admin(ctx, req).await {
            return e.response();
        }
        let rules = self.gate.rules();
        let Some(rec) = rules.config.recording.clone() else {
            return error(
                StatusCode::NOT_FOUND,
                "this gateway records nothing: --record-dir DIR or [recording] turns it on",
            );
        };
        let work = tokio::task::spawn_blocking(move || -> Result<Response<Body>, ApiError> {
            use crate::recording::catalog;
            let Some((id, part)) = id else {
                let all = catalog::list(&rec.dir).map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the recordings in {}: {e}", rec.dir.display()))
                })?;
                return Ok(json_response(StatusCode::OK, &json!({ "recordings": all })));
            };
            let missing = match part {
                catalog::Part::Stream => "no such recording",
                catalog::Part::Events => "this recording has no events file",
            };
            let path = catalog::path_of(&rec.dir, &id, part)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, missing))?;
            let len = std::fs::metadata(&path)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => ApiError::new(StatusCode::NOT_FOUND, missing),
                    _ => ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot read {}: {e}", path.display()),
                    ),
                })?
                .len();
            if len > MAX_RECORDING_DOWNLOAD {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the recording is {len} bytes; over {MAX_RECORDING_DOWNLOAD} it is read on the gateway (vncgate recordings snapshot/play)"),
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {}: {e}", path.display()))
            })?;
            let mut r = Response::new(Full::new(Bytes::from(bytes)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(match part {
                    catalog::Part::Stream => "application/octet-stream",
                    catalog::Part::Events => "application/x-ndjson",
                }),
            );
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        })
        .await;
        match work {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => e.response(),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the recordings could not be read",
            ),
        }
    }

    /// `GET /api/status` (see [`super::status`]).
    async fn status(
        self: &Arc<Self>,
        ctx: &ConnContext,
        req: &Request<Incoming>,
    ) -> Response<Body> {
        if let Err(e) = self.admin(ctx, req).await {
            return e.response();
        }
        let app = self.clone();
        let doc =
            tokio::task::spawn_blocking(move || super::status::document(&app.gate, &app.status))
                .await;
        match doc {
            Ok(d) => json_response(StatusCode::OK, &d),
            Err(_) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the status could not be read",
            ),
        }
    }

    async fn sessions(&self, ctx: &ConnContext, req: &Request<Incoming>) -> Response<Body> {
        if let Err(e) = self.admin(ctx, req).await {
            return e.response();
        }
        let live = &self.gate.sessions;
        let mut listed = live.snapshot();
        let mut partial = None;
        match self.gate.store.list_sessions().await {
            Ok(all) => listed.extend(all.into_iter().filter(|s| s.instance != live.instance())),
            Err(e) => {
                tracing::warn!(error = %e, "the session list holds this instance's sessions only");
                partial = Some(format!(
                    "the store cannot be read right now: only the sessions of {} are listed",
                    live.instance()
                ));
            }
        }
        listed.sort_by(|a, b| a.started_ms.cmp(&b.started_ms).then(a.id.cmp(&b.id)));
        let mut body = json!({ "instance": live.instance(), "sessions": listed });
        if let Some(p) = partial {
            body["partial"] = json!(p);
        }
        json_response(StatusCode::OK, &body)
    }

    /// Ends session `id` wherever it runs: here directly, elsewhere through the store.
    async fn kill(&self, ctx: &ConnContext, req: &Request<Incoming>, id: &str) -> Response<Body> {
        let who = match self.admin(ctx, req).await {
            Ok(w) => w,
            Err(e) => return e.response(),
        };
        if !is_id(id) {
            return error(
                StatusCode::NOT_FOUND,
                "no such session (ids are 16 hex digits)",
            );
        }
        let live = &self.gate.sessions;
        let sent = if live.kill(id, &who) {
            Ok(KillSent::Sent {
                instance: live.instance().to_owned(),
            })
        } else {
            self.gate.store.request_kill(id, &who).await
        };
        match sent {
            Ok(KillSent::Sent { instance }) => {
                tracing::info!(session = %id, %instance, by = %who, "session ended by an administrator");
                json_response(
                    StatusCode::ACCEPTED,
                    &json!({ "id": id, "instance": instance, "ended_by": who }),
                )
            }
            Ok(KillSent::NotFound) => error(StatusCode::NOT_FOUND, "no such live session"),
            Ok(KillSent::InstanceSilent { instance }) => error(
                StatusCode::GONE,
                &format!("instance {instance} does not answer (it stopped?): its sessions ended with it and leave the list within three heartbeats"),
            ),
            Err(e) => {
                tracing::error!(error = %e, "session not ended");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is not available: the session could not be reached",
                )
            }
        }
    }
}

/// A key or session id: 16 hex digits.
fn is_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Requests that change something: JSON only, and not from another site's page.
fn same_site_json(req: &Request<Incoming>) -> Result<(), ApiError> {
    if !origin_matches_host(
        req.headers().get(header::ORIGIN),
        req.headers().get(header::HOST),
    ) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site requests are refused",
        ));
    }
    let json = header_str(req, header::CONTENT_TYPE).is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json && req.method() == Method::POST {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        ));
    }
    Ok(())
}

/// Routes `/api/…`.
pub async fn handle(app: &Arc<App>, ctx: &ConnContext, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET | Method::HEAD, "/api/targets") => app.targets(ctx, &req).await,
        (Method::POST, "/api/otk") => match same_site_json(&req) {
            Ok(()) => app.issue(ctx, req).await,
            Err(e) => e.response(),
        },
        (Method::DELETE, p) if p.starts_with("/api/otk/") => match same_site_json(&req) {
            Ok(()) => {
                let id = p.strip_prefix("/api/otk/").unwrap_or_default();
                app.revoke(ctx, &req, id).await
            }
            Err(e) => e.response(),
        },
        (Method::GET | Method::HEAD, "/api/sessions") => app.sessions(ctx, &req).await,
        (Method::GET | Method::HEAD, "/api/status") => app.status(ctx, &req).await,
        (Method::GET | Method::HEAD, "/api/recordings") => app.recordings(ctx, &req, None).await,
        (Method::GET | Method::HEAD, p) if p.starts_with("/api/recordings/") => {
            use crate::recording::catalog::Part;
            let rest = p.strip_prefix("/api/recordings/").unwrap_or_default();
            let id = match rest.strip_suffix("/events") {
                Some(id) => (id.to_owned(), Part::Events),
                None => (rest.to_owned(), Part::Stream),
            };
            app.recordings(ctx, &req, Some(id)).await
        }
        (Method::DELETE, p) if p.starts_with("/api/sessions/") => match same_site_json(&req) {
            Ok(()) => {
                let id = p.strip_prefix("/api/sessions/").unwrap_or_default();
                app.kill(ctx, &req, id).await
            }
            Err(e) => e.response(),
        },
        (_, "/api/targets" | "/api/otk" | "/api/sessions" | "/api/status" | "/api/recordings") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "no such API"),
    }
}
