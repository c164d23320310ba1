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

/// Whether confined commands can run here; prints why not (the caller skips).
pub fn exec_supported(test: &str) -> bool {
    match ossa_sandbox::exec_support() {
        Ok(_) => true,
        Err(unsupported) => {
            eprintln!("SKIPPED {test}: {unsupported}");
            false
        }
    }
}

/// The built-in `exec` tool under `grant`.
pub async fn exec_tool(grant: ossa_sandbox::ExecGrant) -> Tool {
    let component = ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == "exec")
        .unwrap();
    host()
        .load(component.wasm.to_vec(), ToolPolicy::exec_tool(grant))
        .await
        .unwrap()
}

/// A confined grant with the given time limit (seconds).
pub fn confined(timeout_secs: f64) -> ossa_sandbox::ExecGrant {
    ossa_sandbox::ExecGrant {
        timeout_secs,
        ..ossa_sandbox::ExecGrant::confined(Vec::new())
    }
}

/// Runs `script` with `bash -c` through the exec tool and returns the text it gave the
/// model (the call itself must succeed).
pub async fn run_script(tool: &Tool, workspace: &Path, script: &str) -> String {
    let args = serde_json::json!({"command": ["bash", "-c", script]});
    match tool.call(&args.to_string(), workspace).await {
        Ok(output) => output.text,
        Err(failure) => panic!("exec of {script:?} failed: {failure:?}"),
    }
}

/// The `Exit code: N` line of an exec result.
pub fn exit_code(text: &str) -> Option<i32> {
    text.lines()
        .find_map(|line| line.strip_prefix("Exit code: "))
        .and_then(|code| code.trim().parse().ok())
}

/// Processes on this machine whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{}: {cmdline}", name.to_string_lossy()));
            }
        }
    }
    found
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
