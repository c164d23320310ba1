//! `list_dir`: the tree under a workspace directory, minus what git ignores.

use std::fs;

use ignore::WalkBuilder;
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Depth when the model gives none: the directory and one level below.
const DEFAULT_DEPTH: usize = 2;
/// A deeper walk of a big repository would only flood the context.
const MAX_DEPTH: usize = 10;
/// Entries per call; the output says when more were left out.
const MAX_ENTRIES: usize = 1000;

/// Arguments of `list_dir`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Directory to list, relative to the workspace root. Default: the root.
    pub path: Option<String>,
    /// How many levels to descend: 1 lists only the directory's own entries. Default 2,
    /// at most 10.
    pub depth: Option<usize>,
}

/// The tool.
pub struct ListDir;

impl Tool for ListDir {
    type Args = Args;
    const NAME: &'static str = "list_dir";
    const DESCRIPTION: &'static str = "Lists a directory of the workspace as an indented tree: \
directories end with `/`, symbolic links show their target after `->`. Skips `.git` and \
everything the repository's .gitignore files exclude. `path` is relative to the workspace \
root (default: the root); `depth` is how many levels to descend (default 2, at most 10). At \
most 1000 entries are shown.";

    fn call(args: Args) -> Result<String, ToolError> {
        let root = resolve_path(args.path.as_deref().unwrap_or("."))?;
        let shown = display_path(&root);
        let depth = args.depth.unwrap_or(DEFAULT_DEPTH);
        if depth == 0 || depth > MAX_DEPTH {
            return Err(ToolError::InvalidArgs(format!(
                "`depth` must be between 1 and {MAX_DEPTH}"
            )));
        }
        let metadata = fs::metadata(&root).map_err(|err| ToolError::io(&shown, &err))?;
        if !metadata.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a file, not a directory; read it instead of listing it"
            )));
        }
        let walker = WalkBuilder::new(&root)
            .hidden(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .max_depth(Some(depth))
            .sort_by_file_name(|a, b| a.cmp(b))
            .filter_entry(|entry| entry.file_name() != ".git")
            .build();

        let mut out = format!("{shown}/\n");
        let mut listed = 0usize;
        let mut skipped_errors = 0usize;
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(_) => {
                    skipped_errors += 1;
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            if listed == MAX_ENTRIES {
                out.push_str(&format!(
                    "[stopped after {MAX_ENTRIES} entries; list a subdirectory or use a smaller depth]\n"
                ));
                return Ok(out);
            }
            let indent = "  ".repeat(entry.depth());
            let name = entry.file_name().to_string_lossy();
            let file_type = entry.file_type();
            if file_type.is_some_and(|t| t.is_symlink()) {
                // The sandbox refuses to read links to absolute paths (outside it).
                let target = fs::read_link(entry.path())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "(outside the workspace)".to_owned());
                out.push_str(&format!("{indent}{name} -> {target}\n"));
            } else if file_type.is_some_and(|t| t.is_dir()) {
                out.push_str(&format!("{indent}{name}/\n"));
            } else {
                out.push_str(&format!("{indent}{name}\n"));
            }
            listed += 1;
        }
        if listed == 0 {
            out.push_str("  (empty)\n");
        }
        if skipped_errors > 0 {
            out.push_str(&format!("[{skipped_errors} entries could not be read]\n"));
        }
        Ok(out)
    }
}

ossa_tool_sdk::export_tool!(ListDir);
