//! The one error type of the protocol core: what went wrong, with the values involved.

use crate::wire::Needed;

/// Which limit of [`crate::Limits`] a peer tried to exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    FramebufferSide,
    RectBytes,
    CutTextBytes,
    StringBytes,
    BufferedBytes,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::FramebufferSide => "max_framebuffer_side",
            Self::RectBytes => "max_rect_bytes",
            Self::CutTextBytes => "max_cut_text_bytes",
            Self::StringBytes => "max_string_bytes",
            Self::BufferedBytes => "max_buffered_bytes",
        })
    }
}

/// Everything that can end an RFB session. Each variant names the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the server's protocol version {got:?} is not RFB; is this port really a VNC server?")]
    NotRfb { got: String },
    #[error("the server speaks RFB {major}.{minor}, older than 3.3, which no client supports")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("the server refused the connection: {reason}")]
    ServerRefused { reason: String },
    #[error("authentication failed: {reason}")]
    AuthenticationFailed { reason: String },
    #[error(
        "the server offers no security type this viewer supports (offered: {offered:?}); \
         enable None, VncAuth or VeNCrypt X509* on the server"
    )]
    NoSupportedSecurity { offered: Vec<u8> },
    #[error("the server requires a password and none was given")]
    PasswordRequired,
    #[error("the server sent {field} = {got}, which is invalid: {why}")]
    Invalid {
        field: &'static str,
        got: u64,
        why: &'static str,
    },
    #[error("unknown server message type {0}; the stream cannot be followed past it")]
    UnknownMessage(u8),
    #[error("unsupported encoding {0} in a rectangle (it was not requested)")]
    UnsupportedEncoding(i32),
    #[error("rectangle {x},{y} {w}x{h} lies outside the {fb_w}x{fb_h} framebuffer")]
    RectOutOfBounds {
        x: u16,
        y: u16,
        w: u16,
        h: u16,
        fb_w: u16,
        fb_h: u16,
    },
    #[error("the server sent {got} bytes where the limit {limit} allows {max}")]
    LimitExceeded {
        limit: LimitKind,
        got: u64,
        max: u64,
    },
    #[error("the connection is closed")]
    Closed,
}

impl Error {
    pub(crate) fn limit(limit: LimitKind, got: u64, max: usize) -> Self {
        Self::LimitExceeded {
            limit,
            got,
            max: max as u64,
        }
    }
}

/// Internal parse failure: either more bytes are needed, or the input is invalid.
#[derive(Debug)]
pub(crate) enum Stall {
    Incomplete(Needed),
    Invalid(Error),
}

impl From<Error> for Stall {
    fn from(e: Error) -> Self {
        Stall::Invalid(e)
    }
}

impl From<Needed> for Stall {
    fn from(n: Needed) -> Self {
        Stall::Incomplete(n)
    }
}
