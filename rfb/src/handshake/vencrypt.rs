//! VeNCrypt (security type 19), byte by byte:
//!
//! 1. S→C `U8 major, U8 minor` (0.2); C→S the same version back.
//! 2. S→C `U8 ack`: **0 = OK**.
//! 3. S→C `U8 n`, `n × U32 subtype`; C→S `U32 chosen`.
//! 4. For TLS/X509 subtypes: S→C `U8 ack`: **1 = OK** (the opposite sense of step 2); TLS
//!    starts immediately after this byte and carries everything that follows.
//! 5. Sub-authentication (None / VNC challenge / Plain credentials), then a SecurityResult,
//!    which VeNCrypt always sends.

use super::{
    complete, AwaitCredentials, ExpectSecurityResult, ExpectVncChallenge, Handshake, Step, Version,
};
use crate::client::ClientConfig;
use crate::error::{Error, Stall};
use crate::security::{SecurityType, VeNCryptSubtype};
use crate::wire::Reader;

/// Each step keeps the RFB version, which still rules the SecurityResult at the end.
#[derive(Debug)]
pub struct ExpectVersion {
    pub(crate) version: Version,
}
#[derive(Debug)]
pub struct ExpectVersionAck {
    version: Version,
}
#[derive(Debug)]
pub struct ExpectSubtypes {
    version: Version,
}
#[derive(Debug)]
pub struct ExpectTlsAck {
    pub subtype: VeNCryptSubtype,
    version: Version,
}

impl ExpectVersion {
    pub(super) fn step(self, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<Step, Error> {
        let Some((major, minor)) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        if (major, minor) < (0, 2) {
            return Err(Error::Invalid {
                field: "VeNCrypt version",
                got: (u64::from(major) << 8) | u64::from(minor),
                why: "0.2 or later is required (0.1 is obsolete)",
            });
        }
        out.extend_from_slice(&[0, 2]);
        Ok(Step::Next(
            ExpectVersionAck {
                version: self.version,
            }
            .into(),
        ))
    }
}

impl ExpectVersionAck {
    pub(super) fn step(self, r: &mut Reader<'_>) -> Result<Step, Error> {
        let Some(ack) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        if ack != 0 {
            return Err(Error::VeNCryptRefused {
                what: "version ack",
                got: ack.into(),
            });
        }
        Ok(Step::Next(
            ExpectSubtypes {
                version: self.version,
            }
            .into(),
        ))
    }
}

impl ExpectSubtypes {
    pub(super) fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(offered) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        let chosen = choose_subtype(&offered, cfg)?;
        out.extend_from_slice(&chosen.to_u32().to_be_bytes());
        let version = self.version;
        Ok(Step::Next(match chosen {
            s if s.is_x509() => ExpectTlsAck {
                subtype: s,
                version,
            }
            .into(),
            VeNCryptSubtype::Classic(SecurityType::VncAuth) => {
                ExpectVncChallenge { version }.into()
            }
            // VeNCrypt always sends a SecurityResult, also after None.
            _ => ExpectSecurityResult { version }.into(),
        }))
    }
}

impl ExpectTlsAck {
    pub(super) fn step(
        self,
        r: &mut Reader<'_>,
        cfg: &ClientConfig,
        out: &mut Vec<u8>,
    ) -> Result<Step, Error> {
        let Some(ack) = complete(self.read(r))? else {
            return Ok(Step::Wait(self.into()));
        };
        if ack != 1 {
            return Err(Error::VeNCryptRefused {
                what: "TLS ack",
                got: ack.into(),
            });
        }
        let version = self.version;
        // What follows is sent inside TLS; the caller switches the transport first.
        Ok(Step::StartTls(match self.subtype {
            VeNCryptSubtype::X509Vnc => ExpectVncChallenge { version }.into(),
            VeNCryptSubtype::X509Plain => {
                Handshake::AwaitCredentials(AwaitCredentials::Plain { version }).resume(cfg, out)?
            }
            _ => ExpectSecurityResult { version }.into(),
        }))
    }
}

impl ExpectVersion {
    pub(crate) fn read(&self, r: &mut Reader<'_>) -> Result<(u8, u8), Stall> {
        Ok((r.u8()?, r.u8()?))
    }
}

impl ExpectVersionAck {
    pub(crate) fn read(&self, r: &mut Reader<'_>) -> Result<u8, Stall> {
        Ok(r.u8()?)
    }
}

impl ExpectSubtypes {
    pub(crate) fn read(&self, r: &mut Reader<'_>) -> Result<Vec<u32>, Stall> {
        let n = r.u8()?;
        if n == 0 {
            return Err(Error::VeNCryptRefused {
                what: "subtype count",
                got: 0,
            }
            .into());
        }
        (0..n).map(|_| r.u32().map_err(Stall::from)).collect()
    }
}

impl ExpectTlsAck {
    pub(crate) fn read(&self, r: &mut Reader<'_>) -> Result<u8, Stall> {
        Ok(r.u8()?)
    }
}

/// Picks the first subtype in the server's order that this client can complete with its
/// configuration, or says precisely what is missing.
pub fn choose_subtype(offered: &[u32], cfg: &ClientConfig) -> Result<VeNCryptSubtype, Error> {
    // When prompting, credentials can be asked for once the subtype is chosen.
    let has_password = cfg.password.is_some() || cfg.prompt_for_credentials;
    let has_user = (cfg.username.is_some() && cfg.password.is_some()) || cfg.prompt_for_credentials;
    let has_trust = cfg.tls_trust.is_some();
    // Trust that asks the person first is for when nothing else will do: a server that also
    // offers a subtype without certificates gets that one, as without any trust.
    let verified = cfg.tls_trust.as_ref().is_some_and(|t| !t.asks_first());
    let usable = |s: VeNCryptSubtype, x509: bool| match s {
        VeNCryptSubtype::X509None => x509,
        VeNCryptSubtype::X509Vnc => x509 && has_password,
        VeNCryptSubtype::X509Plain => x509 && has_user,
        VeNCryptSubtype::Classic(SecurityType::None) => true,
        VeNCryptSubtype::Classic(SecurityType::VncAuth) => has_password,
        _ => false,
    };
    let subtypes: Vec<VeNCryptSubtype> =
        offered.iter().map(|&v| VeNCryptSubtype::from(v)).collect();
    for x509 in [verified, has_trust] {
        if let Some(s) = subtypes.iter().copied().find(|s| usable(*s, x509)) {
            return Ok(s);
        }
    }
    let any = |f: fn(VeNCryptSubtype) -> bool| subtypes.iter().any(|s| f(*s));
    Err(if any(VeNCryptSubtype::is_x509) && !has_trust {
        Error::TlsTrustMissing {
            offered: offered.to_vec(),
        }
    } else if any(|s| matches!(s, VeNCryptSubtype::X509Plain)) && !has_user {
        Error::CredentialsRequired
    } else if any(|s| {
        matches!(
            s,
            VeNCryptSubtype::X509Vnc | VeNCryptSubtype::Classic(SecurityType::VncAuth)
        )
    }) {
        Error::PasswordRequired
    } else if any(VeNCryptSubtype::is_anonymous_tls) {
        Error::AnonymousTlsOnly {
            offered: offered.to_vec(),
        }
    } else {
        Error::NoSupportedSecurity {
            offered: offered
                .iter()
                .map(|&v| u8::try_from(v).unwrap_or(u8::MAX))
                .collect(),
        }
    })
}

/// Writes VeNCrypt Plain credentials: `U32 ulen, U32 plen, user, pass`.
pub fn write_plain(cfg: &ClientConfig, out: &mut Vec<u8>) -> Result<(), Error> {
    let user = cfg.username.as_deref().ok_or(Error::CredentialsRequired)?;
    let pass = cfg
        .password
        .as_ref()
        .ok_or(Error::CredentialsRequired)?
        .expose();
    for s in [user, pass] {
        let len = u32::try_from(s.len()).map_err(|_| Error::CredentialsRequired)?;
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(pass.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::Password;
    use crate::tls::TlsTrust;

    fn cfg(password: bool, trust: bool) -> ClientConfig {
        ClientConfig {
            password: password.then(|| Password::new("pw")),
            tls_trust: trust.then_some(TlsTrust::Pinned([0; 32])),
            ..ClientConfig::default()
        }
    }

    #[test]
    fn chooses_in_server_order_what_it_can_complete() {
        assert_eq!(
            choose_subtype(&[261, 2], &cfg(true, true)),
            Ok(VeNCryptSubtype::X509Vnc)
        );
        assert_eq!(
            choose_subtype(&[261, 2], &cfg(true, false)),
            Ok(VeNCryptSubtype::Classic(SecurityType::VncAuth))
        );
        assert_eq!(
            choose_subtype(&[260], &cfg(false, true)),
            Ok(VeNCryptSubtype::X509None)
        );
    }

    #[test]
    fn asking_first_is_for_servers_that_offer_only_certificates() {
        let ask = |password: bool| ClientConfig {
            password: password.then(|| Password::new("pw")),
            tls_trust: Some(TlsTrust::AskFirst),
            ..ClientConfig::default()
        };
        assert_eq!(
            choose_subtype(&[261, 2], &ask(true)),
            Ok(VeNCryptSubtype::Classic(SecurityType::VncAuth)),
            "what works without a certificate still comes first"
        );
        assert_eq!(
            choose_subtype(&[261, 260], &ask(false)),
            Ok(VeNCryptSubtype::X509None)
        );
        assert_eq!(
            choose_subtype(&[261, 260], &ask(true)),
            Ok(VeNCryptSubtype::X509Vnc)
        );
    }

    #[test]
    fn says_what_is_missing() {
        assert_eq!(
            choose_subtype(&[258], &cfg(true, true)),
            Err(Error::AnonymousTlsOnly { offered: vec![258] })
        );
        assert_eq!(
            choose_subtype(&[260, 258], &cfg(true, false)),
            Err(Error::TlsTrustMissing {
                offered: vec![260, 258]
            })
        );
        assert_eq!(
            choose_subtype(&[261], &cfg(false, true)),
            Err(Error::PasswordRequired)
        );
        assert_eq!(
            choose_subtype(&[262], &cfg(true, true)),
            Err(Error::CredentialsRequired)
        );
    }
}
