use std::sync::Arc;

use super::*;
use crate::otk::memory::MemoryStore;
use crate::otk::sqlite::SqliteStore;

const NOW: i64 = 1_700_000_000;

fn req(target: &str, ttl: u64, mode: Mode) -> KeyRequest {
    KeyRequest {
        target: target.into(),
        ttl_secs: ttl,
        mode,
        for_identity: None,
        created_by: "test".into(),
    }
}

fn put(store: &dyn OtkStore, r: &KeyRequest) -> Issued {
    let issued = issue(r, NOW).expect("random");
    store.insert(&issued.record).expect("insert");
    issued
}

struct Dir(std::path::PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(tag: &str) -> Dir {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("vncgate-otk-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    Dir(p)
}

/// The behaviour every store must have.
fn contract(store: &dyn OtkStore) {
    let a = put(store, &req("desk", 600, Mode::Full));
    assert_eq!(a.key.expose().len(), 43);
    assert!(!format!("{a:?}").contains(a.key.expose()), "Debug redacts");
    let found = store
        .find(&KeyHash::of(&a.key))
        .expect("find")
        .expect("there");
    assert_eq!(found, a.record);

    // Another target does not use the key up.
    assert_eq!(
        redeem(store, &a.key, "lab", None, None, NOW + 1),
        Err(KeyProblem::OtherTarget)
    );
    let g = redeem(store, &a.key, "desk", None, None, NOW + 1).expect("valid once");
    assert_eq!(
        (g.key_id.as_str(), g.mode),
        (a.record.id.as_str(), Mode::Full)
    );
    assert_eq!(
        redeem(store, &a.key, "desk", None, None, NOW + 2),
        Err(KeyProblem::Used)
    );

    let b = put(store, &req("desk", 60, Mode::ViewOnly));
    assert_eq!(
        redeem(store, &b.key, "desk", None, None, NOW + 60),
        Err(KeyProblem::Expired)
    );
    let unknown = issue(&req("desk", 60, Mode::Full), NOW)
        .expect("random")
        .key;
    assert_eq!(
        redeem(store, &unknown, "desk", None, None, NOW),
        Err(KeyProblem::Unknown)
    );

    let c = put(store, &req("desk", 60, Mode::Full));
    assert_eq!(
        store.revoke(&c.record.id, NOW + 1).expect("revoke"),
        Revoked::Revoked
    );
    assert_eq!(
        store.revoke(&c.record.id, NOW + 1).expect("again"),
        Revoked::NotPending
    );
    assert_eq!(
        store.revoke("0000000000000000", NOW).expect("none"),
        Revoked::NotFound
    );
    assert_eq!(
        redeem(store, &c.key, "desk", None, None, NOW + 2),
        Err(KeyProblem::Revoked)
    );
    assert_eq!(
        store.revoke(&a.record.id, NOW + 3).expect("used"),
        Revoked::NotPending
    );

    let mut forme = req("desk", 60, Mode::Full);
    forme.for_identity = Some("cn:alice".parse().expect("pattern"));
    let d = put(store, &forme);
    assert_eq!(
        redeem(store, &d.key, "desk", None, None, NOW + 1),
        Err(KeyProblem::NotForYou)
    );
    let alice = CertIdentity {
        subject: "CN=alice".into(),
        common_name: Some("alice".into()),
        emails: vec![],
        dns_names: vec![],
        fingerprint: certs::Fingerprint([0; 32]),
    };
    assert!(redeem(store, &d.key, "desk", Some(&alice), None, NOW + 1).is_ok());

    let all = store.list().expect("list");
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter().filter(|r| r.is_pending(NOW + 1)).count(),
        1,
        "b, until it expires"
    );
    assert_eq!(store.purge(NOW + 50).expect("purge"), 3, "ended before");
    assert_eq!(
        store.list().expect("list").len(),
        1,
        "the expired-at-60 one"
    );
}

#[test]
fn the_memory_store_keeps_the_contract() {
    contract(&MemoryStore::default());
}

#[test]
fn the_sqlite_store_keeps_the_contract_and_survives_reopening() {
    let d = dir("contract");
    let store = SqliteStore::open_in(&d.0).expect("open");
    contract(&store);
    let kept = put(&store, &req("desk", 600, Mode::ViewOnly));
    let used = put(&store, &req("desk", 600, Mode::Full));
    redeem(&store, &used.key, "desk", None, None, NOW + 1).expect("use");
    drop(store);
    let again = SqliteStore::open_in(&d.0).expect("reopen");
    assert_eq!(
        redeem(&again, &used.key, "desk", None, None, NOW + 2),
        Err(KeyProblem::Used),
        "a used key stays used"
    );
    let g = redeem(&again, &kept.key, "desk", None, None, NOW + 2).expect("kept");
    assert_eq!(g.mode, Mode::ViewOnly);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(again.path())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "not readable by others");
}

#[test]
fn of_simultaneous_uses_exactly_one_succeeds() {
    let d = dir("race");
    let sqlite: Arc<dyn OtkStore> = Arc::new(SqliteStore::open_in(&d.0).expect("open"));
    let second: Arc<dyn OtkStore> = Arc::new(SqliteStore::open_in(&d.0).expect("open twice"));
    let memory: Arc<dyn OtkStore> = Arc::new(MemoryStore::default());
    for (a, b) in [(sqlite.clone(), second), (memory.clone(), memory)] {
        for _ in 0..20 {
            let k = put(a.as_ref(), &req("desk", 600, Mode::Full));
            let wins: usize = std::thread::scope(|s| {
                let hs: Vec<_> = (0..4)
                    .map(|i| {
                        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                        let key = &k.key;
                        s.spawn(move || {
                            redeem(store.as_ref(), key, "desk", None, None, NOW + 1).is_ok()
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| usize::from(h.join().unwrap_or(false)))
                    .sum()
            });
            assert_eq!(wins, 1);
        }
    }
}

#[test]
fn links_ttls_and_hashes() {
    let k = issue(&req("desk", 600, Mode::ViewOnly), NOW).expect("random");
    assert_eq!(
        link("https://gw.example:8443/", &k.key, "desk", Mode::ViewOnly),
        format!(
            "https://gw.example:8443/#otk={}&target=desk&view_only=1",
            k.key.expose()
        )
    );
    assert!(k
        .key
        .expose()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(k.record.expires_at, NOW + 600);
    assert_eq!(k.record.id.len(), 16);
    assert_eq!(parse_ttl("10m"), Some(600));
    assert_eq!(parse_ttl("90"), Some(90));
    assert_eq!(parse_ttl("2h"), Some(7200));
    assert_eq!(parse_ttl("1d"), Some(86_400));
    for bad in ["", "0", "10x", "m", "31d", "-5"] {
        assert_eq!(parse_ttl(bad), None, "{bad}");
    }
    assert_ne!(KeyHash::of(&k.key).0, [0; 32]);
}
