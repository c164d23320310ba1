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
async fn apply_patch_takes_the_patch_as_patch_or_input() {
    let dir = project();
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+one\n*** End Patch\n";
    let text = call("apply_patch", json!({"patch": patch}), dir.path())
        .await
        .unwrap();
    assert_eq!(text, "Done. Applied the patch:\nA a.txt\n");
    let patch = "*** Begin Patch\n*** Add File: b.txt\n+two\n*** End Patch\n";
    call("apply_patch", json!({"input": patch}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("b.txt")).unwrap(),
        "two\n"
    );
    let failure = call("apply_patch", json!({"diff": patch}), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs);
    assert!(
        failure.message.contains("missing field `patch`"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn print_tree_draws_the_project_like_tree() {
    let dir = project();
    fs::create_dir_all(dir.path().join("node_modules/left-pad")).unwrap();
    fs::write(dir.path().join("node_modules/left-pad/index.js"), "x\n").unwrap();
    let text = call("print_tree", json!({"path": "", "depth": 3}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        text,
        "./\n\
         |-- .gitignore\n\
         |-- README.md\n\
         |-- logo.png\n\
         |-- node_modules/ [not opened: dependencies or build output]\n\
         `-- src/\n\
         \x20   |-- main.rs\n\
         \x20   `-- util/\n\
         \x20       `-- mod.rs\n\
         \n\
         3 directories, 5 files\n"
    );
    let text = call("print_tree", json!({"path": "src", "depth": 1}), dir.path())
        .await
        .unwrap();
    assert_eq!(
        text,
        "src/\n|-- main.rs\n`-- util/\n\n1 directory, 1 file\n"
    );
    let failure = call(
        "print_tree",
        json!({"path": "README.md", "depth": 2}),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(
        failure.message.contains("README.md is a file"),
        "{failure:?}"
    );
    let failure = call("print_tree", json!({"path": "", "depth": 0}), dir.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs);
}

#[tokio::test]
async fn print_tree_cuts_big_trees_level_by_level() {
    let dir = tempfile::tempdir().unwrap();
    for top in 0..30 {
        for file in 0..30 {
            let sub = dir.path().join(format!("d{top:02}"));
            fs::create_dir_all(&sub).unwrap();
            fs::write(sub.join(format!("f{file:02}.txt")), "").unwrap();
        }
    }
    let text = call("print_tree", json!({"path": ".", "depth": 2}), dir.path())
        .await
        .unwrap();
    assert!(text.contains("|-- d00/\n|   |-- f00.txt\n"), "{text}");
    // Every top-level directory is shown; the last ones with their entries counted.
    assert!(
        text.contains("`-- d29/\n    `-- [30 more entries]\n"),
        "{text}"
    );
    assert!(
        text.ends_with("[530 of 930 entries not shown; show the tree of a subdirectory, or use a smaller depth]\n"),
        "{text}"
    );
}

#[tokio::test]
async fn search_lists_matches_as_path_line_text() {
    let dir = project();
    let search = |args| call("search", args, dir.path());
    assert_eq!(
        search(json!({"path": "", "query": "fn \\w+\\("}))
            .await
            .unwrap(),
        "src/main.rs:3:fn main() {\nsrc/util/mod.rs:1:pub fn add(a: i32, b: i32) -> i32 {\n"
    );
    assert_eq!(
        search(json!({"path": "", "query": "fn", "max_results": 1}))
            .await
            .unwrap(),
        "src/main.rs:3:fn main() {\n[1 of 2 matching lines shown; narrow `path` or the query, or raise `max_results`, to see the others]\n"
    );
    assert_eq!(
        search(json!({"path": "", "query": "add(2"})).await.unwrap(),
        "[the query is not a valid regular expression, so it was searched as plain text]\nsrc/main.rs:4:    let total = util::add(2, 3);\n"
    );
    // A file as `path`, and the `pattern` alias.
    assert_eq!(
        search(json!({"path": "src/main.rs", "pattern": "total"}))
            .await
            .unwrap(),
        "src/main.rs:4:    let total = util::add(2, 3);\nsrc/main.rs:5:    println!(\"{total}\");\n"
    );
    assert_eq!(
        search(json!({"path": "src", "query": "zzz"}))
            .await
            .unwrap(),
        "No matches for `zzz` in src.\n"
    );
    let failure = search(json!({"path": "nope", "query": "x"}))
        .await
        .unwrap_err();
    assert!(
        failure.message.contains("nope: no such file"),
        "{failure:?}"
    );
    let failure = search(json!({"path": ""})).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs);
}

#[tokio::test]
async fn open_file_shows_ranges_with_or_without_numbers() {
    let dir = project();
    let open = |args| call("open_file", args, dir.path());
    assert_eq!(
        open(json!({"path": "src/main.rs", "line_start": 3, "line_end": 4}))
            .await
            .unwrap(),
        "fn main() {\n    let total = util::add(2, 3);\n"
    );
    assert_eq!(
        open(json!({"path": "src/main.rs", "line_start": 3, "line_end": 4, "line_numbers": true}))
            .await
            .unwrap(),
        "     3\tfn main() {\n     4\t    let total = util::add(2, 3);\n"
    );
    assert_eq!(
        open(json!({"path": "README.md"})).await.unwrap(),
        "# Demo\n\nA demo project.\n"
    );
    // The aliases the model uses, and a range running past the end.
    assert_eq!(
        open(json!({"file_path": "src/main.rs", "start_line": 5, "end_line": 9}))
            .await
            .unwrap(),
        "    println!(\"{total}\");\n}\n[end of file: src/main.rs has 6 lines]\n"
    );
}

#[tokio::test]
async fn open_file_explains_what_it_cannot_show() {
    let dir = project();
    let open = |args| call("open_file", args, dir.path());
    let cases = [
        (
            json!({"path": "src/main.rs", "line_start": 10}),
            FailureKind::Failed,
            "`line_start` 10 is past the end of src/main.rs, which has 6 lines",
        ),
        (
            json!({"path": "src/main.rs", "line_start": 4, "line_end": 2}),
            FailureKind::InvalidArgs,
            "`line_end` (2) is before `line_start` (4)",
        ),
        (
            json!({"path": "src"}),
            FailureKind::Failed,
            "src is a directory, not a file",
        ),
        (
            json!({"path": "logo.png"}),
            FailureKind::Failed,
            "logo.png is a binary file (8 bytes)",
        ),
        (
            json!({"path": "nope.py"}),
            FailureKind::Failed,
            "nope.py: no such file or directory",
        ),
        (
            json!({"line_start": 1}),
            FailureKind::InvalidArgs,
            "missing field `path`",
        ),
    ];
    for (args, kind, message) in cases {
        let failure = open(args.clone()).await.unwrap_err();
        assert_eq!(failure.kind, kind, "{args}: {failure:?}");
        assert!(failure.message.contains(message), "{args}: {failure:?}");
    }
}

#[tokio::test]
async fn open_file_caps_its_output_and_says_where_to_go_on() {
    let dir = project();
    let text: String = (1..=3000)
        .map(|n| format!("line {n} of a long file\n"))
        .collect();
    fs::write(dir.path().join("long.txt"), text).unwrap();
    let out = call(
        "open_file",
        json!({"path": "long.txt", "line_numbers": true}),
        dir.path(),
    )
    .await
    .unwrap();
    assert!(out.len() < 16 * 1024, "{}", out.len());
    let last_shown = out.lines().filter(|line| !line.starts_with('[')).count();
    assert!(last_shown > 400, "{last_shown}");
    assert!(
        out.ends_with(&format!(
            "[output capped at about 15 KB: lines 1-{last_shown} of long.txt shown, the file has 3000 lines; call open_file again with line_start={} to read on]\n",
            last_shown + 1
        )),
        "{}",
        &out[out.len() - 300..]
    );
}

/// gpt-oss writes absolute paths: inside the workspace (under its real path or
/// /workspace) they work in every built-in, elsewhere they are refused with the
/// workspace named.
#[tokio::test]
async fn absolute_paths_inside_the_workspace_work_everywhere() {
    let dir = project();
    let real = fs::canonicalize(dir.path()).unwrap();
    let real = real.to_str().unwrap();
    let ok = |name: &'static str, args: serde_json::Value| {
        let workspace = dir.path().to_path_buf();
        async move { call(name, args, &workspace).await.unwrap() }
    };
    assert_eq!(
        ok(
            "open_file",
            json!({"path": format!("{real}/src/main.rs"), "line_end": 1})
        )
        .await,
        "mod util;\n"
    );
    assert_eq!(
        ok(
            "open_file",
            json!({"path": "/workspace/src/main.rs", "line_end": 1})
        )
        .await,
        "mod util;\n"
    );
    assert_eq!(
        ok(
            "print_tree",
            json!({"path": format!("{real}/src/"), "depth": 1})
        )
        .await,
        "src/\n|-- main.rs\n`-- util/\n\n1 directory, 1 file\n"
    );
    assert_eq!(
        ok("search", json!({"path": real, "query": "pub fn"})).await,
        "src/util/mod.rs:1:pub fn add(a: i32, b: i32) -> i32 {\n"
    );
    assert!(
        ok("list_dir", json!({"path": format!("{real}/src")}))
            .await
            .starts_with("src/\n"),
    );
    assert!(
        ok("read_file", json!({"path": format!("{real}/README.md")}))
            .await
            .contains("# Demo"),
    );
    let patch = format!(
        "*** Begin Patch\n*** Update File: {real}/src/util/mod.rs\n@@\n-    a + b\n+    b + a\n*** End Patch\n"
    );
    assert_eq!(
        ok("apply_patch", json!({"patch": patch})).await,
        "Done. Applied the patch:\nM src/util/mod.rs\n"
    );
    assert!(
        fs::read_to_string(dir.path().join("src/util/mod.rs"))
            .unwrap()
            .contains("b + a")
    );

    for (name, path) in [
        ("open_file", "/etc/passwd".to_owned()),
        ("search", "/etc".to_owned()),
        ("print_tree", format!("{real}/..")),
        ("open_file", format!("{real}x/secret")),
    ] {
        let args = json!({"path": path, "query": "x", "depth": 1});
        let failure = call(name, args, dir.path()).await.unwrap_err();
        assert_eq!(
            failure.kind,
            FailureKind::Denied,
            "{name} {path}: {failure:?}"
        );
        assert!(
            failure.message.contains("outside the workspace"),
            "{name} {path}: {failure:?}"
        );
    }
    let failure = call("open_file", json!({"path": "/etc/passwd"}), dir.path())
        .await
        .unwrap_err();
    assert!(
        failure.message.contains(&format!(
            "the workspace, which is {real} (also reachable as /workspace)"
        )),
        "{failure:?}"
    );
}

/// The workspace given through a symlink: tools know it by its canonical path.
#[cfg(unix)]
#[tokio::test]
async fn a_symlinked_workspace_is_known_by_its_canonical_path() {
    let dir = project();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("project-link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let real = fs::canonicalize(dir.path()).unwrap();
    let text = call(
        "open_file",
        json!({"path": format!("{}/README.md", real.display()), "line_end": 1}),
        &link,
    )
    .await
    .unwrap();
    assert_eq!(text, "# Demo\n");
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
    assert!(apply_patch.info().description.contains("in `patch`"));
    assert_eq!(apply_patch.info().parameters["required"], json!(["patch"]));

    let expect = [
        ("print_tree", json!(["path", "depth"]), json!({})),
        (
            "search",
            json!(["path", "query"]),
            json!({"pattern": "query"}),
        ),
        (
            "open_file",
            json!(["path"]),
            json!({"file_path": "path", "start_line": "line_start", "end_line": "line_end"}),
        ),
        ("apply_patch", json!(["patch"]), json!({"input": "patch"})),
        ("list_dir", json!(null), json!({})),
    ];
    for (name, required, aliases) in expect {
        let tool = builtin(name).await;
        let info = tool.info();
        assert_eq!(info.parameters["required"], required, "{name}");
        assert_eq!(json!(info.aliases), aliases, "{name}");
        assert!(info.parameters.get("x-ossa-aliases").is_none(), "{name}");
    }
    let open_file = builtin("open_file").await;
    let properties: Vec<&String> = open_file.info().parameters["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        properties,
        ["path", "line_start", "line_end", "line_numbers"]
    );
}
