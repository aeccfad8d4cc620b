//! SHA-256 certificate fingerprints: computed from DER, shown as colon-separated upper-case hex,
//! parsed back from hex with or without colons (a pin in a session file or on a command line).

use sha2::{Digest, Sha256};

use crate::{Catchphrase, Error};

/// The SHA-256 digest of a certificate's DER encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// The words a person reads aloud for this fingerprint.
    pub fn catchphrase(&self) -> Catchphrase {
        Catchphrase::of(self)
    }

    /// Lower-case hex without separators (64 digits).
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = Error;

    /// Accepts 64 hex digits in either case, optionally separated by `:` (as `openssl x509
    /// -fingerprint -sha256` prints them) and optionally prefixed with `sha256:` or `SHA256=`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let syntax = || Error::FingerprintSyntax {
            input: s.chars().take(120).collect(),
        };
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        let t = ["sha256:", "sha256=", "sha256 fingerprint="]
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower);
        let digits: Vec<u8> = t.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 {
            return Err(syntax());
        }
        let mut out = [0u8; 32];
        for (dst, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or_else(syntax)?;
            let lo = hex_value(pair[1]).ok_or_else(syntax)?;
            *dst = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

/// The value of one hex digit.
pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD";

    #[test]
    fn formats_as_colon_hex() {
        let fp = Fingerprint::of_der(b"abc");
        assert_eq!(fp.to_string(), ABC);
        assert_eq!(fp.to_hex(), ABC.replace(':', "").to_lowercase());
    }

    #[test]
    fn parses_the_forms_people_paste() {
        let fp = Fingerprint::of_der(b"abc");
        assert_eq!(ABC.parse::<Fingerprint>().ok(), Some(fp));
        assert_eq!(fp.to_hex().parse::<Fingerprint>().ok(), Some(fp));
        let openssl = format!("sha256 Fingerprint={ABC}");
        assert_eq!(openssl.parse::<Fingerprint>().ok(), Some(fp));
        assert_eq!(
            format!("  sha256:{}\n", fp.to_hex())
                .parse::<Fingerprint>()
                .ok(),
            Some(fp)
        );
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        for bad in [
            "",
            "ab",
            &ABC[..ABC.len() - 3],
            &ABC.replace('B', "G"),
            "é".repeat(64).as_str(),
        ] {
            let e = bad.parse::<Fingerprint>().expect_err(bad);
            assert!(e.to_string().contains("expected 32 bytes"), "{e}");
        }
    }
}
