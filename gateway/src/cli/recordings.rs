//! `vncgate recordings`: session recordings in FBS 001.000 (rfbproxy, vncrec, TightVNC's
//! player). `snapshot FILE --at SECONDS OUT.png` replays a recording with the viewer's own
//! decoders (`rfb::Client::new_player`) up to a moment and saves the picture, for scripts and
//! audits; a damaged recording plays up to the damage and says where it stopped.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rfb::fbs;

/// The largest recording `snapshot` reads into memory.
const MAX_RECORDING_BYTES: u64 = 4 << 30;

#[derive(clap::Args, Debug)]
#[command(about = "Replay session recordings (FBS 001.000) and take pictures from them")]
pub struct RecordingsArgs {
    #[command(subcommand)]
    command: RecordingsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum RecordingsCommand {
    /// List the recordings: start, target, session, length, size, and whether one was cut.
    List {
        /// The recordings directory [default: `dir` under `[recording]` in --config].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Read the recordings directory from this config file.
        #[arg(long, value_name = "FILE", env = "VNCGATE_CONFIG")]
        config: Option<PathBuf>,
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Write the desktop as PNG frames into OUT_DIR, FPS pictures per second of recording.
    Play {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(value_name = "OUT_DIR")]
        out: PathBuf,
        /// Pictures per second of recording (at most 30) [default: 1].
        #[arg(long, value_name = "N", default_value_t = 1)]
        fps: u32,
    },
    /// Save the desktop as it was SECONDS into a recording, as PNG.
    Snapshot {
        /// The recording (.fbs).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Seconds since the recording started (decimals allowed) [default: its end].
        #[arg(long, value_name = "SECONDS")]
        at: Option<f64>,
        #[arg(value_name = "OUT.png")]
        out: PathBuf,
    },
}

pub fn run(args: RecordingsArgs) -> anyhow::Result<()> {
    match args.command {
        RecordingsCommand::Snapshot { file, at, out } => snapshot(&file, at, &out),
        RecordingsCommand::List { dir, config, json } => list(dir, config, json),
        RecordingsCommand::Play { file, out, fps } => play(&file, &out, fps),
    }
}

fn list(dir: Option<PathBuf>, config: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    use gateway::recording::catalog;
    let dir = match (dir, config) {
        (Some(d), _) => d,
        (None, Some(c)) => {
            let layer = gateway::config::file::load(&c)?;
            layer
                .recording
                .and_then(|(r, _)| r.dir)
                .with_context(|| format!("{} has no dir under [recording]", c.display()))?
        }
        (None, None) => bail!("say where the recordings are: --dir DIR, or --config FILE"),
    };
    let all = catalog::list(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !json {
        println!(
            "{:<37} {:<20} {:<12} {:>9} {:>11}  NOTE",
            "ID", "STARTED", "TARGET", "LENGTH", "BYTES"
        );
    }
    for e in &all {
        let len = catalog::length(&dir.join(format!("{}.fbs", e.id)));
        let (secs, note) = match &len {
            Ok(l) => (
                f64::from(l.last_ms) / 1000.0,
                l.cut_at
                    .map(|at| format!("cut at byte {at}"))
                    .unwrap_or_default(),
            ),
            Err(err) => (0.0, err.to_string()),
        };
        if json {
            let mut v = serde_json::to_value(e)?;
            v["length_s"] = secs.into();
            if !note.is_empty() {
                v["note"] = note.into();
            }
            println!("{v}");
        } else {
            println!(
                "{:<37} {:<20} {:<12} {:>8.1}s {:>11}  {note}",
                e.id, e.started, e.target, secs, e.bytes
            );
        }
    }
    if all.is_empty() && !json {
        eprintln!("no recordings in {}", dir.display());
    }
    Ok(())
}

/// Frames every 1/`fps` s of recording time: `frame-000001.png`, …
fn play(file: &Path, out: &Path, fps: u32) -> anyhow::Result<()> {
    if !(1..=30).contains(&fps) {
        bail!("--fps {fps}: expected 1 to 30 pictures per second");
    }
    let bytes = read_recording(file)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let step = 1000 / u64::from(fps);
    let mut player = rfb::Client::new_player(rfb::Limits::default());
    let mut next_frame = 0u64;
    let mut frames = 0u32;
    let mut damage = None;
    let save = |player: &rfb::Client, n: &mut u32| -> anyhow::Result<()> {
        if let Some(fb) = player.framebuffer() {
            *n += 1;
            let path = out.join(format!("frame-{n:06}.png"));
            crate::cli::snapshot::write_png(&path, fb.width(), fb.height(), fb.rgba())?;
        }
        Ok(())
    };
    for block in fbs::Reader::new(&bytes)? {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                damage = Some(e.to_string());
                break;
            }
        };
        // Every frame due before this block shows what came before it.
        while u64::from(block.at_ms) > next_frame {
            save(&player, &mut frames)?;
            next_frame += step;
        }
        if let Err(e) = player.receive(block.data) {
            damage = Some(format!(
                "the stream cannot be followed past byte {}: {e}",
                block.offset
            ));
            break;
        }
    }
    save(&player, &mut frames)?;
    eprintln!("{frames} frames in {}", out.display());
    if let Some(d) = damage {
        eprintln!("warning: {}: {d}; the frames stop there", file.display());
    }
    Ok(())
}

/// What a player would send and tell, thrown away: nobody is listening, and it must not pile up.
fn drain(player: &mut rfb::Client) {
    while player.poll_transmit().is_some() {}
    while player.poll_event().is_some() {}
}

fn read_recording(file: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if len > MAX_RECORDING_BYTES {
        bail!(
            "{} is {len} bytes; recordings over {MAX_RECORDING_BYTES} bytes are not replayed",
            file.display()
        );
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

/// What a replay reached.
struct Replayed {
    width: u16,
    height: u16,
    rgba: Vec<u8>,
    /// The time of the last block played, in milliseconds.
    at_ms: u32,
    /// Where and why the replay stopped early, if it did.
    damage: Option<String>,
}

/// Plays `bytes` up to `until_ms` (inclusive).
fn replay(bytes: &[u8], until_ms: Option<u64>) -> anyhow::Result<Replayed> {
    let reader = fbs::Reader::new(bytes)?;
    let mut player = rfb::Client::new_player(rfb::Limits::default());
    let mut at_ms = 0;
    let mut damage = None;
    for block in reader {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                damage = Some(e.to_string());
                break;
            }
        };
        if until_ms.is_some_and(|u| u64::from(block.at_ms) > u) {
            break;
        }
        if let Err(e) = player.receive(block.data) {
            damage = Some(format!(
                "the stream cannot be followed past the block at byte {}: {e}",
                block.offset
            ));
            break;
        }
        drain(&mut player);
        at_ms = block.at_ms;
    }
    let Some(fb) = player.framebuffer() else {
        bail!(
            "the recording holds no picture before {}{}",
            until_ms.map_or("its end".to_owned(), |u| format!(
                "{:.3} s",
                u as f64 / 1000.0
            )),
            damage.map(|d| format!(" ({d})")).unwrap_or_default()
        );
    };
    Ok(Replayed {
        width: fb.width(),
        height: fb.height(),
        rgba: fb.rgba().to_vec(),
        at_ms,
        damage,
    })
}

fn snapshot(file: &Path, at: Option<f64>, out: &Path) -> anyhow::Result<()> {
    let until_ms = match at {
        None => None,
        Some(s) if s.is_finite() && s >= 0.0 => Some((s * 1000.0).round() as u64),
        Some(s) => bail!("--at {s}: expected seconds since the start, 0 or more"),
    };
    let bytes = read_recording(file)?;
    let r = replay(&bytes, until_ms).with_context(|| file.display().to_string())?;
    crate::cli::snapshot::write_png(out, r.width, r.height, &r.rgba)?;
    eprintln!(
        "{}: {}×{} as at {:.3} s",
        out.display(),
        r.width,
        r.height,
        f64::from(r.at_ms) / 1000.0
    );
    if let Some(d) = r.damage {
        eprintln!(
            "warning: {}: {d}; the picture is the last one before it",
            file.display()
        );
    }
    Ok(())
}
