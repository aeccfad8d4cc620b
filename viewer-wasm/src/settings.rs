//! Connection settings from the page URL's fragment (`#target=desk&view_only=1`). The fragment
//! is never sent to a server, so it may carry secrets such as a one-time key.

/// What the page was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// The gateway's name for the VNC server.
    pub target: Option<String>,
    /// Whether to share the desktop with other viewers.
    pub shared: bool,
    /// Keys in the fragment this version does not know (shown as a warning, then ignored).
    pub unknown: Vec<String>,
}

/// A fragment value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    BadTarget(String),
    BadFlag { key: String, value: String },
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadTarget(t) => write!(
                f,
                "the link names target {t:?}, which is not a valid target name (letters, digits, '-', '_', '.')"
            ),
            Self::BadFlag { key, value } => {
                write!(f, "the link sets {key}={value:?}; use 1 or 0")
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn flag(key: &str, value: &str) -> Result<bool, SettingsError> {
    match value {
        "1" | "true" | "yes" | "" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(SettingsError::BadFlag {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
    }
}

impl Settings {
    /// Parses `#k=v&k=v` (the leading `#` is optional).
    pub fn from_fragment(fragment: &str) -> Result<Self, SettingsError> {
        let mut s = Settings {
            shared: true,
            ..Settings::default()
        };
        for pair in fragment
            .trim_start_matches('#')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (percent_decode(k), percent_decode(v));
            match k.as_str() {
                "target" => {
                    let ok = !v.is_empty()
                        && v.len() <= 64
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                    if !ok {
                        return Err(SettingsError::BadTarget(v));
                    }
                    s.target = Some(v);
                }
                "shared" => s.shared = flag(&k, &v)?,
                _ => s.unknown.push(k),
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fragment() {
        let s = Settings::from_fragment("#target=desk-1&shared=0&colour=blue").expect("valid");
        assert_eq!(s.target.as_deref(), Some("desk-1"));
        assert!(!s.shared);
        assert_eq!(s.unknown, vec!["colour".to_owned()]);
        assert_eq!(Settings::from_fragment("").expect("empty").target, None);
    }

    #[test]
    fn rejects_targets_that_could_change_the_path() {
        for bad in ["#target=../api", "#target=a%2Fb", "#target="] {
            assert!(
                matches!(
                    Settings::from_fragment(bad),
                    Err(SettingsError::BadTarget(_))
                ),
                "{bad}"
            );
        }
        assert!(Settings::from_fragment("#shared=maybe").is_err());
    }
}
