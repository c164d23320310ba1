#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa pull`, `--hf`, `ossa config`, `ossa completions` and `ossa man` as a user runs
//! them: the real binary against a fake Hugging Face Hub on 127.0.0.1 (via HF_ENDPOINT),
//! with the tiny gpt-oss GGUF as the model so loading it is real. Never the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ossa_fake_hub::{FakeFile, FakeHub, FakeRepo};
use ossa_tests::{copy_dir, fixtures};

use super::text;

const OSSA: &str = env!("CARGO_BIN_EXE_ossa");

const CONVERSATION: &str = r#"{"messages":[{"role":"user","content":"Say hello."}]}"#;

/// A temporary home: Hugging Face cache, config and data folders, and a workspace.
struct Home {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Home {
    fn new(hub: &FakeHub) -> Home {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &fixtures().join("workspaces/calc"),
            &dir.path().join("work"),
        )
        .unwrap();
        for sub in ["hf", "config", "data"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("conversation.json"), CONVERSATION).unwrap();
        Home {
            dir,
            endpoint: hub.url(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(OSSA);
        command
            .args(args)
            .current_dir(self.path("work"))
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HOME", self.path("hf"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache"),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for var in [
            "HF_TOKEN",
            "HF_HUB_OFFLINE",
            "HF_HUB_CACHE",
            "HUGGING_FACE_HUB_TOKEN",
            "OSSA_HOME",
        ] {
            command.env_remove(var);
        }
        for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("OSSA_") && k != "OSSA_LOG")
        {
            command.env_remove(var);
        }
        command
    }

    fn ossa(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn tiny_model() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = ossa_tiny_gguf::ensure(&ossa_tiny_gguf::Spec::tiny(), dir).unwrap();
    std::fs::read(path).unwrap()
}

/// A fake Hub with `ggml-org/tiny-GGUF` (the tiny model and a README).
fn hub_with_tiny_model() -> (FakeHub, FakeRepo) {
    let hub = FakeHub::start();
    let repo = FakeRepo::new(
        "ggml-org/tiny-GGUF",
        vec![
            FakeFile::regular("README.md", b"# tiny gpt-oss".to_vec()),
            FakeFile::lfs("tiny-mxfp4.gguf", tiny_model()),
        ],
    );
    hub.add_repo(repo.clone());
    (hub, repo)
}

#[test]
fn pull_then_complete_and_run_load_the_cached_model_offline() {
    let (hub, repo) = hub_with_tiny_model();
    let home = Home::new(&hub);

    let out = home.ossa(&["pull", "ggml-org/tiny-GGUF"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let snapshot = home
        .path("hf/hub/models--ggml-org--tiny-GGUF/snapshots")
        .join(&repo.commit)
        .join("tiny-mxfp4.gguf");
    assert_eq!(text(&out.stdout).trim(), snapshot.display().to_string());
    assert_eq!(std::fs::read(&snapshot).unwrap(), tiny_model());
    assert!(stderr.contains("ggml-org/tiny-GGUF: 1 file"), "{stderr}");

    // Offline, the cached model loads for real: `complete` generates from it.
    let out = home
        .command(&[
            "complete",
            home.path("conversation.json").to_str().unwrap(),
            "--hf",
            "ggml-org/tiny-GGUF:mxfp4",
            "--json",
            "--temperature",
            "0",
            "--max-tokens",
            "8",
            "--threads",
            "1",
            "--ctx-size",
            "4096",
        ])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}):\n{stderr}"));
    assert_eq!(
        report["backend"]["model_path"],
        snapshot.display().to_string()
    );
    assert!(!report["tokens"].as_array().unwrap().is_empty());
    let requests = hub.requests().len();

    // `run --hf` loads it too, and the transcript header records the sampling flags.
    let transcript = home.path("run.jsonl");
    let out = home.ossa(&[
        "run",
        "--hf",
        "ggml-org/tiny-GGUF",
        "--max-steps",
        "1",
        "--max-tokens",
        "16",
        "--threads",
        "1",
        "--ctx-size",
        "8192",
        "--temperature",
        "0.5",
        "--top-p",
        "0.9",
        "--min-p",
        "0.05",
        "--seed",
        "7",
        "--transcript",
        transcript.to_str().unwrap(),
        "Fix the failing test.",
    ]);
    let stderr = text(&out.stderr);
    // Random weights rarely end a turn, but sampled noise that stops is kept as an answer
    // through the noted recovery; either way the run loaded the cached model and took a step.
    match out.status.code() {
        Some(0) => assert!(
            stderr.contains("recovered from malformed output"),
            "random text is an answer only through the noted recovery:\n{stderr}"
        ),
        Some(3 | 4) => {}
        other => panic!("expected 0, 3 or 4, got {other:?}:\n{stderr}"),
    }
    assert!(stderr.contains("── step 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
    let header = recorded.header.as_ref().unwrap();
    assert_eq!(header.model.backend, "llama_cpp");
    assert_eq!(header.model.name, snapshot.display().to_string());
    assert_eq!(header.sampler.temperature, 0.5);
    assert_eq!(header.sampler.top_p, 0.9);
    assert_eq!(header.sampler.min_p, 0.05);
    assert_eq!(header.sampler.seed, Some(7));
    // Online, only the model info was asked again: the file came from the cache.
    let new: Vec<String> = hub.requests()[requests..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(new.iter().all(|p| p.starts_with("/api/models/")), "{new:?}");
}

#[test]
fn pull_resumes_a_broken_transfer_and_refuses_a_corrupt_file() {
    let (hub, _) = hub_with_tiny_model();
    hub.cut_transfer("tiny-mxfp4.gguf", 50_000, 1);
    let home = Home::new(&hub);
    let out = home.ossa(&["pull", "ggml-org/tiny-GGUF:tiny-mxfp4.gguf"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bodies = hub.body_requests("tiny-mxfp4.gguf");
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1].header("range"), Some("bytes=50000-"));
    assert_eq!(
        std::fs::read(text(&out.stdout).trim()).unwrap(),
        tiny_model()
    );

    hub.add_repo(FakeRepo::new(
        "o/corrupt",
        vec![FakeFile::lfs("m.gguf", tiny_model()).corrupt()],
    ));
    let out = home.ossa(&["pull", "o/corrupt"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("corrupt") && stderr.contains("sha256"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let blobs = home.path("hf/hub/models--o--corrupt/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!home.path("hf/hub/models--o--corrupt/snapshots").exists());
}

#[test]
fn pull_explains_missing_gated_and_offline_models() {
    let (hub, _) = hub_with_tiny_model();
    hub.add_repo(
        FakeRepo::new("o/gated", vec![FakeFile::lfs("g.gguf", b"x".to_vec())]).gated("hf_ok"),
    );
    let home = Home::new(&hub);

    let out = home.ossa(&["pull", "o/missing"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("o/missing was not found"), "{stderr}");

    let out = home.ossa(&["pull", "o/gated"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("gated") && stderr.contains("HF_TOKEN"),
        "{stderr}"
    );
    let out = home
        .command(&["pull", "o/gated"])
        .env("HF_TOKEN", "hf_ok")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let before = hub.requests().len();
    let out = home
        .command(&["pull", "ggml-org/tiny-GGUF"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("HF_HUB_OFFLINE") && stderr.contains("ossa pull ggml-org/tiny-GGUF"),
        "{stderr}"
    );
    assert_eq!(hub.requests().len(), before, "offline asks nothing");

    let out = home.ossa(&["pull", "not-a-repo"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("OWNER/NAME"));
}

#[test]
fn a_split_model_is_pulled_whole_and_completes_as_one() {
    let parts_dir = tempfile::tempdir().unwrap();
    let parts = ossa_tiny_gguf::write_split(
        &ossa_tiny_gguf::Spec::tiny(),
        parts_dir.path(),
        "tiny-mxfp4",
        3,
    )
    .unwrap();
    let hub = FakeHub::start();
    hub.add_repo(FakeRepo::new(
        "o/split-GGUF",
        parts
            .iter()
            .map(|p| {
                FakeFile::lfs(
                    &p.file_name().unwrap().to_string_lossy(),
                    std::fs::read(p).unwrap(),
                )
            })
            .collect(),
    ));
    let home = Home::new(&hub);
    let out = home.ossa(&["pull", "o/split-GGUF"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        text(&out.stdout)
            .trim()
            .ends_with("tiny-mxfp4-00001-of-00003.gguf"),
        "{}",
        text(&out.stdout)
    );
    assert!(stderr.contains("3 files"), "{stderr}");
    assert!(
        stderr.contains("tiny-mxfp4-00003-of-00003.gguf"),
        "{stderr}"
    );

    let out = home.ossa(&[
        "complete",
        home.path("conversation.json").to_str().unwrap(),
        "--hf",
        "o/split-GGUF",
        "--json",
        "--temperature",
        "0",
        "--max-tokens",
        "4",
        "--threads",
        "1",
        "--ctx-size",
        "2048",
    ]);
    let stderr = text(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}):\n{stderr}"));
    assert!(!report["tokens"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn config_show_explains_every_setting_and_a_workspace_cannot_widen_grants() {
    let hub = FakeHub::start();
    let home = Home::new(&hub);
    std::fs::create_dir_all(home.path("config/ossa")).unwrap();
    std::fs::write(
        home.path("config/ossa/config.toml"),
        "[model]\nhf = \"ggml-org/gpt-oss-20b-GGUF\"\n\n[sampling]\ntop_p = 0.95\n",
    )
    .unwrap();
    std::fs::create_dir_all(home.path("work/.ossa")).unwrap();
    std::fs::write(
        home.path("work/.ossa/config.toml"),
        "[agent]\nreasoning = \"high\"\n\n[tools.exec]\nallow = true\nnet = true\n",
    )
    .unwrap();

    let out = home
        .command(&["config", "show", "--temperature", "0.3"])
        .env("OSSA_MAX_STEPS", "9")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = |start: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start}:\n{shown}"))
            .to_string()
    };
    assert!(
        line("temperature = 0.3").ends_with("# flag --temperature"),
        "{shown}"
    );
    assert!(
        line("max_steps = 9").ends_with("# environment OSSA_MAX_STEPS"),
        "{shown}"
    );
    assert!(
        line("reasoning = \"high\"").contains("# workspace config "),
        "{shown}"
    );
    assert!(line("top_p = 0.95").contains("# user config "), "{shown}");
    assert!(
        line("hf = \"ggml-org/gpt-oss-20b-GGUF\"").contains(":2"),
        "{shown}"
    );
    assert!(line("min_p = 0.0").ends_with("# default"), "{shown}");
    assert!(line("allow = false").ends_with("# default"), "{shown}");
    assert!(line("net = false").ends_with("# default"), "{shown}");
    assert!(shown.contains("# warning: workspace config"), "{shown}");
    assert!(shown.contains("can only narrow"), "{shown}");

    // A bad value names the file, the line and what is allowed.
    std::fs::write(
        home.path("work/.ossa/config.toml"),
        "[agent]\nreasoning = \"high\"\nmax_step = 3\n",
    )
    .unwrap();
    let out = home.ossa(&["config", "show"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(".ossa/config.toml:3") && stderr.contains("`max_steps`"),
        "{stderr}"
    );
    // The same error stops a run before anything else happens.
    let out = home.ossa(&["run", "--replay", "missing.jsonl", "task"]);
    assert!(
        text(&out.stderr).contains(".ossa/config.toml:3"),
        "{}",
        text(&out.stderr)
    );

    let out = home.ossa(&["config", "paths"]);
    let paths = text(&out.stdout);
    assert!(paths.contains("config/ossa/config.toml"), "{paths}");
}

#[test]
fn without_a_model_anywhere_the_error_says_how_to_get_one() {
    let hub = FakeHub::start();
    let home = Home::new(&hub);
    let out = home.ossa(&["run", "fix it"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains("--hf ggml-org/gpt-oss-20b-GGUF") && stderr.contains("config"),
        "{stderr}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let hub = FakeHub::start();
    let home = Home::new(&hub);
    let help = text(&home.ossa(&["--help"]).stdout);
    let subcommands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(
        subcommands.contains(&"pull") && subcommands.contains(&"config"),
        "{help}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let out = home.ossa(&["completions", shell]);
        assert!(out.status.success());
        let script = text(&out.stdout);
        for name in &subcommands {
            assert!(script.contains(name), "{shell} completion lacks {name}");
        }
    }
    let out = home.ossa(&["man"]);
    let page = text(&out.stdout);
    assert!(page.contains(".TH ossa 1"), "{page}");
    let dir = home.path("man");
    let out = home.ossa(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in &subcommands {
        assert!(
            dir.join(format!("ossa-{name}.1")).is_file(),
            "no page for {name}"
        );
    }
}
