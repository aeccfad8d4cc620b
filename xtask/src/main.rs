//! `cargo xtask …`: the project's build orchestration.
//!
//! - `setup`: installs what a fresh Debian machine lacks; fast when all is present.
//! - `build-web`: the wasm viewer, release, through wasm-bindgen and wasm-opt, into `web/pkg`.
//! - `run [-- ARGS]`: a release vncgate in front of a demo desktop (or `--target NAME=HOST:PORT`).
//! - `test`: formatting, lints, unit, wasm-in-Chromium and end-to-end tests.
//! - `bench TARGET`: measurements of goals, printed (`decoders`: rfb native, wasm and noVNC;
//!   `gateway`; `viewer [profile]`; `soak`: the hardening soak).

mod bench;
mod bench_fleet;
mod bench_gateway;
mod bench_soak;
mod dist;
mod setup;
mod tasks;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

fn main() -> std::process::ExitCode {
    put_cargo_bin_on_path();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("build-web") => tasks::build_web(),
        Some("run") => tasks::run(&args[1..]),
        Some("test") => tasks::test(),
        Some("bench") => bench::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 setup       install the tools and packages this project needs (idempotent)\n  \
                 build-web   build the wasm viewer into web/pkg\n  \
                 run         build and start vncgate in front of a demo desktop\n              \
                 (cargo xtask run -- --target NAME=HOST:PORT for an existing VNC server)\n  \
                 test        run every check and test\n  \
                 dist        the Debian package and a .tar.gz in target/dist (--debug: the debug build)\n  \
                 bench       measure: `bench decoders` (rfb native and wasm vs noVNC),\n              \
                 `bench gateway` (vncgate vs websockify), `bench viewer` (beside noVNC in Chromium),\n              \
                 `bench viewer profile` (where each page's renderer spends its time on video and text),\n              \
                 `bench soak [--minutes N] [--sessions N]` (hardening: memory, descriptors, audit),\n              \
                 `bench fleet [--keys N] [--sessions N]` (SQLite vs Redis keys; idle sessions behind HAProxy)"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Tools that `cargo install` puts in `$CARGO_HOME/bin` (wasm-bindgen) must be found by the
/// steps after it, even when that folder is not on the caller's PATH.
fn put_cargo_bin_on_path() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(bin) = cargo_home.map(|h| h.join("bin")) else {
        return;
    };
    let mut paths: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if !paths.contains(&bin) {
        paths.insert(0, bin);
        if let Ok(joined) = std::env::join_paths(paths) {
            // Single-threaded here, before any child process starts.
            std::env::set_var("PATH", joined);
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `cmd`, echoing it, and fails with its name if it fails.
pub fn run_cmd(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
