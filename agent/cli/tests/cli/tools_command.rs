#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa tools` as a user runs it: the real binary, a temporary data directory, the
//! built-in tools on a real directory, and the example custom tool (tools/examples/
//! word_count, built by ossa-builtin-tools' build script) added, called and removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const OSSA: &str = env!("CARGO_BIN_EXE_ossa");

/// The example tool's component, as the guest build of ossa-builtin-tools left it.
fn word_count_wasm() -> PathBuf {
    PathBuf::from(ossa_builtin_tools::test_components::WORD_COUNT)
}

/// A temporary data directory and a small project to work on.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("src")).unwrap();
        std::fs::write(
            work.join("src/lib.rs"),
            "pub fn answer() -> u32 {\n    41\n}\n",
        )
        .unwrap();
        std::fs::write(work.join("poem.txt"), "the cat and the hat\nthe end\n").unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Scene { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn ossa(&self, args: &[&str]) -> Output {
        // Data per test; the compiled-tool cache shared by all tests.
        Command::new(OSSA)
            .args(args)
            .env_remove("OSSA_HOME")
            .env("XDG_DATA_HOME", self.dir.path().join("home"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache"),
            )
            .current_dir(self.work())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn builtins_work_on_a_real_directory() {
    let scene = Scene::new();
    let read = scene.ossa(&["tools", "call", "read_file", r#"{"path": "src/lib.rs"}"#]);
    assert_eq!(
        stdout(&read),
        "     1\tpub fn answer() -> u32 {\n     2\t    41\n     3\t}\n"
    );

    let patch = "*** Begin Patch\n*** Update File: src/lib.rs\n@@ pub fn answer() -> u32 {\n-    41\n+    42\n*** End Patch";
    let args = serde_json::json!({ "input": patch }).to_string();
    let applied = scene.ossa(&["tools", "call", "apply_patch", &args]);
    assert_eq!(stdout(&applied), "Done. Applied the patch:\nM src/lib.rs\n");
    assert_eq!(
        std::fs::read_to_string(scene.work().join("src/lib.rs")).unwrap(),
        "pub fn answer() -> u32 {\n    42\n}\n"
    );

    let found = scene.ossa(&[
        "tools",
        "call",
        "grep",
        r#"{"pattern": "42"}"#,
        "--workspace",
        ".",
    ]);
    assert_eq!(
        stdout(&found),
        "src/lib.rs:2:    42\n[1 matching lines in 1 files]\n"
    );

    let denied = scene.ossa(&["tools", "call", "read_file", r#"{"path": "../home"}"#]);
    assert!(failure(&denied).contains("error: ../home: the path leads outside the workspace"));

    let unknown = scene.ossa(&["tools", "call", "nope"]);
    assert!(
        failure(&unknown).contains("there is no tool `nope`; the tools are: read_file, write_file")
    );
}

#[test]
fn a_custom_tool_is_added_listed_called_and_removed() {
    let scene = Scene::new();
    let wasm = word_count_wasm();
    let added = scene.ossa(&[
        "tools",
        "add",
        wasm.to_str().unwrap(),
        "--workspace-access",
        "read",
        "--timeout",
        "5",
    ]);
    let added = stdout(&added);
    assert!(
        added.starts_with("Installed word_count 1.0.0 (sha256 "),
        "{added}"
    );
    assert!(
        added.contains("Grants: workspace: read; net: none; limits: 256 MiB, 5 s"),
        "{added}"
    );
    let policy = scene
        .dir
        .path()
        .join("home/ossa/tools/word_count/policy.toml");
    assert!(
        std::fs::read_to_string(&policy)
            .unwrap()
            .contains("timeout_secs = 5.0")
    );

    let listed = stdout(&scene.ossa(&["tools", "list"]));
    assert!(
        listed.contains("word_count 1.0.0 (installed in "),
        "{listed}"
    );
    assert!(listed.contains("type word_count = (_: {\n// Path of a text file, relative to the workspace root.\npath: string,"), "{listed}");
    assert!(listed.contains("type apply_patch = (_: {"), "{listed}");

    let counted = scene.ossa(&[
        "tools",
        "call",
        "word_count",
        r#"{"path": "poem.txt", "top": 1}"#,
    ]);
    assert_eq!(
        stdout(&counted),
        "poem.txt: 2 lines, 7 words, 28 characters\n     3 the\n"
    );

    let removed = scene.ossa(&["tools", "remove", "word_count"]);
    assert_eq!(stdout(&removed), "Removed word_count.\n");
    let gone = scene.ossa(&["tools", "call", "word_count", r#"{"path": "poem.txt"}"#]);
    assert!(failure(&gone).contains("there is no tool `word_count`"));
    let builtin = scene.ossa(&["tools", "remove", "grep"]);
    assert!(failure(&builtin).contains("`grep` is a built-in tool"));
}

#[test]
fn bad_components_are_refused_with_a_reason() {
    let scene = Scene::new();
    let bogus = scene.dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let refused = scene.ossa(&["tools", "add", bogus.to_str().unwrap()]);
    assert!(failure(&refused).contains("not a WebAssembly component"));
    let missing = scene.ossa(&["tools", "add", "/no/such/tool.wasm"]);
    assert!(failure(&missing).contains("cannot read /no/such/tool.wasm"));
}
