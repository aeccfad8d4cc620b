//! The build, run and test tasks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{cargo, root, run_cmd, setup};
use test_ports::free_port;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The viewer's wasm modules: the viewer itself, and its TLS engine, fetched by the page only
/// when a VNC server asks for TLS. Each is built on its own: in one cargo invocation rfb's
/// `tls` feature would be unified into the viewer, and rustls with it.
const WEB_MODULES: [&str; 2] = ["viewer-wasm", "viewer-tls"];

/// Builds the viewer's modules in release mode into `web/pkg` (wasm-bindgen, then wasm-opt).
pub fn build_web() -> anyhow::Result<()> {
    let pkg = root().join("web/pkg");
    for package in WEB_MODULES {
        build_module(package, &pkg, None)?;
    }
    precompress_web()
}

/// Builds one module of the page into `pkg` as it ships — or, with `names` (a cargo target
/// directory of its own), keeping its function names, so that a profile of the page names
/// them (`cargo xtask bench viewer profile`).
pub fn build_module(
    package: &str,
    pkg: &std::path::Path,
    names: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let profile = "wasm-release";
    let mut build = cargo();
    build.args([
        "build",
        "--profile",
        profile,
        "-p",
        package,
        "--target",
        WASM_TARGET,
    ]);
    if let Some(dir) = names {
        build
            .env("CARGO_PROFILE_WASM_RELEASE_STRIP", "false")
            .env("CARGO_TARGET_DIR", dir);
    }
    run_cmd(&mut build)?;
    let stem = package.replace('-', "_");
    let wasm = names
        .map_or_else(target_dir, std::path::Path::to_path_buf)
        .join(WASM_TARGET)
        .join(profile)
        .join(format!("{stem}.wasm"));
    run_cmd(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(pkg)
            .arg(&wasm),
    )?;
    let bg = pkg.join(format!("{stem}_bg.wasm"));
    match setup::wasm_opt() {
        Some(wasm_opt) => run_cmd(
            Command::new(wasm_opt)
                .args(["-Oz", "--enable-simd", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext"])
                .args(["--enable-mutable-globals", "--enable-reference-types"])
                .args(names.map(|_| "--debuginfo"))
                .arg("-o")
                .arg(&bg)
                .arg(&bg),
        )?,
        None => eprintln!("note: no wasm-opt 116+ (cargo xtask setup fetches one with npm); {package} is unoptimised"),
    }
    let size = std::fs::metadata(&bg).map(|m| m.len()).unwrap_or(0);
    eprintln!("{package}: {} ({} KiB)", bg.display(), size / 1024);
    Ok(())
}

/// Extensions of the files worth compressing (the gateway's `compressible` types).
const COMPRESSIBLE: [&str; 7] = ["html", "js", "css", "wasm", "json", "svg", "txt"];

/// Writes the brotli form of every compressible file of `web/` (1 KiB and more) to
/// `web/pkg/br/HASH.br`, HASH being the first 12 bytes of the file's SHA-256 in hex — what the
/// gateway's ETag holds, so it serves a brotli form only for the content it was made from.
/// Without the `brotli` program the gateway serves gzip, and this says so.
fn precompress_web() -> anyhow::Result<()> {
    let web = root().join("web");
    let out = web.join("pkg/br");
    let _ = std::fs::remove_dir_all(&out);
    if Command::new("brotli").arg("--version").output().is_err() {
        eprintln!(
            "note: no brotli program (cargo xtask setup installs it): the viewer is served gzipped"
        );
        return Ok(());
    }
    std::fs::create_dir_all(&out)?;
    let mut files = Vec::new();
    let mut dirs = vec![web.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
            let path = e.path();
            if path == out || e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|x| COMPRESSIBLE.contains(&x.to_string_lossy().as_ref()))
                && std::fs::metadata(&path).is_ok_and(|m| m.len() >= 1024)
            {
                files.push(path);
            }
        }
    }
    let (mut plain, mut compressed) = (0u64, 0u64);
    for f in &files {
        let sum = Command::new("sha256sum").arg(f).output()?;
        let text = String::from_utf8_lossy(&sum.stdout);
        let hash = text.get(..24).context("sha256sum printed no hash")?;
        let target = out.join(format!("{hash}.br"));
        run_cmd(
            Command::new("brotli")
                .args(["-q", "11", "-w", "24", "-f", "-o"])
                .arg(&target)
                .arg(f),
        )?;
        plain += std::fs::metadata(f)?.len();
        compressed += std::fs::metadata(&target)?.len();
    }
    eprintln!(
        "brotli: {} files, {} KiB → {} KiB in {}",
        files.len(),
        plain / 1024,
        compressed / 1024,
        out.display()
    );
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Kills the child processes it holds when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not start listening on 127.0.0.1:{port} within 15 s")
}

/// `cargo xtask run [-- vncgate serve flags]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args: Vec<String> = args.iter().filter(|a| *a != "--").cloned().collect();
    setup::run()?;
    build_web()?;
    run_cmd(cargo().args(["build", "--release", "-p", "gateway"]))?;
    let mut children = Children(Vec::new());
    let mut serve_args: Vec<String> = vec!["serve".into()];
    if !args
        .iter()
        .any(|a| a == "--listen" || a.starts_with("--listen="))
    {
        serve_args.extend(["--listen".into(), "127.0.0.1:8443".into()]);
    }
    let has_target = args
        .iter()
        .any(|a| a == "--target" || a.starts_with("--target="));
    if !has_target {
        let port = free_port()?;
        // `-displayfd 1`: Xvnc picks a display number it can lock and prints it when ready.
        let mut xvnc = Command::new("Xvnc")
            .args(["-displayfd", "1"])
            .args([
                "-geometry",
                "1280x800",
                "-depth",
                "24",
                "-localhost",
                "-SecurityTypes",
                "None",
                "-AlwaysShared",
                "-desktop",
                "vncgate demo",
            ])
            .args(["-rfbport", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvnc (run cargo xtask setup)")?;
        let stdout = xvnc.stdout.take().context("Xvnc's stdout")?;
        children.0.push(xvnc);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .context("reading Xvnc's display number")?;
        let display: u16 = line
            .trim()
            .parse()
            .with_context(|| format!("Xvnc did not start (it printed {line:?})"))?;
        eprintln!("started a demo desktop: Xvnc :{display} on 127.0.0.1:{port}");
        wait_for_port(port, "Xvnc")?;
        let disp = format!(":{display}");
        for cmd in [
            vec!["openbox"],
            vec![
                "xterm",
                "-geometry",
                "100x30+40+40",
                "-title",
                "vncgate demo",
            ],
        ] {
            children.0.push(
                Command::new(cmd[0])
                    .args(&cmd[1..])
                    .env("DISPLAY", &disp)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("cannot start {}", cmd[0]))?,
            );
        }
        let _ = Command::new("xsetroot")
            .args(["-solid", "#2f4f6f"])
            .env("DISPLAY", &disp)
            .status();
        serve_args.extend([
            "--target".into(),
            format!("demo=127.0.0.1:{port}"),
            "--danger-no-auth".into(),
        ]);
        eprintln!("open https://127.0.0.1:8443/#target=demo (the certificate is self-signed: accept it once)");
    }
    serve_args.extend(args);
    let vncgate = target_dir().join("release/vncgate");
    eprintln!("$ {} {}", vncgate.display(), serve_args.join(" "));
    eprintln!("Ctrl-C stops everything this started.");
    let mut gate = Command::new(&vncgate)
        .args(&serve_args)
        .spawn()
        .context("cannot start vncgate")?;
    let status = gate.wait()?;
    drop(children);
    if !status.success() {
        bail!("vncgate exited with {status}");
    }
    Ok(())
}

/// One step of `cargo xtask test`.
struct Outcome {
    name: &'static str,
    ok: bool,
    secs: f64,
}

/// Runs a `cargo test` to the end (`--no-fail-fast`: one failing test binary does not hide
/// the others), passing its output through, and returns the names of the failed tests.
fn cargo_test(cmd: &mut Command) -> anyhow::Result<Vec<String>> {
    use std::io::BufRead;
    eprintln!("$ {}", crate::describe(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", crate::describe(cmd)))?;
    let stdout = child.stdout.take().context("cargo test's output")?;
    let mut failed = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|l| l.strip_suffix(" ... FAILED"))
        {
            failed.push(name.to_owned());
        }
    }
    let status = child.wait()?;
    if !status.success() && failed.is_empty() {
        failed.push(format!(
            "(no test named: {} exited with {status})",
            crate::describe(cmd)
        ));
    }
    Ok(failed)
}

/// `cargo xtask test`: every check, continuing past failures, then a summary.
pub fn test() -> anyhow::Result<()> {
    setup::run()?;
    let mut outcomes = Vec::new();
    let failed_tests = std::cell::RefCell::new(Vec::<String>::new());
    let tests = |cmd: &mut Command| -> anyhow::Result<()> {
        let failed = cargo_test(cmd)?;
        let n = failed.len();
        failed_tests.borrow_mut().extend(failed);
        if n > 0 {
            bail!("{n} test(s) failed");
        }
        Ok(())
    };
    let mut step = |name: &'static str, f: &dyn Fn() -> anyhow::Result<()>| {
        eprintln!("\n=== {name}");
        let t = Instant::now();
        let ok = match f() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{name}: {e:#}");
                false
            }
        };
        outcomes.push(Outcome {
            name,
            ok,
            secs: t.elapsed().as_secs_f64(),
        });
    };
    step("rustfmt", &|| {
        run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))
    });
    step("clippy (native)", &|| {
        run_cmd(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    step("clippy (wasm32)", &|| {
        // Apart, as they are built: together rfb's `tls` feature would reach the viewer.
        for packages in [
            &["-p", "viewer-wasm"][..],
            &["-p", "viewer-tls", "-p", "rfb"],
        ] {
            run_cmd(cargo().arg("clippy").args(packages).args([
                "--all-targets",
                "--target",
                WASM_TARGET,
                "--",
                "-D",
                "warnings",
            ]))?;
        }
        Ok(())
    });
    step("build viewer (wasm32, release)", &build_web);
    step("build vncgate", &|| {
        run_cmd(cargo().args(["build", "-p", "gateway", "--bins"]))
    });
    step("package (cargo xtask dist --debug) and inspect it", &|| {
        let p = crate::dist::package("debug")?;
        crate::dist::check(&p)
    });
    step(
        "rfb without its TLS engine (as the viewer builds it)",
        &|| tests(cargo().args(["test", "-p", "rfb", "--no-default-features", "--lib"])),
    );
    step("workspace tests (unit, integration, end-to-end)", &|| {
        tests(
            cargo()
                .args(["test", "--workspace", "--no-fail-fast"])
                .env("VNCGATE_BIN", target_dir().join("debug/vncgate")),
        )
    });
    step("wasm tests in headless Chromium", &|| {
        tests(
            cargo()
                .args([
                    "test",
                    "-p",
                    "viewer-wasm",
                    "--target",
                    WASM_TARGET,
                    "--tests",
                    "--no-fail-fast",
                ])
                .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                .env("WASM_BINDGEN_TEST_TIMEOUT", "60"),
        )
    });
    eprintln!("\n=== summary");
    for o in &outcomes {
        eprintln!(
            "{:>7}  {:6.1} s  {}",
            if o.ok { "ok" } else { "FAILED" },
            o.secs,
            o.name
        );
    }
    let failed_tests = failed_tests.borrow().clone();
    if !failed_tests.is_empty() {
        eprintln!("\nfailed tests:");
        for t in &failed_tests {
            eprintln!("  {t}");
        }
    }
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    println!(
        "xtask: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    );
    if failed > 0 {
        bail!("{failed} step(s) failed");
    }
    Ok(())
}
