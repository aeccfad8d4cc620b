//! Serving the viewer's files: strong ETags from the content's SHA-256, `If-None-Match` →
//! 304, and gzip for text and wasm when the browser accepts it (compressed once per content
//! and cached). Brotli is not offered: the only pure-Rust encoder is a large crate.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use hyper::body::Bytes;
use sha2::{Digest, Sha256};

use crate::assets::Assets;

/// Compressed bodies kept at most (all of the viewer is a few MB).
const GZIP_CACHE_BYTES: usize = 64 << 20;
/// Smaller bodies are sent as they are.
const MIN_COMPRESS_BYTES: usize = 1024;

/// The outcome of a request for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    Found {
        body: Bytes,
        mime: &'static str,
        etag: String,
        gzip: bool,
        /// Whether the representation depends on Accept-Encoding.
        vary: bool,
    },
    NotModified {
        etag: String,
        vary: bool,
    },
    NotFound,
}

/// The files and the cache of their compressed forms.
#[derive(Debug)]
pub struct StaticFiles {
    assets: Assets,
    gzip_cache: Mutex<HashMap<String, Bytes>>,
}

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*` with a non-zero q).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .or_else(|| p.strip_prefix("Q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        match coding.as_str() {
            "gzip" | "x-gzip" => return !q_zero,
            "*" => star = Some(!q_zero),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// Whether an `If-None-Match` value matches one of `etags` (weak comparison, RFC 9110 13.1.2).
pub fn etag_matches(if_none_match: &str, etags: &[&str]) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if_none_match.trim() == "*"
        || if_none_match
            .split(',')
            .map(strip)
            .any(|t| etags.iter().any(|e| strip(e) == t))
}

/// Worth compressing: text and wasm; images and the like are compressed already.
pub fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime.split(';').next().unwrap_or_default(),
            "application/wasm" | "application/json" | "image/svg+xml"
        )
}

/// A strong ETag of `body`, and the tag of its gzip form.
pub fn etags_for(body: &[u8]) -> (String, String) {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    (format!("\"{hex}\""), format!("\"{hex}-gz\""))
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::default(),
    );
    enc.write_all(body)?;
    enc.finish()
}

/// A file's body for a response, without copying it: embedded files (release builds) are
/// served from the binary's own bytes, so a thousand slow downloads share one copy.
pub fn body_of(body: std::borrow::Cow<'static, [u8]>) -> Bytes {
    match body {
        std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    }
}

impl StaticFiles {
    pub fn new(assets: Assets) -> Self {
        Self {
            assets,
            gzip_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// Answers a GET/HEAD for `path`, given the request's `Accept-Encoding` and
    /// `If-None-Match`. Blocking (file reads, compression): call it off the async threads.
    pub fn serve(&self, path: &str, accept_encoding: &str, if_none_match: Option<&str>) -> Served {
        let Some(asset) = self.assets.get(path) else {
            return Served::NotFound;
        };
        let (etag, gz_etag) = etags_for(&asset.body);
        let vary = compressible(asset.mime) && asset.body.len() >= MIN_COMPRESS_BYTES;
        let use_gzip = vary && accepts_gzip(accept_encoding);
        if if_none_match.is_some_and(|inm| etag_matches(inm, &[&etag, &gz_etag])) {
            let etag = if use_gzip { gz_etag } else { etag };
            return Served::NotModified { etag, vary };
        }
        if use_gzip {
            if let Some(body) = self.gzipped(&gz_etag, &asset.body) {
                return Served::Found {
                    body,
                    mime: asset.mime,
                    etag: gz_etag,
                    gzip: true,
                    vary,
                };
            }
        }
        Served::Found {
            body: body_of(asset.body),
            mime: asset.mime,
            etag,
            gzip: false,
            vary,
        }
    }

    fn gzipped(&self, key: &str, body: &[u8]) -> Option<Bytes> {
        let lock = || self.gzip_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = lock().get(key) {
            return Some(hit.clone());
        }
        let compressed = match gzip(body) {
            Ok(c) => Bytes::from(c),
            Err(e) => {
                tracing::warn!(error = %e, "gzip failed; sending the file uncompressed");
                return None;
            }
        };
        let mut cache = lock();
        let held: usize = cache.values().map(Bytes::len).sum();
        if held + compressed.len() > GZIP_CACHE_BYTES {
            cache.clear();
        }
        cache.insert(key.to_owned(), compressed.clone());
        Some(compressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_bodies_are_not_copied() {
        static FILE: [u8; 4096] = [7; 4096];
        let a = body_of(std::borrow::Cow::Borrowed(&FILE));
        let b = body_of(std::borrow::Cow::Borrowed(&FILE));
        assert_eq!(a.as_ptr(), FILE.as_ptr(), "the binary's own bytes");
        assert_eq!(a.as_ptr(), b.as_ptr());
        let owned = vec![1u8; 100];
        let ptr = owned.as_ptr();
        assert_eq!(
            body_of(std::borrow::Cow::Owned(owned)).as_ptr(),
            ptr,
            "moved, not copied"
        );
    }
    use std::io::Read;

    #[test]
    fn accept_encoding_negotiation() {
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip;q=0.000, *"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(accepts_gzip("identity, *;q=0.1"));
    }

    #[test]
    fn if_none_match_comparison() {
        assert!(etag_matches("\"abc\"", &["\"abc\""]));
        assert!(etag_matches("W/\"abc\", \"def\"", &["\"x\"", "\"abc\""]));
        assert!(etag_matches("*", &["\"abc\""]));
        assert!(!etag_matches("\"abd\"", &["\"abc\""]));
        assert!(!etag_matches("", &["\"abc\""]));
    }

    #[test]
    fn serves_gzip_and_304() {
        let dir = std::env::temp_dir().join(format!("vncgate-static-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let script = "let x = 1;\n".repeat(400);
        std::fs::write(dir.join("app.js"), &script).expect("write");
        std::fs::write(dir.join("logo.png"), vec![7u8; 5000]).expect("write");
        let files = StaticFiles::new(Assets::Dir(dir.clone()));
        let Served::Found {
            body: plain,
            etag,
            gzip: false,
            vary: true,
            ..
        } = files.serve("/app.js", "", None)
        else {
            panic!("sent plain without Accept-Encoding");
        };
        assert_eq!(plain, script.as_bytes());
        let Served::Found {
            body,
            gzip: true,
            etag: gz_etag,
            ..
        } = files.serve("/app.js", "gzip", None)
        else {
            panic!("gzip when accepted");
        };
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        assert_eq!(out, plain);
        assert_ne!(gz_etag, etag, "each representation has its own tag");
        assert!(
            matches!(
                files.serve("/app.js", "gzip", None),
                Served::Found { gzip: true, .. }
            ),
            "cached"
        );
        assert!(matches!(
            files.serve("/app.js", "", Some(&etag)),
            Served::NotModified { .. }
        ));
        assert!(matches!(
            files.serve("/app.js", "gzip", Some(&gz_etag)),
            Served::NotModified { .. }
        ));
        assert!(matches!(
            files.serve("/app.js", "", Some("\"other\"")),
            Served::Found { .. }
        ));
        assert!(matches!(
            files.serve("/logo.png", "gzip", None),
            Served::Found {
                gzip: false,
                vary: false,
                ..
            }
        ));
        assert_eq!(files.serve("/nope.js", "gzip", None), Served::NotFound);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
