//! The real servers the ACME tests talk to, started on free 127.0.0.1 ports and killed when
//! dropped: Debian's `pebble` (an ACME CA), `pebble-challtestsrv` (a DNS server with an HTTP
//! API to set TXT records), and BIND's `named` (RFC 2136 updates with TSIG).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vncgate-acme-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed (by its own pid) and reaped on drop; its output goes to a log file
/// that is printed if it does not come up.
pub struct Server {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(program: &str, args: &[&str], envs: &[(&str, &str)], log: PathBuf) -> Server {
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {program}: {e}; install it: apt-get install -y pebble bind9 bind9-utils dnsutils (cargo xtask setup)")
        });
    Server { child, log }
}

impl Server {
    /// Waits until `addr` accepts TCP connections.
    fn wait_for(mut self, addr: SocketAddr) -> Self {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{}", self.failure(&format!("exited with {status}")));
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                self.failure(&format!("{addr} never opened"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }

    fn failure(&self, what: &str) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("server {what}; its log:\n{log}")
    }
}

/// A loopback port below the kernel's ephemeral range (see `test_ports`).
pub fn free_port() -> u16 {
    test_ports::free_port().expect("a free loopback port")
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `pebble-challtestsrv`: answers A queries with 127.0.0.1 and TXT queries with what was set
/// through its management API (`/set-txt`, `/clear-txt`).
pub struct ChallTestSrv {
    pub dns: SocketAddr,
    pub management: SocketAddr,
    _server: Server,
}

impl ChallTestSrv {
    pub fn start(dir: &TempDir) -> Self {
        let (dns, management) = (local(free_port()), local(free_port()));
        let server = start(
            "pebble-challtestsrv",
            &[
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &dns.to_string(),
                "-management",
                &management.to_string(),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ],
            &[],
            dir.path("challtestsrv.log"),
        )
        .wait_for(management)
        .wait_for(dns);
        Self {
            dns,
            management,
            _server: server,
        }
    }
}

/// `pebble`: the ACME CA, with the validation sleep and the bad-nonce injection turned off.
pub struct Pebble {
    pub directory: String,
    /// The root of pebble's HTTPS listener (for `--acme-ca-root`).
    pub listener_root: PathBuf,
    /// Pebble's management API (HTTPS with the listener certificate).
    pub management: SocketAddr,
    _server: Server,
}

impl Pebble {
    /// Validates dns-01 against `dns_server` and tls-alpn-01 on `tls_port`, reusing no
    /// earlier authorization for an account's first order. A later order of the same account
    /// can still get the valid authorization of an earlier one: pebble makes a new one only
    /// when `rand.Intn(100) > PEBBLE_AUTHZREUSE`, which fails 1 time in 100 even at 0. A test
    /// that counts the challenges of a second order makes it under a new account.
    pub fn start(dir: &TempDir, dns_server: SocketAddr, tls_port: u16) -> Self {
        Self::start_reusing(dir, dns_server, tls_port, 0)
    }

    /// [`Pebble::start`], reusing an account's valid authorization for about `percent` % of
    /// its new orders (at 100: always).
    pub fn start_reusing(
        dir: &TempDir,
        dns_server: SocketAddr,
        tls_port: u16,
        percent: u8,
    ) -> Self {
        let (listen, management) = (local(free_port()), local(free_port()));
        let (root_pem, cert_pem, key_pem) = listener_certificate();
        let listener_root = dir.path("pebble-listener-root.pem");
        std::fs::write(&listener_root, root_pem).expect("root");
        std::fs::write(dir.path("pebble-cert.pem"), cert_pem).expect("cert");
        std::fs::write(dir.path("pebble-key.pem"), key_pem).expect("key");
        let config = serde_json::json!({ "pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": dir.path("pebble-cert.pem"),
            "privateKey": dir.path("pebble-key.pem"),
            "httpPort": free_port(),
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = dir.path("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).expect("config");
        let server = start(
            "pebble",
            &[
                "-config",
                &config_path.display().to_string(),
                "-dnsserver",
                &dns_server.to_string(),
                "-strict=false",
            ],
            &[
                ("PEBBLE_VA_NOSLEEP", "1"),
                ("PEBBLE_WFE_NONCEREJECT", "0"),
                ("PEBBLE_AUTHZREUSE", &percent.to_string()),
            ],
            dir.path("pebble.log"),
        )
        .wait_for(listen)
        .wait_for(management);
        Self {
            directory: format!("https://{listen}/dir"),
            listener_root,
            management,
            _server: server,
        }
    }

    /// The root pebble issues certificates under (PEM; a new one every time pebble starts).
    pub fn issuing_root(&self) -> String {
        let out = Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(&self.listener_root)
            .arg(format!("https://{}/roots/0", self.management))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "pebble's /roots/0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("PEM is text")
    }
}

/// A CA and a certificate for localhost / 127.0.0.1 signed by it (the Debian package ships
/// none), as PEM: root, certificate, key.
fn listener_certificate() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "pebble listener test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params");
    let cert = params.signed_by(&key, &issuer).expect("cert");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// BIND `named`, primary for `test.example`, taking TXT updates signed with `acme-key`, and
/// for `locked.example`, where that key may change nothing the tests ask for.
pub struct Bind {
    pub addr: SocketAddr,
    /// The key file as `tsig-keygen` wrote it.
    pub key_file: PathBuf,
    _server: Server,
}

impl Bind {
    pub const ZONE: &'static str = "test.example";
    pub const LOCKED_ZONE: &'static str = "locked.example";

    pub fn start(dir: &TempDir) -> Self {
        Self::start_at(dir, local(free_port()))
    }

    /// Listens on `addr`; the zones' NS record `ns.ZONE` points at its address.
    pub fn start_at(dir: &TempDir, addr: SocketAddr) -> Self {
        let d = dir.path("bind");
        std::fs::create_dir_all(&d).expect("bind dir");
        let key_file = d.join("tsig.key");
        let keygen = Command::new("tsig-keygen")
            .args(["-a", "hmac-sha256", "acme-key"])
            .output()
            .expect("tsig-keygen (apt-get install -y bind9)");
        assert!(keygen.status.success(), "tsig-keygen failed");
        std::fs::write(&key_file, &keygen.stdout).expect("key");
        let (ip, port) = (addr.ip(), addr.port());
        let conf = format!(
            r#"include "{key}";
options {{
    directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {ip}; }}; listen-on-v6 {{ none; }};
    recursion no; dnssec-validation no; notify no;
}};
controls {{ }};
zone "{zone}" {{
    type primary; file "{d}/db.zone"; journal "{d}/db.zone.jnl";
    update-policy {{ grant acme-key subdomain {zone}. TXT; }};
}};
zone "{locked}" {{
    type primary; file "{d}/db.locked"; journal "{d}/db.locked.jnl";
    update-policy {{ grant acme-key name only-this.{locked}. TXT; }};
}};
"#,
            key = key_file.display(),
            d = d.display(),
            zone = Self::ZONE,
            locked = Self::LOCKED_ZONE,
        );
        std::fs::write(d.join("named.conf"), conf).expect("conf");
        for (file, z) in [("db.zone", Self::ZONE), ("db.locked", Self::LOCKED_ZONE)] {
            std::fs::write(
                d.join(file),
                format!(
                    "$TTL 60\n@ IN SOA ns.{z}. hostmaster.{z}. 1 60 60 600 60\n@ IN NS ns.{z}.\nns IN A {ip}\n"
                ),
            )
            .expect("zone");
        }
        let conf_path = d.join("named.conf").display().to_string();
        let server = start(
            "named",
            &["-g", "-c", &conf_path],
            &[],
            dir.path("named.log"),
        )
        .wait_for(addr);
        Self {
            addr,
            key_file,
            _server: server,
        }
    }

    /// A key file with the right name and algorithm but another secret.
    pub fn wrong_key_file(&self, dir: &Path) -> PathBuf {
        let p = dir.join("wrong-tsig.key");
        std::fs::write(
            &p,
            "key \"acme-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=\";\n};\n",
        )
        .expect("wrong key");
        p
    }
}

/// A lego-exec hook that publishes through challtestsrv's management API and logs each call
/// to `hook.log` (returned with the script). With `hold`, `present` waits while that file
/// exists (up to 60 s), so a test decides when an order may go on.
pub fn challtestsrv_hook(
    dir: &TempDir,
    management: SocketAddr,
    hold: Option<&Path>,
) -> (PathBuf, PathBuf) {
    let log = dir.path("hook.log");
    let wait = hold.map_or(String::new(), |h| {
        format!(
            "n=0; while [ -e '{}' ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; ",
            h.display()
        )
    });
    let body = format!(
        r#"echo "$1 $2 $3 $4" >> {log}
case "$1" in
  present) {wait}curl -sSf -X POST -d "{{\"host\":\"$2\",\"value\":\"$3\"}}" http://{management}/set-txt ;;
  cleanup) curl -sSf -X POST -d "{{\"host\":\"$2\"}}" http://{management}/clear-txt ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac"#,
        log = log.display()
    );
    (script(dir, "hook.sh", &body), log)
}

/// An executable `/bin/sh` script in `dir`.
pub fn script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.path(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// What `openssl s_client` prints connecting to 127.0.0.1:`port` for `name` (with `extra`
/// flags): the chain's summary, the leaf's PEM, the verification result.
pub fn s_client(port: u16, name: &str, extra: &[&str]) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            name,
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl x509 ARGS` on the first certificate in `pem` (s_client's output will do).
pub fn x509(pem: &str, args: &[&str]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .arg("x509")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(pem.as_bytes());
    }
    let out = child.wait_with_output().expect("openssl x509");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
