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
    CursorSide,
    InflatedBytes,
    JpegBytes,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::FramebufferSide => "max_framebuffer_side",
            Self::RectBytes => "max_rect_bytes",
            Self::CutTextBytes => "max_cut_text_bytes",
            Self::StringBytes => "max_string_bytes",
            Self::BufferedBytes => "max_buffered_bytes",
            Self::CursorSide => "max_cursor_side",
            Self::InflatedBytes => "max_inflated_bytes",
            Self::JpegBytes => "max_jpeg_bytes",
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
    #[error("the server requires a user name and password (VeNCrypt Plain) and none were given")]
    CredentialsRequired,
    #[error(
        "the server offers only anonymous TLS (VeNCrypt subtypes {offered:?}), which this viewer \
         cannot verify; configure the server for X509None, X509Vnc or X509Plain with a certificate \
         (e.g. Xvnc -SecurityTypes X509Vnc -X509Cert … -X509Key …), or VncAuth"
    )]
    AnonymousTlsOnly { offered: Vec<u32> },
    #[error(
        "the server offers VeNCrypt X509 (subtypes {offered:?}) but no CA data or fingerprint pin \
         was given to verify its certificate; add the CA (ca=…) or a pin (fingerprint=…) to the link"
    )]
    TlsTrustMissing { offered: Vec<u32> },
    #[error("the VeNCrypt server sent {what} = {got}, which means it refused to continue")]
    VeNCryptRefused { what: &'static str, got: u32 },
    #[error("TLS with the VNC server failed: {detail}")]
    Tls { detail: String },
    #[error(
        "the VNC server requires a client certificate and none was given; \
         present one issued by a CA the server trusts"
    )]
    ClientCertificateRequired,
    #[error(
        "the VNC server refused this client's certificate ({alert}): it must be issued by a CA \
         the server trusts, be valid now, and not be revoked"
    )]
    ClientCertificateRefused { alert: String },
    #[error("the VNC server's certificate was refused: {why}")]
    CertificateRejected {
        why: crate::tls::CertRejection,
        sha256: [u8; 32],
    },
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
    #[error("CopyRect source {src_x},{src_y} {w}x{h} lies outside the {fb_w}x{fb_h} framebuffer")]
    CopyRectSourceOutOfBounds {
        src_x: u16,
        src_y: u16,
        w: u16,
        h: u16,
        fb_w: u16,
        fb_h: u16,
    },
    #[error("the server's {encoding} zlib stream is corrupt; the session cannot continue")]
    ZlibCorrupt { encoding: &'static str },
    #[error("the server's {encoding} data inflated to {got} bytes where {expected} were expected")]
    InflatedSize {
        encoding: &'static str,
        expected: u64,
        got: u64,
    },
    #[error("the server's {encoding} data inflated to more than {max} bytes")]
    InflatedTooLong { encoding: &'static str, max: u64 },
    #[error("a {format} image in a {encoding} rectangle could not be decoded: {detail}")]
    ImageDecode {
        encoding: &'static str,
        format: &'static str,
        detail: String,
    },
    #[error(
        "a {format} image in a {encoding} rectangle is {got_w}x{got_h} but the rectangle is {w}x{h}"
    )]
    ImageSize {
        encoding: &'static str,
        format: &'static str,
        w: u16,
        h: u16,
        got_w: u64,
        got_h: u64,
    },
    #[error("a JPEG rectangle omits its {table} tables and no earlier JPEG supplied them")]
    JpegTablesMissing { table: &'static str },
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
