//! Any bytes as a config file: loading gives a config or problems, and never panics, overflows
//! the stack or runs away with memory or time (libFuzzer's `-rss_limit_mb` and `-timeout`, set by
//! scripts/fuzz.sh, turn the last two into crashes).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

/// A few set variables, one of them with YAML's special characters in it.
fn env(name: &str) -> Option<String> {
    match name {
        "T" | "TOKEN" => Some("s3cr:et #x\n- y".to_owned()),
        "EMPTY" => Some(String::new()),
        "N" => Some("12345".to_owned()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let path = dir().path().join("dtm.yaml");
    std::fs::write(&path, data).expect("writing the config");
    match dtm_engine::config::load(&path, &env) {
        // Every message must render.
        Err(e) => drop(e.to_string()),
        Ok(config) => drop(format!("{config:?}")),
    }
});
