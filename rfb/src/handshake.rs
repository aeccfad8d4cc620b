//! The client handshake, ProtocolVersion → security → ClientInit → ServerInit, as one struct
//! per step; each step's `step` consumes it and returns the next ([`Step`]), or itself when
//! its message is not complete yet. [`Handshake`] only dispatches.
//!
//! Rules per version (RFC 6143 §7.1–7.3 and what servers really send):
//! - 3.3: the server picks the type; a SecurityResult follows VNC auth only.
//! - 3.7: the client picks; a SecurityResult follows every type except None; no reason on failure.
//! - 3.8: a SecurityResult follows every type, and a failure carries a reason.

pub mod vencrypt;
#[cfg(all(test, feature = "tls"))]
#[path = "handshake/vencrypt_tests.rs"]
mod vencrypt_tests;

use crate::client::ClientConfig;
use crate::error::{Error, LimitKind, Stall};
use crate::limits::Limits;
use crate::pixel_format::PixelFormat;
use crate::security::{vnc_auth_response, SecurityType};
use crate::wire::{decode_text, Reader};

/// The protocol version both sides use after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V3_3,
    V3_7,
    V3_8,
}

impl Version {
    /// Maps what a server announces to the version to speak: anything at or above 3.8
    /// (003.889, 004.x, 005.x) → 3.8; 3.7 → 3.7; other 3.x → 3.3.
    pub fn negotiate(major: u16, minor: u16) -> Result<Self, Error> {
        match (major, minor) {
            (0..=2, _) => Err(Error::UnsupportedVersion { major, minor }),
            (3, 0..=6) => Ok(Self::V3_3),
            (3, 7) => Ok(Self::V3_7),
            _ => Ok(Self::V3_8),
        }
    }

    pub fn wire(self) -> &'static [u8; 12] {
        match self {
            Self::V3_3 => b"RFB 003.003\n",
            Self::V3_7 => b"RFB 003.007\n",
            Self::V3_8 => b"RFB 003.008\n",
        }
    }
}

/// What ServerInit told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInit {
    pub width: u16,
    pub height: u16,
    pub pixel_format: PixelFormat,
    pub name: String,
}

#[derive(Debug)]
pub struct ExpectVersion;
#[derive(Debug)]
pub struct ExpectSecurityTypes {
    version: Version,
}
#[derive(Debug)]
pub struct ExpectSecurityType33;
#[derive(Debug)]
pub struct ExpectVncChallenge {
    pub(crate) version: Version,
}
#[derive(Debug)]
pub struct ExpectSecurityResult {
    pub(crate) version: Version,
}
#[derive(Debug)]
pub struct ExpectFailureReason {
    /// Whether the failure happened at authentication (vs. the server refusing outright).
    during_auth: bool,
}
#[derive(Debug)]
pub struct ExpectServerInit;

/// The handshake's current step.
#[derive(Debug)]
pub enum Handshake {
    Version(ExpectVersion),
    SecurityTypes(ExpectSecurityTypes),
    SecurityType33(ExpectSecurityType33),
    VncChallenge(ExpectVncChallenge),
    SecurityResult(ExpectSecurityResult),
    FailureReason(ExpectFailureReason),
    ServerInit(ExpectServerInit),
    VeNCryptVersion(vencrypt::ExpectVersion),
    VeNCryptVersionAck(vencrypt::ExpectVersionAck),
    VeNCryptSubtypes(vencrypt::ExpectSubtypes),
    VeNCryptTlsAck(vencrypt::ExpectTlsAck),
    /// Paused until the application gives credentials (`Client::provide_credentials`).
    AwaitCredentials(AwaitCredentials),
}

/// What the handshake will do once it has credentials.
#[derive(Debug)]
pub enum AwaitCredentials {
    /// Answer this VNC-authentication challenge.
    Challenge {
        challenge: [u8; 16],
        version: Version,
    },
    /// Send VeNCrypt Plain credentials (inside TLS).
    Plain { version: Version },
}

impl AwaitCredentials {
    /// Whether a user name is asked for too.
    pub fn needs_username(&self) -> bool {
        matches!(self, Self::Plain { .. })
    }
}

/// The outcome of feeding bytes to a step.
#[derive(Debug)]
pub enum Step {
    /// The step completed; this is the next one.
    Next(Handshake),
    /// More bytes are needed; nothing was consumed.
    Wait(Handshake),
    /// The step completed and TLS starts now: every later byte, both ways, goes through it.
    StartTls(Handshake),
    /// ServerInit arrived; the handshake is over.
    Done(ServerInit),
}

impl Default for Handshake {
    fn default() -> Self {
        Self::Version(ExpectVersion)
    }
}

/// Turns a parse result into complete (`Some`), incomplete (`None`) or an error.
fn complete<T>(r: Result<T, Stall>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Stall::Incomplete(_)) => Ok(None),
        Err(Stall::Invalid(e)) => Err(e),
    }
}

fn read_string(r: &mut Reader<'_>, limits: &Limits) -> Result<String, Stall> {
    let len = r.u32()?;
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    if n > limits.max_string_bytes {
        return Err(
            Error::limit(LimitKind::StringBytes, len.into(), limits.max_string_bytes).into(),
        );
    }
    Ok(decode_text(r.bytes(n)?))
}

pub(crate) fn client_init(cfg: &ClientConfig, out: &mut Vec<u8>) -> Handshake {
    out.push(u8::from(cfg.shared));
    Handshake::ServerInit(ExpectServerInit)
}

impl Handshake {
    /// Feeds the bytes in `r` to the current step, which consumes itself into the next. On
    /// `Wait`, `r` may have advanced but the caller must not consume what it read.
    pub fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        match self {
            Self::Version(s) => s.step(r, out),
            Self::SecurityTypes(s) => s.step(r, cfg, out),
            Self::SecurityType33(s) => s.step(r, cfg, out),
            Self::VncChallenge(s) => s.step(r, cfg, out),
            Self::SecurityResult(s) => s.step(r, cfg, out),
            Self::FailureReason(s) => s.step(r, cfg),
            Self::VeNCryptVersion(s) => s.step(r, out),
            Self::VeNCryptVersionAck(s) => s.step(r),
            Self::VeNCryptSubtypes(s) => s.step(r, cfg, out),
            Self::VeNCryptTlsAck(s) => s.step(r, cfg, out),
            // The server waits for us; anything it sends meanwhile stays buffered.
            Self::AwaitCredentials(a) => Ok(Step::Wait(Self::AwaitCredentials(a))),
            Self::ServerInit(s) => s.step(r, cfg),
        }
    }

    /// What this step waits for, in words (see `Client::waiting_for`).
    pub fn waiting_for(&self) -> &'static str {
        match self {
            Self::Version(_) => "the server's protocol version",
            Self::SecurityTypes(_) | Self::SecurityType33(_) => "the server's security types",
            Self::VncChallenge(_) => "the server's VNC authentication challenge",
            Self::SecurityResult(_) => "the server's answer to the authentication",
            Self::FailureReason(_) => "the server's reason for refusing",
            Self::ServerInit(_) => "the server's ServerInit (size and name of the desktop)",
            Self::VeNCryptVersion(_) => "the server's VeNCrypt version",
            Self::VeNCryptVersionAck(_) => "the server's VeNCrypt version acknowledgement",
            Self::VeNCryptSubtypes(_) => "the server's VeNCrypt subtypes",
            Self::VeNCryptTlsAck(_) => "the server's go-ahead for TLS",
            Self::AwaitCredentials(_) => "credentials from the application",
        }
    }
}

macro_rules! into_handshake {
    ($($step:ty => $variant:ident),+ $(,)?) => {
        $(impl From<$step> for Handshake {
            fn from(s: $step) -> Self {
                Self::$variant(s)
            }
        })+
    };
}

into_handshake!(
    ExpectVersion => Version,
    ExpectSecurityTypes => SecurityTypes,
    ExpectSecurityType33 => SecurityType33,
    ExpectVncChallenge => VncChallenge,
    ExpectSecurityResult => SecurityResult,
    ExpectFailureReason => FailureReason,
    ExpectServerInit => ServerInit,
    vencrypt::ExpectVersion => VeNCryptVersion,
    vencrypt::ExpectVersionAck => VeNCryptVersionAck,
    vencrypt::ExpectSubtypes => VeNCryptSubtypes,
    vencrypt::ExpectTlsAck => VeNCryptTlsAck,
);

impl ExpectVersion {
    fn step(self, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<Step, Error> {
        let Some(version) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        out.extend_from_slice(version.wire());
        Ok(Step::Next(match version {
            Version::V3_3 => ExpectSecurityType33.into(),
            v => ExpectSecurityTypes { version: v }.into(),
        }))
    }
}

impl ExpectSecurityTypes {
    fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(offered) = complete(self.read(r, &cfg.limits))? else {
            return Ok(Step::Wait(self.into()));
        };
        let Some(offered) = offered else {
            return Ok(Step::Next(
                ExpectFailureReason { during_auth: false }.into(),
            ));
        };
        let chosen = choose_security(&offered, cfg)?;
        out.push(chosen.to_u8());
        let version = self.version;
        Ok(Step::Next(match (chosen, version) {
            (SecurityType::VeNCrypt, version) => vencrypt::ExpectVersion { version }.into(),
            (SecurityType::VncAuth, version) => ExpectVncChallenge { version }.into(),
            (_, Version::V3_8) => ExpectSecurityResult { version }.into(),
            _ => client_init(cfg, out),
        }))
    }
}

impl ExpectSecurityType33 {
    fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(kind) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        let challenge = || {
            ExpectVncChallenge {
                version: Version::V3_3,
            }
            .into()
        };
        Ok(Step::Next(match kind {
            0 => ExpectFailureReason { during_auth: false }.into(),
            1 => client_init(cfg, out),
            2 if cfg.password.is_some() || cfg.prompt_for_credentials => challenge(),
            2 => return Err(Error::PasswordRequired),
            other => {
                return Err(Error::Invalid {
                    field: "RFB 3.3 security type",
                    got: other.into(),
                    why: "must be 0, 1 or 2",
                })
            }
        }))
    }
}

impl ExpectVncChallenge {
    fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(challenge) = complete(r.array::<16>().map_err(Stall::from))? else {
            return Ok(Step::Wait(self.into()));
        };
        let paused = Handshake::AwaitCredentials(AwaitCredentials::Challenge {
            challenge,
            version: self.version,
        });
        Ok(Step::Next(paused.resume(cfg, out)?))
    }
}

impl ExpectSecurityResult {
    fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(status) = complete(r.u32().map_err(Stall::from))? else {
            return Ok(Step::Wait(self.into()));
        };
        match (status, self.version) {
            (0, _) => Ok(Step::Next(client_init(cfg, out))),
            (_, Version::V3_8) => Ok(Step::Next(ExpectFailureReason { during_auth: true }.into())),
            (_, _) => Err(Error::AuthenticationFailed {
                reason: "the server gave no reason (RFB 3.3/3.7 sends none)".into(),
            }),
        }
    }
}

impl ExpectFailureReason {
    fn step(self, r: &mut Reader<'_>, cfg: &ClientConfig) -> Result<Step, Error> {
        let Some(reason) = complete(read_string(r, &cfg.limits))? else {
            return Ok(Step::Wait(self.into()));
        };
        Err(if self.during_auth {
            Error::AuthenticationFailed { reason }
        } else {
            Error::ServerRefused { reason }
        })
    }
}

impl ExpectServerInit {
    fn step(self, r: &mut Reader<'_>, cfg: &ClientConfig) -> Result<Step, Error> {
        match complete(self.read(r, &cfg.limits))? {
            Some(init) => Ok(Step::Done(init)),
            None => Ok(Step::Wait(self.into())),
        }
    }
}

impl Handshake {
    /// Continues a paused handshake once `cfg` has credentials, returning the next step; stays
    /// in `AwaitCredentials` while they are still missing and prompting is on.
    pub fn resume(self, cfg: &ClientConfig, out: &mut Vec<u8>) -> Result<Handshake, Error> {
        match self {
            Self::AwaitCredentials(AwaitCredentials::Challenge { challenge, version }) => {
                match &cfg.password {
                    Some(pw) => {
                        out.extend_from_slice(&vnc_auth_response(&challenge, pw));
                        Ok(Self::SecurityResult(ExpectSecurityResult { version }))
                    }
                    None if cfg.prompt_for_credentials => {
                        Ok(Self::AwaitCredentials(AwaitCredentials::Challenge {
                            challenge,
                            version,
                        }))
                    }
                    None => Err(Error::PasswordRequired),
                }
            }
            Self::AwaitCredentials(AwaitCredentials::Plain { version }) => {
                if cfg.username.is_some() && cfg.password.is_some() {
                    vencrypt::write_plain(cfg, out)?;
                    Ok(Self::SecurityResult(ExpectSecurityResult { version }))
                } else if cfg.prompt_for_credentials {
                    Ok(Self::AwaitCredentials(AwaitCredentials::Plain { version }))
                } else {
                    Err(Error::CredentialsRequired)
                }
            }
            other => Ok(other),
        }
    }
}

/// Picks a security type. With TLS trust configured (CA data or a pin), VeNCrypt comes first
/// (it encrypts); otherwise the first type in the server's order that this client can
/// complete, with VeNCrypt last (it may still hold None or VncAuth inside, or X509 for
/// [`crate::TlsTrust::AskFirst`]).
fn choose_security(offered: &[u8], cfg: &ClientConfig) -> Result<SecurityType, Error> {
    let types: Vec<SecurityType> = offered.iter().map(|&t| SecurityType::from(t)).collect();
    let verified = cfg.tls_trust.as_ref().is_some_and(|t| !t.asks_first());
    if verified && types.contains(&SecurityType::VeNCrypt) {
        return Ok(SecurityType::VeNCrypt);
    }
    let direct = types.iter().copied().find(|t| match t {
        SecurityType::None => true,
        SecurityType::VncAuth => cfg.password.is_some() || cfg.prompt_for_credentials,
        SecurityType::VeNCrypt | SecurityType::Unknown(_) => false,
    });
    if let Some(t) = direct {
        return Ok(t);
    }
    if types.contains(&SecurityType::VeNCrypt) {
        return Ok(SecurityType::VeNCrypt);
    }
    Err(if types.contains(&SecurityType::VncAuth) {
        Error::PasswordRequired
    } else {
        Error::NoSupportedSecurity {
            offered: offered.to_vec(),
        }
    })
}

impl ExpectVersion {
    fn read(&self, r: &mut Reader<'_>) -> Result<Version, Stall> {
        let raw = r.array::<12>()?;
        let not_rfb = || Error::NotRfb {
            got: String::from_utf8_lossy(&raw).into_owned(),
        };
        if &raw[..4] != b"RFB " || raw[7] != b'.' || raw[11] != b'\n' {
            return Err(not_rfb().into());
        }
        let num = |b: &[u8]| -> Option<u16> {
            b.iter().try_fold(0u16, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
            })
        };
        let (Some(major), Some(minor)) = (num(&raw[4..7]), num(&raw[8..11])) else {
            return Err(not_rfb().into());
        };
        Ok(Version::negotiate(major, minor)?)
    }
}

impl ExpectSecurityTypes {
    /// `None` when the server sent an empty list (a reason follows).
    fn read(&self, r: &mut Reader<'_>, _limits: &Limits) -> Result<Option<Vec<u8>>, Stall> {
        let n = r.u8()?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(r.bytes(usize::from(n))?.to_vec()))
    }
}

impl ExpectSecurityType33 {
    fn read(&self, r: &mut Reader<'_>) -> Result<u32, Stall> {
        Ok(r.u32()?)
    }
}

impl ExpectServerInit {
    fn read(&self, r: &mut Reader<'_>, limits: &Limits) -> Result<ServerInit, Stall> {
        let width = r.u16()?;
        let height = r.u16()?;
        for v in [width, height] {
            if v > limits.max_framebuffer_side {
                return Err(Error::limit(
                    LimitKind::FramebufferSide,
                    v.into(),
                    limits.max_framebuffer_side.into(),
                )
                .into());
            }
        }
        let pixel_format = PixelFormat::read(r)?;
        let name = read_string(r, limits)?;
        Ok(ServerInit {
            width,
            height,
            pixel_format,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_mapping_follows_real_servers() {
        for (maj, min, want) in [
            (3, 3, Version::V3_3),
            (3, 5, Version::V3_3),
            (3, 6, Version::V3_3),
            (3, 7, Version::V3_7),
            (3, 8, Version::V3_8),
            (3, 889, Version::V3_8),
            (4, 0, Version::V3_8),
            (4, 1, Version::V3_8),
            (5, 0, Version::V3_8),
        ] {
            assert_eq!(Version::negotiate(maj, min), Ok(want), "{maj}.{min}");
        }
        assert!(Version::negotiate(2, 9).is_err());
    }
}
