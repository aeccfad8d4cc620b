//! Extended clipboard (pseudo-encoding 0xC0A1E5CE): the flags word, capabilities, and the
//! zlib-compressed `provide` payload. UTF-8 text only; other formats are ignored.
//!
//! Flags: bits 0–15 formats (bit 0 = text), bits 24–28 actions (caps, request, peek, notify,
//! provide). A `provide` payload is a zlib stream of, per format bit set, `U32 size` + data;
//! text is UTF-8 with CRLF line ends and a terminating NUL.

use std::io::Write;

use crate::error::{Error, LimitKind, Stall};
use crate::limits::Limits;
use crate::wire::Reader;

pub const FORMAT_TEXT: u32 = 1 << 0;
pub const ACTION_CAPS: u32 = 1 << 24;
pub const ACTION_REQUEST: u32 = 1 << 25;
pub const ACTION_PEEK: u32 = 1 << 26;
pub const ACTION_NOTIFY: u32 = 1 << 27;
pub const ACTION_PROVIDE: u32 = 1 << 28;
const FORMATS: u32 = 0xffff;

/// The body of a cut-text message (ClientCutText or ServerCutText) after its type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CutText<'a> {
    /// A non-negative length: Latin-1 text.
    Legacy(&'a [u8]),
    /// A negative length: the extended clipboard's flags and the rest.
    Extended { flags: u32, payload: &'a [u8] },
}

/// The 7 bytes after a cut-text message's type byte (`pad[3]` and the signed length): how
/// many bytes follow them, and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutTextHeader {
    /// A non-negative length: `len` bytes of Latin-1 text follow.
    Legacy { len: usize },
    /// A negative length: `len` (at least 4) bytes follow, the flags word first.
    Extended { len: usize },
}

impl CutTextHeader {
    /// Bytes that follow the header.
    pub fn payload_len(self) -> usize {
        match self {
            Self::Legacy { len } | Self::Extended { len } => len,
        }
    }
}

/// Reads `pad[3]` and the signed length, both directions alike: a negative length means the
/// extended format (abs(len) bytes, flags first). `i32::MIN` (whose absolute value overflows)
/// and an extended body too short for its flags (the QEMU CVE-2022-3165 shape) are invalid;
/// every length is held against `max_cut_text_bytes` before anything is read.
pub(crate) fn read_cut_text_header(
    r: &mut Reader<'_>,
    limits: &Limits,
) -> Result<CutTextHeader, Stall> {
    r.skip(3)?;
    let len = r.i32()?;
    let n = usize::try_from(len.unsigned_abs()).unwrap_or(usize::MAX);
    if len == i32::MIN || n > limits.max_cut_text_bytes {
        return Err(Error::limit(
            LimitKind::CutTextBytes,
            len.unsigned_abs().into(),
            limits.max_cut_text_bytes,
        )
        .into());
    }
    if len >= 0 {
        return Ok(CutTextHeader::Legacy { len: n });
    }
    if n < 4 {
        return Err(Error::Invalid {
            field: "extended clipboard length",
            got: n as u64,
            why: "must hold at least the 4-byte flags",
        }
        .into());
    }
    Ok(CutTextHeader::Extended { len: n })
}

/// Reads a cut-text body after its type byte: [`read_cut_text_header`], then the payload.
pub(crate) fn read_cut_text<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<CutText<'a>, Stall> {
    let header = read_cut_text_header(r, limits)?;
    read_cut_text_body(r, header)
}

/// Reads the payload that `header` announced.
pub(crate) fn read_cut_text_body<'a>(
    r: &mut Reader<'a>,
    header: CutTextHeader,
) -> Result<CutText<'a>, Stall> {
    Ok(match header {
        CutTextHeader::Legacy { len } => CutText::Legacy(r.bytes(len)?),
        CutTextHeader::Extended { len } => CutText::Extended {
            flags: r.u32()?,
            payload: r.bytes(len.saturating_sub(4))?,
        },
    })
}

/// What one extended-clipboard message asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipboardAction {
    /// The peer's capabilities: formats it handles and actions it accepts.
    Caps { formats: u32, actions: u32 },
    /// Send the current clipboard in these formats.
    Request { formats: u32 },
    /// Say which formats are available.
    Peek,
    /// The peer's clipboard changed; these formats are available.
    Notify { formats: u32 },
    /// The clipboard text (UTF-8, line ends as LF), if text was provided.
    Provide { text: Option<String> },
}

/// Interprets `flags` and the bytes after it. `max_bytes` bounds the inflated size.
pub fn parse(flags: u32, payload: &[u8], max_bytes: usize) -> Result<ClipboardAction, Error> {
    let formats = flags & FORMATS;
    if flags & ACTION_CAPS != 0 {
        return Ok(ClipboardAction::Caps {
            formats,
            actions: flags & !FORMATS,
        });
    }
    if flags & ACTION_PROVIDE != 0 {
        return Ok(ClipboardAction::Provide {
            text: provided_text(formats, payload, max_bytes)?,
        });
    }
    Ok(if flags & ACTION_REQUEST != 0 {
        ClipboardAction::Request { formats }
    } else if flags & ACTION_PEEK != 0 {
        ClipboardAction::Peek
    } else if flags & ACTION_NOTIFY != 0 {
        ClipboardAction::Notify { formats }
    } else {
        return Err(Error::Invalid {
            field: "extended clipboard flags",
            got: flags.into(),
            why: "no action bit is set",
        });
    })
}

/// Inflates a provide payload, never past `max_bytes` (+ the size words). Servers differ in
/// how the stream ends: finished (`Z_FINISH`), or only flushed (TigerVNC's `Z_SYNC_FLUSH`);
/// both are accepted once all input is consumed. Bytes after the end of a finished stream are
/// ignored (the QEMU CVE-2023-3255 loop shape).
fn provided_text(formats: u32, payload: &[u8], max_bytes: usize) -> Result<Option<String>, Error> {
    let invalid = || Error::Invalid {
        field: "extended clipboard data",
        got: payload.len() as u64,
        why: "not a valid zlib stream",
    };
    let limit = max_bytes.saturating_add(64);
    let mut z = flate2::Decompress::new(true);
    let mut inflated: Vec<u8> = Vec::with_capacity(payload.len().saturating_mul(4).min(limit));
    loop {
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let input = payload.get(consumed..).unwrap_or_default();
        if inflated.len() == inflated.capacity() {
            if inflated.len() >= limit {
                break;
            }
            inflated.reserve((inflated.len().max(4096)).min(limit - inflated.len()));
        }
        let before = (z.total_in(), z.total_out());
        let status = z
            .decompress_vec(input, &mut inflated, flate2::FlushDecompress::Sync)
            .map_err(|_| invalid())?;
        let progressed = (z.total_in(), z.total_out()) != before;
        match status {
            flate2::Status::StreamEnd => break,
            _ if input.is_empty() || (!progressed && inflated.len() < inflated.capacity()) => break,
            _ => {}
        }
    }
    let mut rest = inflated.as_slice();
    for bit in 0..16 {
        if formats & (1 << bit) == 0 {
            continue;
        }
        let Some((size, after)) = rest.split_first_chunk::<4>() else {
            return Err(Error::Invalid {
                field: "extended clipboard format size",
                got: 0,
                why: "missing",
            });
        };
        let size = u32::from_be_bytes(*size);
        let n = usize::try_from(size).unwrap_or(usize::MAX);
        if n > max_bytes {
            return Err(Error::limit(
                LimitKind::CutTextBytes,
                size.into(),
                max_bytes,
            ));
        }
        let Some(data) = after.get(..n) else {
            return Err(Error::Invalid {
                field: "extended clipboard format size",
                got: size.into(),
                why: "larger than the data",
            });
        };
        if bit == 0 {
            let text = data.strip_suffix(&[0]).unwrap_or(data);
            return Ok(Some(String::from_utf8_lossy(text).replace("\r\n", "\n")));
        }
        rest = &after[n..];
    }
    Ok(None)
}

/// The flags word and payload of a `provide` carrying `text`.
pub fn provide(text: &str) -> (u32, Vec<u8>) {
    let mut raw = text
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes();
    raw.push(0);
    let mut body = Vec::with_capacity(raw.len() + 4);
    body.extend_from_slice(&u32::try_from(raw.len()).unwrap_or(u32::MAX).to_be_bytes());
    body.extend_from_slice(&raw);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(&body);
    (ACTION_PROVIDE | FORMAT_TEXT, z.finish().unwrap_or_default())
}

/// This client's capabilities: text up to `max_text` bytes; all five actions.
pub fn caps(max_text: u32) -> (u32, Vec<u8>) {
    let flags =
        ACTION_CAPS | ACTION_REQUEST | ACTION_PEEK | ACTION_NOTIFY | ACTION_PROVIDE | FORMAT_TEXT;
    (flags, max_text.to_be_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provide_round_trips_utf8_with_line_ends() {
        let (flags, payload) = provide("grüße\nzweite Zeile €");
        assert_eq!(
            parse(flags, &payload, 1 << 20),
            Ok(ClipboardAction::Provide {
                text: Some("grüße\nzweite Zeile €".into())
            })
        );
    }

    #[test]
    fn actions_and_bad_payloads() {
        assert_eq!(
            parse(ACTION_NOTIFY | FORMAT_TEXT, &[], 10),
            Ok(ClipboardAction::Notify { formats: 1 })
        );
        assert_eq!(
            parse(ACTION_REQUEST | FORMAT_TEXT, &[], 10),
            Ok(ClipboardAction::Request { formats: 1 })
        );
        assert!(parse(0, &[], 10).is_err());
        assert!(parse(ACTION_PROVIDE | FORMAT_TEXT, b"not zlib", 10).is_err());
        // A declared size beyond the limit, and beyond the data.
        let (f, p) = provide(&"x".repeat(100));
        assert!(matches!(parse(f, &p, 50), Err(Error::LimitExceeded { .. })));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[0, 0, 0, 9, b'a']).expect("write");
        assert!(parse(f, &z.finish().expect("finish"), 50).is_err());
    }

    #[test]
    fn a_sync_flushed_stream_is_accepted_like_tigervnc_sends_it() {
        let mut body = 5u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"abcd\0");
        let mut z = flate2::Compress::new(flate2::Compression::default(), true);
        let mut out = Vec::with_capacity(256);
        z.compress_vec(&body, &mut out, flate2::FlushCompress::Sync)
            .expect("compress");
        assert_eq!(
            parse(ACTION_PROVIDE | FORMAT_TEXT, &out, 1 << 20),
            Ok(ClipboardAction::Provide {
                text: Some("abcd".into())
            })
        );
        // Truncated mid-stream: whatever is there is not enough for the declared size.
        assert!(parse(ACTION_PROVIDE | FORMAT_TEXT, &out[..out.len() / 2], 1 << 20).is_err());
    }

    #[test]
    fn inflation_stops_at_the_limit() {
        // 10 MB of zeros compresses to a few KB: a zip bomb must not be inflated whole.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let mut body = (10_000_000u32).to_be_bytes().to_vec();
        body.extend(std::iter::repeat_n(b'a', 10_000_000));
        z.write_all(&body).expect("write");
        let p = z.finish().expect("finish");
        assert!(matches!(
            parse(ACTION_PROVIDE | FORMAT_TEXT, &p, 1 << 20),
            Err(Error::LimitExceeded { .. })
        ));
    }
}
