//! `cargo xtask setup`: the wasm32 target, Debian packages, and wasm-bindgen-cli at exactly
//! the version in Cargo.lock. Each step checks first, so a second run is quick.

use std::process::Command;

use anyhow::{bail, Context};

use crate::{root, run_cmd};

/// Debian packages, and why each is needed.
pub const PACKAGES: &[(&str, &str)] = &[
    ("clang", "ring builds for wasm32 with clang"),
    ("binaryen", "wasm-opt shrinks the viewer"),
    (
        "brotli",
        "the viewer's files compressed at build time for Content-Encoding: br",
    ),
    ("chromium", "browser tests and the demo"),
    ("chromium-driver", "WebDriver for browser tests"),
    (
        "tigervnc-standalone-server",
        "Xvnc: the demo desktop and test server",
    ),
    ("tigervnc-tools", "vncpasswd for password tests"),
    ("xvfb", "X server for x11vnc tests"),
    ("x11-xserver-utils", "xsetroot paints known colours"),
    ("x11-apps", "xwd reads the X server's own pixels"),
    ("xterm", "a terminal on the demo desktop"),
    ("openbox", "a small window manager for the demo desktop"),
    ("fonts-dejavu-core", "fonts for the desktop and the page"),
    ("imagemagick", "test images on the test desktops"),
    ("xdotool", "moves the pointer on test desktops"),
    (
        "tigervnc-viewer",
        "TigerVNC's vncviewer on the gateway's VeNCrypt",
    ),
    ("gvncviewer", "gtk-vnc's viewer with a client certificate"),
    ("x11vnc", "a second real VNC server for the encoding tests"),
    ("qemu-system-x86", "QEMU's VNC server with VeNCrypt X509"),
    (
        "openssl",
        "interoperability checks of the certificate toolkit",
    ),
    (
        "libnss3-tools",
        "pk12util: browsers' NSS imports the PKCS#12 exports",
    ),
    ("xclip", "reads and sets the X clipboard in viewer tests"),
    ("x11-utils", "xdpyinfo and xwininfo check the test desktops"),
    ("pebble", "a real ACME server for certificate tests"),
    ("bind9", "a real DNS server for RFC 2136 updates"),
    ("bind9-utils", "tsig-keygen and named-checkconf"),
    ("dnsutils", "dig, for checking TXT records"),
    (
        "iproute2",
        "ip: brings up loopback in the network namespaces some tests run in",
    ),
    (
        "stunnel4",
        "a native TLS VNC client with a certificate, in auth tests",
    ),
    ("curl", "portal API calls and ACME hook scripts in tests"),
    (
        "novnc",
        "noVNC's own page, hosted by a portal origin in embedding tests",
    ),
    (
        "redis-server",
        "the fleet's shared store (and redis-cli) in fleet tests",
    ),
    (
        "haproxy",
        "the TCP load balancer in front of several instances in fleet tests",
    ),
    (
        "binutils",
        "strip and readelf for the Debian package (cargo xtask dist)",
    ),
    (
        "systemd",
        "systemd-analyze checks the service unit (packaging/vncgate.service)",
    ),
];

pub fn run() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    ensure_packages()?;
    ensure_wasm_bindgen()?;
    ensure_wasm_opt();
    Ok(())
}

/// The binaryen release fetched from npm when the system's wasm-opt is too old.
const BINARYEN_NPM: &str = "binaryen@132.0.0";

fn tools_dir() -> std::path::PathBuf {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".cache/vncgate/binaryen")
}

fn wasm_opt_version(path: &std::path::Path) -> Option<u32> {
    let out = Command::new(path).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find_map(|w| w.parse().ok())
}

/// A wasm-opt of version 116 or later (older ones corrupt wasm-bindgen's externref table),
/// or `None` (the viewer then stays unoptimised, with a note).
pub fn wasm_opt() -> Option<std::path::PathBuf> {
    let system = std::path::PathBuf::from("wasm-opt");
    if wasm_opt_version(&system).is_some_and(|v| v >= 116) {
        return Some(system);
    }
    let cached = tools_dir().join("node_modules/.bin/wasm-opt");
    wasm_opt_version(&cached)
        .is_some_and(|v| v >= 116)
        .then_some(cached)
}

/// Fetches binaryen from npm when no usable wasm-opt is present. Failure is not fatal.
fn ensure_wasm_opt() {
    if wasm_opt().is_some() {
        return;
    }
    eprintln!(
        "installing {BINARYEN_NPM} from npm into {} (the system wasm-opt is older than 116)",
        tools_dir().display()
    );
    let _ = std::fs::create_dir_all(tools_dir());
    let ok = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(tools_dir())
        .arg(BINARYEN_NPM)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "note: npm could not install {BINARYEN_NPM}; the viewer will be built without wasm-opt"
        );
    }
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root())
        .output()
        .context("cannot run rustup; install Rust with rustup")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run_cmd(
        Command::new("rustup")
            .args(["target", "add", "wasm32-unknown-unknown"])
            .current_dir(root()),
    )
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn ensure_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut c = if as_root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !as_root {
            c.arg("apt-get");
        }
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run_cmd(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    run_cmd(&mut install)
}

/// The wasm-bindgen version Cargo.lock resolved.
pub fn locked_wasm_bindgen_version() -> anyhow::Result<String> {
    let lock =
        std::fs::read_to_string(root().join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn ensure_wasm_bindgen() -> anyhow::Result<()> {
    let want = locked_wasm_bindgen_version()?;
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if have.as_deref() == Some(&format!("wasm-bindgen {want}")) {
        return Ok(());
    }
    eprintln!(
        "installing wasm-bindgen-cli {want} (found {})",
        have.as_deref().unwrap_or("none")
    );
    run_cmd(crate::cargo().args(["install", "wasm-bindgen-cli", "--version", &want]))
}
