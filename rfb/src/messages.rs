//! RFB messages of the normal phase: client→server encoding, server→client headers, encodings.

pub mod client;
pub mod clipboard;
pub mod encoding;
pub mod server;
