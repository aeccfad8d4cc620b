//! `gateway` is vncgate: one TCP port that takes browsers (https/wss) and relays their
//! WebSocket to the VNC servers named in its configuration — never to any other address.
//!
//! Data flow of one connection:
//!
//! ```text
//! accept ─► detect (peek, pure function) ─┬─ TLS ─► rustls ─► HTTP (hyper) ─┬─ assets
//!                                         │                                 └─ /ws/NAME ─► relay ◄─► target TCP
//!                                         ├─ plain HTTP ─► redirect to https
//!                                         └─ silence / unknown ─► refused
//! ```
//!
//! The shells here own sockets, timers and files; protocol decisions live in pure functions
//! ([`detect`]) and in the `rfb` crate.

#![forbid(unsafe_code)]

pub mod assets;
pub mod config;
pub mod detect;
pub mod http;
pub mod relay;
pub mod server;
pub mod state_dir;
pub mod tls;

pub use config::Config;
pub use server::serve;
