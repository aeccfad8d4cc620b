//! The access list (`[acl]` in the config file): which certificate holders may reach which
//! targets, with full control or view-only, and where their native VNC clients go. Without an
//! access list every certificate the client CA verifies may reach every target with full
//! control (as `x11vnc -sslverify CA` admits every certificate its CA signed).

use super::identity::{CertIdentity, Groups, Pattern};
use super::Mode;

/// The targets a rule grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSet {
    /// `"*"`: every configured target.
    All,
    Names(Vec<String>),
}

impl TargetSet {
    pub fn contains(&self, target: &str) -> bool {
        match self {
            Self::All => true,
            Self::Names(n) => n.iter().any(|t| t == target),
        }
    }
}

/// One `[[acl.allow]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub who: Vec<Pattern>,
    pub targets: TargetSet,
    pub mode: Mode,
    /// Where a native VNC client (stunnel, `ss_vncviewer`) of these people goes.
    pub default_target: Option<String>,
}

/// The whole access list. Rules add up: a person gets the most any matching rule grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub groups: Groups,
    pub rules: Vec<Rule>,
}

impl Acl {
    fn applies(&self, rule: &Rule, id: &CertIdentity) -> bool {
        rule.who.iter().any(|p| p.matches(id, &self.groups))
    }

    /// Whether `pattern` (which may be a group of this list) names `id`.
    pub fn names(&self, pattern: &Pattern, id: &CertIdentity) -> bool {
        pattern.matches(id, &self.groups)
    }

    /// How `id` may use `target`: the most any matching rule grants, `None` if no rule does.
    pub fn mode_for(&self, id: &CertIdentity, target: &str) -> Option<Mode> {
        self.rules
            .iter()
            .filter(|r| r.targets.contains(target) && self.applies(r, id))
            .map(|r| r.mode)
            .max()
    }

    /// The default target of the first matching rule (in file order) that names one.
    pub fn default_target(&self, id: &CertIdentity) -> Option<&str> {
        self.rules
            .iter()
            .filter(|r| self.applies(r, id))
            .find_map(|r| r.default_target.as_deref())
    }

    /// Every target of `all` that `id` may use, with how.
    pub fn targets_for<'a>(
        &self,
        id: &CertIdentity,
        all: impl Iterator<Item = &'a str>,
    ) -> Vec<(&'a str, Mode)> {
        all.filter_map(|t| self.mode_for(id, t).map(|m| (t, m)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certs::Fingerprint;

    fn id(cn: &str, email: &str) -> CertIdentity {
        CertIdentity {
            subject: format!("CN={cn}"),
            common_name: Some(cn.into()),
            emails: vec![email.into()],
            dns_names: vec![],
            fingerprint: Fingerprint([1; 32]),
        }
    }

    fn p(s: &str) -> Pattern {
        s.parse().expect("pattern")
    }

    fn acl() -> Acl {
        let mut groups = Groups::new();
        groups.insert(
            "ops".into(),
            vec![p("email:alice@example.com"), p("cn:bob")],
        );
        Acl {
            groups,
            rules: vec![
                Rule {
                    who: vec![p("*")],
                    targets: TargetSet::Names(vec!["lobby".into()]),
                    mode: Mode::ViewOnly,
                    default_target: None,
                },
                Rule {
                    who: vec![p("group:ops")],
                    targets: TargetSet::All,
                    mode: Mode::Full,
                    default_target: Some("desk".into()),
                },
                Rule {
                    who: vec![p("cn:carol")],
                    targets: TargetSet::Names(vec!["desk".into()]),
                    mode: Mode::ViewOnly,
                    default_target: Some("desk".into()),
                },
            ],
        }
    }

    #[test]
    fn rules_add_up_and_the_most_wins() {
        let a = acl();
        let alice = id("alice", "alice@example.com");
        let carol = id("carol", "carol@example.com");
        let eve = id("eve", "eve@example.com");
        assert_eq!(a.mode_for(&alice, "lobby"), Some(Mode::Full));
        assert_eq!(a.mode_for(&alice, "lab"), Some(Mode::Full));
        assert_eq!(a.mode_for(&carol, "desk"), Some(Mode::ViewOnly));
        assert_eq!(a.mode_for(&carol, "lab"), None);
        assert_eq!(a.mode_for(&eve, "lobby"), Some(Mode::ViewOnly));
        assert_eq!(a.mode_for(&eve, "desk"), None);
        assert_eq!(a.default_target(&alice), Some("desk"));
        assert_eq!(a.default_target(&id("bob", "b@x")), Some("desk"));
        assert_eq!(a.default_target(&eve), None);
        let all = ["desk", "lab", "lobby"];
        assert_eq!(
            a.targets_for(&carol, all.into_iter()),
            vec![("desk", Mode::ViewOnly), ("lobby", Mode::ViewOnly)]
        );
    }
}
