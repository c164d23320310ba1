//! What one tool may do: its grants and limits, stored as a TOML file users can edit.
//!
//! Everything is denied unless granted: no files (not even the workspace), no
//! environment variables, no network. Limits always apply.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::exec::ExecGrant;

/// Where the workspace of each call is mounted inside the sandbox.
pub const WORKSPACE_GUEST_PATH: &str = "/workspace";

/// The environment variable that gives a tool granted the workspace the workspace's
/// real (canonical) path on the host. The workspace is mounted at that path too, unless
/// it overlaps [`WORKSPACE_GUEST_PATH`] or one of the tool's mounts, so that tools can
/// take the absolute paths models write. Part of the workspace grant, not a secret; a
/// policy cannot pass a host variable of this name.
pub const WORKSPACE_DIR_ENV: &str = "OSSA_WORKSPACE_DIR";

/// Largest memory a policy may grant. The pooling allocator reserves address space
/// for this much per instance slot.
pub const MAX_MEMORY_MIB: u32 = 4096;
/// Longest wall-time limit a policy may set: a tool call that needs longer is a job,
/// not a tool call.
pub const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// Read-only or read-write access to a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Not mounted at all.
    #[default]
    None,
    /// Mounted read-only.
    Read,
    /// Mounted read-write.
    Write,
}

impl Access {
    /// The word used in policy files and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::None => "none",
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// A host directory made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Absolute host path of the directory.
    pub host: PathBuf,
    /// Absolute path the tool sees it at.
    pub guest: String,
    /// `read` or `write`.
    pub access: Access,
}

/// The grants and limits of one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPolicy {
    /// Access to the workspace of each call, mounted at `/workspace`.
    #[serde(default)]
    pub workspace: Access,
    /// Extra host directories.
    #[serde(default, rename = "mount", skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Names of host environment variables passed through (their values are read at
    /// each call).
    #[serde(default)]
    pub env: Vec<String>,
    /// Network destinations the tool may connect to: `host` (any port) or
    /// `host:port`, with `host` a name or an IP address. Empty: no network. A name is
    /// resolved at each call and admits only the public addresses it resolves to:
    /// addresses on this machine or a private network must be granted as addresses
    /// (or as `localhost`), so a name cannot be pointed at them later.
    #[serde(default)]
    pub net: Vec<String>,
    /// Linear memory limit in MiB.
    #[serde(default = "defaults::memory_mib")]
    pub memory_mib: u32,
    /// Wall-time limit of one call in seconds.
    #[serde(default = "defaults::timeout_secs")]
    pub timeout_secs: f64,
    /// Limit on the returned text and on each of stdout and stderr, in KiB.
    #[serde(default = "defaults::output_limit_kib")]
    pub output_limit_kib: u32,
    /// Limit on bytes written to writable mounts (the workspace included) per call, in
    /// MiB.
    #[serde(default = "defaults::write_limit_mib")]
    pub write_limit_mib: u32,
    /// Whether the tool may import the `process` capability and run commands on the
    /// host, and how they are confined (the `[exec]` table). None: the tool may not
    /// import it at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecGrant>,
}

mod defaults {
    pub fn memory_mib() -> u32 {
        256
    }
    pub fn timeout_secs() -> f64 {
        30.0
    }
    pub fn output_limit_kib() -> u32 {
        1024
    }
    pub fn write_limit_mib() -> u32 {
        16
    }
}

impl Default for ToolPolicy {
    /// No grants, default limits.
    fn default() -> Self {
        ToolPolicy {
            workspace: Access::None,
            mounts: Vec::new(),
            env: Vec::new(),
            net: Vec::new(),
            memory_mib: defaults::memory_mib(),
            timeout_secs: defaults::timeout_secs(),
            output_limit_kib: defaults::output_limit_kib(),
            write_limit_mib: defaults::write_limit_mib(),
            exec: None,
        }
    }
}

/// A policy that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The TOML text does not parse or has unknown keys.
    #[error("the policy is not valid TOML for a tool policy: {0}")]
    Syntax(String),
    /// A value is out of range or malformed.
    #[error("invalid policy: {0}")]
    Invalid(String),
}

impl ToolPolicy {
    /// Default limits and the workspace at `access`: the policy of built-in tools.
    pub fn with_workspace(access: Access) -> Self {
        ToolPolicy {
            workspace: access,
            ..ToolPolicy::default()
        }
    }

    /// The policy of a tool that runs commands (the built-in `exec`) under `grant`: no
    /// file system mount for the component itself (the commands get the workspace),
    /// default limits.
    pub fn exec_tool(grant: ExecGrant) -> Self {
        ToolPolicy {
            exec: Some(grant),
            ..ToolPolicy::default()
        }
    }

    /// The wall-time limit.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_secs)
    }

    /// The wall-time limit of one call: [`timeout`](Self::timeout), raised for a tool
    /// that runs commands so that a command can use its whole time limit.
    pub fn call_timeout(&self) -> Duration {
        const COMMAND_MARGIN: Duration = Duration::from_secs(10);
        match &self.exec {
            Some(grant) => self.timeout().max(grant.timeout() + COMMAND_MARGIN),
            None => self.timeout(),
        }
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize) << 20
    }

    /// The output limit in bytes.
    pub fn output_limit_bytes(&self) -> usize {
        (self.output_limit_kib as usize) << 10
    }

    /// The per-call write limit in bytes.
    pub fn write_limit_bytes(&self) -> u64 {
        u64::from(self.write_limit_mib) << 20
    }

    /// True when the tool can change files (commands it runs included).
    pub fn can_write(&self) -> bool {
        self.workspace == Access::Write
            || self.mounts.iter().any(|m| m.access == Access::Write)
            || self.exec.as_ref().is_some_and(ExecGrant::runs_commands)
    }

    /// Parses and validates a policy file's text.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let policy: ToolPolicy =
            toml::from_str(text).map_err(|err| PolicyError::Syntax(err.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// The policy as a commented TOML file.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# What this tool may do. Everything not granted here is denied.\n\
             # Edit and save; ossa reads it at startup.\n\n",
        );
        let _ = writeln!(
            out,
            "# Access to the workspace of each call, seen at {WORKSPACE_GUEST_PATH}: \"none\", \"read\" or \"write\".\nworkspace = {}\n",
            toml_string(self.workspace.as_str())
        );
        let _ = writeln!(
            out,
            "# Host environment variables the tool can read, by name.\nenv = {}\n",
            toml_array(&self.env)
        );
        let _ = writeln!(
            out,
            "# Network destinations: \"host\" (any port) or \"host:port\". Empty: no network.\n# A name admits only public addresses; grant local or private ones by address.\nnet = {}\n",
            toml_array(&self.net)
        );
        let _ = writeln!(
            out,
            "# Memory limit (MiB).\nmemory_mib = {}\n",
            self.memory_mib
        );
        let _ = writeln!(
            out,
            "# Wall-time limit per call (seconds).\ntimeout_secs = {:?}\n",
            self.timeout_secs
        );
        let _ = writeln!(
            out,
            "# Limit on the returned text and on each of stdout and stderr (KiB).\noutput_limit_kib = {}\n",
            self.output_limit_kib
        );
        let _ = writeln!(
            out,
            "# Limit on bytes written to writable directories per call (MiB).\nwrite_limit_mib = {}",
            self.write_limit_mib
        );
        if self.mounts.is_empty() {
            out.push_str(
                "\n# Extra directories, one table each:\n# [[mount]]\n# host = \"/absolute/host/dir\"\n\
                 # guest = \"/data\"\n# access = \"read\"\n",
            );
        }
        for mount in &self.mounts {
            let _ = writeln!(
                out,
                "\n[[mount]]\nhost = {}\nguest = {}\naccess = {}",
                toml_string(&mount.host.to_string_lossy()),
                toml_string(&mount.guest),
                toml_string(mount.access.as_str())
            );
        }
        if let Some(exec) = &self.exec {
            out.push_str(&exec.to_toml());
        }
        out
    }

    /// Checks ranges and shapes. Host paths are checked when the tool runs, since
    /// directories can appear and disappear after install.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |message: String| Err(PolicyError::Invalid(message));
        if self.memory_mib == 0 || self.memory_mib > MAX_MEMORY_MIB {
            return invalid(format!(
                "memory_mib must be between 1 and {MAX_MEMORY_MIB}, not {}",
                self.memory_mib
            ));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= MAX_TIMEOUT_SECS) {
            return invalid(format!(
                "timeout_secs must be above 0 and at most {MAX_TIMEOUT_SECS}, not {}",
                self.timeout_secs
            ));
        }
        if self.output_limit_kib == 0 || self.output_limit_kib > 64 * 1024 {
            return invalid(format!(
                "output_limit_kib must be between 1 and 65536, not {}",
                self.output_limit_kib
            ));
        }
        if self.write_limit_mib > 64 * 1024 {
            return invalid(format!(
                "write_limit_mib must be at most 65536, not {}",
                self.write_limit_mib
            ));
        }
        for name in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return invalid(format!("env entry {name:?} is not a variable name"));
            }
            if name == WORKSPACE_DIR_ENV {
                return invalid(format!(
                    "env entry {WORKSPACE_DIR_ENV} cannot be granted: ossa sets it to the \
                     workspace's path for tools granted the workspace"
                ));
            }
        }
        for destination in &self.net {
            if let Err(message) = NetGrant::parse(destination) {
                return invalid(message);
            }
        }
        let mut guests: Vec<&str> = vec![WORKSPACE_GUEST_PATH];
        for mount in &self.mounts {
            if mount.access == Access::None {
                return invalid(format!(
                    "mount {} has access \"none\"; remove it instead",
                    mount.host.display()
                ));
            }
            if !mount.host.is_absolute() {
                return invalid(format!(
                    "mount host path {} must be absolute",
                    mount.host.display()
                ));
            }
            if !mount.guest.starts_with('/')
                || mount.guest == "/"
                || Path::new(&mount.guest)
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                return invalid(format!(
                    "mount guest path {:?} must be an absolute path below / without `..`",
                    mount.guest
                ));
            }
            if guests.iter().any(|taken| overlaps(taken, &mount.guest)) {
                return invalid(format!(
                    "mount guest path {:?} overlaps {WORKSPACE_GUEST_PATH} or another mount",
                    mount.guest
                ));
            }
            guests.push(&mount.guest);
        }
        if let Some(exec) = &self.exec {
            exec.validate().map_err(PolicyError::Invalid)?;
        }
        Ok(())
    }

    /// A one-line summary of the grants, for listings.
    pub fn grants_summary(&self) -> String {
        let mut parts = vec![format!("workspace: {}", self.workspace.as_str())];
        for mount in &self.mounts {
            parts.push(format!(
                "{} {} at {}",
                mount.access.as_str(),
                mount.host.display(),
                mount.guest
            ));
        }
        if !self.env.is_empty() {
            parts.push(format!("env: {}", self.env.join(", ")));
        }
        parts.push(if self.net.is_empty() {
            "net: none".to_owned()
        } else {
            format!("net: {}", self.net.join(", "))
        });
        parts.push(format!(
            "limits: {} MiB, {} s, {} KiB output, {} MiB written",
            self.memory_mib, self.timeout_secs, self.output_limit_kib, self.write_limit_mib
        ));
        if let Some(exec) = &self.exec {
            parts.push(format!("exec: {exec}"));
        }
        parts.join("; ")
    }
}

/// One parsed `net` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetGrant {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

impl NetGrant {
    pub(crate) fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = || format!("net entry {entry:?} is not `host` or `host:port`");
        // `[v6]:port`, bare IPv6, or `host[:port]`.
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(bad()),
            };
            (host, port)
        } else if entry.matches(':').count() > 1 {
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
            return Err(bad());
        }
        let port = match port {
            Some(port) => Some(port.parse::<u16>().map_err(|_| bad())?),
            None => None,
        };
        Ok(NetGrant {
            host: host.to_owned(),
            port,
        })
    }
}

pub(crate) fn overlaps(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    within(a, b) || within(b, a)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn toml_array(items: &[String]) -> String {
    let values: Vec<String> = items.iter().map(|item| toml_string(item)).collect();
    format!("[{}]", values.join(", "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trips() {
        let policy = ToolPolicy {
            workspace: Access::Read,
            mounts: vec![Mount {
                host: "/data/in".into(),
                guest: "/in".into(),
                access: Access::Write,
            }],
            env: vec!["API_KEY".into()],
            net: vec![
                "example.com:443".into(),
                "[::1]:80".into(),
                "10.0.0.1".into(),
            ],
            memory_mib: 64,
            timeout_secs: 2.5,
            output_limit_kib: 10,
            write_limit_mib: 1,
            exec: None,
        };
        let text = policy.to_toml();
        assert_eq!(ToolPolicy::from_toml(&text).unwrap(), policy, "{text}");
        let mut grant = ExecGrant::confined(vec!["/opt/toolchain".into()]);
        grant.write.push("/var/cache/shared".into());
        grant.path.push("/opt/toolchain/bin".into());
        grant.env.push("CI".into());
        grant.vars.insert("CARGO_HOME".into(), "/opt/cargo".into());
        grant.net = true;
        grant.timeout_secs = 12.5;
        grant.processes = 64;
        let with_exec = ToolPolicy {
            exec: Some(grant),
            ..policy
        };
        let text = with_exec.to_toml();
        assert_eq!(ToolPolicy::from_toml(&text).unwrap(), with_exec, "{text}");
        assert_eq!(
            ToolPolicy::from_toml("[exec]\nmode = \"confined\"")
                .unwrap()
                .exec,
            Some(ExecGrant::confined(Vec::new()))
        );
        let default = ToolPolicy::default();
        assert_eq!(ToolPolicy::from_toml(&default.to_toml()).unwrap(), default);
    }

    #[test]
    fn dots_inside_a_mount_name_are_not_a_parent_directory() {
        let text = "[[mount]]\nhost = \"/srv/data..v2\"\nguest = \"/data..v2\"\naccess = \"read\"";
        let policy = ToolPolicy::from_toml(text).unwrap();
        assert_eq!(policy.mounts[0].guest, "/data..v2");
    }

    #[test]
    fn missing_keys_take_defaults_and_unknown_keys_fail() {
        assert_eq!(ToolPolicy::from_toml("").unwrap(), ToolPolicy::default());
        let err = ToolPolicy::from_toml("memory = 3").unwrap_err().to_string();
        assert!(err.contains("unknown field `memory`"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            ("memory_mib = 0", "memory_mib"),
            ("timeout_secs = -1.0", "timeout_secs"),
            ("net = [\"a b\"]", "net entry"),
            ("net = [\"host:99999\"]", "net entry"),
            ("env = [\"A=B\"]", "env entry"),
            ("env = [\"OSSA_WORKSPACE_DIR\"]", "cannot be granted"),
            (
                "[[mount]]\nhost = \"rel\"\nguest = \"/x\"\naccess = \"read\"",
                "absolute",
            ),
            (
                "[[mount]]\nhost = \"/x\"\nguest = \"/workspace/sub\"\naccess = \"read\"",
                "overlaps",
            ),
            (
                "[[mount]]\nhost = \"/x\"\nguest = \"/data/../etc\"\naccess = \"read\"",
                "without `..`",
            ),
            ("[exec]\nmode = \"yes\"", "unknown variant"),
            ("[exec]\nread = [\"rel/dir\"]", "absolute"),
            ("[exec]\nwrite = [\"/\"]", "whole file system"),
            ("[exec]\nprocesses = 0", "exec.processes"),
            ("[exec]\ntimeout_secs = 7200.0", "exec.timeout_secs"),
            ("[exec]\nnetwork = true", "unknown field `network`"),
        ];
        for (text, expected) in cases {
            let err = ToolPolicy::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn exec_grants_are_visible() {
        let off = ToolPolicy::exec_tool(ExecGrant::off());
        assert!(!off.can_write());
        assert!(
            off.grants_summary()
                .ends_with("exec: off (commands are refused)")
        );
        let confined = ToolPolicy::exec_tool(ExecGrant::confined(vec!["/opt/rust".into()]));
        assert!(confined.can_write());
        let summary = confined.grants_summary();
        assert!(
            summary.contains("exec: confined (writes: workspace, private tmp; reads: system dirs, /opt/rust; net: none; limits: 300 s"),
            "{summary}"
        );
        assert_eq!(confined.call_timeout(), Duration::from_secs(310));
        assert_eq!(crate::exec::ExecMode::default(), crate::exec::ExecMode::Off);
    }

    #[test]
    fn net_grants_parse() {
        assert_eq!(
            NetGrant::parse("a.b:8080").unwrap(),
            NetGrant {
                host: "a.b".into(),
                port: Some(8080)
            }
        );
        assert_eq!(
            NetGrant::parse("::1").unwrap(),
            NetGrant {
                host: "::1".into(),
                port: None
            }
        );
        assert_eq!(
            NetGrant::parse("[::1]:9").unwrap(),
            NetGrant {
                host: "::1".into(),
                port: Some(9)
            }
        );
    }
}
