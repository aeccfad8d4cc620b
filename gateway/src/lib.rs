//! `gateway` is vncgate: one TCP port that takes browsers (https/wss) and native VNC clients,
//! and relays them to the VNC servers named in its configuration — never to any other address.
//!
//! Data flow of one connection (details in [`server::connection`]):
//!
//! ```text
//! accept ─► [PROXY header from trusted proxies] ─► detect (peek, pure function)
//!   ├─ TLS ─► rustls (cert from CertStore, hot-reloaded) ─► inner detect
//!   │     ├─ HTTP (hyper) ─┬─ assets (gzip, ETag), /healthz, /metrics
//!   │     │                └─ /ws/NAME, /websockify?token=NAME ─► admission ─► relay ◄─► target
//!   │     └─ silence ─► native VNC in TLS ─► admission ─► relay ◄─► target
//!   ├─ plain HTTP ─► 301 to https
//!   ├─ silence ─► native VNC in clear (only with --danger-allow-plain-vnc) ─► admission ─► relay
//!   └─ anything else ─► refused
//! ```
//!
//! Protocol decisions are pure functions ([`detect`], [`proxy_protocol`], [`plain_http`],
//! [`http::websocket`], [`admission`]); the shells here own sockets, timers and files.

#![forbid(unsafe_code)]

pub mod acme;
pub mod admission;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod build_info;
pub mod config;
pub mod conn_limit;
pub mod detect;
pub mod http;
pub mod io;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod otk;
pub mod plain_http;
pub mod proxy_protocol;
pub mod recent;
pub mod recording;
pub mod relay;
pub mod reload;
pub mod server;
pub mod sessions;
pub mod shutdown;
pub mod state_dir;
pub mod store;
pub mod tls;
pub mod vnc_client;

pub use config::Config;
pub use server::serve;
