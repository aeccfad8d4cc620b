//! One source of settings — the TOML file or the flags — parsed but not yet combined
//! ([`Layer`]); laying one over the other; and [`Layer::into_config`], which checks how the
//! values fit together and makes the one [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::auth::client_ca as auth_client_auth;

use super::{
    AclSection, AuthMode, BackendLogin, Cidr, CidrSet, Config, ConfigError, LimitsLayer, NativeVnc,
    Origin, TargetAddr, Targets, TlsSource, DEFAULT_LISTEN,
};

/// One source of settings (the file, or the flags), parsed but not yet combined.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub listen: Option<SocketAddr>,
    pub targets: Vec<(String, TargetAddr, Origin)>,
    /// Logins of targets (from the file's target tables).
    pub logins: Vec<(String, BackendLogin)>,
    pub state_dir: Option<PathBuf>,
    pub names: Vec<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub key_passphrase_file: Option<PathBuf>,
    pub web_root: Option<PathBuf>,
    pub danger_no_auth: Option<bool>,
    pub native_vnc_target: Option<(String, Origin)>,
    pub danger_allow_plain_vnc: Option<(String, Origin)>,
    /// `--native-vnc-auth`, parsed; empty: off.
    pub native_vnc_auth: Option<(Vec<super::NativeAuth>, Origin)>,
    /// Recording settings, and where the last of them came from.
    pub recording: Option<(super::recording::RecordingSection, Origin)>,
    pub proxy_protocol_from: Option<Vec<Cidr>>,
    pub metrics_from: Option<Vec<Cidr>>,
    pub limits: LimitsLayer,
    /// Where `limits` came from (the file's `[limits]`, or `--limit`).
    pub limits_origin: Option<Origin>,
    pub client_ca: Option<(PathBuf, Origin)>,
    pub crls: Option<(Vec<PathBuf>, Origin)>,
    pub client_auth: Option<(auth_client_auth::ClientAuth, Origin)>,
    pub acl: Option<(AclSection, Origin)>,
    pub admins: Option<(Vec<String>, Origin)>,
    pub admin_token_file: Option<PathBuf>,
    pub anonymous_target_list: Option<bool>,
    pub audit_log: Option<PathBuf>,
    /// The ACME settings as given (checked in [`Layer::into_config`]).
    pub acme: crate::acme::settings::AcmeArgs,
    pub public_url: Option<super::PublicUrl>,
    pub allow_origins: Option<Vec<super::WebOrigin>>,
    pub web_root_csp: Option<String>,
    /// `--store` / `store` (with `--store-ca` / `store_ca`), checked.
    pub store: Option<super::store::StoreConfig>,
    pub instance: Option<String>,
}

impl Layer {
    /// `self` (the file) with every value given in `over` (the flags) taking precedence.
    /// Targets of the same name are replaced; lists given in `over` replace whole lists.
    pub fn overridden_by(self, over: Layer) -> Layer {
        let mut targets = self.targets;
        targets.retain(|(n, _, _)| !over.targets.iter().any(|(o, _, _)| o == n));
        // A target given again replaces its login too.
        let mut logins = self.logins;
        logins.retain(|(n, _)| !over.targets.iter().any(|(o, _, _)| o == n));
        logins.extend(over.logins);
        targets.extend(over.targets);
        let limits_origin = if over.limits == LimitsLayer::default() {
            self.limits_origin
        } else {
            over.limits_origin
        };
        Layer {
            listen: over.listen.or(self.listen),
            targets,
            logins,
            state_dir: over.state_dir.or(self.state_dir),
            names: if over.names.is_empty() {
                self.names
            } else {
                over.names
            },
            // The certificate files go together: a pair from the flags replaces the file's.
            cert: over
                .cert
                .clone()
                .or(if over.key.is_some() { None } else { self.cert }),
            key: over
                .key
                .clone()
                .or(if over.cert.is_some() { None } else { self.key }),
            key_passphrase_file: over.key_passphrase_file.or(
                if over.cert.is_some() || over.key.is_some() {
                    None
                } else {
                    self.key_passphrase_file
                },
            ),
            web_root: over.web_root.or(self.web_root),
            danger_no_auth: over.danger_no_auth.or(self.danger_no_auth),
            native_vnc_target: over.native_vnc_target.or(self.native_vnc_target),
            danger_allow_plain_vnc: over.danger_allow_plain_vnc.or(self.danger_allow_plain_vnc),
            native_vnc_auth: over.native_vnc_auth.or(self.native_vnc_auth),
            recording: match (self.recording, over.recording) {
                (Some((base, _)), Some((over, origin))) => Some((base.overridden_by(over), origin)),
                (base, over) => over.or(base),
            },
            proxy_protocol_from: over.proxy_protocol_from.or(self.proxy_protocol_from),
            metrics_from: over.metrics_from.or(self.metrics_from),
            limits: self.limits.overridden_by(&over.limits),
            limits_origin,
            client_ca: over.client_ca.or(self.client_ca),
            crls: over.crls.or(self.crls),
            client_auth: over.client_auth.or(self.client_auth),
            acl: over.acl.or(self.acl),
            admins: over.admins.or(self.admins),
            admin_token_file: over.admin_token_file.or(self.admin_token_file),
            anonymous_target_list: over.anonymous_target_list.or(self.anonymous_target_list),
            audit_log: over.audit_log.or(self.audit_log),
            acme: self.acme.overridden_by(over.acme),
            public_url: over.public_url.or(self.public_url),
            allow_origins: over.allow_origins.or(self.allow_origins),
            web_root_csp: over.web_root_csp.or(self.web_root_csp),
            store: over.store.or(self.store),
            instance: over.instance.or(self.instance),
        }
    }

    /// Checks how the values fit together; `default_state_dir` is used when none is given.
    pub fn into_config(mut self, default_state_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut targets = Targets::default();
        let mut seen = std::collections::BTreeSet::new();
        for (name, addr, origin) in std::mem::take(&mut self.targets) {
            if !seen.insert(name.clone()) {
                return Err(ConfigError::TargetDuplicate { origin, name });
            }
            targets.insert(name, addr);
        }
        let access = self.access(&targets)?;
        let logins = std::mem::take(&mut self.logins).into_iter().collect();
        let tls = match (self.cert, self.key) {
            (Some(cert), Some(key)) => {
                if !self.names.is_empty() {
                    return Err(ConfigError::NamesWithCert);
                }
                TlsSource::Files {
                    cert,
                    key,
                    key_passphrase_file: self.key_passphrase_file,
                }
            }
            (Some(_), None) => {
                return Err(ConfigError::CertPair {
                    given: "--cert",
                    missing: "--key",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::CertPair {
                    given: "--key",
                    missing: "--cert",
                })
            }
            (None, None) if self.key_passphrase_file.is_some() => {
                return Err(ConfigError::PassphraseWithoutKey)
            }
            (None, None) => TlsSource::SelfSigned { names: self.names },
        };
        let auth = if self.danger_no_auth == Some(true) {
            AuthMode::DangerNone
        } else {
            AuthMode::Required
        };
        let known = |t: Option<(String, Origin)>| -> Result<Option<String>, ConfigError> {
            match t {
                Some((name, origin)) if targets.get(&name).is_none() => {
                    Err(ConfigError::UnknownTarget { origin, name })
                }
                other => Ok(other.map(|(n, _)| n)),
            }
        };
        if let Some((_, origin)) = &self.danger_allow_plain_vnc {
            if auth != AuthMode::DangerNone {
                return Err(ConfigError::PlainVncNeedsNoAuth {
                    origin: origin.clone(),
                });
            }
        }
        let vencrypt = match self.native_vnc_auth {
            Some((list, origin)) => {
                if list.contains(&super::NativeAuth::Certificate) && access.client_ca.is_none() {
                    return Err(ConfigError::NeedsClientCa { origin });
                }
                list
            }
            None if access.client_ca.is_some() => {
                vec![
                    super::NativeAuth::Certificate,
                    super::NativeAuth::OneTimeKey,
                ]
            }
            None => vec![super::NativeAuth::OneTimeKey],
        };
        let native_vnc = NativeVnc {
            in_tls: known(self.native_vnc_target)?,
            danger_plain: known(self.danger_allow_plain_vnc)?,
            vencrypt,
        };
        let recording = match self.recording.take() {
            None => None,
            Some((section, origin)) => {
                let given = section
                    .dir
                    .as_ref()
                    .map_or_else(String::new, |d| d.display().to_string());
                super::recording::resolve(section, |t| targets.get(t).is_some()).map_err(
                    |problem| ConfigError::Invalid {
                        origin,
                        given,
                        problem: problem.into(),
                    },
                )?
            }
        };
        let acme = std::mem::take(&mut self.acme).into_config()?;
        if acme.is_some() && matches!(tls, TlsSource::Files { .. }) {
            return Err(ConfigError::AcmeWithCert);
        }
        if self.web_root_csp.is_some() && self.web_root.is_none() {
            return Err(ConfigError::CspWithoutWebRoot);
        }
        let web = super::Web {
            public_url: self.public_url.take(),
            allow_origins: self.allow_origins.take().unwrap_or_default(),
            web_root_csp: self.web_root_csp.take(),
        };
        let limits = self
            .limits
            .resolve()
            .map_err(|error| ConfigError::LimitRange {
                origin: self.limits_origin.unwrap_or(Origin::Flag("--limit")),
                error,
            })?;
        Ok(Config {
            listen: self.listen.unwrap_or(DEFAULT_LISTEN),
            targets,
            logins,
            state_dir: self.state_dir.unwrap_or(default_state_dir),
            tls,
            web_root: self.web_root,
            auth,
            access,
            audit_log: self.audit_log,
            native_vnc,
            proxy_protocol_from: CidrSet(self.proxy_protocol_from.unwrap_or_default()),
            metrics_from: self.metrics_from.map_or_else(CidrSet::loopback, CidrSet),
            limits,
            acme,
            web,
            store: self.store.unwrap_or_default(),
            instance: self.instance,
            recording,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{file, parse_target};
    use std::path::Path;

    fn flags_target(spec: &str) -> (String, TargetAddr, Origin) {
        let (n, a) = parse_target(spec).expect("valid target");
        (n, a, Origin::Flag("--target"))
    }

    #[test]
    fn flags_override_the_file() {
        let file = file::parse(
            Path::new("/etc/v.toml"),
            "listen = \"0.0.0.0:443\"\n[targets]\ndesk = \"10.0.0.1:5900\"\nlab = \"10.0.0.2:5900\"\n[limits]\nmax_connections = 5",
        )
        .expect("valid");
        let flags = Layer {
            targets: vec![flags_target("desk=127.0.0.1:5901")],
            limits: LimitsLayer::parse_flag("max_connections=7").expect("valid"),
            ..Layer::default()
        };
        let c = file
            .overridden_by(flags)
            .into_config("/state".into())
            .expect("valid");
        assert_eq!(c.listen.port(), 443);
        assert_eq!(c.targets.get("desk").map(|t| t.port), Some(5901));
        assert_eq!(c.targets.get("lab").map(|t| t.port), Some(5900));
        assert_eq!(c.limits.max_connections, 7);
        assert_eq!(c.state_dir, PathBuf::from("/state"));
        assert_eq!(c.auth, AuthMode::Required);
        assert_eq!(c.tls, TlsSource::SelfSigned { names: vec![] });
        assert!(c.metrics_from.contains("127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn native_viewers_get_what_is_configured_certificates_first() {
        use crate::config::{parse_native_auth, NativeAuth};
        let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            parse_native_auth(&list("one-time-key,certificate")),
            Ok(vec![NativeAuth::Certificate, NativeAuth::OneTimeKey])
        );
        assert_eq!(parse_native_auth(&list("off")), Ok(vec![]));
        for bad in ["off,certificate", "password", ""] {
            assert!(parse_native_auth(&list(bad)).is_err(), "{bad}");
        }
        let c = Layer::default().into_config("/s".into()).expect("valid");
        assert_eq!(c.native_vnc.vencrypt, vec![NativeAuth::OneTimeKey]);
        let e = Layer {
            native_vnc_auth: Some((
                vec![NativeAuth::Certificate],
                Origin::Flag("--native-vnc-auth"),
            )),
            ..Layer::default()
        }
        .into_config("/s".into())
        .expect_err("no client CA")
        .to_string();
        assert!(
            e.contains("--native-vnc-auth") && e.contains("--client-ca"),
            "{e}"
        );
    }

    #[test]
    fn cross_checks_say_what_to_do() {
        let with = |l: Layer| l.into_config("/s".into()).expect_err("invalid").to_string();
        let e = with(Layer {
            cert: Some("c.pem".into()),
            ..Layer::default()
        });
        assert!(e.contains("--cert is given without --key"), "{e}");
        let e = with(Layer {
            native_vnc_target: Some(("desk".into(), Origin::Flag("--native-vnc-target"))),
            ..Layer::default()
        });
        assert!(
            e.contains("--native-vnc-target") && e.contains("--target desk="),
            "{e}"
        );
        let e = with(Layer {
            targets: vec![flags_target("desk=h:1")],
            danger_allow_plain_vnc: Some(("desk".into(), Origin::Flag("--danger-allow-plain-vnc"))),
            ..Layer::default()
        });
        assert!(e.contains("--danger-no-auth"), "{e}");
        let e = with(Layer {
            targets: vec![flags_target("a=h:1"), flags_target("a=h:2")],
            ..Layer::default()
        });
        assert!(e.contains("twice"), "{e}");
        let e = with(Layer {
            limits: LimitsLayer::parse_flag("max_connections=0").expect("parses"),
            limits_origin: Some(Origin::Flag("--limit")),
            ..Layer::default()
        });
        assert_eq!(e, "--limit: max_connections = 0: must be from 1 to 1048576");
    }

    #[test]
    fn a_cert_pair_from_flags_replaces_the_files() {
        let file = Layer {
            cert: Some("/f/c.pem".into()),
            key: Some("/f/k.pem".into()),
            key_passphrase_file: Some("/f/pass".into()),
            ..Layer::default()
        };
        let flags = Layer {
            cert: Some("/x/c.pem".into()),
            key: Some("/x/k.pem".into()),
            ..Layer::default()
        };
        let c = file
            .overridden_by(flags)
            .into_config("/s".into())
            .expect("valid");
        assert_eq!(
            c.tls,
            TlsSource::Files {
                cert: "/x/c.pem".into(),
                key: "/x/k.pem".into(),
                key_passphrase_file: None
            }
        );
    }
}
