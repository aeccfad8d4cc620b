#![no_main]
//! The frames a browser sends over its WebSocket (`gateway::relay::frames::Deframer`), fed in
//! chunks whose sizes come from the input (byte 0: the limit, byte 1: the chunk size). Beyond
//! "no panic": fed in chunks = fed whole (the same payload, pings, close and error); every call
//! makes progress; the payload never holds more bytes than the input; control payloads hold at most
//! 125 bytes; after a close or an error nothing more is taken.

use gateway::relay::frames::{Deframer, Event, FrameError};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Default, PartialEq)]
struct Log {
    data: Vec<u8>,
    pings: Vec<Vec<u8>>,
    pongs: usize,
    close: Option<(Option<u16>, String)>,
    error: Option<FrameError>,
}

fn feed(limit: u64, input: &[u8], chunk: usize) -> Log {
    let mut d = Deframer::new(limit);
    let mut log = Log::default();
    for piece in input.chunks(chunk.max(1)) {
        let mut piece = piece.to_vec();
        let mut at = 0;
        let len = piece.len();
        while at < len {
            let done_before = d.is_done();
            match d.next(&mut piece[at..]) {
                Ok((n, event)) => {
                    assert!(n > 0, "no progress");
                    assert!(at + n <= len);
                    if done_before {
                        assert!(event.is_none(), "an event after the end");
                    }
                    match event {
                        Some(Event::Data(b)) => {
                            assert!(!b.is_empty() && b.len() <= n);
                            log.data.extend_from_slice(b);
                        }
                        Some(Event::Ping(p)) => log.pings.push(p.as_bytes().to_vec()),
                        Some(Event::Pong) => log.pongs += 1,
                        Some(Event::Close(c)) => {
                            assert!(d.is_done());
                            log.close = Some((c.code, c.reason));
                        }
                        None => {}
                    }
                    at += n;
                }
                Err(e) => {
                    assert!(!done_before, "an error after the end");
                    assert!(d.is_done());
                    log.error = Some(e);
                    return log;
                }
            }
        }
    }
    log
}

fuzz_target!(|data: &[u8]| {
    let [limit, chunk, input @ ..] = data else { return };
    let limit = u64::from(*limit) * 16;
    let whole = feed(limit, input, input.len());
    assert!(whole.data.len() <= input.len());
    let chunked = feed(limit, input, usize::from(*chunk % 32) + 1);
    assert_eq!(whole, chunked);
    if let Some(FrameError::TooBig { limit: l }) = &whole.error {
        assert_eq!(*l, limit);
    }
    for p in &whole.pings {
        assert!(p.len() <= 125);
    }
});
