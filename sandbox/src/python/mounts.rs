//! Turning a policy, a workspace and a working directory into the directories an
//! interpreter sees, and the private scratch directories behind `/tmp` and `/dev`.

use std::fs;
use std::path::{Path, PathBuf};

use super::instance::{DEV_GUEST_DIR, Mounts, TMP_GUEST_DIR};
use super::policy::{PYTHON_DATA_DIR, PythonPolicy};
use super::runtime::PythonError;
use crate::policy::Access;
use crate::workspace::check_workspace;

/// The private directories of a session or command, removed with it: `tmp/`, seen as
/// `/tmp`, and `dev/` holding a regular file `null`, seen as `/dev`. WASI has no
/// device files, but much Python code writes to `os.devnull` (pytest's logging plugin
/// opens it at start-up); what it writes there is thrown away after each turn.
pub(crate) struct Scratch {
    root: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Result<Self, PythonError> {
        let error = |err: std::io::Error| {
            PythonError::Mount(format!("cannot create a scratch directory: {err}"))
        };
        // Mode 0700, this user's own.
        let root = tempfile::Builder::new()
            .prefix("ossa-python-")
            .tempdir()
            .map_err(error)?;
        fs::create_dir(root.path().join("tmp")).map_err(error)?;
        fs::create_dir(root.path().join("dev")).map_err(error)?;
        fs::File::create(root.path().join("dev/null")).map_err(error)?;
        Ok(Scratch { root })
    }

    /// The host directory seen as `/tmp`.
    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    fn dev(&self) -> PathBuf {
        self.root.path().join("dev")
    }

    /// Throws away what was written to `/dev/null`. The guest cannot create symlinks,
    /// and a `null` that is no longer a regular file is left alone.
    pub(crate) fn empty_dev_null(&self) {
        let null = self.dev().join("null");
        if fs::symlink_metadata(&null).is_ok_and(|meta| meta.is_file())
            && let Err(err) = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&null)
        {
            tracing::debug!(%err, "cannot empty the sandbox's /dev/null");
        }
    }
}

/// Where the working directory of a new interpreter is.
pub(crate) enum Cwd<'a> {
    /// `/mnt/data` (or `/tmp` without a workspace): a notebook.
    Notebook,
    /// A host directory inside the workspace (or `/mnt/data/...`): a command.
    Host(&'a Path),
}

/// The mounts for `policy`: the workspace at `/mnt/data` and at its own path, the
/// library directories read-only at their own paths, the scratch directories at
/// `/tmp` and `/dev`.
pub(crate) fn plan(
    policy: &PythonPolicy,
    workspace: Option<&Path>,
    scratch: &Scratch,
    cwd: Cwd<'_>,
) -> Result<Mounts, PythonError> {
    policy.validate().map_err(PythonError::Policy)?;
    let mut dirs = vec![
        (scratch.tmp(), TMP_GUEST_DIR.to_owned(), true),
        (scratch.dev(), DEV_GUEST_DIR.to_owned(), true),
    ];
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
        // pytest's output capture and its faulthandler plugin duplicate file
        // descriptors, its cache sets the umask and its default temporary directory
        // is named after the user id, none of which WASI 0.1 has: capture at the
        // `sys` level, write no `.pytest_cache`, keep `tmp_path` under /tmp.
        (
            "PYTEST_ADDOPTS".to_owned(),
            "--capture=sys -p no:faulthandler -p no:cacheprovider --basetemp=/tmp/pytest"
                .to_owned(),
        ),
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
        let scratch = Scratch::new().unwrap();
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
            vec![
                ("/tmp", true),
                ("/dev", true),
                ("/mnt/data", true),
                (own, true)
            ]
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
    fn dev_null_is_emptied() {
        let scratch = Scratch::new().unwrap();
        let null = scratch.dev().join("null");
        fs::write(&null, "noise").unwrap();
        scratch.empty_dev_null();
        assert_eq!(fs::read(&null).unwrap(), b"");
    }

    #[test]
    fn read_only_workspaces_and_no_workspace() {
        let root = tempfile::tempdir().unwrap();
        let workspace = root.path();
        let scratch = Scratch::new().unwrap();
        let policy = PythonPolicy::with_workspace(Access::Read);
        let mounts = plan(&policy, Some(workspace), &scratch, Cwd::Notebook).unwrap();
        assert!(mounts.dirs[2..].iter().all(|(_, _, writable)| !writable));
        let policy = PythonPolicy::with_workspace(Access::None);
        let mounts = plan(&policy, Some(workspace), &scratch, Cwd::Notebook).unwrap();
        assert_eq!(mounts.dirs.len(), 2);
        assert_eq!(mounts.cwd, "/tmp");
        assert!(plan(&policy, Some(workspace), &scratch, Cwd::Host(workspace)).is_err());
    }
}
