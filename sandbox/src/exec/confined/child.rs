//! What runs between `fork` and `exec`: the three processes that put a command in its
//! sandbox. Everything here runs in a child forked from a multi-threaded process, so it
//! is restricted to async-signal-safe work: system calls (through rustix, or libc where
//! rustix has no wrapper) on memory prepared before the fork. No allocation, no locks,
//! no panics that unwind.
//!
//! ```text
//! ossa (supervisor thread)
//!  └─ watcher   std's child: joins the command's pids cgroup (cgroup v2); new session;
//!     │         new user, PID, IPC (and network) namespaces;
//!     │         uid/gid maps; loopback up; enforces the time limit on `init`
//!     └─ init   PID 1 of the new PID namespace: reaps orphans, reports the command's
//!        │      status; when it exits, the kernel kills everything left in the namespace
//!        └─ command   rlimits, every inherited descriptor close-on-exec, Landlock,
//!                     seccomp; then std's exec of the program
//! ```
//!
//! Each stage reports a failure (stage and errno) on the status pipe, then fails the
//! way its position allows: the watcher and the command return the error to std (which
//! reports it to `spawn`), the init process exits.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use landlock::RulesetCreated;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, PidfdFlags, Resource, Rlimit, Signal, WaitOptions};
use rustix::thread::UnshareFlags;
use rustix::time::ClockId;
use seccompiler::BpfProgram;

/// Messages on the status pipe: `[kind, stage, value]` as native-endian `i32`s.
pub(crate) const MESSAGE_BYTES: usize = 12;
/// `value` is the command's raw wait status.
pub(crate) const KIND_STATUS: i32 = 1;
/// The time limit passed and the watcher killed the namespace.
pub(crate) const KIND_TIMED_OUT: i32 = 2;
/// `stage` failed with errno `value`.
pub(crate) const KIND_SETUP_FAILED: i32 = 3;

/// The steps that can fail, for the message that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum Stage {
    Cgroup = 1,
    NewSession,
    DeathSignal,
    Namespaces,
    SetGroups,
    UidMap,
    GidMap,
    Loopback,
    ForkInit,
    WatchInit,
    ForkCommand,
    Rlimits,
    CloseDescriptors,
    Landlock,
    Seccomp,
}

impl Stage {
    pub(crate) fn from_raw(raw: i32) -> Option<Stage> {
        use Stage::*;
        [
            Cgroup,
            NewSession,
            DeathSignal,
            Namespaces,
            SetGroups,
            UidMap,
            GidMap,
            Loopback,
            ForkInit,
            WatchInit,
            ForkCommand,
            Rlimits,
            CloseDescriptors,
            Landlock,
            Seccomp,
        ]
        .into_iter()
        .find(|stage| *stage as i32 == raw)
    }

    /// What the step does, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stage::Cgroup => "entering the command's pids cgroup",
            Stage::NewSession => "starting a new session (setsid)",
            Stage::DeathSignal => "tying the sandbox's life to ossa's (PR_SET_PDEATHSIG)",
            Stage::Namespaces => {
                "creating user, PID, IPC and network namespaces (unprivileged user \
                 namespaces may be disabled: sysctl user.max_user_namespaces, \
                 kernel.unprivileged_userns_clone, or an AppArmor restriction)"
            }
            Stage::SetGroups => "denying setgroups in the user namespace",
            Stage::UidMap => "writing the user namespace's uid map",
            Stage::GidMap => "writing the user namespace's gid map",
            Stage::Loopback => "bringing up the private loopback interface",
            Stage::ForkInit => "starting the namespace's init process",
            Stage::WatchInit => "watching the namespace's init process (pidfd_open)",
            Stage::ForkCommand => "starting the command's process",
            Stage::Rlimits => "setting resource limits",
            Stage::CloseDescriptors => "closing inherited file descriptors",
            Stage::Landlock => "enforcing the Landlock ruleset",
            Stage::Seccomp => "installing the seccomp filter",
        }
    }
}

/// Everything the children need, prepared before the fork.
pub(crate) struct ChildPlan {
    /// ossa's pid: the watcher exits if its parent is already gone.
    pub(crate) parent: Pid,
    /// Write end of the status pipe (close-on-exec).
    pub(crate) status: OwnedFd,
    /// `cgroup.procs` of the command's pids cgroup, when there is one: the watcher moves
    /// itself in before anything else.
    pub(crate) cgroup_procs: Option<RawFd>,
    /// `"<uid> <uid> 1\n"`: the command keeps its identity inside the user namespace,
    /// and no other uid exists there.
    pub(crate) uid_map: Vec<u8>,
    pub(crate) gid_map: Vec<u8>,
    /// A network namespace of its own (no network grant).
    pub(crate) private_network: bool,
    pub(crate) timeout_ms: u64,
    pub(crate) rlimits: Vec<(Resource, u64)>,
    /// Taken by the command process.
    pub(crate) ruleset: Option<RulesetCreated>,
    pub(crate) seccomp: Vec<BpfProgram>,
}

impl ChildPlan {
    /// The `pre_exec` hook: runs in std's child (the watcher); returns only in the
    /// command process, which std then execs.
    ///
    /// # Safety
    ///
    /// Only in a `pre_exec` hook of a `Command` spawned with this plan.
    pub(crate) unsafe fn run(&mut self) -> io::Result<()> {
        let status = raw(&self.status);
        // SAFETY: single-threaded child; these only change this process's signal
        // dispositions (ossa's handlers must not run here: they write to descriptors
        // the children close and reuse).
        unsafe { reset_signal_handlers() };
        if let Some(procs) = self.cgroup_procs {
            // SAFETY: ossa keeps the cgroup (and this descriptor) open until the watcher
            // has exited.
            let procs = unsafe { BorrowedFd::borrow_raw(procs) };
            step(
                status,
                Stage::Cgroup,
                rustix::io::write(procs, b"0").map(drop),
            )?;
        }
        step(
            status,
            Stage::NewSession,
            rustix::process::setsid().map(drop),
        )?;
        step(
            status,
            Stage::DeathSignal,
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL)),
        )?;
        if rustix::process::getppid() != Some(self.parent) {
            // ossa died before the death signal was armed.
            // SAFETY: ends this process without running any of ossa's code.
            unsafe { libc::_exit(1) };
        }
        let mut namespaces = UnshareFlags::NEWUSER | UnshareFlags::NEWPID | UnshareFlags::NEWIPC;
        if self.private_network {
            namespaces |= UnshareFlags::NEWNET;
        }
        // SAFETY: the process is single-threaded; no descriptor table is unshared.
        step(status, Stage::Namespaces, unsafe {
            rustix::thread::unshare_unsafe(namespaces)
        })?;
        step(
            status,
            Stage::SetGroups,
            write_file(c"/proc/self/setgroups", b"deny"),
        )?;
        step(
            status,
            Stage::UidMap,
            write_file(c"/proc/self/uid_map", &self.uid_map),
        )?;
        step(
            status,
            Stage::GidMap,
            write_file(c"/proc/self/gid_map", &self.gid_map),
        )?;
        if self.private_network {
            step(status, Stage::Loopback, loopback_up())?;
        }
        // SAFETY: fork in a single-threaded process; both sides continue with
        // async-signal-safe code only.
        let init = step(status, Stage::ForkInit, fork())?;
        if let Some(init) = init {
            // SAFETY: the watcher never returns.
            unsafe { self.watch(init) }
        }
        // Now PID 1 of the new namespace.
        if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err() {
            report(
                status,
                KIND_SETUP_FAILED,
                Stage::DeathSignal as i32,
                errno_now(),
            );
            // SAFETY: ends the init process.
            unsafe { libc::_exit(1) };
        }
        match fork() {
            // SAFETY: the init process never returns.
            Ok(Some(command)) => unsafe { self.init(command) },
            Ok(None) => {}
            Err(err) => {
                report(
                    status,
                    KIND_SETUP_FAILED,
                    Stage::ForkCommand as i32,
                    errno(&err),
                );
                // SAFETY: ends the init process.
                unsafe { libc::_exit(1) };
            }
        }
        // The command's process.
        for &(resource, limit) in &self.rlimits {
            let limit = Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            };
            step(
                status,
                Stage::Rlimits,
                rustix::process::setrlimit(resource, limit),
            )?;
        }
        // Descriptors ossa opened without close-on-exec must not reach the command;
        // std's own error pipe (already close-on-exec) keeps working until the exec.
        step(status, Stage::CloseDescriptors, close_from(3, true))?;
        if let Some(ruleset) = self.ruleset.take() {
            let restricted = ruleset
                .restrict_self()
                .map_err(|_| io::Error::last_os_error());
            step(status, Stage::Landlock, restricted.map(drop))?;
        }
        for program in &self.seccomp {
            let applied =
                seccompiler::apply_filter(program).map_err(|_| io::Error::last_os_error());
            step(status, Stage::Seccomp, applied)?;
        }
        Ok(())
    }

    /// The watcher: waits for the init process, kills it (and so the namespace) at the
    /// time limit, then exits.
    unsafe fn watch(&self, init: Pid) -> ! {
        let status = raw(&self.status);
        let pidfd = match rustix::process::pidfd_open(init, PidfdFlags::empty()) {
            Ok(pidfd) => pidfd,
            Err(err) => {
                report(
                    status,
                    KIND_SETUP_FAILED,
                    Stage::WatchInit as i32,
                    err.raw_os_error(),
                );
                let _ = rustix::process::kill_process(init, Signal::KILL);
                let _ = rustix::process::waitpid(Some(init), WaitOptions::empty());
                // SAFETY: ends the watcher.
                unsafe { libc::_exit(1) }
            }
        };
        // Hold nothing but the status pipe and the pidfd: the output pipe must reach
        // end-of-file when the namespace is gone.
        let _ = close_all_except(&mut [status, raw(&pidfd)]);
        let deadline = add_ms(now(), self.timeout_ms);
        loop {
            let remaining = until(deadline);
            let Some(remaining) = remaining else {
                let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
                report(status, KIND_TIMED_OUT, 0, 0);
                break;
            };
            let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
            match poll(&mut fds, Some(&remaining)) {
                Ok(0) => continue,
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        let _ = rustix::process::waitpid(Some(init), WaitOptions::empty());
        // SAFETY: ends the watcher without running ossa's exit handlers.
        unsafe { libc::_exit(0) }
    }

    /// PID 1: reaps every child until the command's process ends, reports its status,
    /// and exits, which makes the kernel kill whatever is left in the namespace.
    unsafe fn init(&self, command: Pid) -> ! {
        let status = raw(&self.status);
        let _ = close_all_except(&mut [status]);
        loop {
            match rustix::process::waitpid(None, WaitOptions::empty()) {
                Ok(Some((pid, wait_status))) if pid == command => {
                    report(status, KIND_STATUS, 0, wait_status.as_raw());
                    break;
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        // SAFETY: ends the init process (and with it the namespace).
        unsafe { libc::_exit(0) }
    }
}

fn raw(fd: &OwnedFd) -> RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// Reports a failed stage and turns the result into std's error type.
fn step<T>(status: RawFd, stage: Stage, result: Result<T, impl Into<io::Error>>) -> io::Result<T> {
    result.map_err(|err| {
        let err = err.into();
        report(
            status,
            KIND_SETUP_FAILED,
            stage as i32,
            err.raw_os_error().unwrap_or(0),
        );
        err
    })
}

fn report(status: RawFd, kind: i32, stage: i32, value: i32) {
    let mut message = [0u8; MESSAGE_BYTES];
    message[0..4].copy_from_slice(&kind.to_ne_bytes());
    message[4..8].copy_from_slice(&stage.to_ne_bytes());
    message[8..12].copy_from_slice(&value.to_ne_bytes());
    // SAFETY: the status descriptor stays open in every child until it exits or execs.
    let fd = unsafe { BorrowedFd::borrow_raw(status) };
    let _ = rustix::io::write(fd, &message);
}

fn errno(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(0)
}

fn errno_now() -> i32 {
    errno(&io::Error::last_os_error())
}

fn write_file(path: &std::ffi::CStr, contents: &[u8]) -> rustix::io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let written = rustix::io::write(&fd, contents)?;
    if written == contents.len() {
        Ok(())
    } else {
        Err(rustix::io::Errno::IO)
    }
}

/// `fork()`: `Some(child)` in the parent, `None` in the child.
fn fork() -> io::Result<Option<Pid>> {
    // SAFETY: the callers are single-threaded forked children that continue with
    // async-signal-safe code on both sides.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Puts every catchable signal back to its default action.
unsafe fn reset_signal_handlers() {
    for signal in 1..=64 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: SIG_DFL is always a valid disposition; invalid numbers fail
            // harmlessly.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
}

/// Sets `IFF_UP` on `lo` in the new network namespace, so that servers and clients
/// inside the sandbox can talk over 127.0.0.1 (which is not the host's).
fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket and ioctl calls on a zeroed, correctly sized request; the
    // socket is closed before returning.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        request.ifr_name[0] = b'l' as libc::c_char;
        request.ifr_name[1] = b'o' as libc::c_char;
        request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let result = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        let err = io::Error::last_os_error();
        libc::close(socket);
        if result < 0 { Err(err) } else { Ok(()) }
    }
}

/// Closes (or, with `cloexec`, marks close-on-exec) every descriptor from `first` up.
fn close_from(first: u32, cloexec: bool) -> io::Result<()> {
    let flags = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC as libc::c_int
    } else {
        0
    };
    // SAFETY: close_range only affects this process's descriptor table.
    match unsafe { close_range(first, u32::MAX, flags) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Closes every descriptor except `keep` (sorted in place).
fn close_all_except(keep: &mut [RawFd]) -> io::Result<()> {
    keep.sort_unstable();
    let mut first: u32 = 0;
    for &fd in keep.iter() {
        let fd = fd as u32;
        if fd > first {
            // SAFETY: as in `close_from`.
            if unsafe { close_range(first, fd - 1, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        first = fd + 1;
    }
    close_from(first, false)
}

#[cfg(target_env = "gnu")]
unsafe fn close_range(first: u32, last: u32, flags: libc::c_int) -> libc::c_int {
    // SAFETY: forwarded.
    unsafe { libc::close_range(first, last, flags) }
}

#[cfg(not(target_env = "gnu"))]
unsafe fn close_range(first: u32, last: u32, flags: libc::c_int) -> libc::c_int {
    // libc has no wrapper outside glibc.
    // SAFETY: forwarded to the system call of the same name.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) as libc::c_int }
}

fn now() -> Timespec {
    rustix::time::clock_gettime(ClockId::Monotonic)
}

fn add_ms(time: Timespec, ms: u64) -> Timespec {
    let nanos = time.tv_nsec as u64 + (ms % 1000) * 1_000_000;
    Timespec {
        tv_sec: time.tv_sec + (ms / 1000) as i64 + (nanos / 1_000_000_000) as i64,
        tv_nsec: (nanos % 1_000_000_000) as _,
    }
}

/// Time left until `deadline`, or `None` when it has passed.
fn until(deadline: Timespec) -> Option<Timespec> {
    let now = now();
    let mut secs = deadline.tv_sec - now.tv_sec;
    let mut nanos = deadline.tv_nsec - now.tv_nsec;
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    if secs < 0 || (secs == 0 && nanos == 0) {
        return None;
    }
    Some(Timespec {
        tv_sec: secs,
        tv_nsec: nanos as _,
    })
}
