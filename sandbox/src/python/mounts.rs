//! Turning a policy, a workspace and a working directory into the directories an
//! interpreter sees.

use std::path::{Path, PathBuf};

use super::instance::{Mounts, TMP_GUEST_DIR};
use super::policy::{PYTHON_DATA_DIR, PythonPolicy};
use super::runtime::PythonError;
use crate::policy::Access;
use crate::workspace::check_workspace;

/// Where the working directory of a new interpreter is.
pub(crate) enum Cwd<'a> {
    /// `/mnt/data` (or `/tmp` without a workspace): a notebook.
    Notebook,
    /// A host directory inside the workspace (or `/mnt/data/...`): a command.
    Host(&'a Path),
}

/// The mounts for `policy`: the workspace at `/mnt/data` and at its own path, the
/// library directories read-only at their own paths, `scratch` at `/tmp`.
pub(crate) fn plan(
    policy: &PythonPolicy,
    workspace: Option<&Path>,
    scratch: &Path,
    cwd: Cwd<'_>,
) -> Result<Mounts, PythonError> {
    policy.validate().map_err(PythonError::Policy)?;
    let mut dirs = vec![(scratch.to_path_buf(), TMP_GUEST_DIR.to_owned(), true)];
    let workspace = match (policy.workspace, workspace) {
        (Access::None, _) | (_, None) => None,
        (access, Some(path)) => {
            let path = check_workspace(path).map_err(|err| PythonError::Mount(err.to_string()))?;
            let guest = guest_path(&path)?;
            let writable = access == Access::Write;
            dirs.push((path.clone(), PYTHON_DATA_DIR.to_owned(), writable));
            if guest != PYTHON_DATA_DIR {
                dirs.push((path.clone(), guest, writable));
            }
            Some(path)
        }
    };
    let mut library = Vec::new();
    for dir in &policy.library {
        let dir = check_workspace(dir)
            .map_err(|err| PythonError::Mount(format!("library directory: {err}")))?;
        let guest = guest_path(&dir)?;
        dirs.push((dir, guest.clone(), false));
        library.push(guest);
    }
    let cwd = match cwd {
        Cwd::Notebook if workspace.is_some() => PYTHON_DATA_DIR.to_owned(),
        Cwd::Notebook => TMP_GUEST_DIR.to_owned(),
        Cwd::Host(dir) => command_cwd(dir, workspace.as_deref())?,
    };
    let mut env = vec![
        ("HOME".to_owned(), TMP_GUEST_DIR.to_owned()),
        ("TMPDIR".to_owned(), TMP_GUEST_DIR.to_owned()),
    ];
    env.extend(policy.env.iter().cloned());
    Ok(Mounts {
        dirs,
        cwd,
        library,
        env,
    })
}

/// The guest path of a host directory mounted at its own path.
fn guest_path(path: &Path) -> Result<String, PythonError> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        PythonError::Mount(format!(
            "{} is not valid UTF-8, which WASI paths must be",
            path.display()
        ))
    })
}

/// A command's working directory: inside the mounted workspace, given by its host
/// path or under `/mnt/data`.
fn command_cwd(dir: &Path, workspace: Option<&Path>) -> Result<String, PythonError> {
    let Some(workspace) = workspace else {
        return Err(PythonError::Mount(format!(
            "cannot run in {}: the policy mounts no workspace",
            dir.display()
        )));
    };
    let host: PathBuf = match dir.strip_prefix(PYTHON_DATA_DIR) {
        Ok(rest) if !dir.exists() => workspace.join(rest),
        _ => dir.to_path_buf(),
    };
    let canonical = std::fs::canonicalize(&host).map_err(|err| {
        PythonError::Mount(format!("the working directory {}: {err}", dir.display()))
    })?;
    if !canonical.starts_with(workspace) {
        return Err(PythonError::Mount(format!(
            "the working directory {} is outside the workspace {}",
            dir.display(),
            workspace.display()
        )));
    }
    if !canonical.is_dir() {
        return Err(PythonError::Mount(format!(
            "the working directory {} is not a directory",
            dir.display()
        )));
    }
    guest_path(&canonical)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_appears_twice_and_commands_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("proj");
        std::fs::create_dir_all(workspace.join("src")).unwrap();
        let workspace = std::fs::canonicalize(&workspace).unwrap();
        let scratch = root.path().join("tmp");
        std::fs::create_dir(&scratch).unwrap();
        let policy = PythonPolicy::with_workspace(Access::Write);
        let mounts = plan(&policy, Some(&workspace), &scratch, Cwd::Notebook).unwrap();
        let guests: Vec<(&str, bool)> = mounts
            .dirs
            .iter()
            .map(|(_, guest, writable)| (guest.as_str(), *writable))
            .collect();
        let own = workspace.to_str().unwrap();
        assert_eq!(
            guests,
            vec![("/tmp", true), ("/mnt/data", true), (own, true)]
        );
        assert_eq!(mounts.cwd, "/mnt/data");

        let src = workspace.join("src");
        let mounts = plan(&policy, Some(&workspace), &scratch, Cwd::Host(&src)).unwrap();
        assert_eq!(mounts.cwd, src.to_str().unwrap());
        let mounts = plan(
            &policy,
            Some(&workspace),
            &scratch,
            Cwd::Host(Path::new("/mnt/data/src")),
        )
        .unwrap();
        assert_eq!(mounts.cwd, src.to_str().unwrap());
        let err = plan(&policy, Some(&workspace), &scratch, Cwd::Host(root.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside the workspace"), "{err}");
        let err = plan(
            &policy,
            Some(&workspace),
            &scratch,
            Cwd::Host(&workspace.join("src/../..")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
    }

    #[test]
    fn read_only_workspaces_and_no_workspace() {
        let root = tempfile::tempdir().unwrap();
        let scratch = root.path();
        let policy = PythonPolicy::with_workspace(Access::Read);
        let mounts = plan(&policy, Some(scratch), scratch, Cwd::Notebook).unwrap();
        assert!(mounts.dirs[1..].iter().all(|(_, _, writable)| !writable));
        let policy = PythonPolicy::with_workspace(Access::None);
        let mounts = plan(&policy, Some(scratch), scratch, Cwd::Notebook).unwrap();
        assert_eq!(mounts.dirs.len(), 1);
        assert_eq!(mounts.cwd, "/tmp");
        assert!(plan(&policy, Some(scratch), scratch, Cwd::Host(scratch)).is_err());
    }
}
