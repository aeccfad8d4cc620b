#![no_main]
//! The plain-HTTP head parser and the redirect it answers with, on arbitrary bytes. Beyond
//! "no panic": the bound is kept; a head read in pieces gives the same answer as read whole;
//! and the reply's head is well-formed whatever was asked — no CR, LF or control byte from the
//! request reaches a header line (no response splitting), and a redirect goes to https.

use gateway::plain_http::{parse_head, reply, HeadError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&m, buf)) = data.split_first() else { return };
    // A limit from the input: small ones reach the TooLarge path often.
    let max = 16 + usize::from(m) * 4;
    let whole = parse_head(buf, max);
    if let Err(HeadError::TooLarge { max: got }) = whole {
        assert_eq!(got, max);
        assert!(buf.len() >= max);
    }
    // What a reader growing its buffer sees: undecided until the whole answer.
    if let Ok(Some(_)) | Err(_) = whole {
        let end = (1..=buf.len())
            .find(|&n| !matches!(parse_head(&buf[..n], max), Ok(None)))
            .expect("the whole input decided, so some prefix does");
        assert_eq!(parse_head(&buf[..end], max), whole, "decided differently at {end} bytes");
    }
    let r = match &whole {
        Ok(Some(head)) => reply(Ok(head)),
        Ok(None) => return,
        Err(e) => reply(Err(*e)),
    };
    for head_only in [false, true] {
        let bytes = r.bytes(head_only);
        let text = std::str::from_utf8(&bytes).expect("the reply is UTF-8");
        let (head, _body) = text.split_once("\r\n\r\n").expect("the reply has a head");
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert!(lines[0] == "HTTP/1.1 301 Moved Permanently" || lines[0] == "HTTP/1.1 400 Bad Request");
        for line in &lines {
            assert!(!line.bytes().any(|b| b.is_ascii_control()), "control byte in reply line {line:?}");
        }
        if let Some(location) = lines.iter().find_map(|l| l.strip_prefix("Location: ")) {
            assert!(location.starts_with("https://"), "redirect to {location:?}");
        }
        assert_eq!(lines.iter().filter(|l| l.starts_with("Location:")).count(), usize::from(lines[0].contains("301")));
    }
});
