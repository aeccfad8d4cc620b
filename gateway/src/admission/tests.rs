use super::*;
use crate::auth::acl::{Acl, Rule, TargetSet};
use crate::auth::client_ca::{ClientAuth, ClientCaFiles};
use crate::config::parse_target;

fn targets() -> Targets {
    let mut t = Targets::default();
    for spec in ["desk=127.0.0.1:5901", "lab=127.0.0.1:5902"] {
        let (n, a) = parse_target(spec).expect("valid");
        t.insert(n, a);
    }
    t
}

fn alice() -> CertIdentity {
    CertIdentity {
        subject: "CN=alice".into(),
        common_name: Some("alice".into()),
        emails: vec!["alice@example.com".into()],
        dns_names: vec![],
        fingerprint: certs::Fingerprint([1; 32]),
    }
}

fn with_ca(acl: Option<Acl>) -> Access {
    Access {
        client_ca: Some(ClientCaFiles {
            ca: "ca.pem".into(),
            crls: vec![],
            mode: ClientAuth::Optional,
        }),
        acl,
        ..Access::default()
    }
}

fn ask(
    auth: AuthMode,
    access: &Access,
    target: &str,
    cert: Option<CertIdentity>,
    key: KeyCheck,
) -> Admission {
    let identity = PeerIdentity { client_cert: cert };
    decide(
        auth,
        access,
        &targets(),
        &AdmissionRequest {
            client: "192.0.2.1:4000".parse().expect("addr"),
            via: Via::WebSocket,
            target,
            identity: &identity,
            key: &key,
        },
    )
}

fn route(a: Admission) -> Route {
    match a {
        Admission::Allow(r) => r,
        Admission::Refuse { refusal, .. } => panic!("refused: {}", refusal.reason()),
    }
}

fn refusal(a: Admission) -> Refusal {
    match a {
        Admission::Refuse { refusal, .. } => refusal,
        Admission::Allow(r) => panic!("allowed: {r:?}"),
    }
}

#[test]
fn only_configured_targets_and_danger_lets_everyone_in() {
    let r = route(ask(
        AuthMode::DangerNone,
        &Access::default(),
        "desk",
        None,
        KeyCheck::NotPresented,
    ));
    assert_eq!((r.name.as_str(), r.mode), ("desk", Mode::Full));
    assert_eq!(r.who.to_string(), "anonymous");
    for auth in [AuthMode::DangerNone, AuthMode::Required] {
        let r = refusal(ask(
            auth,
            &with_ca(None),
            "127.0.0.1:22",
            Some(alice()),
            KeyCheck::NotPresented,
        ));
        assert_eq!(
            r,
            Refusal::UnknownTarget {
                name: "127.0.0.1:22".into()
            }
        );
    }
}

#[test]
fn unknown_targets_are_not_told_apart_from_known_ones_before_authentication() {
    for access in [Access::default(), with_ca(None)] {
        for key in [
            KeyCheck::NotPresented,
            KeyCheck::Refused {
                problem: KeyProblem::Unknown,
                key_id: None,
            },
        ] {
            let known = refusal(ask(AuthMode::Required, &access, "desk", None, key.clone()));
            let unknown = refusal(ask(AuthMode::Required, &access, "nosuch", None, key));
            assert_eq!(known, unknown);
            assert_eq!(known.reason(), unknown.reason());
            assert!(!unknown.reason().contains("nosuch"), "{}", unknown.reason());
        }
    }
    // A verified certificate holder may learn that a name is not a target.
    assert_eq!(
        refusal(ask(
            AuthMode::Required,
            &with_ca(None),
            "nosuch",
            Some(alice()),
            KeyCheck::NotPresented
        )),
        Refusal::UnknownTarget {
            name: "nosuch".into()
        }
    );
}

#[test]
fn a_refusal_names_who_asked() {
    let who = |a: Admission| match a {
        Admission::Refuse { who, .. } => who,
        Admission::Allow(r) => panic!("allowed: {r:?}"),
    };
    let w = who(ask(
        AuthMode::Required,
        &with_ca(None),
        "desk",
        Some(alice()),
        KeyCheck::Refused {
            problem: KeyProblem::Used,
            key_id: Some("00112233aabbccdd".into()),
        },
    ));
    assert_eq!(w.subject.as_deref(), Some("CN=alice"));
    assert_eq!(w.key_id.as_deref(), Some("00112233aabbccdd"));
    let acl = Acl::default();
    let w = who(ask(
        AuthMode::Required,
        &with_ca(Some(acl)),
        "desk",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(w.to_string(), "CN=alice");
}

#[test]
fn nothing_presented_is_refused() {
    assert_eq!(
        refusal(ask(
            AuthMode::Required,
            &Access::default(),
            "desk",
            None,
            KeyCheck::NotPresented
        )),
        Refusal::NoAuthConfigured
    );
    assert_eq!(
        refusal(ask(
            AuthMode::Required,
            &with_ca(None),
            "desk",
            None,
            KeyCheck::NotPresented
        )),
        Refusal::CredentialsMissing
    );
}

#[test]
fn a_key_decides_alone() {
    let grant = |target: &str, mode| {
        KeyCheck::Valid(Grant {
            key_id: "00aa".into(),
            target: target.into(),
            mode,
        })
    };
    let r = route(ask(
        AuthMode::Required,
        &Access::default(),
        "desk",
        None,
        grant("desk", Mode::ViewOnly),
    ));
    assert_eq!(r.mode, Mode::ViewOnly);
    assert_eq!(r.who.to_string(), "key 00aa");
    let r = route(ask(
        AuthMode::Required,
        &with_ca(None),
        "desk",
        Some(alice()),
        grant("desk", Mode::ViewOnly),
    ));
    assert_eq!(
        r.mode,
        Mode::ViewOnly,
        "the key's mode, not the certificate's"
    );
    assert_eq!(r.who.to_string(), "CN=alice with key 00aa");
    assert_eq!(
        refusal(ask(
            AuthMode::Required,
            &Access::default(),
            "lab",
            None,
            grant("desk", Mode::Full)
        )),
        Refusal::Key(KeyProblem::OtherTarget)
    );
    let bad = refusal(ask(
        AuthMode::Required,
        &with_ca(None),
        "desk",
        Some(alice()),
        KeyCheck::Refused {
            problem: KeyProblem::Used,
            key_id: Some("00bb".into()),
        },
    ));
    assert_eq!(bad, Refusal::Key(KeyProblem::Used));
    assert!(bad.is_failed_authentication());
    assert!(bad.reason().contains("already used"));
}

#[test]
fn certificates_follow_the_access_list() {
    let r = route(ask(
        AuthMode::Required,
        &with_ca(None),
        "lab",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(
        r.mode,
        Mode::Full,
        "no access list: every verified certificate"
    );
    let acl = Acl {
        groups: Default::default(),
        rules: vec![Rule {
            who: vec!["email:alice@example.com".parse().expect("p")],
            targets: TargetSet::Names(vec!["desk".into()]),
            mode: Mode::ViewOnly,
            default_target: Some("desk".into()),
        }],
    };
    let access = with_ca(Some(acl));
    let r = route(ask(
        AuthMode::Required,
        &access,
        "desk",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(r.mode, Mode::ViewOnly);
    let no = refusal(ask(
        AuthMode::Required,
        &access,
        "lab",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(
        no,
        Refusal::NotAllowed {
            who: "alice@example.com".into(),
            target: "lab".into()
        }
    );
    assert!(!no.is_failed_authentication());
    let native = NativeVnc {
        in_tls: Some("lab".into()),
        ..NativeVnc::default()
    };
    let who = PeerIdentity {
        client_cert: Some(alice()),
    };
    assert_eq!(
        native_target(&access, &native, &who).as_deref(),
        Some("desk")
    );
    assert_eq!(
        native_target(&access, &native, &PeerIdentity::default()).as_deref(),
        Some("lab")
    );
}

#[test]
fn refusal_reasons_fit_a_close_frame() {
    let all = [
        Refusal::UnknownTarget {
            name: "é".repeat(500),
        },
        Refusal::NoAuthConfigured,
        Refusal::CredentialsMissing,
        Refusal::NotAllowed {
            who: "x".repeat(300),
            target: "y".repeat(300),
        },
        Refusal::LockedOut {
            retry_after_secs: u64::MAX,
        },
        Refusal::NoDefaultTarget,
        Refusal::Key(KeyProblem::NotForYou),
        Refusal::Key(KeyProblem::StoreUnavailable),
        Refusal::Key(KeyProblem::Used),
    ];
    for r in all {
        assert!(
            r.reason().len() <= 123,
            "{} bytes: {}",
            r.reason().len(),
            r.reason()
        );
    }
    assert!(Refusal::NoAuthConfigured
        .reason()
        .contains("no authentication configured"));
}

#[test]
fn a_reload_ends_only_the_sessions_its_rules_no_longer_admit() {
    let only = |mode| {
        with_ca(Some(Acl {
            groups: Default::default(),
            rules: vec![Rule {
                who: vec!["email:alice@example.com".parse().expect("p")],
                targets: TargetSet::Names(vec!["desk".into()]),
                mode,
                default_target: None,
            }],
        }))
    };
    let client = "192.0.2.1:4000".parse().expect("addr");
    let again = |auth, access: &Access, targets: &Targets, r: &Route| {
        recheck(auth, access, targets, r, client, Via::WebSocket).map(|r| r.reason)
    };
    let full = only(Mode::Full);
    let by_cert = route(ask(
        AuthMode::Required,
        &full,
        "desk",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(by_cert.basis, Basis::Certificate(alice()));
    assert_eq!(again(AuthMode::Required, &full, &targets(), &by_cert), None);
    // The target moved: the session stays where it is.
    let mut moved = targets();
    let (n, a) = parse_target("desk=127.0.0.1:6000").expect("valid");
    moved.insert(n, a);
    assert_eq!(again(AuthMode::Required, &full, &moved, &by_cert), None);
    assert_eq!(
        again(
            AuthMode::Required,
            &only(Mode::ViewOnly),
            &targets(),
            &by_cert
        )
        .as_deref(),
        Some("ended by a configuration change: access to 'desk' is now view-only: connect again")
    );
    let nobody = with_ca(Some(Acl {
        groups: Default::default(),
        rules: vec![],
    }));
    assert_eq!(
        again(AuthMode::Required, &nobody, &targets(), &by_cert).as_deref(),
        Some("ended by a configuration change: alice@example.com may no longer use 'desk'")
    );
    // A view-only session stays under a rule that now gives full control.
    let view = route(ask(
        AuthMode::Required,
        &only(Mode::ViewOnly),
        "desk",
        Some(alice()),
        KeyCheck::NotPresented,
    ));
    assert_eq!(again(AuthMode::Required, &full, &targets(), &view), None);

    // A key's grant stands whatever the access list says; only its target's removal ends it.
    let grant = Grant {
        key_id: "k1".into(),
        target: "desk".into(),
        mode: Mode::Full,
    };
    let by_key = route(ask(
        AuthMode::Required,
        &nobody,
        "desk",
        None,
        KeyCheck::Valid(grant.clone()),
    ));
    assert_eq!(by_key.basis, Basis::Key(grant));
    assert_eq!(
        again(AuthMode::Required, &nobody, &targets(), &by_key),
        None
    );
    let mut fewer = Targets::default();
    let (n, a) = parse_target("lab=127.0.0.1:5902").expect("valid");
    fewer.insert(n, a);
    assert_eq!(
        again(AuthMode::Required, &nobody, &fewer, &by_key).as_deref(),
        Some("ended by a configuration change: target 'desk' was removed")
    );

    // --danger-no-auth taken away: the anonymous sessions end.
    let anyone = route(ask(
        AuthMode::DangerNone,
        &Access::default(),
        "lab",
        None,
        KeyCheck::NotPresented,
    ));
    assert_eq!(anyone.basis, Basis::NoAuth);
    let reason = again(AuthMode::Required, &Access::default(), &targets(), &anyone).expect("ended");
    assert!(
        reason.contains("authentication is now required"),
        "{reason}"
    );
    assert!(reason.len() <= 123, "fits a close frame: {}", reason.len());
    // The longest names still fit.
    let long = "x".repeat(200);
    let (n, a) = parse_target(&format!("{}=127.0.0.1:5900", "t".repeat(60))).expect("valid");
    let mut t = Targets::default();
    t.insert(n.clone(), a.clone());
    let mut someone = alice();
    someone.emails = vec![format!("{long}@example.com")];
    someone.common_name = Some(long);
    let r = Route {
        name: n,
        addr: a,
        mode: Mode::Full,
        who: Principal::default(),
        basis: Basis::Certificate(someone),
        generation: 0,
    };
    let reason = again(AuthMode::Required, &nobody, &t, &r).expect("ended");
    assert!(
        reason.len() <= 123,
        "fits a close frame: {} {reason}",
        reason.len()
    );
}
