//! "Did you mean ...?" for misspelled keys and names.

use std::cell::Cell;

thread_local! {
    /// Comparisons left to the suggestions of the load running on this thread (see
    /// [`WorkLimit`]); unlimited outside of one.
    static WORK_LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Limits the comparisons that suggestions may make on this thread until it is dropped. Each
/// suggestion compares a name with every candidate: with thousands of unknown names among
/// thousands of tools, that would take minutes. Past the limit, problems are reported without a
/// suggestion.
#[derive(Debug)]
pub(crate) struct WorkLimit {
    previous: usize,
}

impl WorkLimit {
    pub(super) fn new(comparisons: usize) -> Self {
        WorkLimit {
            previous: WORK_LEFT.replace(comparisons),
        }
    }
}

impl Drop for WorkLimit {
    fn drop(&mut self) {
        WORK_LEFT.set(self.previous);
    }
}

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let left = WORK_LEFT.get();
        if left == 0 {
            break;
        }
        WORK_LEFT.set(left - 1);
        let cand_lower = candidate.to_lowercase();
        if cand_lower == lower {
            return Some(candidate);
        }
        let distance = strsim::damerau_levenshtein(&lower, &cand_lower);
        let similarity = strsim::jaro_winkler(&lower, &cand_lower);
        let close = distance <= 2.min(lower.chars().count() / 3 + 1) || similarity >= 0.88;
        // Ties go to the smaller name, so that the answer does not depend on iteration order.
        if close && best.is_none_or(|(s, c)| similarity > s || (similarity == s && candidate < c)) {
            best = Some((similarity, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean `x`?"`, or nothing.
pub(crate) fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = [
            "name",
            "instanceID",
            "dependsOn",
            "options",
            "version",
            "timeout",
        ];
        assert_eq!(did_you_mean("instanceId", keys), Some("instanceID"));
        assert_eq!(did_you_mean("dependOn", keys), Some("dependsOn"));
        assert_eq!(did_you_mean("optoins", keys), Some("options"));
        assert_eq!(did_you_mean("flavour", keys), None);
        assert_eq!(did_you_mean("x", keys), None);
    }

    #[test]
    fn suggestions_stop_when_the_work_limit_is_spent() {
        let keys = ["options", "version"];
        {
            let _limit = WorkLimit::new(1);
            assert_eq!(did_you_mean("optoins", keys), Some("options"));
            assert_eq!(did_you_mean("optoins", keys), None);
        }
        assert_eq!(did_you_mean("optoins", keys), Some("options"));
    }
}
