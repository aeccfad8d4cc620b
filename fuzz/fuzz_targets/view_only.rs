#![no_main]
//! The view-only input filter (viewer → server) on arbitrary bytes, in chunk sizes and with a
//! clipboard limit taken from the input's first byte. Beyond "no panic": the chunking does not
//! change the outcome or what passes; what passes, read message by message, holds no input
//! (keys, pointer, clipboard, resize) and no SetEncodings that asks for the extended
//! clipboard; and it passes a fresh filter unchanged with nothing dropped.

use rfb::input_filter::InputFilter;
use libfuzzer_sys::fuzz_target;
use rfb::messages::client::ClientMessage;
use rfb::messages::encoding::Encoding;
use rfb::Limits;

/// What passed, whether the filter followed everything, and how many messages it dropped.
fn run(data: &[u8], chunk: usize, limits: Limits) -> (Vec<u8>, bool, u64) {
    let mut f = InputFilter::new(limits);
    let mut out = Vec::new();
    let mut segs = Vec::new();
    for part in data.chunks(chunk.max(1)) {
        segs.clear();
        if f.filter(part, &mut segs).is_err() {
            return (out, false, f.dropped);
        }
        for s in &segs {
            out.extend_from_slice(s.of(part));
        }
    }
    (out, true, f.dropped)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, rest)) = data.split_first() else { return };
    let chunk = usize::from(sizes % 64) + 1;
    let limits = Limits { max_cut_text_bytes: if sizes & 0x80 != 0 { 16 } else { Limits::default().max_cut_text_bytes }, ..Limits::default() };
    let (got, followed, dropped) = run(rest, chunk, limits);
    let (whole, whole_followed, whole_dropped) = run(rest, rest.len(), limits);
    assert_eq!(followed, whole_followed, "the chunking changed the outcome");
    if !followed {
        return;
    }
    assert_eq!(got, whole, "the chunking changed what passed");
    assert_eq!(dropped, whole_dropped);

    let mut at = &got[..];
    while let Ok(Some((msg, used))) = ClientMessage::parse(at, &limits) {
        assert!(!msg.is_input(), "input passed: {msg:?}");
        if let ClientMessage::SetEncodings(list) = &msg {
            assert!(!list.contains(&Encoding::ExtendedClipboard), "the extended clipboard was asked for");
        }
        at = &at[used..];
    }

    let (again, again_followed, again_dropped) = run(&got, got.len(), limits);
    assert!(again_followed, "what passed cannot be followed");
    assert_eq!(again, got, "what passed changed when filtered again");
    assert_eq!(again_dropped, 0, "what passed holds input");
});
