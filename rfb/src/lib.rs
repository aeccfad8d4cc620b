//! `rfb` owns the RFB (VNC) protocol and nothing else: no sockets, no clocks, no DOM.
//!
//! Data flow of the client side:
//!
//! ```text
//!  transport bytes ──► Client::receive ──► handshake states ──► server-message parser
//!                                                               │
//!                                     decoders ◄────────────────┘
//!                                        │
//!                                        ▼
//!  Client::poll_transmit ◄── commands   Framebuffer (RGBA, dirty rectangle) + Client::poll_event
//! ```
//!
//! Drive contract ([`Client`]): after every input — bytes from the transport given to
//! [`Client::receive`], or a command such as [`Client::key_event`] — drain
//! [`Client::poll_transmit`] into the transport and [`Client::poll_event`] into the
//! application, then repaint [`Client::framebuffer`]'s dirty rectangle. The core never blocks,
//! never allocates from a wire length before checking it against [`Limits`], and never panics
//! on peer input: malformed input is an [`Error`], after which the connection is closed.

#![forbid(unsafe_code)]

pub mod client;
pub mod decode;
pub mod error;
pub mod fbs;
pub mod framebuffer;
pub mod handshake;
pub mod input_filter;
pub mod keysym;
pub mod limits;
pub mod messages;
pub mod paint;
pub mod passthrough;
pub mod pixel_format;
pub mod security;
#[cfg(feature = "tls")]
pub mod server;
pub mod server_stream;
pub mod tls;
pub mod wire;

#[cfg(all(test, feature = "tls"))]
mod test_pki;

pub use client::{Client, ClientConfig, Event};
pub use error::Error;
pub use framebuffer::{Dirty, Fill, Framebuffer, Rect};
pub use limits::Limits;
pub use paint::{Paint, PaintQueue};
pub use passthrough::Passthrough;
pub use pixel_format::PixelFormat;
pub use security::Password;
pub use server_stream::ServerStreamFilter;
pub use tls::{TlsIdentity, TlsTrust};
