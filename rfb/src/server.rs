//! The server side of the handshake, sans-io: what a gateway says to a VNC viewer that
//! connected to it. ProtocolVersion 3.8, then one of two offers:
//!
//! - [`Offer::None`]: security type None — the viewer was authenticated some other way (the
//!   gateway's own login to the real server, a one-time key in a URL) — then ClientInit and the
//!   real server's ServerInit;
//! - [`Offer::VeNCrypt`]: VeNCrypt 0.2 with X509 subtypes. TLS runs inside the core through
//!   `rustls::ServerConnection` (as the client side runs `ClientConnection`), and stays for the
//!   whole session: every later byte both ways goes through it. Inside TLS: Plain credentials
//!   (X509Plain), nothing but the client certificate (X509None), or a VNC-authentication
//!   challenge (X509Vnc). The application decides ([`Server::accept`], [`Server::refuse`] with
//!   a reason the viewer shows).
//!
//! ```text
//! wire ─► receive ─► [TLS] ─► handshake steps (server/handshake.rs) ─► events ─► application
//!                                │ out                                   │ accept / refuse /
//! wire ◄─ poll_transmit ◄─ [TLS] ◄┘                                       │ send_server_init
//! after ServerInit: take_from_client / send — the session, through the same TLS
//! ```
//!
//! Drive contract: after [`Server::new`] and after every input (bytes given to
//! [`Server::receive`], or a decision) drain [`Server::poll_transmit`] to the client and
//! [`Server::poll_event`] to the application. Peer input never panics and never allocates
//! beyond [`MAX_CREDENTIAL_BYTES`] per credential and [`MAX_BUFFERED_BYTES`] in all.

mod handshake;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::Arc;

pub use handshake::ClientVersion;
use handshake::{Cx, State};

use crate::security::VeNCryptSubtype;

/// The longest user name or password accepted in VeNCrypt Plain.
pub const MAX_CREDENTIAL_BYTES: usize = 1024;
/// The most the client may send before the handshake has used it.
pub const MAX_BUFFERED_BYTES: usize = 64 * 1024;

/// What the server offers.
#[derive(Debug, Clone)]
pub enum Offer {
    /// Security type None.
    None,
    /// VeNCrypt with `subtypes` (of X509None, X509Vnc, X509Plain), TLS by `tls`. A client that
    /// chooses anything else is told `hint` (what to configure), where the protocol lets a
    /// reason through.
    VeNCrypt {
        subtypes: Vec<VeNCryptSubtype>,
        tls: Arc<rustls::ServerConfig>,
        hint: String,
    },
}

/// How a server speaks.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub offer: Offer,
    /// The VNC-authentication challenge X509Vnc sends: 16 random bytes from the application
    /// (the core has no randomness of its own).
    pub challenge: [u8; 16],
}

/// What the client presented, for the application to judge.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// X509None: the client certificate alone ([`Server::peer_certificates`]).
    Certificate,
    /// X509Plain: a user name and password (inside TLS).
    Plain { username: String, password: String },
    /// X509Vnc: the response to `challenge`.
    VncResponse {
        challenge: [u8; 16],
        response: [u8; 16],
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Certificate => f.write_str("Certificate"),
            Self::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::VncResponse { .. } => f.write_str("VncResponse"),
        }
    }
}

/// What the application is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Decide: [`Server::accept`] or [`Server::refuse`].
    Authenticate(Auth),
    /// The client's ClientInit arrived: answer with [`Server::send_server_init`].
    ClientInit { shared: bool },
}

/// Why the handshake with a client cannot go on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServerError {
    #[error("the client's protocol version {got:?} is not RFB 3.3, 3.7 or 3.8")]
    Version { got: String },
    #[error("the client was refused: {reason}")]
    Refused { reason: String },
    #[error("the client chose security type {chosen}, which is not offered ({reason})")]
    NotOffered { chosen: u32, reason: String },
    #[error("the client speaks VeNCrypt {major}.{minor}; 0.2 is required")]
    VeNCryptVersion { major: u8, minor: u8 },
    #[error(
        "the client sent a credential of {got} bytes; at most {MAX_CREDENTIAL_BYTES} are accepted"
    )]
    CredentialTooLong { got: u64 },
    #[error("the client sent {got} bytes the handshake has not used; at most {MAX_BUFFERED_BYTES} are kept")]
    TooMuchInput { got: usize },
    #[error("TLS with the client failed: {0}")]
    Tls(rustls::Error),
    #[error("TLS with the client failed: {detail}")]
    TlsIo { detail: String },
    #[error("the handshake is not at the point where {what} is possible")]
    NotNow { what: &'static str },
    #[error("the connection has failed already")]
    Failed,
    #[error("the client closed its TLS session")]
    Closed,
}

enum Transport {
    Plain,
    Tls(Box<rustls::ServerConnection>),
}

/// One client's handshake and, after it, its session's byte pipe.
pub struct Server {
    config: ServerConfig,
    state: Option<State>,
    transport: Transport,
    /// Plaintext from the client not used yet.
    inbox: Vec<u8>,
    /// Plaintext for the client not yet through the transport.
    out: Vec<u8>,
    /// Bytes for the wire.
    wire: Vec<u8>,
    events: VecDeque<ServerEvent>,
    /// The client version, once known (for refusals).
    version: Option<ClientVersion>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("state", &self.state)
            .field("tls", &matches!(self.transport, Transport::Tls(_)))
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server that has spoken first: its ProtocolVersion waits in [`Server::poll_transmit`].
    pub fn new(config: ServerConfig) -> Self {
        let mut wire = Vec::new();
        wire.extend_from_slice(handshake::VERSION_3_8);
        Self {
            config,
            state: Some(State::Version(handshake::AwaitVersion)),
            transport: Transport::Plain,
            inbox: Vec::new(),
            out: Vec::new(),
            wire,
            events: VecDeque::new(),
            version: None,
        }
    }

    /// Bytes from the client, as they came off the wire.
    pub fn receive(&mut self, wire: &[u8]) -> Result<(), ServerError> {
        if self.state.is_none() {
            return Err(ServerError::Failed);
        }
        let result = self
            .take_in(wire)
            .and_then(|()| self.advance())
            .and_then(|()| self.check_buffered());
        self.flush();
        if result.is_err() {
            self.state = None;
        }
        result
    }

    /// Bytes for the client, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.flush();
        (!self.wire.is_empty()).then(|| std::mem::take(&mut self.wire))
    }

    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Whether ServerInit went out: from now on the connection is the session.
    pub fn is_done(&self) -> bool {
        matches!(self.state, Some(State::Done))
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// The version the client answered, once it did.
    pub fn client_version(&self) -> Option<ClientVersion> {
        self.version
    }

    /// The client's certificate chain (leaf first, DER) when it presented one inside TLS (the
    /// TLS configuration's client verifier has checked it).
    pub fn peer_certificates(&self) -> Option<Vec<Vec<u8>>> {
        match &self.transport {
            Transport::Tls(c) => c
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect()),
            Transport::Plain => None,
        }
    }

    /// The application accepts what [`ServerEvent::Authenticate`] showed: SecurityResult OK.
    pub fn accept(&mut self) -> Result<(), ServerError> {
        match self.state.take() {
            Some(State::Decision(_)) => {
                self.out.extend_from_slice(&0u32.to_be_bytes());
                self.state = Some(State::ClientInit(handshake::AwaitClientInit));
                let r = self.advance();
                self.flush();
                r
            }
            other => {
                self.state = other;
                Err(ServerError::NotNow { what: "accepting" })
            }
        }
    }

    /// Refuses the client with `reason` (shown by 3.8 viewers; at most 1 KiB is sent). The
    /// connection is over once [`Server::poll_transmit`] is drained.
    pub fn refuse(&mut self, reason: &str) {
        let version = self.version.unwrap_or(ClientVersion::V3_8);
        let mut end = reason.len().min(1024);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        handshake::write_failure(version, &reason[..end], &mut self.out);
        self.state = None;
        self.flush();
    }

    /// Sends the ServerInit (as a real server sent it) once [`ServerEvent::ClientInit`]
    /// came: the handshake is over.
    pub fn send_server_init(&mut self, server_init: &[u8]) -> Result<(), ServerError> {
        match self.state.take() {
            Some(State::ServerInit(_)) => {
                self.out.extend_from_slice(server_init);
                self.state = Some(State::Done);
                self.flush();
                Ok(())
            }
            other => {
                self.state = other;
                Err(ServerError::NotNow {
                    what: "sending ServerInit",
                })
            }
        }
    }

    /// The session's bytes from the client so far (after the handshake).
    pub fn take_from_client(&mut self) -> Vec<u8> {
        if self.is_done() {
            std::mem::take(&mut self.inbox)
        } else {
            Vec::new()
        }
    }

    /// Session bytes for the client (after the handshake); drain [`Server::poll_transmit`].
    pub fn send(&mut self, plaintext: &[u8]) {
        self.out.extend_from_slice(plaintext);
        self.flush();
    }

    /// Wire bytes into `inbox` (through TLS once it runs).
    fn take_in(&mut self, wire: &[u8]) -> Result<(), ServerError> {
        match &mut self.transport {
            Transport::Plain => self.inbox.extend_from_slice(wire),
            Transport::Tls(conn) => {
                let mut rd = wire;
                while !rd.is_empty() {
                    let processed = match conn.read_tls(&mut rd) {
                        // After the client's close_notify rustls takes nothing more: the
                        // connection is over, whatever follows.
                        Ok(0) => Err(ServerError::Closed),
                        Ok(_) => conn
                            .process_new_packets()
                            .map(drop)
                            .map_err(ServerError::Tls),
                        Err(e) => Err(ServerError::TlsIo {
                            detail: e.to_string(),
                        }),
                    };
                    if let Err(e) = processed {
                        // The alert goes out before the connection closes.
                        let _ = conn.write_tls(&mut self.wire);
                        return Err(e);
                    }
                    read_plain(conn, &mut self.inbox);
                }
            }
        }
        Ok(())
    }

    /// Until the session starts, what the handshake has not used is bounded.
    fn check_buffered(&self) -> Result<(), ServerError> {
        let pending = self.inbox.len();
        if pending > MAX_BUFFERED_BYTES && !self.is_done() {
            return Err(ServerError::TooMuchInput { got: pending });
        }
        Ok(())
    }

    /// Runs the steps as far as the input goes.
    fn advance(&mut self) -> Result<(), ServerError> {
        loop {
            let Some(state) = self.state.take() else {
                return Ok(());
            };
            let before = std::mem::discriminant(&state);
            let mut cx = Cx {
                offer: &self.config.offer,
                out: &mut self.out,
            };
            let input = self.inbox.as_slice();
            let (next, used) = match state {
                State::Version(s) => handshake::run(s, input, &mut cx)?,
                State::SecurityType(s) => handshake::run(s, input, &mut cx)?,
                State::VeNCryptVersion(s) => handshake::run(s, input, &mut cx)?,
                State::Subtype(s) => handshake::run(s, input, &mut cx)?,
                State::Plain(s) => handshake::run(s, input, &mut cx)?,
                State::VncResponse(s) => handshake::run(s, input, &mut cx)?,
                State::ClientInit(s) => handshake::run(s, input, &mut cx)?,
                State::Tls(t) => match &self.transport {
                    Transport::Tls(c) if !c.is_handshaking() => {
                        (t.after.start(self.config.challenge, cx.out), 0)
                    }
                    _ => (State::Tls(t), 0),
                },
                waiting @ (State::Decision(_) | State::ServerInit(_) | State::Done) => (waiting, 0),
            };
            self.inbox.drain(..used.min(self.inbox.len()));
            let moved = before != std::mem::discriminant(&next);
            let next = if moved { self.entered(next)? } else { next };
            self.state = Some(next);
            if !moved && used == 0 {
                return Ok(());
            }
        }
    }

    /// What entering `next` brings: events, the client's version, TLS starting.
    fn entered(&mut self, next: State) -> Result<State, ServerError> {
        Ok(match next {
            State::SecurityType(ref s) => {
                self.version = Some(s.version());
                next
            }
            // Straight from the version to ClientInit: only RFB 3.3 goes there.
            State::ClientInit(_) if self.version.is_none() => {
                self.version = Some(ClientVersion::V3_3);
                next
            }
            State::Decision(d) => {
                self.events
                    .push_back(ServerEvent::Authenticate(d.auth.clone()));
                State::Decision(d)
            }
            State::ServerInit(ref s) => {
                self.events
                    .push_back(ServerEvent::ClientInit { shared: s.shared });
                next
            }
            State::Tls(_) if matches!(self.transport, Transport::Plain) => {
                self.start_tls()?;
                next
            }
            other => other,
        })
    }

    /// The ack went out in clear; what the client sent after its choice is its first TLS.
    fn start_tls(&mut self) -> Result<(), ServerError> {
        let Offer::VeNCrypt { tls, .. } = &self.config.offer else {
            return Err(ServerError::NotNow { what: "TLS" });
        };
        let mut conn = rustls::ServerConnection::new(tls.clone()).map_err(ServerError::Tls)?;
        // The relay above bounds what it queues; rustls must not refuse a write halfway.
        conn.set_buffer_limit(None);
        self.flush();
        self.transport = Transport::Tls(Box::new(conn));
        let early = std::mem::take(&mut self.inbox);
        self.take_in(&early)
    }

    /// Plaintext for the client through the transport to the wire.
    fn flush(&mut self) {
        match &mut self.transport {
            Transport::Plain => self.wire.append(&mut self.out),
            Transport::Tls(conn) => {
                if !self.out.is_empty() && conn.writer().write_all(&self.out).is_ok() {
                    self.out.clear();
                }
                while conn.wants_write() {
                    if conn.write_tls(&mut self.wire).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Every plaintext byte rustls has decrypted, into `into`.
fn read_plain(conn: &mut rustls::ServerConnection, into: &mut Vec<u8>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => into.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
}
