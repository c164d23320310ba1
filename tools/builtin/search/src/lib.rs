//! `search`: the lines of the workspace's text files that match a query, one
//! `path:line:text` per line, for gpt-oss's `repo_browser.search`. The search itself is
//! `grep`'s ([`LineSearch`]); this tool adds a literal fallback, a small default cap and
//! a count of what the cap left out.

use std::fs;

use ossa_builtin_common::search::LineSearch;
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

/// Matching lines listed when the model gives no `max_results`.
const DEFAULT_MAX_RESULTS: usize = 20;
/// A larger `max_results` is lowered to this (and the output says so).
const MAX_MAX_RESULTS: usize = 200;
/// Matching lines counted beyond those listed; past this the count is a floor.
const COUNT_LIMIT: usize = 10_000;
/// Listed lines stop here even below `max_results`, so the output fits the agent's
/// default cap on a tool output (16 KiB) with the note intact.
const MAX_OUTPUT_BYTES: usize = 15 * 1024;

/// Arguments of `search`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Directory or file to search: relative to the workspace root (an empty string
    /// searches the whole workspace), or an absolute path inside the workspace.
    pub path: String,
    /// What to look for: a regular expression in Rust/ripgrep syntax, case-sensitive.
    /// A query that is not a valid regular expression, or that matches nothing as one,
    /// is searched as plain text.
    pub query: String,
    /// How many matching lines to list at most. Default 20.
    pub max_results: Option<usize>,
}

/// The tool.
pub struct Search;

impl Tool for Search {
    type Args = Args;
    const NAME: &'static str = "search";
    const DESCRIPTION: &'static str = "Finds the lines of the repository's text files that \
match a query and lists them as `path:line:text`, one per line, with paths relative to the \
workspace root. Searches everything under `path` (a directory or a single file), skipping \
`.git`, files excluded by .gitignore, binary files and files over 8 MiB. When more lines \
match than `max_results`, a last line says how many were left out.";
    const ALIASES: &'static [(&'static str, &'static str)] = &[("pattern", "query")];

    fn call(args: Args) -> Result<String, ToolError> {
        if args.query.is_empty() {
            return Err(ToolError::InvalidArgs(
                "`query` is empty; give the text or regular expression to look for".to_owned(),
            ));
        }
        let root = resolve_path(&args.path)?;
        let shown = display_path(&root);
        let requested = args.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        if requested == 0 {
            return Err(ToolError::InvalidArgs(
                "`max_results` must be at least 1".to_owned(),
            ));
        }
        let max_results = requested.min(MAX_MAX_RESULTS);
        fs::metadata(&root).map_err(|err| ToolError::io(&shown, &err))?;
        let run = |regex: Regex| {
            let mut search = LineSearch::new(regex, 0, max_results).count_more(COUNT_LIMIT);
            search.walk(&root, None);
            search
        };
        let (search, reading) = search_query(&args.query, run)?;
        let notes = Notes {
            query: &args.query,
            shown: &shown,
            reading,
            lowered_from: (requested > max_results).then_some(requested),
        };
        Ok(render(&search, &notes))
    }
}

/// Runs `run` with `query` as a regex, or as plain text when it is not a valid regex
/// or, having regex syntax, matched nothing as one (`get_meta().ordering` is a valid
/// regex that misses its own text).
fn search_query(
    query: &str,
    run: impl Fn(Regex) -> LineSearch,
) -> Result<(LineSearch, Reading), ToolError> {
    Ok(match Regex::new(query) {
        Ok(regex) => {
            let search = run(regex);
            if search.matches() == 0 && regex::escape(query) != query {
                (run(literal(query)?), Reading::PlainAfterNoRegexMatch)
            } else {
                (search, Reading::Regex)
            }
        }
        Err(_) => (run(literal(query)?), Reading::PlainNotARegex),
    })
}

/// A regex matching `text` literally.
fn literal(text: &str) -> Result<Regex, ToolError> {
    Regex::new(&regex::escape(text))
        .map_err(|err| ToolError::InvalidArgs(format!("`query` cannot be searched: {err}")))
}

/// How the query was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// As a regular expression.
    Regex,
    /// As plain text, because it is not a valid regular expression.
    PlainNotARegex,
    /// As plain text, because as a regular expression it matched nothing.
    PlainAfterNoRegexMatch,
}

/// What the output says besides the matches.
struct Notes<'a> {
    query: &'a str,
    shown: &'a str,
    reading: Reading,
    lowered_from: Option<usize>,
}

fn render(search: &LineSearch, notes: &Notes) -> String {
    let mut out = String::new();
    match notes.reading {
        Reading::PlainNotARegex => out.push_str(
            "[the query is not a valid regular expression, so it was searched as plain text]\n",
        ),
        Reading::PlainAfterNoRegexMatch if search.matches() > 0 => out.push_str(
            "[the query matched nothing as a regular expression, so it was searched as plain \
             text]\n",
        ),
        _ => {}
    }
    let (listed, cut) = within_budget(search.output());
    out.push_str(listed);
    let listed_count = search.matches() - cut;
    if search.matches() == 0 {
        let place = match notes.shown {
            "." => "the workspace".to_owned(),
            path => path.to_owned(),
        };
        let how = match notes.reading {
            Reading::PlainAfterNoRegexMatch => " (read as a regular expression and as plain text)",
            _ => "",
        };
        out.push_str(&format!(
            "No matches for `{}` in {place}{how}.\n",
            notes.query
        ));
    }
    let left_out = cut + search.more();
    if left_out > 0 {
        let total = listed_count + left_out;
        let at_least = if search.more_is_a_floor() {
            "at least "
        } else {
            ""
        };
        let lowered = match notes.lowered_from {
            Some(asked) => format!(" (max_results {asked} was lowered to {MAX_MAX_RESULTS})"),
            None => String::new(),
        };
        out.push_str(&format!(
            "[{listed_count} of {at_least}{total} matching lines shown{lowered}; narrow `path` or \
             the query, or raise `max_results`, to see the others]\n"
        ));
    }
    if let Some(skipped) = search.skipped(false) {
        out.push_str(&format!("[files not searched: {skipped}]\n"));
    }
    out
}

/// The first lines of `listed` that fit [`MAX_OUTPUT_BYTES`], and how many were cut.
fn within_budget(listed: &str) -> (&str, usize) {
    if listed.len() <= MAX_OUTPUT_BYTES {
        return (listed, 0);
    }
    let end = listed[..MAX_OUTPUT_BYTES]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    (&listed[..end], listed[end..].lines().count())
}

ossa_tool_sdk::export_tool!(Search);

#[cfg(test)]
mod tests {
    use super::*;

    /// Searches `files` the way `call` does, without a workspace.
    fn run(query: &str, max: usize, files: &[(&str, &str)]) -> String {
        let search = |regex: Regex| {
            let mut search = LineSearch::new(regex, 0, max).count_more(COUNT_LIMIT);
            for (name, text) in files {
                search.text(name, text);
            }
            search
        };
        let (found, reading) = search_query(query, search).unwrap();
        let notes = Notes {
            query,
            shown: ".",
            reading,
            lowered_from: None,
        };
        render(&found, &notes)
    }

    #[test]
    fn lists_matches_and_counts_the_rest() {
        let files = [("a.py", "x = 1\ny = 2\nx += 1\n"), ("b.py", "x\n")];
        assert_eq!(
            run("x", 20, &files),
            "a.py:1:x = 1\na.py:3:x += 1\nb.py:1:x\n"
        );
        assert_eq!(
            run("x", 2, &files),
            "a.py:1:x = 1\na.py:3:x += 1\n[2 of 3 matching lines shown; narrow `path` or the \
             query, or raise `max_results`, to see the others]\n"
        );
    }

    #[test]
    fn an_invalid_regex_is_searched_literally() {
        let out = run("call(", 20, &[("a.py", "call(x)\nrecall\n")]);
        assert_eq!(
            out,
            "[the query is not a valid regular expression, so it was searched as plain text]\na.py:1:call(x)\n"
        );
        // A valid regex that misses its own text: searched again as plain text.
        assert_eq!(
            run(
                "get_meta().ordering",
                20,
                &[("q.py", "self.get_meta().ordering\n")]
            ),
            "[the query matched nothing as a regular expression, so it was searched as plain text]\nq.py:1:self.get_meta().ordering\n"
        );
        assert_eq!(
            run("a.b", 20, &[("q.py", "axb\n")]),
            "q.py:1:axb\n",
            "a regex that matches is not searched again"
        );
        assert_eq!(
            run("x(y)", 20, &[("q.py", "z\n")]),
            "No matches for `x(y)` in the workspace (read as a regular expression and as plain text).\n"
        );
    }

    #[test]
    fn no_match_names_the_place() {
        assert_eq!(
            run("zzz", 20, &[("a.py", "a\n")]),
            "No matches for `zzz` in the workspace.\n"
        );
    }

    #[test]
    fn output_stays_within_its_budget() {
        let line = format!("{}\n", "x".repeat(300));
        let text = line.repeat(100);
        let out = run("x", 100, &[("big.txt", &text)]);
        assert!(out.len() <= MAX_OUTPUT_BYTES + 200, "{}", out.len());
        assert!(out.contains(" of 100 matching lines shown"), "{out}");
        let listed = out.lines().filter(|l| l.starts_with("big.txt:")).count();
        assert!(out.contains(&format!("[{listed} of 100 ")), "{out}");
    }
}
