//! The typed values of a session file and the builder that collects them line by line.

use rustls_pki_types::CertificateDer;

use super::{Problem, SessionFile};
use crate::Fingerprint;

/// The gateway's base URL: `https://host[:port][/path]` or `wss://…`. No user name, query or
/// fragment: secrets never go into a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUrl(String);

impl GatewayUrl {
    pub const MAX_LEN: usize = 2048;
    const EXPECTED: &'static str =
        "an https:// or wss:// URL with a host, without user name, query or fragment";

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("wss://"))
            .ok_or(Self::EXPECTED)?;
        let host = rest.split('/').next().unwrap_or_default();
        let ok = s.len() <= Self::MAX_LEN
            && !host.is_empty()
            && !host.starts_with(':')
            && s.bytes().all(|b| b.is_ascii_graphic())
            && !s.contains(['@', '?', '#', '\\']);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Self::EXPECTED)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The gateway's name for a VNC server: 1–64 of letters, digits, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetName(String);

impl TargetName {
    pub const MAX_LEN: usize = 64;
    const EXPECTED: &'static str = "1 to 64 letters, digits, '-', '_' or '.'";

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Self::EXPECTED)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A one-time key: 1–256 printable ASCII characters without spaces. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeKey(String);

impl OneTimeKey {
    pub const MAX_LEN: usize = 256;
    const EXPECTED: &'static str = "1 to 256 printable ASCII characters without spaces";

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Self::EXPECTED)
        }
    }

    /// The key itself, for sending it to the gateway or writing the file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OneTimeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeKey(<redacted>)")
    }
}

/// How the remote desktop is fitted to the viewer's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scaling {
    /// One remote pixel per screen pixel; scroll if larger.
    None,
    /// Scale the picture in the browser to fit the window.
    Fit,
    /// Ask the server to resize its desktop to the window.
    Remote,
}

impl Scaling {
    const EXPECTED: &'static str = "none, fit or remote";

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        match s {
            "none" => Ok(Self::None),
            "fit" => Ok(Self::Fit),
            "remote" => Ok(Self::Remote),
            _ => Err(Self::EXPECTED),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Fit => "fit",
            Self::Remote => "remote",
        }
    }
}

/// Picture quality for lossy encodings: 0 (smallest) to 9 (best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quality(u8);

impl Quality {
    pub const MAX: u8 = 9;
    const EXPECTED: &'static str = "a whole number from 0 to 9";

    pub fn new(q: u8) -> Option<Self> {
        (q <= Self::MAX).then_some(Self(q))
    }

    pub fn parse(s: &str) -> Result<Self, &'static str> {
        s.parse::<u8>()
            .ok()
            .and_then(Self::new)
            .ok_or(Self::EXPECTED)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

fn parse_bool(s: &str) -> Result<bool, &'static str> {
    match s {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err("true or false"),
    }
}

/// Collects values line by line; [`Builder::finish`] checks what must be there.
#[derive(Debug, Default)]
pub(super) struct Builder {
    seen: Vec<(&'static str, usize)>,
    gateway: Option<GatewayUrl>,
    target: Option<TargetName>,
    otk: Option<OneTimeKey>,
    ca: Option<CertificateDer<'static>>,
    fingerprint: Option<Fingerprint>,
    view_only: Option<bool>,
    scaling: Option<Scaling>,
    quality: Option<Quality>,
}

impl Builder {
    /// Sets `key` from line `line`. `Ok(false)` if the key is unknown (the caller warns).
    pub(super) fn set(&mut self, line: usize, key: &str, val: &str) -> Result<bool, Problem> {
        const KEYS: [&str; 8] = [
            "gateway",
            "target",
            "otk",
            "ca",
            "fingerprint",
            "view_only",
            "scaling",
            "quality",
        ];
        let Some(&key) = KEYS.iter().find(|k| **k == key) else {
            return Ok(false);
        };
        if let Some(&(_, first_line)) = self.seen.iter().find(|(k, _)| *k == key) {
            return Err(Problem::Duplicate {
                key: key.to_owned(),
                first_line,
            });
        }
        self.seen.push((key, line));
        let bad = |expected: &str| Problem::BadValue {
            key,
            // Never echo a secret; keep long values short.
            value: if key == "otk" {
                "<redacted>".to_owned()
            } else {
                val.chars().take(40).collect()
            },
            expected: expected.to_owned(),
        };
        match key {
            "gateway" => self.gateway = Some(GatewayUrl::parse(val).map_err(bad)?),
            "target" => self.target = Some(TargetName::parse(val).map_err(bad)?),
            "otk" => self.otk = Some(OneTimeKey::parse(val).map_err(bad)?),
            "ca" => {
                let der = crate::ca_data::decode(val).map_err(|e| bad(&e.to_string()))?;
                self.ca = Some(der);
            }
            "fingerprint" => {
                let fp = val
                    .parse::<Fingerprint>()
                    .map_err(|_| bad("a SHA-256 fingerprint: 64 hex digits, colons allowed"))?;
                self.fingerprint = Some(fp);
            }
            "view_only" => self.view_only = Some(parse_bool(val).map_err(bad)?),
            "scaling" => self.scaling = Some(Scaling::parse(val).map_err(bad)?),
            _ => self.quality = Some(Quality::parse(val).map_err(bad)?),
        }
        Ok(true)
    }

    pub(super) fn finish(self) -> Result<SessionFile, Problem> {
        Ok(SessionFile {
            gateway: self.gateway,
            target: self.target.ok_or(Problem::MissingTarget)?,
            otk: self.otk,
            ca: self.ca,
            fingerprint: self.fingerprint,
            view_only: self.view_only,
            scaling: self.scaling,
            quality: self.quality,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls() {
        for good in [
            "https://gw",
            "https://gw.example:8443/",
            "wss://[::1]:8443/vnc",
            "https://10.0.0.1",
        ] {
            assert!(GatewayUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "http://gw",
            "ws://gw",
            "https://",
            "https:///x",
            "https://user:pw@gw",
            "https://gw/?otk=1",
            "https://gw/#x",
            "https://g w",
            "gw:8443",
        ] {
            assert!(GatewayUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_keys_and_small_values() {
        assert!(TargetName::parse("desk-1.lan_2").is_ok());
        assert!(TargetName::parse("").is_err());
        assert!(TargetName::parse("a/b").is_err());
        assert!(TargetName::parse(&"x".repeat(65)).is_err());
        assert!(OneTimeKey::parse("Zx81~!").is_ok());
        assert!(OneTimeKey::parse("has space").is_err());
        assert_eq!(
            format!("{:?}", OneTimeKey::parse("s3cret").ok()),
            "Some(OneTimeKey(<redacted>))"
        );
        assert_eq!(Quality::parse("9").map(Quality::get), Ok(9));
        assert!(Quality::parse("10").is_err());
        assert!(Quality::parse("-1").is_err());
        assert_eq!(Scaling::parse("fit"), Ok(Scaling::Fit));
        assert!(Scaling::parse("Fit").is_err());
        assert_eq!(parse_bool("yes"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
