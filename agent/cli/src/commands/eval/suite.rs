//! The task-suite format (docs/eval.md): a directory with one folder per task, each with
//! a `task.toml` and, usually, a `workspace/` folder the agent works on a copy of.
//!
//! ```toml
//! task = "The test `adds` fails. Find the bug and fix it."   # what the agent is asked
//! check = "cargo test --offline"   # run after the agent stops; exit 0 = pass
//! setup = "make deps"              # optional, run before the agent, in the copy
//! workspace = "workspace"          # optional (the default), relative to the task folder
//! # or, instead of a folder: a git repository at a pinned commit
//! # git = "https://github.com/owner/repo"
//! # commit = "0123abcd…"
//! restore = ["tests"]              # optional: put back from the original before the check
//! max_steps = 30                   # optional limits, over the command line's
//! max_tokens = 4096
//! timeout_s = 600                  # wall time for the agent
//! check_timeout_s = 300            # wall time for setup and check, each (default 300)
//! setup_net = false                # whether setup may use the network
//! ```

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The name of the file that makes a folder a task.
pub const TASK_FILE: &str = "task.toml";
/// The default time limit for setup and check commands.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest time limit a setup or check command may have (the sandbox's own cap).
const MAX_CHECK_TIMEOUT_S: f64 = ossa_sandbox::exec::MAX_EXEC_TIMEOUT_SECS;
/// The longest agent time limit a task may set: a day.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// A task's name: its folder's name, made of ASCII letters, digits, `.`, `_` and `-`
/// (it names files in the output directory and rows in the tables).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(String);

impl TaskId {
    /// Checks `name`.
    pub fn new(name: &str) -> anyhow::Result<TaskId> {
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            bail!(
                "`{name}` cannot be a task name: use ASCII letters, digits, `.`, `_` and `-` (not first `.`)"
            );
        }
        Ok(TaskId(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a task's workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceSource {
    /// A folder, copied for each attempt.
    Folder(PathBuf),
    /// A git repository, cloned once and checked out at `commit` for each attempt.
    Git {
        /// What `git clone` takes: a URL or a local path.
        url: String,
        /// The commit (a full or abbreviated hash, or any name git resolves).
        commit: String,
    },
}

/// Limits a task sets over the command line's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Most model completions.
    pub max_steps: Option<u32>,
    /// Most tokens per completion.
    pub max_tokens: Option<u32>,
    /// Wall time for the agent; the check still runs after it.
    pub timeout: Option<Duration>,
}

/// One task of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its name.
    pub id: TaskId,
    /// What the agent is asked to do.
    pub text: String,
    /// The workspace the agent gets a copy of.
    pub workspace: WorkspaceSource,
    /// A shell command run in the copy before the agent starts.
    pub setup: Option<String>,
    /// Whether `setup` may use the network.
    pub setup_net: bool,
    /// The shell command whose exit status decides pass or fail.
    pub check: String,
    /// Paths, relative to the workspace, put back as they were before the check runs.
    pub restore: Vec<PathBuf>,
    /// Limits over the command line's.
    pub limits: Limits,
    /// Time limit of `setup` and `check`, each.
    pub check_timeout: Duration,
}

/// A suite: its directory and its tasks, sorted by name.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The directory, canonical.
    pub root: PathBuf,
    /// The tasks.
    pub tasks: Vec<Task>,
}

/// `task.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    task: String,
    check: String,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    setup_net: bool,
    #[serde(default)]
    workspace: Option<PathBuf>,
    #[serde(default)]
    git: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    restore: Vec<PathBuf>,
    #[serde(default)]
    max_steps: Option<u32>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    timeout_s: Option<f64>,
    #[serde(default)]
    check_timeout_s: Option<f64>,
}

impl Suite {
    /// Reads the suite at `dir`: every folder in it with a `task.toml`, or `dir` itself
    /// when it is one task's folder.
    pub fn load(dir: &Path) -> anyhow::Result<Suite> {
        let root = dir.canonicalize().with_context(|| {
            format!(
                "the suite {} does not exist (give a directory with one folder per task)",
                dir.display()
            )
        })?;
        if !root.is_dir() {
            bail!(
                "the suite {} is not a directory: a suite is a directory with one folder per task, each with a {TASK_FILE}",
                dir.display()
            );
        }
        let mut tasks = Vec::new();
        if root.join(TASK_FILE).is_file() {
            tasks.push(Task::load(&root)?);
        } else {
            let entries = std::fs::read_dir(&root)
                .with_context(|| format!("cannot read the suite {}", root.display()))?;
            for entry in entries {
                let entry =
                    entry.with_context(|| format!("cannot read the suite {}", root.display()))?;
                let path = entry.path();
                if path.is_dir() && path.join(TASK_FILE).is_file() {
                    tasks.push(Task::load(&path)?);
                }
            }
        }
        if tasks.is_empty() {
            bail!(
                "the suite {} has no tasks: each task is a folder with a {TASK_FILE} (see docs/eval.md)",
                root.display()
            );
        }
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Suite { root, tasks })
    }

    /// Keeps only the tasks named in `only` (all when empty); a name that is not in the
    /// suite is an error.
    pub fn select(&mut self, only: &[String]) -> anyhow::Result<()> {
        if only.is_empty() {
            return Ok(());
        }
        for name in only {
            if !self.tasks.iter().any(|task| task.id.as_str() == name) {
                let names: Vec<&str> = self.tasks.iter().map(|t| t.id.as_str()).collect();
                bail!(
                    "the suite has no task `{name}`; its tasks: {}",
                    names.join(", ")
                );
            }
        }
        self.tasks
            .retain(|task| only.iter().any(|name| name == task.id.as_str()));
        Ok(())
    }
}

impl Task {
    /// Reads the task in folder `dir`.
    fn load(dir: &Path) -> anyhow::Result<Task> {
        let file = dir.join(TASK_FILE);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = TaskId::new(&name).with_context(|| format!("in {}", dir.display()))?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let raw: TaskFile =
            toml::from_str(&text).with_context(|| format!("{} is not valid", file.display()))?;
        Task::from_file(id, dir, raw).with_context(|| format!("in {}", file.display()))
    }

    fn from_file(id: TaskId, dir: &Path, raw: TaskFile) -> anyhow::Result<Task> {
        if raw.task.trim().is_empty() {
            bail!("`task` is empty: say what the agent should do");
        }
        if raw.check.trim().is_empty() {
            bail!("`check` is empty: give the command whose exit status decides pass or fail");
        }
        let workspace = match (raw.workspace, raw.git, raw.commit) {
            (Some(_), Some(_), _) => {
                bail!("give either `workspace` (a folder) or `git` and `commit`, not both")
            }
            (_, None, Some(_)) => bail!("`commit` needs `git`, the repository to check out"),
            (_, Some(_), None) => bail!(
                "`git` needs `commit`: pin the commit so every attempt starts from the same code"
            ),
            (_, Some(url), Some(commit)) => {
                if url.trim().is_empty() || commit.trim().is_empty() || commit.starts_with('-') {
                    bail!("`git` and `commit` must name a repository and a commit");
                }
                WorkspaceSource::Git { url, commit }
            }
            (folder, None, None) => {
                let folder = dir.join(folder.unwrap_or_else(|| PathBuf::from("workspace")));
                if !folder.is_dir() {
                    bail!(
                        "the workspace {} is not a directory (create it, or name another with `workspace = \"…\"`)",
                        folder.display()
                    );
                }
                WorkspaceSource::Folder(folder)
            }
        };
        for path in &raw.restore {
            let inside = !path.as_os_str().is_empty()
                && path.components().all(|c| matches!(c, Component::Normal(_)));
            if !inside {
                bail!(
                    "restore entry {} must be a path inside the workspace, relative to its root",
                    path.display()
                );
            }
            if let WorkspaceSource::Folder(folder) = &workspace
                && std::fs::symlink_metadata(folder.join(path)).is_err()
            {
                bail!(
                    "restore entry {} is not in the workspace {}",
                    path.display(),
                    folder.display()
                );
            }
        }
        let seconds = |name: &str, value: Option<f64>, max: f64| -> anyhow::Result<_> {
            match value {
                None => Ok(None),
                Some(s) if s > 0.0 && s <= max => Ok(Some(Duration::from_secs_f64(s))),
                Some(s) => bail!("`{name}` must be above 0 and at most {max} seconds, not {s}"),
            }
        };
        for (name, value) in [("max_steps", raw.max_steps), ("max_tokens", raw.max_tokens)] {
            if value == Some(0) {
                bail!("`{name}` must be at least 1");
            }
        }
        Ok(Task {
            id,
            text: raw.task,
            workspace,
            setup: raw.setup.filter(|s| !s.trim().is_empty()),
            setup_net: raw.setup_net,
            check: raw.check,
            restore: raw.restore,
            limits: Limits {
                max_steps: raw.max_steps,
                max_tokens: raw.max_tokens,
                timeout: seconds("timeout_s", raw.timeout_s, MAX_TIMEOUT_S)?,
            },
            check_timeout: seconds("check_timeout_s", raw.check_timeout_s, MAX_CHECK_TIMEOUT_S)?
                .unwrap_or(DEFAULT_CHECK_TIMEOUT),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn task_dir(root: &Path, name: &str, toml: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("workspace")).unwrap();
        std::fs::write(dir.join("workspace/a.txt"), "a").unwrap();
        std::fs::write(dir.join(TASK_FILE), toml).unwrap();
        dir
    }

    fn error_of(toml: &str) -> String {
        let root = tempfile::tempdir().unwrap();
        task_dir(root.path(), "t", toml);
        format!("{:#}", Suite::load(root.path()).unwrap_err())
    }

    #[test]
    fn a_suite_lists_its_tasks_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        task_dir(
            root.path(),
            "b-task",
            "task = \"do b\"\ncheck = \"true\"\nmax_steps = 3\ntimeout_s = 60\nrestore = [\"a.txt\"]\n",
        );
        task_dir(
            root.path(),
            "a-task",
            "task = \"do a\"\ncheck = \"test -f a.txt\"\nsetup = \"echo hi\"\n",
        );
        std::fs::create_dir(root.path().join("not-a-task")).unwrap();
        let suite = Suite::load(root.path()).unwrap();
        let names: Vec<&str> = suite.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(names, ["a-task", "b-task"]);
        let b = &suite.tasks[1];
        assert_eq!(b.limits.max_steps, Some(3));
        assert_eq!(b.limits.timeout, Some(Duration::from_secs(60)));
        assert_eq!(b.check_timeout, DEFAULT_CHECK_TIMEOUT);
        assert_eq!(b.restore, [PathBuf::from("a.txt")]);
        assert_eq!(suite.tasks[0].setup.as_deref(), Some("echo hi"));

        // One task's folder is a suite of one.
        let one = Suite::load(&root.path().join("a-task")).unwrap();
        assert_eq!(one.tasks.len(), 1);

        let mut some = suite.clone();
        some.select(&["b-task".to_string()]).unwrap();
        assert_eq!(some.tasks.len(), 1);
        let err = suite.clone().select(&["zzz".to_string()]).unwrap_err();
        assert!(err.to_string().contains("a-task, b-task"), "{err}");
    }

    #[test]
    fn mistakes_are_named() {
        for (toml, expected) in [
            ("task = \"x\"", "missing field `check`"),
            ("task = \" \"\ncheck = \"true\"", "`task` is empty"),
            (
                "task = \"x\"\ncheck = \"true\"\nfoo = 1",
                "unknown field `foo`",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\ngit = \"u\"",
                "`git` needs `commit`",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\nworkspace = \"nope\"",
                "is not a directory",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\nrestore = [\"../x\"]",
                "must be a path inside the workspace",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\nrestore = [\"b.txt\"]",
                "is not in the workspace",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\ncheck_timeout_s = 0",
                "`check_timeout_s` must be above 0",
            ),
            (
                "task = \"x\"\ncheck = \"true\"\nmax_steps = 0",
                "at least 1",
            ),
        ] {
            let err = error_of(toml);
            assert!(err.contains(expected), "{toml}: {err}");
            assert!(err.contains(TASK_FILE), "names the file: {err}");
        }
        let empty = tempfile::tempdir().unwrap();
        let err = Suite::load(empty.path()).unwrap_err().to_string();
        assert!(err.contains("has no tasks"), "{err}");
        assert!(TaskId::new("a/b").is_err() && TaskId::new(".x").is_err());
        assert!(TaskId::new("fix-typo_2.b").is_ok());
    }

    #[test]
    fn a_git_workspace_needs_a_pinned_commit() {
        let root = tempfile::tempdir().unwrap();
        task_dir(
            root.path(),
            "g",
            "task = \"x\"\ncheck = \"true\"\ngit = \"https://example.invalid/r\"\ncommit = \"abc123\"\n",
        );
        let suite = Suite::load(root.path()).unwrap();
        assert_eq!(
            suite.tasks[0].workspace,
            WorkspaceSource::Git {
                url: "https://example.invalid/r".into(),
                commit: "abc123".into()
            }
        );
    }
}
