//! Running the `vncgate` CLI as a user would (`snapshot`, `certs`), and comparing a snapshot
//! with the X server's own pixels.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::proc::wait_until;
use crate::xwd::{self, Image};
use crate::TempDir;

/// Runs `vncgate ARGS`; returns stdout, or fails with stderr.
pub fn vncgate(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(crate::gateway::binary()?)
        .args(args)
        .output()
        .context("cannot run vncgate")?;
    if !out.status.success() {
        bail!(
            "vncgate {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `vncgate snapshot EXTRA… vnc://127.0.0.1:PORT OUT.png`, decoded.
pub fn snapshot(port: u16, extra: &[&str]) -> anyhow::Result<Image> {
    let dir = TempDir::new("snap")?;
    let out = dir.path().join("s.png");
    let server = format!("vnc://127.0.0.1:{port}");
    let mut args = vec!["snapshot"];
    args.extend_from_slice(extra);
    args.push(&server);
    let out_s = out.display().to_string();
    args.push(&out_s);
    vncgate(&args)?;
    xwd::read_png(&out)
}

/// `xwd -root` of a display, decoded.
pub fn xwd_root(display: &str) -> anyhow::Result<Image> {
    let out = Command::new("xwd")
        .args(["-root", "-silent", "-display", display])
        .output()
        .context("cannot run xwd (package x11-apps)")?;
    if !out.status.success() {
        bail!("xwd failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    xwd::parse(&out.stdout)
}

/// Waits until two dumps 400 ms apart are equal: the desktop has finished drawing.
pub fn wait_for_still_screen(display: &str) -> anyhow::Result<Image> {
    let mut last = xwd_root(display)?;
    wait_until(
        Duration::from_secs(20),
        "the desktop to stop changing",
        || {
            std::thread::sleep(Duration::from_millis(400));
            let now = xwd_root(display)?;
            let still = now == last;
            last = now;
            Ok(still.then(|| last.clone()))
        },
    )
}

/// Puts real content on a desktop: a solid root, an xterm with text, and a gradient image.
pub fn paint_test_desktop(
    display: &str,
    spawn: &mut dyn FnMut(&str, &[&str]) -> anyhow::Result<()>,
    dir: &Path,
) -> anyhow::Result<()> {
    let run = |prog: &str, args: &[&str]| crate::proc::run_x_client(display, prog, args);
    run("xsetroot", &["-solid", "#20603a"])?;
    // Xvnc paints the pointer into the framebuffer when the server moved it, while xwd never
    // shows it: park it over the root window, whose cursor is made invisible.
    let blank = dir.join("blank.xbm");
    std::fs::write(
        &blank,
        "#define b_width 8\n#define b_height 8\n#define b_x_hot 0\n#define b_y_hot 0\n\
         static unsigned char b_bits[] = {\n 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };\n",
    )?;
    let blank_s = blank.display().to_string();
    run("xsetroot", &["-cursor", &blank_s, &blank_s])?;
    run("xdotool", &["mousemove", "1", "1"])?;
    let img = dir.join("gradient.png");
    let img_s = img.display().to_string();
    let st = Command::new("convert")
        .args([
            "-size",
            "320x200",
            "gradient:#ffd000-#1030a0",
            "-fill",
            "white",
            "-draw",
            "circle 160,100 160,40",
        ])
        .arg(&img_s)
        .status()
        .context("cannot run convert (package imagemagick)")?;
    anyhow::ensure!(st.success(), "convert failed");
    spawn("display", &["-geometry", "+300+60", &img_s])?;
    spawn(
        "xterm",
        &[
            "-geometry",
            "48x12+10+10",
            "-e",
            "sh",
            "-c",
            "printf 'The quick brown fox\\njumps over the lazy dog 0123456789\\n'; sleep 600",
        ],
    )?;
    // Two equal dumps before a window is mapped look like a finished desktop to
    // `wait_for_still_screen`: return once both windows are on the screen.
    for (by, pattern) in [
        ("--name", "^ImageMagick: gradient\\.png$"),
        ("--class", "^xterm$"),
    ] {
        wait_until(
            Duration::from_secs(20),
            &format!("a window {by} {pattern} on {display}"),
            || {
                let out = Command::new("xdotool")
                    .args(["search", "--onlyvisible", by, pattern])
                    .env("DISPLAY", display)
                    .output()
                    .context("cannot run xdotool")?;
                Ok((out.status.success() && !out.stdout.is_empty()).then_some(()))
            },
        )?;
    }
    Ok(())
}

/// Asserts a snapshot equals the X server's pixels exactly.
pub fn assert_same(what: &str, got: &Image, want: &Image) -> anyhow::Result<()> {
    if (got.width, got.height) != (want.width, want.height) {
        bail!(
            "{what}: snapshot is {}x{}, the X screen {}x{}",
            got.width,
            got.height,
            want.width,
            want.height
        );
    }
    let (n, first) = got.diff(want);
    if n > 0 {
        if let Some(dir) = std::env::var_os("VNCGATE_DEBUG_DIR") {
            let dir = std::path::PathBuf::from(dir);
            let _ = save_png(&dir.join(format!("{what}-snapshot.png")), got);
            let _ = save_png(&dir.join(format!("{what}-x.png")), want);
        }
        bail!("{what}: {n} pixels differ from the X server's; first at {first:?} (snapshot, X)");
    }
    Ok(())
}

/// Writes an image as PNG (for looking at a failure).
pub fn save_png(path: &Path, img: &Image) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, img.width, img.height);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&img.rgba)?;
    std::fs::write(path, bytes)?;
    Ok(())
}
