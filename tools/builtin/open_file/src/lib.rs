//! `open_file`: lines of a text file of the workspace, for gpt-oss's
//! `repo_browser.open_file`: a range given by its first and last line (1-indexed,
//! inclusive), plain or with line numbers, cut at an output budget with a note saying
//! where to go on.

use std::fs::File;
use std::io::{BufRead, BufReader};

use ossa_builtin_common::text::{BINARY_PROBE_BYTES, clip, looks_binary};
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Longer lines are cut: minified files would otherwise fill the context.
const MAX_LINE_CHARS: usize = 2000;
/// Lines stop here, so the output fits the agent's default cap on a tool output
/// (16 KiB) with the note intact.
const MAX_OUTPUT_BYTES: usize = 15 * 1024;

/// Arguments of `open_file`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The file to open: relative to the workspace root, or an absolute path inside the
    /// workspace.
    pub path: String,
    /// The first line to show, counting from 1. Default 1.
    pub line_start: Option<u64>,
    /// The last line to show (it is included). Default: the last line of the file.
    pub line_end: Option<u64>,
    /// Whether to put each line's number in front of it. Default false.
    pub line_numbers: Option<bool>,
}

/// The tool.
pub struct OpenFile;

impl Tool for OpenFile {
    type Args = Args;
    const NAME: &'static str = "open_file";
    const DESCRIPTION: &'static str = "Returns the text of a file in the workspace, or only \
the lines from `line_start` to `line_end` (counted from 1, both included). With \
`line_numbers`, each line starts with its number and a tab. About 15 KB are returned per \
call: when the range is longer, the last line says where to continue. Lines over 2000 \
characters are cut; binary files are refused.";
    const ALIASES: &'static [(&'static str, &'static str)] = &[
        ("file_path", "path"),
        ("start_line", "line_start"),
        ("end_line", "line_end"),
    ];

    fn call(args: Args) -> Result<String, ToolError> {
        let path = resolve_path(&args.path)?;
        let shown = display_path(&path);
        // Models sometimes count from 0; line 0 can only mean the first line.
        let start = args.line_start.unwrap_or(1).max(1);
        if let Some(end) = args.line_end
            && end < start
        {
            return Err(ToolError::InvalidArgs(format!(
                "`line_end` ({end}) is before `line_start` ({start}); give a range whose last \
                 line is not before its first"
            )));
        }
        let file = File::open(&path).map_err(|err| ToolError::io(&shown, &err))?;
        let metadata = file.metadata().map_err(|err| ToolError::io(&shown, &err))?;
        if metadata.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a directory, not a file; use list_dir to see what it contains"
            )));
        }
        let mut reader = BufReader::with_capacity(BINARY_PROBE_BYTES, file);
        let probe = reader
            .fill_buf()
            .map_err(|err| ToolError::io(&shown, &err))?;
        if looks_binary(probe) {
            return Err(ToolError::Failed(format!(
                "{shown} is a binary file ({} bytes); open_file shows only text files",
                metadata.len()
            )));
        }
        let request = Request {
            shown: &shown,
            start,
            end: args.line_end,
            numbers: args.line_numbers.unwrap_or(false),
        };
        render(&mut reader, &request, MAX_OUTPUT_BYTES)
    }
}

/// What to show of one file.
struct Request<'a> {
    shown: &'a str,
    start: u64,
    end: Option<u64>,
    numbers: bool,
}

/// The requested lines, read from `reader`, within `budget` bytes.
fn render(
    reader: &mut impl BufRead,
    request: &Request,
    budget: usize,
) -> Result<String, ToolError> {
    let shown = request.shown;
    let mut out = String::new();
    let mut line = Vec::new();
    let mut number: u64 = 0;
    // The last line shown when the budget stopped the output.
    let mut cut_after: Option<u64> = None;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| ToolError::io(shown, &err))?;
        if read == 0 {
            break;
        }
        number += 1;
        let wanted = number >= request.start && request.end.is_none_or(|end| number <= end);
        if !wanted || cut_after.is_some() {
            // Past the range or the budget: only count, to say how long the file is.
            continue;
        }
        let text = text_of(&line);
        let formatted = if request.numbers {
            format!("{number:>6}\t{text}\n")
        } else {
            format!("{text}\n")
        };
        if out.len() + formatted.len() > budget && number > request.start {
            cut_after = Some(number - 1);
            continue;
        }
        out.push_str(&formatted);
    }
    let total = number;
    if total == 0 {
        return Ok(format!("[{shown} is empty]\n"));
    }
    if request.start > total {
        return Err(ToolError::Failed(format!(
            "`line_start` {} is past the end of {shown}, which has {total} {}",
            request.start,
            lines(total)
        )));
    }
    if let Some(last) = cut_after {
        let rest = match request.end {
            Some(end) if end < total => format!("the range asked for ends at line {end}"),
            _ => format!("the file has {total} {}", lines(total)),
        };
        out.push_str(&format!(
            "[output capped at about 15 KB: lines {}-{last} of {shown} shown, {rest}; call \
             open_file again with line_start={} to read on]\n",
            request.start,
            last + 1
        ));
    } else if request.end.is_some_and(|end| end > total) {
        out.push_str(&format!(
            "[end of file: {shown} has {total} {}]\n",
            lines(total)
        ));
    }
    Ok(out)
}

fn lines(count: u64) -> &'static str {
    if count == 1 { "line" } else { "lines" }
}

/// The line without its end-of-line bytes, lossily decoded and cut to
/// [`MAX_LINE_CHARS`].
fn text_of(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    clip(&String::from_utf8_lossy(line), MAX_LINE_CHARS).into_owned()
}

ossa_tool_sdk::export_tool!(OpenFile);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn open(text: &str, start: u64, end: Option<u64>, numbers: bool) -> Result<String, ToolError> {
        let request = Request {
            shown: "f.py",
            start,
            end,
            numbers,
        };
        render(
            &mut Cursor::new(text.as_bytes().to_vec()),
            &request,
            MAX_OUTPUT_BYTES,
        )
    }

    #[test]
    fn ranges_are_inclusive_and_one_based() {
        let text = "a\nb\r\nc\nd";
        assert_eq!(open(text, 1, None, false).unwrap(), "a\nb\nc\nd\n");
        assert_eq!(open(text, 2, Some(3), false).unwrap(), "b\nc\n");
        assert_eq!(open(text, 4, Some(4), true).unwrap(), "     4\td\n");
        assert_eq!(
            open(text, 3, Some(10), true).unwrap(),
            "     3\tc\n     4\td\n[end of file: f.py has 4 lines]\n"
        );
    }

    #[test]
    fn a_range_past_the_end_names_the_length() {
        let err = open("a\nb\n", 5, Some(9), false).unwrap_err();
        assert!(
            matches!(&err, ToolError::Failed(m) if m.contains("`line_start` 5 is past the end of f.py, which has 2 lines")),
            "{err:?}"
        );
        assert_eq!(open("", 1, None, false).unwrap(), "[f.py is empty]\n");
    }

    #[test]
    fn the_budget_cuts_with_a_note_on_where_to_go_on() {
        let text: String = (1..=1000).map(|n| format!("line number {n}\n")).collect();
        let out = open(&text, 10, None, false).unwrap();
        assert!(out.len() < MAX_OUTPUT_BYTES + 200, "{}", out.len());
        let note = out.lines().last().unwrap();
        let last: u64 = out.lines().rev().nth(1).unwrap()["line number ".len()..]
            .parse()
            .unwrap();
        assert_eq!(
            note,
            format!(
                "[output capped at about 15 KB: lines 10-{last} of f.py shown, the file has 1000 lines; call open_file again with line_start={} to read on]",
                last + 1
            )
        );
        let out = open(&text, 1, Some(900), true).unwrap();
        assert!(
            out.lines()
                .last()
                .unwrap()
                .contains("the range asked for ends at line 900;"),
            "{out}"
        );
        // A single line over the budget is still shown (cut to its character limit).
        let long = "x".repeat(MAX_LINE_CHARS * 10);
        let out = open(&long, 1, None, false).unwrap();
        assert!(
            out.ends_with("… [line cut]\n"),
            "{}",
            &out[out.len() - 40..]
        );
    }
}
