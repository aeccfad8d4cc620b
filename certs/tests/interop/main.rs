//! Interoperability of what `certs` writes with the programs that read it: OpenSSL (always),
//! rustls (the gateway's verifier), and — when installed — QEMU, x11vnc with Xvnc, and NSS.
//! A test whose program is missing says so on stderr and passes.
//!
//! Every test builds its own PKI in a scratch directory through the library API:
//! root `ca`, intermediate `sub` (path length 0), server `web` (by `sub`, for `web.test` and
//! 127.0.0.1) and client `alice` (by `ca`).

mod openssl;
mod rustls_verify;
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use certs::fs::Overwrite;
use certs::generate::key::{KeyType, Passphrase};
use certs::generate::profile::{Profile, San};
use certs::generate::store::authority::{NewCa, NewCert, Signing};
use certs::generate::store::{Name, Store};

/// A scratch PKI, removed on drop.
pub struct Pki {
    pub dir: PathBuf,
    pub store: Store,
    /// A file holding [`PASS`] on its first line.
    pub pass_file: PathBuf,
}

pub const PASS: &str = "interop pass phrase";

impl Pki {
    pub fn new(tag: &str) -> Self {
        // Unique within this process too: two tests may one day pick the same tag.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("certs-interop-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(dir.join("store"));
        let now = SystemTime::now();
        store
            .init_ca(&NewCa {
                common_name: "Interop Root".into(),
                days: 365,
                path_len: None,
                key_type: KeyType::EcdsaP256,
                passphrase: None,
                overwrite: Overwrite::Refuse,
                now,
            })
            .expect("init-ca");
        let pki = Self {
            pass_file: dir.join("pass.txt"),
            dir,
            store,
        };
        std::fs::write(&pki.pass_file, format!("{PASS}\n")).expect("pass file");
        pki.issue(
            "sub",
            Profile::IntermediateCa {
                common_name: "Interop Sub".into(),
                path_len: 0,
            },
            "ca",
            KeyType::EcdsaP256,
        );
        pki.issue(
            "web",
            server(&["web.test", "127.0.0.1"]),
            "sub",
            KeyType::EcdsaP256,
        );
        pki.issue(
            "alice",
            Profile::Client {
                common_name: "alice".into(),
                email: Some("alice@example.com".into()),
            },
            "ca",
            KeyType::EcdsaP256,
        );
        pki
    }

    pub fn issue(&self, name: &str, profile: Profile, ca: &str, key_type: KeyType) {
        self.store
            .issue(&NewCert {
                name: Name::parse(name).expect("name"),
                profile,
                days: 30,
                signing: Signing::Ca {
                    name: Name::parse(ca).expect("ca"),
                    passphrase: None,
                },
                key_type,
                key_passphrase: None,
                overwrite: Overwrite::Refuse,
                now: SystemTime::now(),
            })
            .unwrap_or_else(|e| panic!("issue {name}: {e}"));
    }

    /// A file of the store, as a string for command lines.
    pub fn file(&self, name: &str) -> String {
        self.store.dir().join(name).display().to_string()
    }

    /// A scratch path outside the store.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn pass(&self) -> Passphrase {
        Passphrase::new(PASS).expect("pass")
    }

    pub fn pass_arg(&self) -> String {
        format!("file:{}", self.pass_file.display())
    }

    pub fn name(s: &str) -> Name {
        Name::parse(s).expect("name")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn server(names: &[&str]) -> Profile {
    Profile::Server {
        common_name: names.first().copied().unwrap_or("server").to_owned(),
        sans: names.iter().map(|n| San::parse(n).expect("san")).collect(),
    }
}

/// Runs `openssl ARGS`.
pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (apt-get install openssl)")
}

/// stdout + stderr of a run that must succeed.
pub fn ok(out: Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// stdout + stderr of a run that must fail.
pub fn fails(out: Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{what} should have failed:\n{text}");
    text
}

/// The program `name` on PATH, or `None` after saying the test is skipped.
pub fn installed(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    if found.is_none() {
        eprintln!("{test}: skipped, {name} is not installed");
    }
    found
}

/// The first certificate of a PEM file, as its own PEM file next to it.
pub fn first_cert(path: &Path, out: &Path) {
    let chain =
        certs::pem::certificates("chain", &std::fs::read(path).expect("read")).expect("pem");
    let leaf = chain.first().expect("a certificate");
    std::fs::write(out, certs::pem::encode("CERTIFICATE", leaf)).expect("write");
}
