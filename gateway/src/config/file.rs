//! The TOML config file (`--config FILE`): read, checked key by key, turned into a [`Layer`].
//! Relative paths in it are relative to the file's folder. Reading it opens no socket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::auth::{client_auth, AclSection, AuthSection};
use super::backend::TargetTable;
use super::cidr::Cidr;
use super::limits::LimitsLayer;
use super::targets::{parse_target_addr, valid_target_name, TargetProblem};
use super::{ConfigError, Layer, Origin, Problem};

/// The file as written. Every key is optional; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    state_dir: Option<PathBuf>,
    web_root: Option<PathBuf>,
    danger_no_auth: Option<bool>,
    native_vnc_target: Option<String>,
    danger_allow_plain_vnc: Option<String>,
    native_vnc_auth: Option<Vec<String>>,
    proxy_protocol_from: Option<Vec<String>>,
    metrics_from: Option<Vec<String>>,
    audit_log: Option<PathBuf>,
    public_url: Option<String>,
    allow_origins: Option<Vec<String>>,
    web_root_csp: Option<String>,
    store: Option<String>,
    store_ca: Option<PathBuf>,
    instance: Option<String>,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    auth: AuthSection,
    acl: Option<AclSection>,
    recording: Option<super::recording::RecordingSection>,
    #[serde(default)]
    targets: BTreeMap<String, TargetEntry>,
    #[serde(default)]
    limits: LimitsLayer,
    #[serde(default)]
    acme: crate::acme::settings::AcmeArgs,
}

/// `name = "HOST:PORT"`, or a table with `address` and how the gateway logs in.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TargetEntry {
    Address(String),
    Table(Box<TargetTable>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    key_passphrase_file: Option<PathBuf>,
    #[serde(default)]
    names: Vec<String>,
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Layer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::FileRead {
        path: path.to_owned(),
        error,
    })?;
    parse(path, &text)
}

/// Checks the text of a config file; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Layer, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::FileSyntax {
        path: path.to_owned(),
        detail: e.to_string().trim_end().to_owned(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
    let origin = |key: &str| Origin::File {
        path: path.to_owned(),
        key: key.to_owned(),
    };
    let invalid = |key: &str, given: &str, problem: Problem| ConfigError::Invalid {
        origin: origin(key),
        given: given.to_owned(),
        problem,
    };

    let mut layer = Layer {
        state_dir: file.state_dir.map(rel),
        web_root: file.web_root.map(rel),
        danger_no_auth: file.danger_no_auth,
        cert: file.tls.cert.map(rel),
        key: file.tls.key.map(rel),
        key_passphrase_file: file.tls.key_passphrase_file.map(rel),
        names: file.tls.names,
        limits: file.limits,
        audit_log: file.audit_log.map(rel),
        admin_token_file: file.auth.admin_token_file.map(rel),
        anonymous_target_list: file.auth.anonymous_target_list,
        acme: file.acme.relative_to(base),
        ..Layer::default()
    };
    if let Some(ca) = file.auth.client_ca {
        layer.client_ca = Some((rel(ca), origin("auth.client_ca")));
    }
    if let Some(crl) = file.auth.crl {
        layer.crls = Some((
            crl.into_vec().into_iter().map(rel).collect(),
            origin("auth.crl"),
        ));
    }
    if let Some(m) = file.auth.client_auth {
        let mode =
            client_auth(&m).ok_or_else(|| invalid("auth.client_auth", &m, Problem::ClientAuth))?;
        layer.client_auth = Some((mode, origin("auth.client_auth")));
    }
    if let Some(a) = file.auth.admins {
        layer.admins = Some((a, origin("auth.admins")));
    }
    if let Some(acl) = file.acl {
        layer.acl = Some((acl, origin("acl")));
    }
    if let Some(l) = file.listen {
        layer.listen = Some(
            l.parse()
                .map_err(|_| invalid("listen", &l, Problem::ListenSyntax))?,
        );
    }
    for (name, entry) in file.targets {
        let key = format!("targets.{name}");
        if !valid_target_name(&name) {
            return Err(invalid(&key, &name, Problem::Target(TargetProblem::Name)));
        }
        let addr = match &entry {
            TargetEntry::Address(a) => a.clone(),
            TargetEntry::Table(t) => t.address.clone(),
        };
        let parsed =
            parse_target_addr(&addr).map_err(|p| invalid(&key, &addr, Problem::Target(p)))?;
        if let TargetEntry::Table(t) = &entry {
            if let Some(login) = t
                .login(rel)
                .map_err(|p| invalid(&key, &name, Problem::Backend(p)))?
            {
                layer.logins.push((name.clone(), login));
            }
        }
        layer.targets.push((name, parsed, origin(&key)));
    }
    if let Some(n) = file.native_vnc_target {
        layer.native_vnc_target = Some((n, origin("native_vnc_target")));
    }
    if let Some(mut section) = file.recording {
        section.dir = section.dir.map(rel);
        layer.recording = Some((section, origin("recording")));
    }
    if let Some(list) = file.native_vnc_auth {
        let o = origin("native_vnc_auth");
        let parsed = super::parse_native_auth(&list).map_err(|problem| ConfigError::Invalid {
            origin: o.clone(),
            given: list.join(","),
            problem,
        })?;
        layer.native_vnc_auth = Some((parsed, o));
    }
    if let Some(n) = file.danger_allow_plain_vnc {
        layer.danger_allow_plain_vnc = Some((n, origin("danger_allow_plain_vnc")));
    }
    let cidrs = |key: &str, list: Vec<String>| -> Result<Vec<Cidr>, ConfigError> {
        list.iter()
            .map(|s| s.parse().map_err(|e| invalid(key, s, Problem::Cidr(e))))
            .collect()
    };
    if let Some(list) = file.proxy_protocol_from {
        layer.proxy_protocol_from = Some(cidrs("proxy_protocol_from", list)?);
    }
    if let Some(list) = file.metrics_from {
        layer.metrics_from = Some(cidrs("metrics_from", list)?);
    }
    if let Some(u) = file.store {
        layer.store = Some(
            super::store::StoreConfig::from_url(&u, file.store_ca.map(rel))
                .map_err(|p| invalid("store", &super::store::redacted(&u), p.into()))?,
        );
    } else if let Some(ca) = &file.store_ca {
        return Err(invalid(
            "store_ca",
            &ca.display().to_string(),
            super::store::StoreProblem::CaWithoutTls.into(),
        ));
    }
    if let Some(i) = file.instance {
        layer.instance = Some(super::parse_instance(&i).map_err(|p| invalid("instance", &i, p))?);
    }
    if let Some(u) = file.public_url {
        layer.public_url =
            Some(super::PublicUrl::parse(&u).map_err(|p| invalid("public_url", &u, p.into()))?);
    }
    if let Some(list) = file.allow_origins {
        layer.allow_origins = Some(
            list.iter()
                .map(|o| {
                    super::WebOrigin::parse(o).map_err(|p| invalid("allow_origins", o, p.into()))
                })
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(c) = file.web_root_csp {
        layer.web_root_csp =
            Some(super::web::parse_csp(&c).map_err(|p| invalid("web_root_csp", &c, p.into()))?);
    }
    layer.limits_origin = Some(origin("limits"));
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
listen = "0.0.0.0:8443"
state_dir = "state"
danger_no_auth = true
native_vnc_target = "desk"
proxy_protocol_from = ["10.0.0.0/8", "::1"]

[tls]
cert = "/etc/vncgate/fullchain.pem"
key = "key.pem"

[targets]
desk = "127.0.0.1:5901"
lab = "[::1]:5902"

[limits]
max_connections = 100
"#;

    #[test]
    fn reads_the_example() {
        let l = parse(Path::new("/etc/vncgate/vncgate.toml"), EXAMPLE).expect("valid");
        assert_eq!(l.listen.map(|a| a.port()), Some(8443));
        assert_eq!(l.state_dir, Some(PathBuf::from("/etc/vncgate/state")));
        assert_eq!(l.key, Some(PathBuf::from("/etc/vncgate/key.pem")));
        assert_eq!(l.cert, Some(PathBuf::from("/etc/vncgate/fullchain.pem")));
        assert_eq!(l.targets.len(), 2);
        assert_eq!(l.limits.max_connections, Some(100));
        assert_eq!(l.proxy_protocol_from.map(|v| v.len()), Some(2));
    }

    #[test]
    fn reads_authentication_the_access_list_and_target_logins() {
        let text = r#"
audit_log = "audit.jsonl"
[targets]
desk = "127.0.0.1:5901"
[targets.vm]
address = "127.0.0.1:5902"
password_env = "VM_PASSWORD"
[auth]
client_ca = "ca.pem"
crl = "crl.pem"
client_auth = "optional"
admins = ["group:ops"]
admin_token_file = "token"
[acl.groups]
ops = ["email:alice@example.com"]
[[acl.allow]]
who = ["group:ops"]
targets = ["*"]
default_target = "vm"
[[acl.allow]]
who = ["*"]
targets = ["desk"]
mode = "view-only"
"#;
        let c = parse(Path::new("/etc/vncgate/v.toml"), text)
            .expect("valid")
            .into_config("/s".into())
            .expect("fits together");
        let ca = c.access.client_ca.expect("client CA");
        assert_eq!(ca.ca, PathBuf::from("/etc/vncgate/ca.pem"));
        assert_eq!(ca.crls, vec![PathBuf::from("/etc/vncgate/crl.pem")]);
        assert_eq!(ca.mode, crate::auth::client_ca::ClientAuth::Optional);
        assert_eq!(c.access.acl.map(|a| a.rules.len()), Some(2));
        assert_eq!(c.access.admins.len(), 1);
        assert_eq!(c.audit_log, Some(PathBuf::from("/etc/vncgate/audit.jsonl")));
        assert!(c.logins.contains_key("vm") && !c.logins.contains_key("desk"));
        assert_eq!(c.targets.get("vm").map(|t| t.port), Some(5902));
    }

    #[test]
    fn authentication_errors_say_what_to_do() {
        let p = Path::new("/etc/v.toml");
        let err = |text: &str| match parse(p, text) {
            Err(e) => e.to_string(),
            Ok(l) => l.into_config("/s".into()).expect_err("invalid").to_string(),
        };
        let e = err("[auth]\ncrl = \"crl.pem\"");
        assert!(e.contains("auth.crl") && e.contains("--client-ca"), "{e}");
        let e = err("[auth]\nclient_ca = \"c\"\nclient_auth = \"maybe\"");
        assert!(e.contains("\"required\" or \"optional\""), "{e}");
        let e = err("[targets]\nd = \"h:1\"\n[auth]\nclient_ca = \"c\"\n[[acl.allow]]\nwho = [\"cn:a\"]\ntargets = [\"lab\"]");
        assert!(e.contains("acl.allow[0]") && e.contains("\"lab\""), "{e}");
        let e = err("[targets]\nd = \"h:1\"\n[auth]\nclient_ca = \"c\"\n[[acl.allow]]\nwho = [\"group:x\"]\ntargets = [\"d\"]");
        assert!(e.contains("no group \"x\""), "{e}");
        let e = err("[targets.vm]\naddress = \"h:1\"\nusername = \"u\"");
        assert!(
            e.contains("targets.vm") && e.contains("needs a password"),
            "{e}"
        );
        let e = err("[targets.vm]\naddress = \"h:1\"\npassword = \"inline\"");
        assert!(e.contains("targets"), "passwords are never inline: {e}");
    }

    #[test]
    fn reads_the_fleet_store_and_instance_name() {
        let p = Path::new("/etc/vncgate/vncgate.toml");
        let text = "store = \"rediss://:pw@10.0.0.20:6380/1\"\nstore_ca = \"redis-ca.pem\"\ninstance = \"gw-a\"\n";
        let c = parse(p, text)
            .expect("valid")
            .into_config("/s".into())
            .expect("valid");
        match &c.store {
            crate::config::store::StoreConfig::Redis { url, ca } => {
                assert_eq!(url.to_string(), "rediss://:***@10.0.0.20:6380/1");
                assert_eq!(ca.as_deref(), Some(Path::new("/etc/vncgate/redis-ca.pem")));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.instance.as_deref(), Some("gw-a"));
        let c = parse(p, "")
            .expect("valid")
            .into_config("/s".into())
            .expect("valid");
        assert_eq!(c.store, crate::config::store::StoreConfig::Sqlite);
        let err = |text: &str| parse(p, text).expect_err("invalid").to_string();
        let e = err("store = \"http://10.0.0.20\"\n");
        assert!(e.contains("key store") && e.contains("redis://"), "{e}");
        let e = err("store_ca = \"ca.pem\"\n");
        assert!(e.contains("key store_ca") && e.contains("rediss://"), "{e}");
        let e = err("store = \"redis://u:s3cret@h:99999/0\"\n");
        assert!(e.contains("u:***@h") && !e.contains("s3cret"), "{e}");
        let e = err("instance = \"a b\"\n");
        assert!(e.contains("key instance"), "{e}");
    }

    #[test]
    fn reads_acme_settings_and_lets_flags_override_them() {
        let text = r#"
[acme]
domains = ["vnc.example.org", "*.vnc.example.org"]
email = "ops@example.org"
staging = true
dns_rfc2136 = "ns1.example.org"
tsig_key = "missing-tsig.key"
dns_resolver = "127.0.0.1:5353"
renew_before = "20d"
"#;
        let layer = parse(Path::new("/etc/vncgate/v.toml"), text).expect("valid");
        assert_eq!(
            layer.acme.tsig_key,
            Some(PathBuf::from("/etc/vncgate/missing-tsig.key")),
            "relative to the file"
        );
        assert_eq!(
            layer.acme.acme_renew_before,
            Some(std::time::Duration::from_secs(20 * 86_400))
        );
        // The key file is read when the settings are checked: its absence is reported.
        let e = layer
            .into_config("/s".into())
            .expect_err("no key file")
            .to_string();
        assert!(
            e.starts_with("--tsig-key /etc/vncgate/missing-tsig.key: cannot read it")
                && e.contains("[acme]"),
            "{e}"
        );

        // Flags naming another provider replace the file's (and its key); others add to it.
        let file = parse(Path::new("/etc/vncgate/v.toml"), text).expect("valid");
        let flags = Layer {
            acme: crate::acme::settings::AcmeArgs {
                dns_hook: Some("/usr/local/bin/hook".into()),
                acme_directory: Some("https://ca.internal/dir".into()),
                ..Default::default()
            },
            ..Layer::default()
        };
        let c = file
            .overridden_by(flags)
            .into_config("/s".into())
            .expect("valid")
            .acme
            .expect("acme on");
        assert_eq!(c.directory, "https://ca.internal/dir");
        assert_eq!(c.domains.len(), 2);
        let crate::acme::ChallengeConfig::Dns01(dns) = c.challenge else {
            panic!("dns-01 expected")
        };
        assert!(matches!(
            dns.provider,
            crate::acme::config::DnsProvider::Hook { .. }
        ));

        let e = parse(
            Path::new("/v.toml"),
            "[acme]
domain = \"x.org\"",
        )
        .expect_err("typo");
        assert!(e.to_string().contains("unknown field `domain`"), "{e}");
        let e = parse(
            Path::new("/v.toml"),
            "[acme]
renew_before = \"3w\"",
        )
        .expect_err("unit");
        assert!(e.to_string().contains("the unit is s, m, h or d"), "{e}");
        let e = parse(
            Path::new("/v.toml"),
            "[acme]
challenge = \"http-01\"",
        )
        .expect_err("kind");
        assert!(e.to_string().contains("dns-01"), "{e}");
        let e = parse(
            Path::new("/v.toml"),
            "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[acme]\ndomains = [\"a.org\"]",
        )
        .expect("parses")
        .into_config("/s".into())
        .expect_err("both");
        assert!(e.to_string().contains("use one of them"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let p = Path::new("/etc/vncgate.toml");
        let e = parse(p, "listen = \"nope\"").expect_err("bad listen");
        let s = e.to_string();
        assert!(
            s.contains("/etc/vncgate.toml") && s.contains("listen"),
            "{s}"
        );
        let e = parse(p, "[targets]\ndesk = \"127.0.0.1\"").expect_err("no port");
        assert!(e.to_string().contains("targets.desk"), "{e}");
        let e = parse(p, "[limits]\nmax_conections = 3").expect_err("typo");
        let s = e.to_string();
        assert!(
            s.contains("/etc/vncgate.toml") && s.contains("max_conections"),
            "{s}"
        );
        let e = parse(p, "proxy_protocol_from = [\"10.0.0.1/8\"]").expect_err("host bits");
        assert!(e.to_string().contains("10.0.0.0/8"), "{e}");
        let e = parse(p, "danger_no_auth = \"yes\"").expect_err("type");
        assert!(e.to_string().contains("danger_no_auth"), "{e}");
    }
}
