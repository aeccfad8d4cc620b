//! What this binary is: its version, the git commit and date it was built from, and its TLS
//! stack (set by `build.rs`). Shown by `vncgate --version` and as the `vncgate_build_info`
//! metric, so an operator can tell which build answers.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit (12 hex digits; `-dirty` with uncommitted changes; `unknown` outside git).
pub const COMMIT: &str = env!("VNCGATE_GIT_COMMIT");
/// `YYYY-MM-DD` (from `SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("VNCGATE_BUILD_DATE");
pub const RUSTLS_VERSION: &str = env!("VNCGATE_RUSTLS_VERSION");
/// The one crypto provider of the workspace (see [`crate::tls::provider`]).
pub const CRYPTO_PROVIDER: &str = "ring";

/// `vncgate --version`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit ",
    env!("VNCGATE_GIT_COMMIT"),
    ", built ",
    env!("VNCGATE_BUILD_DATE"),
    "\nrustls ",
    env!("VNCGATE_RUSTLS_VERSION"),
    " with the ring crypto provider"
);

/// `vncgate_build_info{version,commit,build_date,rustls,crypto} 1`.
pub fn render_metric(out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP vncgate_build_info The build answering: version, commit, build date, TLS stack.\n\
         # TYPE vncgate_build_info gauge\n\
         vncgate_build_info{{version=\"{VERSION}\",commit=\"{COMMIT}\",build_date=\"{BUILD_DATE}\",rustls=\"{RUSTLS_VERSION}\",crypto=\"{CRYPTO_PROVIDER}\"}} 1"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_is_described_in_the_metric_and_the_version() {
        let mut out = String::new();
        render_metric(&mut out);
        assert!(out.contains(&format!("version=\"{VERSION}\"")), "{out}");
        assert!(out.trim_end().ends_with("} 1"), "{out}");
        assert_eq!(BUILD_DATE.len(), 10, "{BUILD_DATE}");
        assert!(RUSTLS_VERSION.starts_with("0."), "{RUSTLS_VERSION}");
        assert!(LONG_VERSION.contains("rustls ") && LONG_VERSION.contains(COMMIT));
    }
}
