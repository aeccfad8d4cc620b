//! Serving the viewer's files: strong ETags from the content's SHA-256, `If-None-Match` →
//! 304, and for text and wasm, when the browser accepts it: brotli, compressed at build time
//! (`cargo xtask build-web` writes `pkg/br/HASH.br` for each file, named by the file's content
//! hash, so a changed file never meets an old compressed form), else gzip (compressed once per
//! content and cached). The gateway carries no brotli encoder: without a precompressed form
//! (`--web-root`, a file changed since the build) it is gzip.

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

/// How a body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }
}

/// The outcome of a request for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    Found {
        body: Bytes,
        mime: &'static str,
        etag: String,
        /// `None`: the body as it is.
        encoding: Option<Encoding>,
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

/// Whether an `Accept-Encoding` value accepts `encoding` (by name, or `*`, with a non-zero q).
pub fn accepts(accept_encoding: &str, encoding: Encoding) -> bool {
    let names: &[&str] = match encoding {
        Encoding::Brotli => &["br"],
        Encoding::Gzip => &["gzip", "x-gzip"],
    };
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
        if names.contains(&coding.as_str()) {
            return !q_zero;
        }
        if coding == "*" {
            star = Some(!q_zero);
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

/// A file's tags: its content hash (what names its precompressed form), and the strong
/// ETags of it as it is, gzipped and in brotli.
struct Tags {
    hash: String,
    plain: String,
    gzip: String,
    brotli: String,
}

impl Tags {
    fn of(body: &[u8]) -> Self {
        let digest = Sha256::digest(body);
        let hash: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            plain: format!("\"{hash}\""),
            gzip: format!("\"{hash}-gz\""),
            brotli: format!("\"{hash}-br\""),
            hash,
        }
    }

    fn of_encoding(&self, encoding: Option<Encoding>) -> &str {
        match encoding {
            None => &self.plain,
            Some(Encoding::Gzip) => &self.gzip,
            Some(Encoding::Brotli) => &self.brotli,
        }
    }
}

/// Where `cargo xtask build-web` puts a file's brotli form: named by its content hash.
pub fn brotli_path(hash: &str) -> String {
    format!("/pkg/br/{hash}.br")
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
        let tags = Tags::of(&asset.body);
        let vary = compressible(asset.mime) && asset.body.len() >= MIN_COMPRESS_BYTES;
        let brotli = (vary && accepts(accept_encoding, Encoding::Brotli))
            .then(|| self.assets.get(&brotli_path(&tags.hash)))
            .flatten();
        let (encoding, body) = match brotli {
            Some(br) => (Some(Encoding::Brotli), Some(br.body)),
            None if vary && accepts(accept_encoding, Encoding::Gzip) => {
                (Some(Encoding::Gzip), None)
            }
            None => (None, None),
        };
        if if_none_match
            .is_some_and(|inm| etag_matches(inm, &[&tags.plain, &tags.gzip, &tags.brotli]))
        {
            let etag = tags.of_encoding(encoding).to_owned();
            return Served::NotModified { etag, vary };
        }
        let found = |body, encoding| Served::Found {
            body,
            mime: asset.mime,
            etag: tags.of_encoding(encoding).to_owned(),
            encoding,
            vary,
        };
        match (encoding, body) {
            (Some(Encoding::Brotli), Some(br)) => found(body_of(br), encoding),
            (Some(Encoding::Gzip), _) => match self.gzipped(&tags.gzip, &asset.body) {
                Some(gz) => found(gz, encoding),
                None => found(body_of(asset.body), None),
            },
            _ => found(body_of(asset.body), None),
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
        let gz = |v| accepts(v, Encoding::Gzip);
        assert!(gz("gzip, deflate, br, zstd"));
        assert!(gz("br;q=1.0, GZIP;q=0.5"));
        assert!(gz("*"));
        assert!(!gz(""));
        assert!(!gz("br, deflate"));
        assert!(!gz("gzip;q=0"));
        assert!(!gz("gzip;q=0.000, *"));
        assert!(!gz("*;q=0"));
        assert!(gz("identity, *;q=0.1"));
        let br = |v| accepts(v, Encoding::Brotli);
        assert!(br("gzip, deflate, br, zstd"));
        assert!(br("BR"));
        assert!(!br("gzip, deflate"));
        assert!(!br("br;q=0, gzip"));
        assert!(!br("brotli"));
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
            encoding: None,
            vary: true,
            ..
        } = files.serve("/app.js", "", None)
        else {
            panic!("sent plain without Accept-Encoding");
        };
        assert_eq!(plain, script.as_bytes());
        let Served::Found {
            body,
            encoding: Some(Encoding::Gzip),
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
                Served::Found {
                    encoding: Some(Encoding::Gzip),
                    ..
                }
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
                encoding: None,
                vary: false,
                ..
            }
        ));
        assert_eq!(files.serve("/nope.js", "gzip", None), Served::NotFound);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn serves_the_precompressed_brotli_form_of_this_content_only() {
        let dir = std::env::temp_dir().join(format!("vncgate-br-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg/br")).expect("dir");
        let script = "let y = 2;\n".repeat(400);
        std::fs::write(dir.join("app.js"), &script).expect("write");
        let tags = Tags::of(script.as_bytes());
        let br_file = dir.join(brotli_path(&tags.hash).trim_start_matches('/'));
        std::fs::write(&br_file, b"brotli bytes").expect("write");
        let files = StaticFiles::new(Assets::Dir(dir.clone()));
        let Served::Found {
            body,
            encoding: Some(Encoding::Brotli),
            etag,
            vary: true,
            ..
        } = files.serve("/app.js", "gzip, deflate, br", None)
        else {
            panic!("brotli when accepted and built");
        };
        assert_eq!(&body[..], b"brotli bytes");
        assert_eq!(etag, tags.brotli);
        assert!(matches!(
            files.serve("/app.js", "gzip, br", Some(&tags.brotli)),
            Served::NotModified { etag, .. } if etag == tags.brotli
        ));
        assert!(
            matches!(
                files.serve("/app.js", "gzip", None),
                Served::Found {
                    encoding: Some(Encoding::Gzip),
                    ..
                }
            ),
            "gzip for a browser without br"
        );
        // The file changes after the build: its old brotli form is never sent.
        std::fs::write(dir.join("app.js"), "let z = 3;\n".repeat(400)).expect("write");
        assert!(matches!(
            files.serve("/app.js", "br, gzip", None),
            Served::Found {
                encoding: Some(Encoding::Gzip),
                ..
            }
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
