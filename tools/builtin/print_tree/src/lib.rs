//! `print_tree`: the directory structure under a path, drawn like `tree -L depth`, for
//! gpt-oss's `repo_browser.print_tree`.
//!
//! The walk is depth-limited and sorted by name; `.git` and everything .gitignore
//! excludes are left out, and dependency or build directories (`node_modules`,
//! `target`, ...) are shown but not entered. When there are more entries than
//! [`MAX_ENTRIES`], the shallower ones win: every level is shown in full before the next
//! one starts, and each directory whose contents were cut says how many entries it hides.

use std::fs;

use ignore::DirEntry;
use ossa_builtin_common::walk::{GIT_DIR, workspace_walk};
use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Entries drawn at most; the rest are counted in notes.
const MAX_ENTRIES: usize = 400;
/// Entries looked at at most (a cap on time and memory in huge trees).
const MAX_SCANNED: usize = 50_000;
/// The deepest `depth` accepted.
const MAX_DEPTH: usize = 20;
/// Directories that hold dependencies, caches or build output: shown, never entered.
const NOT_ENTERED: [&str; 12] = [
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hg",
    ".svn",
];

/// Arguments of `print_tree`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// Directory whose tree to show: relative to the workspace root (an empty string for
    /// the root), or an absolute path inside the workspace.
    pub path: String,
    /// How many levels below `path` to show; 1 shows only its own entries.
    pub depth: usize,
}

/// The tool.
pub struct PrintTree;

impl Tool for PrintTree {
    type Args = Args;
    const NAME: &'static str = "print_tree";
    const DESCRIPTION: &'static str = "Shows the files and directories under a path as a \
tree, like `tree -L depth`: entries sorted by name, directories ending in `/`, symbolic links \
as `name -> target`, and a count of directories and files at the end. Leaves out `.git` and \
what .gitignore excludes; dependency and build directories such as `node_modules` or \
`target` are listed but not opened. Large trees are shortened level by level, with a note \
in each directory whose entries were left out.";

    fn call(args: Args) -> Result<String, ToolError> {
        let root = resolve_path(&args.path)?;
        let shown = display_path(&root);
        if args.depth == 0 || args.depth > MAX_DEPTH {
            return Err(ToolError::InvalidArgs(format!(
                "`depth` must be between 1 and {MAX_DEPTH}"
            )));
        }
        let metadata = fs::metadata(&root).map_err(|err| ToolError::io(&shown, &err))?;
        if !metadata.is_dir() {
            return Err(ToolError::Failed(format!(
                "{shown} is a file, not a directory; open it to read it, or show the tree of \
                 its directory"
            )));
        }
        let mut walk = workspace_walk(&root);
        walk.max_depth(Some(args.depth))
            .filter_entry(|entry| entry.file_name() != GIT_DIR && !inside_not_entered(entry));
        let mut tree = Tree::default();
        for entry in walk.build() {
            match entry {
                Ok(entry) if entry.depth() == 0 => {}
                Ok(entry) => {
                    if tree.nodes.len() == MAX_SCANNED {
                        tree.scan_stopped = true;
                        break;
                    }
                    tree.push(&entry);
                }
                Err(_) => tree.unreadable += 1,
            }
        }
        Ok(tree.render(&shown, MAX_ENTRIES))
    }
}

/// True for an entry inside a directory that is listed but not entered (the root
/// itself is entered whatever its name: the model asked for it).
fn inside_not_entered(entry: &DirEntry) -> bool {
    entry.depth() >= 2
        && entry
            .path()
            .parent()
            .and_then(|parent| parent.file_name())
            .and_then(|name| name.to_str())
            .is_some_and(|name| NOT_ENTERED.contains(&name))
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A directory shown but not entered.
    DirNotEntered,
    /// A symlink and its target.
    Link(String),
}

/// One entry, in walk order (depth first, sorted by name).
#[derive(Debug)]
struct Node {
    depth: usize,
    name: String,
    kind: Kind,
    /// Index of the parent directory's node; `None` for the root's entries.
    parent: Option<usize>,
}

impl Node {
    /// The entry as drawn.
    fn label(&self) -> String {
        match &self.kind {
            Kind::File => self.name.clone(),
            Kind::Dir => format!("{}/", self.name),
            Kind::DirNotEntered => {
                format!("{}/ [not opened: dependencies or build output]", self.name)
            }
            Kind::Link(target) => format!("{} -> {target}", self.name),
        }
    }
}

/// The entries of a walk.
#[derive(Debug, Default)]
struct Tree {
    nodes: Vec<Node>,
    /// Index of the last node seen at each depth (depth 1 at index 0), to find parents.
    open_dirs: Vec<usize>,
    unreadable: usize,
    scan_stopped: bool,
}

impl Tree {
    fn push(&mut self, entry: &DirEntry) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type();
        let kind = if file_type.is_some_and(|t| t.is_symlink()) {
            // The sandbox refuses to read links to absolute paths (outside it).
            let target = fs::read_link(entry.path())
                .map(|target| target.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "(outside the workspace)".to_owned());
            Kind::Link(target)
        } else if file_type.is_some_and(|t| t.is_dir()) {
            if NOT_ENTERED.contains(&name.as_str()) {
                Kind::DirNotEntered
            } else {
                Kind::Dir
            }
        } else {
            Kind::File
        };
        self.add(entry.depth(), name, kind);
    }

    /// Adds an entry at `depth` (1 for the root's own entries), in walk order.
    fn add(&mut self, depth: usize, name: String, kind: Kind) {
        self.open_dirs.truncate(depth - 1);
        let parent = self.open_dirs.last().copied();
        self.nodes.push(Node {
            depth,
            name,
            kind,
            parent,
        });
        self.open_dirs.push(self.nodes.len() - 1);
    }

    /// The tree drawn with at most `max_entries` entries, shallow levels first.
    fn render(&self, shown: &str, max_entries: usize) -> String {
        let included = self.included(max_entries);
        let root = self.nodes.len();
        // The drawn entries of each directory (the root's at index `root`), and how
        // many it has that are not drawn.
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); root + 1];
        let mut hidden = vec![0usize; root + 1];
        let (mut dirs, mut files) = (0usize, 0usize);
        for (index, node) in self.nodes.iter().enumerate() {
            let parent = node.parent.unwrap_or(root);
            if !included[index] {
                hidden[parent] += 1;
                continue;
            }
            children[parent].push(index);
            match node.kind {
                Kind::Dir | Kind::DirNotEntered => dirs += 1,
                Kind::File | Kind::Link(_) => files += 1,
            }
        }
        let mut out = format!("{}/\n", shown.trim_end_matches('/'));
        let mut prefix = String::new();
        self.draw(&children, &hidden, root, &mut prefix, &mut out);
        out.push_str(&format!(
            "\n{dirs} {}, {files} {}\n",
            plural(dirs, "directory", "directories"),
            plural(files, "file", "files")
        ));
        let left_out = included.iter().filter(|drawn| !**drawn).count();
        if left_out > 0 {
            out.push_str(&format!(
                "[{left_out} of {} entries not shown; show the tree of a subdirectory, or use \
                 a smaller depth]\n",
                self.nodes.len()
            ));
        }
        if self.scan_stopped {
            out.push_str(&format!(
                "[stopped after looking at {MAX_SCANNED} entries; use a smaller depth]\n"
            ));
        }
        if self.unreadable > 0 {
            out.push_str(&format!(
                "[{} entries could not be read]\n",
                self.unreadable
            ));
        }
        out
    }

    /// Draws the entries of `dir` and, recursively, of its subdirectories: `|-- `
    /// before an entry followed by a sibling, `` `-- `` before the last one, `|   ` or
    /// four spaces for each level above; a directory with entries left out ends with a
    /// `[N more entries]` line.
    fn draw(
        &self,
        children: &[Vec<usize>],
        hidden: &[usize],
        dir: usize,
        prefix: &mut String,
        out: &mut String,
    ) {
        let entries = &children[dir];
        let more = hidden[dir];
        for (position, &child) in entries.iter().enumerate() {
            let last = position + 1 == entries.len() && more == 0;
            let node = &self.nodes[child];
            out.push_str(prefix);
            out.push_str(if last { "`-- " } else { "|-- " });
            out.push_str(&node.label());
            out.push('\n');
            if node.kind == Kind::Dir {
                let length = prefix.len();
                prefix.push_str(if last { "    " } else { "|   " });
                self.draw(children, hidden, child, prefix, out);
                prefix.truncate(length);
            }
        }
        if more > 0 {
            out.push_str(prefix);
            out.push_str(&format!(
                "`-- [{more} more {}]\n",
                plural(more, "entry", "entries")
            ));
        }
    }

    /// Which nodes to draw: all of depth 1, then all of depth 2, ... while they fit
    /// `max_entries`; the level that does not fit is drawn in walk order up to the cap.
    fn included(&self, max_entries: usize) -> Vec<bool> {
        let mut included = vec![false; self.nodes.len()];
        let mut budget = max_entries;
        let deepest = self.nodes.iter().map(|node| node.depth).max().unwrap_or(0);
        for depth in 1..=deepest {
            for (index, node) in self.nodes.iter().enumerate() {
                if budget == 0 {
                    return included;
                }
                if node.depth == depth && node.parent.is_none_or(|parent| included[parent]) {
                    included[index] = true;
                    budget -= 1;
                }
            }
        }
        included
    }
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

ossa_tool_sdk::export_tool!(PrintTree);

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree from `(depth, name)` in walk order; a name ending in `/` is a directory.
    fn tree(entries: &[(usize, &str)]) -> Tree {
        let mut tree = Tree::default();
        for (depth, name) in entries {
            let (name, kind) = match name.strip_suffix('/') {
                Some(dir) if NOT_ENTERED.contains(&dir) => (dir, Kind::DirNotEntered),
                Some(dir) => (dir, Kind::Dir),
                None => (*name, Kind::File),
            };
            tree.add(*depth, name.to_owned(), kind);
        }
        tree
    }

    const PROJECT: [(usize, &str); 8] = [
        (1, "README.md"),
        (1, "node_modules/"),
        (1, "src/"),
        (2, "lib.rs"),
        (2, "util/"),
        (3, "mod.rs"),
        (2, "zz.rs"),
        (1, "tests/"),
    ];

    #[test]
    fn draws_like_tree() {
        assert_eq!(
            tree(&PROJECT).render(".", 100),
            "./\n\
             |-- README.md\n\
             |-- node_modules/ [not opened: dependencies or build output]\n\
             |-- src/\n\
             |   |-- lib.rs\n\
             |   |-- util/\n\
             |   |   `-- mod.rs\n\
             |   `-- zz.rs\n\
             `-- tests/\n\
             \n\
             4 directories, 4 files\n"
        );
    }

    #[test]
    fn shallow_levels_win_when_cut() {
        // Room for the four top entries and two of the second level.
        assert_eq!(
            tree(&PROJECT).render("repo", 6),
            "repo/\n\
             |-- README.md\n\
             |-- node_modules/ [not opened: dependencies or build output]\n\
             |-- src/\n\
             |   |-- lib.rs\n\
             |   |-- util/\n\
             |   |   `-- [1 more entry]\n\
             |   `-- [1 more entry]\n\
             `-- tests/\n\
             \n\
             4 directories, 2 files\n\
             [2 of 8 entries not shown; show the tree of a subdirectory, or use a smaller depth]\n"
        );
        let top_only = tree(&PROJECT).render(".", 3);
        assert!(
            top_only.contains("|-- src/\n|   `-- [3 more entries]\n`-- [1 more entry]\n"),
            "{top_only}"
        );
    }

    #[test]
    fn an_empty_directory_has_a_count() {
        assert_eq!(
            tree(&[]).render("empty", 10),
            "empty/\n\n0 directories, 0 files\n"
        );
    }
}
