//! The server's handshake steps, one type each. A step parses what it waits for from the
//! client ([`Step::parse`], which changes nothing) and, once that is complete, consumes itself
//! into the next step ([`Step::next`]), writing what the server says into `out`.
//!
//! Rules per version the client answered (RFC 6143 §7.1–7.2; A1.4 of the reference):
//! - 3.3: the server picks the type (a U32); no SecurityResult after None. VeNCrypt cannot be
//!   negotiated: the client gets type 0 with a reason.
//! - 3.7: the client picks; a SecurityResult follows every type except None; none carries a
//!   reason.
//! - 3.8: a SecurityResult follows every type, and a failure carries a reason.
//! - Inside VeNCrypt a SecurityResult always follows, with a reason from 3.8 on.

use super::{Auth, Offer, ServerError, MAX_CREDENTIAL_BYTES};
use crate::security::VeNCryptSubtype;
use crate::wire::{decode_text, Needed, Reader};

/// Why a message could not be read yet.
pub(super) enum Parse {
    /// More bytes are needed.
    Incomplete,
    Invalid(ServerError),
}

impl From<Needed> for Parse {
    fn from(_: Needed) -> Self {
        Self::Incomplete
    }
}

impl From<ServerError> for Parse {
    fn from(e: ServerError) -> Self {
        Self::Invalid(e)
    }
}

/// The version the client answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientVersion {
    V3_3,
    V3_7,
    V3_8,
}

pub(super) const VERSION_3_8: &[u8; 12] = b"RFB 003.008\n";
const NONE: u8 = 1;
const VENCRYPT: u8 = 19;

/// What the steps read and write besides the bytes.
pub(super) struct Cx<'a> {
    pub offer: &'a Offer,
    pub out: &'a mut Vec<u8>,
}

/// A step that waits for the client.
pub(super) trait Step: Sized + Into<State> {
    type Msg;
    /// Reads the client's message; `Incomplete` until all of it is there.
    fn parse(r: &mut Reader<'_>) -> Result<Self::Msg, Parse>;
    /// The next step, given the complete message.
    fn next(self, msg: Self::Msg, cx: &mut Cx<'_>) -> Result<State, ServerError>;
}

#[derive(Debug)]
pub struct AwaitVersion;
#[derive(Debug)]
pub struct AwaitSecurityType {
    version: ClientVersion,
}

impl AwaitSecurityType {
    pub(super) fn version(&self) -> ClientVersion {
        self.version
    }
}
#[derive(Debug)]
pub struct AwaitVeNCryptVersion {
    version: ClientVersion,
}
#[derive(Debug)]
pub struct AwaitSubtype {
    version: ClientVersion,
}
/// TLS starts: the TLS handshake runs in the driver; then `after`.
#[derive(Debug)]
pub struct TlsHandshake {
    pub after: AfterTls,
}
/// What comes once the TLS handshake is over.
#[derive(Debug, Clone, Copy)]
pub enum AfterTls {
    /// X509Plain: the client's user name and password.
    Plain,
    /// X509None: the certificate alone decides.
    Decide,
    /// X509Vnc: a VNC-authentication challenge, then the response.
    Challenge,
}
#[derive(Debug)]
pub struct AwaitPlain;
#[derive(Debug)]
pub struct AwaitVncResponse {
    pub(super) challenge: [u8; 16],
}
/// The application decides ([`super::Server::accept`] or [`super::Server::refuse`]).
#[derive(Debug)]
pub struct AwaitDecision {
    pub(super) auth: Auth,
}
#[derive(Debug)]
pub struct AwaitClientInit;
/// The application sends ServerInit ([`super::Server::send_server_init`]).
#[derive(Debug)]
pub struct AwaitServerInit {
    pub(super) shared: bool,
}

/// Where the handshake is.
#[derive(Debug)]
pub enum State {
    Version(AwaitVersion),
    SecurityType(AwaitSecurityType),
    VeNCryptVersion(AwaitVeNCryptVersion),
    Subtype(AwaitSubtype),
    Tls(TlsHandshake),
    Plain(AwaitPlain),
    VncResponse(AwaitVncResponse),
    Decision(AwaitDecision),
    ClientInit(AwaitClientInit),
    ServerInit(AwaitServerInit),
    /// ServerInit went out: what follows is the session.
    Done,
}

macro_rules! into_state {
    ($($step:ident => $variant:ident),+ $(,)?) => {
        $(impl From<$step> for State {
            fn from(s: $step) -> Self {
                Self::$variant(s)
            }
        })+
    };
}

into_state!(
    AwaitVersion => Version,
    AwaitSecurityType => SecurityType,
    AwaitVeNCryptVersion => VeNCryptVersion,
    AwaitSubtype => Subtype,
    AwaitPlain => Plain,
    AwaitVncResponse => VncResponse,
    AwaitClientInit => ClientInit,
);

/// Writes a SecurityResult failure: with a reason from 3.8 on, and always inside VeNCrypt
/// when the client is 3.8 (3.7 clients read none).
pub(super) fn write_failure(version: ClientVersion, reason: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&1u32.to_be_bytes());
    if version == ClientVersion::V3_8 {
        write_string(reason, out);
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// What to tell a client that chose something not offered.
fn what_to_configure(offer: &Offer) -> String {
    match offer {
        Offer::None => "this server offers security type None only".to_owned(),
        Offer::VeNCrypt { hint, .. } => hint.clone(),
    }
}

impl Step for AwaitVersion {
    type Msg = ClientVersion;

    fn parse(r: &mut Reader<'_>) -> Result<ClientVersion, Parse> {
        let raw = r.array::<12>()?;
        Ok(match &raw {
            b"RFB 003.003\n" => ClientVersion::V3_3,
            b"RFB 003.007\n" => ClientVersion::V3_7,
            b"RFB 003.008\n" => ClientVersion::V3_8,
            _ => {
                return Err(ServerError::Version {
                    got: String::from_utf8_lossy(&raw).trim_end().to_owned(),
                }
                .into())
            }
        })
    }

    fn next(self, version: ClientVersion, cx: &mut Cx<'_>) -> Result<State, ServerError> {
        match (cx.offer, version) {
            (Offer::None, ClientVersion::V3_3) => {
                cx.out.extend_from_slice(&u32::from(NONE).to_be_bytes());
                Ok(AwaitClientInit.into())
            }
            (Offer::VeNCrypt { .. }, ClientVersion::V3_3) => {
                // 3.3: type 0 means failure, and a reason follows.
                cx.out.extend_from_slice(&0u32.to_be_bytes());
                let reason = format!(
                    "RFB 3.3 cannot negotiate VeNCrypt: use a viewer that speaks RFB 3.8 ({})",
                    what_to_configure(cx.offer)
                );
                write_string(&reason, cx.out);
                Err(ServerError::Refused { reason })
            }
            (Offer::None, v) => {
                cx.out.extend_from_slice(&[1, NONE]);
                Ok(AwaitSecurityType { version: v }.into())
            }
            (Offer::VeNCrypt { .. }, v) => {
                cx.out.extend_from_slice(&[1, VENCRYPT]);
                Ok(AwaitSecurityType { version: v }.into())
            }
        }
    }
}

impl Step for AwaitSecurityType {
    type Msg = u8;

    fn parse(r: &mut Reader<'_>) -> Result<u8, Parse> {
        Ok(r.u8()?)
    }

    fn next(self, chosen: u8, cx: &mut Cx<'_>) -> Result<State, ServerError> {
        match (cx.offer, chosen) {
            (Offer::None, NONE) => {
                if self.version == ClientVersion::V3_8 {
                    cx.out.extend_from_slice(&0u32.to_be_bytes());
                }
                Ok(AwaitClientInit.into())
            }
            (Offer::VeNCrypt { .. }, VENCRYPT) => {
                cx.out.extend_from_slice(&[0, 2]);
                Ok(AwaitVeNCryptVersion {
                    version: self.version,
                }
                .into())
            }
            _ => {
                let reason = what_to_configure(cx.offer);
                write_failure(self.version, &reason, cx.out);
                Err(ServerError::NotOffered {
                    chosen: chosen.into(),
                    reason,
                })
            }
        }
    }
}

impl Step for AwaitVeNCryptVersion {
    type Msg = (u8, u8);

    fn parse(r: &mut Reader<'_>) -> Result<(u8, u8), Parse> {
        Ok((r.u8()?, r.u8()?))
    }

    fn next(self, (major, minor): (u8, u8), cx: &mut Cx<'_>) -> Result<State, ServerError> {
        let Offer::VeNCrypt { subtypes, .. } = cx.offer else {
            return Err(ServerError::Refused {
                reason: "VeNCrypt is not offered".into(),
            });
        };
        if subtypes.is_empty() {
            cx.out.push(0xff);
            return Err(ServerError::Refused {
                reason: "no VeNCrypt subtype is offered".into(),
            });
        }
        if (major, minor) != (0, 2) {
            // Step 3's failure is any non-zero byte.
            cx.out.push(0xff);
            return Err(ServerError::VeNCryptVersion { major, minor });
        }
        cx.out.push(0);
        cx.out.push(u8::try_from(subtypes.len()).unwrap_or(u8::MAX));
        for s in subtypes.iter().take(255) {
            cx.out.extend_from_slice(&s.to_u32().to_be_bytes());
        }
        Ok(AwaitSubtype {
            version: self.version,
        }
        .into())
    }
}

impl Step for AwaitSubtype {
    type Msg = u32;

    fn parse(r: &mut Reader<'_>) -> Result<u32, Parse> {
        Ok(r.u32()?)
    }

    fn next(self, chosen: u32, cx: &mut Cx<'_>) -> Result<State, ServerError> {
        let Offer::VeNCrypt { subtypes, .. } = cx.offer else {
            return Err(ServerError::Refused {
                reason: "VeNCrypt is not offered".into(),
            });
        };
        let subtype = VeNCryptSubtype::from(chosen);
        let version = self.version;
        let after = match subtype {
            s if !subtypes.contains(&s) => None,
            VeNCryptSubtype::X509Plain => Some(AfterTls::Plain),
            VeNCryptSubtype::X509None => Some(AfterTls::Decide),
            VeNCryptSubtype::X509Vnc => Some(AfterTls::Challenge),
            _ => None,
        };
        let Some(after) = after else {
            let reason = what_to_configure(cx.offer);
            if matches!(
                subtype,
                VeNCryptSubtype::Plain256 | VeNCryptSubtype::Classic(_)
            ) {
                // Subtypes without TLS go straight to their authentication: a SecurityResult
                // can carry the reason.
                write_failure(version, &reason, cx.out);
            } else {
                // A TLS subtype expects the TLS ack: 0 refuses (the client closes).
                cx.out.push(0);
            }
            return Err(ServerError::NotOffered { chosen, reason });
        };
        // The ack; the TLS handshake starts right after it.
        cx.out.push(1);
        Ok(State::Tls(TlsHandshake { after }))
    }
}

impl Step for AwaitPlain {
    type Msg = (String, String);

    fn parse(r: &mut Reader<'_>) -> Result<(String, String), Parse> {
        let ulen = r.u32()?;
        let plen = r.u32()?;
        for len in [ulen, plen] {
            if usize::try_from(len).map_or(true, |n| n > MAX_CREDENTIAL_BYTES) {
                return Err(ServerError::CredentialTooLong { got: len.into() }.into());
            }
        }
        let user = decode_text(r.bytes(usize::try_from(ulen).unwrap_or(0))?);
        let pass = decode_text(r.bytes(usize::try_from(plen).unwrap_or(0))?);
        Ok((user, pass))
    }

    fn next(
        self,
        (username, password): (String, String),
        _: &mut Cx<'_>,
    ) -> Result<State, ServerError> {
        Ok(State::Decision(AwaitDecision {
            auth: Auth::Plain { username, password },
        }))
    }
}

impl Step for AwaitVncResponse {
    type Msg = [u8; 16];

    fn parse(r: &mut Reader<'_>) -> Result<[u8; 16], Parse> {
        Ok(r.array::<16>()?)
    }

    fn next(self, response: [u8; 16], _: &mut Cx<'_>) -> Result<State, ServerError> {
        Ok(State::Decision(AwaitDecision {
            auth: Auth::VncResponse {
                challenge: self.challenge,
                response,
            },
        }))
    }
}

impl Step for AwaitClientInit {
    type Msg = bool;

    fn parse(r: &mut Reader<'_>) -> Result<bool, Parse> {
        Ok(r.u8()? != 0)
    }

    fn next(self, shared: bool, _: &mut Cx<'_>) -> Result<State, ServerError> {
        Ok(State::ServerInit(AwaitServerInit { shared }))
    }
}

impl AfterTls {
    /// The step once TLS is up; X509Vnc sends its `challenge` now.
    pub(super) fn start(self, challenge: [u8; 16], out: &mut Vec<u8>) -> State {
        match self {
            Self::Plain => AwaitPlain.into(),
            Self::Decide => State::Decision(AwaitDecision {
                auth: Auth::Certificate,
            }),
            Self::Challenge => {
                out.extend_from_slice(&challenge);
                AwaitVncResponse { challenge }.into()
            }
        }
    }
}

/// Runs `step` on `input`: `Ok((next, used))` once its message is complete, or the step
/// back with nothing used.
pub(super) fn run<S: Step>(
    step: S,
    input: &[u8],
    cx: &mut Cx<'_>,
) -> Result<(State, usize), ServerError> {
    let mut r = Reader::new(input);
    match S::parse(&mut r) {
        Ok(msg) => {
            let used = r.position();
            Ok((step.next(msg, cx)?, used))
        }
        Err(Parse::Incomplete) => Ok((step.into(), 0)),
        Err(Parse::Invalid(e)) => Err(e),
    }
}
