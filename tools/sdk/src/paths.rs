//! Paths the model gives, resolved against the workspace mount.
//!
//! The host mounts the workspace at [`WORKSPACE`]. Models write paths relative to the
//! workspace root, sometimes with `./` or with the mount prefix; everything else
//! (absolute host paths, `..` above the root) is refused here with a message the model
//! can act on. The sandbox refuses such paths anyway; this only makes the error clear.

use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// Where the host mounts the workspace inside the sandbox.
pub const WORKSPACE: &str = "/workspace";

/// Resolves a path the model wrote to an absolute path under [`WORKSPACE`].
///
/// Accepts `a/b`, `./a/b`, `/workspace/a/b`, and `""` or `.` for the root; refuses other
/// absolute paths and paths that climb above the root with `..`.
pub fn resolve_path(path: &str) -> Result<PathBuf, ToolError> {
    let trimmed = path.trim();
    let relative = match trimmed.strip_prefix(WORKSPACE) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => trimmed,
    };
    if relative.starts_with('/') || relative.starts_with('\\') || has_drive_prefix(relative) {
        return Err(ToolError::Denied(format!(
            "{trimmed}: absolute paths are not allowed; use a path relative to the workspace \
             root, e.g. `src/main.rs`"
        )));
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => {
                    return Err(ToolError::InvalidArgs(format!(
                        "{trimmed}: the path is not valid UTF-8"
                    )));
                }
            },
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(ToolError::Denied(format!(
                        "{trimmed}: the path leads outside the workspace; use a path inside \
                         the workspace root"
                    )));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ToolError::Denied(format!(
                    "{trimmed}: absolute paths are not allowed; use a path relative to the \
                     workspace root"
                )));
            }
        }
    }
    let mut resolved = PathBuf::from(WORKSPACE);
    resolved.extend(parts);
    Ok(resolved)
}

/// The workspace-relative form of a resolved path, for messages to the model
/// (`.` for the root).
pub fn display_path(path: &Path) -> String {
    match path.strip_prefix(WORKSPACE) {
        Ok(rest) if rest.as_os_str().is_empty() => ".".to_owned(),
        Ok(rest) => rest.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

fn has_drive_prefix(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_land_under_the_workspace() {
        assert_eq!(
            resolve_path("src/a.rs").ok(),
            Some(PathBuf::from("/workspace/src/a.rs"))
        );
        assert_eq!(
            resolve_path("./src/../b").ok(),
            Some(PathBuf::from("/workspace/b"))
        );
        assert_eq!(
            resolve_path("/workspace/x").ok(),
            Some(PathBuf::from("/workspace/x"))
        );
        assert_eq!(resolve_path("").ok(), Some(PathBuf::from("/workspace")));
        assert_eq!(resolve_path(".").ok(), Some(PathBuf::from("/workspace")));
    }

    #[test]
    fn escapes_are_denied() {
        assert!(matches!(resolve_path("../x"), Err(ToolError::Denied(_))));
        assert!(matches!(
            resolve_path("a/../../x"),
            Err(ToolError::Denied(_))
        ));
        assert!(matches!(
            resolve_path("/etc/passwd"),
            Err(ToolError::Denied(_))
        ));
        assert!(matches!(
            resolve_path("/workspacefoo"),
            Err(ToolError::Denied(_))
        ));
        assert!(matches!(resolve_path("C:/x"), Err(ToolError::Denied(_))));
    }

    #[test]
    fn display_is_relative() {
        assert_eq!(display_path(Path::new("/workspace/src/a.rs")), "src/a.rs");
        assert_eq!(display_path(Path::new("/workspace")), ".");
    }
}
