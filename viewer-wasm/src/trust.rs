//! How the VNC server's VeNCrypt certificate is trusted, and what to do when it is not.
//!
//! Order: CA data from the link (`ca=`), a pin from the link (`fingerprint=`), a pin the
//! person confirmed in this page or this browser remembered, none. With none, `rfb` trusts on
//! first use in the same connection ([`TlsTrust::AskFirst`]): for a server that offers only
//! X509 subtypes it completes the TLS handshake with whatever certificate is presented and
//! waits; the person compares its fingerprint and catchphrase with what the server's
//! administrator gave them and confirms, and the session goes on — one connection, so a
//! single-use key is enough — and the pin is remembered for (gateway origin, target). A
//! remembered pin that no longer matches is a [`Verdict::Changed`]: never continued with one
//! click. Pure.

use certs::Fingerprint;
use rfb::tls::CertRejection;
use rfb::{Error, TlsTrust};

use crate::settings::Settings;

/// Where the trust for one connection attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Nothing yet: the person is asked about the certificate the server presents.
    AskFirst,
    /// `ca=` from the link or session file.
    LinkCa,
    /// `fingerprint=` from the link or session file.
    LinkPin,
    /// A pin remembered on first use.
    Remembered(Fingerprint),
    /// A pin confirmed by the person in this page.
    Confirmed(Fingerprint),
}

/// The trust for one attempt, and a pin to check after a CA verified the chain (a link may
/// give both; then both must hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub trust: Option<TlsTrust>,
    pub source: Source,
    pub also_pin: Option<Fingerprint>,
}

/// What the link says, else what was confirmed or remembered, else ask on first use.
pub fn plan(
    settings: &Settings,
    confirmed: Option<Fingerprint>,
    remembered: Option<Fingerprint>,
) -> Plan {
    let pinned = |fp: Fingerprint, source| Plan {
        trust: Some(TlsTrust::Pinned(fp.0)),
        source,
        also_pin: None,
    };
    match (&settings.ca, settings.fingerprint) {
        (Some(ca), pin) => Plan {
            trust: Some(TlsTrust::Ca {
                roots: vec![ca.clone()],
                server_name: None,
            }),
            source: Source::LinkCa,
            also_pin: pin,
        },
        (None, Some(fp)) => pinned(fp, Source::LinkPin),
        (None, None) => match (confirmed, remembered) {
            (Some(fp), _) => pinned(fp, Source::Confirmed(fp)),
            (None, Some(fp)) => pinned(fp, Source::Remembered(fp)),
            (None, None) => Plan {
                trust: Some(TlsTrust::AskFirst),
                source: Source::AskFirst,
                also_pin: None,
            },
        },
    }
}

/// What a failed attempt means for trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The remembered certificate was replaced by this one: a loud warning.
    Changed {
        remembered: Fingerprint,
        presented: Fingerprint,
    },
    /// Not about first-use trust: show the error.
    Fail,
}

pub fn verdict(err: &Error, source: Source) -> Verdict {
    match (err, source) {
        (
            Error::CertificateRejected {
                why: CertRejection::PinMismatch { .. },
                sha256,
            },
            Source::Remembered(remembered),
        ) => Verdict::Changed {
            remembered,
            presented: Fingerprint(*sha256),
        },
        _ => Verdict::Fail,
    }
}

/// The `localStorage` key of the pin remembered for `target` behind the gateway at `origin`.
pub fn storage_key(origin: &str, target: &str) -> String {
    format!("vncgate.pin.v1 {origin} {target}")
}

/// A fingerprint as people compare it: colon hex in lines of 16 bytes, and the catchphrase.
pub fn describe(fp: &Fingerprint) -> (String, String) {
    (hex_lines(fp, 16), fp.catchphrase().to_string())
}

/// Colon hex of `fp`, `per_line` bytes to a line.
pub fn hex_lines(fp: &Fingerprint, per_line: usize) -> String {
    fp.0.chunks(per_line.max(1))
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint([b; 32])
    }

    #[test]
    fn link_trust_comes_first() {
        let mut s = Settings {
            fingerprint: Some(fp(1)),
            ..Settings::default()
        };
        let p = plan(&s, Some(fp(3)), Some(fp(2)));
        assert_eq!(p.trust, Some(TlsTrust::Pinned([1; 32])));
        assert_eq!(p.source, Source::LinkPin);
        s.ca = Some(vec![0x30]);
        let p = plan(&s, None, Some(fp(2)));
        assert!(matches!(p.trust, Some(TlsTrust::Ca { .. })));
        assert_eq!(p.also_pin, Some(fp(1)), "both must hold");
    }

    #[test]
    fn first_use_then_remembered() {
        let s = Settings::default();
        let first = plan(&s, None, None);
        assert_eq!(first.trust, Some(TlsTrust::AskFirst));
        assert_eq!(first.source, Source::AskFirst);
        assert_eq!(
            plan(&s, Some(fp(7)), Some(fp(9))).source,
            Source::Confirmed(fp(7)),
            "confirmed in this page: over an older remembered pin"
        );
        assert_eq!(
            plan(&s, None, Some(fp(9))).source,
            Source::Remembered(fp(9))
        );
        let seen = Error::CertificateRejected {
            why: CertRejection::PinMismatch {
                pinned: "00".into(),
            },
            sha256: [7; 32],
        };
        assert_eq!(
            verdict(&seen, Source::Remembered(fp(9))),
            Verdict::Changed {
                remembered: fp(9),
                presented: fp(7)
            }
        );
        assert_eq!(verdict(&seen, Source::LinkPin), Verdict::Fail);
        let missing = Error::TlsTrustMissing { offered: vec![260] };
        assert_eq!(verdict(&missing, Source::LinkCa), Verdict::Fail);
    }

    #[test]
    fn keys_and_words() {
        assert_eq!(
            storage_key("https://gw:8443", "desk"),
            "vncgate.pin.v1 https://gw:8443 desk"
        );
        let (hex, words) = describe(&fp(0xab));
        assert!(hex.starts_with("AB:AB:"), "{hex}");
        assert_eq!(hex.lines().map(str::len).collect::<Vec<_>>(), vec![47, 47]);
        assert_eq!(hex_lines(&fp(1), 8).lines().count(), 4);
        assert_eq!(hex.replace('\n', ":"), fp(0xab).to_string());
        assert_eq!(words.split(' ').count(), 8);
    }
}
