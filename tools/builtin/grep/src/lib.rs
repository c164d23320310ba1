//! `grep`: regex search over the workspace's text files, ripgrep style.

use std::fs;
use std::path::Path;

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

const DEFAULT_MAX_RESULTS: usize = 100;
const MAX_MAX_RESULTS: usize = 1000;
const MAX_CONTEXT: usize = 10;
/// Files larger than this are skipped (and counted): they are data, not source.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Matched lines are cut so one minified line cannot fill the context.
const MAX_LINE_CHARS: usize = 400;
/// A NUL in the first bytes marks a binary file, which is skipped.
const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Arguments of `grep`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Regular expression (Rust regex syntax, like ripgrep). Prefix with `(?i)` to ignore
    /// case; escape regex characters such as `(`, `.` or `[` to match them literally.
    pub pattern: String,
    /// File or directory to search, relative to the workspace root. Default: the root.
    pub path: Option<String>,
    /// Only search files whose path matches this glob, e.g. `*.rs` or `src/**/*.ts`.
    pub glob: Option<String>,
    /// Lines of context to show before and after each match. Default 0, at most 10.
    pub context: Option<usize>,
    /// Stop after this many matching lines. Default 100, at most 1000.
    pub max_results: Option<usize>,
}

/// The tool.
pub struct Grep;

impl Tool for Grep {
    type Args = Args;
    const NAME: &'static str = "grep";
    const DESCRIPTION: &'static str = "Searches the workspace's text files for a regular \
expression (Rust regex syntax, as in ripgrep) and returns matching lines as \
`path:line:text`; with `context`, surrounding lines appear as `path-line-text` and separate \
groups are divided by `--`. Skips `.git`, files excluded by .gitignore, binary files and files \
over 8 MiB. Narrow the search with `path` (a file or directory relative to the workspace root) \
and `glob` (e.g. `*.py`). Returns at most `max_results` matching lines (default 100).";

    fn call(args: Args) -> Result<String, ToolError> {
        let regex = Regex::new(&args.pattern).map_err(|err| {
            ToolError::InvalidArgs(format!(
                "`pattern` is not a valid regular expression: {err}"
            ))
        })?;
        let root = resolve_path(args.path.as_deref().unwrap_or("."))?;
        let shown = display_path(&root);
        let context = args.context.unwrap_or(0);
        if context > MAX_CONTEXT {
            return Err(ToolError::InvalidArgs(format!(
                "`context` must be at most {MAX_CONTEXT}"
            )));
        }
        let max_results = args.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if max_results == 0 || max_results > MAX_MAX_RESULTS {
            return Err(ToolError::InvalidArgs(format!(
                "`max_results` must be between 1 and {MAX_MAX_RESULTS}"
            )));
        }
        fs::metadata(&root).map_err(|err| ToolError::io(&shown, &err))?;

        let mut walk = WalkBuilder::new(&root);
        walk.hidden(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| entry.file_name() != ".git");
        if let Some(glob) = &args.glob {
            let mut overrides = OverrideBuilder::new(&root);
            overrides.add(glob).map_err(|err| {
                ToolError::InvalidArgs(format!("`glob` is not a valid glob: {err}"))
            })?;
            let overrides = overrides.build().map_err(|err| {
                ToolError::InvalidArgs(format!("`glob` is not a valid glob: {err}"))
            })?;
            walk.overrides(overrides);
        }

        let mut search = Search::new(regex, context, max_results);
        for entry in walk.build() {
            let Ok(entry) = entry else {
                search.unreadable += 1;
                continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            search.file(entry.path());
            if search.full() {
                break;
            }
        }
        Ok(search.finish(&shown))
    }
}

/// Accumulates the output over all files.
struct Search {
    regex: Regex,
    context: usize,
    max_results: usize,
    out: String,
    matches: usize,
    files_with_matches: usize,
    skipped_large: usize,
    skipped_binary: usize,
    unreadable: usize,
}

impl Search {
    fn new(regex: Regex, context: usize, max_results: usize) -> Self {
        Search {
            regex,
            context,
            max_results,
            out: String::new(),
            matches: 0,
            files_with_matches: 0,
            skipped_large: 0,
            skipped_binary: 0,
            unreadable: 0,
        }
    }

    fn full(&self) -> bool {
        self.matches >= self.max_results
    }

    fn file(&mut self, path: &Path) {
        match fs::metadata(path) {
            Ok(metadata) if metadata.len() > MAX_FILE_BYTES => {
                self.skipped_large += 1;
                return;
            }
            Ok(_) => {}
            Err(_) => {
                self.unreadable += 1;
                return;
            }
        }
        let Ok(bytes) = fs::read(path) else {
            self.unreadable += 1;
            return;
        };
        if bytes[..bytes.len().min(BINARY_PROBE_BYTES)].contains(&0) {
            self.skipped_binary += 1;
            return;
        }
        let text = String::from_utf8_lossy(&bytes);
        self.text(&display_path(path), &text);
    }

    fn text(&mut self, shown: &str, text: &str) {
        let lines: Vec<&str> = text.lines().collect();
        let hits: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| self.regex.is_match(line))
            .map(|(index, _)| index)
            .take(self.max_results - self.matches)
            .collect();
        if hits.is_empty() {
            return;
        }
        if self.files_with_matches > 0 && self.context > 0 {
            self.out.push_str("--\n");
        }
        self.files_with_matches += 1;
        // The last line already printed, so overlapping context is not repeated.
        let mut printed_up_to: Option<usize> = None;
        for &hit in &hits {
            let start = hit.saturating_sub(self.context);
            let end = (hit + self.context).min(lines.len() - 1);
            let from = match printed_up_to {
                Some(last) if last + 1 >= start => last + 1,
                Some(_) => {
                    self.out.push_str("--\n");
                    start
                }
                None => start,
            };
            for (index, line) in lines.iter().enumerate().take(end + 1).skip(from) {
                let separator = if hits.binary_search(&index).is_ok() {
                    ':'
                } else {
                    '-'
                };
                self.out.push_str(&format!(
                    "{shown}{separator}{}{separator}{}\n",
                    index + 1,
                    clip(line)
                ));
            }
            printed_up_to = Some(end.max(printed_up_to.unwrap_or(0)));
        }
        self.matches += hits.len();
    }

    fn finish(mut self, shown: &str) -> String {
        if self.matches == 0 {
            self.out = format!("No matches for /{}/ in {shown}\n", self.regex.as_str());
        } else if self.full() {
            self.out.push_str(&format!(
                "[stopped at {} matching lines; narrow `path` or `glob`, or raise `max_results`]\n",
                self.matches
            ));
        } else {
            self.out.push_str(&format!(
                "[{} matching lines in {} files]\n",
                self.matches, self.files_with_matches
            ));
        }
        let mut skipped = Vec::new();
        if self.skipped_binary > 0 {
            skipped.push(format!("{} binary", self.skipped_binary));
        }
        if self.skipped_large > 0 {
            skipped.push(format!("{} over 8 MiB", self.skipped_large));
        }
        if self.unreadable > 0 {
            skipped.push(format!("{} unreadable", self.unreadable));
        }
        if !skipped.is_empty() {
            self.out
                .push_str(&format!("[skipped files: {}]\n", skipped.join(", ")));
        }
        self.out
    }
}

fn clip(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => format!("{}… [line cut]", &line[..cut]),
        None => line.to_owned(),
    }
}

ossa_tool_sdk::export_tool!(Grep);

#[cfg(test)]
mod tests {
    use super::*;

    fn search(pattern: &str, context: usize, text: &str) -> String {
        let regex = Regex::new(pattern).unwrap();
        let mut search = Search::new(regex, context, 100);
        search.text("f.rs", text);
        search.finish(".")
    }

    #[test]
    fn matches_without_context() {
        assert_eq!(
            search("b", 0, "a\nb\nc\n"),
            "f.rs:2:b\n[1 matching lines in 1 files]\n"
        );
    }

    #[test]
    fn context_groups_merge_and_separate() {
        let text = "1\nx\n3\n4\n5\n6\nx\n8\n";
        assert_eq!(
            search("x", 1, text),
            "f.rs-1-1\nf.rs:2:x\nf.rs-3-3\n--\nf.rs-6-6\nf.rs:7:x\nf.rs-8-8\n[2 matching lines in 1 files]\n"
        );
        assert_eq!(
            search("x", 2, "x\nx\n"),
            "f.rs:1:x\nf.rs:2:x\n[2 matching lines in 1 files]\n"
        );
    }

    #[test]
    fn no_match_says_so() {
        assert_eq!(search("zzz", 0, "a\n"), "No matches for /zzz/ in .\n");
    }
}
