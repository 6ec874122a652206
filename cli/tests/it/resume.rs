//! Long-running steps: pending progress data is saved in state and the next run resumes from it.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on what it does not expect"
)]

use crate::common;

use common::Sandbox;

#[test]
fn a_pending_step_cut_off_by_its_timeout_resumes_where_it_stopped() {
    let s = Sandbox::new();
    let config = |timeout: &str| {
        format!(
            "tools:\n- name: fixture-noop\n  instanceID: slow\n  timeout: {timeout}\n  options: {{value: 42, pending_steps: 12, sleep_ms: 150}}\n"
        )
    };
    s.write("config.yaml", &config("1s"));
    let first = s.run(&["apply", "-y"]).expect(1);
    assert!(first.stdout().contains("did not finish"), "{}", first.all());
    let state = s.state();
    let res = &state["resources"]["fixture-noop.slow"];
    let saved = res["pending"]["data"]["step"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pending data saved: {res}"));
    assert!((1..12).contains(&saved), "saved step {saved}");
    assert_eq!(res["pending"]["operation"], "create");

    let plan = s.run(&["plan"]).expect(0);
    assert!(
        plan.stdout().contains("resuming a pending create"),
        "{}",
        plan.all()
    );

    s.write("config.yaml", &config("1m"));
    let second = s.run(&["apply", "-y"]).expect(0);
    let first_step = second
        .stdout()
        .lines()
        .find_map(|l| {
            l.split("step ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
        })
        .unwrap_or_else(|| panic!("no progress lines\n{}", second.all()));
    assert_eq!(
        first_step,
        saved + 1,
        "the second run must continue after step {saved}\n{}",
        second.all()
    );
    let state = s.state();
    let res = &state["resources"]["fixture-noop.slow"];
    assert_eq!(res["lifecycle"], "completed");
    assert!(res.get("pending").is_none(), "{res}");
    assert_eq!(res["outputs"]["value"], 42);
}
