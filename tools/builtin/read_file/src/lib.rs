//! `read_file`: a text file of the workspace as numbered lines, a window at a time.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};

use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Lines returned when the model gives no `limit`.
const DEFAULT_LIMIT: u64 = 2000;
/// Longer lines are cut: minified files would otherwise fill the context.
const MAX_LINE_CHARS: usize = 2000;
/// Output cap per call, so one read cannot flood the context window.
const MAX_OUTPUT_BYTES: usize = 100 * 1024;
/// How much of the file is inspected to tell text from binary (as git does).
const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// Arguments of `read_file`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Path of the file, relative to the workspace root.
    pub path: String,
    /// Line number to start from, counting from 1. Default 1.
    pub offset: Option<u64>,
    /// Maximum number of lines to return. Default 2000.
    pub limit: Option<u64>,
}

/// The tool.
pub struct ReadFile;

impl Tool for ReadFile {
    type Args = Args;
    const NAME: &'static str = "read_file";
    const DESCRIPTION: &'static str = "Reads a text file from the workspace and returns its \
lines numbered from 1, like `cat -n` (line number, a tab, the line). Paths are relative to the \
workspace root. Returns at most `limit` lines (default 2000) starting at line `offset` \
(default 1) and at most 100 KiB; when the file continues, the last line of the output says \
which `offset` to use next. Lines longer than 2000 characters are cut. Binary files are \
refused. Use list_dir or grep to find files first.";

    fn call(args: Args) -> Result<String, ToolError> {
        let path = resolve_path(&args.path)?;
        let shown = display_path(&path);
        let offset = args.offset.unwrap_or(1).max(1);
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 {
            return Err(ToolError::InvalidArgs(
                "`limit` must be at least 1".to_owned(),
            ));
        }
        let file = File::open(&path).map_err(|err| ToolError::io(&shown, &err))?;
        let metadata = file.metadata().map_err(|err| ToolError::io(&shown, &err))?;
        if metadata.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a directory; use list_dir to see what it contains"
            )));
        }
        let mut reader = BufReader::with_capacity(BINARY_PROBE_BYTES, file);
        if looks_binary(&mut reader).map_err(|err| ToolError::io(&shown, &err))? {
            return Err(ToolError::Failed(format!(
                "{shown} is a binary file ({} bytes); read_file only shows text files",
                metadata.len()
            )));
        }
        render(&mut reader, &shown, offset, limit)
    }
}

/// True when the first bytes contain a NUL, which text files never do. Looks at what
/// the reader has buffered (up to 8 KiB) without consuming it.
fn looks_binary(reader: &mut BufReader<File>) -> std::io::Result<bool> {
    let buffered = reader.fill_buf()?;
    Ok(buffered[..buffered.len().min(BINARY_PROBE_BYTES)].contains(&0))
}

fn render(
    reader: &mut impl BufRead,
    shown: &str,
    offset: u64,
    limit: u64,
) -> Result<String, ToolError> {
    let mut out = String::new();
    let mut line = Vec::new();
    let mut number: u64 = 0;
    let mut returned: u64 = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| ToolError::io(shown, &err))?;
        if read == 0 {
            break;
        }
        number += 1;
        if number < offset {
            continue;
        }
        if returned == limit || out.len() >= MAX_OUTPUT_BYTES {
            let why = if returned == limit {
                "limit reached"
            } else {
                "100 KiB output cap"
            };
            out.push_str(&format!(
                "[{shown} continues after line {}; {why}. Call read_file again with offset={}]\n",
                number - 1,
                number
            ));
            return Ok(out);
        }
        push_number(&mut out, number);
        out.push_str(&clip(&line));
        out.push('\n');
        returned += 1;
    }
    if number == 0 {
        return Ok(format!("[{shown} is empty]\n"));
    }
    if returned == 0 {
        return Err(ToolError::Failed(format!(
            "offset {offset} is past the end of {shown}, which has {number} lines"
        )));
    }
    Ok(out)
}

/// Appends `number` right-aligned in six columns (wider when it has more digits) and a
/// tab, as `format!("{number:>6}\t")` would, without the formatting machinery (it runs
/// once per line).
fn push_number(out: &mut String, number: u64) {
    let mut digits = [b' '; 20];
    let mut at = digits.len();
    let mut rest = number;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = at.min(digits.len() - 6);
    // ASCII digits and spaces: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
    out.push('\t');
}

/// The line without its end-of-line bytes, lossily decoded and cut to
/// [`MAX_LINE_CHARS`]. Borrowed when the line is valid UTF-8 and short enough, which
/// is almost always.
fn clip(line: &[u8]) -> Cow<'_, str> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    };
    // A line of at most MAX_LINE_CHARS bytes has at most as many characters: only
    // longer ones need counting.
    if text.len() <= MAX_LINE_CHARS {
        return text;
    }
    match text.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => Cow::Owned(format!(
            "{}… [line cut at {MAX_LINE_CHARS} characters]",
            &text[..cut]
        )),
        None => text,
    }
}

ossa_tool_sdk::export_tool!(ReadFile);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn numbers_lines_and_windows() {
        let mut text = Cursor::new(b"a\nb\r\nc\nd".to_vec());
        assert_eq!(
            render(&mut text, "f", 1, 10).ok().as_deref(),
            Some("     1\ta\n     2\tb\n     3\tc\n     4\td\n")
        );
        let mut text = Cursor::new(b"a\nb\nc\nd\n".to_vec());
        let out = render(&mut text, "f", 2, 2).unwrap();
        assert_eq!(
            out,
            "     2\tb\n     3\tc\n[f continues after line 3; limit reached. Call read_file again with offset=4]\n"
        );
    }

    #[test]
    fn offset_past_end_is_an_error() {
        let mut text = Cursor::new(b"a\n".to_vec());
        assert!(
            matches!(render(&mut text, "f", 5, 10), Err(ToolError::Failed(m)) if m.contains("has 1 lines"))
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let long = "x".repeat(MAX_LINE_CHARS + 5);
        assert!(clip(long.as_bytes()).ends_with("[line cut at 2000 characters]"));
        // Counted in characters, not bytes.
        let wide = "é".repeat(MAX_LINE_CHARS);
        assert_eq!(clip(wide.as_bytes()), wide);
        let wider = "é".repeat(MAX_LINE_CHARS + 1);
        assert_eq!(
            clip(wider.as_bytes()),
            format!("{wide}… [line cut at 2000 characters]")
        );
        assert_eq!(clip(b"a\xffb\r\n"), "a\u{fffd}b");
    }

    #[test]
    fn numbers_are_right_aligned_like_format() {
        for number in [0, 7, 42, 99_999, 999_999, 1_000_000, 123_456_789, u64::MAX] {
            let mut out = String::new();
            push_number(&mut out, number);
            assert_eq!(out, format!("{number:>6}\t"));
        }
    }
}
