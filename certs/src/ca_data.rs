//! CA data: a CA certificate written as one line of text, for a URL fragment, a session file or
//! a command line.
//!
//! Two encodings of the certificate's DER:
//! - `base64:` followed by standard base64 (RFC 4648 §4, with padding) — what [`encode_base64`]
//!   writes, shorter;
//! - plain hex, either case — [`encode_hex`].
//!
//! [`decode`] also accepts URL-safe base64 (`-`/`_`, §5) and missing padding after `base64:`,
//! since a URL fragment may have been rewritten on the way, and it accepts data whose decoded
//! bytes are a PEM file rather than DER (tools that hex-encode the `.pem` file produce that).
//! Whatever the input, the result is the DER of one certificate, checked to parse.

use base64::Engine as _;
use rustls_pki_types::CertificateDer;

use crate::error::CaDataProblem;
use crate::fingerprint::hex_value;
use crate::Error;

/// The prefix that marks base64 CA data.
pub const BASE64_PREFIX: &str = "base64:";

/// The longest CA data accepted, in characters: a certificate of up to 16 KiB, hex-encoded.
pub const MAX_CA_DATA_CHARS: usize = 32 * 1024;

/// `base64:` + standard base64 of `der`.
pub fn encode_base64(der: &[u8]) -> String {
    let mut s = String::from(BASE64_PREFIX);
    base64::engine::general_purpose::STANDARD.encode_string(der, &mut s);
    s
}

/// `base64:` + URL-safe base64 without padding of `der`: the form for a link's fragment, where
/// `+`, `/` and `=` may be rewritten. [`decode`] reads it like the standard form.
pub fn encode_base64_url(der: &[u8]) -> String {
    let mut s = String::from(BASE64_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(der, &mut s);
    s
}

/// Lower-case hex of `der`.
pub fn encode_hex(der: &[u8]) -> String {
    let mut s = String::with_capacity(der.len() * 2);
    for b in der {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Decodes CA data (see the module docs) into the DER of one certificate.
pub fn decode(text: &str) -> Result<CertificateDer<'static>, Error> {
    let fail = |problem| Error::CaData { problem };
    let text = text.trim();
    if text.is_empty() {
        return Err(fail(CaDataProblem::Empty));
    }
    if text.len() > MAX_CA_DATA_CHARS {
        return Err(fail(CaDataProblem::TooLong {
            got: text.len(),
            max: MAX_CA_DATA_CHARS,
        }));
    }
    let bytes = match text.strip_prefix(BASE64_PREFIX) {
        Some(b64) => decode_base64(b64).map_err(fail)?,
        None => decode_hex(text).map_err(fail)?,
    };
    let der = if bytes.starts_with(b"-----BEGIN") {
        let certs = crate::pem::certificates("CA data", &bytes).map_err(|e| {
            fail(CaDataProblem::NotACertificate {
                detail: e.to_string(),
            })
        })?;
        certs.into_iter().next().ok_or_else(|| {
            fail(CaDataProblem::NotACertificate {
                detail: "no certificate in the PEM data".to_owned(),
            })
        })?
    } else {
        CertificateDer::from(bytes)
    };
    crate::inspect::CertInfo::parse("CA data", der.as_ref()).map_err(|e| {
        fail(CaDataProblem::NotACertificate {
            detail: match e {
                Error::Certificate { detail, .. } => detail,
                other => other.to_string(),
            },
        })
    })?;
    Ok(der)
}

fn decode_base64(b64: &str) -> Result<Vec<u8>, CaDataProblem> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let url_safe = b64.contains(['-', '_']);
    let engine = if url_safe {
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient)
    } else {
        GeneralPurpose::new(&base64::alphabet::STANDARD, lenient)
    };
    // A fragment may have been percent-encoded on the way (`=` → `%3D`).
    let unescaped = b64.replace("%3D", "=").replace("%3d", "=");
    engine
        .decode(unescaped.as_bytes())
        .map_err(|e| CaDataProblem::Base64 {
            detail: e.to_string(),
        })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, CaDataProblem> {
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return Err(CaDataProblem::Hex {
            position: digits.len(),
        });
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let digit = |j: usize| {
            pair.get(j)
                .copied()
                .and_then(hex_value)
                .ok_or(CaDataProblem::Hex {
                    position: 2 * i + j + 1,
                })
        };
        out.push((digit(0)? << 4) | digit(1)?);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small real certificate (made once with rcgen; any DER certificate works here).
    pub(crate) fn sample_der() -> Vec<u8> {
        let pem = include_str!("../tests/data/sample-ca.pem");
        crate::pem::certificates("sample", pem.as_bytes())
            .expect("sample")
            .remove(0)
            .to_vec()
    }

    #[test]
    fn both_encodings_round_trip() {
        let der = sample_der();
        let b64 = encode_base64(&der);
        assert!(b64.starts_with("base64:"));
        assert_eq!(decode(&b64).expect("base64").as_ref(), der.as_slice());
        let hex = encode_hex(&der);
        assert_eq!(decode(&hex).expect("hex").as_ref(), der.as_slice());
        assert_eq!(
            decode(&hex.to_uppercase()).expect("HEX").as_ref(),
            der.as_slice()
        );
    }

    #[test]
    fn url_safe_unpadded_and_escaped_base64_are_accepted() {
        let der = sample_der();
        let url = encode_base64_url(&der);
        assert!(!url.contains(['+', '/', '=']), "{url}");
        let decoded = decode(&url).expect("url-safe");
        assert_eq!(decoded.as_ref(), der.as_slice());
        let escaped = encode_base64(&der).replace('=', "%3D");
        assert_eq!(decode(&escaped).expect("escaped").as_ref(), der.as_slice());
    }

    #[test]
    fn hex_of_a_pem_file_is_accepted() {
        let der = sample_der();
        let pem = crate::pem::encode("CERTIFICATE", &der);
        let decoded = decode(&encode_hex(pem.as_bytes())).expect("pem in hex");
        assert_eq!(decoded.as_ref(), der.as_slice());
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        type Check = fn(&CaDataProblem) -> bool;
        let cases: [(&str, Check); 5] = [
            ("  ", |p| *p == CaDataProblem::Empty),
            ("abc", |p| matches!(p, CaDataProblem::Hex { position: 3 })),
            ("0g", |p| matches!(p, CaDataProblem::Hex { position: 2 })),
            ("base64:***", |p| matches!(p, CaDataProblem::Base64 { .. })),
            ("00ff", |p| {
                matches!(p, CaDataProblem::NotACertificate { .. })
            }),
        ];
        for (input, check) in cases {
            match decode(input) {
                Err(Error::CaData { problem }) => assert!(check(&problem), "{input}: {problem}"),
                other => panic!("{input}: {other:?}"),
            }
        }
        let long = "a".repeat(MAX_CA_DATA_CHARS + 2);
        assert!(matches!(
            decode(&long),
            Err(Error::CaData {
                problem: CaDataProblem::TooLong { .. }
            })
        ));
    }

    #[test]
    fn every_prefix_of_valid_data_fails_cleanly_or_decodes() {
        let b64 = encode_base64(&sample_der());
        for end in 0..b64.len() {
            let _ = decode(&b64[..end]);
        }
    }
}
