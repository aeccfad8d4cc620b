//! Replays sessions recorded from real servers (TigerVNC Xvnc, x11vnc) through the client, in
//! several chunkings, and checks the framebuffer equals the X server's own pixels (SHA-256
//! recorded with the transcript). Regenerate with
//! `cargo test -p tests --test record_transcripts -- --ignored`.

use std::path::{Path, PathBuf};

use rfb::messages::encoding::Encoding;
use rfb::{Client, ClientConfig, Event};
use sha2::{Digest, Sha256};

struct Transcript {
    name: String,
    bytes: Vec<u8>,
    encodings: Vec<Encoding>,
    sha256: String,
}

fn transcripts() -> Vec<Transcript> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut metas: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    metas.retain(|p| p.extension().is_some_and(|e| e == "meta"));
    metas.sort();
    metas
        .into_iter()
        .map(|meta| {
            let text = std::fs::read_to_string(&meta).expect("meta");
            let field = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}=")))
                    .unwrap_or_else(|| panic!("{} has no {k}", meta.display()))
                    .to_owned()
            };
            let encodings = field("encodings")
                .split(',')
                .map(|n| Encoding::from_i32(n.parse().expect("number")))
                .collect();
            Transcript {
                name: meta
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned(),
                bytes: std::fs::read(meta.with_extension("bin")).expect("bin"),
                encodings,
                sha256: field("sha256"),
            }
        })
        .collect()
}

fn replay(t: &Transcript, chunk: usize) -> String {
    let mut c = Client::new(ClientConfig {
        encodings: t.encodings.clone(),
        ..ClientConfig::default()
    });
    let mut updates = 0;
    for part in t.bytes.chunks(chunk) {
        c.receive(part)
            .unwrap_or_else(|e| panic!("{} (chunk {chunk}): {e}", t.name));
        while c.poll_transmit().is_some() {}
        while let Some(e) = c.poll_event() {
            if e == Event::UpdateComplete {
                updates += 1;
            }
        }
    }
    assert!(updates > 0, "{}: no complete update", t.name);
    let fb = c.framebuffer().expect("connected");
    Sha256::digest(fb.rgba())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn real_sessions_decode_to_the_x_servers_pixels() {
    let all = transcripts();
    assert!(
        all.len() >= 8,
        "expected the recorded transcripts, found {}",
        all.len()
    );
    for t in &all {
        for chunk in [t.bytes.len(), 4096, 61] {
            assert_eq!(
                replay(t, chunk),
                t.sha256,
                "{} in chunks of {chunk}",
                t.name
            );
        }
    }
}

#[test]
fn every_prefix_of_real_handshakes_waits_for_more() {
    for t in transcripts() {
        // The handshake and ServerInit lie in the first bytes; feed them one at a time.
        let mut c = Client::new(ClientConfig {
            encodings: t.encodings.clone(),
            ..ClientConfig::default()
        });
        let head = &t.bytes[..t.bytes.len().min(200)];
        for b in head {
            c.receive(std::slice::from_ref(b))
                .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        }
        assert!(
            c.is_connected(),
            "{}: connected after the first bytes",
            t.name
        );
    }
}
