//! Records real sessions for `rfb`'s replay tests: `cargo test -p tests --test record_transcripts
//! -- --ignored`. Each transcript is what the server sent for one forced encoding, plus a
//! `.meta` file with the requested encodings and the SHA-256 of the X server's own pixels,
//! checked equal to the decoded snapshot at recording time.

use sha2::{Digest, Sha256};
use tests::record::{requested_encodings, Recorder};
use tests::vnc::{assert_same, paint_test_desktop, snapshot, wait_for_still_screen};
use tests::x11vnc::X11vnc;
use tests::xvnc::Xvnc;
use tests::TempDir;

fn out_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rfb/tests/transcripts")
}

fn record(server: &str, port: u16, display: &str, encodings: &[&str]) -> anyhow::Result<()> {
    let want = wait_for_still_screen(display)?;
    let want_hash: String = Sha256::digest(&want.rgba)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::create_dir_all(out_dir())?;
    for enc in encodings {
        let rec = Recorder::start(port)?;
        let got = snapshot(rec.port, &["--encoding", enc])?;
        let cap = rec.finish()?;
        assert_same(&format!("{server} {enc}"), &got, &want)?;
        let list = requested_encodings(&cap.from_client)
            .ok_or_else(|| anyhow::anyhow!("no SetEncodings seen"))?;
        let name = format!("{server}-{enc}");
        std::fs::write(out_dir().join(format!("{name}.bin")), &cap.from_server)?;
        let meta = format!(
            "server={server}\nencodings={}\nwidth={}\nheight={}\nsha256={want_hash}\n",
            list.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(","),
            want.width,
            want.height
        );
        std::fs::write(out_dir().join(format!("{name}.meta")), meta)?;
        eprintln!("recorded {name}: {} bytes", cap.from_server.len());
    }
    Ok(())
}

#[test]
#[ignore = "regenerates rfb/tests/transcripts; run by hand"]
fn record_xvnc_and_x11vnc() -> anyhow::Result<()> {
    let dir = TempDir::new("rec")?;
    let mut desk = Xvnc::start(320, 240, &["-SecurityTypes", "None"])?;
    let d = desk.display_env();
    paint_test_desktop(&d, &mut |p, a| desk.spawn(p, a), dir.path())?;
    record(
        "xvnc",
        desk.port,
        &d,
        &["raw", "copyrect", "rre", "hextile", "zrle", "tight"],
    )?;
    let mut x = X11vnc::start(320, 240, &["-nopw"])?;
    let d = x.display_env();
    paint_test_desktop(&d, &mut |p, a| x.spawn(p, a), dir.path())?;
    record(
        "x11vnc",
        x.port,
        &d,
        &["hextile", "zlib", "zrle", "tight", "tightpng"],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Larger desktops for `rfb/benches` (criterion and the wasm/noVNC page): 1280×800, several
// gradient images, a photo-like plasma and xterms full of text — one full-screen update each.

fn bench_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rfb/benches/data")
}

/// Puts a busy, realistic desktop on `display`: solid root, gradients with shapes and text, a
/// plasma "photo", and xterms with lines of text (all deterministic).
fn paint_large_desktop(
    display: &str,
    spawn: &mut dyn FnMut(&str, &[&str]) -> anyhow::Result<()>,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use std::process::Command;
    let run = |prog: &str, args: &[&str]| tests::proc::run_x_client(display, prog, args);
    run("xsetroot", &["-solid", "#2a4f6e"])?;
    let blank = dir.join("blank.xbm");
    std::fs::write(
        &blank,
        "#define b_width 8\n#define b_height 8\n#define b_x_hot 0\n#define b_y_hot 0\n\
         static unsigned char b_bits[] = {\n 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };\n",
    )?;
    let blank_s = blank.display().to_string();
    run("xsetroot", &["-cursor", &blank_s, &blank_s])?;
    run("xdotool", &["mousemove", "1", "1"])?;
    // (size, ImageMagick source, extra drawing, position)
    let images: [(&str, &str, &[&str], &str); 4] = [
        (
            "480x300",
            "gradient:#ffd000-#1030a0",
            &["-fill", "white", "-draw", "circle 240,150 240,60"],
            "+790+20",
        ),
        (
            "360x240",
            "gradient:#e03030-#30e0a0",
            &[
                "-fill",
                "black",
                "-pointsize",
                "28",
                "-draw",
                "text 20,120 'vncgate bench'",
            ],
            "+20+530",
        ),
        (
            "300x380",
            "radial-gradient:#ffffff-#203060",
            &[],
            "+420+410",
        ),
        ("420x300", "plasma:#806040-#4080c0", &[], "+780+460"),
    ];
    for (i, (size, source, draw, at)) in images.iter().enumerate() {
        let img = dir.join(format!("img{i}.png"));
        let img_s = img.display().to_string();
        let mut args = vec!["-seed", "7", "-size", size, source];
        args.extend_from_slice(draw);
        args.push(&img_s);
        let st = Command::new("convert").args(&args).status()?;
        anyhow::ensure!(st.success(), "convert {args:?} failed");
        spawn("display", &["-geometry", at, &img_s])?;
    }
    let text = "i=0; while [ $i -lt 60 ]; do i=$((i+1)); \
                printf '%3d  The quick brown fox jumps over the lazy dog  0123456789 ABCDEF\\n' $i; done; sleep 600";
    for (geometry, colours) in [
        ("80x30+10+10", ["-bg", "white", "-fg", "black"]),
        ("45x16+500+20", ["-bg", "black", "-fg", "green"]),
        ("50x8+740+330", ["-bg", "#ffffe0", "-fg", "#000080"]),
    ] {
        let mut args = vec!["-geometry", geometry];
        args.extend_from_slice(&colours);
        args.extend_from_slice(&["-e", "sh", "-c", text]);
        spawn("xterm", &args)?;
    }
    Ok(())
}

/// Records what `server` sends for one full-screen Tight update with JPEG (quality 6,
/// compression 2, as the viewer asks by default), with a minimal RFB client of its own:
/// `vncgate snapshot` has no switch for a quality level.
fn record_tight_jpeg(port: u16) -> anyhow::Result<(Vec<u8>, Vec<i32>)> {
    use std::io::{Read, Write};
    let encodings: Vec<i32> = vec![7, 0, -32 + 6, -256 + 2, -223, -224, -239];
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    let mut got = Vec::new();
    let read_exact =
        |s: &mut std::net::TcpStream, n: usize, got: &mut Vec<u8>| -> anyhow::Result<Vec<u8>> {
            let mut b = vec![0; n];
            s.read_exact(&mut b)?;
            got.extend_from_slice(&b);
            Ok(b)
        };
    let version = read_exact(&mut s, 12, &mut got)?;
    anyhow::ensure!(
        version.starts_with(b"RFB 003."),
        "not an RFB server: {version:?}"
    );
    s.write_all(b"RFB 003.008\n")?;
    let n = read_exact(&mut s, 1, &mut got)?[0];
    let types = read_exact(&mut s, n.into(), &mut got)?;
    anyhow::ensure!(
        types.contains(&1),
        "security type None not offered: {types:?}"
    );
    s.write_all(&[1])?;
    let result = read_exact(&mut s, 4, &mut got)?;
    anyhow::ensure!(result == [0, 0, 0, 0], "security result {result:?}");
    s.write_all(&[1])?; // ClientInit, shared
    let init = read_exact(&mut s, 24, &mut got)?;
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]);
    read_exact(&mut s, usize::try_from(name_len)?, &mut got)?;
    let (w, h) = ([init[0], init[1]], [init[2], init[3]]);
    let mut out = vec![0u8, 0, 0, 0];
    // SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, 255 maxima, R G B shifts 0 8 16.
    out.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0]);
    out.extend_from_slice(&[2, 0]);
    out.extend_from_slice(&u16::try_from(encodings.len())?.to_be_bytes());
    for e in &encodings {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out.extend_from_slice(&[3, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&w);
    out.extend_from_slice(&h);
    s.write_all(&out)?;
    // One request, one update: read until the server has been quiet for a while.
    s.set_read_timeout(Some(std::time::Duration::from_millis(1500)))?;
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((got, encodings))
}

fn record_large(server: &str, port: u16, display: &str) -> anyhow::Result<()> {
    let want = wait_for_still_screen(display)?;
    let want_hash: String = Sha256::digest(&want.rgba)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::create_dir_all(bench_dir())?;
    let write = |name: &str, bytes: &[u8], list: &[i32], lossy: bool| -> anyhow::Result<()> {
        std::fs::write(bench_dir().join(format!("{name}.bin")), bytes)?;
        // For a lossy transcript, sha256 is the X server's pixels, which decoding only
        // approximates.
        let meta =
            format!(
            "server={server}\nencodings={}\nwidth={}\nheight={}\nsha256={want_hash}\nlossy={}\n",
            list.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(","),
            want.width,
            want.height,
            u8::from(lossy),
        );
        std::fs::write(bench_dir().join(format!("{name}.meta")), meta)?;
        eprintln!("recorded {name}: {} bytes", bytes.len());
        Ok(())
    };
    for enc in ["hextile", "zrle", "tight"] {
        let rec = Recorder::start(port)?;
        let got = snapshot(rec.port, &["--encoding", enc])?;
        let cap = rec.finish()?;
        assert_same(&format!("{server} {enc} (large)"), &got, &want)?;
        let list = requested_encodings(&cap.from_client)
            .ok_or_else(|| anyhow::anyhow!("no SetEncodings seen"))?;
        write(
            &format!("{server}-{}x{}-{enc}", want.width, want.height),
            &cap.from_server,
            &list,
            false,
        )?;
    }
    let (bytes, list) = record_tight_jpeg(port)?;
    write(
        &format!("{server}-{}x{}-tight-jpeg", want.width, want.height),
        &bytes,
        &list,
        true,
    )?;
    Ok(())
}

#[test]
#[ignore = "regenerates rfb/benches/data; run by hand"]
fn record_large_desktops_for_benchmarks() -> anyhow::Result<()> {
    let dir = TempDir::new("rec-large")?;
    let mut desk = Xvnc::start(1280, 800, &["-SecurityTypes", "None"])?;
    let d = desk.display_env();
    paint_large_desktop(&d, &mut |p, a| desk.spawn(p, a), dir.path())?;
    record_large("xvnc", desk.port, &d)?;
    drop(desk);
    let mut x = X11vnc::start(1280, 800, &["-nopw"])?;
    let d = x.display_env();
    paint_large_desktop(&d, &mut |p, a| x.spawn(p, a), dir.path())?;
    record_large("x11vnc", x.port, &d)?;
    Ok(())
}
