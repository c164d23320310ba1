//! `grep`: regex search over the workspace's text files, ripgrep style.

use std::fs;

use ignore::overrides::OverrideBuilder;
use ossa_builtin_common::search::LineSearch;
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

const DEFAULT_MAX_RESULTS: usize = 100;
const MAX_MAX_RESULTS: usize = 1000;
const MAX_CONTEXT: usize = 10;

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

        let overrides = match &args.glob {
            Some(glob) => {
                let invalid = |err: ignore::Error| {
                    ToolError::InvalidArgs(format!("`glob` is not a valid glob: {err}"))
                };
                let mut overrides = OverrideBuilder::new(&root);
                overrides.add(glob).map_err(invalid)?;
                Some(overrides.build().map_err(invalid)?)
            }
            None => None,
        };
        let mut search = LineSearch::new(regex, context, max_results);
        search.walk(&root, overrides);
        Ok(finish(&search, &shown))
    }
}

/// Grep's summary after the matches.
fn finish(search: &LineSearch, shown: &str) -> String {
    let mut out = if search.matches() == 0 {
        format!("No matches for /{}/ in {shown}\n", search.regex().as_str())
    } else if search.full() {
        format!(
            "{}[stopped at {} matching lines; narrow `path` or `glob`, or raise `max_results`]\n",
            search.output(),
            search.matches()
        )
    } else {
        format!(
            "{}[{} matching lines in {} files]\n",
            search.output(),
            search.matches(),
            search.files_with_matches()
        )
    };
    if let Some(skipped) = search.skipped(true) {
        out.push_str(&format!("[skipped files: {skipped}]\n"));
    }
    out
}

ossa_tool_sdk::export_tool!(Grep);

#[cfg(test)]
mod tests {
    use super::*;

    fn search(pattern: &str, context: usize, text: &str) -> String {
        let mut search = LineSearch::new(Regex::new(pattern).unwrap(), context, 100);
        search.text("f.rs", text);
        finish(&search, ".")
    }

    #[test]
    fn summary_counts_lines_and_files() {
        assert_eq!(
            search("b", 0, "a\nb\nc\n"),
            "f.rs:2:b\n[1 matching lines in 1 files]\n"
        );
    }

    #[test]
    fn no_match_says_so() {
        assert_eq!(search("zzz", 0, "a\n"), "No matches for /zzz/ in .\n");
    }
}
