//! What the application gives the client ([`ClientConfig`]) and what it hears back
//! ([`Event`]).

use crate::limits::Limits;
use crate::messages::encoding::Encoding;
use crate::security::Password;
use crate::tls::{TlsIdentity, TlsSource, TlsTrust};

#[cfg(doc)]
use super::Client;

/// How the client connects and what it asks for.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Ask the server to leave other clients connected.
    pub shared: bool,
    /// Used for VNC authentication when the server asks for it.
    pub password: Option<Password>,
    /// User name for VeNCrypt Plain / X509Plain.
    pub username: Option<String>,
    /// How a VeNCrypt X509 server certificate is verified; `None` disables the X509 subtypes.
    pub tls_trust: Option<TlsTrust>,
    /// A client certificate for servers that verify clients.
    pub tls_identity: Option<TlsIdentity>,
    /// Where the TLS engine comes from: built in (feature `tls`, the default) or given by
    /// the application when TLS starts ([`Event::TlsEngineNeeded`]).
    pub tls_source: TlsSource,
    /// Who decodes JPEG images (Tight JPEG, encoding 21): the built-in decoder (the default),
    /// or the application, which draws them itself ([`JpegSource::Application`]).
    pub jpeg_source: JpegSource,
    /// Pause with [`Event::CredentialsRequired`] when the server wants credentials that were
    /// not given, instead of failing.
    pub prompt_for_credentials: bool,
    /// Encodings to request, in order of preference.
    pub encodings: Vec<Encoding>,
    pub limits: Limits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            shared: true,
            password: None,
            username: None,
            tls_trust: None,
            tls_identity: None,
            tls_source: TlsSource::default(),
            jpeg_source: JpegSource::default(),
            prompt_for_credentials: false,
            // Best first. Tight (with JPEG at quality 6) and ZRLE are what Xvnc, x11vnc and
            // QEMU compress best; Hextile, Zlib and RRE cover older servers; CopyRect is used
            // whenever listed. Then the pseudo-encodings this client understands.
            encodings: vec![
                Encoding::Tight,
                Encoding::Zrle,
                Encoding::Hextile,
                Encoding::Zlib,
                Encoding::CopyRect,
                Encoding::Rre,
                Encoding::Raw,
                Encoding::QualityLevel(6),
                Encoding::CompressLevel(2),
                Encoding::DesktopSize,
                Encoding::LastRect,
                Encoding::ExtendedDesktopSize,
                Encoding::DesktopName,
                Encoding::Cursor,
                Encoding::QemuExtendedKeyEvent,
                Encoding::Fence,
                Encoding::ContinuousUpdates,
                Encoding::ExtendedClipboard,
            ],
            limits: Limits::default(),
        }
    }
}

/// Who decodes the JPEG images inside rectangles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JpegSource {
    /// rfb's own decoder (pure Rust), into the framebuffer.
    #[default]
    BuiltIn,
    /// The application, which may have a faster one (a browser's) and draws each image
    /// straight onto its canvas: the framebuffer does not get its pixels, and
    /// [`Client::take_paints`] says, in order, what to paint from the framebuffer, which
    /// images to draw, and which blocks of the canvas to copy.
    Application,
}

/// What the application hears from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake is over and the framebuffer exists.
    Connected {
        width: u16,
        height: u16,
        name: String,
    },
    /// The framebuffer was re-created at a new size.
    Resized {
        width: u16,
        height: u16,
    },
    /// A FramebufferUpdate was fully applied; repaint the dirty rectangle.
    UpdateComplete,
    Bell,
    /// The server's clipboard changed.
    ServerCutText(String),
    /// The server's cursor image (pseudo-encoding Cursor): draw it at the local pointer.
    /// `rgba` is `width × height × 4` bytes, transparent outside the cursor's mask; an empty
    /// image (0 wide or high) means no cursor.
    CursorShape {
        width: u16,
        height: u16,
        hotspot_x: u16,
        hotspot_y: u16,
        rgba: Vec<u8>,
    },
    /// The desktop's name changed (pseudo-encoding DesktopName).
    DesktopName(String),
    /// A fence sent by [`Client::ping`] came back after `millis`.
    RoundTrip {
        millis: u64,
    },
    /// The VeNCrypt TLS handshake finished; this certificate (leaf first, DER) was verified
    /// against the configured trust — with [`crate::TlsTrust::AskFirst`], it is the one to
    /// decide on ([`Event::CertificateDecision`] follows). `sha256` is the leaf's fingerprint.
    ServerCertificate {
        chain: Vec<Vec<u8>>,
        sha256: [u8; 32],
    },
    /// With [`crate::TlsTrust::AskFirst`]: the TLS handshake finished with this certificate
    /// (just reported as [`Event::ServerCertificate`]) and the client waits for
    /// [`Client::trust_certificate`] or [`Client::refuse_certificate`]; nothing is sent
    /// inside TLS until then.
    CertificateDecision {
        sha256: [u8; 32],
    },
    /// With [`crate::tls::TlsSource::Application`]: VeNCrypt switches to TLS now. Start an
    /// engine with [`Client::tls_parameters`] and give it with [`Client::provide_tls_engine`];
    /// until then nothing goes out and what arrives is kept (within the buffer limit).
    TlsEngineNeeded,
    /// The server wants a password (and a user name if `username`); answer with
    /// [`Client::provide_credentials`].
    CredentialsRequired {
        username: bool,
    },
}
