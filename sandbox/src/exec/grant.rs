//! The `[exec]` grant of a tool policy: whether the tool may run commands on the host,
//! what those commands may read and write besides the workspace, and their limits.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Longest per-command time limit a grant may set.
pub const MAX_EXEC_TIMEOUT_SECS: f64 = 3600.0;

/// Whether commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    /// The tool may import the `process` capability, but every command is refused with
    /// a message that says what to use instead and how the user grants exec
    /// ([`EXEC_NOT_GRANTED`](crate::EXEC_NOT_GRANTED)). The built-in `exec` tool's default.
    #[default]
    Off,
    /// Commands run natively, confined by the kernel (Linux only; see
    /// [`exec_support`](crate::exec_support) and the [`exec` module](crate::exec)).
    Confined,
}

impl ExecMode {
    /// The word used in policy files and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecMode::Off => "off",
            ExecMode::Confined => "confined",
        }
    }
}

/// What commands run by a tool may do. Stored as the `[exec]` table of `policy.toml`.
///
/// Confined commands always get the workspace (read-write) and a private temporary
/// directory (their `HOME` and `TMPDIR`, removed after the call), and read-only access
/// to the system directories listed in the [`exec` module](crate::exec). Everything
/// else must be granted here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecGrant {
    /// `"off"` or `"confined"`.
    #[serde(default)]
    pub mode: ExecMode,
    /// Extra directories (or files) commands may read and execute: toolchains such as
    /// `~/.rustup`. Absolute paths.
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// Extra directories commands may write (and read): e.g. a package cache shared
    /// between projects. Absolute paths.
    #[serde(default)]
    pub write: Vec<PathBuf>,
    /// Directories put before the system's (`/usr/local/bin:/usr/bin:/bin`, …) in the
    /// commands' `PATH`, e.g. `~/.cargo/bin`.
    #[serde(default)]
    pub path: Vec<PathBuf>,
    /// Names of ossa's environment variables passed to commands (values read at each
    /// call). Nothing else of ossa's environment reaches them.
    #[serde(default)]
    pub env: Vec<String>,
    /// Variables set to fixed values in commands' environment, e.g. `CARGO_HOME`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Whether commands reach the network. Without it they run in a network namespace of
    /// their own (only a private loopback).
    #[serde(default)]
    pub net: bool,
    /// Time limit per command in seconds (the model may ask for less).
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: f64,
    /// Private writable memory per process in MiB (`RLIMIT_DATA`).
    #[serde(default = "defaults::memory_mib")]
    pub memory_mib: u32,
    /// Processes and threads at once inside one command's sandbox (`RLIMIT_NPROC`,
    /// counted in the command's own user namespace).
    #[serde(default = "defaults::processes")]
    pub processes: u32,
    /// Largest file a command may write, in MiB (`RLIMIT_FSIZE`).
    #[serde(default = "defaults::file_size_mib")]
    pub file_size_mib: u32,
    /// Open files per process (`RLIMIT_NOFILE`).
    #[serde(default = "defaults::open_files")]
    pub open_files: u32,
    /// Output shown to the model per command in KiB: the first and the last half of
    /// it are kept, the middle is counted and left out.
    #[serde(default = "defaults::output_kib")]
    pub output_kib: u32,
}

mod defaults {
    pub fn timeout_secs() -> f64 {
        300.0
    }
    pub fn memory_mib() -> u32 {
        4096
    }
    pub fn processes() -> u32 {
        512
    }
    pub fn file_size_mib() -> u32 {
        1024
    }
    pub fn open_files() -> u32 {
        1024
    }
    pub fn output_kib() -> u32 {
        16
    }
}

impl Default for ExecGrant {
    /// Mode `off`, nothing extra granted, default limits.
    fn default() -> Self {
        ExecGrant {
            mode: ExecMode::Off,
            read: Vec::new(),
            write: Vec::new(),
            path: Vec::new(),
            env: Vec::new(),
            vars: BTreeMap::new(),
            net: false,
            timeout_secs: defaults::timeout_secs(),
            memory_mib: defaults::memory_mib(),
            processes: defaults::processes(),
            file_size_mib: defaults::file_size_mib(),
            open_files: defaults::open_files(),
            output_kib: defaults::output_kib(),
        }
    }
}

impl ExecGrant {
    /// Commands refused (mode `off`): the built-in `exec` tool's default grant.
    pub fn off() -> Self {
        ExecGrant::default()
    }

    /// Confined commands that may also read `extra_read` (toolchains), with the
    /// default limits and no network.
    pub fn confined(extra_read: Vec<PathBuf>) -> Self {
        ExecGrant {
            mode: ExecMode::Confined,
            read: extra_read,
            ..ExecGrant::default()
        }
    }

    /// Adds the Rust toolchain of this machine, when installed with rustup: read access
    /// to `$RUSTUP_HOME` (default `~/.rustup`) and `$CARGO_HOME` (default `~/.cargo`),
    /// `$CARGO_HOME/bin` in `PATH`, and both variables set so the rustup proxies find
    /// them while `HOME` is the private temporary directory. Cargo's download cache
    /// stays read-only: builds that need new crates must vendor them or run with a
    /// `write` grant for `$CARGO_HOME/registry`.
    pub fn with_rust_toolchain(mut self) -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let dir = |variable: &str, default: &str| {
            std::env::var_os(variable)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|home| home.join(default)))
                .filter(|dir| dir.is_absolute() && dir.is_dir())
        };
        if let Some(rustup) = dir("RUSTUP_HOME", ".rustup") {
            self.add_read(&rustup);
            self.vars.insert(
                "RUSTUP_HOME".to_owned(),
                rustup.to_string_lossy().into_owned(),
            );
        }
        if let Some(cargo) = dir("CARGO_HOME", ".cargo") {
            self.add_read(&cargo);
            let bin = cargo.join("bin");
            if !self.path.contains(&bin) {
                self.path.push(bin);
            }
            self.vars.insert(
                "CARGO_HOME".to_owned(),
                cargo.to_string_lossy().into_owned(),
            );
        }
        self
    }

    fn add_read(&mut self, dir: &Path) {
        if !self.read.iter().any(|existing| existing == dir) {
            self.read.push(dir.to_path_buf());
        }
    }

    /// Whether commands run at all.
    pub fn runs_commands(&self) -> bool {
        self.mode == ExecMode::Confined
    }

    /// The per-command time limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    /// Output kept per command, in bytes (head and tail together).
    pub fn output_bytes(&self) -> usize {
        (self.output_kib as usize) << 10
    }

    /// Checks ranges and shapes; `Err` names the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= MAX_EXEC_TIMEOUT_SECS) {
            return Err(format!(
                "exec.timeout_secs must be above 0 and at most {MAX_EXEC_TIMEOUT_SECS}, not {}",
                self.timeout_secs
            ));
        }
        let ranges = [
            ("memory_mib", self.memory_mib, 64, 1 << 20),
            ("processes", self.processes, 8, 1 << 16),
            ("file_size_mib", self.file_size_mib, 1, 1 << 20),
            ("open_files", self.open_files, 64, 1 << 20),
            ("output_kib", self.output_kib, 1, 1024),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(format!(
                    "exec.{name} must be between {min} and {max}, not {value}"
                ));
            }
        }
        for (list, dirs) in [
            ("read", &self.read),
            ("write", &self.write),
            ("path", &self.path),
        ] {
            for dir in dirs {
                if !dir.is_absolute() {
                    return Err(format!(
                        "exec.{list} entry {} must be an absolute path",
                        dir.display()
                    ));
                }
                if dir.parent().is_none() {
                    return Err(format!(
                        "exec.{list} entry `/` would grant the whole file system; name the directories instead"
                    ));
                }
            }
        }
        for name in self.env.iter().chain(self.vars.keys()) {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(format!(
                    "exec variable name {name:?} is not a variable name"
                ));
            }
        }
        if let Some((name, _)) = self.vars.iter().find(|(_, value)| value.contains('\0')) {
            return Err(format!("exec.vars.{name} contains a NUL byte"));
        }
        Ok(())
    }

    /// The grant as the `[exec]` table of a commented TOML file.
    pub(crate) fn to_toml(&self) -> String {
        let strings = |items: &mut dyn Iterator<Item = String>| {
            let values: Vec<String> = items
                .map(|item| toml::Value::String(item).to_string())
                .collect();
            format!("[{}]", values.join(", "))
        };
        let paths = |dirs: &[PathBuf]| {
            strings(&mut dirs.iter().map(|dir| dir.to_string_lossy().into_owned()))
        };
        let mut out = format!(
            "\n# Running commands on the host (the built-in exec tool).\n[exec]\n\
             # \"off\": commands are refused; \"confined\": they run under Landlock, in their own\n\
             # namespaces, writing only the workspace and a private temporary directory.\n\
             mode = {}\n\
             # Extra directories commands may read (and execute), e.g. toolchains.\nread = {}\n\
             # Extra directories commands may write.\nwrite = {}\n\
             # Directories put first in PATH.\npath = {}\n\
             # ossa's environment variables passed through, by name.\nenv = {}\n\
             # Network access (otherwise only a private loopback).\nnet = {}\n\
             # Limits: seconds per command, MiB of memory per process, processes and threads,\n\
             # MiB per file written, open files per process, KiB of output shown.\n\
             timeout_secs = {:?}\nmemory_mib = {}\nprocesses = {}\nfile_size_mib = {}\n\
             open_files = {}\noutput_kib = {}\n",
            toml::Value::String(self.mode.as_str().to_owned()),
            paths(&self.read),
            paths(&self.write),
            paths(&self.path),
            strings(&mut self.env.iter().cloned()),
            self.net,
            self.timeout_secs,
            self.memory_mib,
            self.processes,
            self.file_size_mib,
            self.open_files,
            self.output_kib,
        );
        out.push_str("\n# Variables set to fixed values in commands' environment.\n[exec.vars]\n");
        for (name, value) in &self.vars {
            out.push_str(&format!(
                "{} = {}\n",
                toml::Value::String(name.clone()),
                toml::Value::String(value.clone())
            ));
        }
        out
    }
}

impl fmt::Display for ExecGrant {
    /// One line for `ossa tools list`, e.g. `confined (writes: workspace, private tmp;
    /// reads: system, /home/me/.rustup; net: none; limits: 300 s, …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mode == ExecMode::Off {
            return f.write_str("off (commands are refused)");
        }
        let join = |dirs: &[PathBuf]| {
            dirs.iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "confined (writes: workspace, private tmp")?;
        if !self.write.is_empty() {
            write!(f, ", {}", join(&self.write))?;
        }
        write!(f, "; reads: system dirs")?;
        if !self.read.is_empty() {
            write!(f, ", {}", join(&self.read))?;
        }
        if !self.env.is_empty() {
            write!(f, "; env: {}", self.env.join(", "))?;
        }
        write!(
            f,
            "; net: {}; limits: {} s, {} MiB/process, {} processes, {} MiB/file, {} KiB output)",
            if self.net { "yes" } else { "none" },
            self.timeout_secs,
            self.memory_mib,
            self.processes,
            self.file_size_mib,
            self.output_kib
        )
    }
}
