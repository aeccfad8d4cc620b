//! The sans-io RFB client: bytes in, bytes and events out, pixels into a [`Framebuffer`].
//!
//! Drive contract: call [`Client::receive`] with every chunk the transport delivers, and after
//! it (and after every command: [`Client::key_event`], [`Client::pointer_event`], …) drain
//! [`Client::poll_transmit`] to the transport and [`Client::poll_event`] to the application.
//! An `Err` from `receive` is final: close the transport and show the error.

use std::collections::VecDeque;

use crate::decode;
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::handshake::{Handshake, Step};
use crate::security::Password;
use crate::tls::{sha256, BoxedEngine, TlsIdentity, TlsSource, TlsTrust};
use crate::wire::Reader;

mod api;
mod input;
pub use api::{ClientConfig, Event, JpegSource};

#[derive(Debug)]
enum Phase {
    Handshake(Handshake),
    Session(Box<Session>),
    /// Stopped after ServerInit (these are its bytes) for pass-through; see `passthrough`.
    PassThrough(Vec<u8>),
    Closed,
}

/// What carries the RFB bytes: the raw stream, or TLS inside it (after VeNCrypt's ack).
enum Transport {
    Plain,
    /// TLS starts with an engine the application has not given yet
    /// ([`Event::TlsEngineNeeded`]); the ciphertext that arrives meanwhile is `held`.
    AwaitingEngine {
        held: Vec<u8>,
    },
    Tls(Box<TlsLayer>),
}

struct TlsLayer {
    engine: BoxedEngine,
    /// Whether the verified certificate was reported as an event yet.
    reported: bool,
    decision: Decision,
}

/// Where a connection with [`crate::TlsTrust::AskFirst`] is in deciding on the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// The trust was configured (CA data, a pin): nothing to decide.
    NotAsked,
    /// The handshake is still running.
    Handshaking,
    /// [`Event::CertificateDecision`] was given: waiting for the application.
    Asked,
    Trusted,
}

impl TlsLayer {
    /// Whether the session waits for a decision: nothing goes into TLS, nothing received
    /// inside it is acted on.
    fn holds(&self) -> bool {
        matches!(self.decision, Decision::Handshaking | Decision::Asked)
    }
}

impl Transport {
    /// Whether received plaintext waits (for an engine, or for the person's decision).
    fn holds(&self) -> bool {
        match self {
            Self::Plain => false,
            Self::AwaitingEngine { .. } => true,
            Self::Tls(t) => t.holds(),
        }
    }

    /// Ciphertext kept while waiting for an engine.
    fn held_len(&self) -> usize {
        match self {
            Self::AwaitingEngine { held } => held.len(),
            _ => 0,
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "Plain",
            Self::AwaitingEngine { .. } => "AwaitingEngine",
            Self::Tls(_) => "Tls",
        })
    }
}

/// What one processing step did.
enum Progress {
    Consumed,
    Wait,
    /// The step completed and TLS starts; bytes queued from `inner_from` on belong inside it.
    StartTls {
        inner_from: usize,
    },
    /// ServerInit arrived and the client stops there (pass-through).
    Held,
}

/// An RFB client connection, without I/O.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    transport: Transport,
    /// Protocol bytes received (decrypted when TLS is on), not yet processed.
    inbuf: Vec<u8>,
    /// Protocol bytes queued to send (encrypted on the way out when TLS is on).
    outbuf: Vec<u8>,
    /// Bytes ready for the wire.
    wire_out: Vec<u8>,
    events: VecDeque<Event>,
    now_ms: u64,
    /// Stop after ServerInit instead of starting the session (see `passthrough`).
    pub(crate) hold_at_server_init: bool,
    /// Playing a recording ([`Client::new_player`]): the server's pixel format stays, and an
    /// error leaves the picture as it was (the player stops there) instead of closing.
    pub(crate) playback: bool,
    playback_failed: bool,
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            phase: Phase::Handshake(Handshake::default()),
            transport: Transport::Plain,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            wire_out: Vec::new(),
            events: VecDeque::new(),
            now_ms: 0,
            hold_at_server_init: false,
            playback: false,
            playback_failed: false,
        }
    }

    /// A client for a server wrapped in TLS from the first byte (x11vnc `-ssl`, stunnel): the
    /// TLS ClientHello is queued at once and the whole RFB session runs inside it.
    /// `config.tls_trust` says how the server certificate is verified; give the time first
    /// with [`Client::set_time_ms`] on the returned client before feeding bytes.
    pub fn new_tls_wrapped(config: ClientConfig) -> Result<Self, Error> {
        let mut c = Self::new(config);
        c.start_tls(0)?;
        Ok(c)
    }

    /// The current time, seconds since the Unix epoch: the core has no clock. Give it before
    /// feeding bytes; certificate validity is checked against it.
    pub fn set_time(&mut self, unix_seconds: u64) {
        self.set_time_ms(unix_seconds.saturating_mul(1000));
    }

    /// The current time in milliseconds since the Unix epoch (round-trip times use it).
    pub fn set_time_ms(&mut self, unix_ms: u64) {
        self.now_ms = unix_ms;
        if let Transport::Tls(t) = &mut self.transport {
            t.engine.set_time(unix_ms / 1000);
        }
    }

    /// Feeds bytes received from the server. On error the client is closed.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let buffered = (self.inbuf.len() + self.transport.held_len()).saturating_add(bytes.len());
        if buffered > self.config.limits.max_buffered_bytes {
            self.phase = Phase::Closed;
            return Err(Error::limit(
                LimitKind::BufferedBytes,
                buffered as u64,
                self.config.limits.max_buffered_bytes,
            ));
        }
        let result = self.take_input(bytes).and_then(|()| self.process());
        self.settle(result)
    }

    /// An error is final: the client closes — or, playing a recording, stops where the damage
    /// is, and what was drawn before it stays to be seen.
    fn settle(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        if result.is_err() {
            if self.playback {
                self.playback_failed = true;
            } else {
                self.phase = Phase::Closed;
            }
        }
        result
    }

    /// Bytes to send to the server, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match &mut self.transport {
            Transport::Plain => self.wire_out.append(&mut self.outbuf),
            // What is queued belongs inside TLS: it waits for the engine.
            Transport::AwaitingEngine { .. } => {}
            Transport::Tls(t) => {
                if !self.outbuf.is_empty() && !t.holds() {
                    t.engine.send(&self.outbuf);
                    self.outbuf.clear();
                }
                t.engine.transmit(&mut self.wire_out);
            }
        }
        (!self.wire_out.is_empty()).then(|| std::mem::take(&mut self.wire_out))
    }

    /// Gives credentials after [`Event::CredentialsRequired`] (or before: they are kept for
    /// when the server asks) and continues the handshake.
    pub fn provide_credentials(
        &mut self,
        username: Option<String>,
        password: Password,
    ) -> Result<(), Error> {
        self.config.username = username.or(self.config.username.take());
        self.config.password = Some(password);
        let Phase::Handshake(h @ Handshake::AwaitCredentials(_)) =
            std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return Ok(());
        };
        let result = h.resume(&self.config, &mut self.outbuf).and_then(|next| {
            self.phase = Phase::Handshake(next);
            self.process()
        });
        self.settle(result)
    }

    /// Appends received bytes to `inbuf`, through TLS when it is on.
    fn take_input(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let t = match &mut self.transport {
            Transport::Plain => {
                self.inbuf.extend_from_slice(bytes);
                return Ok(());
            }
            Transport::AwaitingEngine { held } => {
                held.extend_from_slice(bytes);
                return Ok(());
            }
            Transport::Tls(t) => t,
        };
        t.engine.receive(bytes, &mut self.inbuf)?;
        if !t.reported && t.engine.handshake_complete() {
            t.reported = true;
            let chain = t.engine.peer_chain();
            let sha256 = sha256(chain.first().map(Vec::as_slice).unwrap_or_default());
            self.events
                .push_back(Event::ServerCertificate { chain, sha256 });
            if t.decision == Decision::Handshaking {
                t.decision = Decision::Asked;
                self.events.push_back(Event::CertificateDecision { sha256 });
            }
        }
        Ok(())
    }

    /// With [`crate::TlsTrust::AskFirst`], after [`Event::CertificateDecision`]: the person
    /// trusts the certificate with this fingerprint (the one they were shown), and the session
    /// goes on — asking for credentials now if the server wants them
    /// ([`Event::CredentialsRequired`]). A different fingerprint is refused as a pin mismatch
    /// and closes. Does nothing at any other time.
    pub fn trust_certificate(&mut self, sha256: &[u8; 32]) -> Result<(), Error> {
        let Transport::Tls(t) = &mut self.transport else {
            return Ok(());
        };
        if t.decision != Decision::Asked {
            return Ok(());
        }
        let presented = t
            .engine
            .peer_chain()
            .first()
            .map(|leaf| crate::tls::sha256(leaf));
        if presented.as_ref() != Some(sha256) {
            self.refuse_certificate();
            return Err(Error::CertificateRejected {
                why: crate::tls::CertRejection::PinMismatch {
                    pinned: crate::tls::hex_colon(sha256),
                },
                sha256: presented.unwrap_or_default(),
            });
        }
        t.decision = Decision::Trusted;
        if let Phase::Handshake(h) = &self.phase {
            self.events.extend(credentials_required(h));
        }
        let result = self.process();
        self.settle(result)
    }

    /// With [`crate::TlsTrust::AskFirst`]: the person does not trust the certificate. The client
    /// closes (a TLS close_notify is queued for [`Client::poll_transmit`]); nothing was sent
    /// inside TLS.
    pub fn refuse_certificate(&mut self) {
        if let Transport::Tls(t) = &mut self.transport {
            if t.holds() {
                t.engine.close();
            }
        }
        self.outbuf.clear();
        self.phase = Phase::Closed;
    }

    /// Switches to TLS: what is queued so far goes out in clear, then the ClientHello — at
    /// once with the built-in engine, or once the application gave one.
    fn start_tls(&mut self, inner_from: usize) -> Result<(), Error> {
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let Some(trust) = &self.config.tls_trust
        else {
            return Err(Error::TlsTrustMissing {
                offered: Vec::new(),
            });
        };
        let engine: Option<BoxedEngine> = match self.config.tls_source {
            #[cfg(feature = "tls")]
            TlsSource::BuiltIn => Some(Box::new(crate::tls::RustlsEngine::new(
                trust,
                self.config.tls_identity.as_ref(),
                self.now_ms / 1000,
            )?)),
            #[cfg(not(feature = "tls"))]
            TlsSource::BuiltIn => {
                return Err(Error::Tls {
                    detail: "this build has no TLS engine of its own (rfb without feature `tls`): configure TlsSource::Application and give one when asked".into(),
                })
            }
            TlsSource::Application => None,
        };
        let inner = self.outbuf.split_off(inner_from.min(self.outbuf.len()));
        self.wire_out.append(&mut self.outbuf);
        self.outbuf = inner;
        match engine {
            Some(engine) => self.install_engine(engine),
            None => {
                self.transport = Transport::AwaitingEngine { held: Vec::new() };
                self.events.push_back(Event::TlsEngineNeeded);
            }
        }
        Ok(())
    }

    fn install_engine(&mut self, engine: BoxedEngine) {
        self.transport = Transport::Tls(Box::new(TlsLayer {
            engine,
            reported: false,
            decision: if self.asks_first() {
                Decision::Handshaking
            } else {
                Decision::NotAsked
            },
        }));
    }

    /// After [`Event::TlsEngineNeeded`]: what to start the engine with (the trust and the
    /// client certificate, if any; [`crate::tls::bridge::encode_params`] carries them to
    /// another module). `None` at any other time.
    pub fn tls_parameters(&self) -> Option<(&TlsTrust, Option<&TlsIdentity>)> {
        if self.is_closed() {
            return None;
        }
        match (&self.transport, &self.config.tls_trust) {
            (Transport::AwaitingEngine { .. }, Some(trust)) => {
                Some((trust, self.config.tls_identity.as_ref()))
            }
            _ => None,
        }
    }

    /// After [`Event::TlsEngineNeeded`]: the engine to run TLS with, started with
    /// [`Client::tls_parameters`]. The ClientHello goes out at the next
    /// [`Client::poll_transmit`], and what the server sent meanwhile is processed. A closed
    /// client (refused, failed) is [`Error::Closed`]; at any other time, or a second time,
    /// this does nothing.
    pub fn provide_tls_engine(&mut self, mut engine: BoxedEngine) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let Transport::AwaitingEngine { held } = &mut self.transport else {
            return Ok(());
        };
        let held = std::mem::take(held);
        engine.set_time(self.now_ms / 1000);
        self.install_engine(engine);
        let result = self.take_input(&held).and_then(|()| self.process());
        self.settle(result)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The framebuffer, once connected.
    pub fn framebuffer(&self) -> Option<&Framebuffer> {
        match &self.phase {
            Phase::Session(s) => Some(&s.framebuffer),
            _ => None,
        }
    }

    /// What to paint, in order, to show every change since the last call (see
    /// [`Framebuffer::take_paints`]); with [`JpegSource::BuiltIn`], at most one region.
    pub fn take_paints(&mut self) -> Vec<crate::paint::Paint<Vec<u8>>> {
        match &mut self.phase {
            Phase::Session(s) => s.framebuffer.take_paints(),
            _ => Vec::new(),
        }
    }

    /// Whether an image handed to the application waits to be taken, maybe in an update that
    /// has not ended yet (see [`Framebuffer::images_waiting`]).
    pub fn images_waiting(&self) -> bool {
        self.framebuffer().is_some_and(Framebuffer::images_waiting)
    }

    /// The region painted since the last call (with [`JpegSource::BuiltIn`]).
    pub fn take_dirty(&mut self) -> Option<Rect> {
        self.take_dirty_fills().map(|d| d.region)
    }

    /// What was painted since the last call (or [`Client::take_dirty`]), with the fills that
    /// painted it when nothing else did ([`crate::framebuffer::Dirty`]).
    pub fn take_dirty_fills(&mut self) -> Option<crate::framebuffer::Dirty> {
        match &mut self.phase {
            Phase::Session(s) => s.framebuffer.take_dirty_fills(),
            _ => None,
        }
    }

    /// What the client waits for, in words, for an error that says where a connection stood
    /// when it was given up ("no complete screen within 20 s, waiting for the TLS handshake").
    pub fn waiting_for(&self) -> &'static str {
        if self.is_closed() {
            return "nothing: the connection is closed";
        }
        match &self.transport {
            Transport::AwaitingEngine { .. } => return "a TLS engine from the application",
            Transport::Tls(t) if !t.engine.handshake_complete() => return "the TLS handshake",
            Transport::Tls(t) if t.decision == Decision::Asked => {
                return "a decision on the server's certificate"
            }
            _ => {}
        }
        match &self.phase {
            Phase::Handshake(h) => h.waiting_for(),
            Phase::Session(_) => "the server's updates",
            Phase::PassThrough(_) => "nothing: the session was handed over after ServerInit",
            Phase::Closed => "nothing: the connection is closed",
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Session(_))
    }

    /// Closed for good: an error, a refusal, or a damaged recording's end.
    fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed) || self.playback_failed
    }

    /// Trust on first use: the certificate is decided on after the TLS handshake.
    fn asks_first(&self) -> bool {
        self.config
            .tls_trust
            .as_ref()
            .is_some_and(TlsTrust::asks_first)
    }

    fn process(&mut self) -> Result<(), Error> {
        loop {
            if self.transport.holds() {
                // Kept until there is an engine and the person has decided on the certificate.
                return Ok(());
            }
            // Taken out so `step` can borrow `self` mutably; put back below with the rest.
            let mut inbuf = std::mem::take(&mut self.inbuf);
            let mut consumed = 0;
            let mut tls_from = None;
            let result = loop {
                let input = inbuf.get(consumed..).unwrap_or_default();
                if input.is_empty() {
                    break Ok(());
                }
                let mut r = Reader::new(input);
                match self.step(&mut r) {
                    Ok(Progress::Consumed) => consumed += r.position(),
                    Ok(Progress::Wait) => break Ok(()),
                    Ok(Progress::StartTls { inner_from }) => {
                        consumed += r.position();
                        tls_from = Some(inner_from);
                        break Ok(());
                    }
                    Ok(Progress::Held) => {
                        let init = input.get(..r.position()).unwrap_or_default().to_vec();
                        self.phase = Phase::PassThrough(init);
                        consumed += r.position();
                        break Ok(());
                    }
                    Err(e) => break Err(e),
                }
            };
            inbuf.drain(..consumed);
            self.inbuf = inbuf;
            result?;
            let Some(inner_from) = tls_from else {
                return Ok(());
            };
            // Whatever followed the ack is already TLS: run it through the new layer.
            let ciphertext = std::mem::take(&mut self.inbuf);
            self.start_tls(inner_from)?;
            self.take_input(&ciphertext)?;
        }
    }

    /// Processes one unit (handshake step, message header or rectangle). `Ok(false)` means
    /// more bytes are needed and nothing was consumed.
    fn step(&mut self, r: &mut Reader<'_>) -> Result<Progress, Error> {
        let outbuf_before = self.outbuf.len();
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Handshake(h) => match h.step(r, &self.config, &mut self.outbuf)? {
                Step::Next(next) => {
                    self.events.extend(credentials_required(&next));
                    self.phase = Phase::Handshake(next);
                    Ok(Progress::Consumed)
                }
                Step::Wait(same) => {
                    self.phase = Phase::Handshake(same);
                    Ok(Progress::Wait)
                }
                Step::StartTls(next) => {
                    // With trust on first use, credentials are asked for once the person has
                    // trusted the certificate (`trust_certificate`), not before.
                    if !self.asks_first() {
                        self.events.extend(credentials_required(&next));
                    }
                    self.phase = Phase::Handshake(next);
                    Ok(Progress::StartTls {
                        inner_from: outbuf_before,
                    })
                }
                Step::Done(_) if self.hold_at_server_init => {
                    // The ServerInit bytes are recorded by `process`, which sees them.
                    self.phase = Phase::PassThrough(Vec::new());
                    Ok(Progress::Held)
                }
                Step::Done(init) if self.playback => {
                    // A recording is in the pixel format its ServerInit names; nothing is
                    // asked of anyone.
                    let session =
                        Session::with_pixel_format(init.width, init.height, init.pixel_format);
                    self.events.push_back(Event::Connected {
                        width: init.width,
                        height: init.height,
                        name: init.name,
                    });
                    self.phase = Phase::Session(Box::new(session));
                    Ok(Progress::Consumed)
                }
                Step::Done(init) => {
                    let session = Session::new(init.width, init.height);
                    session.start(&self.config, &mut self.outbuf);
                    self.events.push_back(Event::Connected {
                        width: init.width,
                        height: init.height,
                        name: init.name,
                    });
                    self.phase = Phase::Session(Box::new(session));
                    Ok(Progress::Consumed)
                }
            },
            Phase::Session(mut s) => {
                let io = Io {
                    cfg: &self.config,
                    out: &mut self.outbuf,
                    events: &mut self.events,
                    now_ms: self.now_ms,
                };
                let result = s.step(r, io);
                self.phase = Phase::Session(s);
                match result {
                    Ok(()) => Ok(Progress::Consumed),
                    Err(Stall::Incomplete(_)) => Ok(Progress::Wait),
                    Err(Stall::Invalid(e)) => Err(e),
                }
            }
            // Everything after ServerInit stays in `inbuf` for the pass-through to take.
            Phase::PassThrough(init) => {
                self.phase = Phase::PassThrough(init);
                Ok(Progress::Wait)
            }
            Phase::Closed => Err(Error::Closed),
        }
    }
}

/// The prompt for a handshake that waits for credentials.
fn credentials_required(h: &Handshake) -> Option<Event> {
    match h {
        Handshake::AwaitCredentials(a) => Some(Event::CredentialsRequired {
            username: a.needs_username(),
        }),
        _ => None,
    }
}

/// What the session learned from pseudo-encodings.
impl Client {
    /// Whether the server acknowledged QEMU Extended Key Events (pseudo-encoding −258), so
    /// key events may carry XT scancodes.
    pub fn supports_qemu_key_events(&self) -> bool {
        matches!(&self.phase, Phase::Session(s) if s.qemu_key_events)
    }

    /// The screen layout from the server's last ExtendedDesktopSize (empty before one), the
    /// basis of a SetDesktopSize request.
    pub fn screens(&self) -> &[decode::Screen] {
        match &self.phase {
            Phase::Session(s) => &s.screens,
            _ => &[],
        }
    }
}

mod session;
#[cfg(test)]
mod tests;

/// For `crate::passthrough`: the parts of the client a pass-through relay needs.
impl Client {
    /// The raw ServerInit, once held there.
    pub(crate) fn held_server_init(&self) -> Option<&[u8]> {
        match &self.phase {
            Phase::PassThrough(init) => Some(init),
            _ => None,
        }
    }

    /// Plaintext received after ServerInit, drained.
    pub(crate) fn take_received(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inbuf)
    }

    /// Queues plaintext for the server (through TLS when it is on).
    pub(crate) fn queue_plaintext(&mut self, bytes: &[u8]) {
        self.outbuf.extend_from_slice(bytes);
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }
}

use session::{Io, Session};
