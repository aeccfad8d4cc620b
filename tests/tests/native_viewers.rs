//! Native VNC viewers no one here wrote, on the gateway's single port: Debian's TigerVNC
//! `vncviewer` (VeNCrypt X509Plain with a one-time key) and gtk-vnc's `gvncviewer` (VeNCrypt
//! X509None with a client certificate), each on an `Xvfb` screen of its own, in front of a
//! real Xvnc desktop. What the viewer shows is read from its X server (`xwd`); what it types
//! arrives in an xterm on the desktop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context};
use tests::gateway::Gateway;
use tests::proc::{start_x_server, wait_until, x_output, Proc};
use tests::xvnc::{read_typed, Xvnc};
use tests::TempDir;

const TOKEN: &str = "native-admin-token-0123456789";
/// The desktop's root colour (`Xvnc::with_xterm`).
const ROOT: [u8; 3] = [0x33, 0x66, 0x99];

/// An X screen for a viewer.
struct Screen {
    display: String,
    x: Proc,
}

impl Screen {
    fn start() -> anyhow::Result<Self> {
        let args: Vec<String> = ["-screen", "0", "1024x768x24", "-nolisten", "tcp"]
            .map(str::to_owned)
            .into();
        let (x, n) = start_x_server("Xvfb", &args)?;
        Ok(Self {
            display: format!(":{n}"),
            x,
        })
    }

    /// How many pixels of the screen have the desktop's root colour.
    fn root_coloured_pixels(&self) -> anyhow::Result<usize> {
        let out = Command::new("xwd")
            .args(["-root", "-silent", "-display", &self.display])
            .output()
            .context("cannot run xwd")?;
        let img = tests::xwd::parse(&out.stdout)?;
        Ok(img.rgba.chunks(4).filter(|p| p[..3] == ROOT).count())
    }

    /// Waits until the viewer shows the desktop (a good part of 640×480 in its colour). If it
    /// does not, the error has the viewer's log and says whether the X server still runs.
    fn wait_for_desktop(&mut self, viewer: &mut Viewer) -> anyhow::Result<()> {
        let shown = wait_until(Duration::from_secs(30), "the desktop in the viewer", || {
            if let Ok(Some(status)) = viewer.proc.child.try_wait() {
                anyhow::bail!("the viewer exited with {status}:\n{}", viewer.log());
            }
            Ok((self.root_coloured_pixels()? > 100_000).then_some(()))
        });
        let Err(e) = shown else { return Ok(()) };
        let x = match self.x.check_alive() {
            Ok(()) => format!("Xvfb on {} still runs", self.display),
            Err(gone) => format!("{gone:#}"),
        };
        Err(e.context(format!(
            "{} pixels of the desktop's colour; {x}; the viewer said:\n{}",
            self.root_coloured_pixels().unwrap_or(0),
            viewer.log()
        )))
    }

    /// Types `text` and Return into the viewer's window (its pointer over the desktop's
    /// xterm, which has the focus under the pointer).
    fn type_into(&self, window_name: &str, text: &str) -> anyhow::Result<()> {
        let d = &self.display;
        let id = wait_until(Duration::from_secs(10), "the viewer's window", || {
            Ok(x_output(d, "xdotool", &["search", "--name", window_name])
                .ok()
                .and_then(|o| o.lines().next().map(str::to_owned)))
        })?;
        // The focus (no window manager gives it), and a click: the viewer sends pointer and
        // key events once it has had a button event.
        x_output(d, "xdotool", &["windowfocus", &id])?;
        x_output(
            d,
            "xdotool",
            &["mousemove", "--window", &id, "60", "40", "click", "1"],
        )?;
        std::thread::sleep(Duration::from_millis(300));
        x_output(
            d,
            "xdotool",
            &["type", "--window", &id, "--delay", "30", text],
        )?;
        x_output(d, "xdotool", &["key", "--window", &id, "Return"])?;
        Ok(())
    }
}

/// A viewer process with its output in a file.
struct Viewer {
    proc: Proc,
    log: PathBuf,
}

impl Viewer {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// TigerVNC's viewer on `screen` with user name `desk` and `key`, trusting the gateway's
/// certificate `ca`.
fn tigervnc(
    dir: &Path,
    screen: &Screen,
    gate: &Gateway,
    ca: &Path,
    key: &str,
    tag: &str,
) -> anyhow::Result<Viewer> {
    let log = dir.join(format!("vncviewer-{tag}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new("vncviewer")
        .args(["-SecurityTypes", "X509Plain", "-X509CA"])
        .arg(ca)
        .arg(format!("127.0.0.1::{}", gate.port))
        .env("DISPLAY", &screen.display)
        .env("VNC_USERNAME", "desk")
        .env("VNC_PASSWORD", key)
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("cannot start vncviewer (Debian package tigervnc-viewer)")?;
    Ok(Viewer {
        proc: Proc::new("vncviewer", child),
        log,
    })
}

fn issue(gate: &Gateway, view_only: bool) -> anyhow::Result<String> {
    let body = serde_json::json!({ "target": "desk", "view_only": view_only }).to_string();
    let (status, v) = tests::api::call(gate.port, Some(TOKEN), "POST", "/api/otk", Some(&body))?;
    ensure!(status == 201, "POST /api/otk: {status} {v}");
    Ok(v["key"].as_str().context("key")?.to_owned())
}

/// TigerVNC's own viewer, with `-SecurityTypes X509Plain -X509CA` the gateway's certificate,
/// user name the target and password a one-time key: a view-only key shows the desktop and
/// types nothing; a full key's typing reaches the desktop's xterm; the same key again is
/// refused, and the viewer's log has the gateway's reason.
#[test]
fn tigervnc_reaches_the_desktop_with_a_one_time_key_on_the_single_port() -> anyhow::Result<()> {
    let dir = TempDir::new("native-tigervnc")?;
    let d = dir.path();
    let typed = d.join("typed.txt");
    let desk = Xvnc::with_xterm(
        640,
        480,
        &["-SecurityTypes", "None", "-BlacklistThreshold", "1000000"],
        &typed,
    )?;
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--admin-token-file",
        &d.join("token").display().to_string(),
    ])?;
    let ca = gate.state.path().join("tls/self-signed.crt");
    let mut screen = Screen::start()?;

    // View-only: the desktop shows, typing moves nothing.
    let key = issue(&gate, true)?;
    let mut viewer = tigervnc(d, &screen, &gate, &ca, &key, "view-only")?;
    screen.wait_for_desktop(&mut viewer)?;
    screen.type_into("TigerVNC", "not typed")?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(!typed.exists(), "a view-only key typed into the desktop");
    drop(viewer);

    let key = issue(&gate, false)?;
    let mut viewer = tigervnc(d, &screen, &gate, &ca, &key, "full")?;
    screen.wait_for_desktop(&mut viewer)?;
    screen.type_into("TigerVNC", "hello native")?;
    ensure!(read_typed(&typed)? == "hello native");
    drop(viewer);
    ensure!(
        gate.log_contains("kind=\"plain/native-vencrypt\""),
        "{}",
        gate.log_text()
    );

    // The same key a second time.
    let viewer = tigervnc(d, &screen, &gate, &ca, &key, "again")?;
    let log = wait_until(Duration::from_secs(20), "the viewer's refusal", || {
        let log = viewer.log();
        Ok(log.contains("already used").then_some(log))
    })?;
    ensure!(
        log.contains("this link was already used"),
        "the gateway's reason: {log}"
    );
    Ok(())
}

/// gtk-vnc's `gvncviewer` presenting `name`'s certificate from a home of its own: gtk-vnc
/// reads `~/.pki/CA/cacert.pem` (what verifies the server) and
/// `~/.pki/gvncviewer/{clientcert.pem,private/clientkey.pem}`, in the home of the user's
/// account, so the viewer runs in a mount namespace where `/root` is that home.
fn gvncviewer(
    dir: &Path,
    screen: &Screen,
    gate: &Gateway,
    pki: &tests::pki::CertDir,
    name: &str,
) -> anyhow::Result<Viewer> {
    let home = dir.join(format!("home-{name}"));
    let pki_dir = home.join(".pki");
    std::fs::create_dir_all(pki_dir.join("CA"))?;
    std::fs::create_dir_all(pki_dir.join("gvncviewer/private"))?;
    std::fs::copy(
        gate.state.path().join("tls/self-signed.crt"),
        pki_dir.join("CA/cacert.pem"),
    )?;
    std::fs::copy(
        pki.path(&format!("{name}.crt")),
        pki_dir.join("gvncviewer/clientcert.pem"),
    )?;
    std::fs::copy(
        pki.path(&format!("{name}.key")),
        pki_dir.join("gvncviewer/private/clientkey.pem"),
    )?;
    let log = dir.join(format!("gvncviewer-{name}.log"));
    let out = std::fs::File::create(&log)?;
    // gvncviewer names the server as HOST:DISPLAY, the port less 5900.
    let display = gate.port.checked_sub(5900).context("a port below 5900")?;
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /root && shift && exec gvncviewer --gtk-vnc-debug \"$@\"")
        .arg(&home)
        .arg("x")
        .arg(format!("127.0.0.1:{display}"))
        .env("DISPLAY", &screen.display)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("cannot start gvncviewer (Debian package gvncviewer)")?;
    Ok(Viewer {
        proc: Proc::new("gvncviewer", child),
        log,
    })
}

/// gtk-vnc's own viewer with a client certificate (VeNCrypt X509None, the gateway offering
/// certificates only): the access list's default target is on its screen; a revoked
/// certificate is refused in the TLS handshake, and the gateway says why.
#[test]
fn gvncviewer_reaches_the_default_target_with_a_client_certificate() -> anyhow::Result<()> {
    let dir = TempDir::new("native-gvnc")?;
    let d = dir.path();
    let pki = tests::pki::CertDir::init(&d.join("pki"), "Native CA")?;
    pki.client("alice", Some("alice@example.com"))?;
    pki.client("mallory", Some("mallory@example.com"))?;
    pki.run(&["revoke", "mallory"])?;
    let desk = Xvnc::with_xterm(
        640,
        480,
        &["-SecurityTypes", "None", "-BlacklistThreshold", "1000000"],
        &d.join("typed.txt"),
    )?;
    let config = d.join("vncgate.toml");
    std::fs::write(
        &config,
        format!(
            "native_vnc_auth = [\"certificate\"]\n[targets]\ndesk = \"127.0.0.1:{}\"\n\
             [auth]\nclient_ca = \"{}\"\ncrl = \"{}\"\nclient_auth = \"optional\"\n\
             [[acl.allow]]\nwho = [\"*\"]\ntargets = [\"desk\"]\ndefault_target = \"desk\"\n",
            desk.port,
            pki.path("ca.crt"),
            pki.path("crl.pem"),
        ),
    )?;
    let gate = Gateway::start(&["--config", &config.display().to_string()])?;
    let mut screen = Screen::start()?;

    let mut viewer = gvncviewer(d, &screen, &gate, &pki, "alice")?;
    screen.wait_for_desktop(&mut viewer)?;
    ensure!(
        gate.log_contains("client certificate verified inside VeNCrypt")
            && gate.log_contains("who=CN=alice"),
        "{}",
        gate.log_text()
    );
    drop(viewer);

    // A screen of its own: nothing of alice's window can linger there.
    let screen = Screen::start()?;
    let viewer = gvncviewer(d, &screen, &gate, &pki, "mallory")?;
    wait_until(Duration::from_secs(20), "the gateway's refusal", || {
        Ok(gate
            .log_contains("TLS handshake refused: the client certificate is revoked")
            .then_some(()))
    })?;
    ensure!(
        screen.root_coloured_pixels()? < 1000,
        "a revoked certificate's viewer shows no desktop:\n{}",
        viewer.log()
    );
    Ok(())
}
