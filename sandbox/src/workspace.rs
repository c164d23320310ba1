//! Host-side access to a workspace that tools may have changed.
//!
//! Tools with write access can leave symlinks behind (the sandbox refuses ones that
//! point out of the mount, but a workspace can also arrive with such links, e.g. from
//! a cloned repository). Host code must therefore never follow a symlink in the
//! workspace: [`read_workspace_file`] refuses any path with a symlink in it, and
//! [`check_workspace`] validates a directory before it is mounted.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// A workspace path the host refuses to touch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    /// The directory does not exist or cannot be read.
    #[error("{}: {message}", path.display())]
    Unusable {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Mounting this directory would expose far more than a project.
    #[error("{} is {what}; refusing to give tools access to it. Run ossa in a project directory", path.display())]
    TooBroad {
        /// The path given.
        path: PathBuf,
        /// `the root directory` or `your home directory`.
        what: &'static str,
    },
    /// The relative path is absolute or climbs out with `..`.
    #[error("{}: the path must stay inside the workspace", path.display())]
    Outside {
        /// The path given.
        path: PathBuf,
    },
    /// A component of the path is a symlink.
    #[error("{} is a symlink; ossa does not follow symlinks inside the workspace", path.display())]
    Symlink {
        /// The symlink, relative to the workspace.
        path: PathBuf,
    },
    /// The file is larger than the caller allows.
    #[error("{} is larger than {max_bytes} bytes", path.display())]
    TooLarge {
        /// The file, relative to the workspace.
        path: PathBuf,
        /// The caller's limit.
        max_bytes: u64,
    },
}

/// The canonical form of a directory that may be mounted into a tool: it must exist,
/// be a directory, and be neither `/` nor the user's home directory.
pub fn check_workspace(path: &Path) -> Result<PathBuf, WorkspaceError> {
    let unusable = |message: String| WorkspaceError::Unusable {
        path: path.to_path_buf(),
        message,
    };
    let canonical = fs::canonicalize(path).map_err(|err| unusable(err.to_string()))?;
    if !canonical.is_dir() {
        return Err(unusable("not a directory".to_owned()));
    }
    if canonical.parent().is_none() {
        return Err(WorkspaceError::TooBroad {
            path: path.to_path_buf(),
            what: "the root directory",
        });
    }
    if home_dir().is_some_and(|home| *home == canonical) {
        return Err(WorkspaceError::TooBroad {
            path: path.to_path_buf(),
            what: "your home directory",
        });
    }
    Ok(canonical)
}

/// The canonical home directory, looked up once (it is checked on every call).
fn home_dir() -> Option<&'static PathBuf> {
    static HOME: OnceLock<Option<PathBuf>> = OnceLock::new();
    HOME.get_or_init(|| {
        std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .and_then(|home| fs::canonicalize(home).ok())
    })
    .as_ref()
}

/// Reads `relative` inside `workspace` without following any symlink: every component
/// of the path is checked with `lstat`, and the opened file must be the one checked.
pub fn read_workspace_file(
    workspace: &Path,
    relative: &Path,
    max_bytes: u64,
) -> Result<Vec<u8>, WorkspaceError> {
    let root = check_workspace(workspace)?;
    let outside = || WorkspaceError::Outside {
        path: relative.to_path_buf(),
    };
    let mut current = root.clone();
    let mut shown = PathBuf::new();
    let mut last_metadata = None;
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                current.push(part);
                shown.push(part);
            }
            Component::CurDir => continue,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
        let metadata = fs::symlink_metadata(&current).map_err(|err| WorkspaceError::Unusable {
            path: shown.clone(),
            message: err.to_string(),
        })?;
        if metadata.file_type().is_symlink() {
            return Err(WorkspaceError::Symlink { path: shown });
        }
        last_metadata = Some(metadata);
    }
    let Some(checked) = last_metadata.filter(|metadata| metadata.is_file()) else {
        return Err(WorkspaceError::Unusable {
            path: shown,
            message: "not a regular file".to_owned(),
        });
    };
    if checked.len() > max_bytes {
        return Err(WorkspaceError::TooLarge {
            path: shown,
            max_bytes,
        });
    }
    let unusable = |message: String| WorkspaceError::Unusable {
        path: shown.clone(),
        message,
    };
    let file = File::open(&current).map_err(|err| unusable(err.to_string()))?;
    let opened = file.metadata().map_err(|err| unusable(err.to_string()))?;
    if !same_file(&checked, &opened) {
        return Err(unusable(
            "the file changed while it was being opened".to_owned(),
        ));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| unusable(err.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(WorkspaceError::TooLarge {
            path: shown,
            max_bytes,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn root_and_missing_directories_are_refused() {
        assert!(matches!(
            check_workspace(Path::new("/")),
            Err(WorkspaceError::TooBroad { .. })
        ));
        assert!(matches!(
            check_workspace(Path::new("/no/such/dir")),
            Err(WorkspaceError::Unusable { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn reads_files_but_never_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "secret").unwrap();
        let workspace = tempfile::tempdir().unwrap();
        fs::create_dir(workspace.path().join("src")).unwrap();
        fs::write(workspace.path().join("src/a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink(outside.path(), workspace.path().join("out")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            workspace.path().join("src/leak"),
        )
        .unwrap();

        assert_eq!(
            read_workspace_file(workspace.path(), Path::new("src/a.txt"), 100).unwrap(),
            b"hello"
        );
        for path in ["out/secret", "src/leak"] {
            let err = read_workspace_file(workspace.path(), Path::new(path), 100).unwrap_err();
            assert!(
                matches!(err, WorkspaceError::Symlink { .. }),
                "{path}: {err}"
            );
        }
        let err = read_workspace_file(workspace.path(), Path::new("../x"), 100).unwrap_err();
        assert!(matches!(err, WorkspaceError::Outside { .. }));
        let err = read_workspace_file(workspace.path(), Path::new("src/a.txt"), 3).unwrap_err();
        assert!(matches!(err, WorkspaceError::TooLarge { .. }));
    }
}
