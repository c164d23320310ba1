//! What a confined command may touch: the Landlock ruleset, the seccomp filters and the
//! environment, all built before the fork.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::exec::grant::ExecGrant;

/// The Landlock ABI whose rights and scopes the ruleset asks for (best effort: a kernel
/// with an older ABI enforces what it knows, down to [`REQUIRED_ABI`]).
const TARGET_ABI: ABI = ABI::V6;
/// The oldest ABI that confines writes completely: ABI 3 added `truncate`, without
/// which a command could empty any file it can name.
pub(crate) const REQUIRED_ABI: ABI = ABI::V3;

/// System directories commands may read and execute from.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    // CPU count and cgroup limits (nproc, available_parallelism).
    "/sys/devices/system/cpu",
    "/sys/fs/cgroup",
];

/// Entries of /etc that programs need to run, look up users and hosts, find
/// certificates and set up a login shell. Not /etc as a whole: it holds secrets a
/// root-owned command could otherwise read (shadow, sudoers, ssh host keys, ssl/private,
/// saved network credentials).
const ETC_READ: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ld.so.preload",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "services",
    "protocols",
    "networks",
    "hostname",
    "os-release",
    "lsb-release",
    "debian_version",
    "redhat-release",
    "localtime",
    "timezone",
    "locale.alias",
    "locale.conf",
    "default/locale",
    "environment",
    "mime.types",
    "magic",
    "magic.mime",
    "terminfo",
    "shells",
    "login.defs",
    "mtab",
    "profile",
    "profile.d",
    "bash.bashrc",
    "bashrc",
    "inputrc",
    "gitconfig",
    "alternatives",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/ca-trust",
    "crypto-policies",
    "python3",
    "perl",
    "manpath.config",
];

/// Device files commands may read and write (`> /dev/null` truncates, hence
/// `Truncate`).
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// The system part of `PATH`.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The ruleset for one command: the workspace, its private temporary directory and
/// the grant's `write` entries read-write; system directories, the /etc allowlist and the
/// grant's `read` entries read-only; signals and abstract sockets scoped to the sandbox.
pub(crate) fn landlock_ruleset(
    workspace: &Path,
    private_tmp: &Path,
    grant: &ExecGrant,
) -> Result<RulesetCreated, String> {
    let all = AccessFs::from_all(TARGET_ABI);
    let read = AccessFs::from_read(TARGET_ABI);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(REQUIRED_ABI))
        .and_then(|ruleset| {
            ruleset
                .set_compatibility(CompatLevel::BestEffort)
                .handle_access(all)
        })
        .and_then(|ruleset| ruleset.scope(Scope::from_all(TARGET_ABI)))
        .and_then(Ruleset::create)
        .map_err(|err| format!("the kernel cannot enforce the Landlock ruleset: {err}"))?;
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>, bool)> = vec![
        (workspace.to_path_buf(), all, true),
        (private_tmp.to_path_buf(), all, true),
    ];
    rules.extend(grant.write.iter().map(|dir| (dir.clone(), all, false)));
    rules.extend(grant.read.iter().map(|dir| (dir.clone(), read, false)));
    rules.extend(
        SYSTEM_READ
            .iter()
            .map(|dir| (PathBuf::from(dir), read, false)),
    );
    rules.extend(
        ETC_READ
            .iter()
            .map(|entry| (Path::new("/etc").join(entry), read, false)),
    );
    rules.extend(
        DEVICES
            .iter()
            .map(|dev| (PathBuf::from(dev), device, false)),
    );
    let mut ruleset = ruleset;
    for (path, access, required) in rules {
        let fd = match PathFd::new(&path) {
            Ok(fd) => fd,
            // Missing system entries are normal (no /lib32 here, no /etc/hosts there);
            // a granted directory that vanished grants nothing.
            Err(_) if !required => continue,
            Err(err) => return Err(format!("cannot open {}: {err}", path.display())),
        };
        let access = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(TARGET_ABI)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|err| format!("cannot add a Landlock rule for {}: {err}", path.display()))?;
    }
    Ok(ruleset)
}

/// The seccomp filters every command runs under (compiled once per process).
///
/// - `socket(AF_UNIX, …)` fails with `EPERM`: Landlock before ABI 9 does not govern
///   connecting to a Unix socket by path, and sockets such as the Docker daemon's or
///   systemd's would hand a command root on the host. `socketpair` still works.
/// - `io_uring_*` fail with `ENOSYS`: io_uring performs opens and connects that seccomp
///   never sees.
/// - `add_key`, `keyctl`, `request_key` fail with `ENOSYS`: the session keyring is
///   inherited and may hold the user's secrets.
/// - `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)` fail with `EPERM`: no typing into a terminal
///   (the command has no controlling terminal anyway).
/// - On x86-64, x32 system calls fail with `ENOSYS`, so their numbers cannot dodge the
///   rules above.
pub(crate) fn seccomp_filters() -> Result<Vec<BpfProgram>, String> {
    static FILTERS: OnceLock<Result<Vec<BpfProgram>, String>> = OnceLock::new();
    FILTERS.get_or_init(build_seccomp_filters).clone()
}

fn build_seccomp_filters() -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|err| format!("no seccomp support for this architecture: {err}"))?;
    let condition = |arg: u8, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
    };
    let build = |rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32| {
        SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .and_then(BpfProgram::try_from)
        .map_err(|err| format!("cannot build the seccomp filter: {err}"))
    };
    let denied: BTreeMap<i64, Vec<SeccompRule>> = [
        (
            libc::SYS_socket,
            vec![condition(0, libc::AF_UNIX as u64).map_err(|err| err.to_string())?],
        ),
        (
            libc::SYS_ioctl,
            vec![
                condition(1, libc::TIOCSTI).map_err(|err| err.to_string())?,
                condition(1, libc::TIOCLINUX).map_err(|err| err.to_string())?,
            ],
        ),
    ]
    .into_iter()
    .collect();
    let missing: BTreeMap<i64, Vec<SeccompRule>> = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_add_key,
        libc::SYS_keyctl,
        libc::SYS_request_key,
    ]
    .into_iter()
    .map(|syscall| (syscall, Vec::new()))
    .collect();
    let mut filters = vec![build(denied, libc::EPERM)?, build(missing, libc::ENOSYS)?];
    if let Some(x32) = x32_filter() {
        filters.push(x32);
    }
    Ok(filters)
}

/// On x86-64: x32 system calls (numbers with bit 30 set) fail with `ENOSYS`. seccompiler
/// matches numbers exactly, so this comparison is written out as classic BPF.
#[cfg(target_arch = "x86_64")]
fn x32_filter() -> Option<BpfProgram> {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
    const JEQ_K: u16 = 0x15; // BPF_JMP (5) | BPF_JEQ (0x10) | BPF_K (0)
    const JGE_K: u16 = 0x35; // BPF_JMP (5) | BPF_JGE (0x30) | BPF_K (0)
    const RET_K: u16 = 0x06; // BPF_RET (6) | BPF_K (0)
    const ARCH_OFFSET: u32 = 4; // seccomp_data.arch
    const NR_OFFSET: u32 = 0; // seccomp_data.nr
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    Some(vec![
        op(LD_W_ABS, 0, 0, ARCH_OFFSET),
        // Another architecture: the other filters already kill the process.
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, NR_OFFSET),
        op(JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        op(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ])
}

#[cfg(not(target_arch = "x86_64"))]
fn x32_filter() -> Option<BpfProgram> {
    None
}

/// The command's whole environment: a fixed minimal set, the granted pass-through
/// variables (read now), then the grant's fixed variables.
pub(crate) fn environment(grant: &ExecGrant, private_tmp: &Path) -> Vec<(String, String)> {
    let tmp = private_tmp.to_string_lossy().into_owned();
    let mut path: Vec<String> = grant
        .path
        .iter()
        .map(|dir| dir.to_string_lossy().into_owned())
        .collect();
    path.push(SYSTEM_PATH.to_owned());
    let mut env: BTreeMap<String, String> = [
        ("PATH", path.join(":")),
        ("HOME", tmp.clone()),
        ("TMPDIR", tmp),
        ("LANG", "C.UTF-8".to_owned()),
        ("TERM", "dumb".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for name in &grant.env {
        if let Some(value) = std::env::var_os(name) {
            env.insert(name.clone(), value.to_string_lossy().into_owned());
        }
    }
    env.extend(grant.vars.clone());
    env.into_iter().collect()
}

/// `~/.profile` for login shells: exports the command's PATH again (the system profile
/// replaced it with its own).
pub(crate) fn login_profile(environment: &[(String, String)]) -> String {
    let path = environment
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or("", |(_, value)| value.as_str());
    let quoted = shlex::try_quote(path).map_or_else(|_| "''".into(), |q| q.into_owned());
    format!("# Written by ossa: the PATH this command was granted.\nexport PATH={quoted}\n")
}
