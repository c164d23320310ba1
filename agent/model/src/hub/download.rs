//! Downloads one file into the cache: resumable, checked, never half-written.
//!
//! The bytes go to `blobs/NAME.incomplete`. An interrupted transfer (a dropped
//! connection, a killed process) leaves that file, and the next attempt asks only for the
//! rest (`Range: bytes=N-`). When the length is complete the sha256 of the whole file is
//! compared with the LFS sha256 from the API: on a match the file is renamed to
//! `blobs/NAME` (atomic) and linked from the snapshot; on a mismatch it is deleted and the
//! error says so. Two processes downloading the same blob take turns through a lock file.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::api::{RepoFile, authorized, error_for, url};
use super::cache::RepoCache;
use super::{HubError, HubOptions, Progress, RepoId};

/// Where one download stands: what is on disk and the hash of exactly those bytes.
struct Partial {
    path: PathBuf,
    len: u64,
    hasher: Sha256,
}

impl Partial {
    /// Opens the `.incomplete` file (creating it) and hashes what it already holds.
    async fn open(path: &Path) -> Result<Partial, HubError> {
        let task_path = path.to_path_buf();
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let io_err = |action, source| HubError::Io {
                action,
                path: path.clone(),
                source,
            };
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(|e| io_err("create", e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut len = 0u64;
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        len += n as u64;
                    }
                    Err(e) => return Err(io_err("read", e)),
                }
            }
            Ok(Partial { path, len, hasher })
        })
        .await
        .map_err(|e| HubError::Io {
            action: "hash",
            path: task_path,
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// Drops what is on disk and starts over.
    fn restart(&mut self) -> Result<(), HubError> {
        File::create(&self.path).map_err(|source| HubError::Io {
            action: "truncate",
            path: self.path.clone(),
            source,
        })?;
        self.len = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why one attempt stopped short.
enum Stop {
    /// Worth another attempt (a dropped connection, a server error): resume.
    Retry(HubError),
    /// Not worth retrying.
    Fail(HubError),
}

/// Makes sure `file` of `repo` at `commit` is in the cache and linked from the snapshot;
/// returns the snapshot path. Bytes already in the cache are not fetched again.
pub(crate) async fn fetch_file(
    client: &reqwest::Client,
    options: &HubOptions,
    cache: &RepoCache,
    repo: &RepoId,
    commit: &str,
    file: &RepoFile,
    progress: &mut dyn Progress,
) -> Result<PathBuf, HubError> {
    let Some(blob_name) = file.sha256.clone().or_else(|| file.blob_id.clone()) else {
        return Err(HubError::Protocol {
            url: options.endpoint.clone(),
            reason: format!("the Hub gave no sha256 or blob id for '{}'", file.path),
        });
    };
    let blob = cache.blob(&blob_name);
    if blob_is_complete(&blob, file.size) {
        return cache.link(commit, &file.path, &blob_name);
    }
    let _lock = lock(&cache.lock_file(&blob_name)).await?;
    // Another process may have finished it while we waited.
    if blob_is_complete(&blob, file.size) {
        return cache.link(commit, &file.path, &blob_name);
    }
    let incomplete = cache.incomplete(&blob_name);
    if let Some(parent) = incomplete.parent() {
        std::fs::create_dir_all(parent).map_err(|source| HubError::Io {
            action: "create",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let mut segments = vec![repo.owner(), repo.name(), "resolve", commit];
    segments.extend(file.path.split('/'));
    let url = url(&options.endpoint, &segments)?;

    let mut partial = Partial::open(&incomplete).await?;
    let mut attempt = 0;
    loop {
        match transfer(client, options, repo, &url, file, &mut partial, progress).await {
            Ok(()) => break,
            Err(Stop::Retry(err)) if attempt < options.retries => {
                tracing::warn!("{err}; retrying ({} of {})", attempt + 1, options.retries);
                tokio::time::sleep(options.retry_delay * 2u32.saturating_pow(attempt)).await;
                attempt += 1;
            }
            Err(Stop::Retry(err) | Stop::Fail(err)) => return Err(err),
        }
    }

    let actual = hex(&partial.hasher.clone().finalize());
    if let Some(expected) = &file.size
        && *expected != partial.len
    {
        partial.remove();
        return Err(HubError::SizeMismatch {
            file: file.path.clone(),
            expected: *expected,
            actual: partial.len,
        });
    }
    if let Some(expected) = &file.sha256
        && *expected != actual
    {
        partial.remove();
        return Err(HubError::Checksum {
            file: file.path.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    std::fs::rename(&partial.path, &blob).map_err(|source| HubError::Io {
        action: "move the finished download to",
        path: blob.clone(),
        source,
    })?;
    cache.link(commit, &file.path, &blob_name)
}

/// One request for the bytes `partial` lacks, appended to it as they arrive.
async fn transfer(
    client: &reqwest::Client,
    options: &HubOptions,
    repo: &RepoId,
    url: &reqwest::Url,
    file: &RepoFile,
    partial: &mut Partial,
    progress: &mut dyn Progress,
) -> Result<(), Stop> {
    let fail = |err| Stop::Fail(err);
    if file.size.is_some_and(|size| partial.len > size) {
        partial.restart().map_err(fail)?;
    }
    if file.size == Some(partial.len) && partial.len > 0 {
        return Ok(());
    }
    let mut request = authorized(client.get(url.clone()), options);
    if partial.len > 0 {
        request = request.header(RANGE, format!("bytes={}-", partial.len));
    }
    let response = request
        .send()
        .await
        .map_err(|err| Stop::Retry(HubError::network(url, err)))?;
    match response.status() {
        StatusCode::PARTIAL_CONTENT => {
            let start = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(partial.len) {
                partial.restart().map_err(fail)?;
                return Err(Stop::Retry(HubError::Protocol {
                    url: url.to_string(),
                    reason: "the server resumed at another offset than asked".into(),
                }));
            }
        }
        StatusCode::OK => {
            // The server ignored the range: take the whole file again.
            if partial.len > 0 {
                partial.restart().map_err(fail)?;
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            partial.restart().map_err(fail)?;
            return Err(Stop::Retry(HubError::Protocol {
                url: url.to_string(),
                reason: "the partial download is longer than the file on the server".into(),
            }));
        }
        status => {
            let retry = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
            let err = error_for(response, options, repo, Some(&file.path)).await;
            return Err(if retry {
                Stop::Retry(err)
            } else {
                Stop::Fail(err)
            });
        }
    }

    let out = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&partial.path)
        .await
        .map_err(|source| {
            fail(HubError::Io {
                action: "open",
                path: partial.path.clone(),
                source,
            })
        })?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, out);
    let write_err = |path: &Path, source| {
        Stop::Fail(HubError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    };
    progress.start(&file.path, file.size, partial.len);
    let mut response = response;
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                if let Err(err) = out.write_all(&bytes).await {
                    break Err(write_err(&partial.path, err));
                }
                partial.hasher.update(&bytes);
                partial.len += bytes.len() as u64;
                progress.advance(bytes.len() as u64);
            }
            Ok(None) => break Ok(()),
            Err(err) => {
                break Err(Stop::Retry(HubError::Interrupted {
                    file: file.path.clone(),
                    received: partial.len,
                    reason: err.to_string(),
                }));
            }
        }
    };
    progress.finish();
    // Whatever arrived is kept for the next attempt, even when this one failed.
    if let Err(err) = out.flush().await {
        return Err(write_err(&partial.path, err));
    }
    if let Err(err) = out.get_ref().sync_all().await {
        return Err(write_err(&partial.path, err));
    }
    outcome?;
    match file.size {
        Some(size) if partial.len < size => Err(Stop::Retry(HubError::Interrupted {
            file: file.path.clone(),
            received: partial.len,
            reason: format!("the server sent {} of {size} bytes", partial.len),
        })),
        _ => Ok(()),
    }
}

fn blob_is_complete(blob: &Path, size: Option<u64>) -> bool {
    match std::fs::metadata(blob) {
        Ok(meta) => meta.is_file() && size.is_none_or(|size| meta.len() == size),
        Err(_) => false,
    }
}

/// An exclusive lock on `path` (created), held until the returned file is dropped.
async fn lock(path: &Path) -> Result<File, HubError> {
    let io_err = |source| HubError::Io {
        action: "lock",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err)?;
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !announced {
                    tracing::warn!(
                        "another process is downloading the same file ({}); waiting for it",
                        path.display()
                    );
                    announced = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io_err(err)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
