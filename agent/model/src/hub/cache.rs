//! The Hub's cache layout, shared with `huggingface_hub`, llama.cpp and other tools:
//!
//! ```text
//! $HF_HUB_CACHE/                       (default $HF_HOME/hub, ~/.cache/huggingface/hub)
//!   models--OWNER--NAME/
//!     blobs/SHA256                     the content, named by its LFS sha256
//!     blobs/SHA256.incomplete          a download in progress (resumed from its length)
//!     snapshots/COMMIT/PATH            relative symlink to ../../blobs/SHA256
//!     refs/main                        the commit `main` pointed to at the last download
//!   .locks/models--OWNER--NAME/SHA256.lock
//! ```

use std::io;
use std::path::{Component, Path, PathBuf};

use super::{HubError, RepoId};

/// One repository's folder in the cache.
#[derive(Debug, Clone)]
pub(crate) struct RepoCache {
    root: PathBuf,
    folder: String,
}

impl RepoCache {
    pub fn new(root: &Path, repo: &RepoId) -> RepoCache {
        RepoCache {
            root: root.to_path_buf(),
            folder: repo.cache_folder(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.folder)
    }

    pub fn blob(&self, name: &str) -> PathBuf {
        self.dir().join("blobs").join(name)
    }

    pub fn incomplete(&self, name: &str) -> PathBuf {
        self.dir().join("blobs").join(format!("{name}.incomplete"))
    }

    pub fn lock_file(&self, name: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(&self.folder)
            .join(format!("{name}.lock"))
    }

    pub fn snapshot(&self, commit: &str, path: &str) -> PathBuf {
        let mut full = self.dir().join("snapshots").join(commit);
        full.extend(path.split('/'));
        full
    }

    /// The commit `refs/REVISION` names, if it is there and well-formed.
    pub fn read_ref(&self, revision: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir().join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Records that `revision` points to `commit` (atomically).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<(), HubError> {
        let refs = self.dir().join("refs");
        let path = refs.join(revision);
        let tmp = refs.join(format!(".{revision}.{}.tmp", std::process::id()));
        std::fs::create_dir_all(&refs)
            .and_then(|()| std::fs::write(&tmp, commit))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| HubError::Io {
                action: "write",
                path,
                source,
            })
    }

    /// Points `snapshots/COMMIT/PATH` at `blobs/NAME` and returns the snapshot path.
    pub fn link(&self, commit: &str, path: &str, blob_name: &str) -> Result<PathBuf, HubError> {
        let link = self.snapshot(commit, path);
        let io_err = |action, source| HubError::Io {
            action,
            path: link.clone(),
            source,
        };
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err("create the folder of", e))?;
        }
        // From snapshots/COMMIT/DIR…/FILE up to the repository folder, then into blobs/.
        let depth = path.split('/').count() + 1;
        let target: PathBuf = std::iter::repeat_n(Path::new(".."), depth)
            .collect::<PathBuf>()
            .join("blobs")
            .join(blob_name);
        match std::fs::read_link(&link) {
            Ok(existing) if existing == target => return Ok(link),
            Ok(_) => std::fs::remove_file(&link).map_err(|e| io_err("replace", e))?,
            Err(_) if link.exists() => {
                std::fs::remove_file(&link).map_err(|e| io_err("replace", e))?
            }
            Err(_) => {}
        }
        make_link(&target, &self.blob(blob_name), &link).map_err(|e| io_err("link", e))?;
        Ok(link)
    }

    /// The files of a cached snapshot whose content is there, as repository paths.
    pub fn snapshot_files(&self, commit: &str) -> Vec<String> {
        let root = self.dir().join("snapshots").join(commit);
        let mut found = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(path);
                } else if path.is_file() {
                    // `is_file` follows the link: a dangling one (blob deleted) is skipped.
                    if let Ok(relative) = path.strip_prefix(&root) {
                        let parts: Vec<String> = relative
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        found.push(parts.join("/"));
                    }
                }
            }
        }
        found.sort();
        found
    }
}

#[cfg(unix)]
fn make_link(target: &Path, _blob: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Where symbolic links need privileges, the blob is copied (as `huggingface_hub` does).
#[cfg(not(unix))]
fn make_link(_target: &Path, blob: &Path, link: &Path) -> io::Result<()> {
    std::fs::copy(blob, link).map(|_| ())
}

/// A git commit id: 40 lower-case hex digits.
pub(crate) fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A sha256 in hex: 64 lower-case hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A repository file path that stays inside the snapshot folder: relative, `/`-separated
/// names, none of them empty, `.` or `..`.
pub(crate) fn is_safe_repo_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_huggingface_hub() {
        let dir = tempfile::tempdir().unwrap();
        let repo: RepoId = "ggml-org/gpt-oss-20b-GGUF".parse().unwrap();
        let cache = RepoCache::new(dir.path(), &repo);
        let sha = "a".repeat(64);
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(cache.blob(&sha).parent().unwrap()).unwrap();
        std::fs::write(cache.blob(&sha), b"weights").unwrap();

        let link = cache.link(commit, "sub/m.gguf", &sha).unwrap();
        assert_eq!(
            link,
            dir.path()
                .join("models--ggml-org--gpt-oss-20b-GGUF/snapshots")
                .join(commit)
                .join("sub/m.gguf")
        );
        assert_eq!(std::fs::read(&link).unwrap(), b"weights");
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../../../blobs").join(&sha)
        );
        // Linking again is a no-op.
        cache.link(commit, "sub/m.gguf", &sha).unwrap();

        cache.write_ref("main", commit).unwrap();
        assert_eq!(cache.read_ref("main").as_deref(), Some(commit));
        assert_eq!(
            std::fs::read_to_string(cache.dir().join("refs/main")).unwrap(),
            commit
        );
        assert_eq!(cache.snapshot_files(commit), ["sub/m.gguf"]);

        // A dangling link (blob removed) is not a cached file.
        std::fs::remove_file(cache.blob(&sha)).unwrap();
        assert!(cache.snapshot_files(commit).is_empty());
    }

    #[test]
    fn unsafe_paths_and_ids_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
        ] {
            assert!(!is_safe_repo_path(bad), "{bad}");
        }
        assert!(is_safe_repo_path("BF16/m-00001-of-00002.gguf"));
        assert!(is_sha256(&"0f".repeat(32)));
        assert!(!is_sha256(&"0F".repeat(32)));
        assert!(!is_commit("main"));
    }
}
