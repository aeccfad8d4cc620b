//! `vncgate snapshot`: connect to a VNC server with `rfb`, write the screen as PNG.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use gateway::vnc_client::Connection;
use rfb::messages::encoding::Encoding;
use rfb::{Client, ClientConfig, Event, Password, Rect, TlsIdentity, TlsTrust};

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    /// Request only this encoding (raw, copyrect, rre, hextile, trle, zrle, zlib, tight,
    /// tightpng, jpeg); Raw is always allowed by the protocol. Default: the best set.
    #[arg(long, value_name = "NAME")]
    encoding: Option<String>,
    /// File holding the VNC password (first line).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// User name for VeNCrypt Plain / X509Plain (the password comes from --password-file).
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// Verify a VeNCrypt X509 server against this CA certificate (PEM).
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    ca: Option<PathBuf>,
    /// Accept exactly the server certificate with this SHA-256 fingerprint (hex, colons optional).
    #[arg(long, value_name = "SHA256")]
    fingerprint: Option<String>,
    /// Present this client certificate (PEM, leaf first) to servers that verify clients.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// The server speaks TLS from the first byte (x11vnc -ssl, stunnel), not VeNCrypt.
    #[arg(long)]
    tls: bool,
    /// With --ca, also require the certificate to be valid for this name.
    #[arg(long, value_name = "NAME", requires = "ca")]
    server_name: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    timeout: u64,
    /// The server, as vnc://HOST:PORT (or HOST:PORT).
    #[arg(value_name = "vnc://HOST:PORT")]
    server: String,
    /// Where to write the PNG.
    #[arg(value_name = "OUT.png")]
    out: PathBuf,
}

/// Maps the lowercase RFB name to the encoding.
pub fn parse_encoding(name: &str) -> anyhow::Result<Encoding> {
    Ok(match name {
        "raw" => Encoding::Raw,
        "copyrect" => Encoding::CopyRect,
        "rre" => Encoding::Rre,
        "hextile" => Encoding::Hextile,
        "trle" => Encoding::Trle,
        "zrle" => Encoding::Zrle,
        "zlib" => Encoding::Zlib,
        "tight" => Encoding::Tight,
        "tightpng" => Encoding::TightPng,
        "jpeg" => Encoding::Jpeg,
        other => bail!(
            "unknown encoding {other:?}; use one of raw, copyrect, rre, hextile, trle, zrle, zlib, tight, tightpng, jpeg"
        ),
    })
}

/// Parses a SHA-256 fingerprint written as 64 hex digits, with or without colons.
pub fn parse_fingerprint(s: &str) -> anyhow::Result<[u8; 32]> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    match bytes.map(<[u8; 32]>::try_from) {
        Some(Ok(fp)) => Ok(fp),
        _ => bail!(
            "--fingerprint {s:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
        ),
    }
}

impl SnapshotArgs {
    fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut cfg = ClientConfig::default();
        if let Some(name) = &self.encoding {
            let enc = parse_encoding(name)?;
            let mut list = vec![enc];
            if enc != Encoding::Raw {
                list.push(Encoding::Raw);
            }
            if enc == Encoding::Jpeg || enc == Encoding::Tight {
                // JPEG needs a quality level; Tight without one stays lossless.
                if enc == Encoding::Jpeg {
                    list.push(Encoding::QualityLevel(9));
                }
            }
            // The cursor as a pseudo-encoding keeps the server from painting the pointer into
            // the framebuffer, so the image is the desktop itself.
            list.extend([Encoding::DesktopSize, Encoding::LastRect, Encoding::Cursor]);
            cfg.encodings = list;
        }
        if let Some(f) = &self.password_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the password file {}", f.display()))?;
            let pw = text.lines().next().unwrap_or_default().to_owned();
            cfg.password = Some(Password::new(pw));
        }
        cfg.username = self.username.clone();
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
            let roots = certs::pem::certificates(&ca.display().to_string(), &pem)?
                .into_iter()
                .map(|c| c.to_vec())
                .collect();
            cfg.tls_trust = Some(TlsTrust::Ca {
                roots,
                server_name: self.server_name.clone(),
            });
        }
        if let Some(fp) = &self.fingerprint {
            cfg.tls_trust = Some(TlsTrust::Pinned(parse_fingerprint(fp)?));
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let read = |p: &PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let chain = certs::pem::certificates(&cert.display().to_string(), &read(cert)?)?
                .into_iter()
                .map(|c| c.to_vec())
                .collect();
            let key = certs::pem::private_key(&key.display().to_string(), &read(key)?)?;
            cfg.tls_identity = Some(TlsIdentity { chain, key });
        }
        if self.tls && cfg.tls_trust.is_none() {
            bail!("--tls needs --ca or --fingerprint to verify the server's certificate");
        }
        Ok(cfg)
    }
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    let cfg = args.client_config()?;
    let tls = args.tls;
    let addr = args
        .server
        .strip_prefix("vnc://")
        .unwrap_or(&args.server)
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let image = runtime.block_on(capture(&addr, cfg, tls, Duration::from_secs(args.timeout)))?;
    let (w, h, rgba) = image;
    write_png(&args.out, w, h, &rgba)?;
    eprintln!("wrote {}x{} to {}", w, h, args.out.display());
    Ok(())
}

/// How far a capture got: what a timeout reports, so that a server which stops answering
/// is told apart from one that never paints part of its screen.
#[derive(Debug, Default)]
struct Progress {
    /// The framebuffer's size, once connected.
    size: Option<(u16, u16)>,
    updates: u32,
    /// The part of the current framebuffer the server has painted.
    covered: Rect,
}

impl Progress {
    fn describe(&self, client: &Client) -> String {
        let waiting_for = client.waiting_for();
        let Some((w, h)) = self.size else {
            return format!("the handshake stopped, waiting for {waiting_for}");
        };
        let c = &self.covered;
        format!(
            "{} update(s) painted {}x{} at {},{} of the {w}x{h} screen; still waiting for {waiting_for}",
            self.updates, c.w, c.h, c.x, c.y
        )
    }
}

/// Connects and returns the framebuffer once every pixel has been painted, within `timeout`
/// (or says how far it got).
async fn capture(
    addr: &str,
    cfg: ClientConfig,
    tls: bool,
    timeout: Duration,
) -> anyhow::Result<(u16, u16, Vec<u8>)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let given_up = || {
        format!(
            "no complete screen from {addr} within {} s",
            timeout.as_secs()
        )
    };
    let stream = tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("{}: the TCP connection was not accepted", given_up()))?
        .with_context(|| format!("cannot connect to {addr}"))?;
    let client = if tls {
        Client::new_tls_wrapped(cfg)?
    } else {
        Client::new(cfg)
    };
    let mut conn = Connection::with_client(stream, client);
    let mut progress = Progress::default();
    match tokio::time::timeout_at(deadline, paint_all(&mut conn, &mut progress)).await {
        Ok(image) => image.with_context(|| format!("VNC session with {addr}")),
        Err(_) => bail!("{}: {}", given_up(), progress.describe(conn.client())),
    }
}

/// Reads updates until every pixel of the framebuffer has been painted.
async fn paint_all(
    conn: &mut Connection<tokio::net::TcpStream>,
    progress: &mut Progress,
) -> Result<(u16, u16, Vec<u8>), gateway::vnc_client::VncError> {
    loop {
        match conn.next_event().await? {
            Event::Connected { width, height, .. } | Event::Resized { width, height } => {
                // A new framebuffer counts as dirty; only what the server paints counts here.
                let _ = conn.client_mut().take_dirty();
                progress.size = Some((width, height));
                progress.covered = Rect::default();
            }
            Event::UpdateComplete => {
                progress.updates += 1;
                if let Some(d) = conn.client_mut().take_dirty() {
                    progress.covered = progress.covered.union(&d);
                }
                let Some(fb) = conn.client().framebuffer() else {
                    continue;
                };
                if progress.covered
                    == (Rect {
                        x: 0,
                        y: 0,
                        w: fb.width(),
                        h: fb.height(),
                    })
                {
                    return Ok((fb.width(), fb.height(), fb.rgba().to_vec()));
                }
            }
            _ => {}
        }
    }
}

pub(crate) fn write_png(path: &std::path::Path, w: u16, h: u16, rgba: &[u8]) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w.into(), h.into());
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().context("PNG header")?;
        writer.write_image_data(rgba).context("PNG data")?;
    }
    gateway::state_dir::write_atomic(path, &bytes, 0o644)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_encodings_parse() {
        let fp = parse_fingerprint(&format!("{}CD", "AB:".repeat(31))).expect("valid");
        assert_eq!((fp[0], fp[31]), (0xab, 0xcd));
        assert!(parse_fingerprint("abc").is_err());
        assert_eq!(parse_encoding("zrle").expect("known"), Encoding::Zrle);
        assert!(parse_encoding("h264").is_err());
    }
}
