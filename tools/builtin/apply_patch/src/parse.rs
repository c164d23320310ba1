//! Parses V4A patch text into file operations.
//!
//! Grammar (as Codex and the gpt-oss reference define it):
//!
//! ```text
//! Patch  := "*** Begin Patch" NL { FileOp } "*** End Patch" NL?
//! FileOp := "*** Add File: " path NL { "+" line NL }
//!         | "*** Delete File: " path NL
//!         | "*** Update File: " path NL [ "*** Move to: " path NL ] { Hunk }
//! Hunk   := { "@@" [ " " anchor ] NL } { (" " | "-" | "+") line NL } [ "*** End of File" NL ]
//! ```
//!
//! Lenient where models are sloppy and the meaning is clear: spaces around markers,
//! unified-diff hunk headers (`@@ -3,7 +3,8 @@`, whose numbers are ignored), and bare
//! empty lines inside a hunk (read as empty context lines).

use ossa_tool_sdk::{ToolError, resolve_path};

/// One file operation of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// Create a file that does not exist yet.
    Add {
        /// Workspace-relative path.
        path: String,
        /// The whole new file.
        content: String,
    },
    /// Remove an existing file.
    Delete {
        /// Workspace-relative path.
        path: String,
    },
    /// Change an existing file, optionally renaming it.
    Update {
        /// Workspace-relative path.
        path: String,
        /// New path when the file is renamed.
        move_to: Option<String>,
        /// The changes, in file order.
        hunks: Vec<Hunk>,
    },
}

impl FileOp {
    /// The path the operation reads or removes.
    pub fn path(&self) -> &str {
        match self {
            FileOp::Add { path, .. } | FileOp::Delete { path } | FileOp::Update { path, .. } => {
                path
            }
        }
    }
}

/// One `@@` section of an Update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hunk {
    /// `@@ <anchor>` lines, outermost first: each must match a file line, in order,
    /// before the hunk's own lines.
    pub anchors: Vec<String>,
    /// The body.
    pub lines: Vec<HunkLine>,
    /// `*** End of File`: the old lines end the file.
    pub end_of_file: bool,
    /// Line of the patch where the hunk starts, for error messages (1-based).
    pub patch_line: usize,
}

impl Hunk {
    /// The lines the file has now: context and removed lines.
    pub fn old_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                HunkLine::Context(text) | HunkLine::Remove(text) => Some(text.as_str()),
                HunkLine::Add(_) => None,
            })
            .collect()
    }

    /// The lines the file will have: context and added lines.
    pub fn new_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|line| match line {
                HunkLine::Context(text) | HunkLine::Add(text) => Some(text.as_str()),
                HunkLine::Remove(_) => None,
            })
            .collect()
    }
}

/// A body line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HunkLine {
    /// ` line`: unchanged.
    Context(String),
    /// `-line`: removed.
    Remove(String),
    /// `+line`: inserted.
    Add(String),
}

const END: &str = "*** End Patch";
const ADD: &str = "*** Add File:";
const DELETE: &str = "*** Delete File:";
const UPDATE: &str = "*** Update File:";
const MOVE: &str = "*** Move to:";
const END_OF_FILE: &str = "*** End of File";

/// Parses the (unwrapped) patch text.
pub fn parse(text: &str) -> Result<Vec<FileOp>, ToolError> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.first().map(|line| line.trim()).unwrap_or("");
    if first != crate::unwrap::BEGIN {
        return Err(rule_error(
            1,
            &format!("the first line is `{}`", shorten(first)),
            "a patch starts with the line `*** Begin Patch` (send the patch text itself as \
             `input`, not a diff or a description)",
        ));
    }
    let Some(last_index) = lines.iter().rposition(|line| !line.trim().is_empty()) else {
        return Err(rule_error(
            1,
            "the patch is empty",
            "a patch ends with `*** End Patch`",
        ));
    };
    if lines[last_index].trim() != END {
        return Err(rule_error(
            last_index + 1,
            &format!("the last line is `{}`", shorten(lines[last_index])),
            "a patch ends with the line `*** End Patch`; if the patch was cut off, send it \
             again in full",
        ));
    }
    let body = &lines[1..last_index];
    let mut parser = Parser {
        ops: Vec::new(),
        lines: body,
        index: 0,
    };
    parser.run()?;
    if parser.ops.is_empty() {
        return Err(rule_error(
            1,
            "the patch contains no file operation",
            "between the markers, give at least one `*** Add File:`, `*** Delete File:` or \
             `*** Update File:` section",
        ));
    }
    check_distinct_paths(&parser.ops)?;
    Ok(parser.ops)
}

struct Parser<'a> {
    ops: Vec<FileOp>,
    lines: &'a [&'a str],
    /// Index into `lines`; the patch line number is `index + 2`.
    index: usize,
}

impl Parser<'_> {
    fn patch_line(&self) -> usize {
        self.index + 2
    }

    fn run(&mut self) -> Result<(), ToolError> {
        while self.index < self.lines.len() {
            let line = self.lines[self.index].trim();
            if line.is_empty() {
                self.index += 1;
            } else if let Some(path) = line.strip_prefix(ADD) {
                let path = self.path(path)?;
                self.index += 1;
                self.add(path)?;
            } else if let Some(path) = line.strip_prefix(DELETE) {
                let path = self.path(path)?;
                self.index += 1;
                self.ops.push(FileOp::Delete { path });
            } else if let Some(path) = line.strip_prefix(UPDATE) {
                let path = self.path(path)?;
                self.index += 1;
                self.update(path)?;
            } else {
                return Err(rule_error(
                    self.patch_line(),
                    &format!("unexpected line `{}`", shorten(line)),
                    "every file section starts with `*** Add File: <path>`, `*** Delete File: \
                     <path>` or `*** Update File: <path>`",
                ));
            }
        }
        Ok(())
    }

    fn path(&self, raw: &str) -> Result<String, ToolError> {
        let path = raw.trim();
        if path.is_empty() {
            return Err(rule_error(
                self.patch_line(),
                "a file header has no path",
                "write the path after the colon, relative to the workspace root",
            ));
        }
        let resolved = resolve_path(path).map_err(|err| {
            rule_error(
                self.patch_line(),
                err.message(),
                "paths are relative to the workspace root",
            )
        })?;
        Ok(ossa_tool_sdk::display_path(&resolved))
    }

    fn at_header(&self) -> bool {
        let line = self.lines[self.index].trim_start();
        [ADD, DELETE, UPDATE]
            .iter()
            .any(|header| line.starts_with(header))
    }

    fn add(&mut self, path: String) -> Result<(), ToolError> {
        let mut content = String::new();
        let mut pending_blank = 0usize;
        while self.index < self.lines.len() && !self.at_header() {
            let line = self.lines[self.index];
            if let Some(text) = line.strip_prefix('+') {
                // Bare empty lines between `+` lines are kept as empty lines.
                for _ in 0..pending_blank {
                    content.push('\n');
                }
                pending_blank = 0;
                content.push_str(text);
                content.push('\n');
            } else if line.trim().is_empty() {
                pending_blank += 1;
            } else {
                return Err(rule_error(
                    self.patch_line(),
                    &format!(
                        "line `{}` in `*** Add File: {path}` does not start with `+`",
                        shorten(line)
                    ),
                    "every line of a new file starts with `+`, including empty lines",
                ));
            }
            self.index += 1;
        }
        self.ops.push(FileOp::Add { path, content });
        Ok(())
    }

    fn update(&mut self, path: String) -> Result<(), ToolError> {
        let mut move_to = None;
        if self.index < self.lines.len()
            && let Some(target) = self.lines[self.index].trim().strip_prefix(MOVE)
        {
            move_to = Some(self.path(target)?);
            self.index += 1;
        }
        let mut hunks: Vec<Hunk> = Vec::new();
        let mut current: Option<Hunk> = None;
        // Bare empty lines seen since the last body line; kept only if more body follows.
        let mut pending_blank = 0usize;
        while self.index < self.lines.len() && !self.at_header() {
            let raw = self.lines[self.index];
            let trimmed = raw.trim();
            if trimmed.starts_with("@@") {
                let starts_new = current.as_ref().is_none_or(|hunk| !hunk.lines.is_empty());
                if starts_new {
                    hunks.extend(current.take());
                    current = Some(Hunk {
                        patch_line: self.patch_line(),
                        ..Hunk::default()
                    });
                }
                pending_blank = 0;
                if let (Some(hunk), Some(anchor)) = (current.as_mut(), anchor_of(raw)) {
                    hunk.anchors.push(anchor);
                }
            } else if trimmed == END_OF_FILE {
                let hunk = current.as_mut().ok_or_else(|| {
                    rule_error(
                        self.patch_line(),
                        "`*** End of File` comes before any hunk line",
                        "`*** End of File` goes after the last line of a hunk",
                    )
                })?;
                hunk.end_of_file = true;
                pending_blank = 0;
            } else if raw.is_empty() || (trimmed.is_empty() && !raw.starts_with(' ')) {
                pending_blank += 1;
            } else if let Some(kind) = raw.chars().next().filter(|c| matches!(c, ' ' | '-' | '+')) {
                let hunk = current.get_or_insert_with(|| Hunk {
                    patch_line: self.patch_line(),
                    ..Hunk::default()
                });
                if hunk.end_of_file {
                    return Err(rule_error(
                        self.patch_line(),
                        "a hunk continues after `*** End of File`",
                        "`*** End of File` must be the last line of its hunk; start a new hunk \
                         with `@@` for further changes",
                    ));
                }
                if !hunk.lines.is_empty() {
                    for _ in 0..pending_blank {
                        hunk.lines.push(HunkLine::Context(String::new()));
                    }
                }
                pending_blank = 0;
                let text = raw[1..].to_owned();
                hunk.lines.push(match kind {
                    '-' => HunkLine::Remove(text),
                    '+' => HunkLine::Add(text),
                    _ => HunkLine::Context(text),
                });
            } else {
                return Err(rule_error(
                    self.patch_line(),
                    &format!(
                        "line `{}` in `*** Update File: {path}` has no prefix",
                        shorten(raw)
                    ),
                    "every line of a hunk starts with one character: a space for an unchanged \
                     line, `-` for a removed line, `+` for an added line",
                ));
            }
            self.index += 1;
        }
        hunks.extend(current);
        if let Some(empty) = hunks.iter().find(|hunk| hunk.lines.is_empty()) {
            return Err(rule_error(
                empty.patch_line,
                &format!("a hunk of `*** Update File: {path}` has no lines"),
                "after `@@`, give the unchanged lines around the change (prefixed by a space) \
                 and the removed (`-`) and added (`+`) lines",
            ));
        }
        if hunks.is_empty() && move_to.is_none() {
            return Err(rule_error(
                self.patch_line(),
                &format!("`*** Update File: {path}` has no hunks"),
                "an Update needs at least one hunk (or a `*** Move to:` line to rename)",
            ));
        }
        self.ops.push(FileOp::Update {
            path,
            move_to,
            hunks,
        });
        Ok(())
    }
}

/// The anchor text of an `@@` line; `None` for a bare `@@` or a unified-diff header
/// without text after it.
fn anchor_of(raw: &str) -> Option<String> {
    let rest = raw.trim_start().strip_prefix("@@")?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    // `@@ -12,7 +12,8 @@ fn name()`: skip the ranges, keep the trailing text.
    let rest = match unified_header_tail(rest) {
        Some(tail) => tail,
        None => rest,
    };
    let anchor = rest.trim_end();
    (!anchor.trim().is_empty()).then(|| anchor.to_owned())
}

fn unified_header_tail(rest: &str) -> Option<&str> {
    let mut words = rest.splitn(3, ' ');
    let old = words.next()?;
    let new = words.next()?;
    let is_range = |word: &str, sign: char| {
        word.strip_prefix(sign).is_some_and(|range| {
            !range.is_empty() && range.chars().all(|c| c.is_ascii_digit() || c == ',')
        })
    };
    if !is_range(old, '-') || !is_range(new, '+') {
        return None;
    }
    let tail = words.next().unwrap_or("").trim_start();
    Some(tail.strip_prefix("@@").unwrap_or(tail).trim_start())
}

fn check_distinct_paths(ops: &[FileOp]) -> Result<(), ToolError> {
    let mut seen: Vec<&str> = Vec::new();
    for op in ops {
        let mut paths = vec![op.path()];
        if let FileOp::Update {
            move_to: Some(target),
            ..
        } = op
            && target != op.path()
        {
            paths.push(target);
        }
        for path in paths {
            if seen.contains(&path) {
                return Err(rule_error(
                    1,
                    &format!("`{path}` appears in more than one file section"),
                    "each file appears once per patch; put all changes to one file in one \
                     `*** Update File:` section, hunks in file order",
                ));
            }
            seen.push(path);
        }
    }
    Ok(())
}

/// An error for a patch that breaks a rule of the format.
pub fn rule_error(patch_line: usize, what: &str, rule: &str) -> ToolError {
    ToolError::InvalidArgs(format!(
        "apply_patch: invalid patch at line {patch_line}: {what}.\nRule: {rule}.\nNothing was \
         changed; fix the patch and call apply_patch again."
    ))
}

fn shorten(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<FileOp> {
        match parse(text) {
            Ok(ops) => ops,
            Err(err) => panic!("{err}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(ops) => panic!("expected an error, got {ops:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn parses_all_three_operations() {
        let ops = ok(
            "*** Begin Patch\n*** Add File: n.txt\n+hi\n+\n*** Delete File: old.txt\n\
                      *** Update File: a.py\n*** Move to: b.py\n@@ def f():\n-    x = 1\n+    x = 2\n\
                      *** End Patch\n",
        );
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0],
            FileOp::Add {
                path: "n.txt".into(),
                content: "hi\n\n".into()
            }
        );
        assert_eq!(
            ops[1],
            FileOp::Delete {
                path: "old.txt".into()
            }
        );
        let FileOp::Update {
            path,
            move_to,
            hunks,
        } = &ops[2]
        else {
            panic!("not an update")
        };
        assert_eq!(path, "a.py");
        assert_eq!(move_to.as_deref(), Some("b.py"));
        assert_eq!(hunks[0].anchors, vec!["def f():".to_owned()]);
        assert_eq!(hunks[0].old_lines(), vec!["    x = 1"]);
        assert_eq!(hunks[0].new_lines(), vec!["    x = 2"]);
    }

    #[test]
    fn stacked_anchors_and_unified_headers() {
        let ops = ok(
            "*** Begin Patch\n*** Update File: a\n@@ class A\n@@     def f(self):\n a\n-b\n+c\n\
                      @@ -10,3 +10,3 @@ fn g()\n x\n*** End of File\n*** End Patch",
        );
        let FileOp::Update { hunks, .. } = &ops[0] else {
            panic!("not an update")
        };
        assert_eq!(hunks.len(), 2);
        assert_eq!(
            hunks[0].anchors,
            vec!["class A".to_owned(), "    def f(self):".to_owned()]
        );
        assert_eq!(hunks[1].anchors, vec!["fn g()".to_owned()]);
        assert!(hunks[1].end_of_file);
    }

    #[test]
    fn blank_lines_inside_a_hunk_are_context_but_trailing_ones_are_dropped() {
        let ops = ok("*** Begin Patch\n*** Update File: a\n@@\n a\n\n-b\n+c\n\n\n*** End Patch");
        let FileOp::Update { hunks, .. } = &ops[0] else {
            panic!("not an update")
        };
        assert_eq!(hunks[0].old_lines(), vec!["a", "", "b"]);
    }

    #[test]
    fn rule_errors_name_the_rule() {
        assert!(err("diff --git a/x b/x\n").contains("starts with the line `*** Begin Patch`"));
        assert!(
            err("*** Begin Patch\n*** Add File: a\n+x\n")
                .contains("ends with the line `*** End Patch`")
        );
        assert!(
            err("*** Begin Patch\n*** Add File: a\nx\n*** End Patch").contains("starts with `+`")
        );
        assert!(
            err("*** Begin Patch\n*** Update File: a\n@@\nfoo\n*** End Patch")
                .contains("has no prefix")
        );
        assert!(err("*** Begin Patch\n*** Update File: a\n*** End Patch").contains("has no hunks"));
        assert!(
            err("*** Begin Patch\n*** Delete File: /etc/passwd\n*** End Patch")
                .contains("absolute")
        );
        assert!(err("*** Begin Patch\n*** Delete File: ../x\n*** End Patch").contains("outside"));
        assert!(
            err("*** Begin Patch\n*** Delete File: a\n*** Delete File: a\n*** End Patch")
                .contains("more than one file section")
        );
        assert!(err("*** Begin Patch\n*** End Patch").contains("no file operation"));
        assert!(
            err("*** Begin Patch\n*** Frobnicate: a\n*** End Patch").contains("unexpected line")
        );
    }
}
