//! The built-in `exec` tool end to end: the guest component's argument handling and
//! output format, through the host's `process` capability and the confined runner.
//! Tests that run commands skip (and say why) where the kernel cannot confine them.

use std::fs;

use ossa_sandbox::{
    Access, EXEC_NOT_GRANTED, ExecGrant, FailureKind, LoadError, ToolPolicy, builtin_policy,
};
use serde_json::json;

use crate::support::{Scene, confined, exec_supported, exec_tool, exit_code, host, run_script};

fn exec_wasm() -> Vec<u8> {
    ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == "exec")
        .unwrap()
        .wasm
        .to_vec()
}

#[tokio::test]
async fn without_a_grant_the_model_is_told_what_to_use_instead() {
    let scene = Scene::new();
    let tool = host()
        .load(exec_wasm(), builtin_policy("exec"))
        .await
        .unwrap();
    let failure = tool
        .call(r#"{"command": ["bash", "-lc", "ls"]}"#, &scene.workspace())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Denied, "{failure:?}");
    assert_eq!(failure.message, EXEC_NOT_GRANTED);
    assert!(failure.message.contains("repo_browser") && failure.message.contains("--allow-exec"));
}

#[tokio::test]
async fn the_process_capability_needs_an_exec_grant() {
    let err = host()
        .load(exec_wasm(), ToolPolicy::with_workspace(Access::Write))
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::Interface(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("ossa:tool/process") && message.contains("[exec]"),
        "{message}"
    );

    let tool = host()
        .load(exec_wasm(), builtin_policy("exec"))
        .await
        .unwrap();
    assert!(tool.runs_commands());
    let err = tool.with_policy(ToolPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("needs an [exec] table"), "{err}");
    // Other built-ins do not import it, so they load without a grant.
    assert!(!crate::support::builtin("read_file").await.runs_commands());
}

#[tokio::test]
async fn the_schema_declares_an_argument_vector_and_the_aliases() {
    let tool = host()
        .load(exec_wasm(), builtin_policy("exec"))
        .await
        .unwrap();
    let info = tool.info();
    assert_eq!(info.name, "exec");
    assert_eq!(
        info.parameters["properties"]["command"],
        json!({"type": "array", "items": {"type": "string"}, "description": info.parameters["properties"]["command"]["description"]})
    );
    assert_eq!(info.parameters["required"], json!(["command"]));
    assert!(info.parameters.get("x-ossa-aliases").is_none());
    assert_eq!(info.aliases.get("cmd").map(String::as_str), Some("command"));
    assert_eq!(
        info.aliases.get("commands").map(String::as_str),
        Some("command")
    );
}

#[tokio::test]
async fn exit_codes_and_merged_output_in_order() {
    if !exec_supported("exit_codes_and_merged_output_in_order") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let text = run_script(
        &tool,
        &scene.workspace(),
        "echo out1; echo err1 >&2; echo out2; exit 3",
    )
    .await;
    assert!(text.starts_with("Exit code: 3\nWall time: "), "{text}");
    assert!(text.ends_with("Output:\nout1\nerr1\nout2\n"), "{text}");
    let text = run_script(&tool, &scene.workspace(), "true").await;
    assert_eq!(exit_code(&text), Some(0));
    assert!(text.ends_with("Output: (none)\n"), "{text}");
    let text = run_script(&tool, &scene.workspace(), "kill -SEGV $$").await;
    assert!(
        text.starts_with("Killed by signal 11 (SIGSEGV)\n"),
        "{text}"
    );
}

#[tokio::test]
async fn the_model_s_argument_shapes_are_accepted() {
    if !exec_supported("the_model_s_argument_shapes_are_accepted") {
        return;
    }
    let scene = Scene::new();
    let workspace = scene.workspace();
    let tool = exec_tool(confined(30.0)).await;
    let cases = [
        // The recorded form.
        json!({"command": ["bash", "-lc", "echo a b | tr ' ' '-'"]}),
        // Aliases.
        json!({"cmd": ["bash", "-lc", "echo a b | tr ' ' '-'"]}),
        json!({"commands": ["bash", "-lc", "echo a b | tr ' ' '-'"]}),
        // A string, and a one-element vector of shell text.
        json!({"command": "echo a b | tr ' ' '-'"}),
        json!({"command": ["echo a b | tr ' ' '-'"]}),
        // A real argument vector: the argument with a space stays one argument.
        json!({"command": ["printf", "%s\n", "a-b"]}),
        // The recorded extra key (milliseconds).
        json!({"command": ["bash", "-lc", "echo a-b"], "timeout": 100000}),
    ];
    for args in cases {
        let output = tool.call(&args.to_string(), &workspace).await.unwrap();
        assert!(
            output.text.ends_with("Output:\na-b\n"),
            "{args}: {}",
            output.text
        );
    }
    let failure = tool
        .call(r#"{"command": []}"#, &workspace)
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs, "{failure:?}");
    let failure = tool
        .call(r#"{"workdir": "."}"#, &workspace)
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::InvalidArgs, "{failure:?}");
}

#[tokio::test]
async fn workdir_is_inside_the_workspace() {
    if !exec_supported("workdir_is_inside_the_workspace") {
        return;
    }
    let scene = Scene::new();
    let workspace = fs::canonicalize(scene.workspace()).unwrap();
    let tool = exec_tool(confined(30.0)).await;
    for workdir in [
        "sub",
        "/workspace/sub",
        &workspace.join("sub").to_string_lossy(),
    ] {
        let args = json!({"command": ["pwd"], "workdir": workdir});
        let output = tool.call(&args.to_string(), &workspace).await.unwrap();
        assert!(
            output
                .text
                .ends_with(&format!("Output:\n{}\n", workspace.join("sub").display())),
            "{workdir}: {}",
            output.text
        );
    }
    for workdir in ["..", "/etc", "missing"] {
        let args = json!({"command": ["pwd"], "workdir": workdir});
        let failure = tool.call(&args.to_string(), &workspace).await.unwrap_err();
        assert_eq!(
            failure.kind,
            FailureKind::InvalidArgs,
            "{workdir}: {failure:?}"
        );
        assert!(failure.message.contains("workdir"), "{failure:?}");
    }
}

#[tokio::test]
async fn a_command_past_its_time_limit_is_stopped() {
    if !exec_supported("a_command_past_its_time_limit_is_stopped") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    // The model's limit (seconds form) is lower than the grant's.
    let args = json!({"command": ["bash", "-c", "echo started; sleep 60"], "timeout": 1});
    let started = std::time::Instant::now();
    let output = tool
        .call(&args.to_string(), &scene.workspace())
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        output.text.starts_with(
            "Timed out after 1 s: the command and every process it started were killed.\n"
        ),
        "{}",
        output.text
    );
    assert!(
        output
            .text
            .ends_with("Output (until it was stopped):\nstarted\n"),
        "{}",
        output.text
    );
    // The grant's limit caps the model's.
    let tool = exec_tool(confined(1.0)).await;
    let args = json!({"command": ["sleep", "60"], "timeout": 600000});
    let output = tool
        .call(&args.to_string(), &scene.workspace())
        .await
        .unwrap();
    assert!(
        output.text.starts_with("Timed out after 1 s"),
        "{}",
        output.text
    );
}

#[tokio::test]
async fn long_output_keeps_its_beginning_and_end() {
    if !exec_supported("long_output_keeps_its_beginning_and_end") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(ExecGrant {
        output_kib: 1,
        ..confined(30.0)
    })
    .await;
    let text = run_script(&tool, &scene.workspace(), "seq 1 100000").await;
    assert!(text.contains("Output:\n1\n2\n3\n"), "{text}");
    assert!(text.ends_with("99999\n100000\n"), "{text}");
    let note = text
        .lines()
        .find(|line| line.starts_with("[… "))
        .unwrap_or_else(|| panic!("no note of the cut: {text}"));
    assert!(note.ends_with(" lines) of output left out …]"), "{note}");
    assert!(text.len() < 2048, "{} bytes", text.len());
}

#[tokio::test]
async fn a_missing_program_reads_like_a_shell_error() {
    if !exec_supported("a_missing_program_reads_like_a_shell_error") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let output = tool
        .call(
            r#"{"command": ["no-such-program-ossa"]}"#,
            &scene.workspace(),
        )
        .await
        .unwrap();
    assert!(
        output.text.starts_with(
            "Exit code: 127\nOutput:\nno-such-program-ossa: cannot run: command not found (PATH is "
        ),
        "{}",
        output.text
    );
}

#[tokio::test]
async fn commands_get_a_private_home_that_is_removed_afterwards() {
    if !exec_supported("commands_get_a_private_home_that_is_removed_afterwards") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let text = run_script(
        &tool,
        &scene.workspace(),
        "test \"$HOME\" = \"$TMPDIR\" && echo x > \"$HOME/scratch\" && mkdir -p \"$HOME/ro\" && \
         chmod 000 \"$HOME/ro\" && echo \"$HOME\"",
    )
    .await;
    assert_eq!(exit_code(&text), Some(0), "{text}");
    let home = text.lines().last().unwrap();
    assert!(home.contains("ossa-exec-"), "{text}");
    assert!(
        !std::path::Path::new(home).exists(),
        "{home} was left behind"
    );
    // The environment is the fixed minimal one.
    let text = run_script(
        &tool,
        &scene.workspace(),
        "env | cut -d= -f1 | sort | tr '\\n' ' '",
    )
    .await;
    assert!(
        text.ends_with("Output:\nHOME LANG PATH PWD SHLVL TERM TMPDIR _ \n"),
        "{text}"
    );
}

#[tokio::test]
async fn commands_in_the_workspace_can_build_and_run_programs() {
    if !exec_supported("commands_in_the_workspace_can_build_and_run_programs") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(60.0)).await;
    let script = "printf '#!/bin/sh\\necho built and ran\\n' > run.sh && chmod +x run.sh && ./run.sh \
                  && mkdir -p target && cp run.sh target/again && target/again > /dev/null && echo ok";
    let text = run_script(&tool, &scene.workspace(), script).await;
    assert!(text.ends_with("Output:\nbuilt and ran\nok\n"), "{text}");
    assert!(scene.workspace().join("target/again").is_file());
}

#[tokio::test]
async fn a_private_loopback_works_inside_the_sandbox() {
    if !exec_supported("a_private_loopback_works_inside_the_sandbox") {
        return;
    }
    if which("python3").is_none() {
        eprintln!(
            "SKIPPED a_private_loopback_works_inside_the_sandbox: no python3 on this machine"
        );
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let script = "python3 -c \"
import socket
server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()
client = socket.create_connection(server.getsockname())
connection, _ = server.accept(); client.sendall(b'over loopback'); print(connection.recv(64).decode())
\"";
    let text = run_script(&tool, &scene.workspace(), script).await;
    assert!(text.ends_with("Output:\nover loopback\n"), "{text}");
}

/// The path of `program` in the host's PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|path| path.is_file())
}

/// Models write `bash -lc …`: a login shell, whose system profile resets PATH. The
/// directories the grant adds (a toolchain's `bin`) must still be found.
#[tokio::test]
async fn a_login_shell_keeps_the_granted_path() {
    if !exec_supported("a_login_shell_keeps_the_granted_path") {
        return;
    }
    let scene = Scene::new();
    let tools = tempfile::tempdir().unwrap();
    let bin = tools.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let program = bin.join("ossa-granted-tool");
    fs::write(&program, "#!/bin/sh\necho granted tool ran\n").unwrap();
    fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut grant = confined(30.0);
    grant.read.push(tools.path().to_path_buf());
    grant.path.push(bin.clone());
    let tool = exec_tool(grant).await;
    let args = json!({"command": ["bash", "-lc", "ossa-granted-tool"]});
    let text = tool
        .call(&args.to_string(), &scene.workspace())
        .await
        .unwrap()
        .text;
    assert_eq!(exit_code(&text), Some(0), "{text}");
    assert!(text.contains("granted tool ran"), "{text}");
}
