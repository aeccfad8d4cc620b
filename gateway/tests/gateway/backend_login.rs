//! The gateway logs in to a VNC server itself (here a fake one that demands VNC
//! authentication and records what reaches it), greets the viewer with security None and the
//! server's own ServerInit, and drops a view-only session's input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use gateway::config::{BackendLogin, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{close_reason, read_binary, TempDir, TestGateway};

const SERVER_INIT: &[u8] = &[
    0, 4, 0, 3, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0, 0, 0, 0, 4, b'd', b'e',
    b's', b'k',
];

/// What the fake server answers to each chunk it gets: the desktop's clipboard (a
/// ServerCutText, as when the operator copies a password), then a Bell.
const ANSWER: &[u8] = &[
    3, 0, 0, 0, 0, 0, 0, 6, b's', b'e', b'c', b'r', b'e', b't', 2,
];

/// A VNC server that wants the password `sesame`, then records every byte after ClientInit
/// and answers each chunk with [`ANSWER`].
async fn password_server(seen: Arc<Mutex<Vec<u8>>>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16];
                s.write_all(b"RFB 003.008\n").await.ok()?;
                s.read_exact(&mut [0u8; 12]).await.ok()?;
                s.write_all(&[1, 2]).await.ok()?;
                s.read_exact(&mut [0u8; 1]).await.ok()?;
                let challenge = [0x5a; 16];
                s.write_all(&challenge).await.ok()?;
                s.read_exact(&mut buf).await.ok()?;
                let want =
                    rfb::security::vnc_auth_response(&challenge, &rfb::Password::new("sesame"));
                if buf != want {
                    s.write_all(&[0, 0, 0, 1, 0, 0, 0, 5]).await.ok()?;
                    s.write_all(b"wrong").await.ok()?;
                    return None;
                }
                s.write_all(&[0, 0, 0, 0]).await.ok()?;
                s.read_exact(&mut [0u8; 1]).await.ok()?;
                s.write_all(SERVER_INIT).await.ok()?;
                let mut chunk = [0u8; 1024];
                loop {
                    let n = s.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return Some(());
                    }
                    seen.lock().ok()?.extend_from_slice(&chunk[..n]);
                    s.write_all(ANSWER).await.ok()?;
                }
            });
        }
    });
    addr
}

/// What the server has received once it is `len` bytes (or after 10 s). The gateway forwards
/// in order, so when the viewer's last message has arrived everything before it has too.
async fn received(seen: &Mutex<Vec<u8>>, len: usize) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = seen.lock().expect("lock").clone();
        if got.len() >= len || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn login_with(c: &mut gateway::Config, dir: &std::path::Path, name: &str, password: &str) {
    let p = dir.join(format!("{name}.pass"));
    std::fs::write(&p, format!("{password}\n")).expect("password file");
    c.logins.insert(
        name.to_owned(),
        BackendLogin {
            password: Some(Secret::File(p)),
            username: None,
            trust: None,
            tls_wrapped: false,
            client_cert: None,
        },
    );
}

/// The viewer's side of a handshake with security None.
async fn handshake<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assert_eq!(read_binary(ws, 12).await, b"RFB 003.008\n");
    ws.send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(read_binary(ws, 2).await, [1, 1], "only None");
    ws.send(Message::Binary(vec![1].into()))
        .await
        .expect("send");
    assert_eq!(read_binary(ws, 4).await, [0, 0, 0, 0], "SecurityResult OK");
    ws.send(Message::Binary(vec![1].into()))
        .await
        .expect("send");
    assert_eq!(
        read_binary(ws, SERVER_INIT.len()).await,
        SERVER_INIT,
        "the server's own"
    );
}

const KEY: [u8; 8] = [4, 1, 0, 0, 0, 0, 0, 0x61];
const UPDATE: [u8; 10] = [3, 1, 0, 0, 0, 0, 0, 4, 0, 3];

#[tokio::test]
async fn the_gateway_logs_in_and_the_viewer_needs_no_password() {
    let t = TempDir::new("login");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = password_server(seen.clone()).await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        crate::support::relay_to(c, "desk", server);
        crate::support::relay_to(c, "bad", server);
        login_with(c, &dir, "desk", "sesame");
        login_with(c, &dir, "bad", "nope");
    })
    .await;
    let mut ws = gw.websocket("/ws/desk", None).await.expect("ws");
    handshake(&mut ws).await;
    ws.send(Message::Binary([KEY.as_slice(), &UPDATE].concat().into()))
        .await
        .expect("send");
    assert_eq!(
        read_binary(&mut ws, ANSWER.len()).await,
        ANSWER,
        "full control: the clipboard too"
    );
    let all = [KEY.as_slice(), &UPDATE].concat();
    assert_eq!(
        received(&seen, all.len()).await,
        all,
        "full control: all of it"
    );

    let mut ws = gw.websocket("/ws/bad", None).await.expect("ws");
    let why = close_reason(&mut ws).await.unwrap_or_default();
    assert!(why.contains("could not log in to target 'bad'"), "{why}");
}

#[tokio::test]
async fn view_only_sessions_lose_their_input() {
    let t = TempDir::new("viewonly");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = password_server(seen.clone()).await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        let (n, a) = gateway::config::parse_target(&format!("desk={server}")).expect("target");
        c.targets.insert(n, a);
        login_with(c, &dir, "desk", "sesame");
    })
    .await;
    let store = gateway::otk::sqlite::SqliteStore::open_in(&gw.dir.0.join("state")).expect("store");
    let issued = gateway::otk::issue(
        &gateway::otk::KeyRequest {
            target: "desk".into(),
            ttl_secs: 60,
            mode: gateway::auth::Mode::ViewOnly,
            for_identity: None,
            created_by: "test".into(),
        },
        gateway::otk::unix_now(),
    )
    .expect("issue");
    gateway::otk::OtkStore::insert(&store, &issued.record).expect("insert");
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={}", issued.key.expose()), None)
        .await
        .expect("ws");
    handshake(&mut ws).await;
    // A key, a pointer event, a clipboard message split over two frames, then an update request.
    let pointer = [5u8, 1, 0, 1, 0, 2];
    let mut cut = vec![6u8, 0, 0, 0, 0, 0, 0, 5];
    cut.extend_from_slice(b"hello");
    ws.send(Message::Binary(
        [KEY.as_slice(), &pointer, &cut[..4]].concat().into(),
    ))
    .await
    .expect("send");
    ws.send(Message::Binary(
        [&cut[4..], UPDATE.as_slice()].concat().into(),
    ))
    .await
    .expect("send");
    // The Bell arrives; the desktop's clipboard before it does not.
    assert_eq!(
        read_binary(&mut ws, 1).await,
        [2],
        "a view-only viewer gets no clipboard"
    );
    assert_eq!(
        received(&seen, UPDATE.len()).await,
        UPDATE.to_vec(),
        "only the update request"
    );
    ws.send(Message::Binary(UPDATE.to_vec().into()))
        .await
        .expect("send");
    assert_eq!(
        read_binary(&mut ws, 1).await,
        [2],
        "and none the second time"
    );
    let m = gw.metrics().await;
    assert!(m.contains("vncgate_view_only_input_dropped_total 3"), "{m}");
    assert!(
        m.contains("vncgate_view_only_clipboard_dropped_total 2"),
        "{m}"
    );
    assert!(m.contains("vncgate_backend_logins_total 1"), "{m}");
}
