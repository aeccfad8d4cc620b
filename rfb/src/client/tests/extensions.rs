//! The protocol extensions of the normal phase, driven through the client.

use super::*;
use crate::messages::client::ClientMessage;
use crate::messages::clipboard;

/// A connected client (3.8, None, 8×4) with everything it sent so far drained.
fn connected() -> Client {
    let mut c = Client::new(ClientConfig::default());
    let mut s = b"RFB 003.008\n\x01\x01\x00\x00\x00\x00".to_vec();
    s.extend(server_init(8, 4, "d"));
    run(&mut c, &s, 1000);
    c
}

fn sent(c: &mut Client) -> Vec<u8> {
    let mut v = Vec::new();
    while let Some(b) = c.poll_transmit() {
        v.extend(b);
    }
    v
}

fn one_raw_update(c: &mut Client) -> Vec<u8> {
    let mut u = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    u.extend_from_slice(&[1, 2, 3, 0]);
    c.receive(&u).expect("update");
    sent(c)
}

#[test]
fn continuous_updates_stop_the_per_update_requests() {
    let mut c = connected();
    assert_eq!(
        &one_raw_update(&mut c)[..2],
        &[3, 1],
        "incremental request after an update"
    );
    c.receive(&[150]).expect("EndOfContinuousUpdates");
    assert_eq!(
        sent(&mut c),
        vec![150, 1, 0, 0, 0, 0, 0, 8, 0, 4],
        "enables for the whole screen"
    );
    assert!(
        one_raw_update(&mut c).is_empty(),
        "no request while the server pushes"
    );
    c.receive(&[150]).expect("ended");
    assert_eq!(
        &sent(&mut c)[..2],
        &[3, 1],
        "asks again once the server stops"
    );
}

#[test]
fn fences_are_echoed_and_pings_measure_the_round_trip() {
    let mut c = connected();
    assert!(!c.ping(), "no fence support seen yet");
    c.receive(&[248, 0, 0, 0, 0x80, 0, 0, 0x03, 2, 0xaa, 0xbb])
        .expect("fence request");
    assert_eq!(
        sent(&mut c),
        vec![248, 0, 0, 0, 0, 0, 0, 0x03, 2, 0xaa, 0xbb],
        "request bit cleared, payload echoed"
    );
    c.set_time_ms(1_000_000);
    assert!(c.ping());
    let ping = sent(&mut c);
    assert_eq!(&ping[..8], &[248, 0, 0, 0, 0x80, 0, 0, 1]);
    let mut reply = ping.clone();
    reply[4] = 0; // the server clears the request bit
    c.set_time_ms(1_000_042);
    c.receive(&reply).expect("fence reply");
    assert_eq!(c.poll_event(), Some(Event::RoundTrip { millis: 42 }));
}

fn ext(flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![3, 0, 0, 0];
    m.extend_from_slice(&(-(payload.len() as i32 + 4)).to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

#[test]
fn extended_clipboard_both_ways() {
    let mut c = connected();
    // The server's caps: text, all actions. The client answers with its own.
    let caps = clipboard::ACTION_CAPS
        | clipboard::ACTION_REQUEST
        | clipboard::ACTION_NOTIFY
        | clipboard::ACTION_PROVIDE
        | clipboard::FORMAT_TEXT;
    c.receive(&ext(caps, &[0, 0, 0x10, 0])).expect("caps");
    let reply = sent(&mut c);
    assert_eq!(&reply[..4], &[6, 0, 0, 0]);
    assert!(i32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]) < 0);
    // Server → client: notify, the client requests, the server provides UTF-8.
    c.receive(&ext(clipboard::ACTION_NOTIFY | clipboard::FORMAT_TEXT, &[]))
        .expect("notify");
    assert_eq!(
        sent(&mut c),
        ext_client(clipboard::ACTION_REQUEST | clipboard::FORMAT_TEXT, &[])
    );
    let (flags, payload) = clipboard::provide("naïve ☃");
    c.receive(&ext(flags, &payload)).expect("provide");
    assert_eq!(c.poll_event(), Some(Event::ServerCutText("naïve ☃".into())));
    // Client → server: notify, then provide on request.
    c.cut_text("grüß");
    assert_eq!(
        sent(&mut c),
        ext_client(clipboard::ACTION_NOTIFY | clipboard::FORMAT_TEXT, &[])
    );
    c.receive(&ext(
        clipboard::ACTION_REQUEST | clipboard::FORMAT_TEXT,
        &[],
    ))
    .expect("request");
    let (flags, payload) = clipboard::provide("grüß");
    assert_eq!(sent(&mut c), ext_client(flags, &payload));
}

fn ext_client(flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    ClientMessage::ExtendedCutText {
        flags,
        payload: payload.to_vec(),
    }
    .write(&mut v);
    v
}

#[test]
fn legacy_clipboard_without_caps() {
    let mut c = connected();
    c.cut_text("é€");
    assert_eq!(sent(&mut c), vec![6, 0, 0, 0, 0, 0, 0, 2, 0xe9, b'?']);
}

#[test]
fn desktop_resize_needs_the_servers_layout_first() {
    let mut c = connected();
    assert!(!c.set_desktop_size(100, 50));
    // ExtendedDesktopSize (−308): reason 0, status 0, 8×4, one screen id 7.
    let mut u = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 4];
    u.extend_from_slice(&(-308i32).to_be_bytes());
    u.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 8, 0, 4, 0, 0, 0, 0]);
    c.receive(&u).expect("eds");
    sent(&mut c);
    assert!(c.set_desktop_size(100, 50));
    assert_eq!(
        sent(&mut c),
        vec![251, 0, 0, 100, 0, 50, 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 100, 0, 50, 0, 0, 0, 0]
    );
}

#[test]
fn scancodes_only_after_the_servers_ack() {
    let mut c = connected();
    c.key_event_scancode(true, 0x61, 0x1e);
    assert_eq!(
        sent(&mut c),
        vec![4, 1, 0, 0, 0, 0, 0, 0x61],
        "plain KeyEvent before the ack"
    );
    let mut u = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0, 4];
    u.extend_from_slice(&(-258i32).to_be_bytes());
    c.receive(&u).expect("ack");
    sent(&mut c);
    c.key_event_scancode(true, 0x61, 0x1e);
    assert_eq!(
        sent(&mut c),
        vec![255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e]
    );
}

/// An update that only resizes: one rectangle of `encoding` (−223 or −308 with one screen).
fn resize_update(encoding: i32, w: u16, h: u16) -> Vec<u8> {
    let mut u = vec![0, 0, 0, 1, 0, 0, 0, 0];
    u.extend_from_slice(&w.to_be_bytes());
    u.extend_from_slice(&h.to_be_bytes());
    u.extend_from_slice(&encoding.to_be_bytes());
    if encoding == -308 {
        u.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0]);
        u.extend_from_slice(&w.to_be_bytes());
        u.extend_from_slice(&h.to_be_bytes());
        u.extend_from_slice(&[0, 0, 0, 0]);
    }
    u
}

/// A server that changes size while the client's first request (for the old size) is on its
/// way — QEMU as the guest's BIOS switches video modes — paints only the part of the new size
/// that request named, or what changed; the rest of the new picture is asked for at once.
/// Another answer of the same size is no reason to ask again (that would loop).
#[test]
fn a_new_size_asks_for_the_whole_new_picture_once() {
    for encoding in [-223, -308] {
        let mut c = connected();
        c.receive(&resize_update(encoding, 9, 5)).expect("resize");
        let out = sent(&mut c);
        let whole = [3, 0, 0, 0, 0, 0, 0, 9, 0, 5];
        assert!(
            out.windows(whole.len()).any(|w| w == whole),
            "encoding {encoding}: a non-incremental request for 9×5 in {out:?}"
        );
        {
            c.receive(&resize_update(encoding, 9, 5))
                .expect("same size");
            assert_eq!(
                &sent(&mut c)[..2],
                &[3, 1],
                "the same size again: only the usual incremental request"
            );
        }
    }
}
