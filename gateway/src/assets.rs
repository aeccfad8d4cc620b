//! The viewer's static files: embedded from `web/` (release builds embed them; debug builds
//! read the folder at run time), or from `--web-root`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

#[derive(rust_embed::RustEmbed)]
#[folder = "../web"]
struct Embedded;

/// A file to serve.
#[derive(Debug)]
pub struct Asset {
    pub body: Cow<'static, [u8]>,
    pub mime: &'static str,
}

/// Where assets come from.
#[derive(Debug, Clone)]
pub enum Assets {
    Embedded,
    Dir(PathBuf),
}

impl Assets {
    pub fn new(web_root: Option<&Path>) -> Self {
        web_root.map_or(Self::Embedded, |p| Self::Dir(p.to_owned()))
    }

    /// Looks up a request path (`/` → `index.html`). Paths with `..`, backslashes or hidden
    /// components are never served.
    pub fn get(&self, request_path: &str) -> Option<Asset> {
        let rel = request_path.trim_start_matches('/');
        let rel = if rel.is_empty() { "index.html" } else { rel };
        if rel.split('/').any(|c| c.is_empty() || c.starts_with('.')) || rel.contains('\\') {
            return None;
        }
        let body = match self {
            Self::Embedded => Embedded::get(rel)?.data,
            Self::Dir(root) => Cow::Owned(std::fs::read(root.join(rel)).ok()?),
        };
        Some(Asset {
            body,
            mime: mime_for(rel),
        })
    }
}

fn mime_for(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_index_and_refuses_traversal() {
        let a = Assets::Embedded;
        let index = a.get("/").expect("index.html is embedded");
        assert_eq!(index.mime, "text/html; charset=utf-8");
        for bad in [
            "/../Cargo.toml",
            "/.git/config",
            "/a//b",
            "/pkg/../../x",
            "/a\\b",
        ] {
            assert!(a.get(bad).is_none(), "{bad}");
        }
        assert_eq!(mime_for("pkg/x.wasm"), "application/wasm");
    }
}
