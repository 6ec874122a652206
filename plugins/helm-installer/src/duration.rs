//! Go's duration syntax (`time.ParseDuration`), which DevStream's `chart.timeout` and Helm's
//! `--timeout` use: a sequence of decimal numbers with units, `1.5h`, `2h45m`, `300ms`.

use std::time::Duration;

/// Parses a non-negative Go duration; `None` when `text` is not one.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// `d` as a Go duration Helm accepts (`600s`).
pub(crate) fn go_seconds(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let secs = |t: &str| parse_go_duration(t).map(|d| d.as_secs_f64());
        assert_eq!(secs("10m"), Some(600.0));
        assert_eq!(secs("1.5h"), Some(5400.0));
        assert_eq!(secs("2h45m"), Some(9900.0));
        assert_eq!(secs("5m0s"), Some(300.0));
        assert_eq!(secs("300ms"), Some(0.3));
        assert_eq!(secs("0"), Some(0.0));
        for bad in ["", "10", "m", "5 m", "1..5h", "-5m", "5d", "h5"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
        assert_eq!(go_seconds(Duration::from_secs(600)), "600s");
    }
}
