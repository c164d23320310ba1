//! `write_file`: creates or replaces one file of the workspace.

use std::fs;
use std::io::ErrorKind;

use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of `write_file`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Path of the file, relative to the workspace root. Missing parent directories are
    /// created.
    pub path: String,
    /// The complete new contents of the file.
    pub content: String,
}

/// The tool.
pub struct WriteFile;

impl Tool for WriteFile {
    type Args = Args;
    const NAME: &'static str = "write_file";
    const DESCRIPTION: &'static str = "Writes a whole file in the workspace: creates it (and \
any missing parent directories) or replaces everything it contained with `content`. Paths are \
relative to the workspace root. To change part of an existing file, use apply_patch instead, \
which does not need the whole file.";

    fn call(args: Args) -> Result<String, ToolError> {
        let path = resolve_path(&args.path)?;
        let shown = display_path(&path);
        if shown == "." {
            return Err(ToolError::InvalidArgs(
                "`path` must name a file, not the workspace root".to_owned(),
            ));
        }
        let existed = match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => {
                return Err(ToolError::Failed(format!(
                    "{shown} is a directory; give the path of a file"
                )));
            }
            Ok(_) => true,
            Err(err) if err.kind() == ErrorKind::NotFound => false,
            Err(err) => return Err(ToolError::io(&shown, &err)),
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|err| ToolError::io(&display_path(parent), &err))?;
        }
        // Written beside the target and renamed over it: a failed write (a full disk,
        // the write limit) leaves the old file intact.
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("file");
        let staging = path.with_file_name(format!(".{name}.ossa-write"));
        if let Err(err) =
            fs::write(&staging, args.content.as_bytes()).and_then(|()| fs::rename(&staging, &path))
        {
            let _ = fs::remove_file(&staging);
            return Err(ToolError::io(&shown, &err));
        }
        let lines = args.content.lines().count();
        let verb = if existed { "Replaced" } else { "Created" };
        Ok(format!(
            "{verb} {shown}: {} bytes, {lines} lines",
            args.content.len()
        ))
    }
}

ossa_tool_sdk::export_tool!(WriteFile);
