//! How built-in tools walk the workspace: like ripgrep, they honour `.gitignore` files
//! (also outside a git repository), never follow symlinks, visit entries sorted by name
//! and never enter `.git`.

use std::path::Path;

use ignore::WalkBuilder;

/// The directory a walk never enters.
pub const GIT_DIR: &str = ".git";

/// A walk of `root` with the built-ins' rules; the caller may add a depth limit or
/// overrides before building it (a caller that sets its own `filter_entry` replaces
/// this one and must leave out [`GIT_DIR`] itself).
pub fn workspace_walk(root: &Path) -> WalkBuilder {
    let mut walk = WalkBuilder::new(root);
    walk.hidden(false)
        .git_global(false)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|entry| entry.file_name() != GIT_DIR);
    walk
}
