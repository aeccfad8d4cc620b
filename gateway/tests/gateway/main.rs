//! Integration tests: `gateway::serve` runs in-process on 127.0.0.1:0 and real clients talk to
//! it — tokio-rustls, raw TCP, tokio-tungstenite — with tokio listeners as VNC servers.

mod pki;
mod support;

mod auth;
mod backend_login;
mod check_config;
mod hardening;

mod http;
mod native;
mod proxy;
mod service;
mod shutdown;
mod tls_reload;
mod websocket;
