//! rfb against real VNC servers: every encoding each server sends, decoded pixel for pixel
//! equal to the X server's own framebuffer (`xwd -root`); VNC authentication; VeNCrypt X509
//! with QEMU.

use tests::vnc::{assert_same, paint_test_desktop, snapshot, vncgate, wait_for_still_screen};
use tests::x11vnc::X11vnc;
use tests::xvnc::Xvnc;
use tests::TempDir;

const LOSSLESS_XVNC: &[&str] = &[
    "raw", "copyrect", "rre", "hextile", "zrle", "tight", "zlib", "trle", "tightpng",
];
const LOSSLESS_X11VNC: &[&str] = &[
    "raw", "copyrect", "rre", "hextile", "zlib", "zrle", "tight", "tightpng", "trle",
];

#[test]
fn xvnc_every_encoding_is_pixel_exact() -> anyhow::Result<()> {
    let dir = TempDir::new("xvnc-enc")?;
    let mut desk = Xvnc::start(800, 600, &["-SecurityTypes", "None"])?;
    let display = desk.display_env();
    paint_test_desktop(&display, &mut |p, a| desk.spawn(p, a), dir.path())?;
    let want = wait_for_still_screen(&display)?;
    for enc in LOSSLESS_XVNC {
        let got = snapshot(desk.port, &["--encoding", enc])?;
        assert_same(&format!("Xvnc, {enc}"), &got, &want)?;
    }
    let got = snapshot(desk.port, &["--encoding", "jpeg"])?;
    let psnr = got.psnr(&want);
    assert!(psnr > 30.0, "Xvnc, jpeg: PSNR {psnr:.1} dB is below 30 dB");
    // The default set allows JPEG (a quality level is sent), which Xvnc uses on the gradient.
    let got = snapshot(desk.port, &[])?;
    let psnr = got.psnr(&want);
    assert!(
        psnr > 30.0,
        "Xvnc, default encodings: PSNR {psnr:.1} dB is below 30 dB"
    );
    Ok(())
}

#[test]
fn x11vnc_every_encoding_is_pixel_exact() -> anyhow::Result<()> {
    let dir = TempDir::new("x11vnc-enc")?;
    let mut desk = X11vnc::start(640, 480, &["-nopw"])?;
    let display = desk.display_env();
    paint_test_desktop(&display, &mut |p, a| desk.spawn(p, a), dir.path())?;
    let want = wait_for_still_screen(&display)?;
    for enc in LOSSLESS_X11VNC {
        let got = snapshot(desk.port, &["--encoding", enc])?;
        assert_same(&format!("x11vnc, {enc}"), &got, &want)?;
    }
    Ok(())
}

#[test]
fn vnc_password_works_and_a_wrong_one_gives_the_servers_reason() -> anyhow::Result<()> {
    let dir = TempDir::new("vncauth")?;
    let passwd = dir.path().join("passwd");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'sesame\\n' | vncpasswd -f > {}",
            passwd.display()
        ))
        .status()?;
    anyhow::ensure!(st.success(), "vncpasswd failed");
    let desk = Xvnc::start(
        320,
        200,
        &[
            "-SecurityTypes",
            "VncAuth",
            "-PasswordFile",
            &passwd.display().to_string(),
        ],
    )?;
    let good = dir.path().join("good");
    std::fs::write(&good, "sesame\n")?;
    let img = snapshot(desk.port, &["--password-file", &good.display().to_string()])?;
    assert_eq!((img.width, img.height), (320, 200));
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "wrong\n")?;
    let err = snapshot(desk.port, &["--password-file", &bad.display().to_string()])
        .expect_err("wrong password");
    let msg = format!("{err:#}");
    assert!(msg.contains("authentication failed"), "{msg}");
    assert!(
        msg.to_lowercase().contains("password") || msg.contains("Authentication"),
        "the server's reason is shown: {msg}"
    );
    let err = snapshot(desk.port, &[]).expect_err("no password");
    assert!(
        format!("{err:#}").contains("requires a password"),
        "{err:#}"
    );
    Ok(())
}

/// Makes a CA and a server certificate with `vncgate certs` in QEMU's layout.
fn qemu_creds(dir: &std::path::Path, ca_name: &str) -> anyhow::Result<std::path::PathBuf> {
    let pki = dir.join(format!("pki-{ca_name}"));
    let pki_s = pki.display().to_string();
    vncgate(&["certs", "--dir", &pki_s, "init-ca", "--name", ca_name])?;
    vncgate(&[
        "certs",
        "--dir",
        &pki_s,
        "issue",
        "server",
        "qemu",
        "--san",
        "127.0.0.1",
        "--san",
        "localhost",
    ])?;
    let creds = dir.join(format!("qemu-{ca_name}"));
    vncgate(&[
        "certs",
        "--dir",
        &pki_s,
        "export",
        "qemu",
        "--qemu",
        &creds.display().to_string(),
    ])?;
    Ok(creds)
}

#[test]
fn qemu_vencrypt_x509_verifies_the_server() -> anyhow::Result<()> {
    let dir = TempDir::new("qemu")?;
    let creds = qemu_creds(dir.path(), "Test CA")?;
    let other = qemu_creds(dir.path(), "Other CA")?;
    let ca = creds.join("ca-cert.pem").display().to_string();
    let wrong_ca = other.join("ca-cert.pem").display().to_string();

    // X509None
    let q = tests::qemu::Qemu::start(&creds, None, false)?;
    let img = snapshot(q.port, &["--ca", &ca])?;
    assert!(
        img.width >= 640,
        "BIOS screen: {}x{}",
        img.width,
        img.height
    );
    let err = snapshot(q.port, &["--ca", &wrong_ca]).expect_err("wrong CA");
    assert!(
        format!("{err:#}").contains("not issued by the CA"),
        "{err:#}"
    );
    let err = snapshot(q.port, &["--fingerprint", &"00".repeat(32)]).expect_err("pin");
    assert!(
        format!("{err:#}").contains("fingerprint differs"),
        "{err:#}"
    );
    let err = snapshot(q.port, &[]).expect_err("no trust");
    assert!(
        format!("{err:#}").contains("no CA data or fingerprint"),
        "{err:#}"
    );
    drop(q);

    // X509Vnc
    let q = tests::qemu::Qemu::start(&creds, Some("sesame"), false)?;
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "sesame\n")?;
    let pw_s = pw.display().to_string();
    snapshot(q.port, &["--ca", &ca, "--password-file", &pw_s])?;
    let fp = vncgate(&[
        "certs",
        "--dir",
        &dir.path().join("pki-Test CA").display().to_string(),
        "info",
        "qemu",
    ])?;
    let line = fp
        .lines()
        .find(|l| l.to_lowercase().contains("sha-256") || l.to_lowercase().contains("sha256"))
        .unwrap_or_default();
    let hex: String = line
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_owned();
    snapshot(q.port, &["--fingerprint", &hex, "--password-file", &pw_s])?;
    Ok(())
}

/// A snapshot that is given up says where the connection stood: here a port that accepts and
/// never speaks (a forward to nothing), so the handshake stopped at its first step.
#[test]
fn a_snapshot_given_up_says_where_it_stopped() -> anyhow::Result<()> {
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = silent.local_addr()?.port();
    let started = std::time::Instant::now();
    let err = snapshot(port, &["--timeout", "1"]).expect_err("nothing to capture");
    let want = format!(
        "no complete screen from 127.0.0.1:{port} within 1 s: \
         the handshake stopped, waiting for the server's protocol version"
    );
    assert!(format!("{err:#}").contains(&want), "{err:#}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(silent);
    Ok(())
}
