//! The gateway's side of the handshake with a viewer, when the gateway logged in to the VNC
//! server itself: it speaks as a server — ProtocolVersion 3.8, security type None (the viewer
//! was authenticated by the gateway), SecurityResult OK, and then the ServerInit the real
//! server sent, byte for byte. Sans-io: bytes in, bytes out; one struct per step.
//!
//! Versions: a viewer may answer 3.3 (the server picks None; no SecurityResult), 3.7 (the
//! viewer picks; no SecurityResult after None) or 3.8; anything else is refused.

use rfb::wire::Reader;

/// Why the viewer's side of the handshake cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GreetingError {
    #[error("the client's protocol version {got:?} is not RFB 3.3, 3.7 or 3.8")]
    Version { got: String },
    #[error("the client chose security type {got}; only None (1) is offered")]
    SecurityType { got: u8 },
}

/// The version the viewer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V3_3,
    V3_7,
    V3_8,
}

#[derive(Debug)]
pub struct ExpectVersion;
#[derive(Debug)]
pub struct ExpectSecurityChoice {
    version: Version,
}
#[derive(Debug)]
pub struct ExpectClientInit;

/// Where the viewer's handshake is.
#[derive(Debug)]
pub enum Greeting {
    Version(ExpectVersion),
    SecurityChoice(ExpectSecurityChoice),
    ClientInit(ExpectClientInit),
}

/// What one step did.
#[derive(Debug)]
pub enum Step {
    /// More bytes are needed; nothing was used.
    Wait(Greeting),
    /// `used` bytes were taken; this is the next step.
    Next { next: Greeting, used: usize },
    /// ClientInit arrived (`used` bytes, including it): the ServerInit was written, and what
    /// follows is the viewer's session.
    Done { used: usize },
}

const VERSION_3_8: &[u8; 12] = b"RFB 003.008\n";
const NONE: u8 = 1;

impl Greeting {
    /// Starts the handshake: the server speaks first.
    pub fn start(out: &mut Vec<u8>) -> Self {
        out.extend_from_slice(VERSION_3_8);
        Self::Version(ExpectVersion)
    }

    /// Feeds the viewer's bytes (from the start of what is not used yet); what to send goes
    /// into `out`, ending with `server_init` when the viewer's ClientInit arrived.
    pub fn step(
        self,
        input: &[u8],
        server_init: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Step, GreetingError> {
        let mut r = Reader::new(input);
        match self {
            Self::Version(s) => {
                let Ok(raw) = r.array::<12>() else {
                    return Ok(Step::Wait(Self::Version(s)));
                };
                let version = match &raw {
                    b"RFB 003.003\n" => Version::V3_3,
                    b"RFB 003.007\n" => Version::V3_7,
                    b"RFB 003.008\n" => Version::V3_8,
                    _ => {
                        return Err(GreetingError::Version {
                            got: String::from_utf8_lossy(&raw).trim_end().to_owned(),
                        })
                    }
                };
                let next = if version == Version::V3_3 {
                    out.extend_from_slice(&u32::from(NONE).to_be_bytes());
                    Self::ClientInit(ExpectClientInit)
                } else {
                    out.extend_from_slice(&[1, NONE]);
                    Self::SecurityChoice(ExpectSecurityChoice { version })
                };
                Ok(Step::Next { next, used: 12 })
            }
            Self::SecurityChoice(s) => {
                let Ok(choice) = r.u8() else {
                    return Ok(Step::Wait(Self::SecurityChoice(s)));
                };
                if choice != NONE {
                    return Err(GreetingError::SecurityType { got: choice });
                }
                if s.version == Version::V3_8 {
                    out.extend_from_slice(&0u32.to_be_bytes());
                }
                Ok(Step::Next {
                    next: Self::ClientInit(ExpectClientInit),
                    used: 1,
                })
            }
            Self::ClientInit(s) => {
                // The shared flag is the gateway's business: its own login chose it.
                if r.u8().is_err() {
                    return Ok(Step::Wait(Self::ClientInit(s)));
                }
                out.extend_from_slice(server_init);
                Ok(Step::Done { used: 1 })
            }
        }
    }
}

/// Drives a [`Greeting`] over received chunks: keeps what is not used yet.
#[derive(Debug)]
pub struct Greeter {
    state: Option<Greeting>,
    pending: Vec<u8>,
    server_init: Vec<u8>,
}

impl Greeter {
    /// Starts; `out` gets the server's first bytes.
    pub fn new(server_init: Vec<u8>, out: &mut Vec<u8>) -> Self {
        Self {
            state: Some(Greeting::start(out)),
            pending: Vec::new(),
            server_init,
        }
    }

    /// Feeds a chunk from the viewer. `Ok(Some(rest))` once the handshake is over: `rest` are
    /// the viewer's first session bytes (often none). What to send goes into `out`.
    pub fn receive(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Vec<u8>>, GreetingError> {
        self.pending.extend_from_slice(chunk);
        let mut used = 0;
        while let Some(state) = self.state.take() {
            let input = self.pending.get(used..).unwrap_or_default();
            match state.step(input, &self.server_init, out)? {
                Step::Wait(same) => {
                    self.state = Some(same);
                    break;
                }
                Step::Next { next, used: n } => {
                    used += n;
                    self.state = Some(next);
                }
                Step::Done { used: n } => {
                    used += n;
                    return Ok(Some(self.pending.split_off(used.min(self.pending.len()))));
                }
            }
        }
        self.pending.drain(..used.min(self.pending.len()));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &[u8] = b"INIT-BYTES";

    fn run(client: &[u8]) -> (Vec<u8>, Result<Option<Vec<u8>>, GreetingError>) {
        let mut out = Vec::new();
        let mut g = Greeter::new(INIT.to_vec(), &mut out);
        let r = g.receive(client, &mut out);
        (out, r)
    }

    #[test]
    fn each_version_gets_its_handshake_and_the_server_init() {
        let (out, r) = run(b"RFB 003.008\n\x01\x01rest");
        assert_eq!(r, Ok(Some(b"rest".to_vec())));
        assert_eq!(
            out,
            [&b"RFB 003.008\n"[..], &[1, 1], &[0, 0, 0, 0], INIT].concat()
        );
        let (out, r) = run(b"RFB 003.007\n\x01\x00");
        assert_eq!(r, Ok(Some(vec![])));
        assert_eq!(out, [&b"RFB 003.008\n"[..], &[1, 1], INIT].concat());
        let (out, r) = run(b"RFB 003.003\n\x01");
        assert_eq!(r, Ok(Some(vec![])));
        assert_eq!(out, [&b"RFB 003.008\n"[..], &[0, 0, 0, 1], INIT].concat());
    }

    #[test]
    fn every_split_of_a_handshake_gives_the_same_result() {
        let client = b"RFB 003.008\n\x01\x00\x03\x01";
        let (want, _) = run(client);
        for cut in 0..=client.len() {
            let mut out = Vec::new();
            let mut g = Greeter::new(INIT.to_vec(), &mut out);
            let first = g.receive(&client[..cut], &mut out).expect("valid");
            let rest = match first {
                Some(rest) => [rest, client[cut..].to_vec()].concat(),
                None => g
                    .receive(&client[cut..], &mut out)
                    .expect("valid")
                    .expect("done"),
            };
            assert_eq!(out, want, "cut at {cut}");
            assert_eq!(rest, [3, 1], "cut at {cut}");
        }
    }

    #[test]
    fn other_versions_and_security_types_are_refused() {
        assert!(matches!(
            run(b"RFB 004.001\n").1,
            Err(GreetingError::Version { .. })
        ));
        assert!(matches!(
            run(b"GET / HTTP/1.1\r\n").1,
            Err(GreetingError::Version { .. })
        ));
        assert_eq!(
            run(b"RFB 003.008\n\x02").1,
            Err(GreetingError::SecurityType { got: 2 })
        );
    }
}
