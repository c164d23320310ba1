//! `apply_patch`: edits workspace files with a V4A patch, all files or none.
//!
//! The work happens in three steps: [`unwrap`] takes the patch out of whatever the model
//! wrapped it in, [`parse`] reads the V4A text, [`apply`] locates every hunk and
//! computes every new file in memory. Only then are files written; if a write fails,
//! the files already written are put back as they were.

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
    pub input: String,
}

/// The tool.
pub struct ApplyPatch;

impl Tool for ApplyPatch {
    type Args = Args;
    const NAME: &'static str = "apply_patch";
    const DESCRIPTION: &'static str = DESCRIPTION;

    fn call(args: Args) -> Result<String, ToolError> {
        let text = unwrap::unwrap_input(&args.input);
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

Put the entire patch in `input`. The format is a stripped-down, file-oriented diff:

*** Begin Patch
[ one or more file sections ]
*** End Patch

Each file section starts with one of three headers:
*** Add File: <path> - create a new file. Every following line is a line of the new file, prefixed with `+`.
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
- Add File and Move to must not name an existing file; Update File and Delete File must name one.
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

/// What a path held before the patch touched it, for rolling back.
struct Undo {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

/// Writes every change; on the first failure restores what was already written.
fn commit(changes: &[Change]) -> Result<(), ToolError> {
    let mut undo: Vec<Undo> = Vec::new();
    for change in changes {
        if let Err(err) = commit_one(change, &mut undo) {
            let rollback_failures = roll_back(undo);
            let mut message = format!("apply_patch: {err}; ");
            if rollback_failures.is_empty() {
                message.push_str("the files already written were restored, so nothing changed");
            } else {
                message.push_str(&format!(
                    "restoring the files already written also failed for: {}",
                    rollback_failures.join(", ")
                ));
            }
            return Err(match err {
                ToolError::Denied(_) => ToolError::Denied(message),
                _ => ToolError::Failed(message),
            });
        }
    }
    Ok(())
}

fn commit_one(change: &Change, undo: &mut Vec<Undo>) -> Result<(), ToolError> {
    match change {
        Change::Write { path, content } => {
            let resolved = resolve_path(path)?;
            let before = fs::read(&resolved).ok();
            if let Some(parent) = resolved.parent() {
                fs::create_dir_all(parent).map_err(|err| ToolError::io(path, &err))?;
            }
            undo.push(Undo {
                path: resolved.clone(),
                before,
            });
            fs::write(&resolved, content.as_bytes()).map_err(|err| ToolError::io(path, &err))
        }
        Change::Remove { path } => {
            let resolved = resolve_path(path)?;
            let before = fs::read(&resolved).map_err(|err| ToolError::io(path, &err))?;
            fs::remove_file(&resolved).map_err(|err| ToolError::io(path, &err))?;
            undo.push(Undo {
                path: resolved,
                before: Some(before),
            });
            Ok(())
        }
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

ossa_tool_sdk::export_tool!(ApplyPatch);
