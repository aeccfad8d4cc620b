//! Authentication settings: the client CA and its CRLs, the access list, the admins of the
//! one-time-key API, whether anyone may list targets — parsed from `[auth]` and `[acl]` in the
//! file and from flags, then checked against the targets into one [`Access`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Origin, Targets};
use crate::auth::acl::{Acl, Rule, TargetSet};
use crate::auth::client_ca::{ClientAuth, ClientCaFiles};
use crate::auth::identity::{Groups, Pattern, PatternProblem};
use crate::auth::Mode;

/// How people are authenticated and what they may reach (besides `--danger-no-auth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Client certificates: the CA bundle, the CRLs, required or optional.
    pub client_ca: Option<ClientCaFiles>,
    /// Without one, every verified certificate may reach every target with full control.
    pub acl: Option<Acl>,
    /// Certificate holders who may use the one-time-key API.
    pub admins: Vec<Pattern>,
    /// A file holding the bearer token of the one-time-key API.
    pub admin_token_file: Option<PathBuf>,
    /// Whether `GET /api/targets` lists the targets to callers with no certificate or key.
    pub anonymous_target_list: bool,
}

/// What is wrong in the access list or the admin list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclProblem {
    #[error("{given:?}: {problem}")]
    Pattern {
        given: String,
        problem: PatternProblem,
    },
    #[error("there is no target named {0:?}; list configured targets or \"*\"")]
    UnknownTarget(String),
    #[error("default_target {0:?} is not among this rule's targets")]
    DefaultNotGranted(String),
    #[error("expected mode \"full\" or \"view-only\", got {0:?}")]
    Mode(String),
    #[error("`who` is empty: name people with cn:, email:, dns:, sha256:, group: or *")]
    NobodyNamed,
}

/// `[auth]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    pub client_ca: Option<PathBuf>,
    pub crl: Option<OneOrMany>,
    pub client_auth: Option<String>,
    pub admins: Option<Vec<String>>,
    pub admin_token_file: Option<PathBuf>,
    pub anonymous_target_list: Option<bool>,
}

/// A path or a list of paths.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<PathBuf> {
        match self {
            Self::One(p) => vec![p],
            Self::Many(v) => v,
        }
    }
}

/// `[acl]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSection {
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub allow: Vec<AllowSection>,
}

/// One `[[acl.allow]]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowSection {
    pub who: Vec<String>,
    pub targets: Vec<String>,
    pub mode: Option<String>,
    pub default_target: Option<String>,
}

fn pattern(s: &str, groups: Option<&Groups>) -> Result<Pattern, AclProblem> {
    let bad = |problem| AclProblem::Pattern {
        given: s.to_owned(),
        problem,
    };
    let p: Pattern = s.parse().map_err(bad)?;
    if let Pattern::Group(g) = &p {
        match groups {
            None => return Err(bad(PatternProblem::NestedGroup)),
            Some(gs) if !gs.contains_key(g) => {
                return Err(bad(PatternProblem::UnknownGroup(g.clone())))
            }
            Some(_) => {}
        }
    }
    Ok(p)
}

/// Checks the written access list against the targets.
pub fn acl(section: AclSection, targets: &Targets, origin: &Origin) -> Result<Acl, ConfigError> {
    let err = |key: String, problem| ConfigError::Acl {
        origin: sub_origin(origin, &key),
        problem,
    };
    let mut groups = Groups::new();
    for (name, members) in &section.groups {
        let list = members
            .iter()
            .map(|m| pattern(m, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|p| err(format!("groups.{name}"), p))?;
        groups.insert(name.clone(), list);
    }
    let mut rules = Vec::new();
    for (i, a) in section.allow.into_iter().enumerate() {
        let key = format!("allow[{i}]");
        let e = |p| err(key.clone(), p);
        if a.who.is_empty() {
            return Err(e(AclProblem::NobodyNamed));
        }
        let who = a
            .who
            .iter()
            .map(|w| pattern(w, Some(&groups)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        let set = if a.targets.iter().any(|t| t == "*") {
            TargetSet::All
        } else {
            for t in &a.targets {
                if targets.get(t).is_none() {
                    return Err(e(AclProblem::UnknownTarget(t.clone())));
                }
            }
            TargetSet::Names(a.targets)
        };
        let mode = match a.mode.as_deref() {
            None => Mode::Full,
            Some(m) => Mode::parse(m).ok_or_else(|| e(AclProblem::Mode(m.to_owned())))?,
        };
        if let Some(d) = &a.default_target {
            if targets.get(d).is_none() {
                return Err(e(AclProblem::UnknownTarget(d.clone())));
            }
            if !set.contains(d) {
                return Err(e(AclProblem::DefaultNotGranted(d.clone())));
            }
        }
        rules.push(Rule {
            who,
            targets: set,
            mode,
            default_target: a.default_target,
        });
    }
    Ok(Acl { groups, rules })
}

/// Parses the admin patterns (groups of `acl` allowed).
pub fn admins(
    list: &[String],
    acl: Option<&Acl>,
    origin: &Origin,
) -> Result<Vec<Pattern>, ConfigError> {
    let empty = Groups::new();
    let groups = acl.map_or(&empty, |a| &a.groups);
    list.iter()
        .map(|s| {
            pattern(s, Some(groups)).map_err(|problem| ConfigError::Acl {
                origin: origin.clone(),
                problem,
            })
        })
        .collect()
}

fn sub_origin(origin: &Origin, key: &str) -> Origin {
    match origin {
        Origin::File { path, key: k } => Origin::File {
            path: path.clone(),
            key: format!("{k}.{key}"),
        },
        other => other.clone(),
    }
}

/// How the layers' authentication settings become one [`Access`].
impl super::Layer {
    /// The client CA, CRLs, access list and admins, checked against `targets`.
    pub(super) fn access(&mut self, targets: &Targets) -> Result<Access, ConfigError> {
        let needs_ca = |origin: &Origin| ConfigError::NeedsClientCa {
            origin: origin.clone(),
        };
        let client_ca = match self.client_ca.take() {
            Some((ca, _)) => Some(ClientCaFiles {
                ca,
                crls: self.crls.take().map(|(c, _)| c).unwrap_or_default(),
                mode: self
                    .client_auth
                    .take()
                    .map_or(ClientAuth::Required, |(m, _)| m),
            }),
            None => {
                let given = [
                    self.crls.as_ref().map(|c| &c.1),
                    self.client_auth.as_ref().map(|c| &c.1),
                    self.acl.as_ref().map(|c| &c.1),
                ]
                .into_iter()
                .flatten()
                .next();
                if let Some(origin) = given {
                    return Err(needs_ca(origin));
                }
                None
            }
        };
        let acl = match self.acl.take() {
            Some((section, origin)) => Some(acl(section, targets, &origin)?),
            None => None,
        };
        let admins = match self.admins.take() {
            Some((list, origin)) => admins(&list, acl.as_ref(), &origin)?,
            None => Vec::new(),
        };
        Ok(Access {
            client_ca,
            acl,
            admins,
            admin_token_file: self.admin_token_file.take(),
            anonymous_target_list: self.anonymous_target_list.unwrap_or(false),
        })
    }
}

/// `--client-auth` / `client_auth`.
pub fn client_auth(s: &str) -> Option<ClientAuth> {
    ClientAuth::parse(s)
}
