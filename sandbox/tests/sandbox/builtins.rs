//! The built-in tools on a real directory.

use std::fs;
use std::path::Path;

use ossa_sandbox::FailureKind;
use serde_json::json;

use crate::support::builtin;

/// A small project: sources, an ignored build directory, a `.git` directory and a
/// binary file.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src/util")).unwrap();
    fs::create_dir_all(root.join("target/debug")).unwrap();
    fs::create_dir_all(root.join(".git/objects")).unwrap();
    fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::write(root.join("README.md"), "# Demo\n\nA demo project.\n").unwrap();
    fs::write(
        root.join("src/main.rs"),
        "mod util;\n\nfn main() {\n    let total = util::add(2, 3);\n    println!(\"{total}\");\n}\n",
    )
    .unwrap();
    fs::write(
        root.join("src/util/mod.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    )
    .unwrap();
    fs::write(root.join("target/debug/build.txt"), "fn main() ignored\n").unwrap();
    fs::write(root.join("debug.log"), "fn main() in a log\n").unwrap();
    fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(root.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).unwrap();
    dir
}

async fn call(
    name: &str,
    args: serde_json::Value,
    workspace: &Path,
) -> Result<String, ossa_sandbox::ToolFailure> {
    builtin(name)
        .await
        .call(&args.to_string(), workspace)
        .await
        .map(|output| output.text)
}

#[tokio::test]
async fn read_file_numbers_lines_and_pages() {
    let dir = project();
    let text = call("read_file", json!({"path": "src/main.rs"}), dir.path())
        .await
        .unwrap();
    assert!(
        text.starts_with("     1\tmod util;\n     2\t\n     3\tfn main() {\n"),
        "{text}"
    );
    let text = call(
        "read_file",
        json!({"path": "./src/main.rs", "offset": 3, "limit": 2}),
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(
        text,
        "     3\tfn main() {\n     4\t    let total = util::add(2, 3);\n[src/main.rs continues after line 4; limit reached. Call read_file again with offset=5]\n"
    );
}

#[tokio::test]
async fn read_file_refuses_binaries_directories_and_missing_files() {
    let dir = project();
    let failure = call("read_file", json!({"path": "logo.png"}), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Failed);
    assert!(
        failure
            .message
            .contains("logo.png is a binary file (8 bytes)"),
        "{failure:?}"
    );
    let failure = call("read_file", json!({"path": "src"}), dir.path())
        .await
        .unwrap_err();
    assert!(
        failure.message.contains("src is a directory; use list_dir"),
        "{failure:?}"
    );
    let failure = call("read_file", json!({"path": "nope.txt"}), dir.path())
        .await
        .unwrap_err();
    assert!(
        failure.message.contains("nope.txt: no such file"),
        "{failure:?}"
    );
    let failure = call("read_file", json!({"file": "src/main.rs"}), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs);
    assert!(
        failure.message.contains("missing field `path`"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn write_file_creates_and_replaces() {
    let dir = project();
    let text = call(
        "write_file",
        json!({"path": "docs/guide.md", "content": "# Guide\nline two\n"}),
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(text, "Created docs/guide.md: 17 bytes, 2 lines");
    assert_eq!(
        fs::read_to_string(dir.path().join("docs/guide.md")).unwrap(),
        "# Guide\nline two\n"
    );
    let text = call(
        "write_file",
        json!({"path": "README.md", "content": "new"}),
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(text, "Replaced README.md: 3 bytes, 1 lines");
    assert_eq!(
        fs::read_to_string(dir.path().join("README.md")).unwrap(),
        "new"
    );
    let failure = call(
        "write_file",
        json!({"path": "../escape.txt", "content": "x"}),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Denied);
    assert!(!dir.path().parent().unwrap().join("escape.txt").exists());
}

#[tokio::test]
async fn list_dir_skips_git_and_ignored_files() {
    let dir = project();
    let text = call("list_dir", json!({}), dir.path()).await.unwrap();
    assert_eq!(
        text,
        "./\n  .gitignore\n  README.md\n  logo.png\n  src/\n    main.rs\n    util/\n"
    );
    let text = call("list_dir", json!({"path": "src", "depth": 3}), dir.path())
        .await
        .unwrap();
    assert_eq!(text, "src/\n  main.rs\n  util/\n    mod.rs\n");
    let failure = call("list_dir", json!({"path": "README.md"}), dir.path())
        .await
        .unwrap_err();
    assert!(failure.message.contains("is a file"), "{failure:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn listing_and_searching_ignore_symlinks_that_lead_out() {
    let dir = project();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.rs"), "fn main() secret\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("src/out")).unwrap();
    std::os::unix::fs::symlink("../README.md", dir.path().join("src/readme")).unwrap();
    let text = call("list_dir", json!({"path": "src"}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        text,
        "src/\n  main.rs\n  out -> (outside the workspace)\n  readme -> ../README.md\n  util/\n    mod.rs\n"
    );
    let text = call("grep", json!({"pattern": "secret"}), dir.path())
        .await
        .unwrap();
    assert!(text.starts_with("No matches"), "{text}");
}

#[tokio::test]
async fn grep_searches_text_files_only() {
    let dir = project();
    let text = call("grep", json!({"pattern": "fn \\w+\\("}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        text,
        "src/main.rs:3:fn main() {\nsrc/util/mod.rs:1:pub fn add(a: i32, b: i32) -> i32 {\n[2 matching lines in 2 files]\n[skipped files: 1 binary]\n"
    );
    let text = call(
        "grep",
        json!({"pattern": "total", "glob": "*.rs", "context": 1}),
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(
        text,
        "src/main.rs-3-fn main() {\nsrc/main.rs:4:    let total = util::add(2, 3);\nsrc/main.rs:5:    println!(\"{total}\");\nsrc/main.rs-6-}\n[2 matching lines in 1 files]\n"
    );
    let failure = call("grep", json!({"pattern": "("}), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs);
}

#[tokio::test]
async fn apply_patch_edits_files() {
    let dir = project();
    let patch = "*** Begin Patch\n*** Update File: src/util/mod.rs\n@@ pub fn add(a: i32, b: i32) -> i32 {\n-    a + b\n+    a.wrapping_add(b)\n*** Add File: CHANGES.md\n+- add wraps\n*** End Patch\n";
    let text = call("apply_patch", json!({"input": patch}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        text,
        "Done. Applied the patch:\nM src/util/mod.rs\nA CHANGES.md\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("src/util/mod.rs")).unwrap(),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a.wrapping_add(b)\n}\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("CHANGES.md")).unwrap(),
        "- add wraps\n"
    );
}

#[tokio::test]
async fn apply_patch_is_atomic_when_the_write_limit_stops_it() {
    let dir = project();
    let before = crate::support::snapshot(dir.path());
    let big: String = (0..40_000)
        .map(|n| format!("+line {n} of a generated file\n"))
        .collect();
    let patch = format!(
        "*** Begin Patch\n*** Update File: README.md\n # Demo\n-\n+(edited)\n*** Add File: big.txt\n{big}*** End Patch\n"
    );
    let mut policy = ossa_sandbox::builtin_policy("apply_patch");
    policy.write_limit_mib = 1;
    let tool = builtin("apply_patch").await.with_policy(policy).unwrap();
    let failure = tool
        .call(&json!({ "input": patch }).to_string(), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::WriteLimit, "{failure:?}");
    assert_eq!(
        crate::support::snapshot(dir.path()),
        before,
        "no file changed, no staging file left"
    );
}

#[tokio::test]
async fn descriptions_and_schemas_are_what_the_model_needs() {
    let grep = builtin("grep").await;
    let info = grep.info();
    assert_eq!(info.name, "grep");
    assert_eq!(info.parameters["required"], json!(["pattern"]));
    assert_eq!(
        info.parameters["properties"]["max_results"]["type"],
        "integer"
    );
    let apply_patch = builtin("apply_patch").await;
    assert!(apply_patch.info().description.contains("*** Begin Patch"));
    assert!(apply_patch.info().description.contains("for a line to add"));
    assert_eq!(apply_patch.info().parameters["required"], json!(["input"]));
}
