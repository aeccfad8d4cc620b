//! Running as a systemd service: the shipped unit (`packaging/vncgate.service`) passes
//! `systemd-analyze verify` and is rated by `systemd-analyze security` (its exposure score is
//! printed), and the gateway tells systemd it is ready through `$NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::support::TempDir;

const UNIT: &str = include_str!("../../../packaging/vncgate.service");

/// The unit with `/usr/bin/vncgate` replaced by the binary under test (verify checks that
/// the commands exist).
fn unit_here(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = dir.join("vncgate.service");
    std::fs::write(
        &unit,
        UNIT.replace("/usr/bin/vncgate", env!("CARGO_BIN_EXE_vncgate")),
    )
    .expect("unit");
    unit
}

#[test]
fn the_unit_verifies_and_its_exposure_is_low() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        panic!("systemd-analyze is missing: cargo xtask setup installs it (package systemd)");
    };
    assert!(out.status.success());
    let dir = TempDir::new("unit");
    let unit = unit_here(&dir.0);
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("verify runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "verify: {said}"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("security runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let level = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default()
        .to_owned();
    eprintln!("systemd-analyze security: {level}");
    assert!(level.contains(" OK"), "exposure: {text}");
}

#[test]
fn the_gateway_tells_systemd_it_is_ready_and_stopping() {
    let dir = TempDir::new("notify");
    let sock_path = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vncgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.0.join("state"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vncgate starts");
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("a datagram within 20 s");
    assert_eq!(&buf[..n], b"READY=1");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let n = sock.recv(&mut buf).expect("a datagram at shutdown");
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status}");
}
