//! The documented workflow through the command line, in a scratch directory.
use super::*;
use clap::Parser;

#[derive(clap::Parser, Debug)]
struct Wrapper {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(clap::Subcommand, Debug)]
enum Top {
    Certs(CertsArgs),
}

fn run_args(args: &[&str]) -> anyhow::Result<()> {
    let Top::Certs(a) =
        Wrapper::try_parse_from(std::iter::once("vncgate").chain(args.iter().copied()))?.cmd;
    run(a)
}

#[test]
fn the_documented_workflow_runs() {
    let dir = std::env::temp_dir().join(format!("vncgate-cli-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().expect("utf-8 temp dir");
    let pass = dir.join("pass");
    let steps: Vec<Vec<String>> = vec![
        vec!["certs", "--dir", d, "init-ca", "--name", "Test CA"],
        vec![
            "certs", "--dir", d, "issue", "server", "web.lan", "--san", "web.lan", "--san",
            "10.0.0.5",
        ],
        vec!["certs", "--dir", d, "issue", "intermediate", "sub"],
        vec![
            "certs",
            "--dir",
            d,
            "issue",
            "client",
            "alice",
            "--email",
            "alice@example.com",
            "--ca",
            "sub",
        ],
        vec!["certs", "list", "--dir", d],
        vec!["certs", "--dir", d, "info", "alice"],
        vec![
            "certs",
            "--dir",
            d,
            "revoke",
            "web.lan",
            "--reason",
            "superseded",
        ],
        vec!["certs", "--dir", d, "crl", "--summary"],
        vec![
            "certs",
            "--dir",
            d,
            "protect",
            "alice",
            "--passphrase-file",
            pass.to_str().expect("utf-8"),
        ],
        vec![
            "certs",
            "--dir",
            d,
            "export",
            "alice",
            "--p12",
            &format!("{d}/alice.p12"),
            "--passphrase-file",
            pass.to_str().expect("utf-8"),
        ],
        vec!["certs", "--dir", d, "ca-data", "--hex"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect();
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(&pass, "pw\n").expect("pass");
    for step in &steps {
        let args: Vec<&str> = step.iter().map(String::as_str).collect();
        run_args(&args).unwrap_or_else(|e| panic!("{step:?}: {e:#}"));
    }
    let e = run_args(&["certs", "--dir", d, "init-ca"]).expect_err("second CA");
    assert!(
        format!("{e:#}").contains("already exists; pass --force"),
        "{e:#}"
    );
    let e = run_args(&[
        "certs",
        "--dir",
        d,
        "export",
        "web.lan",
        "--p12",
        "/tmp/x.p12",
    ])
    .expect_err("no passphrase");
    assert!(format!("{e:#}").contains("--passphrase-file"), "{e:#}");
    let e = run_args(&["certs", "--dir", d, "issue", "server", "bad_name!"]).expect_err("name");
    assert!(format!("{e:#}").contains("not a usable name"), "{e:#}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
