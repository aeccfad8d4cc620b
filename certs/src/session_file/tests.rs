use super::*;

fn sample_ca() -> CertificateDer<'static> {
    CertificateDer::from(crate::ca_data::tests::sample_der())
}

fn full() -> SessionFile {
    SessionFile {
        gateway: Some(GatewayUrl::parse("https://gw.example:8443/").expect("url")),
        target: TargetName::parse("desk1").expect("target"),
        otk: Some(OneTimeKey::parse("Zx81-secret").expect("otk")),
        ca: Some(sample_ca()),
        fingerprint: Some(Fingerprint::of_der(b"cert")),
        view_only: Some(true),
        scaling: Some(Scaling::Remote),
        quality: Some(Quality::new(6).expect("q")),
    }
}

fn problem(text: &str) -> Error {
    parse(text.as_bytes()).expect_err(text)
}

#[test]
fn written_files_parse_back() {
    let s = full();
    let text = s.to_text();
    assert!(text.starts_with("vncgate-session=1\n"));
    let parsed = parse(text.as_bytes()).expect("parse");
    assert_eq!(parsed.session, s);
    assert!(parsed.warnings.is_empty());
    let minimal = SessionFile::new(TargetName::parse("t").expect("t"));
    assert_eq!(
        parse(minimal.to_text().as_bytes()).expect("min").session,
        minimal
    );
}

#[test]
fn comments_blank_lines_crlf_bom_and_spaces_are_fine() {
    let text = "\u{feff}vncgate-session=1\r\n# comment\r\n\r\n  target = desk1  \r\n   # indented comment\r\nview_only=0\r\n";
    let p = parse(text.as_bytes()).expect("parse");
    assert_eq!(p.session.target.as_str(), "desk1");
    assert_eq!(p.session.view_only, Some(false));
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let text = "vncgate-session=1\ntarget=a\ncolour_depth=8\nfuture-thing=x=y\n";
    let p = parse(text.as_bytes()).expect("parse");
    assert_eq!(
        p.warnings,
        vec![
            Warning {
                line: 3,
                key: "colour_depth".into()
            },
            Warning {
                line: 4,
                key: "future-thing".into()
            }
        ]
    );
    assert_eq!(
        p.warnings[0].to_string(),
        "line 3: unknown key \"colour_depth\" ignored"
    );
}

#[test]
fn malformed_values_name_the_line() {
    let e = problem("vncgate-session=1\ntarget=a\nquality=11\n");
    assert_eq!(e.line, Some(3));
    assert_eq!(
        e.to_string(),
        "line 3: quality=\"11\" is not valid: expected a whole number from 0 to 9"
    );
    let e = problem("vncgate-session=1\ntarget=a\nca=base64:@@@\n");
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().contains("not valid base64"), "{e}");
    let e = problem("vncgate-session=1\ntarget=a\nfingerprint=12:34\n");
    assert!(e.to_string().starts_with("line 3: fingerprint="), "{e}");
    let e = problem("vncgate-session=1\ntarget=a\ngateway=http://x\n");
    assert!(e.to_string().contains("https://"), "{e}");
    let e = problem("vncgate-session=1\ntarget=a\njust words\n");
    assert_eq!(e.to_string(), "line 3: expected key=value");
    let e = problem("vncgate-session=1\ntarget=a\nview_only=maybe\n");
    assert_eq!(e.line, Some(3));
}

#[test]
fn secrets_stay_out_of_errors_and_debug() {
    let e = problem("vncgate-session=1\ntarget=a\notk=has a space\n");
    assert!(!e.to_string().contains("has a space"), "{e}");
    let debug = format!("{:?}", full());
    assert!(!debug.contains("Zx81"), "{debug}");
}

#[test]
fn duplicates_missing_target_and_versions() {
    let e = problem("vncgate-session=1\ntarget=a\ntarget=b\n");
    assert_eq!(
        e.to_string(),
        "line 3: target is given twice (first on line 2)"
    );
    let e = problem("vncgate-session=1\n# no target\n");
    assert_eq!(e.problem, Problem::MissingTarget);
    assert_eq!(problem("").problem, Problem::MissingVersion);
    assert_eq!(problem("target=a\n").problem, Problem::MissingVersion);
    let e = problem("vncgate-session=2\ntarget=a\n");
    assert!(e.to_string().contains("newer than this viewer"), "{e}");
}

#[test]
fn limits_are_checked() {
    let small = Limits {
        max_bytes: 200,
        max_lines: 3,
        max_line_bytes: 30,
    };
    let e = parse_with("vncgate-session=1\ntarget=a\n\n\n".as_bytes(), small).expect_err("lines");
    assert_eq!(e.problem, Problem::TooManyLines { max: 3 });
    let long = format!("vncgate-session=1\ntarget={}\n", "a".repeat(40));
    let e = parse_with(long.as_bytes(), small).expect_err("line length");
    assert_eq!(e.line, Some(2));
    assert!(matches!(e.problem, Problem::LineTooLong { .. }));
    let e = parse_with(&[b'#'; 201], small).expect_err("size");
    assert!(matches!(e.problem, Problem::TooLarge { got: 201, .. }));
    assert_eq!(
        problem("vncgate-session=1\n\u{0}\u{ff}").problem,
        Problem::NoEquals
    );
    assert_eq!(
        parse(b"vncgate-session=1\n\xff\xfe")
            .expect_err("bytes")
            .problem,
        Problem::NotText
    );
}

#[test]
fn every_prefix_and_mangling_of_a_real_file_is_handled() {
    let text = full().to_text();
    let bytes = text.as_bytes();
    for end in 0..bytes.len() {
        let _ = parse(&bytes[..end]);
    }
    for i in 0..bytes.len() {
        let mut m = bytes.to_vec();
        m[i] ^= 0x20;
        let _ = parse(&m);
    }
}
