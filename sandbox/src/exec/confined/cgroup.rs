//! The process limit that holds for root: a pids cgroup per command.
//!
//! `RLIMIT_NPROC` is not enforced for processes whose real uid is the global root, even
//! inside a user namespace (the kernel exempts `INIT_USER`), so a root ossa's fork bomb
//! would fill the machine's PID table. A cgroup with the `pids` controller caps it.
//! Moving a process into a cgroup waits for an RCU grace period (milliseconds, more on a
//! busy machine), so where the kernel allows it the move is avoided:
//!
//! - cgroup v1 ([`Spawner`]): threads of one process may sit in different cgroups. ossa
//!   keeps a pool of spawner threads, each living in a cgroup of its own
//!   (`ossa-exec-<pid>-<n>`, children of ossa's pids cgroup). A command borrows an idle
//!   one, sets its `pids.max`, and has it fork the sandbox, which starts inside without a
//!   move; the thread goes back to the pool when the sandbox is gone. The pool grows to
//!   the number of commands run at the same time.
//! - cgroup v2, where a process's threads share one cgroup ([`PidsCgroup`]): a cgroup per
//!   command, which the watcher process joins (writing `0` to its `cgroup.procs`) before
//!   it creates anything.
//!
//! Directories left behind by an ossa that was killed are removed by the next one.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock, mpsc};
use std::time::Duration;

/// Which cgroup version a pids hierarchy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// How the processes of one command are limited.
#[derive(Debug)]
pub(crate) enum ProcessLimit {
    /// Forked by a spawner thread in its own cgroup (cgroup v1).
    Spawner(Spawner),
    /// In a cgroup of its own, joined by the watcher (cgroup v2).
    Own(PidsCgroup),
    /// Only `RLIMIT_NPROC` (not root, and no pids cgroup ossa may create).
    Rlimit,
}

impl ProcessLimit {
    /// The best limit available for a command of `max_tasks` processes and threads.
    /// `Err` when none holds (root without a pids cgroup).
    pub(crate) fn for_command(max_tasks: u64, root: bool) -> Result<ProcessLimit, String> {
        let outcome = pids_cgroup_dir().and_then(|(parent, version)| match version {
            Version::V1 => Spawner::take(&parent, max_tasks).map(ProcessLimit::Spawner),
            Version::V2 => PidsCgroup::create(&parent, max_tasks).map(ProcessLimit::Own),
        });
        match outcome {
            Ok(limit) => Ok(limit),
            Err(_) if !root => Ok(ProcessLimit::Rlimit),
            Err(err) => Err(err),
        }
    }

    /// `cgroup.procs` for the watcher to join, when it must join a cgroup.
    pub(crate) fn procs_fd(&self) -> Option<RawFd> {
        match self {
            ProcessLimit::Own(cgroup) => Some(cgroup.procs.as_raw_fd()),
            _ => None,
        }
    }

    /// Spawns `command` where this limit applies (dropping it right after, which closes
    /// this process's copies of the child's pipes).
    pub(crate) fn spawn(&self, command: Command) -> io::Result<Child> {
        match self {
            ProcessLimit::Spawner(spawner) => spawner.spawn(command),
            ProcessLimit::Own(_) | ProcessLimit::Rlimit => {
                let mut command = command;
                let child = command.spawn();
                drop(command);
                child
            }
        }
    }

    /// Releases the spawner or removes the cgroup, once the command's processes are gone.
    pub(crate) fn finish(self) {
        match self {
            ProcessLimit::Spawner(spawner) => spawner.release(),
            ProcessLimit::Own(cgroup) => cgroup.remove(),
            ProcessLimit::Rlimit => {}
        }
    }
}

/// A thread that forks sandboxes from inside its own cgroup (cgroup v1).
#[derive(Debug)]
pub(crate) struct Spawner {
    jobs: mpsc::Sender<Job>,
    dir: PathBuf,
}

type Job = (Command, mpsc::SyncSender<io::Result<Child>>);

/// Idle spawner threads.
static IDLE: Mutex<Vec<Spawner>> = Mutex::new(Vec::new());

impl Spawner {
    /// An idle spawner (a new one when none is idle), its cgroup limited to `max_tasks`
    /// besides the thread itself.
    fn take(parent: &Path, max_tasks: u64) -> Result<Spawner, String> {
        let idle = IDLE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let spawner = match idle {
            Some(spawner) => spawner,
            None => Spawner::start(parent)?,
        };
        match fs::write(spawner.dir.join("pids.max"), (max_tasks + 1).to_string()) {
            Ok(()) => Ok(spawner),
            Err(err) => Err(format!(
                "cannot limit processes in {}: {err}",
                spawner.dir.display()
            )),
        }
    }

    fn start(parent: &Path) -> Result<Spawner, String> {
        static CLEANED: Once = Once::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        CLEANED.call_once(|| remove_stale(parent));
        let dir = parent.join(format!(
            "ossa-exec-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&dir)
            .map_err(|err| format!("cannot create the cgroup {}: {err}", dir.display()))?;
        let tasks = dir.join("tasks");
        let (jobs, receiver) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::sync_channel::<Result<(), String>>(1);
        let spawned = std::thread::Builder::new()
            .name("ossa-exec-spawner".to_owned())
            .spawn(move || {
                // In v1 a thread moves alone, by its id in `tasks`; `0` is the caller.
                let joined = fs::write(&tasks, "0")
                    .map_err(|err| format!("cannot enter the cgroup {}: {err}", tasks.display()));
                let ok = joined.is_ok();
                let _ = ready.send(joined);
                if !ok {
                    return;
                }
                // The thread lives as long as ossa: sandboxes die with the thread that
                // forked them.
                while let Ok((mut command, reply)) = receiver.recv() {
                    let child = command.spawn();
                    drop(command);
                    let _ = reply.send(child);
                }
            });
        let joined = match spawned {
            Ok(_) => started
                .recv()
                .unwrap_or_else(|_| Err("the spawner thread stopped".to_owned())),
            Err(err) => Err(format!("cannot start a spawner thread: {err}")),
        };
        if let Err(err) = joined {
            let _ = fs::remove_dir(&dir);
            return Err(err);
        }
        Ok(Spawner { jobs, dir })
    }

    fn spawn(&self, command: Command) -> io::Result<Child> {
        let stopped = || io::Error::other("the spawner thread stopped");
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs.send((command, reply)).map_err(|_| stopped())?;
        answer.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Back to the pool, its cgroup holding only the thread again.
    fn release(self) {
        match fs::write(self.dir.join("pids.max"), "1") {
            Ok(()) => IDLE
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(self),
            Err(err) => {
                // Not reused; the thread stays parked in its cgroup.
                tracing::warn!(dir = %self.dir.display(), %err, "cannot reset a spawner's cgroup");
            }
        }
    }
}

/// One command's cgroup (cgroup v2).
#[derive(Debug)]
pub(crate) struct PidsCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

impl PidsCgroup {
    /// A new cgroup under `parent` (ossa's own), limited to `max_tasks` processes and
    /// threads.
    fn create(parent: &Path, max_tasks: u64) -> Result<PidsCgroup, String> {
        static CLEANED: Once = Once::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        CLEANED.call_once(|| remove_stale(parent));
        let name = format!(
            "ossa-exec-{}-c{}",
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

    /// Removes the cgroup once its processes are gone (they are being killed or reaped
    /// when this is called, so it waits a little).
    fn remove(self) {
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

/// Removes `ossa-exec-<pid>[-<n>]` cgroups of ossa processes that no longer exist.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("ossa-exec-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// ossa's own cgroup in the hierarchy that has the `pids` controller, and its version.
fn pids_cgroup_dir() -> Result<(PathBuf, Version), String> {
    static DIR: OnceLock<Result<(PathBuf, Version), String>> = OnceLock::new();
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
fn find_pids_dir(mountinfo: &str, membership: &str) -> Option<(PathBuf, Version)> {
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
        return Some((under(mountpoint, root, path), Version::V1));
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
        .then_some((dir, Version::V2))
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
            Some((
                PathBuf::from("/sys/fs/cgroup/pids/user.slice/session"),
                Version::V1
            ))
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
