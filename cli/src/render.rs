//! What people and scripts read: plans, diffs, summaries.

use std::io::Write;

use console::Style;
use dtm_engine::config::Diagnostic;
use dtm_engine::executor::{Outcome, StepResult, ToolResult};
use dtm_engine::plan::{Action, Change, Plan, Reason, display_value};
use dtm_engine::text::{Plural, count};
use serde_json::{Value, json};
use similar::{ChangeTag, TextDiff};

/// Styles, disabled when the stream is not a terminal or NO_COLOR is set.
pub(crate) struct Styles {
    pub add: Style,
    pub del: Style,
    pub upd: Style,
    pub dim: Style,
    pub bold: Style,
}

impl Styles {
    pub(crate) fn stdout() -> Self {
        // `NO_COLOR` turned colors off at start (see `settings::Environment::no_color`).
        let on = console::colors_enabled();
        let s = |st: Style| st.force_styling(on);
        Styles {
            add: s(Style::new().green()),
            del: s(Style::new().red()),
            upd: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
        }
    }
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::NoOp => " ",
    }
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Delete => "deleted",
        Action::NoOp => "left alone",
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(&display_value(v)).unwrap_or_default()
}

fn write_diff(
    out: &mut dyn Write,
    st: &Styles,
    old: &str,
    new: &str,
    indent: &str,
) -> std::io::Result<()> {
    let diff = TextDiff::from_lines(old, new);
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let line = change.value().trim_end_matches('\n');
                match change.tag() {
                    ChangeTag::Delete => {
                        writeln!(out, "{indent}{}", st.del.apply_to(format!("- {line}")))?
                    }
                    ChangeTag::Insert => {
                        writeln!(out, "{indent}{}", st.add.apply_to(format!("+ {line}")))?
                    }
                    ChangeTag::Equal => {
                        writeln!(out, "{indent}{}", st.dim.apply_to(format!("  {line}")))?
                    }
                }
            }
        }
    }
    Ok(())
}

fn write_change(out: &mut dyn Write, st: &Styles, c: &Change) -> std::io::Result<()> {
    let style = match c.action {
        Action::Create => &st.add,
        Action::Update => &st.upd,
        Action::Delete => &st.del,
        Action::NoOp => &st.dim,
    };
    let reasons: Vec<String> = c.reasons.iter().map(ToString::to_string).collect();
    writeln!(
        out,
        "  {} {} {}",
        style.apply_to(symbol(c.action)),
        st.bold.apply_to(&c.key),
        st.dim.apply_to(format!(
            "will be {}: {}",
            past(c.action),
            reasons.join("; ")
        ))
    )?;
    let indent = "      ";
    match c.action {
        Action::Create => {
            if let Some(after) = &c.after {
                write_diff(out, st, "", &pretty(after), indent)?;
            }
        }
        Action::Update => {
            if let (Some(before), Some(after)) = (&c.before, &c.after) {
                let (b, a) = (pretty(before), pretty(after));
                if a != b {
                    writeln!(out, "    options:")?;
                    write_diff(out, st, &b, &a, indent)?;
                }
            }
            if let (Some(rec), Some(live)) = (&c.recorded_status, &c.live_status) {
                writeln!(out, "    status (recorded → live):")?;
                write_diff(out, st, &pretty(rec), &pretty(live), indent)?;
            }
        }
        Action::Delete | Action::NoOp => {}
    }
    Ok(())
}

/// Prints a plan for people.
pub(crate) fn plan_text(out: &mut dyn Write, plan: &Plan) -> std::io::Result<()> {
    let st = Styles::stdout();
    let s = plan.summary();
    if !plan.has_changes() {
        writeln!(
            out,
            "No changes: {} {} the config.",
            count(s.unchanged, "tool", "tools"),
            Plural(s.unchanged, "matches", "match")
        )?;
        return Ok(());
    }
    writeln!(out, "dtm will perform these actions:\n")?;
    for c in &plan.changes {
        if c.action != Action::NoOp {
            write_change(out, &st, c)?;
            writeln!(out)?;
        } else if c.reasons.contains(&Reason::Absent) {
            writeln!(
                out,
                "  {} is already absent (removed outside dtm): its record will be forgotten\n",
                st.bold.apply_to(&c.key)
            )?;
        }
    }
    writeln!(
        out,
        "{} {} to create, {} to update, {} to delete, {} unchanged.",
        st.bold.apply_to("Plan:"),
        s.create,
        s.update,
        s.delete,
        s.unchanged
    )
}

/// A plan as JSON.
pub(crate) fn plan_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            for k in ["before", "after", "recorded_status", "live_status"] {
                if let Some(x) = v.get_mut(k) {
                    *x = display_value(x);
                }
            }
            if let Some(obj) = v.as_object_mut() {
                let reasons: Vec<String> = c.reasons.iter().map(ToString::to_string).collect();
                obj.insert("reason_text".into(), json!(reasons));
            }
            v
        })
        .collect();
    json!({ "changes": changes, "summary": plan.summary(), "has_changes": plan.has_changes() })
}

/// One titled list of tool results (`  key (action): message`); nothing when there are none.
fn result_section(
    out: &mut dyn Write,
    title: impl std::fmt::Display,
    rows: &[&ToolResult],
    key: impl Fn(&str) -> String,
) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{title}")?;
    for r in rows {
        writeln!(
            out,
            "  {} ({}): {}",
            key(&r.key),
            r.action,
            r.message.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Prints the summary after execution.
pub(crate) fn outcome_text(
    out: &mut dyn Write,
    outcome: &Outcome,
    verb: &str,
) -> std::io::Result<()> {
    let st = Styles::stdout();
    let failed: Vec<_> = outcome.with_result(StepResult::Failed).collect();
    let skipped: Vec<_> = outcome.with_result(StepResult::Skipped).collect();
    let paused: Vec<_> = outcome.with_result(StepResult::Paused).collect();
    let bold = |k: &str| st.bold.apply_to(k).to_string();
    let plain = |k: &str| k.to_owned();
    let paused_title = st.upd.apply_to("Paused (the next run resumes them):");
    result_section(out, paused_title, &paused, bold)?;
    result_section(out, st.del.apply_to("Failed:"), &failed, bold)?;
    result_section(out, st.upd.apply_to("Skipped:"), &skipped, plain)?;
    if let Some(f) = &outcome.fatal {
        writeln!(out, "\n{} {f}", st.del.apply_to("Stopped:"))?;
    }
    let by = |a: Action| {
        outcome
            .results
            .iter()
            .filter(|r| r.result == StepResult::Done && r.action == a)
            .count()
    };
    let headline = if outcome.interrupted {
        st.upd.apply_to(format!("{verb} interrupted."))
    } else if outcome.success() {
        st.add.apply_to(format!("{verb} complete."))
    } else {
        st.del.apply_to(format!("{verb} finished with errors."))
    };
    writeln!(
        out,
        "\n{headline} {} created, {} updated, {} deleted, {} unchanged, {} failed, {} skipped{}.",
        by(Action::Create),
        by(Action::Update),
        by(Action::Delete),
        outcome.with_result(StepResult::Unchanged).count(),
        failed.len(),
        skipped.len(),
        if paused.is_empty() {
            String::new()
        } else {
            format!(", {} paused", paused.len())
        }
    )
}

/// Writes a JSON document to stdout followed by a newline.
pub(crate) fn json_out(v: &Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)
}

/// Prints warnings about the config on stderr, one per line.
pub(crate) fn warnings_text(warnings: &[Diagnostic]) -> std::io::Result<()> {
    let style = console::Style::new().yellow().bold().for_stderr();
    let mut err = std::io::stderr().lock();
    for w in warnings {
        writeln!(err, "{} {w}", style.apply_to("warning:"))?;
    }
    Ok(())
}

/// Warnings about the config as JSON: `[{file, line, column, key, message}]`.
pub(crate) fn warnings_json(warnings: &[Diagnostic]) -> Value {
    Value::Array(
        warnings
            .iter()
            .map(|w| {
                json!({
                    "file": w.loc.as_ref().map(|l| l.file.display().to_string()),
                    "line": w.loc.as_ref().map(|l| l.line),
                    "column": w.loc.as_ref().map(|l| l.col),
                    "key": w.key,
                    "message": w.message,
                })
            })
            .collect(),
    )
}
