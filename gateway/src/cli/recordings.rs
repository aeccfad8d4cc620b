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
    }
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
    let len = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if len > MAX_RECORDING_BYTES {
        bail!(
            "{} is {len} bytes; recordings over {MAX_RECORDING_BYTES} bytes are not replayed",
            file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
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
