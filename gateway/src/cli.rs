//! Subcommands of the `vncgate` binary, one module each.

pub mod acme;
pub mod certs;
pub mod check_config;
pub mod otk;
pub mod recordings;
pub mod serve;
pub mod server_trust;
pub mod session;
pub mod sessions;
pub mod snapshot;
pub mod store_args;
