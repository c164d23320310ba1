//! Where ossa keeps its files: `$OSSA_HOME`, else `$XDG_DATA_HOME/ossa`, else
//! `~/.local/share/ossa`. Sessions go in `sessions/`, the chat history in `history.txt`.

use std::path::PathBuf;

use anyhow::Context as _;

/// ossa's data directory (not created here).
pub fn data_dir() -> anyhow::Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(home) = var("OSSA_HOME") {
        return Ok(PathBuf::from(home));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(xdg).join("ossa"));
    }
    let home = var("HOME").context(
        "cannot find a data directory: set OSSA_HOME (or HOME / XDG_DATA_HOME) to where ossa may keep sessions",
    )?;
    Ok(PathBuf::from(home).join(".local/share/ossa"))
}

/// A new, unique transcript path under `data_dir/sessions/`, named by start time and
/// session id: `sessions/2026-11-27T23-14-24-<id>.jsonl`.
pub fn default_transcript_path(session_id: &str, started_at: &str) -> anyhow::Result<PathBuf> {
    let stamp: String = started_at
        .chars()
        .take(19)
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    Ok(data_dir()?
        .join("sessions")
        .join(format!("{stamp}-{session_id}.jsonl")))
}

/// A session id: 12 hex digits from the time and the process id (unique enough for
/// file names; not a secret).
pub fn new_session_id() -> String {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(now.as_nanos().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let digest = hasher.finalize();
    digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
