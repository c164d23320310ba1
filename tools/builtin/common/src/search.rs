//! The line search behind `grep` and `search`: every text file under a path, each line
//! matched against a regex, matches (and optional context lines) written as
//! `path:line:text`, ripgrep style. Each tool words its own summary from the counts.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ignore::overrides::Override;
use ossa_tool_sdk::display_path;
use regex::{Regex, RegexBuilder};

use crate::text::{clip, looks_binary};
use crate::walk::workspace_walk;

/// Files larger than this are skipped (and counted): they are data, not source.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Matched lines are cut so one minified line cannot fill the context.
pub const MAX_LINE_CHARS: usize = 400;

/// One search: the pattern, how much to show, and what was found so far.
pub struct LineSearch {
    regex: Regex,
    /// `regex` for a whole file at once (see [`file_gate`]).
    gate: Option<Regex>,
    context: usize,
    max_results: usize,
    count_limit: usize,
    out: String,
    matches: usize,
    more: usize,
    files_with_matches: usize,
    skipped_large: usize,
    skipped_binary: usize,
    unreadable: usize,
}

impl LineSearch {
    /// A search for `regex` showing at most `max_results` matching lines, each with
    /// `context` lines before and after.
    pub fn new(regex: Regex, context: usize, max_results: usize) -> Self {
        LineSearch {
            gate: file_gate(&regex),
            regex,
            context,
            max_results,
            count_limit: 0,
            out: String::new(),
            matches: 0,
            more: 0,
            files_with_matches: 0,
            skipped_large: 0,
            skipped_binary: 0,
            unreadable: 0,
        }
    }

    /// Keeps searching after `max_results` to count the matching lines not shown, up to
    /// `limit` of them (see [`LineSearch::more`]).
    pub fn count_more(mut self, limit: usize) -> Self {
        self.count_limit = limit;
        self
    }

    /// Searches every text file under `root` (a file or a directory), skipping what
    /// `.gitignore` excludes and, with `overrides`, what they exclude.
    pub fn walk(&mut self, root: &Path, overrides: Option<Override>) {
        let mut walk = workspace_walk(root);
        if let Some(overrides) = overrides {
            walk.overrides(overrides);
        }
        for entry in walk.build() {
            let Ok(entry) = entry else {
                self.unreadable += 1;
                continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            self.file(entry.path());
            if self.done() {
                break;
            }
        }
    }

    /// Whether `max_results` matching lines were found.
    pub fn full(&self) -> bool {
        self.matches >= self.max_results
    }

    fn done(&self) -> bool {
        self.full() && self.more >= self.count_limit
    }

    /// Searches one file (skipped when it is too large, binary or unreadable). Opens it
    /// once and asks the open file for its size: every path lookup costs the sandbox a
    /// walk through the path's directories.
    pub fn file(&mut self, path: &Path) {
        let Ok(mut file) = File::open(path) else {
            self.unreadable += 1;
            return;
        };
        let size = match file.metadata() {
            Ok(metadata) if metadata.len() > MAX_FILE_BYTES => {
                self.skipped_large += 1;
                return;
            }
            Ok(metadata) => metadata.len(),
            Err(_) => {
                self.unreadable += 1;
                return;
            }
        };
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
        if file.read_to_end(&mut bytes).is_err() {
            self.unreadable += 1;
            return;
        }
        if looks_binary(&bytes) {
            self.skipped_binary += 1;
            return;
        }
        let text = String::from_utf8_lossy(&bytes);
        self.text(&display_path(path), &text);
    }

    /// Searches `text`, shown as the file `shown`.
    pub fn text(&mut self, shown: &str, text: &str) {
        if self.gate.as_ref().is_some_and(|gate| !gate.is_match(text)) {
            return;
        }
        let lines: Vec<&str> = text.lines().collect();
        let room = self.max_results - self.matches;
        // Counting goes on past what is shown, up to the counting limit.
        let wanted = room + self.count_limit.saturating_sub(self.more);
        let found: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| self.regex.is_match(line))
            .map(|(index, _)| index)
            .take(wanted)
            .collect();
        let shown_hits = &found[..found.len().min(room)];
        self.more += found.len() - shown_hits.len();
        if shown_hits.is_empty() {
            return;
        }
        if self.files_with_matches > 0 && self.context > 0 {
            self.out.push_str("--\n");
        }
        self.files_with_matches += 1;
        // The last line already printed, so overlapping context is not repeated.
        let mut printed_up_to: Option<usize> = None;
        for &hit in shown_hits {
            let start = hit.saturating_sub(self.context);
            let end = (hit + self.context).min(lines.len() - 1);
            let from = match printed_up_to {
                Some(last) if last + 1 >= start => last + 1,
                Some(_) => {
                    // `--` divides groups of context; bare matches need no divider.
                    if self.context > 0 {
                        self.out.push_str("--\n");
                    }
                    start
                }
                None => start,
            };
            for (index, line) in lines.iter().enumerate().take(end + 1).skip(from) {
                let separator = if shown_hits.binary_search(&index).is_ok() {
                    ':'
                } else {
                    '-'
                };
                self.out.push_str(&format!(
                    "{shown}{separator}{}{separator}{}\n",
                    index + 1,
                    clip(line, MAX_LINE_CHARS)
                ));
            }
            printed_up_to = Some(end.max(printed_up_to.unwrap_or(0)));
        }
        self.matches += shown_hits.len();
    }

    /// The regex searched for.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// The matching lines found (and context), one per line.
    pub fn output(&self) -> &str {
        &self.out
    }

    /// How many matching lines are shown.
    pub fn matches(&self) -> usize {
        self.matches
    }

    /// How many matching lines were counted beyond those shown (at most the limit of
    /// [`LineSearch::count_more`]; 0 without it).
    pub fn more(&self) -> usize {
        self.more
    }

    /// Whether counting stopped at its limit, so there may be more than [`Self::more`].
    pub fn more_is_a_floor(&self) -> bool {
        self.count_limit > 0 && self.more >= self.count_limit
    }

    /// How many files have shown matches.
    pub fn files_with_matches(&self) -> usize {
        self.files_with_matches
    }

    /// The files skipped, e.g. `2 binary, 1 over 8 MiB`; with `binary` false, binary
    /// files are left out of it. `None` when there is nothing to say.
    pub fn skipped(&self, binary: bool) -> Option<String> {
        let mut skipped = Vec::new();
        if binary && self.skipped_binary > 0 {
            skipped.push(format!("{} binary", self.skipped_binary));
        }
        if self.skipped_large > 0 {
            skipped.push(format!("{} over 8 MiB", self.skipped_large));
        }
        if self.unreadable > 0 {
            skipped.push(format!("{} unreadable", self.unreadable));
        }
        (!skipped.is_empty()).then(|| skipped.join(", "))
    }
}

/// A regex that matches somewhere in a file whenever `regex` matches one of its lines,
/// so that files without a match cost one scan instead of one per line (which in
/// WebAssembly is ~30 times slower). In multi-line CRLF mode `^` and `$` match at every
/// line's edges as they do on a line alone; only `\A` and `\z` would not, so patterns
/// with them get no gate.
fn file_gate(regex: &Regex) -> Option<Regex> {
    let pattern = regex.as_str();
    if pattern.contains("\\A") || pattern.contains("\\z") {
        return None;
    }
    RegexBuilder::new(pattern)
        .multi_line(true)
        .crlf(true)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(pattern: &str, context: usize, max: usize, text: &str) -> LineSearch {
        let mut search = LineSearch::new(Regex::new(pattern).unwrap(), context, max);
        search.text("f.rs", text);
        search
    }

    #[test]
    fn matches_without_context() {
        assert_eq!(search("b", 0, 100, "a\nb\nc\n").output(), "f.rs:2:b\n");
        assert_eq!(
            search("x", 0, 100, "x\ny\nx\n").output(),
            "f.rs:1:x\nf.rs:3:x\n",
            "no divider between matches without context"
        );
    }

    #[test]
    fn anchors_still_match_at_every_line() {
        let text = "a foo\r\nfoo b\r\nbar foo\r\n";
        assert_eq!(search("^foo", 0, 100, text).output(), "f.rs:2:foo b\n");
        assert_eq!(
            search("foo$", 0, 100, text).output(),
            "f.rs:1:a foo\nf.rs:3:bar foo\n"
        );
        assert_eq!(search("\\Afoo", 0, 100, text).output(), "f.rs:2:foo b\n");
        assert_eq!(search("zzz", 0, 100, text).output(), "");
    }

    #[test]
    fn context_groups_merge_and_separate() {
        let text = "1\nx\n3\n4\n5\n6\nx\n8\n";
        assert_eq!(
            search("x", 1, 100, text).output(),
            "f.rs-1-1\nf.rs:2:x\nf.rs-3-3\n--\nf.rs-6-6\nf.rs:7:x\nf.rs-8-8\n"
        );
        assert_eq!(
            search("x", 2, 100, "x\nx\n").output(),
            "f.rs:1:x\nf.rs:2:x\n"
        );
    }

    #[test]
    fn counting_goes_past_the_cap_up_to_its_limit() {
        let text = "x\n".repeat(10);
        let capped = search("x", 0, 3, &text);
        assert_eq!((capped.matches(), capped.more()), (3, 0));
        let mut counted = LineSearch::new(Regex::new("x").unwrap(), 0, 3).count_more(100);
        counted.text("a", &text);
        counted.text("b", &text);
        assert_eq!((counted.matches(), counted.more()), (3, 17));
        assert!(!counted.more_is_a_floor());
        let mut floor = LineSearch::new(Regex::new("x").unwrap(), 0, 3).count_more(5);
        floor.text("a", &text);
        assert_eq!((floor.matches(), floor.more()), (3, 5));
        assert!(floor.more_is_a_floor() && floor.done());
    }
}
