//! RFC 6455 framing as the gateway speaks it to a browser, without I/O: the headers of the
//! frames it sends (unmasked, never fragmented) and a [`Deframer`] for what a browser sends
//! (masked, possibly fragmented, interleaved with control frames).
//!
//! The deframer streams: a binary payload is unmasked in place in the caller's buffer and
//! handed on piece by piece as it arrives, never gathered into a message, so a browser's
//! input costs no buffer of its own. What it holds is at most one header (14 bytes) and one
//! control payload (125 bytes). No extension is ever negotiated, so any reserved bit is an
//! error; a text message is refused, since VNC is binary.

use std::fmt;

/// The longest header the gateway writes (8-byte length, no mask).
pub const MAX_HEADER: usize = 10;

/// The longest header a browser can send (8-byte length and a mask).
const MAX_CLIENT_HEADER: usize = 14;

/// The most a control frame (close, ping, pong) may carry.
pub const MAX_CONTROL: usize = 125;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Continuation,
            1 => Self::Text,
            2 => Self::Binary,
            8 => Self::Close,
            9 => Self::Ping,
            10 => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0,
            Self::Text => 1,
            Self::Binary => 2,
            Self::Close => 8,
            Self::Ping => 9,
            Self::Pong => 10,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Close codes the gateway sends or checks (RFC 6455 §7.4.1).
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const ERROR: u16 = 1011;
    pub const AGAIN: u16 = 1013;
}

/// The length of the header of an unmasked frame carrying `len` bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// Writes the header of a whole (FIN), unmasked frame carrying `len` bytes at the end of
/// `out`, and returns where it starts: the payload may follow `out` in the same buffer.
pub fn header_into(opcode: Opcode, len: usize, out: &mut [u8; MAX_HEADER]) -> usize {
    let start = MAX_HEADER - header_len(len);
    let h = &mut out[start..];
    h[0] = 0x80 | opcode.bits();
    match len {
        0..=125 => h[1] = len as u8,
        126..=0xffff => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        }
    }
    start
}

/// A whole control frame (header and payload, at most 127 bytes), ready to write.
#[derive(Clone, Copy)]
pub struct ControlFrame {
    bytes: [u8; 2 + MAX_CONTROL],
    len: u8,
}

impl ControlFrame {
    /// `payload` is cut to the 125 bytes a control frame holds.
    pub fn new(opcode: Opcode, payload: &[u8]) -> Self {
        debug_assert!(opcode.is_control());
        let payload = &payload[..payload.len().min(MAX_CONTROL)];
        let mut bytes = [0; 2 + MAX_CONTROL];
        bytes[0] = 0x80 | opcode.bits();
        bytes[1] = payload.len() as u8;
        bytes[2..2 + payload.len()].copy_from_slice(payload);
        Self {
            bytes,
            len: 2 + payload.len() as u8,
        }
    }

    /// A close frame with `code` and as much of `reason` as fits, cut at a character.
    pub fn close(code: u16, reason: &str) -> Self {
        let mut payload = [0u8; MAX_CONTROL];
        payload[..2].copy_from_slice(&code.to_be_bytes());
        let reason = crate::admission::truncate(reason, MAX_CONTROL - 2).as_bytes();
        payload[2..2 + reason.len()].copy_from_slice(reason);
        Self::new(Opcode::Close, &payload[..2 + reason.len()])
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A control payload as received (at most 125 bytes).
#[derive(Clone, Copy)]
pub struct Control {
    bytes: [u8; MAX_CONTROL],
    len: u8,
}

impl Control {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Control({} bytes)", self.len)
    }
}

/// A browser's close frame: its code (if it gave one) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: Option<u16>,
    pub reason: String,
}

/// What a browser sent, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// The next bytes of a binary message, unmasked (a message may come in many pieces).
    Data(&'a [u8]),
    Ping(Control),
    Pong,
    /// The browser closes; nothing it sends after this is read.
    Close(Close),
}

/// The browser broke the protocol: the connection is failed with [`Self::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("sent a text message; VNC needs binary")]
    Text,
    #[error("sent a message larger than the gateway's limit of {limit} bytes (max_websocket_message_bytes)")]
    TooBig { limit: u64 },
    #[error("broke the WebSocket protocol: {0}")]
    Protocol(&'static str),
    #[error("sent a close reason that is not UTF-8")]
    BadReason,
}

impl FrameError {
    /// The close code that tells the browser why.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::Text => code::UNSUPPORTED,
            Self::TooBig { .. } => code::TOO_BIG,
            Self::Protocol(_) => code::PROTOCOL,
            Self::BadReason => code::INVALID_DATA,
        }
    }
}

/// Where the deframer is within a frame.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Gathering a header: `have` of its bytes so far.
    Header {
        bytes: [u8; MAX_CLIENT_HEADER],
        have: u8,
    },
    /// Inside a binary (or continuation) frame's payload.
    Data { left: u64, mask: [u8; 4], at: u8 },
    /// Gathering a control frame's payload.
    Control {
        opcode: Opcode,
        left: u8,
        mask: [u8; 4],
    },
    /// A close frame came, or the protocol was broken: nothing more is read.
    Done,
}

impl State {
    fn header() -> Self {
        Self::Header {
            bytes: [0; MAX_CLIENT_HEADER],
            have: 0,
        }
    }
}

/// The frames a browser sends, one event at a time.
#[derive(Debug, Clone)]
pub struct Deframer {
    state: State,
    /// A binary message is open: the next data frame must be its continuation.
    in_message: bool,
    /// Bytes of the open message so far (frames included).
    message_len: u64,
    limit: u64,
    control: Control,
}

impl Deframer {
    /// A browser's messages may not exceed `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            state: State::header(),
            in_message: false,
            message_len: 0,
            limit,
            control: Control {
                bytes: [0; MAX_CONTROL],
                len: 0,
            },
        }
    }

    /// Whether a close frame came or the protocol was broken.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Takes what `input` begins with: returns how many bytes were consumed and the event
    /// they completed, if any. Payload is unmasked in place, so `Data` borrows `input`.
    /// Call again with the rest until it is all consumed; after a close frame or an error
    /// everything is consumed and nothing happens.
    pub fn next<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), FrameError> {
        let r = self.step(input);
        if r.is_err() {
            self.state = State::Done;
        }
        r
    }

    fn step<'a>(&mut self, input: &'a mut [u8]) -> Result<(usize, Option<Event<'a>>), FrameError> {
        match &mut self.state {
            State::Done => Ok((input.len(), None)),
            State::Header { bytes, have } => {
                let have_now = usize::from(*have);
                let take = input.len().min(MAX_CLIENT_HEADER - have_now);
                bytes[have_now..have_now + take].copy_from_slice(&input[..take]);
                let total = have_now + take;
                if have_now < 2 && total >= 2 {
                    // Refused as soon as the first two bytes say so (an unmasked frame's
                    // header is shorter than a masked one's).
                    check_start(bytes[0], bytes[1])?;
                }
                let Some(need) = header_needs(&bytes[..total]) else {
                    *have = total as u8;
                    return Ok((take, None));
                };
                if total < need {
                    *have = total as u8;
                    return Ok((take, None));
                }
                let header = *bytes;
                let consumed = need - have_now;
                self.start_frame(&header[..need])?;
                if let State::Data { left: 0, .. } = self.state {
                    self.state = State::header();
                }
                Ok((consumed, self.control_if_complete()?))
            }
            State::Data { left, mask, at } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let piece = &mut input[..n];
                unmask(piece, *mask, usize::from(*at));
                *left -= n as u64;
                *at = ((usize::from(*at) + n) % 4) as u8;
                if *left == 0 {
                    self.state = State::header();
                }
                Ok((n, (n > 0).then_some(Event::Data(piece))))
            }
            State::Control { left, mask, .. } => {
                let n = usize::from(*left).min(input.len());
                let start = usize::from(self.control.len);
                let dest = &mut self.control.bytes[start..start + n];
                dest.copy_from_slice(&input[..n]);
                unmask(dest, *mask, start);
                self.control.len += n as u8;
                *left -= n as u8;
                Ok((n, self.control_if_complete()?))
            }
        }
    }

    /// Enters the payload of a complete header (whose first two bytes passed
    /// [`check_start`]).
    fn start_frame(&mut self, h: &[u8]) -> Result<(), FrameError> {
        let fin = h[0] & 0x80 != 0;
        let opcode = check_start(h[0], h[1])?;
        let (len, at) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(FrameError::Protocol("frame length has its top bit set"));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = [h[at], h[at + 1], h[at + 2], h[at + 3]];
        if opcode.is_control() {
            let Ok(left) = u8::try_from(len).map_err(drop).and_then(|l| {
                if usize::from(l) <= MAX_CONTROL {
                    Ok(l)
                } else {
                    Err(())
                }
            }) else {
                return Err(FrameError::Protocol(
                    "a control frame carried more than 125 bytes",
                ));
            };
            self.control.len = 0;
            self.state = State::Control { opcode, left, mask };
            return Ok(());
        }
        match (opcode, self.in_message) {
            (Opcode::Text, false) => return Err(FrameError::Text),
            (Opcode::Binary, false) => self.message_len = 0,
            (Opcode::Continuation, true) => {}
            (Opcode::Continuation, false) => {
                return Err(FrameError::Protocol(
                    "a continuation frame began no message",
                ))
            }
            _ => {
                return Err(FrameError::Protocol(
                    "a new message began before the last one ended",
                ))
            }
        }
        self.message_len = self.message_len.saturating_add(len);
        if self.message_len > self.limit {
            return Err(FrameError::TooBig { limit: self.limit });
        }
        self.in_message = !fin;
        self.state = State::Data {
            left: len,
            mask,
            at: 0,
        };
        Ok(())
    }

    /// The event of a control frame whose payload is all in.
    fn control_if_complete(&mut self) -> Result<Option<Event<'static>>, FrameError> {
        let State::Control {
            opcode, left: 0, ..
        } = self.state
        else {
            return Ok(None);
        };
        self.state = State::header();
        Ok(Some(match opcode {
            Opcode::Ping => Event::Ping(self.control),
            Opcode::Pong => Event::Pong,
            _ => {
                self.state = State::Done;
                Event::Close(parse_close(self.control.as_bytes())?)
            }
        }))
    }
}

/// Checks what a header's first two bytes say on their own; returns the opcode.
fn check_start(first: u8, second: u8) -> Result<Opcode, FrameError> {
    if first & 0x70 != 0 {
        return Err(FrameError::Protocol(
            "reserved bits set, but no extension was agreed",
        ));
    }
    let Some(opcode) = Opcode::from_bits(first & 0x0f) else {
        return Err(FrameError::Protocol("unknown opcode"));
    };
    if second & 0x80 == 0 {
        return Err(FrameError::Protocol(
            "a frame from the client was not masked",
        ));
    }
    if opcode.is_control() && first & 0x80 == 0 {
        return Err(FrameError::Protocol("a control frame was fragmented"));
    }
    Ok(opcode)
}

/// How long the header that `h` begins is, once its first two bytes are known.
fn header_needs(h: &[u8]) -> Option<usize> {
    let second = *h.get(1)?;
    Some(match second & 0x7f {
        126 => 8,
        127 => 14,
        _ => 6,
    })
}

fn unmask(bytes: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = [0u8; 4];
    for (i, b) in m.iter_mut().enumerate() {
        *b = mask[(offset + i) % 4];
    }
    let mut chunks = bytes.chunks_exact_mut(4);
    let word = u32::from_ne_bytes(m);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i];
    }
}

fn parse_close(payload: &[u8]) -> Result<Close, FrameError> {
    match payload {
        [] => Ok(Close {
            code: None,
            reason: String::new(),
        }),
        [_] => Err(FrameError::Protocol("a close frame carried one byte")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            // RFC 6455 §7.4 and IANA's registry (1012–1014 came after the RFC); 1004–1006,
            // 1015 and the unassigned ranges are never sent.
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(FrameError::Protocol(
                    "a close frame carried an invalid code",
                ));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| FrameError::BadReason)?;
            Ok(Close {
                code: Some(code),
                reason: reason.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
