//! The deframer against frames written out byte by byte as RFC 6455 lays them, fed whole
//! and in every split; the header writer against the lengths where its encoding changes.

use super::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a browser sends it: masked, with the given first byte (FIN, RSV, opcode).
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

const FIN_BINARY: u8 = 0x82;

/// What feeding `input` in pieces of `piece` bytes yields, as a readable log.
#[derive(Debug, Default, PartialEq, Eq)]
struct Log {
    data: Vec<u8>,
    pings: Vec<Vec<u8>>,
    pongs: usize,
    close: Option<Close>,
    error: Option<FrameError>,
}

fn feed(d: &mut Deframer, input: &[u8], piece: usize) -> Log {
    let mut log = Log::default();
    for chunk in input.chunks(piece.max(1)) {
        let mut chunk = chunk.to_vec();
        let mut at = 0;
        while at < chunk.len() {
            match d.next(&mut chunk[at..]) {
                Ok((n, event)) => {
                    match event {
                        Some(Event::Data(b)) => log.data.extend_from_slice(b),
                        Some(Event::Ping(c)) => log.pings.push(c.as_bytes().to_vec()),
                        Some(Event::Pong) => log.pongs += 1,
                        Some(Event::Close(c)) => log.close = Some(c),
                        None => {}
                    }
                    assert!(n > 0 || chunk.len() == at, "no progress");
                    at += n;
                }
                Err(e) => {
                    log.error = Some(e);
                    return log;
                }
            }
        }
    }
    log
}

/// Feeds `input` whole and in every piece size up to 17 bytes; all must agree.
fn every_split(input: &[u8], limit: u64) -> Log {
    let whole = feed(&mut Deframer::new(limit), input, input.len());
    for piece in 1..=17 {
        let log = feed(&mut Deframer::new(limit), input, piece);
        assert_eq!(log, whole, "fed in pieces of {piece}");
    }
    whole
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

#[test]
fn binary_messages_of_each_length_encoding_arrive_unmasked() {
    for len in [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70_001] {
        let payload = pattern(len);
        let log = every_split(&client_frame(FIN_BINARY, &payload), 1 << 20);
        assert_eq!(log.data, payload, "length {len}");
        assert_eq!(log.error, None);
    }
}

#[test]
fn a_fragmented_message_with_controls_between_its_frames_arrives_whole() {
    let payload = pattern(300);
    let mut input = client_frame(0x02, &payload[..100]);
    input.extend(client_frame(0x89, b"are you there"));
    input.extend(client_frame(0x00, &payload[100..250]));
    input.extend(client_frame(0x8a, b""));
    input.extend(client_frame(0x80, &payload[250..]));
    input.extend(client_frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
    // Nothing after a close is read.
    input.extend(client_frame(FIN_BINARY, b"late"));
    let log = every_split(&input, 1 << 20);
    assert_eq!(log.data, payload);
    assert_eq!(log.pings, vec![b"are you there".to_vec()]);
    assert_eq!(log.pongs, 1);
    assert_eq!(
        log.close,
        Some(Close {
            code: Some(1000),
            reason: "bye".into()
        })
    );
    assert_eq!(log.error, None);
}

#[test]
fn close_codes_registered_after_the_rfc_are_accepted() {
    for code in [1012u16, 1013, 1014, 4000] {
        let [a, b] = code.to_be_bytes();
        let log = every_split(&client_frame(0x88, &[a, b]), 100);
        assert_eq!(log.close.and_then(|c| c.code), Some(code));
    }
}

#[test]
fn a_close_without_a_code_is_a_close() {
    let log = every_split(&client_frame(0x88, b""), 100);
    assert_eq!(
        log.close,
        Some(Close {
            code: None,
            reason: String::new()
        })
    );
}

#[test]
fn broken_frames_fail_with_the_code_that_says_why() {
    let unmasked = {
        let mut f = client_frame(FIN_BINARY, b"abc");
        f[1] &= 0x7f;
        f.truncate(2);
        f.extend_from_slice(b"abc");
        f
    };
    let top_bit = {
        let mut f = vec![FIN_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
        f.extend_from_slice(&MASK);
        f
    };
    let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
        ("text", client_frame(0x81, b"hi"), FrameError::Text),
        (
            "unmasked",
            unmasked,
            FrameError::Protocol("a frame from the client was not masked"),
        ),
        (
            "reserved bit",
            client_frame(0xc2, b"x"),
            FrameError::Protocol("reserved bits set, but no extension was agreed"),
        ),
        (
            "unknown opcode",
            client_frame(0x83, b"x"),
            FrameError::Protocol("unknown opcode"),
        ),
        (
            "fragmented ping",
            client_frame(0x09, b"x"),
            FrameError::Protocol("a control frame was fragmented"),
        ),
        (
            "long ping",
            client_frame(0x89, &[0; 126]),
            FrameError::Protocol("a control frame carried more than 125 bytes"),
        ),
        (
            "lone continuation",
            client_frame(0x80, b"x"),
            FrameError::Protocol("a continuation frame began no message"),
        ),
        (
            "message inside a message",
            [client_frame(0x02, b"x"), client_frame(FIN_BINARY, b"y")].concat(),
            FrameError::Protocol("a new message began before the last one ended"),
        ),
        (
            "top bit of the length",
            top_bit,
            FrameError::Protocol("frame length has its top bit set"),
        ),
        (
            "one-byte close",
            client_frame(0x88, &[3]),
            FrameError::Protocol("a close frame carried one byte"),
        ),
        (
            "reserved close code",
            client_frame(0x88, &[0x03, 0xed]),
            FrameError::Protocol("a close frame carried an invalid code"),
        ),
        (
            "close reason not UTF-8",
            client_frame(0x88, &[0x03, 0xe8, 0xff]),
            FrameError::BadReason,
        ),
    ];
    for (what, input, want) in cases {
        let log = every_split(&input, 1 << 20);
        assert_eq!(log.error.as_ref(), Some(&want), "{what}");
        assert_eq!(
            log.data.len(),
            usize::from(what == "message inside a message"),
            "{what}"
        );
    }
    assert_eq!(FrameError::Text.close_code(), code::UNSUPPORTED);
    assert_eq!(FrameError::BadReason.close_code(), code::INVALID_DATA);
    assert_eq!(FrameError::Protocol("").close_code(), code::PROTOCOL);
}

#[test]
fn a_message_over_the_limit_fails_at_its_header_before_any_payload() {
    // One frame over the limit: refused from the header alone.
    let header_only = &client_frame(FIN_BINARY, &pattern(1001))[..8];
    let log = every_split(header_only, 1000);
    assert_eq!(log.error, Some(FrameError::TooBig { limit: 1000 }));
    assert!(log.data.is_empty());
    assert_eq!(FrameError::TooBig { limit: 1 }.close_code(), code::TOO_BIG);

    // Fragments each under the limit whose message is over it.
    let mut input = client_frame(0x02, &pattern(600));
    input.extend(client_frame(0x80, &pattern(401)));
    let log = every_split(&input, 1000);
    assert_eq!(log.error, Some(FrameError::TooBig { limit: 1000 }));
    assert_eq!(log.data.len(), 600);

    // Exactly the limit passes, and the next message counts afresh.
    let mut input = client_frame(FIN_BINARY, &pattern(1000));
    input.extend(client_frame(FIN_BINARY, &pattern(1000)));
    let log = every_split(&input, 1000);
    assert_eq!((log.data.len(), log.error), (2000, None));
}

#[test]
fn after_an_error_nothing_more_is_read() {
    let mut d = Deframer::new(100);
    let mut bad = client_frame(0x81, b"hi");
    assert!(d.next(&mut bad).is_err());
    assert!(d.is_done());
    let mut good = client_frame(FIN_BINARY, b"late");
    let len = good.len();
    let (n, event) = d.next(&mut good).expect("consumed silently");
    assert!(event.is_none());
    assert_eq!(n, len);
}

#[test]
fn headers_use_the_shortest_length_encoding() {
    let cases: [(usize, &[u8]); 5] = [
        (0, &[0x82, 0]),
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0, 126]),
        (65535, &[0x82, 126, 0xff, 0xff]),
        (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ];
    for (len, want) in cases {
        let mut out = [0u8; MAX_HEADER];
        let start = header_into(Opcode::Binary, len, &mut out);
        assert_eq!(&out[start..], want, "length {len}");
        assert_eq!(MAX_HEADER - start, header_len(len));
    }
}

#[test]
fn control_frames_carry_at_most_125_bytes_and_a_close_reason_is_cut_at_a_character() {
    let ping = ControlFrame::new(Opcode::Ping, &[7; 200]);
    assert_eq!(&ping.as_bytes()[..2], &[0x89, 125]);
    assert_eq!(ping.as_bytes().len(), 127);
    let reason = "é".repeat(100);
    let close = ControlFrame::close(1001, &reason);
    let b = close.as_bytes();
    assert_eq!(&b[..4], &[0x88, 124, 0x03, 0xe9]);
    assert_eq!(std::str::from_utf8(&b[4..]).expect("UTF-8"), "é".repeat(61));
}
