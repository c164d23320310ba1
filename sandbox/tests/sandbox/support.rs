//! Shared setup: one host per test process, scenes with a workspace and a secret
//! outside it, and file-system snapshots to prove nothing outside the grants changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ossa_sandbox::{Tool, ToolHost, ToolPolicy, builtin_policy};

/// Text of the file outside the workspace that attacks try to read.
pub const SECRET: &str = "TOP SECRET: the launch codes";

/// The process-wide host. Its artifact cache lives in cargo's per-target temporary
/// directory, so components are compiled once across test runs, never in the user's
/// home.
pub fn host() -> &'static ToolHost {
    static HOST: OnceLock<ToolHost> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("ossa-sandbox-tests")
            .join("artifacts");
        ToolHost::new(&dir).unwrap()
    })
}

/// A built-in tool with its normal policy.
pub async fn builtin(name: &str) -> Tool {
    let component = ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == name)
        .unwrap();
    host()
        .load(component.wasm.to_vec(), builtin_policy(name))
        .await
        .unwrap()
}

/// The deliberately malicious test tool under `policy`.
pub async fn attacker(policy: ToolPolicy) -> Tool {
    let wasm = fs::read(ossa_builtin_tools::test_components::ATTACK).unwrap();
    host().load(wasm, policy).await.unwrap()
}

/// A temporary directory holding `workspace/` (with a file and a subdirectory) and
/// `outside/secret.txt`.
pub struct Scene {
    pub root: tempfile::TempDir,
}

impl Scene {
    pub fn new() -> Scene {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("workspace/sub")).unwrap();
        fs::write(
            root.path().join("workspace/notes.txt"),
            "inside the workspace\n",
        )
        .unwrap();
        fs::create_dir_all(root.path().join("outside")).unwrap();
        fs::write(root.path().join("outside/secret.txt"), SECRET).unwrap();
        Scene { root }
    }

    pub fn workspace(&self) -> PathBuf {
        self.root.path().join("workspace")
    }

    pub fn outside(&self) -> PathBuf {
        self.root.path().join("outside")
    }

    /// Everything under the scene's root.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(self.root.path())
    }
}

/// Path → what is there (file contents, `dir`, or `-> target` for a symlink), read
/// without following symlinks.
pub type Snapshot = BTreeMap<PathBuf, String>;

pub fn snapshot(root: &Path) -> Snapshot {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let metadata = fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            let value = if metadata.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else if metadata.is_dir() {
                pending.push(path.clone());
                "dir".to_owned()
            } else {
                String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
            };
            entries.insert(relative, value);
        }
    }
    entries
}

/// The process-wide sandboxed Python, unpacked and compiled into cargo's per-target
/// temporary directory (so once per machine, not per test run). `None`, after saying
/// so on stderr, when the interpreter cannot be obtained (no access to PyPI and no
/// `OSSA_PYTHON_WHEEL`) and `OSSA_REQUIRE_PYTHON` is not set; CI sets it, so there a
/// missing interpreter fails the tests instead of skipping them.
pub async fn python() -> Option<&'static ossa_sandbox::PythonRuntime> {
    static RUNTIME: tokio::sync::OnceCell<Option<ossa_sandbox::PythonRuntime>> =
        tokio::sync::OnceCell::const_new();
    RUNTIME
        .get_or_init(|| async {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-sandbox-tests");
            match ossa_sandbox::PythonRuntime::new(&dir.join("python"), &dir.join("artifacts"))
                .await
            {
                Ok(runtime) => Some(runtime),
                Err(err) if std::env::var_os("OSSA_REQUIRE_PYTHON").is_none() => {
                    eprintln!(
                        "SKIPPED: the sandboxed Python tests (set OSSA_REQUIRE_PYTHON=1 to make this an error): {err}"
                    );
                    None
                }
                Err(err) => panic!("OSSA_REQUIRE_PYTHON is set but the sandboxed Python is unavailable: {err}"),
            }
        })
        .await
        .as_ref()
}

/// A copy of `tests/fixtures/workspaces/NAME` in a temporary directory.
pub fn fixture_workspace(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/workspaces")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy(&source, dir.path());
    dir
}
