//! Connection settings: from the page URL's fragment (`#target=desk&view_only=1`) or from a
//! session file (`.vncgate`, parsed by `certs::session_file`), into one typed [`Settings`].
//!
//! The fragment is never sent to a server, so it may carry secrets such as a one-time key.
//! Unknown keys are warnings (shown, then ignored); a bad value is an error naming the key and
//! what it should be. Pure functions: they build and test natively.

use certs::session_file::{
    self, GatewayUrl, OneTimeKey, Quality, Scaling, SessionFile, TargetName,
};
use certs::Fingerprint;

/// How the remote desktop is fitted to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Scale the picture to the window, keeping its proportions.
    #[default]
    Fit,
    /// One remote pixel per device pixel; scroll when larger than the window.
    OneToOne,
    /// Ask the server to resize its desktop to the window (SetDesktopSize).
    Remote,
}

impl Scale {
    /// Parses `fit`, `1:1` (also `none`, as in session files) or `remote`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fit" | "scale" => Some(Self::Fit),
            "1:1" | "none" | "off" => Some(Self::OneToOne),
            "remote" => Some(Self::Remote),
            _ => None,
        }
    }

    /// The fragment spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::OneToOne => "1:1",
            Self::Remote => "remote",
        }
    }
}

/// What the page was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The gateway's name for the VNC server.
    pub target: Option<TargetName>,
    /// A one-time key for the gateway, sent as `?otk=` on the WebSocket URL.
    pub otk: Option<OneTimeKey>,
    /// A CA certificate (DER) that must have issued the VNC server's VeNCrypt certificate.
    pub ca: Option<Vec<u8>>,
    /// The SHA-256 fingerprint the VNC server's VeNCrypt certificate must have.
    pub fingerprint: Option<Fingerprint>,
    /// Send no keyboard or pointer input at all.
    pub view_only: bool,
    pub scale: Scale,
    /// JPEG quality asked of the server, 0–9.
    pub quality: u8,
    /// zlib compression level asked of the server, 0–9.
    pub compression: u8,
    /// Ask the server to leave other viewers connected.
    pub shared: bool,
    /// Reconnect whenever the connection ends, not only after unexpected drops.
    pub reconnect: bool,
    /// The gateway a session file names (`None`: the one that served this page).
    pub gateway: Option<GatewayUrl>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            target: None,
            otk: None,
            ca: None,
            fingerprint: None,
            view_only: false,
            scale: Scale::Fit,
            quality: 6,
            compression: 2,
            shared: true,
            reconnect: false,
            gateway: None,
        }
    }
}

/// Settings and what in their source was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub settings: Settings,
    /// One sentence per ignored key, for a visible warning.
    pub warnings: Vec<String>,
}

/// A fragment value that cannot be used; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("the link sets {key}={value:?}, which is not valid: expected {expected}")]
    BadValue {
        key: &'static str,
        /// The value as given (`<redacted>` for secrets, shortened when long).
        value: String,
        expected: String,
    },
    #[error("the link sets {key} twice; remove one")]
    Duplicate { key: &'static str },
    #[error("session file {0}")]
    SessionFile(#[from] session_file::Error),
}

const KEYS: [&str; 11] = [
    "target",
    "otk",
    "ca",
    "fingerprint",
    "view_only",
    "scale",
    "quality",
    "compression",
    "shared",
    "reconnect",
    "gateway",
];

/// Percent-decoding as in URLs (a `+` stays a `+`: fragments are not form data, and base64
/// CA data has them).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|&c| (c as char).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                // Two hex digits make at most 0xff.
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` made safe to put in a fragment or query value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn flag(value: &str) -> Option<bool> {
    match value {
        "1" | "true" | "yes" | "on" | "" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn level(value: &str) -> Option<u8> {
    value.parse::<u8>().ok().filter(|l| *l <= 9)
}

impl Settings {
    /// Parses `#k=v&k=v` (the leading `#` is optional; keys and values percent-decoded).
    pub fn from_fragment(fragment: &str) -> Result<Parsed, SettingsError> {
        let mut s = Settings::default();
        let mut warnings = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        for pair in fragment
            .trim_start_matches('#')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), percent_decode(v));
            let Some(&key) = KEYS.iter().find(|known| **known == k) else {
                let shown: String = k.chars().take(40).collect();
                warnings.push(format!(
                    "the link's setting {shown:?} is unknown and was ignored"
                ));
                continue;
            };
            if seen.contains(&key) {
                return Err(SettingsError::Duplicate { key });
            }
            seen.push(key);
            let bad = |expected: &str| SettingsError::BadValue {
                key,
                value: if key == "otk" {
                    "<redacted>".to_owned()
                } else {
                    v.chars().take(40).collect()
                },
                expected: expected.to_owned(),
            };
            match key {
                "target" => s.target = Some(TargetName::parse(&v).map_err(bad)?),
                "otk" => s.otk = Some(OneTimeKey::parse(&v).map_err(bad)?),
                "ca" => {
                    let der = certs::ca_data::decode(&v).map_err(|e| bad(&e.to_string()))?;
                    s.ca = Some(der.as_ref().to_vec());
                }
                "fingerprint" => {
                    let fp = v
                        .parse::<Fingerprint>()
                        .map_err(|_| bad("a SHA-256 fingerprint: 64 hex digits, colons allowed"))?;
                    s.fingerprint = Some(fp);
                }
                "scale" => s.scale = Scale::parse(&v).ok_or_else(|| bad("fit, 1:1 or remote"))?,
                "quality" => s.quality = level(&v).ok_or_else(|| bad("a number from 0 to 9"))?,
                "compression" => {
                    s.compression = level(&v).ok_or_else(|| bad("a number from 0 to 9"))?;
                }
                "gateway" => s.gateway = Some(GatewayUrl::parse(&v).map_err(bad)?),
                // The flags.
                _ => {
                    let on = flag(&v).ok_or_else(|| bad("1 or 0"))?;
                    match key {
                        "view_only" => s.view_only = on,
                        "shared" => s.shared = on,
                        _ => s.reconnect = on,
                    }
                }
            }
        }
        Ok(Parsed {
            settings: s,
            warnings,
        })
    }

    /// Parses a session file (`docs/session-file.md`).
    pub fn from_session_file(bytes: &[u8]) -> Result<Parsed, SettingsError> {
        let parsed = session_file::parse(bytes)?;
        let f = parsed.session;
        let defaults = Settings::default();
        let settings = Settings {
            target: Some(f.target),
            otk: f.otk,
            ca: f.ca.map(|c| c.as_ref().to_vec()),
            fingerprint: f.fingerprint,
            view_only: f.view_only.unwrap_or(defaults.view_only),
            scale: match f.scaling {
                Some(Scaling::None) => Scale::OneToOne,
                Some(Scaling::Remote) => Scale::Remote,
                Some(Scaling::Fit) | None => Scale::Fit,
            },
            quality: f.quality.map_or(defaults.quality, Quality::get),
            gateway: f.gateway,
            ..defaults
        };
        let warnings = parsed
            .warnings
            .iter()
            .map(|w| format!("session file {w}"))
            .collect();
        Ok(Parsed { settings, warnings })
    }

    /// A session file for these settings, naming `gateway` (the page's origin). The one-time
    /// key is left out: it has been used by now. `None` without a target.
    pub fn to_session_file(&self, gateway: &str) -> Option<String> {
        let mut f = SessionFile::new(self.target.clone()?);
        f.gateway = self
            .gateway
            .clone()
            .or_else(|| GatewayUrl::parse(gateway).ok());
        f.ca = self.ca.clone().map(rustls_pki_types::CertificateDer::from);
        f.fingerprint = self.fingerprint;
        f.view_only = Some(self.view_only);
        f.scaling = Some(match self.scale {
            Scale::Fit => Scaling::Fit,
            Scale::OneToOne => Scaling::None,
            Scale::Remote => Scaling::Remote,
        });
        f.quality = Quality::new(self.quality);
        Some(f.to_text())
    }

    /// A fragment for these settings without secrets (no one-time key), for the address bar.
    pub fn to_fragment(&self) -> String {
        let d = Settings::default();
        let mut parts = Vec::new();
        if let Some(t) = &self.target {
            parts.push(format!("target={}", t.as_str()));
        }
        if let Some(ca) = &self.ca {
            parts.push(format!(
                "ca={}",
                percent_encode(&certs::ca_data::encode_base64(ca))
            ));
        }
        if let Some(fp) = &self.fingerprint {
            parts.push(format!("fingerprint={}", fp.to_hex()));
        }
        let flags = [
            ("view_only", self.view_only, d.view_only),
            ("shared", self.shared, d.shared),
            ("reconnect", self.reconnect, d.reconnect),
        ];
        for (k, v, default) in flags {
            if v != default {
                parts.push(format!("{k}={}", u8::from(v)));
            }
        }
        if self.scale != d.scale {
            parts.push(format!("scale={}", self.scale.as_str()));
        }
        if self.quality != d.quality {
            parts.push(format!("quality={}", self.quality));
        }
        if self.compression != d.compression {
            parts.push(format!("compression={}", self.compression));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("#{}", parts.join("&"))
        }
    }
}

/// Whether a session file's `gateway` (`https://host[:port][/path]` or `wss://…`) is the
/// gateway at `origin` (`https://host[:port]`, as `location.origin` gives it).
pub fn same_gateway(gateway: &str, origin: &str) -> bool {
    fn host_port(url: &str) -> Option<String> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next()?.to_ascii_lowercase();
        let default = matches!(scheme, "https" | "wss");
        Some(match authority.strip_suffix(":443") {
            Some(host) if default => host.to_owned(),
            _ => authority,
        })
    }
    let secure = |u: &str| u.starts_with("https://") || u.starts_with("wss://");
    secure(gateway)
        && secure(origin)
        && host_port(gateway).is_some_and(|g| Some(g) == host_port(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let fp = Fingerprint::of_der(b"abc");
        let frag = format!(
            "#target=desk-1&otk=K3y%2Bx+&fingerprint={}&view_only=1&scale=1%3A1&quality=3\
             &compression=9&shared=0&reconnect=yes&colour=blue",
            fp
        );
        let p = Settings::from_fragment(&frag).expect("valid");
        let s = p.settings;
        assert_eq!(s.target.as_ref().map(TargetName::as_str), Some("desk-1"));
        assert_eq!(s.otk.as_ref().map(OneTimeKey::expose), Some("K3y+x+"));
        assert_eq!(s.fingerprint, Some(fp));
        assert!(s.view_only && !s.shared && s.reconnect);
        assert_eq!((s.scale, s.quality, s.compression), (Scale::OneToOne, 3, 9));
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("\"colour\""), "{:?}", p.warnings);
        let empty = Settings::from_fragment("").expect("empty");
        assert_eq!(empty.settings, Settings::default());
    }

    #[test]
    fn bad_values_name_the_key() {
        for (frag, key) in [
            ("#target=../api", "target"),
            ("#target=a%2Fb", "target"),
            ("#target=", "target"),
            ("#shared=maybe", "shared"),
            ("#quality=10", "quality"),
            ("#compression=-1", "compression"),
            ("#scale=2:1", "scale"),
            ("#fingerprint=abcd", "fingerprint"),
            ("#ca=zz", "ca"),
            ("#otk=has%20space", "otk"),
        ] {
            let e = Settings::from_fragment(frag).expect_err(frag);
            let text = e.to_string();
            assert!(text.contains(&format!("sets {key}=")), "{frag}: {text}");
        }
        let e = Settings::from_fragment("#otk=a%20b").expect_err("space");
        assert!(!e.to_string().contains("a b"), "secret echoed: {e}");
        assert!(matches!(
            Settings::from_fragment("#target=a&target=b"),
            Err(SettingsError::Duplicate { key: "target" })
        ));
    }

    #[test]
    fn session_file_round_trip() {
        let text = "vncgate-session=1\ntarget=desk\notk=abc\nscaling=none\nquality=2\n\
                    view_only=true\nfuture_key=1\n";
        let p = Settings::from_session_file(text.as_bytes()).expect("valid");
        let s = &p.settings;
        assert_eq!(s.target.as_ref().map(TargetName::as_str), Some("desk"));
        assert_eq!(
            (s.scale, s.quality, s.view_only),
            (Scale::OneToOne, 2, true)
        );
        assert_eq!(
            p.warnings,
            vec!["session file line 7: unknown key \"future_key\" ignored"]
        );
        let saved = s
            .to_session_file("https://gw.example:8443/")
            .expect("target");
        assert!(
            !saved.contains("otk="),
            "the used one-time key is not saved"
        );
        let again = Settings::from_session_file(saved.as_bytes()).expect("re-parses");
        assert_eq!(again.settings.scale, Scale::OneToOne);
        assert_eq!(
            again.settings.gateway.as_ref().map(GatewayUrl::as_str),
            Some("https://gw.example:8443/")
        );
        let e = Settings::from_session_file(b"target=x\n").expect_err("no version line");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn gateways_compare_by_host_and_port() {
        assert!(same_gateway(
            "https://GW.example:8443/",
            "https://gw.example:8443"
        ));
        assert!(same_gateway("wss://gw/vnc", "https://gw"));
        assert!(same_gateway("https://gw:443", "https://gw"));
        assert!(!same_gateway("https://gw:8443/", "https://gw"));
        assert!(!same_gateway("https://other/", "https://gw"));
        assert!(!same_gateway("https://gw/", "http://gw"));
    }

    #[test]
    fn fragment_round_trip_without_secrets() {
        let p =
            Settings::from_fragment("#target=d&otk=secret&scale=remote&quality=1").expect("valid");
        let frag = p.settings.to_fragment();
        assert!(!frag.contains("secret"), "{frag}");
        let again = Settings::from_fragment(&frag).expect("re-parses").settings;
        assert_eq!(again.scale, Scale::Remote);
        assert_eq!(again.quality, 1);
        assert_eq!(again.otk, None);
    }
}
