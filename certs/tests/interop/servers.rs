//! The exports in the programs they are for: QEMU loads its tls-creds-x509 directory, x11vnc
//! serves TLS with the bundle (checked from outside with `openssl s_client`), NSS imports the
//! PKCS#12. Each test is skipped when its program is not installed.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certs::fs::Overwrite;
use certs::generate::key::KeyType;
use certs::generate::pkcs12::P12Encryption;

use crate::{fails, installed, ok, server, Pki};

/// Kills and reaps a child process this test started, when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts QEMU with only a tls-creds-x509 object over `dir`, then quits it through QMP.
/// QEMU checks the files (key usage, chain to ca-cert.pem, CRL) while creating the object.
fn qemu_loads(qemu: &Path, dir: &Path, endpoint: &str) -> std::process::Output {
    let object = format!(
        "tls-creds-x509,id=tls0,dir={},endpoint={endpoint},verify-peer=on",
        dir.display()
    );
    let mut child = Command::new(qemu)
        .args([
            "-machine",
            "none",
            "-nodefaults",
            "-display",
            "none",
            "-qmp",
            "stdio",
            "-object",
            &object,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu");
    if let Some(mut stdin) = child.stdin.take() {
        // QEMU may already have exited on bad credentials; a broken pipe is then expected.
        let _ = stdin.write_all(b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
    }
    child.wait_with_output().expect("qemu output")
}

#[test]
fn qemu_loads_the_exported_credentials() {
    let Some(qemu) = installed("qemu-system-x86_64", "qemu_loads_the_exported_credentials") else {
        return;
    };
    let pki = Pki::new("qemu");
    let server_dir = pki.scratch("qemu-server");
    let done = pki
        .store
        .export_qemu(&Pki::name("web"), &server_dir, None, Overwrite::Refuse)
        .expect("export server");
    assert_eq!(done.endpoint, "server");
    ok(
        qemu_loads(&qemu, &server_dir, "server"),
        "qemu with the server credentials",
    );

    let client_dir = pki.scratch("qemu-client");
    pki.store
        .export_qemu(&Pki::name("alice"), &client_dir, None, Overwrite::Refuse)
        .expect("export client");
    ok(
        qemu_loads(&qemu, &client_dir, "client"),
        "qemu with the client credentials",
    );

    // The check is real: another CA's certificate in ca-cert.pem is refused.
    let other = Pki::new("qemu-other");
    std::fs::copy(other.file("ca.crt"), server_dir.join("ca-cert.pem")).expect("swap CA");
    let out = fails(
        qemu_loads(&qemu, &server_dir, "server"),
        "qemu with a foreign CA",
    );
    assert!(out.contains("failed validation"), "{out}");
}

fn wait_for_port(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn x11vnc_serves_tls_with_the_exported_bundle() {
    let test = "x11vnc_serves_tls_with_the_exported_bundle";
    let (Some(xvnc), Some(x11vnc)) = (installed("Xvnc", test), installed("x11vnc", test)) else {
        return;
    };
    let pki = Pki::new("x11vnc");
    pki.issue(
        "vnc",
        server(&["localhost", "127.0.0.1"]),
        "sub",
        KeyType::Rsa2048,
    );
    let bundle = pki.scratch("vnc.pem");
    pki.store
        .export_x11vnc(&Pki::name("vnc"), &bundle, Overwrite::Refuse)
        .expect("export");

    // `-displayfd 1`: Xvnc picks a display it can lock (clearing locks of dead servers) and
    // prints its number once clients can connect.
    let port = || test_ports::free_port().expect("a free loopback port");
    let (xvnc_port, tls_port) = (port(), port());
    let mut child = Command::new(xvnc)
        .args(["-displayfd", "1", "-localhost", "-SecurityTypes", "None"])
        .args(["-rfbport".to_owned(), xvnc_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvnc");
    let stdout = child.stdout.take().expect("piped stdout");
    let _xvnc = Reaped(child);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("Xvnc's display number");
    let display: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvnc printed {line:?} instead of its display number"));
    assert!(
        wait_for_port(xvnc_port, Duration::from_secs(20)),
        "Xvnc did not start"
    );
    let _x11vnc = Reaped(
        Command::new(x11vnc)
            .args([
                "-display",
                &format!(":{display}"),
                "-ssl",
                bundle.to_str().expect("utf-8"),
            ])
            .args([
                "-rfbport",
                &tls_port.to_string(),
                "-localhost",
                "-noipv6",
                "-once",
                "-nopw",
                "-q",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start x11vnc"),
    );
    assert!(
        wait_for_port(tls_port, Duration::from_secs(30)),
        "x11vnc did not listen"
    );

    let mut client = Reaped(
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{tls_port}"),
                "-CAfile",
                &pki.file("ca.crt"),
            ])
            .args(["-verify_return_error", "-verify_hostname", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_client"),
    );
    // Read until the RFB greeting arrives through TLS, or give up after a while.
    let mut stdout = client.0.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(buf.get(..n).unwrap_or_default());
            if seen.windows(12).any(|w| w == b"RFB 003.008\n") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let start = Instant::now();
    while !reader.is_finished() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(client);
    let seen = reader.join().expect("reader");
    assert!(seen.contains("Verify return code: 0 (ok)"), "{seen}");
    assert!(
        seen.contains("s:CN = localhost") && seen.contains("s:CN = Interop Sub"),
        "chain sent: {seen}"
    );
    assert!(seen.contains("RFB 003.008"), "{seen}");
}

#[test]
fn nss_imports_the_pkcs12() {
    let test = "nss_imports_the_pkcs12";
    let (Some(certutil), Some(pk12util)) =
        (installed("certutil", test), installed("pk12util", test))
    else {
        return;
    };
    let pki = Pki::new("nss");
    let db = pki.scratch("nssdb");
    std::fs::create_dir_all(&db).expect("db dir");
    let db_arg = format!("sql:{}", db.display());
    ok(
        Command::new(&certutil)
            .args(["-d", &db_arg, "-N", "--empty-password"])
            .output()
            .expect("certutil"),
        "new db",
    );
    ok(
        Command::new(&certutil)
            .args([
                "-d",
                &db_arg,
                "-A",
                "-t",
                "C,,",
                "-n",
                "Interop Root",
                "-i",
                &pki.file("ca.crt"),
            ])
            .output()
            .expect("certutil"),
        "trust the root",
    );
    for enc in [P12Encryption::Modern, P12Encryption::Legacy] {
        let p12 = pki.scratch(&format!("alice-{enc:?}.p12"));
        pki.store
            .export_p12(
                &Pki::name("alice"),
                &p12,
                &pki.pass(),
                None,
                enc,
                Overwrite::Refuse,
            )
            .expect("export");
        let out = ok(
            Command::new(&pk12util)
                .args([
                    "-d",
                    &db_arg,
                    "-i",
                    p12.to_str().expect("utf-8"),
                    "-w",
                    pki.pass_file.to_str().expect("utf-8"),
                ])
                .output()
                .expect("pk12util"),
            "pk12util -i",
        );
        assert!(out.contains("PKCS12 IMPORT SUCCESSFUL"), "{enc:?}: {out}");
    }
    let keys = ok(
        Command::new(&certutil)
            .args(["-d", &db_arg, "-K"])
            .output()
            .expect("certutil"),
        "list keys",
    );
    assert!(keys.contains("CN=alice"), "{keys}");
    let certs = ok(
        Command::new(&certutil)
            .args(["-d", &db_arg, "-L"])
            .output()
            .expect("certutil"),
        "list",
    );
    assert!(
        certs.contains("u,u,u"),
        "alice's certificate has its key: {certs}"
    );
}
