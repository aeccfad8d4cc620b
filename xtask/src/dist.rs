//! `cargo xtask dist [--debug]`: the gateway as a Debian package and a plain archive, in
//! `target/dist/`:
//!
//! - `vncgate_VERSION_ARCH.deb` (built by `dpkg-deb`): `/usr/bin/vncgate` (the viewer
//!   embedded), the systemd unit `/lib/systemd/system/vncgate.service`, a commented
//!   `/etc/vncgate/vncgate.toml` (a conffile: upgrades keep the operator's edits), man pages
//!   and bash/zsh/fish completions generated from the clap definitions (`vncgate dist-files`),
//!   and the docs in `/usr/share/doc/vncgate`;
//! - `vncgate-VERSION-ARCH.tar.gz`: the same files under one folder, for other systems.
//!
//! Release build by default; `--debug` packages the debug binary (what `cargo xtask test`
//! checks, without a second build). [`check`] inspects a package as an operator would.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::{root, run_cmd};

/// Where a package's files come from in the tree, and where they go.
const FILES: &[(&str, &str)] = &[
    (
        "packaging/vncgate.service",
        "lib/systemd/system/vncgate.service",
    ),
    ("packaging/vncgate.toml", "etc/vncgate/vncgate.toml"),
    ("README.md", "usr/share/doc/vncgate/README.md"),
    ("ARCHITECTURE.md", "usr/share/doc/vncgate/ARCHITECTURE.md"),
];

/// The conffiles: the operator's edits survive upgrades.
const CONFFILES: &[&str] = &["/etc/vncgate/vncgate.toml"];

/// What a built package is.
pub struct Package {
    pub deb: PathBuf,
    pub tarball: PathBuf,
    pub version: String,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let debug = match args {
        [] => false,
        [flag] if flag == "--debug" => true,
        _ => bail!("usage: cargo xtask dist [--debug]"),
    };
    crate::setup::run()?;
    crate::tasks::build_web()?;
    let mut build = crate::cargo();
    build.args(["build", "-p", "gateway", "--bins"]);
    if !debug {
        build.arg("--release");
    }
    run_cmd(&mut build)?;
    let p = package(if debug { "debug" } else { "release" })?;
    check(&p)?;
    eprintln!("{}\n{}", p.deb.display(), p.tarball.display());
    Ok(())
}

/// The gateway's version, from gateway/Cargo.toml.
fn version() -> anyhow::Result<String> {
    let text = std::fs::read_to_string(root().join("gateway/Cargo.toml"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_owned)
        .context("no version in gateway/Cargo.toml")
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let what = crate::describe(cmd);
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `libc6 (>= 2.X)` for the newest glibc symbol version the binary needs, and libgcc-s1
/// (unwinding): the libraries it links, as `readelf` lists them.
fn depends(binary: &Path) -> anyhow::Result<String> {
    let syms = output(
        Command::new("readelf")
            .args(["--dyn-syms", "-W"])
            .arg(binary),
    )?;
    let newest = syms
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.').map(|n| n.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .context("the binary names no glibc version")?;
    Ok(format!("libc6 (>= {}.{}), libgcc-s1", newest.0, newest.1))
}

/// Builds the package and the archive from `target/PROFILE/vncgate`.
pub fn package(profile: &str) -> anyhow::Result<Package> {
    let target = crate::bench_gateway::target_dir();
    let binary = target.join(profile).join("vncgate");
    let version = version()?;
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_owned();
    let dist = target.join("dist");
    let tree = dist.join(format!("vncgate_{version}_{arch}"));
    let _ = std::fs::remove_dir_all(&tree);
    let put = |from: &Path, to: &str, mode: u32| -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dest = tree.join(to);
        std::fs::create_dir_all(dest.parent().context("a folder")?)?;
        std::fs::copy(from, &dest)
            .with_context(|| format!("cannot copy {} to {}", from.display(), dest.display()))?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    };
    put(&binary, "usr/bin/vncgate", 0o755)?;
    // Debug information stays out of packages (the debug build's is most of its size).
    run_cmd(
        Command::new("strip")
            .arg("--strip-debug")
            .arg(tree.join("usr/bin/vncgate")),
    )?;
    for (from, to) in FILES {
        put(&root().join(from), to, 0o644)?;
    }
    for doc in std::fs::read_dir(root().join("docs"))? {
        let doc = doc?.path();
        if doc.extension().is_some_and(|e| e == "md") {
            let name = doc
                .file_name()
                .context("a name")?
                .to_string_lossy()
                .into_owned();
            put(&doc, &format!("usr/share/doc/vncgate/{name}"), 0o644)?;
        }
    }
    // Man pages and completions, from the binary's own clap definitions.
    let generated = dist.join("generated");
    let _ = std::fs::remove_dir_all(&generated);
    run_cmd(
        Command::new(&binary)
            .args(["dist-files", "--out"])
            .arg(&generated),
    )?;
    for page in std::fs::read_dir(generated.join("man1"))? {
        let page = page?.path();
        let name = page
            .file_name()
            .context("a name")?
            .to_string_lossy()
            .into_owned();
        let gz = dist.join(format!("{name}.gz"));
        let raw = Command::new("gzip")
            .args(["-9n", "-c"])
            .arg(&page)
            .output()?;
        if !raw.status.success() {
            bail!("gzip {} failed", page.display());
        }
        std::fs::write(&gz, raw.stdout)?;
        put(&gz, &format!("usr/share/man/man1/{name}.gz"), 0o644)?;
        std::fs::remove_file(&gz)?;
    }
    let c = generated.join("completions");
    put(
        &c.join("vncgate.bash"),
        "usr/share/bash-completion/completions/vncgate",
        0o644,
    )?;
    put(
        &c.join("_vncgate"),
        "usr/share/zsh/vendor-completions/_vncgate",
        0o644,
    )?;
    put(
        &c.join("vncgate.fish"),
        "usr/share/fish/vendor_completions.d/vncgate.fish",
        0o644,
    )?;
    std::fs::write(
        tree.join("usr/share/doc/vncgate/copyright"),
        "vncgate\nLicense: MIT OR Apache-2.0\n",
    )?;

    let control = tree.join("DEBIAN");
    std::fs::create_dir_all(&control)?;
    let installed_kib = dir_size(&tree)? / 1024;
    std::fs::write(
        control.join("control"),
        format!(
            "Package: vncgate\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: vncgate developers <vncgate@localhost>\n\
             Installed-Size: {installed_kib}\nDepends: {}\nSection: net\nPriority: optional\n\
             Description: single-port gateway from the browser to VNC desktops\n \
             vncgate listens on one TCP port, serves a WebAssembly VNC viewer over https and\n \
             relays to the VNC servers its configuration names. Native VNC clients in TLS,\n \
             client certificates, one-time links, ACME certificates and fleets behind a load\n \
             balancer (Redis) are built in. Start it with: systemctl enable --now vncgate\n",
            depends(&binary)?
        ),
    )?;
    std::fs::write(control.join("conffiles"), CONFFILES.join("\n") + "\n")?;
    let deb = dist.join(format!("vncgate_{version}_{arch}.deb"));
    // A release package is compressed hard; the debug one the tests check (hundreds of MB of
    // debug info) only lightly.
    let compression: &[&str] = if profile == "release" {
        &["-Zxz"]
    } else {
        &["-Zgzip", "-z1"]
    };
    run_cmd(
        Command::new("dpkg-deb")
            .args(["--root-owner-group"])
            .args(compression)
            .arg("--build")
            .arg(&tree)
            .arg(&deb),
    )?;

    // The archive: the same files (no DEBIAN) under one folder.
    let folder = format!("vncgate-{version}-{arch}");
    let tarball = dist.join(format!("{folder}.tar.gz"));
    run_cmd(
        Command::new("tar")
            .arg("-czf")
            .arg(&tarball)
            .args(["--owner=0", "--group=0", "--exclude=DEBIAN"])
            .arg("-C")
            .arg(&tree)
            .arg(format!("--transform=s,^\\.,{folder},"))
            .arg("."),
    )?;
    Ok(Package {
        deb,
        tarball,
        version,
    })
}

fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Looks at the package as an operator would: its files and control data (`dpkg-deb -c/-I`),
/// unpacked into a throw-away root (`dpkg -x`), whose binary answers `--version` and passes
/// `check-config` on the shipped configuration; the archive lists the same binary.
pub fn check(p: &Package) -> anyhow::Result<()> {
    let listing = output(Command::new("dpkg-deb").arg("-c").arg(&p.deb))?;
    for want in [
        "./usr/bin/vncgate",
        "./lib/systemd/system/vncgate.service",
        "./etc/vncgate/vncgate.toml",
        "./usr/share/man/man1/vncgate.1.gz",
        "./usr/share/man/man1/vncgate-serve.1.gz",
        "./usr/share/bash-completion/completions/vncgate",
        "./usr/share/doc/vncgate/fleet.md",
    ] {
        if !listing.lines().any(|l| l.ends_with(want)) {
            bail!("{} lacks {want}:\n{listing}", p.deb.display());
        }
    }
    let info = output(Command::new("dpkg-deb").arg("-I").arg(&p.deb))?;
    for want in ["Package: vncgate", "Depends: libc6 (>= 2.", " conffiles"] {
        if !info.contains(want) {
            bail!("dpkg-deb -I {}: no {want:?} in\n{info}", p.deb.display());
        }
    }
    let conffiles = output(
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&p.deb)
            .arg("conffiles"),
    )?;
    if conffiles.lines().collect::<Vec<_>>() != CONFFILES {
        bail!("{}: conffiles are {conffiles:?}", p.deb.display());
    }
    let unpacked = crate::bench_gateway::target_dir().join("dist/unpacked");
    let _ = std::fs::remove_dir_all(&unpacked);
    run_cmd(Command::new("dpkg").arg("-x").arg(&p.deb).arg(&unpacked))?;
    let bin = unpacked.join("usr/bin/vncgate");
    let v = output(Command::new(&bin).arg("--version"))?;
    if !v.starts_with(&format!("vncgate {}", p.version)) {
        bail!("{} --version says {v:?}", bin.display());
    }
    let state = unpacked.join("var/lib/vncgate");
    let checked = output(
        Command::new(&bin)
            .arg("check-config")
            .arg("--config")
            .arg(unpacked.join("etc/vncgate/vncgate.toml"))
            .arg("--state-dir")
            .arg(&state),
    )?;
    if !checked.contains("configuration OK") {
        bail!("check-config of the shipped configuration:\n{checked}");
    }
    let listing = output(Command::new("tar").arg("-tzf").arg(&p.tarball))?;
    if !listing.lines().any(|l| l.ends_with("/usr/bin/vncgate")) {
        bail!("{} lacks the binary:\n{listing}", p.tarball.display());
    }
    eprintln!(
        "{}: {} files; --version and check-config of the shipped configuration pass",
        p.deb.display(),
        listing.lines().count()
    );
    Ok(())
}
