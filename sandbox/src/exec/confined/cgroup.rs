//! A pids cgroup per command: the process limit that holds for root.
//!
//! `RLIMIT_NPROC` is not enforced for processes whose real uid is the global root, even
//! inside a user namespace (the kernel exempts `INIT_USER`), so a root ossa's fork bomb
//! would fill the machine's PID table. A child cgroup of ossa's own in the hierarchy with
//! the `pids` controller (cgroup v1 `pids`, or v2 with `pids` enabled) caps the tasks of
//! one command. ossa creates it before the spawn and the watcher process moves itself
//! into it (writing `0` to its `cgroup.procs`) before it creates anything, so every
//! process of the command is inside from the start.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One command's cgroup.
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

impl PidsCgroup {
    /// A new cgroup under ossa's own, limited to `max_tasks` processes and threads.
    pub(crate) fn create(max_tasks: u64) -> Result<PidsCgroup, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = pids_cgroup_dir()?;
        let name = format!(
            "ossa-exec-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = parent.join(name);
        fs::create_dir(&dir)
            .map_err(|err| format!("cannot create the cgroup {}: {err}", dir.display()))?;
        let cgroup = || -> io::Result<OwnedFd> {
            fs::write(dir.join("pids.max"), max_tasks.to_string())?;
            let procs = fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?;
            Ok(OwnedFd::from(procs))
        };
        match cgroup() {
            Ok(procs) => Ok(PidsCgroup { dir, procs }),
            Err(err) => {
                let _ = fs::remove_dir(&dir);
                Err(format!(
                    "cannot limit processes in {}: {err}",
                    dir.display()
                ))
            }
        }
    }

    /// The descriptor the watcher writes `0` to (close-on-exec).
    pub(crate) fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Removes the cgroup once its processes are gone (they are being killed or reaped
    /// when this is called, so it waits a little).
    pub(crate) fn remove(self) {
        for _ in 0..200 {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(err) => {
                    tracing::warn!(dir = %self.dir.display(), %err, "cannot remove a command's cgroup");
                    return;
                }
            }
        }
        tracing::warn!(dir = %self.dir.display(), "a command's cgroup still has processes; left in place");
    }
}

/// ossa's own cgroup in the hierarchy that has the `pids` controller.
fn pids_cgroup_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|err| format!("cannot read /proc/self/mountinfo: {err}"))?;
        let membership = fs::read_to_string("/proc/self/cgroup")
            .map_err(|err| format!("cannot read /proc/self/cgroup: {err}"))?;
        find_pids_dir(&mountinfo, &membership)
            .ok_or_else(|| "no cgroup hierarchy with the pids controller is mounted".to_owned())
    })
    .clone()
}

/// The pids cgroup directory from `/proc/self/mountinfo` and `/proc/self/cgroup`:
/// cgroup v1's `pids` hierarchy when mounted, else the v2 hierarchy.
fn find_pids_dir(mountinfo: &str, membership: &str) -> Option<PathBuf> {
    let mounts: Vec<(&str, &str, &str, &str)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let fstype = after.next()?;
            let options = after.nth(1)?;
            Some((*fields.get(3)?, *fields.get(4)?, fstype, options))
        })
        .collect();
    let v1 = mounts.iter().find(|(_, _, fstype, options)| {
        *fstype == "cgroup" && options.split(',').any(|option| option == "pids")
    });
    if let Some((root, mountpoint, _, _)) = v1 {
        let path = membership.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers.split(',').any(|c| c == "pids").then_some(path)
        })?;
        return Some(under(mountpoint, root, path));
    }
    let (root, mountpoint, _, _) = mounts
        .iter()
        .find(|(_, _, fstype, _)| *fstype == "cgroup2")?;
    let path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?;
    let dir = under(mountpoint, root, path);
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
    controllers
        .split_whitespace()
        .any(|c| c == "pids")
        .then_some(dir)
}

/// `path` (relative to the hierarchy's root) under a mount of `root` at `mountpoint`.
fn under(mountpoint: &str, root: &str, path: &str) -> PathBuf {
    let relative = Path::new(path)
        .strip_prefix(root)
        .unwrap_or_else(|_| Path::new(path));
    let relative = relative.strip_prefix("/").unwrap_or(relative);
    Path::new(mountpoint).join(relative)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_v1_pids_hierarchy_is_preferred() {
        let mountinfo = "\
30 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
38 25 0:34 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 25 0:35 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory";
        let membership = "9:memory:/a\n8:pids:/user.slice/session\n0::/x";
        assert_eq!(
            find_pids_dir(mountinfo, membership),
            Some(PathBuf::from("/sys/fs/cgroup/pids/user.slice/session"))
        );
    }

    #[test]
    fn a_container_s_mount_root_is_stripped() {
        assert_eq!(
            under("/sys/fs/cgroup/pids", "/docker/abc", "/docker/abc/sub"),
            PathBuf::from("/sys/fs/cgroup/pids/sub")
        );
        assert_eq!(
            under("/sys/fs/cgroup", "/", "/"),
            PathBuf::from("/sys/fs/cgroup")
        );
    }
}
