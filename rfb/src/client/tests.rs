//! Scripted server byte streams driven through the client, whole and one byte at a time.

use super::*;
use crate::pixel_format::PixelFormat;

fn server_init(w: u16, h: u16, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&h.to_be_bytes());
    PixelFormat::RGBX_LE.write(&mut v);
    v.extend_from_slice(&(name.len() as u32).to_be_bytes());
    v.extend_from_slice(name.as_bytes());
    v
}

fn raw_update(x: u16, y: u16, w: u16, h: u16, rgbx: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1];
    for n in [x, y, w, h] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(&0i32.to_be_bytes());
    for _ in 0..(usize::from(w) * usize::from(h)) {
        v.extend_from_slice(&rgbx);
    }
    v
}

/// A 3.8 server offering None, a 4×2 desktop, then one raw update painting (1,1) 2×1.
fn none_38_transcript() -> Vec<u8> {
    let mut s = b"RFB 003.008\n".to_vec();
    s.extend_from_slice(&[1, 1]); // one type: None
    s.extend_from_slice(&[0, 0, 0, 0]); // SecurityResult OK
    s.extend(server_init(4, 2, "desk"));
    s.extend(raw_update(1, 1, 2, 1, [10, 20, 30, 0]));
    s
}

fn run(client: &mut Client, bytes: &[u8], chunk: usize) -> (Vec<u8>, Vec<Event>) {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    for c in bytes.chunks(chunk) {
        client.receive(c).expect("valid stream");
        while let Some(out) = client.poll_transmit() {
            sent.extend(out);
        }
        while let Some(e) = client.poll_event() {
            events.push(e);
        }
    }
    (sent, events)
}

#[test]
fn none_38_in_any_chunking() {
    let transcript = none_38_transcript();
    for chunk in [1, 2, 3, 7, transcript.len()] {
        let mut c = Client::new(ClientConfig::default());
        let (sent, events) = run(&mut c, &transcript, chunk);
        assert_eq!(&sent[..12], b"RFB 003.008\n");
        assert_eq!(sent[12], 1, "chose None");
        assert_eq!(sent[13], 1, "ClientInit shared");
        assert_eq!(sent[14], 0, "SetPixelFormat follows");
        assert_eq!(
            events,
            vec![
                Event::Connected {
                    width: 4,
                    height: 2,
                    name: "desk".into()
                },
                Event::UpdateComplete
            ]
        );
        let fb = c.framebuffer().expect("connected");
        assert_eq!(fb.pixel(1, 1), Some([10, 20, 30, 255]));
        assert_eq!(fb.pixel(0, 0), Some([0, 0, 0, 255]));
        // After the update an incremental request for the whole screen goes out.
        assert_eq!(&sent[sent.len() - 10..], &[3, 1, 0, 0, 0, 0, 0, 4, 0, 2]);
        assert_eq!(c.waiting_for(), "the server's updates");
    }
}

#[test]
fn vnc_auth_38_sends_the_des_response() {
    let mut c = Client::new(ClientConfig {
        password: Some(Password::new("password")),
        ..ClientConfig::default()
    });
    assert_eq!(c.waiting_for(), "the server's protocol version");
    let mut s = b"RFB 003.008\n".to_vec();
    s.extend_from_slice(&[2, 2, 1]); // VncAuth preferred by the server
    s.extend((0u8..16).collect::<Vec<_>>());
    let (sent, _) = run(&mut c, &s, 5);
    assert_eq!(c.waiting_for(), "the server's answer to the authentication");
    assert_eq!(sent[12], 2);
    let want = [
        0xb8, 0x66, 0x92, 0x41, 0x25, 0xc8, 0xee, 0xbb, 0x9d, 0xeb, 0xc1, 0xdb, 0x61, 0xc5, 0x38,
        0xe2,
    ];
    assert_eq!(&sent[13..29], &want);
    // Failure with a reason (3.8).
    let mut fail = vec![0, 0, 0, 1, 0, 0, 0, 22];
    fail.extend_from_slice(b"Authentication failed\0");
    assert_eq!(
        c.receive(&fail),
        Err(Error::AuthenticationFailed {
            reason: "Authentication failed".into()
        })
    );
    assert_eq!(c.receive(&[0]), Err(Error::Closed));
    assert_eq!(c.waiting_for(), "nothing: the connection is closed");
}

#[test]
fn no_password_prefers_none_or_says_a_password_is_needed() {
    let mut c = Client::new(ClientConfig::default());
    let (sent, _) = run(&mut c, b"RFB 003.008\n\x02\x02\x01", 100);
    assert_eq!(sent[12], 1, "skips VncAuth and takes None");
    let mut c = Client::new(ClientConfig::default());
    assert_eq!(
        c.receive(b"RFB 003.008\n\x01\x02"),
        Err(Error::PasswordRequired)
    );
}

#[test]
fn v33_and_v37_skip_the_none_result() {
    for (banner, sec) in [
        (&b"RFB 003.003\n"[..], &[0u8, 0, 0, 1][..]),
        (b"RFB 003.007\n", &[1, 1]),
    ] {
        let mut s = banner.to_vec();
        s.extend_from_slice(sec);
        s.extend(server_init(2, 2, "x"));
        let mut c = Client::new(ClientConfig::default());
        let (sent, events) = run(&mut c, &s, 1);
        assert_eq!(&sent[..12], banner);
        assert!(
            matches!(events.first(), Some(Event::Connected { .. })),
            "{banner:?}"
        );
    }
}

#[test]
fn refusal_carries_the_reason() {
    let mut c = Client::new(ClientConfig::default());
    let mut s = b"RFB 003.008\n\x00".to_vec();
    s.extend_from_slice(&[0, 0, 0, 8]);
    s.extend_from_slice(b"too many");
    assert_eq!(
        c.receive(&s),
        Err(Error::ServerRefused {
            reason: "too many".into()
        })
    );
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    let cases: Vec<Vec<u8>> = vec![
        b"HTTP/1.1 200\n".to_vec(),
        b"RFB 002.000\n".to_vec(),
        {
            // framebuffer 65535 wide
            let mut s = b"RFB 003.008\n\x01\x01\0\0\0\0".to_vec();
            s.extend(server_init(65535, 1, ""));
            s
        },
        {
            // rect outside the framebuffer (CVE-2019-15692 shape for data rects)
            let mut s = none_38_transcript();
            s.extend(raw_update(3, 0, 2, 1, [0; 4]));
            s
        },
        {
            let mut s = none_38_transcript();
            s.push(200); // unknown message type
            s
        },
        {
            // 2^32-1 name length
            let mut s = b"RFB 003.008\n\x01\x01\0\0\0\0".to_vec();
            let mut init = server_init(1, 1, "");
            let n = init.len();
            init[n - 4..].copy_from_slice(&[0xff; 4]);
            s.extend(init);
            s
        },
    ];
    for case in cases {
        let mut c = Client::new(ClientConfig::default());
        assert!(c.receive(&case).is_err(), "{case:?}");
    }
}

#[test]
fn input_before_connect_is_dropped_and_pointer_is_clamped() {
    let mut c = Client::new(ClientConfig::default());
    c.key_event(true, 0x61);
    assert_eq!(c.poll_transmit(), None);
    run(&mut c, &none_38_transcript(), 1000);
    c.pointer_event(1, 100, 100);
    assert_eq!(c.poll_transmit(), Some(vec![5, 1, 0, 3, 0, 1]));
}

#[test]
fn asks_for_a_password_and_continues_when_given_one() {
    let mut c = Client::new(ClientConfig {
        prompt_for_credentials: true,
        ..ClientConfig::default()
    });
    let mut s = b"RFB 003.008\n".to_vec();
    s.extend_from_slice(&[1, 2]);
    s.extend((0u8..16).collect::<Vec<_>>());
    let (sent, events) = run(&mut c, &s, 3);
    assert_eq!(
        sent[12], 2,
        "chose VncAuth without a password, to ask for one"
    );
    assert_eq!(events, vec![Event::CredentialsRequired { username: false }]);
    c.provide_credentials(None, Password::new("password"))
        .expect("resumes");
    let out = c.poll_transmit().expect("response");
    assert_eq!(&out[..4], &[0xb8, 0x66, 0x92, 0x41]);
    let mut rest = vec![0, 0, 0, 0];
    rest.extend(server_init(2, 2, "x"));
    let (_, events) = run(&mut c, &rest, 1);
    assert!(matches!(events.first(), Some(Event::Connected { .. })));
}

mod encodings;
mod extensions;
