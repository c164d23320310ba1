//! Whether this system can run confined commands, and if not, why.

use std::fmt;
use std::sync::OnceLock;

/// What the kernel offers confined mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSupport {
    /// The newest Landlock ABI the kernel enforces (at least 3), as far as ossa knows
    /// ABIs (it asks for rights up to ABI 6).
    pub landlock_abi: u32,
}

/// Why confined commands cannot run here. The message says so plainly, for users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}; running commands (exec) is off")]
pub struct Unsupported {
    /// What is missing.
    pub reason: String,
}

/// Whether this kernel enforces everything confined mode relies on: Landlock ABI 3 or
/// newer (file access, including truncation), and unprivileged user, PID and network
/// namespaces. Checked once per process by running `true` in a sandbox, so what is
/// reported is what works. On systems other than Linux: always [`Unsupported`].
pub fn exec_support() -> Result<ExecSupport, Unsupported> {
    static SUPPORT: OnceLock<Result<ExecSupport, Unsupported>> = OnceLock::new();
    SUPPORT.get_or_init(probe).clone()
}

#[cfg(target_os = "linux")]
fn probe() -> Result<ExecSupport, Unsupported> {
    use landlock::{ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, Scope};

    use super::confined::rules::REQUIRED_ABI;

    let unsupported = |reason: String| Unsupported { reason };
    let supports = |abi: ABI| {
        let ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi));
        let ruleset = match abi {
            ABI::V6 => ruleset.and_then(|ruleset| ruleset.scope(Scope::from_all(abi))),
            _ => ruleset,
        };
        ruleset.and_then(Ruleset::create).is_ok()
    };
    if !supports(REQUIRED_ABI) {
        return Err(unsupported(
            "the kernel does not enforce Landlock ABI 3 (needs Linux 6.2 or newer with \
             CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= boot list)"
                .to_owned(),
        ));
    }
    let landlock_abi = [(ABI::V6, 6), (ABI::V5, 5), (ABI::V4, 4)]
        .into_iter()
        .find(|(abi, _)| supports(*abi))
        .map_or(3, |(_, number)| number);
    trial_run().map_err(unsupported)?;
    Ok(ExecSupport { landlock_abi })
}

/// Runs `true` confined in a scratch workspace.
#[cfg(target_os = "linux")]
fn trial_run() -> Result<(), String> {
    use std::time::Duration;

    use super::grant::ExecGrant;
    use super::runner::{CommandExit, CommandRequest};

    let scratch = tempfile::tempdir()
        .map_err(|err| format!("cannot create a scratch directory to test the sandbox: {err}"))?;
    let workspace = std::fs::canonicalize(scratch.path())
        .map_err(|err| format!("cannot resolve the scratch directory: {err}"))?;
    let request = CommandRequest {
        argv: vec!["true".to_owned()],
        workspace: workspace.clone(),
        workdir: workspace,
        timeout: Duration::from_secs(10),
        grant: ExecGrant::confined(Vec::new()),
    };
    // On a short-lived thread of its own: the sandbox is tied to the thread that starts
    // it, and this thread lives until the command is done.
    let outcome = std::thread::scope(|scope| {
        scope
            .spawn(|| super::confined::run_blocking(&request, None))
            .join()
    })
    .map_err(|_| "the sandbox test panicked".to_owned())?;
    match outcome {
        Ok(outcome) if outcome.exit == CommandExit::Code(0) => Ok(()),
        Ok(outcome) => Err(format!(
            "a test command in the sandbox ended with {:?}",
            outcome.exit
        )),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(not(target_os = "linux"))]
fn probe() -> Result<ExecSupport, Unsupported> {
    Err(Unsupported {
        reason: "confined commands need Linux (Landlock and namespaces); macOS support \
                 through sandbox-exec is future work"
            .to_owned(),
    })
}

impl fmt::Display for ExecSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "confined commands available (Landlock ABI {}, user, PID and network namespaces)",
            self.landlock_abi
        )
    }
}
