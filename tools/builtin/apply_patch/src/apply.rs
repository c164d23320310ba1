//! Locates each hunk in its file and computes the new contents, without writing.
//!
//! Hunks carry no line numbers: their old lines (context and removals) are searched
//! for, after the previous hunk, with growing tolerance: exact, then ignoring trailing
//! whitespace, then ignoring surrounding whitespace, then also treating typographic
//! dashes, quotes and spaces as their ASCII forms. When a hunk does not match, the
//! error quotes the region of the file that comes closest, so the model can fix it.

use ossa_tool_sdk::ToolError;

use crate::parse::{FileOp, Hunk, HunkLine};

/// A file's text split into lines, remembering how to join it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    lines: Vec<String>,
    /// `\r\n` when the file used CRLF line ends.
    eol: &'static str,
}

impl Lines {
    /// Splits `text`. The final line end, if any, is implied.
    pub fn split(text: &str) -> Self {
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
                .collect()
        };
        Lines { lines, eol }
    }

    /// The text, every line ended (an updated file always ends with a line end).
    pub fn join(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push_str(self.eol);
        }
        text
    }
}

/// Applies the hunks of an Update to the file's current text.
pub fn apply_hunks(path: &str, text: &str, hunks: &[Hunk]) -> Result<String, ToolError> {
    let mut file = Lines::split(text);
    let original = &file.lines;
    // (start, old length, replacement) on the original lines, in order.
    let mut edits: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut cursor = 0usize;
    for (number, hunk) in hunks.iter().enumerate() {
        for anchor in &hunk.anchors {
            match find_line(original, cursor, anchor) {
                Some(index) => cursor = index + 1,
                None => return Err(anchor_error(path, number, hunk, anchor, original)),
            }
        }
        let old = hunk.old_lines();
        let start = if old.is_empty() {
            // Pure insertion: after the anchor, or at the end of the file.
            if hunk.anchors.is_empty() || hunk.end_of_file {
                original.len()
            } else {
                cursor
            }
        } else {
            match find_block(original, cursor, &old, hunk.end_of_file) {
                Some(start) => start,
                None => return Err(match_error(path, number, hunk, &old, original, cursor)),
            }
        };
        if let Some((previous, length, _)) = edits.last()
            && start < previous + length
        {
            return Err(ToolError::Failed(format!(
                "apply_patch: hunk {} of `*** Update File: {path}` (patch line {}) overlaps \
                 the hunk before it.\nRule: hunks of one file come in file order and do not \
                 repeat lines; merge overlapping changes into one hunk.\nNothing was changed.",
                number + 1,
                hunk.patch_line
            )));
        }
        cursor = start + old.len();
        edits.push((
            start,
            old.len(),
            replacement(hunk, &original[start..start + old.len()]),
        ));
    }
    for (start, length, replacement) in edits.into_iter().rev() {
        file.lines.splice(start..start + length, replacement);
    }
    Ok(file.join())
}

/// The new lines of a hunk matched at `matched`: unchanged lines keep the file's own
/// text (a fuzzy match must not rewrite their whitespace or punctuation).
fn replacement(hunk: &Hunk, matched: &[String]) -> Vec<String> {
    let mut old = matched.iter();
    let mut lines = Vec::new();
    for line in &hunk.lines {
        match line {
            HunkLine::Context(text) => {
                lines.push(old.next().cloned().unwrap_or_else(|| text.clone()))
            }
            HunkLine::Remove(_) => {
                old.next();
            }
            HunkLine::Add(text) => lines.push(text.clone()),
        }
    }
    lines
}

/// The levels of tolerance, strictest first.
const LEVELS: [fn(&str) -> String; 4] = [
    |line| line.to_owned(),
    |line| line.trim_end().to_owned(),
    |line| line.trim().to_owned(),
    |line| normalize_punctuation(line.trim()),
];

fn find_line(lines: &[String], from: usize, wanted: &str) -> Option<usize> {
    LEVELS.iter().find_map(|level| {
        let wanted = level(wanted);
        (from..lines.len()).find(|&index| level(&lines[index]) == wanted)
    })
}

/// Where `old` occurs in `lines` at or after `from`. With `end_of_file`, a match ending
/// at the last line is preferred. If there is no match after `from` but exactly one
/// before it, that one is taken: models do not always keep hunks in file order.
fn find_block(lines: &[String], from: usize, old: &[&str], end_of_file: bool) -> Option<usize> {
    if old.len() > lines.len() {
        return None;
    }
    let last_start = lines.len() - old.len();
    for level in LEVELS {
        let wanted: Vec<String> = old.iter().map(|line| level(line)).collect();
        let matches_at = |start: usize| {
            wanted
                .iter()
                .enumerate()
                .all(|(offset, line)| level(&lines[start + offset]) == *line)
        };
        if end_of_file && last_start >= from && matches_at(last_start) {
            return Some(last_start);
        }
        if from <= last_start
            && let Some(start) = (from..=last_start).find(|&start| matches_at(start))
        {
            return Some(start);
        }
        let earlier: Vec<usize> = (0..from.min(last_start + 1))
            .filter(|&start| matches_at(start))
            .collect();
        if earlier.len() == 1 {
            return Some(earlier[0]);
        }
    }
    None
}

/// Maps typographic punctuation and odd spaces to ASCII, as models often retype them.
fn normalize_punctuation(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => '"',
            '\u{00A0}' | '\u{2002}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

/// Lines shown around a closest match.
const QUOTE_MAX_LINES: usize = 12;

fn match_error(
    path: &str,
    number: usize,
    hunk: &Hunk,
    old: &[&str],
    lines: &[String],
    cursor: usize,
) -> ToolError {
    let mut message = format!(
        "apply_patch: hunk {} of `*** Update File: {path}` (patch line {}) does not match \
         the file.\nRule: the unchanged (` `) and removed (`-`) lines of a hunk must appear in \
         the file exactly and in order{}.\nThe hunk expects these lines:\n",
        number + 1,
        hunk.patch_line,
        if cursor > 0 {
            ", after the previous hunk"
        } else {
            ""
        },
    );
    for line in old.iter().take(QUOTE_MAX_LINES) {
        message.push_str(&format!("  |{line}\n"));
    }
    if old.len() > QUOTE_MAX_LINES {
        message.push_str(&format!("  | … ({} more)\n", old.len() - QUOTE_MAX_LINES));
    }
    match closest_region(lines, old) {
        Some(start) => {
            let end = (start + old.len()).min(lines.len());
            message.push_str(&format!(
                "The closest region of {path} is lines {}-{}:\n",
                start + 1,
                end
            ));
            for (index, line) in lines[start..end].iter().enumerate().take(QUOTE_MAX_LINES) {
                let marker = if old
                    .get(index)
                    .is_some_and(|want| want.trim() == line.trim())
                {
                    ' '
                } else {
                    '*'
                };
                message.push_str(&format!("{marker}{:>5} |{line}\n", start + index + 1));
            }
            message.push_str("(lines marked * differ from the hunk)\n");
        }
        None => message.push_str(&format!("No line of {path} resembles them.\n")),
    }
    message.push_str("Nothing was changed. Read the file again (read_file) and resend the patch with lines copied exactly.");
    ToolError::Failed(message)
}

fn anchor_error(
    path: &str,
    number: usize,
    hunk: &Hunk,
    anchor: &str,
    lines: &[String],
) -> ToolError {
    let mut message = format!(
        "apply_patch: the `@@ {anchor}` line of hunk {} of `*** Update File: {path}` (patch \
         line {}) matches no line of the file{}.\nRule: the text after `@@ ` is copied from one \
         line of the file (usually the enclosing class or function signature).\n",
        number + 1,
        hunk.patch_line,
        if number > 0 {
            " after the previous hunk"
        } else {
            ""
        },
    );
    if let Some(start) = closest_region(lines, &[anchor]) {
        message.push_str(&format!(
            "The closest line of {path} is line {}:\n  |{}\n",
            start + 1,
            lines[start]
        ));
    }
    message
        .push_str("Nothing was changed. Fix the `@@` line (or leave it out) and resend the patch.");
    ToolError::Failed(message)
}

/// The start of the window of `lines` most similar to `wanted`, if any line is similar
/// at all. Similarity counts shared characters of aligned lines (by common prefix and
/// suffix after trimming), so a one-character typo still points at the right place.
fn closest_region(lines: &[String], wanted: &[&str]) -> Option<usize> {
    if lines.is_empty() || wanted.is_empty() {
        return None;
    }
    let window = wanted.len().min(lines.len());
    let mut best: Option<(usize, usize)> = None;
    for start in 0..=lines.len() - window {
        let score: usize = (0..window)
            .map(|offset| similarity(&lines[start + offset], wanted[offset]))
            .sum();
        if score > 0 && best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((start, score));
        }
    }
    best.map(|(start, _)| start)
}

fn similarity(a: &str, b: &str) -> usize {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        return usize::from(a == b);
    }
    if a == b {
        return 2 * a.len() + 1;
    }
    let prefix = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let suffix = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (prefix + suffix).min(a.len().min(b.len()))
}

/// What the patch does to one path, computed before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Write this content (creating or replacing the file).
    Write {
        /// Workspace-relative path.
        path: String,
        /// New content.
        content: String,
    },
    /// Remove the file.
    Remove {
        /// Workspace-relative path.
        path: String,
    },
}

/// Turns the operations into changes, reading current files through `read` (which
/// returns `None` for a missing file). Fails without side effects.
pub fn plan(
    ops: &[FileOp],
    mut read: impl FnMut(&str) -> Result<Option<String>, ToolError>,
) -> Result<(Vec<Change>, Vec<String>), ToolError> {
    let mut changes = Vec::new();
    let mut summary = Vec::new();
    for op in ops {
        match op {
            // As in codex's apply_patch, which gpt-oss was trained with, Add File over an
            // existing file replaces it; the summary says so.
            FileOp::Add { path, content } => {
                let replaced = read(path)?.is_some();
                changes.push(Change::Write {
                    path: path.clone(),
                    content: content.clone(),
                });
                summary.push(match replaced {
                    true => format!("A {path} (replaced the existing file)"),
                    false => format!("A {path}"),
                });
            }
            FileOp::Delete { path } => {
                if read(path)?.is_none() {
                    return Err(missing_error(path, "*** Delete File"));
                }
                changes.push(Change::Remove { path: path.clone() });
                summary.push(format!("D {path}"));
            }
            FileOp::Update {
                path,
                move_to,
                hunks,
            } => {
                let Some(text) = read(path)? else {
                    return Err(missing_error(path, "*** Update File"));
                };
                let content = apply_hunks(path, &text, hunks)?;
                match move_to.as_deref().filter(|target| *target != path) {
                    // Codex's semantics again: a move onto an existing file replaces it.
                    Some(target) => {
                        let replaced = read(target)?.is_some();
                        changes.push(Change::Write {
                            path: target.to_owned(),
                            content,
                        });
                        changes.push(Change::Remove { path: path.clone() });
                        summary.push(match replaced {
                            true => format!(
                                "M {target} (moved from {path}, replacing the existing file)"
                            ),
                            false => format!("M {target} (moved from {path})"),
                        });
                    }
                    None => {
                        changes.push(Change::Write {
                            path: path.clone(),
                            content,
                        });
                        summary.push(format!("M {path}"));
                    }
                }
            }
        }
    }
    Ok((changes, summary))
}

fn missing_error(path: &str, header: &str) -> ToolError {
    ToolError::Failed(format!(
        "apply_patch: `{header}: {path}` names a file that does not exist.\nRule: Update \
         and Delete work on existing files (paths relative to the workspace root); use \
         `*** Add File:` to create one. Check the path with list_dir.\nNothing was changed."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn hunk(anchors: &[&str], lines: &[(&str, &str)]) -> Hunk {
        Hunk {
            anchors: anchors.iter().map(|a| (*a).to_owned()).collect(),
            lines: lines
                .iter()
                .map(|(kind, text)| match *kind {
                    "-" => HunkLine::Remove((*text).to_owned()),
                    "+" => HunkLine::Add((*text).to_owned()),
                    _ => HunkLine::Context((*text).to_owned()),
                })
                .collect(),
            end_of_file: false,
            patch_line: 3,
        }
    }

    #[test]
    fn replaces_in_order_and_ends_with_newline() {
        let text = "a\nb\nc\nd\nb\n";
        let hunks = [
            hunk(&[], &[(" ", "a"), ("-", "b"), ("+", "B")]),
            hunk(&["d"], &[("-", "b"), ("+", "X")]),
        ];
        assert_eq!(apply_hunks("f", text, &hunks).unwrap(), "a\nB\nc\nd\nX\n");
        assert_eq!(
            apply_hunks("f", "a\nb", &[hunk(&[], &[("-", "b"), ("+", "c")])]).unwrap(),
            "a\nc\n"
        );
    }

    #[test]
    fn tolerates_whitespace_and_typography_and_keeps_crlf() {
        let text = "x = \u{201C}hi\u{201D}  \r\ny\r\n";
        let hunks = [hunk(&[], &[("-", "x = \"hi\""), ("+", "x = 1")])];
        assert_eq!(apply_hunks("f", text, &hunks).unwrap(), "x = 1\r\ny\r\n");
    }

    #[test]
    fn end_of_file_prefers_the_last_occurrence() {
        let mut h = hunk(&[], &[("-", "x"), ("+", "y")]);
        h.end_of_file = true;
        assert_eq!(apply_hunks("f", "x\na\nx\n", &[h]).unwrap(), "x\na\ny\n");
    }

    #[test]
    fn pure_insertion_goes_after_the_anchor() {
        let h = hunk(&["fn main() {"], &[("+", "    hello();")]);
        assert_eq!(
            apply_hunks("f", "fn main() {\n}\n", &[h]).unwrap(),
            "fn main() {\n    hello();\n}\n"
        );
    }

    #[test]
    fn mismatch_quotes_the_closest_region() {
        let text = "fn a() {\n    one();\n}\nfn b() {\n    two();\n}\n";
        let hunks = [hunk(
            &[],
            &[
                (" ", "fn b() {"),
                ("-", "    tow();"),
                ("+", "    three();"),
            ],
        )];
        let message = apply_hunks("src/x.rs", text, &hunks)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("hunk 1 of `*** Update File: src/x.rs` (patch line 3) does not match"),
            "{message}"
        );
        assert!(
            message.contains("closest region of src/x.rs is lines 4-5"),
            "{message}"
        );
        assert!(message.contains("*    5 |    two();"), "{message}");
    }

    #[test]
    fn unknown_anchor_is_reported() {
        let message = apply_hunks("f", "a\n", &[hunk(&["class Nope"], &[("-", "a")])])
            .unwrap_err()
            .to_string();
        assert!(message.contains("`@@ class Nope`"), "{message}");
    }

    #[test]
    fn plan_checks_existence() {
        let ops = parse("*** Begin Patch\n*** Add File: a\n+x\n*** End Patch").unwrap();
        let exists = |_: &str| Ok(Some(String::from("old")));
        let (changes, summary) = plan(&ops, exists).unwrap();
        assert_eq!(
            changes,
            vec![Change::Write {
                path: "a".into(),
                content: "x\n".into()
            }]
        );
        assert_eq!(summary, vec!["A a (replaced the existing file)".to_owned()]);
        let missing = |_: &str| Ok(None);
        let ops = parse("*** Begin Patch\n*** Delete File: a\n*** End Patch").unwrap();
        assert!(
            plan(&ops, missing)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let ops =
            parse("*** Begin Patch\n*** Update File: a\n*** Move to: b\n@@\n-x\n+y\n*** End Patch")
                .unwrap();
        let files = |path: &str| Ok((path == "a").then(|| "x\n".to_owned()));
        let (changes, summary) = plan(&ops, files).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::Write {
                    path: "b".into(),
                    content: "y\n".into()
                },
                Change::Remove { path: "a".into() }
            ]
        );
        assert_eq!(summary, vec!["M b (moved from a)".to_owned()]);
        let both = |_: &str| Ok(Some("x\n".to_owned()));
        let (_, summary) = plan(&ops, both).unwrap();
        assert_eq!(
            summary,
            vec!["M b (moved from a, replacing the existing file)".to_owned()]
        );
    }
}
