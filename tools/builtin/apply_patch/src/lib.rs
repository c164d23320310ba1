//! `apply_patch`: edits workspace files with a V4A patch, all files or none.
//!
//! The work happens in three steps: [`unwrap`] takes the patch out of whatever the model
//! wrapped it in, [`parse`] reads the V4A text, [`apply`] locates every hunk and
//! computes every new file in memory. Only then are files written, staged next to
//! their targets and renamed into place (see [`commit`]), so a failure at any point
//! leaves the workspace as it was.

pub mod apply;
pub mod parse;
pub mod unwrap;

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use ossa_tool_sdk::{Tool, ToolError, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

use apply::Change;

/// Arguments of `apply_patch`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The entire patch, from `*** Begin Patch` to `*** End Patch`.
    pub patch: String,
}

/// The tool.
pub struct ApplyPatch;

impl Tool for ApplyPatch {
    type Args = Args;
    const NAME: &'static str = "apply_patch";
    const DESCRIPTION: &'static str = DESCRIPTION;
    // `patch` is repo_browser's name for the argument; `input` is Codex's, which this
    // tool declared first.
    const ALIASES: &'static [(&'static str, &'static str)] = &[("input", "patch")];

    fn call(args: Args) -> Result<String, ToolError> {
        let text = unwrap::unwrap_input(&args.patch);
        let ops = parse::parse(&text)?;
        let (changes, summary) = apply::plan(&ops, read_existing)?;
        commit(&changes)?;
        Ok(format!(
            "Done. Applied the patch:\n{}\n",
            summary.join("\n")
        ))
    }
}

/// The instructions the model sees (after Codex's apply_patch instructions for gpt-oss,
/// with the prefix list spelled out correctly).
const DESCRIPTION: &str = r#"Edits files in the workspace with a patch. Use it to change, create, delete or rename files. The patch is applied completely or not at all; on failure the message says which rule broke and shows the closest lines of the file, so you can fix the patch and call apply_patch again.

Put the entire patch in `patch`. The format is a stripped-down, file-oriented diff:

*** Begin Patch
[ one or more file sections ]
*** End Patch

Each file section starts with one of three headers:
*** Add File: <path> - create a file (an existing file of that name is replaced). Every following line is a line of the new file, prefixed with `+`.
*** Delete File: <path> - remove an existing file. Nothing follows.
*** Update File: <path> - change an existing file. Optionally followed directly by `*** Move to: <new path>` to rename it. Then one or more hunks.

A hunk starts with a line `@@`, optionally followed by a space and one line copied from the file (usually the class or function the change is in) to say where the hunk is. Then come the hunk's lines, each starting with exactly one character:
  (a space) for an unchanged line, copied exactly from the file
  - for a line to remove
  + for a line to add

Hunks have no line numbers: they are found by their unchanged and removed lines, so copy those exactly from the file. By default show 3 unchanged lines above and 3 below each change. When two changes are within 3 lines of each other, put them in one hunk rather than repeating lines. If 3 lines of context do not identify the place uniquely, add an `@@` line with the enclosing class or function; use several `@@` lines, outermost first, when one is not enough:

@@ class BaseClass
@@     def search():
-        pass
+        raise NotImplementedError()

Put the hunks of a file in the order they appear in the file. End a hunk with the line `*** End of File` when its last lines are the end of the file.

Example that adds a file, edits and renames another, and deletes a third:

*** Begin Patch
*** Add File: hello.txt
+Hello world
*** Update File: src/app.py
*** Move to: src/main.py
@@ def greet():
-print("Hi")
+print("Hello, world!")
*** Delete File: obsolete.txt
*** End Patch

Remember:
- Always start a file section with its header: Add File, Delete File or Update File.
- Prefix every line of a new file with `+`, including empty lines.
- Paths are relative to the workspace root; never use absolute paths.
- Update File and Delete File must name an existing file; Add File and Move to replace a file that exists.
"#;

/// Reads a file for planning; `None` when it does not exist. A directory counts as
/// existing (so Add refuses it) but cannot be updated.
fn read_existing(path: &str) -> Result<Option<String>, ToolError> {
    let resolved = resolve_path(path)?;
    match fs::read(&resolved) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(ToolError::Failed(format!(
                "apply_patch: {path} is not a UTF-8 text file; apply_patch only edits text"
            ))),
        },
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(_) if resolved.is_dir() => Err(ToolError::Failed(format!(
            "apply_patch: {path} is a directory; patches name files"
        ))),
        Err(err) => Err(ToolError::io(path, &err)),
    }
}

/// Writes every change in two phases, so that a failure leaves the files as they were:
///
/// 1. every new content goes to a staging file next to its target (`.<name>.ossa-patch`);
///    if any staging write fails (a full disk, the tool's write limit), the staging
///    files are removed and nothing else was touched;
/// 2. staging files are renamed over their targets and deleted files removed; renames
///    and removals need no space, and if one still fails, the targets already
///    replaced get their previous contents back.
fn commit(changes: &[Change]) -> Result<(), ToolError> {
    let mut staged: Vec<Staged> = Vec::new();
    for change in changes {
        let Change::Write { path, content } = change else {
            continue;
        };
        match stage(path, content) {
            Ok(entry) => staged.push(entry),
            Err(err) => {
                discard(&staged);
                return Err(rewrap(err, "nothing was changed"));
            }
        }
    }
    let mut done: Vec<Undo> = Vec::new();
    let mut next_staged = staged.iter();
    for change in changes {
        let result = match change {
            Change::Write { .. } => match next_staged.next() {
                Some(entry) => replace(entry, &mut done),
                None => Err(ToolError::Failed(
                    "internal error: a staged file is missing".to_owned(),
                )),
            },
            Change::Remove { path } => remove(path, &mut done),
        };
        if let Err(err) = result {
            discard(&staged);
            let failures = roll_back(done);
            let outcome = if failures.is_empty() {
                "the files already changed were restored, so nothing changed".to_owned()
            } else {
                format!(
                    "restoring the files already changed also failed for: {}",
                    failures.join(", ")
                )
            };
            return Err(rewrap(err, &outcome));
        }
    }
    Ok(())
}

/// A new content written next to its target, waiting to be renamed into place.
struct Staged {
    target: PathBuf,
    staging: PathBuf,
    shown: String,
}

/// What a path held before the patch touched it, for rolling back.
struct Undo {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

fn stage(path: &str, content: &str) -> Result<Staged, ToolError> {
    let target = resolve_path(path)?;
    let name = target
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("file");
    let staging = target.with_file_name(format!(".{name}.ossa-patch"));
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|err| ToolError::io(path, &err))?;
    }
    if let Err(err) = fs::write(&staging, content.as_bytes()) {
        let _ = fs::remove_file(&staging);
        return Err(ToolError::io(path, &err));
    }
    Ok(Staged {
        target,
        staging,
        shown: path.to_owned(),
    })
}

fn replace(entry: &Staged, done: &mut Vec<Undo>) -> Result<(), ToolError> {
    let before = fs::read(&entry.target).ok();
    fs::rename(&entry.staging, &entry.target).map_err(|err| ToolError::io(&entry.shown, &err))?;
    done.push(Undo {
        path: entry.target.clone(),
        before,
    });
    Ok(())
}

fn remove(path: &str, done: &mut Vec<Undo>) -> Result<(), ToolError> {
    let resolved = resolve_path(path)?;
    let before = fs::read(&resolved).map_err(|err| ToolError::io(path, &err))?;
    fs::remove_file(&resolved).map_err(|err| ToolError::io(path, &err))?;
    done.push(Undo {
        path: resolved,
        before: Some(before),
    });
    Ok(())
}

/// Removes staging files that were not renamed into place.
fn discard(staged: &[Staged]) {
    for entry in staged {
        let _ = fs::remove_file(&entry.staging);
    }
}

/// Undoes in reverse order; returns the paths that could not be restored.
fn roll_back(undo: Vec<Undo>) -> Vec<String> {
    let mut failures = Vec::new();
    for step in undo.into_iter().rev() {
        let result = match &step.before {
            Some(bytes) => fs::write(&step.path, bytes),
            None => match fs::remove_file(&step.path) {
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if result.is_err() {
            failures.push(ossa_tool_sdk::display_path(&step.path));
        }
    }
    failures
}

/// The error with what happened to the files appended, keeping its kind.
fn rewrap(err: ToolError, outcome: &str) -> ToolError {
    let message = format!("apply_patch: {err}; {outcome}");
    match err {
        ToolError::Denied(_) => ToolError::Denied(message),
        ToolError::InvalidArgs(_) => ToolError::InvalidArgs(message),
        ToolError::Failed(_) => ToolError::Failed(message),
    }
}

ossa_tool_sdk::export_tool!(ApplyPatch);
