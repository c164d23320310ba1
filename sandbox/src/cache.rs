//! Compiled components and modules on disk, so a tool (or the sandboxed CPython) is
//! compiled once per wasmtime build and CPU, not once per process.
//!
//! An artifact is native code that wasmtime maps and runs without checks, so only
//! artifacts this harness wrote are ever loaded: they live in a directory the harness
//! creates with mode 0700 (and that policies may not mount), are written to a temporary
//! name and renamed into place complete, and are named by the SHA-256 of the component
//! plus the engine's compatibility hash (wasmtime version, compiler settings, CPU
//! features). On Unix the directory and file must belong to the current user and not be
//! writable by others before anything is loaded.
//!
//! Each upgrade of ossa or wasmtime leaves the previous artifacts behind, so the cache
//! prunes itself whenever it compiles something new: artifacts not used for
//! [`UNUSED_FOR`] go, with their tool descriptions and any temporary file left by a
//! crash. A load marks its artifact as used (its modification time, at most daily).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// How long an artifact may go unused before a compilation prunes it.
pub(crate) const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How often a load refreshes its artifact's modification time.
const USE_MARK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Where a host keeps its compiled components.
#[derive(Debug)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Hex digest of the engine's precompile-compatibility hash.
    engine_key: String,
}

/// Why an artifact could not be produced or loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("cannot use the artifact cache {}: {message}", dir.display())]
    Directory { dir: PathBuf, message: String },
    #[error("cannot compile the WebAssembly code: {0}")]
    Compile(String),
    #[error("cannot write the compiled component to {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Feeds `Hash` output into SHA-256, giving a digest that is stable across processes
/// (unlike `DefaultHasher`).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ArtifactCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        create_private_dir(dir)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_key,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// Where the tool's description is cached (it does not depend on the engine).
    pub(crate) fn info_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.info.json"))
    }

    /// The compiled component: loaded from the cache when a trusted artifact exists,
    /// otherwise compiled, stored, and loaded from the stored file.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> Result<(Component, bool), CacheError> {
        self.load_or_compile_with(
            sha256,
            || engine.precompile_component(wasm),
            // SAFETY: see `load_trusted`.
            |path| unsafe { Component::deserialize_file(engine, path) },
        )
    }

    /// [`ArtifactCache::load_or_compile`] for a core module whose digest is known
    /// without reading it: `read_wasm` is called only when the module must be compiled
    /// (a large module then costs nothing to look up).
    pub(crate) fn load_or_compile_module(
        &self,
        engine: &Engine,
        sha256: &str,
        read_wasm: impl FnOnce() -> Result<Vec<u8>, String>,
    ) -> Result<(Module, bool), CacheError> {
        self.load_or_compile_with(
            sha256,
            || {
                let wasm = read_wasm().map_err(wasmtime::Error::msg)?;
                engine.precompile_module(&wasm)
            },
            // SAFETY: see `load_trusted`.
            |path| unsafe { Module::deserialize_file(engine, path) },
        )
    }

    /// Loads the artifact of `sha256` with `deserialize` when a trusted one exists,
    /// otherwise compiles it with `compile`, stores it, and loads the stored file.
    ///
    /// # Safety contract
    /// `deserialize` must be `Component::deserialize_file` or `Module::deserialize_file`
    /// with this cache's engine; it is only given paths [`ArtifactCache::load_trusted`]
    /// checked.
    fn load_or_compile_with<T>(
        &self,
        sha256: &str,
        compile: impl FnOnce() -> wasmtime::Result<Vec<u8>>,
        deserialize: impl Fn(&Path) -> wasmtime::Result<T>,
    ) -> Result<(T, bool), CacheError> {
        let path = self.artifact_path(sha256);
        if path.is_file() {
            match self.load_trusted(&path, &deserialize) {
                Ok(loaded) => {
                    mark_used(&path);
                    return Ok((loaded, true));
                }
                Err(reason) => {
                    tracing::warn!(artifact = %path.display(), %reason, "recompiling a cached artifact")
                }
            }
        }
        let compiled = compile().map_err(|err| CacheError::Compile(format!("{err:#}")))?;
        write_atomically(&path, &compiled)?;
        drop(compiled);
        prune(&self.dir, SystemTime::now() - UNUSED_FOR);
        // Load what was just written: the code is then mapped from the file rather than
        // kept in a second copy.
        let loaded = self
            .load_trusted(&path, &deserialize)
            .map_err(CacheError::Compile)?;
        Ok((loaded, false))
    }

    fn load_trusted<T>(
        &self,
        path: &Path,
        deserialize: &impl Fn(&Path) -> wasmtime::Result<T>,
    ) -> Result<T, String> {
        check_private(&self.dir)?;
        check_private(path)?;
        // The file is an artifact this harness compiled with an engine of the same
        // compatibility hash (the name says so) and wrote atomically into a directory that
        // only the current user can write (checked just above) and that no tool policy
        // can mount. wasmtime still checks the header and engine compatibility. This is
        // what makes the `deserialize_file` calls above sound.
        deserialize(path).map_err(|err| format!("{err:#}"))
    }

    /// Writes `bytes` to `path` in the cache atomically.
    pub(crate) fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        write_atomically(path, bytes)
    }
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    let error = |message: String| CacheError::Directory {
        dir: dir.to_path_buf(),
        message,
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|err| error(err.to_string()))?;
    check_private(dir).map_err(error)
}

/// Refuses symlinks, and on Unix files and directories that someone else could have
/// written.
pub(crate) fn check_private(path: &Path) -> Result<(), String> {
    let metadata =
        fs::symlink_metadata(path).map_err(|err| format!("{}: {err}", path.display()))?;
    if metadata.file_type().is_symlink() {
        return Err(format!(
            "{} is a symlink; the artifact cache does not follow symlinks",
            path.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = rustix::process::geteuid().as_raw();
        if metadata.uid() != uid {
            return Err(format!(
                "{} belongs to another user (uid {})",
                path.display(),
                metadata.uid()
            ));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is writable by other users (mode {:o}); run `chmod go-w {}`",
                path.display(),
                metadata.mode() & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Sets the artifact's modification time to now if it is older than a day, so that
/// [`prune`] sees it as in use. Failures only cost a recompilation later.
fn mark_used(path: &Path) {
    let now = SystemTime::now();
    let stale = fs::metadata(path)
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| modified + USE_MARK_INTERVAL < now);
    if stale
        && let Err(err) = fs::File::options()
            .write(true)
            .open(path)
            .and_then(|file| file.set_modified(now))
    {
        tracing::debug!(artifact = %path.display(), %err, "cannot mark the artifact as used");
    }
}

/// Removes from `dir` the artifacts (`*.cwasm`) and temporary files last modified before
/// `cutoff`, then the tool descriptions (`SHA.info.json`) that no artifact uses any more.
/// Best effort: whatever cannot be read or removed stays.
fn prune(dir: &Path, cutoff: SystemTime) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut kept_components = std::collections::HashSet::new();
    let mut descriptions = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(sha256) = name.strip_suffix(".info.json") {
            descriptions.push((sha256.to_owned(), path));
            continue;
        }
        let artifact = name.ends_with(".cwasm");
        if !(artifact || name.contains(".tmp")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .is_ok_and(|modified| modified < cutoff);
        if old && fs::remove_file(&path).is_ok() {
            tracing::debug!(file = %path.display(), "pruned an unused artifact");
        } else if artifact && let Some((sha256, _)) = name.split_once('-') {
            kept_components.insert(sha256.to_owned());
        }
    }
    for (sha256, path) in descriptions {
        if !kept_components.contains(&sha256) {
            let _ = fs::remove_file(path);
        }
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let error = |message: String| CacheError::Write {
        path: path.to_path_buf(),
        message,
    };
    // Unique per process and call: concurrent loads of one component race benignly,
    // each renaming a complete file into place.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&temporary);
        return Err(error(err.to_string()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        create_private_dir(&cache_dir).unwrap();
        let path = cache_dir.join("x.bin");
        write_atomically(&path, b"abc").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        check_private(&path).unwrap();
        assert_eq!(
            fs::read_dir(&cache_dir).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    fn age(path: &Path, days: u64) {
        let when = SystemTime::now() - Duration::from_secs(days * 24 * 60 * 60);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn pruning_removes_only_what_went_unused() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, days: u64| {
            let path = dir.path().join(name);
            fs::write(&path, b"x").unwrap();
            age(&path, days);
            path
        };
        // An old tool under an older engine, and its description.
        let old_artifact = file("aaaa-1111.cwasm", 40);
        let old_info = file("aaaa.info.json", 40);
        // A tool used recently under this engine but also compiled long ago by another.
        let recent = file("bbbb-2222.cwasm", 2);
        let stale_twin = file("bbbb-1111.cwasm", 40);
        let shared_info = file("bbbb.info.json", 40);
        // A crash left a temporary file; a fresh one belongs to a running compile.
        let crashed = file("cccc-2222.tmp77-0", 40);
        let crashed_info = file("cccc.info.tmp77-1", 40);
        let writing = file("dddd-2222.tmp78-0", 0);
        let unrelated = file("notes.txt", 400);

        prune(dir.path(), SystemTime::now() - UNUSED_FOR);

        for gone in [
            &old_artifact,
            &old_info,
            &stale_twin,
            &crashed,
            &crashed_info,
        ] {
            assert!(!gone.exists(), "{} should be pruned", gone.display());
        }
        for kept in [&recent, &shared_info, &writing, &unrelated] {
            assert!(kept.exists(), "{} should stay", kept.display());
        }
    }

    #[test]
    fn a_load_marks_an_old_artifact_as_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eeee-2222.cwasm");
        fs::write(&path, b"x").unwrap();
        age(&path, 40);
        mark_used(&path);
        prune(dir.path(), SystemTime::now() - UNUSED_FOR);
        assert!(path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn shared_writable_artifacts_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cwasm");
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            check_private(&path)
                .unwrap_err()
                .contains("writable by other users")
        );
        let link = dir.path().join("b.cwasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(check_private(&link).unwrap_err().contains("symlink"));
    }
}
