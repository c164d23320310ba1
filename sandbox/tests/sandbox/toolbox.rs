//! Installing, listing, calling and removing user tools under a temporary OSSA_HOME.

use std::fs;

use ossa_sandbox::{
    Access, FailureKind, OssaHome, ToolHost, ToolPolicy, ToolSource, Toolbox, ToolboxError,
};

fn word_count_wasm() -> Vec<u8> {
    fs::read(ossa_builtin_tools::test_components::WORD_COUNT).unwrap()
}

#[tokio::test]
async fn install_list_call_remove() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = OssaHome::at(home_dir.path());
    // The shared host: its artifact cache already holds the built-ins.
    let host = crate::support::host().clone();
    let mut toolbox = Toolbox::open(&host, &home).await.unwrap();
    let names: Vec<&str> = toolbox.tools().map(|tool| tool.name()).collect();
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "list_dir",
            "grep",
            "apply_patch",
            "print_tree",
            "search",
            "open_file",
            "exec"
        ]
    );
    let writers: Vec<&str> = toolbox
        .tools()
        .filter(|tool| tool.policy().can_write())
        .map(|tool| tool.name())
        .collect();
    assert_eq!(
        writers,
        ["write_file", "apply_patch"],
        "the others only read"
    );

    let policy = ToolPolicy {
        workspace: Access::Read,
        ..ToolPolicy::default()
    };
    let tool = toolbox
        .install(word_count_wasm(), policy.clone())
        .await
        .unwrap();
    assert_eq!(tool.info().name, "word_count");
    assert_eq!(tool.info().version, "1.0.0");
    let dir = home.tools_dir().join("word_count");
    assert!(dir.join("tool.wasm").is_file());
    let policy_text = fs::read_to_string(dir.join("policy.toml")).unwrap();
    assert_eq!(ToolPolicy::from_toml(&policy_text).unwrap(), policy);

    // A fresh toolbox (a new process) finds it, with its policy, from the files.
    let toolbox = Toolbox::open(&host, &home).await.unwrap();
    let (tool, source) = toolbox
        .entries()
        .find(|(tool, _)| tool.name() == "word_count")
        .unwrap();
    assert_eq!(source, &ToolSource::User(dir.clone()));
    assert_eq!(tool.policy(), &policy);
    let workspace = tempfile::tempdir().unwrap();
    fs::write(
        workspace.path().join("poem.txt"),
        "the cat and the hat\nthe end\n",
    )
    .unwrap();
    let output = tool
        .call(r#"{"path": "poem.txt", "top": 2}"#, workspace.path())
        .await
        .unwrap();
    assert_eq!(
        output.text,
        "poem.txt: 2 lines, 7 words, 28 characters\n     3 the\n     1 and\n"
    );

    // Editing the policy takes effect: without workspace access there is no file.
    fs::write(
        dir.join("policy.toml"),
        policy_text.replace("workspace = \"read\"", "workspace = \"none\""),
    )
    .unwrap();
    let mut toolbox = Toolbox::open(&host, &home).await.unwrap();
    let failure = toolbox
        .get("word_count")
        .unwrap()
        .call(r#"{"path": "poem.txt"}"#, workspace.path())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Failed, "{failure:?}");
    assert!(failure.message.contains("no such file"), "{failure:?}");

    toolbox.remove("word_count").unwrap();
    assert!(!dir.exists());
    assert!(toolbox.get("word_count").is_none());
    assert!(matches!(
        toolbox.remove("word_count"),
        Err(ToolboxError::NotInstalled(_))
    ));
    assert!(matches!(
        toolbox.remove("grep"),
        Err(ToolboxError::Builtin(_))
    ));
}

#[tokio::test]
async fn broken_installs_are_reported_not_fatal() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = OssaHome::at(home_dir.path());
    // The shared host: its artifact cache already holds the built-ins.
    let host = crate::support::host().clone();
    let broken = home.tools_dir().join("broken");
    fs::create_dir_all(&broken).unwrap();
    fs::write(broken.join("tool.wasm"), b"\0asm\x01\0\0\0").unwrap();
    fs::write(broken.join("policy.toml"), "memory = 1\n").unwrap();
    let toolbox = Toolbox::open(&host, &home).await.unwrap();
    assert_eq!(toolbox.problems().len(), 1);
    assert!(
        toolbox.problems()[0].contains("unknown field `memory`"),
        "{:?}",
        toolbox.problems()
    );
    assert_eq!(toolbox.tools().count(), ossa_builtin_tools::BUILTINS.len());

    fs::write(broken.join("policy.toml"), "").unwrap();
    let toolbox = Toolbox::open(&host, &home).await.unwrap();
    assert!(
        toolbox.problems()[0].contains("not a WebAssembly component"),
        "{:?}",
        toolbox.problems()
    );
}

#[tokio::test]
async fn installs_are_validated() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = OssaHome::at(home_dir.path());
    // The shared host: its artifact cache already holds the built-ins.
    let host = crate::support::host().clone();
    let mut toolbox = Toolbox::open(&host, &home).await.unwrap();
    // Not a component.
    let err = toolbox
        .install(b"not wasm".to_vec(), ToolPolicy::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a WebAssembly component"),
        "{err}"
    );
    // A built-in's name is taken.
    let read_file = ossa_builtin_tools::BUILTINS[0].wasm.to_vec();
    assert!(matches!(
        toolbox.install(read_file, ToolPolicy::default()).await,
        Err(ToolboxError::Builtin(_))
    ));
    // Mounting ossa's own directories is refused.
    let mut policy = ToolPolicy::default();
    policy.mounts.push(ossa_sandbox::Mount {
        host: home_dir.path().to_path_buf(),
        guest: "/h".into(),
        access: Access::Read,
    });
    let err = toolbox
        .install(word_count_wasm(), policy)
        .await
        .unwrap_err();
    assert!(matches!(err, ToolboxError::ProtectedMount { .. }), "{err}");
}

#[tokio::test]
async fn a_second_host_loads_from_the_artifact_cache() {
    let home_dir = tempfile::tempdir().unwrap();
    let home = OssaHome::at(home_dir.path());
    let first = ToolHost::new(&home.artifacts_dir()).unwrap();
    first
        .load(word_count_wasm(), ToolPolicy::default())
        .await
        .unwrap();
    let artifacts: Vec<_> = fs::read_dir(home.artifacts_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        artifacts.len(),
        2,
        "one compiled artifact and one description: {artifacts:?}"
    );
    // Corrupt the artifact: the next host must not trust it, and recompiles.
    let cwasm = fs::read_dir(home.artifacts_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    fs::write(&cwasm, b"garbage").unwrap();
    let second = ToolHost::new(&home.artifacts_dir()).unwrap();
    let tool = second
        .load(word_count_wasm(), ToolPolicy::default())
        .await
        .unwrap();
    assert_eq!(tool.name(), "word_count");
    assert_ne!(fs::read(&cwasm).unwrap(), b"garbage");
}
