//! `ossa eval compare A B`: two runs side by side, task by task.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::results::{Results, RunSettings, SETTINGS_FILE};
use super::summary::{TaskTally, pass_rates, percent, table, tally};

/// Arguments of `ossa eval compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The first (baseline) run: an eval output directory or its results.jsonl.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The second run, compared with A.
    #[arg(value_name = "B")]
    pub b: PathBuf,
}

/// How a task's pass rate moved from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It passes more often in B.
    Fixed,
    /// It passes less often in B.
    Broken,
    /// The same pass rate.
    Unchanged,
    /// Only A ran it.
    OnlyA,
    /// Only B ran it.
    OnlyB,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Fixed => "fixed",
            Change::Broken => "broken",
            Change::Unchanged => "unchanged",
            Change::OnlyA => "only in A",
            Change::OnlyB => "only in B",
        }
    }
}

/// Compares pass rates `passed/attempts` exactly (no floating point).
pub fn change(a: Option<&TaskTally>, b: Option<&TaskTally>) -> Change {
    match (a, b) {
        (Some(a), Some(b)) => {
            let left = u64::from(a.passed) * u64::from(b.attempts);
            let right = u64::from(b.passed) * u64::from(a.attempts);
            match right.cmp(&left) {
                std::cmp::Ordering::Greater => Change::Fixed,
                std::cmp::Ordering::Less => Change::Broken,
                std::cmp::Ordering::Equal => Change::Unchanged,
            }
        }
        (Some(_), None) => Change::OnlyA,
        (None, _) => Change::OnlyB,
    }
}

/// Runs `ossa eval compare`.
pub fn run(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let a = Results::read(&args.a, false)?;
    let b = Results::read(&args.b, false)?;
    print!("{}", render(&a, &b, &args.a, &args.b));
    if let (Some(a), Some(b)) = (settings_of(&args.a), settings_of(&args.b)) {
        let differences: Vec<String> = a
            .differences(&b)
            .into_iter()
            .map(|d| format!("{}: {} → {}", d.key, d.this, d.other))
            .collect();
        if differences.is_empty() {
            println!("settings: the same");
        } else {
            println!("settings (A → B): {}", differences.join("; "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings of the run in `path` (an output directory, or the results file in one).
fn settings_of(path: &std::path::Path) -> Option<RunSettings> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let text = std::fs::read_to_string(dir.join(SETTINGS_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The comparison as text: a table of the tasks, the counts of each change, and totals.
pub fn render(
    a: &Results,
    b: &Results,
    a_name: &std::path::Path,
    b_name: &std::path::Path,
) -> String {
    let (ta, tb) = (tally(&a.records), tally(&b.records));
    let tasks: BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    let rate = |t: Option<&TaskTally>| match t {
        Some(t) => format!("{}/{}", t.passed, t.attempts),
        None => "-".to_string(),
    };
    let mut counts = [0u32; 5];
    let mut rows = Vec::new();
    for task in &tasks {
        let (x, y) = (ta.get(*task), tb.get(*task));
        let change = change(x, y);
        counts[change as usize] += 1;
        rows.push(vec![
            (*task).clone(),
            rate(x),
            rate(y),
            change.as_str().to_string(),
        ]);
    }
    let mut out = format!("A: {}\nB: {}\n\n", a_name.display(), b_name.display());
    out.push_str(&table(&["task", "A pass", "B pass", "change"], &rows));
    let _ = writeln!(
        out,
        "\nfixed: {}, broken: {}, unchanged: {}, only in A: {}, only in B: {}",
        counts[Change::Fixed as usize],
        counts[Change::Broken as usize],
        counts[Change::Unchanged as usize],
        counts[Change::OnlyA as usize],
        counts[Change::OnlyB as usize],
    );
    let sum = |records: &[super::results::AttemptRecord]| {
        let passed = records
            .iter()
            .filter(|r| r.verdict == super::results::Verdict::Pass)
            .count();
        let generated: u64 = records.iter().map(|r| r.tokens.generated).sum();
        let steps: u64 = records.iter().map(|r| u64::from(r.steps)).sum();
        (records.len(), passed, generated, steps)
    };
    let (na, pa, ga, sa) = sum(&a.records);
    let (nb, pb, gb, sb) = sum(&b.records);
    let show = |p: Option<f64>| p.map_or("-".to_string(), percent);
    let _ = writeln!(
        out,
        "attempts: {na} → {nb}; passed: {pa} → {pb}; pass@1: {} → {}",
        show(pass_rates(&ta, 1).0),
        show(pass_rates(&tb, 1).0)
    );
    let per = |total: u64, n: usize| {
        if n == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", total as f64 / n as f64)
        }
    };
    let _ = writeln!(
        out,
        "generated tokens: {ga} → {gb} (per attempt {} → {}); steps per attempt: {} → {}",
        per(ga, na),
        per(gb, nb),
        per(sa, na),
        per(sb, nb)
    );
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::results::Verdict;
    use super::super::results::tests::record;
    use super::*;

    #[test]
    fn tasks_are_fixed_broken_or_unchanged() {
        let a = Results {
            records: vec![
                record("x", 0, Verdict::Fail),
                record("y", 0, Verdict::Pass),
                record("z", 0, Verdict::Pass),
                record("old", 0, Verdict::Pass),
            ],
            unreadable: Vec::new(),
        };
        let b = Results {
            records: vec![
                record("x", 0, Verdict::Pass),
                record("y", 0, Verdict::Error),
                record("z", 0, Verdict::Pass),
                record("new", 0, Verdict::Fail),
            ],
            unreadable: Vec::new(),
        };
        let text = render(&a, &b, "a".as_ref(), "b".as_ref());
        assert!(text.contains("| x    | 0/1    | 1/1    | fixed"), "{text}");
        assert!(text.contains("| y    | 1/1    | 0/1    | broken"), "{text}");
        assert!(
            text.contains("| z    | 1/1    | 1/1    | unchanged"),
            "{text}"
        );
        assert!(
            text.contains("| old  | 1/1    | -      | only in A"),
            "{text}"
        );
        assert!(
            text.contains("| new  | -      | 0/1    | only in B"),
            "{text}"
        );
        assert!(
            text.contains("fixed: 1, broken: 1, unchanged: 1, only in A: 1, only in B: 1"),
            "{text}"
        );
        assert!(text.contains("pass@1: 75.0% → 50.0%"), "{text}");
    }
}
