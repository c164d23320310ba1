//! The toolset and the tool grants, and the rule that a workspace config only narrows them.
//!
//! A repository's `.ossa/config.toml` comes with the code, not from the user: a cloned
//! repository must not be able to give its own tools exec or network access. So for every
//! grant the workspace file is combined with what the user's side allows (the user config,
//! else the default) and can only take away:
//! * a yes/no grant (`tools.exec.allow`, `tools.exec.net`, `tools.net.allow`) is yes only
//!   when both say yes;
//! * `tools.exec.read` keeps only the workspace's directories that lie inside one the user
//!   side grants (compared after resolving `..` and symbolic links);
//! * `tools.net.hosts` keeps only hosts the user side lists (a workspace list alone turns
//!   "each tool's own grants" into "only these hosts", which is narrower).
//!
//! Flags and `OSSA_*` variables are the user's own choice at the command line and are
//! taken as given.

use std::path::{Component, Path, PathBuf};

pub use ossa_agent::event::Toolset;

/// What `container.exec` may do.
pub use ossa_wiring::ExecOptions as ExecGrant;

/// What network access tools get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetGrant {
    /// Tools may use the network at all, each within the hosts it was installed with.
    pub allow: bool,
    /// When set, the only hosts (`host` or `host:port`) any tool may reach, whatever it
    /// was installed with.
    pub hosts: Option<Vec<String>>,
}

impl Default for NetGrant {
    fn default() -> Self {
        NetGrant {
            allow: true,
            hosts: None,
        }
    }
}

/// A yes/no grant after a workspace file: yes only if both sides say yes. Returns the
/// value and whether the workspace asked for more than it got.
pub fn narrow_bool(trusted: bool, workspace: bool) -> (bool, bool) {
    (trusted && workspace, workspace && !trusted)
}

/// The workspace's directories that lie inside a trusted one, and those that do not.
pub fn narrow_dirs(trusted: &[PathBuf], workspace: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let trusted: Vec<PathBuf> = trusted.iter().map(|p| resolved(p)).collect();
    workspace.iter().cloned().partition(|dir| {
        let dir = resolved(dir);
        trusted.iter().any(|root| dir.starts_with(root))
    })
}

/// The workspace's hosts the trusted side allows (all of them when it sets no list), and
/// those it does not.
pub fn narrow_hosts(
    trusted: Option<&[String]>,
    workspace: &[String],
) -> (Vec<String>, Vec<String>) {
    match trusted {
        None => (workspace.to_vec(), Vec::new()),
        Some(trusted) => workspace
            .iter()
            .cloned()
            .partition(|host| trusted.iter().any(|t| t.eq_ignore_ascii_case(host))),
    }
}

/// `path` made absolute with `..` and symbolic links resolved as far as it exists (a
/// workspace cannot reach outside a granted folder through a link or `..`).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    // Not there (yet): resolve the longest existing ancestor, then the rest lexically.
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let mut base = normal.clone();
    let mut rest = Vec::new();
    while !base.exists() {
        match base.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => return normal,
        }
        if !base.pop() {
            return normal;
        }
    }
    let mut real = base.canonicalize().unwrap_or(base);
    for name in rest.into_iter().rev() {
        real.push(name);
    }
    real
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn yes_only_when_both_say_yes() {
        assert_eq!(narrow_bool(true, true), (true, false));
        assert_eq!(narrow_bool(true, false), (false, false));
        assert_eq!(narrow_bool(false, true), (false, true));
        assert_eq!(narrow_bool(false, false), (false, false));
    }

    #[test]
    fn directories_outside_the_user_grants_are_dropped_even_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let cargo = dir.path().join("cargo");
        let secret = dir.path().join("secret");
        std::fs::create_dir_all(cargo.join("registry")).unwrap();
        std::fs::create_dir_all(&secret).unwrap();
        let sneaky = cargo.join("link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&secret, &sneaky).unwrap();

        let (kept, dropped) = narrow_dirs(
            std::slice::from_ref(&cargo),
            &[
                cargo.join("registry"),
                cargo.join("../secret"),
                secret.clone(),
                sneaky.clone(),
                cargo.join("not-yet"),
            ],
        );
        assert_eq!(kept, [cargo.join("registry"), cargo.join("not-yet")]);
        #[cfg(unix)]
        assert_eq!(dropped, [cargo.join("../secret"), secret, sneaky]);
        // Nothing granted: nothing kept.
        let (kept, _) = narrow_dirs(&[], &[cargo]);
        assert!(kept.is_empty());
    }

    #[test]
    fn hosts_are_intersected() {
        let user = vec!["crates.io".to_string(), "docs.rs".to_string()];
        let (kept, dropped) =
            narrow_hosts(Some(&user), &["Crates.io".into(), "evil.example".into()]);
        assert_eq!(kept, ["Crates.io"]);
        assert_eq!(dropped, ["evil.example"]);
        let (kept, dropped) = narrow_hosts(None, &["crates.io".into()]);
        assert_eq!((kept.len(), dropped.len()), (1, 0));
    }
}
