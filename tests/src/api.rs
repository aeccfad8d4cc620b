//! The gateway's admin API as scripts use it: `curl -sk` with a bearer token, and WebSocket
//! sessions opened with one-time keys.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use anyhow::{ensure, Context};
use serde_json::Value;

use crate::wss::{self, Frame};

/// `curl -sk` to `https://127.0.0.1:PORT/PATH`, with `token` as a bearer if given;
/// (status, JSON body or null).
pub fn call(
    port: u16,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sk",
        "-w",
        "\n%{http_code}",
        "--max-time",
        "20",
        "-X",
        method,
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    let out = cmd
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    Ok((code.trim().parse().unwrap_or(0), json))
}

/// A one-time key for `target` from the API of the gateway on `port`.
pub fn issue(port: u16, token: &str, target: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({ "target": target }).to_string();
    let (status, body) = call(port, Some(token), "POST", "/api/otk", Some(&body))?;
    ensure!(status == 201, "POST /api/otk: {status} {body}");
    Ok(body["key"].as_str().context("no key")?.to_owned())
}

/// Opens `/ws/TARGET?otk=KEY` from `client` to `to`; what the gateway answered first.
pub fn redeem(
    client: IpAddr,
    to: SocketAddr,
    target: &str,
    key: &str,
) -> anyhow::Result<(wss::Wss, Frame)> {
    let mut ws = wss::open(client, to, &format!("/ws/{target}?otk={key}"))?;
    let first = ws.next_frame()?;
    Ok((ws, first))
}

/// Whether the first frame is the VNC server's greeting.
pub fn admitted(f: &Frame) -> bool {
    matches!(f, Frame::Binary(b) if b.starts_with(b"RFB 003.008"))
}

/// Whether the first frame is a close whose reason contains `words`.
pub fn refused_with(f: &Frame, words: &str) -> bool {
    matches!(f, Frame::Close(_, reason) if reason.contains(words))
}

/// `GET /api/sessions`: the live sessions.
pub fn sessions(port: u16, token: &str) -> anyhow::Result<Vec<Value>> {
    let (status, body) = call(port, Some(token), "GET", "/api/sessions", None)?;
    ensure!(status == 200, "GET /api/sessions: {status} {body}");
    Ok(body["sessions"].as_array().cloned().unwrap_or_default())
}
