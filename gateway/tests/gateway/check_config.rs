//! `vncgate check-config` as a script uses it: what serve would do on stdout, exit 0; each
//! problem named on stderr, exit 1; nothing written, no socket opened.

use std::process::Command;

use crate::support::{write_cert, TempDir};

fn check(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vncgate"))
        .arg("check-config")
        .args(args)
        .output()
        .expect("vncgate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_configuration_says_what_serve_would_do_and_a_bad_one_names_each_problem() {
    let dir = TempDir::new("check-config");
    let d = dir.0.display().to_string();
    write_cert(&dir.0);
    std::fs::write(dir.0.join("token"), "0123456789abcdef0123\n").expect("token");
    std::fs::write(
        dir.0.join("vncgate.toml"),
        "listen = \"127.0.0.1:9443\"\nstate_dir = \"state\"\nstore = \"redis://gw:s3cret@10.9.9.9:6379/0\"\n\
         [tls]\ncert = \"server.crt\"\nkey = \"server.key\"\n\
         [auth]\nadmin_token_file = \"token\"\n\
         [targets]\ndesk = \"127.0.0.1:5901\"\n",
    )
    .expect("config");
    let config = format!("{d}/vncgate.toml");
    let (ok, out, err) = check(&["--config", &config]);
    assert!(ok, "{out}{err}");
    for line in [
        "listen on 127.0.0.1:9443",
        "certificate: ",
        "admin token: ",
        "target desk: 127.0.0.1:5901 (127.0.0.1)",
        "store: redis://gw:***@10.9.9.9:6379/0",
        "configuration OK",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        !out.contains("s3cret") && !err.contains("s3cret"),
        "the password is never shown"
    );
    assert!(!dir.0.join("state").exists(), "nothing is written");

    // Flags override the file, as for serve; every problem is named, and the status says so.
    let (ok, out, err) = check(&[
        "--config",
        &config,
        "--target",
        "far=no-such-host.invalid:5900",
        "--client-ca",
        &format!("{d}/missing-ca.pem"),
        "--audit-log",
        &format!("{d}/no-folder/audit.jsonl"),
    ]);
    assert!(!ok, "{out}");
    for problem in [
        "target far: no-such-host.invalid:5900 does not resolve",
        "missing-ca.pem",
        "no-folder",
        "3 problem(s)",
    ] {
        assert!(err.contains(problem), "missing {problem:?} in:\n{err}");
    }

    // A key that does not belong to the certificate is caught before serve would fail on it.
    let other = TempDir::new("check-config-other");
    write_cert(&other.0);
    std::fs::copy(other.0.join("server.key"), dir.0.join("server.key")).expect("swap key");
    let (ok, _, err) = check(&["--config", &config]);
    assert!(!ok && err.contains("problem:"), "{err}");
}

#[test]
fn the_version_names_the_build_and_its_tls_stack() {
    let out = Command::new(env!("CARGO_BIN_EXE_vncgate"))
        .arg("--version")
        .output()
        .expect("vncgate runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(concat!("vncgate ", env!("CARGO_PKG_VERSION")))
    );
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("commit ") && l.contains(", built 20")),
        "{text}"
    );
    assert!(
        lines.get(2).is_some_and(
            |l| l.starts_with("rustls 0.") && l.ends_with("with the ring crypto provider")
        ),
        "{text}"
    );
}

/// `--log-format json`: every line the gateway writes, its banner included, is one JSON object.
#[test]
fn json_logs_are_json_from_the_first_line() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new("json-log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vncgate"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(&dir.0)
        .args(["--target", "desk=127.0.0.1:5999"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vncgate starts");
    let stderr = child.stderr.take().expect("stderr");
    // Lines arrive through a channel, so that a silent gateway fails the test instead of
    // hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(message.clone());
        if message == "vncgate listening" {
            assert!(
                v["fields"]["url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("https://127.0.0.1:")),
                "{line}"
            );
            assert!(v["fields"]["catchphrase"].is_string(), "{line}");
            break;
        }
        assert!(seen.len() < 20, "no listening event in {seen:?}");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        seen.last().map(String::as_str),
        Some("vncgate listening"),
        "{seen:?}"
    );
}
