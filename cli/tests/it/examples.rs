//! Every file in examples/ is loaded, validated, applied, verified and destroyed.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::{Sandbox, server_var};

#[test]
fn every_example_applies_verifies_and_destroys() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        count += 1;
        let s = Sandbox::new();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        // Examples with Kubernetes objects run against the test cluster's kubeconfig.
        let kubeconfig = if name == "kubernetes.yaml" {
            match server_var("DTM_TEST_KUBECONFIG") {
                Some(k) => k,
                None => continue,
            }
        } else {
            String::from("/nonexistent/kubeconfig")
        };
        s.write(&name, &std::fs::read_to_string(&path).unwrap());
        let run = |args: &[&str]| {
            let out = s
                .cmd(args)
                .env("DTM_EXAMPLE_TOKEN", "example-token")
                .env("KUBECONFIG", &kubeconfig)
                .output()
                .unwrap();
            (
                out.status.code(),
                format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let (code, out) = run(&["apply", "-y", "-f", &name]);
        assert_eq!(code, Some(0), "{name}: apply\n{out}");
        let (code, out) = run(&["verify", "-f", &name]);
        assert_eq!(code, Some(0), "{name}: verify after apply\n{out}");
        let (code, out) = run(&["destroy", "-y", "-f", &name]);
        assert_eq!(code, Some(0), "{name}: destroy\n{out}");
        let state: serde_json::Value = serde_json::from_str(&s.read("devstream.state")).unwrap();
        assert_eq!(
            state["resources"],
            serde_json::json!({}),
            "{name}: destroy left resources"
        );
    }
    assert!(
        count >= 3,
        "expected at least three examples, found {count}"
    );
}
