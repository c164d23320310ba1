//! The attack suite: a malicious component tries each way out of the sandbox. Every
//! attempt must end in the right typed failure, leave nothing outside the grants
//! changed, and leave the host able to run the next call.

use std::net::TcpListener;

use ossa_sandbox::{Access, FailureKind, Mount, ToolFailure, ToolPolicy};
use serde_json::json;

use crate::support::{SECRET, Scene, attacker, builtin};

fn policy(workspace: Access) -> ToolPolicy {
    ToolPolicy::with_workspace(workspace)
}

/// Runs one attack and returns its failure, checking that it failed, leaked nothing
/// and changed nothing anywhere in the scene.
async fn attack(scene: &Scene, policy: ToolPolicy, args: serde_json::Value) -> ToolFailure {
    let before = scene.snapshot();
    let tool = attacker(policy).await;
    let result = tool.call(&args.to_string(), &scene.workspace()).await;
    let failure = match result {
        Ok(output) => panic!("attack {args} succeeded: {output:?}"),
        Err(failure) => failure,
    };
    assert!(!failure.message.contains(SECRET), "{failure:?}");
    assert!(!failure.detail.contains(SECRET), "{failure:?}");
    assert_eq!(scene.snapshot(), before, "attack {args} changed files");
    failure
}

/// After an attack the same host still runs tools normally.
async fn host_still_works(scene: &Scene) {
    let read_file = builtin("read_file").await;
    let output = read_file
        .call(r#"{"path": "notes.txt"}"#, &scene.workspace())
        .await
        .unwrap();
    assert!(output.text.contains("inside the workspace"));
}

/// Paths the guest's libc resolves to nowhere never reach the host: inside the
/// sandbox they do not exist. Paths that do reach the host's file system and lead out of
/// a mount are refused there and fail the call as `denied`.
#[tokio::test]
async fn dot_dot_traversal_is_denied() {
    let scene = Scene::new();
    let cases = [
        ("/workspace/../outside/secret.txt", FailureKind::Denied),
        (
            "/workspace/sub/../../outside/secret.txt",
            FailureKind::Denied,
        ),
        ("../outside/secret.txt", FailureKind::Failed),
    ];
    for (target, kind) in cases {
        let failure = attack(
            &scene,
            policy(Access::Read),
            json!({"attack": "read", "target": target}),
        )
        .await;
        assert_eq!(failure.kind, kind, "{target}: {failure:?}");
    }
    // The built-in tools refuse such paths with a message that says why.
    let read_file = builtin("read_file").await;
    let failure = read_file
        .call(r#"{"path": "../outside/secret.txt"}"#, &scene.workspace())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    assert!(
        failure.message.contains("leads outside the workspace"),
        "{failure:?}"
    );
    host_still_works(&scene).await;
}

#[tokio::test]
async fn absolute_paths_outside_the_mounts_do_not_exist() {
    let scene = Scene::new();
    let secret = scene.outside().join("secret.txt");
    for target in [secret.to_str().unwrap(), "/etc/passwd"] {
        let failure = attack(
            &scene,
            policy(Access::Read),
            json!({"attack": "read", "target": target}),
        )
        .await;
        assert_eq!(failure.kind, FailureKind::Failed, "{target}: {failure:?}");
        assert!(
            failure.message.contains("no such file"),
            "{target}: {failure:?}"
        );
    }
    let read_file = builtin("read_file").await;
    let failure = read_file
        .call(r#"{"path": "/etc/passwd"}"#, &scene.workspace())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    assert!(
        failure.message.contains("absolute paths are not allowed"),
        "{failure:?}"
    );
    host_still_works(&scene).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_in_the_workspace_pointing_outside_is_not_followed() {
    let scene = Scene::new();
    std::os::unix::fs::symlink(scene.outside(), scene.workspace().join("escape")).unwrap();
    std::os::unix::fs::symlink(
        scene.outside().join("secret.txt"),
        scene.workspace().join("secret-link"),
    )
    .unwrap();
    for target in ["/workspace/escape/secret.txt", "/workspace/secret-link"] {
        let failure = attack(
            &scene,
            policy(Access::Read),
            json!({"attack": "read", "target": target}),
        )
        .await;
        assert_eq!(failure.kind, FailureKind::Denied, "{target}: {failure:?}");
    }
    // The built-in read_file is refused the same way.
    let read_file = builtin("read_file").await;
    let failure = read_file
        .call(r#"{"path": "secret-link"}"#, &scene.workspace())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    assert!(!failure.message.contains(SECRET));
    // And host code reading the workspace refuses the link too.
    let err =
        ossa_sandbox::read_workspace_file(&scene.workspace(), "secret-link".as_ref(), 1 << 20)
            .unwrap_err();
    assert!(
        matches!(err, ossa_sandbox::WorkspaceError::Symlink { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_guest_cannot_plant_a_symlink_for_host_code_to_follow() {
    let scene = Scene::new();
    for target in [
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
        "/etc/passwd",
    ] {
        let args = json!({"attack": "symlink", "target": target, "extra": "/workspace/leak"});
        let failure = attack(&scene, policy(Access::Write), args).await;
        assert_eq!(failure.kind, FailureKind::Denied, "{target}: {failure:?}");
        assert!(!scene.workspace().join("leak").exists());
    }
    // A symlink that stays inside the workspace is allowed.
    let tool = attacker(policy(Access::Write)).await;
    let args = json!({"attack": "symlink", "target": "notes.txt", "extra": "/workspace/alias"});
    let output = tool
        .call(&args.to_string(), &scene.workspace())
        .await
        .unwrap();
    assert_eq!(output.text, "inside the workspace\n");
}

#[tokio::test]
async fn writing_through_a_read_only_mount_is_denied() {
    let scene = Scene::new();
    for target in ["/workspace/notes.txt", "/workspace/new.txt"] {
        let args = json!({"attack": "write", "target": target, "extra": "pwned"});
        let failure = attack(&scene, policy(Access::Read), args).await;
        assert_eq!(failure.kind, FailureKind::Denied, "{target}: {failure:?}");
    }
    // The same through an extra read-only mount.
    let mut with_mount = policy(Access::None);
    with_mount.mounts.push(Mount {
        host: scene.outside(),
        guest: "/data".into(),
        access: Access::Read,
    });
    let args = json!({"attack": "write", "target": "/data/secret.txt", "extra": "pwned"});
    let failure = attack(&scene, with_mount, args).await;
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
}

#[tokio::test]
async fn environment_variables_are_invisible_unless_granted() {
    let scene = Scene::new();
    let path = std::env::var("PATH").unwrap();
    let failure = attack(
        &scene,
        policy(Access::None),
        json!({"attack": "env", "target": "PATH"}),
    )
    .await;
    assert_eq!(failure.kind, FailureKind::Failed, "{failure:?}");
    assert!(!failure.message.contains(&path));
    let tool = attacker(policy(Access::None)).await;
    let all = tool
        .call(r#"{"attack": "env_all"}"#, &scene.workspace())
        .await
        .unwrap();
    assert_eq!(all.text, "", "no variables at all without grants");

    let mut granted = policy(Access::None);
    granted.env = vec!["PATH".into()];
    let tool = attacker(granted).await;
    let output = tool
        .call(r#"{"attack": "env", "target": "PATH"}"#, &scene.workspace())
        .await
        .unwrap();
    assert_eq!(output.text, path);
    let all = tool
        .call(r#"{"attack": "env_all"}"#, &scene.workspace())
        .await
        .unwrap();
    assert_eq!(all.text, "PATH");
}

#[tokio::test]
async fn sockets_reach_only_granted_destinations() {
    let scene = Scene::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let failure = attack(
        &scene,
        policy(Access::None),
        json!({"attack": "connect", "target": address}),
    )
    .await;
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    assert!(failure.detail.contains("use the network"), "{failure:?}");
    assert!(listener.accept().is_err(), "nothing may have connected");

    // With a grant for another port only, still denied.
    let mut other_port = policy(Access::None);
    other_port.net = vec!["127.0.0.1:1".into()];
    let failure = attack(
        &scene,
        other_port,
        json!({"attack": "connect", "target": address}),
    )
    .await;
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");

    let mut granted = policy(Access::None);
    granted.net = vec![address.clone()];
    let tool = attacker(granted).await;
    let output = tool
        .call(
            &json!({"attack": "connect", "target": address}).to_string(),
            &scene.workspace(),
        )
        .await;
    assert_eq!(output.unwrap().text, format!("connected to {address}"));
}

#[tokio::test]
async fn an_endless_loop_times_out() {
    let scene = Scene::new();
    let mut limited = policy(Access::None);
    limited.timeout_secs = 0.3;
    let failure = attack(&scene, limited, json!({"attack": "loop"})).await;
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure:?}");
    assert!(
        failure.message.contains("timed out after 0.3 s"),
        "{failure:?}"
    );
    host_still_works(&scene).await;
}

#[tokio::test]
async fn sleeping_forever_in_a_host_call_times_out() {
    let scene = Scene::new();
    let mut limited = policy(Access::None);
    limited.timeout_secs = 0.3;
    let failure = attack(&scene, limited, json!({"attack": "sleep"})).await;
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure:?}");
    host_still_works(&scene).await;
}

#[tokio::test]
async fn allocating_past_the_memory_limit_is_stopped() {
    let scene = Scene::new();
    let mut limited = policy(Access::None);
    limited.memory_mib = 32;
    let failure = attack(&scene, limited, json!({"attack": "alloc", "amount": 64})).await;
    assert_eq!(failure.kind, FailureKind::MemoryLimit, "{failure:?}");
    assert!(failure.message.contains("32 MiB"), "{failure:?}");
    host_still_works(&scene).await;
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let scene = Scene::new();
    let failure = attack(
        &scene,
        policy(Access::None),
        json!({"attack": "recurse", "amount": 100_000_000u64}),
    )
    .await;
    assert_eq!(failure.kind, FailureKind::StackOverflow, "{failure:?}");
    host_still_works(&scene).await;
}

#[tokio::test]
async fn flooding_stdout_hits_the_output_limit() {
    let scene = Scene::new();
    let mut limited = policy(Access::None);
    limited.output_limit_kib = 16;
    let failure = attack(&scene, limited, json!({"attack": "stdout"})).await;
    assert_eq!(failure.kind, FailureKind::OutputLimit, "{failure:?}");
    assert!(
        failure.detail.len() < 64 * 1024,
        "the captured output is capped"
    );
}

#[tokio::test]
async fn a_huge_result_hits_the_output_limit() {
    let scene = Scene::new();
    let mut limited = policy(Access::None);
    limited.output_limit_kib = 64;
    let failure = attack(
        &scene,
        limited,
        json!({"attack": "big_output", "amount": 1}),
    )
    .await;
    assert_eq!(failure.kind, FailureKind::OutputLimit, "{failure:?}");
}

#[tokio::test]
async fn writing_a_huge_file_hits_the_write_limit() {
    let scene = Scene::new();
    let mut limited = policy(Access::Write);
    limited.write_limit_mib = 2;
    let before = scene.snapshot();
    let tool = attacker(limited).await;
    let args = json!({"attack": "big_file", "target": "/workspace/huge.bin", "amount": 64});
    let failure = tool
        .call(&args.to_string(), &scene.workspace())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::WriteLimit, "{failure:?}");
    let size = std::fs::metadata(scene.workspace().join("huge.bin"))
        .unwrap()
        .len();
    assert!(
        size <= 2 << 20,
        "the file stopped at the limit, not past it: {size}"
    );
    // Only the workspace changed, and only by that one file.
    let mut after = scene.snapshot();
    after.remove(std::path::Path::new("workspace/huge.bin"));
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let scene = Scene::new();
    let failure = attack(&scene, policy(Access::None), json!({"attack": "panic"})).await;
    assert_eq!(failure.kind, FailureKind::Panic, "{failure:?}");
    assert!(
        failure
            .message
            .contains("the attack tool panicked on purpose"),
        "{failure:?}"
    );
    host_still_works(&scene).await;
}

#[tokio::test]
async fn exit_is_reported_with_its_code() {
    let scene = Scene::new();
    let failure = attack(&scene, policy(Access::None), json!({"attack": "exit"})).await;
    assert_eq!(failure.kind, FailureKind::Exit, "{failure:?}");
    // WASI 0.2's exit carries success or failure only, so exit(3) arrives as 1.
    assert!(
        failure.message.contains("exited with code 1"),
        "{failure:?}"
    );
}

/// The workspace is mounted a second time at its real host path (named in
/// `OSSA_WORKSPACE_DIR`), with the same access: code that opens the absolute paths a
/// model writes reaches the workspace and nothing beside it.
#[tokio::test]
async fn the_workspace_is_also_at_its_real_path_and_no_wider() {
    let scene = Scene::new();
    let real = std::fs::canonicalize(scene.workspace()).unwrap();
    let real = real.to_str().unwrap().to_owned();
    let run = |policy: ToolPolicy, args: serde_json::Value| {
        let workspace = scene.workspace();
        async move {
            attacker(policy)
                .await
                .call(&args.to_string(), &workspace)
                .await
        }
    };
    let read = json!({"attack": "read", "target": format!("{real}/notes.txt")});
    let output = run(policy(Access::Read), read.clone()).await.unwrap();
    assert_eq!(output.text, "inside the workspace\n");
    let env = json!({"attack": "env", "target": "OSSA_WORKSPACE_DIR"});
    assert_eq!(
        run(policy(Access::Read), env.clone()).await.unwrap().text,
        real
    );
    let all = json!({"attack": "env_all"});
    assert_eq!(
        run(policy(Access::Read), all.clone()).await.unwrap().text,
        "OSSA_WORKSPACE_DIR"
    );

    let out = json!({"attack": "read", "target": format!("{real}/../outside/secret.txt")});
    let failure = attack(&scene, policy(Access::Read), out).await;
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    let write = json!({"attack": "write", "target": format!("{real}/new.txt"), "extra": "x"});
    let failure = attack(&scene, policy(Access::Read), write.clone()).await;
    assert_eq!(
        failure.kind,
        FailureKind::Denied,
        "read-only there too: {failure:?}"
    );
    run(policy(Access::Write), write).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(scene.workspace().join("new.txt")).unwrap(),
        "x"
    );

    // Without the workspace grant there is neither the mount nor the variable.
    let failure = run(policy(Access::None), read).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Failed, "{failure:?}");
    assert_eq!(run(policy(Access::None), all).await.unwrap().text, "");
    host_still_works(&scene).await;
}

#[tokio::test]
async fn a_call_starts_from_fresh_memory_whatever_the_last_one_left() {
    let scene = Scene::new();
    let tool = attacker(policy(Access::Read)).await;
    for secret in ["first-secret", "second-secret", "third-secret"] {
        let args = json!({"attack": "remember", "extra": secret, "amount": 2});
        let output = tool
            .call(&args.to_string(), &scene.workspace())
            .await
            .unwrap();
        assert_eq!(
            output.text, "calls before this one: 0; secret left before: \"\"",
            "{secret}"
        );
    }
    host_still_works(&scene).await;
}
