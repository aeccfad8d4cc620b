//! Security types and VNC authentication (DES with RFB's bit-reversed key).

use des::cipher::{BlockEncrypt, KeyInit};

/// Security types this client implements (RFC 6143 §7.2 and the registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityType {
    None,
    VncAuth,
    VeNCrypt,
    Unknown(u8),
}

impl From<u8> for SecurityType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::None,
            2 => Self::VncAuth,
            19 => Self::VeNCrypt,
            other => Self::Unknown(other),
        }
    }
}

impl SecurityType {
    pub fn to_u8(self) -> u8 {
        match self {
            Self::None => 1,
            Self::VncAuth => 2,
            Self::VeNCrypt => 19,
            Self::Unknown(v) => v,
        }
    }
}

/// VeNCrypt subtypes (U32 on the wire). 263/264 follow QEMU, libvncserver and gtk-vnc, which
/// swap them relative to the community spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VeNCryptSubtype {
    /// An ordinary security type (< 256) offered inside VeNCrypt.
    Plain256,
    TlsNone,
    TlsVnc,
    TlsPlain,
    X509None,
    X509Vnc,
    X509Plain,
    X509Sasl,
    TlsSasl,
    Classic(SecurityType),
    Unknown(u32),
}

impl From<u32> for VeNCryptSubtype {
    fn from(v: u32) -> Self {
        match v {
            256 => Self::Plain256,
            257 => Self::TlsNone,
            258 => Self::TlsVnc,
            259 => Self::TlsPlain,
            260 => Self::X509None,
            261 => Self::X509Vnc,
            262 => Self::X509Plain,
            263 => Self::X509Sasl,
            264 => Self::TlsSasl,
            0..=255 => Self::Classic(SecurityType::from(v as u8)),
            other => Self::Unknown(other),
        }
    }
}

impl VeNCryptSubtype {
    pub fn to_u32(self) -> u32 {
        match self {
            Self::Plain256 => 256,
            Self::TlsNone => 257,
            Self::TlsVnc => 258,
            Self::TlsPlain => 259,
            Self::X509None => 260,
            Self::X509Vnc => 261,
            Self::X509Plain => 262,
            Self::X509Sasl => 263,
            Self::TlsSasl => 264,
            Self::Classic(t) => u32::from(t.to_u8()),
            Self::Unknown(v) => v,
        }
    }

    /// Whether TLS with a certificate (X509*) wraps the rest of the handshake.
    pub fn is_x509(self) -> bool {
        matches!(self, Self::X509None | Self::X509Vnc | Self::X509Plain)
    }

    pub fn is_anonymous_tls(self) -> bool {
        matches!(
            self,
            Self::TlsNone | Self::TlsVnc | Self::TlsPlain | Self::TlsSasl
        )
    }
}

/// A password. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The 16-byte response to a VNC-authentication challenge: each 8-byte half encrypted with
/// single DES, keyed by the password's first 8 bytes with every byte's bits reversed.
pub fn vnc_auth_response(challenge: &[u8; 16], password: &Password) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.expose().as_bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new(&key.into());
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        cipher.encrypt_block(half.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        let challenge: [u8; 16] = std::array::from_fn(|i| i as u8);
        for (pw, want) in [
            ("password", "b866924125c8eebb9debc1db61c538e2"),
            ("secret", "ee22539f33a5983ec12f9c2edbc995dd"),
            ("12345678abc", "83dd2b4dbd04367f28578fdd5b142740"),
        ] {
            assert_eq!(
                hex(&vnc_auth_response(&challenge, &Password::new(pw))),
                want,
                "{pw}"
            );
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        assert!(!format!("{:?}", Password::new("hunter2")).contains("hunter2"));
    }
}
