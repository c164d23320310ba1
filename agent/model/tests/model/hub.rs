#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Hub client against a fake Hub on 127.0.0.1 (`ossa-fake-hub`): the cache layout,
//! progress, resume after a broken transfer and after a killed process, checksums,
//! missing and gated repositories, offline mode, and a split model fetched whole and
//! loaded as one. Never the real network.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ossa_fake_hub::{FakeFile, FakeHub, FakeRepo};
use ossa_model::hub::{Hub, HubError, HubOptions, HubRef, NoProgress, Progress};
use ossa_model::{Backend, GenerateRequest, LlamaCppBackend, SamplerSettings};

/// What a download reported.
#[derive(Debug, Default)]
struct Recorded {
    /// (file, total, already on disk) per transfer.
    starts: Vec<(String, Option<u64>, u64)>,
    /// Bytes reported per transfer.
    advanced: Vec<u64>,
    finished: usize,
}

impl Progress for Recorded {
    fn start(&mut self, file: &str, total: Option<u64>, done: u64) {
        self.starts.push((file.to_string(), total, done));
        self.advanced.push(0);
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(last) = self.advanced.last_mut() {
            *last += bytes;
        }
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

fn options(hub: &FakeHub, cache: &Path) -> HubOptions {
    HubOptions {
        endpoint: hub.url(),
        token: None,
        cache_dir: cache.to_path_buf(),
        offline: false,
        retries: 0,
        retry_delay: Duration::ZERO,
    }
}

fn tiny_bytes() -> Vec<u8> {
    std::fs::read(common::tiny_model_path()).unwrap()
}

fn reference(text: &str) -> HubRef {
    text.parse().unwrap()
}

/// Every file under `dir`, relative, sorted (to see exactly what the cache holds).
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn pulls_into_the_shared_cache_layout_with_progress_and_reuses_it() {
    let server = FakeHub::start();
    let model = FakeFile::lfs("gpt-oss-tiny-mxfp4.gguf", tiny_bytes());
    let sha = model.sha256();
    let size = model.data.len() as u64;
    let repo = FakeRepo::new(
        "ggml-org/tiny-GGUF",
        vec![FakeFile::regular("README.md", b"# tiny".to_vec()), model],
    );
    let commit = repo.commit.clone();
    server.add_repo(repo);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(options(&server, cache.path())).unwrap();

    let mut progress = Recorded::default();
    let pulled = hub
        .pull(&reference("ggml-org/tiny-GGUF"), &mut progress)
        .await
        .unwrap();
    let repo_dir = cache.path().join("models--ggml-org--tiny-GGUF");
    let snapshot = repo_dir
        .join("snapshots")
        .join(&commit)
        .join("gpt-oss-tiny-mxfp4.gguf");
    assert_eq!(pulled.files, std::slice::from_ref(&snapshot));
    assert_eq!(pulled.model_path(), snapshot);
    assert_eq!(pulled.commit, commit);
    assert!(!pulled.from_cache_only);
    assert_eq!(std::fs::read(&snapshot).unwrap(), tiny_bytes());
    assert_eq!(
        std::fs::read_link(&snapshot).unwrap(),
        Path::new("../../blobs").join(&sha)
    );
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    // Only the model was fetched (not the README), and nothing is left half-done.
    assert_eq!(
        tree(&repo_dir),
        [
            format!("blobs/{sha}"),
            "refs/main".to_string(),
            format!("snapshots/{commit}/gpt-oss-tiny-mxfp4.gguf"),
        ]
    );
    assert_eq!(
        progress.starts,
        [("gpt-oss-tiny-mxfp4.gguf".to_string(), Some(size), 0)]
    );
    assert_eq!(progress.advanced, [size]);
    assert_eq!(progress.finished, 1);

    // The second pull finds everything in the cache: no file body is requested again.
    let mut progress = Recorded::default();
    let again = hub
        .pull(&reference("ggml-org/tiny-GGUF:MXFP4"), &mut progress)
        .await
        .unwrap();
    assert_eq!(again.files, pulled.files);
    assert!(progress.starts.is_empty());
    assert_eq!(server.body_requests("gpt-oss-tiny-mxfp4.gguf").len(), 1);
}

#[tokio::test]
async fn a_broken_transfer_resumes_with_a_range_request() {
    let server = FakeHub::start();
    let model = FakeFile::lfs("m.gguf", tiny_bytes());
    let size = model.data.len() as u64;
    server.add_repo(FakeRepo::new("o/r", vec![model]));
    server.cut_transfer("m.gguf", 100_000, 1);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(HubOptions {
        retries: 2,
        ..options(&server, cache.path())
    })
    .unwrap();

    let mut progress = Recorded::default();
    let pulled = hub.pull(&reference("o/r"), &mut progress).await.unwrap();
    assert_eq!(std::fs::read(pulled.model_path()).unwrap(), tiny_bytes());
    let bodies = server.body_requests("m.gguf");
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0].header("range"), None);
    assert_eq!(bodies[1].header("range"), Some("bytes=100000-"));
    assert_eq!(
        progress.starts,
        [
            ("m.gguf".to_string(), Some(size), 0),
            ("m.gguf".to_string(), Some(size), 100_000)
        ]
    );
    assert_eq!(progress.advanced, [100_000, size - 100_000]);
}

#[tokio::test]
async fn a_download_left_by_a_killed_process_is_resumed_not_restarted() {
    let server = FakeHub::start();
    let model = FakeFile::lfs("m.gguf", tiny_bytes());
    let sha = model.sha256();
    server.add_repo(FakeRepo::new("o/r", vec![model]));
    server.cut_transfer("m.gguf", 65_536, 1);
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(options(&server, cache.path())).unwrap();

    // No retries: the broken transfer is reported, and its bytes kept.
    let err = hub
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Interrupted {
                received: 65_536,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("run the command again to resume"),
        "{err}"
    );
    let repo_dir = cache.path().join("models--o--r");
    let incomplete = repo_dir.join(format!("blobs/{sha}.incomplete"));
    assert_eq!(std::fs::metadata(&incomplete).unwrap().len(), 65_536);
    assert!(!repo_dir.join("snapshots").exists(), "nothing linked yet");

    let pulled = hub.pull(&reference("o/r"), &mut NoProgress).await.unwrap();
    assert_eq!(std::fs::read(pulled.model_path()).unwrap(), tiny_bytes());
    let bodies = server.body_requests("m.gguf");
    assert_eq!(bodies.last().unwrap().header("range"), Some("bytes=65536-"));
    assert!(!incomplete.exists());
}

#[tokio::test]
async fn a_corrupt_download_is_refused_and_nothing_is_kept() {
    let server = FakeHub::start();
    let model = FakeFile::lfs("m.gguf", tiny_bytes()).corrupt();
    let sha = model.sha256();
    server.add_repo(FakeRepo::new("o/r", vec![model]));
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(options(&server, cache.path())).unwrap();

    let err = hub
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap_err();
    match &err {
        HubError::Checksum {
            file,
            expected,
            actual,
        } => {
            assert_eq!(file, "m.gguf");
            assert_eq!(expected, &sha);
            assert_ne!(actual, &sha);
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(err.to_string().contains("corrupt"), "{err}");
    let repo_dir = cache.path().join("models--o--r");
    let left: Vec<String> = tree(&repo_dir)
        .into_iter()
        .filter(|f| !f.starts_with("refs"))
        .collect();
    assert!(left.is_empty(), "left in the cache: {left:?}");
}

#[tokio::test]
async fn missing_repositories_and_unmatched_quants_say_what_exists() {
    let server = FakeHub::start();
    server.add_repo(FakeRepo::new(
        "o/r",
        vec![
            FakeFile::lfs("m-Q4_K_M.gguf", b"a".to_vec()),
            FakeFile::lfs("m-Q8_0.gguf", b"b".to_vec()),
        ],
    ));
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(options(&server, cache.path())).unwrap();

    let err = hub
        .pull(&reference("o/missing"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::RepoNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("o/missing") && text.contains("HF_TOKEN"),
        "{text}"
    );

    let err = hub
        .pull(&reference("o/r:Q5_K_M"), &mut NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m-Q4_K_M.gguf") && err.contains("m-Q8_0.gguf"),
        "{err}"
    );
    let err = hub
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("several models"), "{err}");
    let pulled = hub
        .pull(&reference("o/r:q8_0"), &mut NoProgress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(pulled.model_path()).unwrap(), b"b");
}

#[tokio::test]
async fn a_gated_repository_needs_a_token_with_access() {
    let server = FakeHub::start();
    server.add_repo(
        FakeRepo::new(
            "o/gated",
            vec![FakeFile::lfs("m.gguf", b"weights".to_vec())],
        )
        .gated("hf_good"),
    );
    let cache = tempfile::tempdir().unwrap();

    let anonymous = Hub::new(options(&server, cache.path())).unwrap();
    let err = anonymous
        .pull(&reference("o/gated"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Gated {
                authenticated: false,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}/o/gated", server.url())) && text.contains("HF_TOKEN"),
        "{text}"
    );

    let wrong = Hub::new(HubOptions {
        token: Some("hf_bad".into()),
        ..options(&server, cache.path())
    })
    .unwrap();
    let err = wrong
        .pull(&reference("o/gated"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Gated {
                authenticated: true,
                ..
            }
        ),
        "{err}"
    );

    let good = Hub::new(HubOptions {
        token: Some("hf_good".into()),
        ..options(&server, cache.path())
    })
    .unwrap();
    let pulled = good
        .pull(&reference("o/gated"), &mut NoProgress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(pulled.model_path()).unwrap(), b"weights");
    let last_resolve = server
        .requests()
        .into_iter()
        .rfind(|r| r.path.contains("/resolve/"))
        .unwrap();
    assert_eq!(last_resolve.header("authorization"), Some("Bearer hf_good"));
}

#[tokio::test]
async fn offline_mode_uses_the_cache_and_says_when_it_cannot() {
    let server = FakeHub::start();
    server.add_repo(FakeRepo::new(
        "o/r",
        vec![FakeFile::lfs("m-mxfp4.gguf", b"weights".to_vec())],
    ));
    let cache = tempfile::tempdir().unwrap();
    let offline = Hub::new(HubOptions {
        offline: true,
        ..options(&server, cache.path())
    })
    .unwrap();

    // Not cached: a clear error, and the Hub is not asked.
    let err = offline
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("HF_HUB_OFFLINE") && text.contains("ossa pull o/r"),
        "{text}"
    );
    assert!(server.requests().is_empty());

    let online = Hub::new(options(&server, cache.path())).unwrap();
    let pulled = online
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap();
    let before = server.requests().len();

    // Cached: offline finds it without a request.
    let cached = offline
        .pull(&reference("o/r:mxfp4"), &mut NoProgress)
        .await
        .unwrap();
    assert_eq!(cached.files, pulled.files);
    assert!(cached.from_cache_only);
    assert_eq!(server.requests().len(), before);
    // A quant the cache does not hold is still an offline error.
    let err = offline
        .pull(&reference("o/r:Q8_0"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");

    // An unreachable Hub falls back to the cache too.
    let unreachable = Hub::new(HubOptions {
        endpoint: closed_port_url(),
        ..options(&server, cache.path())
    })
    .unwrap();
    let fallback = unreachable
        .pull(&reference("o/r"), &mut NoProgress)
        .await
        .unwrap();
    assert_eq!(fallback.files, pulled.files);
    assert!(fallback.from_cache_only);
    let err = unreachable
        .pull(&reference("o/other"), &mut NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err}");
}

/// A URL on which nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_split_model_is_fetched_whole_and_loads_as_one_model() {
    let parts_dir = tempfile::tempdir().unwrap();
    let spec = ossa_tiny_gguf::Spec::tiny();
    let parts = ossa_tiny_gguf::write_split(&spec, parts_dir.path(), "tiny-mxfp4", 3).unwrap();
    let server = FakeHub::start();
    let files = parts
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            FakeFile::lfs(&name, std::fs::read(p).unwrap())
        })
        .collect();
    server.add_repo(FakeRepo::new("o/split", files));
    let cache = tempfile::tempdir().unwrap();
    let hub = Hub::new(options(&server, cache.path())).unwrap();

    let mut progress = Recorded::default();
    let pulled = hub
        .pull(&reference("o/split:mxfp4"), &mut progress)
        .await
        .unwrap();
    let names: Vec<String> = pulled
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "tiny-mxfp4-00001-of-00003.gguf",
            "tiny-mxfp4-00002-of-00003.gguf",
            "tiny-mxfp4-00003-of-00003.gguf"
        ]
    );
    assert_eq!(progress.starts.len(), 3);

    // Loaded from the first part, the split model is the same model as the whole file.
    let split_tokens = greedy_tokens(pulled.model_path()).await;
    let whole_tokens = greedy_tokens(&common::tiny_model_path()).await;
    assert_eq!(split_tokens, whole_tokens);
    assert!(!split_tokens.is_empty());
}

async fn greedy_tokens(path: &Path) -> Vec<u32> {
    let path: PathBuf = path.to_path_buf();
    let backend = tokio::task::spawn_blocking(move || {
        LlamaCppBackend::load(&path, &common::test_options()).unwrap()
    })
    .await
    .unwrap();
    let prompt = common::prompt(backend.tokenizer(), "Say hello.");
    let request = GenerateRequest {
        sampler: SamplerSettings::greedy(),
        max_new_tokens: 12,
        ..GenerateRequest::new(&prompt)
    };
    backend
        .generate(&request, &mut |_| {})
        .await
        .unwrap()
        .tokens
}
