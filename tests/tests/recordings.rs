//! `vncgate recordings snapshot` on FBS 001.000 recordings of a real Xvnc, made here by a small
//! recorder of the test's own (as rfbproxy does: a client that records what the server sends,
//! block by block, with timestamps) — not by the code under test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use tests::xvnc::Xvnc;
use tests::TempDir;

/// Appends an FBS block: length, data, zero padding to 4, milliseconds.
fn block(out: &mut Vec<u8>, data: &[u8], ms: u32) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + (4 - data.len() % 4) % 4, 0);
    out.extend_from_slice(&ms.to_be_bytes());
}

/// Records `desk` for `total` as an RFB 3.3 client asking for Raw updates, running `at` (a
/// time and an X command's arguments) on the way; returns the FBS file's bytes.
fn record(desk: &Xvnc, total: Duration, at: &[(Duration, &[&str])]) -> anyhow::Result<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", desk.port))?;
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    let start = Instant::now();
    let mut file = b"FBS 001.000\n".to_vec();
    let mut version = [0u8; 12];
    read_exact(&mut s, &mut version)?;
    s.write_all(b"RFB 003.003\n")?;
    // The stream as a 3.3 viewer saw it: a 3.3 version, then what the server sent.
    block(&mut file, b"RFB 003.003\n", 0);
    let mut security = [0u8; 4];
    read_exact(&mut s, &mut security)?;
    ensure!(
        security == [0, 0, 0, 1],
        "security {security:?}: start Xvnc with None"
    );
    s.write_all(&[1])?;
    let mut init = [0u8; 24];
    read_exact(&mut s, &mut init)?;
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let mut name = vec![0u8; name_len];
    read_exact(&mut s, &mut name)?;
    let mut first = security.to_vec();
    first.extend_from_slice(&init);
    first.extend_from_slice(&name);
    block(&mut file, &first, 0);
    let (w, h) = (
        u16::from_be_bytes([init[0], init[1]]),
        u16::from_be_bytes([init[2], init[3]]),
    );
    // SetEncodings [Raw], then a full update request.
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0])?;
    let request = |incremental: u8| {
        let mut r = vec![3, incremental, 0, 0, 0, 0];
        r.extend_from_slice(&w.to_be_bytes());
        r.extend_from_slice(&h.to_be_bytes());
        r
    };
    s.write_all(&request(0))?;
    let mut pending = at.to_vec();
    let mut last_request = Instant::now();
    let mut buf = vec![0u8; 256 * 1024];
    while start.elapsed() < total {
        if let Some(pos) = pending.iter().position(|(t, _)| start.elapsed() >= *t) {
            let (_, args) = pending.remove(pos);
            desk.run(args[0], &args[1..])?;
        }
        if last_request.elapsed() >= Duration::from_millis(100) {
            s.write_all(&request(1))?;
            last_request = Instant::now();
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => block(&mut file, &buf[..n], start.elapsed().as_millis() as u32),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(file)
}

fn read_exact(s: &mut TcpStream, buf: &mut [u8]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => anyhow::bail!("the server closed"),
            Ok(n) => got += n,
            Err(_) if Instant::now() < deadline => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn colour_at(png: &Path) -> anyhow::Result<[u8; 3]> {
    let img = tests::xwd::read_png(png)?;
    let p = img.pixel(100, 100);
    Ok([p[0], p[1], p[2]])
}

/// `vncgate recordings snapshot`; what it said on stderr.
fn snapshot(file: &Path, at: Option<&str>, out: &Path) -> anyhow::Result<String> {
    let mut cmd = std::process::Command::new(tests::gateway::binary()?);
    cmd.args(["recordings", "snapshot"]).arg(file);
    if let Some(at) = at {
        cmd.args(["--at", at]);
    }
    let done = cmd.arg(out).output()?;
    let said = String::from_utf8_lossy(&done.stderr).into_owned();
    ensure!(done.status.success(), "snapshot failed: {said}");
    Ok(said)
}

/// A recording in which the desktop turns from blue to red to green: pictures taken before and
/// after each change have the colours of their moment; a recording cut in the middle plays to
/// the cut and says where it stopped.
#[test]
fn snapshots_of_a_recording_show_the_desktop_as_it_was() -> anyhow::Result<()> {
    let dir = TempDir::new("recordings")?;
    let d = dir.path();
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#3366cc"])?;
    let file = record(
        &desk,
        Duration::from_millis(2600),
        &[
            (
                Duration::from_millis(800),
                &["xsetroot", "-solid", "#cc3333"],
            ),
            (
                Duration::from_millis(1600),
                &["xsetroot", "-solid", "#33cc33"],
            ),
        ],
    )?;
    let fbs = d.join("desk.fbs");
    std::fs::write(&fbs, &file)?;
    ensure!(file.starts_with(b"FBS 001.000\n"));

    let (blue, red, green) = ([0x33, 0x66, 0xcc], [0xcc, 0x33, 0x33], [0x33, 0xcc, 0x33]);
    for (at, want) in [(Some("0.5"), blue), (Some("1.4"), red), (None, green)] {
        let png = d.join(format!("at-{}.png", at.unwrap_or("end")));
        snapshot(&fbs, at, &png).with_context(|| format!("at {at:?}"))?;
        ensure!(
            colour_at(&png)? == want,
            "at {at:?}: {:?}",
            colour_at(&png)?
        );
    }

    // Cut inside the block that turned the desktop green.
    let cut = d.join("cut.fbs");
    let mut offsets = Vec::new();
    let mut pos = 12;
    while pos < file.len() {
        let len = u32::from_be_bytes(file[pos..pos + 4].try_into()?) as usize;
        let ms = u32::from_be_bytes(file[pos + 4 + len + (4 - len % 4) % 4..][..4].try_into()?);
        offsets.push((pos, ms, len));
        pos += 4 + len + (4 - len % 4) % 4 + 4;
    }
    let (green_at, _, len) = offsets
        .iter()
        .copied()
        .find(|(_, ms, len)| *ms >= 1600 && *len > 1000)
        .context("an update after the change to green")?;
    std::fs::write(&cut, &file[..green_at + 4 + len / 2])?;
    let png = d.join("cut.png");
    let said = snapshot(&cut, None, &png)?;
    ensure!(colour_at(&png)? == red, "the last picture before the cut");
    ensure!(
        said.contains(&format!(
            "stops in the middle of the block at byte {green_at}"
        )),
        "says where it stopped: {said}"
    );
    Ok(())
}

/// The blocks of an FBS file, read here independently of the code under test: (offset,
/// milliseconds, data length); an error names where the file stops making sense.
fn fbs_blocks(file: &[u8]) -> anyhow::Result<Vec<(usize, u32, usize)>> {
    ensure!(file.starts_with(b"FBS 001.000\n"), "no FBS header");
    let mut out = Vec::new();
    let mut pos = 12;
    while pos < file.len() {
        let len =
            u32::from_be_bytes(file.get(pos..pos + 4).context("length")?.try_into()?) as usize;
        let stamp_at = pos + 4 + len + (4 - len % 4) % 4;
        let ms = u32::from_be_bytes(
            file.get(stamp_at..stamp_at + 4)
                .context("stamp")?
                .try_into()?,
        );
        out.push((pos, ms, len));
        pos = stamp_at + 4;
    }
    Ok(out)
}

/// The gateway records a browser's session (it logs in to the desktop itself to see the
/// stream in clear): one `.fbs` of mode 0600 that starts `FBS 001.000` and parses block by
/// block, with timestamps that never go back; pictures of it at moments before and after each
/// of three changes of the desktop's colour have that moment's colour; the audit line names the file. A
/// desktop whose viewers run their own VeNCrypt TLS to it (end to end: the gateway holds no
/// login for it) is relayed as it is, unrecorded, and the audit line says why.
#[test]
fn the_gateway_records_sessions_it_sees_in_clear() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("recorded")?;
    let d = dir.path();
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#3366cc"])?;
    // A desktop that speaks VeNCrypt X509 itself: its viewers' TLS runs end to end.
    let pki = tests::pki::CertDir::init(&d.join("pki"), "Desk CA")?;
    pki.run(&["issue", "server", "locked", "--san", "127.0.0.1"])?;
    let locked = Xvnc::start_x509(
        640,
        480,
        Path::new(&pki.path("locked.crt")),
        Path::new(&pki.path("locked.key")),
    )?;
    const TOKEN: &str = "recording-admin-token-0123456789";
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let rec = d.join("recordings");
    let gate = tests::gateway::Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--target",
        &format!("locked=127.0.0.1:{}", locked.port),
        "--admin-token-file",
        &d.join("token").display().to_string(),
        "--record-dir",
        &rec.display().to_string(),
    ])?;

    let browser = tests::browser::Browser::start()?;
    let key = tests::api::issue(gate.port, TOKEN, "desk")?;
    browser.goto(&gate.url(&format!("#otk={key}&target=desk")))?;
    browser.wait_for_state("connected", Duration::from_secs(30))?;
    let t0 = Instant::now();
    let shows = |rgb: [u8; 3]| -> anyhow::Result<()> {
        tests::proc::wait_until(Duration::from_secs(10), "the colour in the viewer", || {
            let p = browser.canvas_pixel(100, 100)?;
            Ok((p[..3] == rgb).then_some(()))
        })
    };
    let (blue, red, green) = ([0x33, 0x66, 0xcc], [0xcc, 0x33, 0x33], [0x33, 0xcc, 0x33]);
    let yellow = [0xcc, 0xcc, 0x33];
    shows(blue)?;
    // The recording starts before t0 (the gateway's login, the page's handshake: up to a
    // second): the changes come late enough that a moment in the recording is unambiguous.
    std::thread::sleep(Duration::from_millis(1500).saturating_sub(t0.elapsed()));
    desk.run("xsetroot", &["-solid", "#cc3333"])?;
    shows(red)?;
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(t0.elapsed()));
    desk.run("xsetroot", &["-solid", "#33cc33"])?;
    shows(green)?;
    std::thread::sleep(Duration::from_millis(6000).saturating_sub(t0.elapsed()));
    desk.run("xsetroot", &["-solid", "#cccc33"])?;
    shows(yellow)?;
    std::thread::sleep(Duration::from_millis(300));
    drop(browser);
    tests::proc::wait_until(Duration::from_secs(10), "the session's audit line", || {
        Ok(gate.log_contains("\"recorded\":true").then_some(()))
    })?;
    // The writer has written and fsynced everything once it says the recording is closed.
    tests::proc::wait_until(Duration::from_secs(10), "the recording closed", || {
        Ok(gate.log_contains("recording closed").then_some(()))
    })?;

    let files: Vec<_> = std::fs::read_dir(&rec)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    let fbs = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "fbs"))
        .context("a recording")?
        .clone();
    ensure!(
        files
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".events.jsonl")),
        "{files:?}"
    );
    for f in &files {
        let mode = std::fs::metadata(f)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "{} has mode {mode:o}", f.display());
    }
    let name = fbs
        .file_name()
        .context("name")?
        .to_string_lossy()
        .into_owned();
    ensure!(gate.log_contains(&name), "the audit line names {name}");
    let bytes = std::fs::read(&fbs)?;
    let blocks = fbs_blocks(&bytes)?;
    ensure!(blocks.len() > 3, "{} blocks", blocks.len());
    ensure!(
        blocks.windows(2).all(|w| w[0].1 <= w[1].1),
        "timestamps never go back"
    );
    ensure!(
        bytes[16..16 + 12] == *b"RFB 003.003\n" && bytes[28..32] == [0, 0, 0, 1],
        "the stream starts as a 3.3 viewer with security None saw it"
    );
    // The recording started a little before t0 (the login, the page's handshake).
    // Changes at 1.5, 3.5 and 6 s after t0, which is up to a second into the recording.
    for (at, want) in [
        (Some("0.5"), blue),
        (Some("3.2"), red),
        (Some("5.3"), green),
        (None, yellow),
    ] {
        let png = d.join(format!("rec-{}.png", at.unwrap_or("end")));
        snapshot(&fbs, at, &png).with_context(|| format!("at {at:?}"))?;
        ensure!(
            colour_at(&png)? == want,
            "at {at:?}: {:?}",
            colour_at(&png)?
        );
    }

    // Listed on the command line and by the API; frames for scripts.
    let id = name.trim_end_matches(".fbs").to_owned();
    let out = std::process::Command::new(tests::gateway::binary()?)
        .args(["recordings", "list", "--dir"])
        .arg(&rec)
        .output()?;
    let table = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && table.contains(&id) && table.contains("desk"),
        "recordings list: {table}"
    );
    let (status, listed) =
        tests::api::call(gate.port, Some(TOKEN), "GET", "/api/recordings", None)?;
    ensure!(
        status == 200 && listed["recordings"][0]["id"] == id.as_str(),
        "GET /api/recordings: {status} {listed}"
    );
    let (status, _) = tests::api::call(gate.port, None, "GET", "/api/recordings", None)?;
    ensure!(status == 403, "admins only: {status}");
    let fetched = std::process::Command::new("curl")
        .args(["-sk", "-H", &format!("Authorization: Bearer {TOKEN}")])
        .arg(format!(
            "https://127.0.0.1:{}/api/recordings/{id}",
            gate.port
        ))
        .output()?
        .stdout;
    ensure!(
        fetched == bytes,
        "GET /api/recordings/ID is the file ({} bytes)",
        fetched.len()
    );
    let frames = d.join("frames");
    let done = std::process::Command::new(tests::gateway::binary()?)
        .args(["recordings", "play"])
        .arg(&fbs)
        .arg(&frames)
        .args(["--fps", "2"])
        .output()?;
    ensure!(
        done.status.success(),
        "play: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    let mut pngs: Vec<_> = std::fs::read_dir(&frames)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    pngs.sort();
    ensure!(pngs.len() >= 6, "{} frames", pngs.len());
    ensure!(colour_at(&pngs[pngs.len() - 1])? == yellow && colour_at(&pngs[1])? == blue);

    // The end-to-end encrypted desktop: relayed as it is, not recorded, and the audit says why.
    let key = tests::api::issue(gate.port, TOKEN, "locked")?;
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], gate.port));
    let (ws, first) = tests::api::redeem("127.0.0.1".parse()?, to, "locked", &key)?;
    ensure!(tests::api::admitted(&first), "relayed as it is: {first:?}");
    drop(ws);
    tests::proc::wait_until(
        Duration::from_secs(10),
        "the unrecorded session's audit line",
        || Ok(gate.log_contains("not_recorded").then_some(())),
    )?;
    ensure!(
        gate.log_contains("the stream is not seen in clear"),
        "the audit line says why"
    );
    Ok(())
}

/// An admin plays a recording in the browser (`/#playback=ID`): at 8× it ends on the last
/// colour; the seek bar goes back to the first; a recording cut in the middle plays to the cut
/// and the page says it stopped where the recording is damaged. A recording past the
/// retention is removed when the gateway starts.
#[test]
fn an_admin_plays_a_recording_in_the_browser() -> anyhow::Result<()> {
    let dir = TempDir::new("playback")?;
    let d = dir.path();
    let pki = tests::pki::CertDir::init(&d.join("pki"), "Playback CA")?;
    pki.client("alice", Some("alice@example.com"))?;
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#3366cc"])?;
    const TOKEN: &str = "playback-admin-token-0123456789";
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let rec = d.join("recordings");
    // A recording from two days ago, past the retention of one day.
    std::fs::create_dir_all(&rec)?;
    let old = rec.join("20261202-080000-desk-0ld.fbs");
    std::fs::write(&old, b"FBS 001.000\n")?;
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(&old)
        .status()?;
    ensure!(touched.success(), "touch");
    let config = d.join("vncgate.toml");
    std::fs::write(
        &config,
        format!(
            "[targets]\ndesk = \"127.0.0.1:{}\"\n[auth]\nclient_ca = \"{}\"\nclient_auth = \"optional\"\n\
             admins = [\"email:alice@example.com\"]\nadmin_token_file = \"{}\"\n[recording]\ndir = \"{}\"\nretention = \"1d\"\n",
            desk.port,
            pki.path("ca.crt"),
            d.join("token").display(),
            rec.display()
        ),
    )?;
    let gate = tests::gateway::Gateway::start(&["--config", &config.display().to_string()])?;
    tests::proc::wait_until(Duration::from_secs(10), "the old recording removed", || {
        Ok((!old.exists()).then_some(()))
    })?;

    // A session to record: blue, then green.
    let viewer = tests::browser::Browser::start()?;
    let key = tests::api::issue(gate.port, TOKEN, "desk")?;
    viewer.goto(&gate.url(&format!("#otk={key}&target=desk")))?;
    viewer.wait_for_state("connected", Duration::from_secs(30))?;
    let shows = |b: &tests::browser::Browser, rgb: [u8; 3]| -> anyhow::Result<()> {
        tests::proc::wait_until(Duration::from_secs(15), "the colour on the canvas", || {
            let p = b.canvas_pixel(100, 100)?;
            Ok((p[..3] == rgb).then_some(()))
        })
    };
    let (blue, green) = ([0x33, 0x66, 0xcc], [0x33, 0xcc, 0x33]);
    shows(&viewer, blue)?;
    // The viewer's pointer goes to (200, 150), then (240, 180), with the button held: the
    // trail the playback draws.
    let geometry = viewer.eval(
        "const c = document.getElementById('screen'); const r = c.getBoundingClientRect();\
         return [r.left, r.top, r.width / c.width, r.height / c.height];",
    )?;
    let g = |i: usize| geometry[i].as_f64().context("canvas geometry");
    let at = |x: f64, y: f64| -> anyhow::Result<(i64, i64)> {
        Ok((
            (g(0)? + (x + 0.5) * g(2)?).round() as i64,
            (g(1)? + (y + 0.5) * g(3)?).round() as i64,
        ))
    };
    let ((x0, y0), (x1, y1)) = (at(200.0, 150.0)?, at(240.0, 180.0)?);
    viewer.actions(serde_json::json!([{
        "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": x0, "y": y0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "origin": "viewport", "x": x1, "y": y1, "duration": 200}
        ]
    }]))?;
    std::thread::sleep(Duration::from_secs(2));
    desk.run("xsetroot", &["-solid", "#33cc33"])?;
    shows(&viewer, green)?;
    std::thread::sleep(Duration::from_millis(500));
    drop(viewer);
    // Written and fsynced once the writer says the recording is closed.
    tests::proc::wait_until(Duration::from_secs(10), "the recording closed", || {
        Ok(gate.log_contains("recording closed").then_some(()))
    })?;
    let id = std::fs::read_dir(&rec)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".fbs"))
                .map(str::to_owned)
        })
        .next()
        .context("a recording")?;

    let admin = tests::browser::Browser::as_holder(d, &pki, "alice", gate.port, "Playback CA")?;
    admin.goto(&gate.url(&format!("#playback={id}")))?;
    admin.eval("const s = document.getElementById('pb-speed'); s.value = '8'; s.dispatchEvent(new Event('change')); return true")?;
    admin.wait_for_state("ended", Duration::from_secs(30))?;
    shows(&admin, green)?;
    let time = admin.eval("return document.getElementById('pb-time').textContent")?;
    ensure!(time.as_str().is_some_and(|t| t.contains(" / ")), "{time}");
    // The pointer as it was last, button held, drawn over the picture where it was.
    let (status, _) = tests::api::call(
        gate.port,
        Some(TOKEN),
        "GET",
        &format!("/api/recordings/{id}/events"),
        None,
    )?;
    ensure!(status == 200, "GET /api/recordings/ID/events: {status}");
    let pointer = admin.eval(
        "const t = document.getElementById('trail'); \
         if (t.hidden) return 'hidden'; \
         const a = t.getContext('2d').getImageData(240, 180, 1, 1).data[3]; \
         return t.dataset.pointer + ' alpha ' + a",
    )?;
    ensure!(
        pointer
            .as_str()
            .is_some_and(|p| p.starts_with("240,180,1 alpha ") && !p.ends_with(" 0")),
        "the pointer trail: {pointer}"
    );
    if let Some(out) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        admin.screenshot(&Path::new(&out).join("playback.png"))?;
    }
    // Back to the start with the seek bar: blue again.
    admin.eval("const s = document.getElementById('pb-seek'); s.value = '300'; s.dispatchEvent(new Event('change')); return true")?;
    shows(&admin, blue)?;
    // Still paused (it had ended), the bar dragged to its very end: the end of the recording.
    admin.eval("const s = document.getElementById('pb-seek'); s.value = s.max; s.dispatchEvent(new Event('change')); return true")?;
    admin.wait_for_state("ended", Duration::from_secs(10))?;
    shows(&admin, green)?;

    // A recording cut in the middle.
    let bytes = std::fs::read(rec.join(format!("{id}.fbs")))?;
    let blocks = fbs_blocks(&bytes)?;
    // The largest block after the prologue: an update with pictures in it.
    let (last_big, _, len) = blocks
        .iter()
        .copied()
        .skip(1)
        .max_by_key(|(_, _, len)| *len)
        .context("an update")?;
    let cut_id = "20261204-000000-desk-cut";
    std::fs::write(
        rec.join(format!("{cut_id}.fbs")),
        &bytes[..last_big + 4 + len / 2],
    )?;
    admin.goto(&gate.url(&format!("#playback={cut_id}")))?;
    admin.eval("const s = document.getElementById('pb-speed'); s.value = '8'; s.dispatchEvent(new Event('change')); return true")?;
    admin.wait_for_state("error", Duration::from_secs(30))?;
    let said = admin.eval("return document.getElementById('status').textContent")?;
    ensure!(
        said.as_str()
            .is_some_and(|s| s.contains("damaged") && s.contains("byte")),
        "the page says where it stopped: {said}"
    );
    // This one has no events file: no pointer, and none left over from the last one.
    let hidden = admin.eval("return document.getElementById('trail').hidden")?;
    ensure!(
        hidden == serde_json::json!(true),
        "the last pointer is gone"
    );

    // The admin page lists both, each with a link that plays it.
    admin.goto(&gate.url("admin/"))?;
    let links =
        tests::proc::wait_until(Duration::from_secs(10), "the recordings on /admin/", || {
            let v = admin.eval(
                "return document.getElementById('recordings-section').hidden ? null : \
             [...document.querySelectorAll('#recordings a')].map((a) => a.getAttribute('href'));",
            )?;
            Ok(v.as_array().filter(|a| a.len() >= 2).cloned())
        })?;
    for want in [id.as_str(), cut_id] {
        ensure!(
            links
                .iter()
                .any(|l| l.as_str() == Some(&format!("/#playback={want}"))),
            "{want} is listed: {links:?}"
        );
    }
    Ok(())
}
