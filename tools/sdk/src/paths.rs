//! Paths the model gives, resolved against the workspace mount.
//!
//! The host mounts the workspace at [`WORKSPACE`] and, for tools granted the workspace,
//! also at its real path on the host, which it names in [`WORKSPACE_DIR_ENV`]. Models
//! write paths relative to the workspace root, sometimes with `./` or with the mount
//! prefix, and gpt-oss (trained in a container) often writes absolute paths; those are
//! accepted when they lie inside the workspace, under either name. Everything else
//! (other absolute paths, `..` above the root) is refused here with a message the model
//! can act on. The sandbox refuses such paths anyway; this only makes the error clear.

use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// Where the host mounts the workspace inside the sandbox.
pub const WORKSPACE: &str = "/workspace";

/// The environment variable in which the host gives tools granted the workspace its
/// real path on the host (an absolute path; the workspace is mounted there too, unless
/// that would overlap [`WORKSPACE`] or another mount).
pub const WORKSPACE_DIR_ENV: &str = "OSSA_WORKSPACE_DIR";

/// Resolves a path the model wrote to an absolute path under [`WORKSPACE`].
///
/// Accepts `a/b`, `./a/b`, `/workspace/a/b`, the workspace's real path with or without
/// a rest (`/home/me/project/a/b`, when the host names it in [`WORKSPACE_DIR_ENV`]),
/// and `""` or `.` for the root; refuses other absolute paths and paths that climb
/// above the root with `..`.
pub fn resolve_path(path: &str) -> Result<PathBuf, ToolError> {
    resolve_path_in(path, workspace_dir().as_deref())
}

/// The workspace-relative form of a resolved path, for messages to the model
/// (`.` for the root). Paths under the workspace's real path are shown relative too.
pub fn display_path(path: &Path) -> String {
    display_path_in(path, workspace_dir().as_deref())
}

/// The workspace's real path from [`WORKSPACE_DIR_ENV`], without trailing slashes;
/// `None` when unset or not an absolute path below `/`.
pub fn workspace_dir() -> Option<String> {
    let value = std::env::var(WORKSPACE_DIR_ENV).ok()?;
    let trimmed = value.trim_end_matches('/');
    (trimmed.starts_with('/') && !trimmed.contains('\0')).then(|| trimmed.to_owned())
}

/// [`resolve_path`] with the workspace's real path given (`real`), for tests.
fn resolve_path_in(path: &str, real: Option<&str>) -> Result<PathBuf, ToolError> {
    let trimmed = path.trim();
    // The real path first: when it lies under /workspace (say /workspace/project), a
    // path below it means what the model was told, not a subdirectory of the mount.
    let relative = strip_root(trimmed, real)
        .or_else(|| strip_root(trimmed, Some(WORKSPACE)))
        .unwrap_or(trimmed);
    if relative.starts_with('/') || relative.starts_with('\\') || has_drive_prefix(relative) {
        return Err(outside_absolute(trimmed, real));
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
                return Err(outside_absolute(trimmed, real));
            }
        }
    }
    let mut resolved = PathBuf::from(WORKSPACE);
    resolved.extend(parts);
    Ok(resolved)
}

/// `path` below `root` without the root and the slashes after it (`""` for the root
/// itself); `None` when `path` is not `root` or below it.
fn strip_root<'a>(path: &'a str, root: Option<&str>) -> Option<&'a str> {
    let rest = path.strip_prefix(root?)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| rest.trim_start_matches('/'))
}

fn outside_absolute(path: &str, real: Option<&str>) -> ToolError {
    let workspace = match real {
        Some(real) if real != WORKSPACE => format!("{real} (also reachable as {WORKSPACE})"),
        _ => WORKSPACE.to_owned(),
    };
    ToolError::Denied(format!(
        "{path}: absolute paths are not allowed outside the workspace, which is {workspace}; \
         use a path inside it or relative to its root, e.g. `src/main.rs`"
    ))
}

fn display_path_in(path: &Path, real: Option<&str>) -> String {
    let rest = real
        .and_then(|real| path.strip_prefix(real).ok())
        .or_else(|| path.strip_prefix(WORKSPACE).ok());
    match rest {
        Some(rest) if rest.as_os_str().is_empty() => ".".to_owned(),
        Some(rest) => rest.to_string_lossy().into_owned(),
        None => path.to_string_lossy().into_owned(),
    }
}

fn has_drive_prefix(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(path: &str, real: Option<&str>) -> Option<PathBuf> {
        resolve_path_in(path, real).ok()
    }

    fn denied(path: &str, real: Option<&str>) -> String {
        match resolve_path_in(path, real) {
            Err(ToolError::Denied(message)) => message,
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn relative_paths_land_under_the_workspace() {
        let ws = |rest: &str| Some(PathBuf::from(format!("/workspace{rest}")));
        assert_eq!(resolved("src/a.rs", None), ws("/src/a.rs"));
        assert_eq!(resolved("./src/../b", None), ws("/b"));
        assert_eq!(resolved("/workspace/x", None), ws("/x"));
        assert_eq!(resolved("/workspace/", None), ws(""));
        assert_eq!(resolved("", None), ws(""));
        assert_eq!(resolved(".", None), ws(""));
    }

    #[test]
    fn escapes_are_denied() {
        for path in ["../x", "a/../../x", "/etc/passwd", "/workspacefoo", "C:/x"] {
            denied(path, None);
        }
        assert!(denied("/etc/passwd", None).contains("absolute paths are not allowed"));
    }

    #[test]
    fn absolute_paths_inside_the_real_workspace_are_accepted() {
        let real = Some("/home/me/project");
        let ws = |rest: &str| Some(PathBuf::from(format!("/workspace{rest}")));
        assert_eq!(resolved("/home/me/project/src/a.rs", real), ws("/src/a.rs"));
        assert_eq!(resolved("/home/me/project", real), ws(""));
        assert_eq!(resolved("/home/me/project/", real), ws(""));
        assert_eq!(resolved("/home/me/project/a/../b", real), ws("/b"));
        assert_eq!(resolved("/workspace/src", real), ws("/src"));
        assert_eq!(resolved("src", real), ws("/src"));
        let message = denied("/home/me/projectx/a", real);
        assert!(
            message.contains("/home/me/project (also reachable as /workspace)"),
            "{message}"
        );
        denied("/home/me/project/../other/a", real);
        denied("/home/me", real);
        denied("/etc/passwd", real);
    }

    #[test]
    fn a_real_workspace_at_or_under_the_mount_point() {
        let ws = |rest: &str| Some(PathBuf::from(format!("/workspace{rest}")));
        let same = Some("/workspace");
        assert_eq!(resolved("/workspace/a", same), ws("/a"));
        let message = denied("/etc", same);
        assert!(
            message.contains("which is /workspace;") && !message.contains("also reachable"),
            "{message}"
        );
        // Under /workspace: its real path wins, /workspace alone still names the root.
        let nested = Some("/workspace/project");
        assert_eq!(resolved("/workspace/project/a", nested), ws("/a"));
        assert_eq!(resolved("/workspace/a", nested), ws("/a"));
    }

    #[test]
    fn display_is_relative() {
        assert_eq!(
            display_path_in(Path::new("/workspace/src/a.rs"), None),
            "src/a.rs"
        );
        assert_eq!(display_path_in(Path::new("/workspace"), None), ".");
        let real = Some("/home/me/project");
        assert_eq!(
            display_path_in(Path::new("/home/me/project/src"), real),
            "src"
        );
        assert_eq!(display_path_in(Path::new("/workspace/src"), real), "src");
        assert_eq!(display_path_in(Path::new("/etc"), real), "/etc");
    }
}
