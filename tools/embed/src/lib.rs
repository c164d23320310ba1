//! ossa's built-in tools, compiled to `wasm32-wasip2` components and embedded.
//!
//! `build.rs` builds the guest workspace in `tools/` (its own cargo workspace, target
//! `wasm32-wasip2`, release profile, target directory `<target>/wasm`) and embeds the
//! components. Hosting them is `ossa-sandbox`'s job; this crate only carries the bytes.
#![deny(missing_docs)]

/// One embedded component.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The tool's name (what the model calls).
    pub name: &'static str,
    /// The component binary.
    pub wasm: &'static [u8],
    /// Lowercase hex SHA-256 of `wasm`, computed at build time.
    pub sha256: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/components.rs"));

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_a_component() {
        let names: Vec<&str> = BUILTINS.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "read_file",
                "write_file",
                "list_dir",
                "grep",
                "apply_patch",
                "print_tree",
                "search",
                "open_file",
                "exec"
            ]
        );
        for component in BUILTINS {
            // Component-model binaries have layer 1 in the version field.
            assert_eq!(
                &component.wasm[..8],
                b"\0asm\x0d\0\x01\0",
                "{}",
                component.name
            );
            assert_eq!(component.sha256.len(), 64);
        }
        for path in [test_components::WORD_COUNT, test_components::ATTACK] {
            assert!(std::path::Path::new(path).is_file(), "{path}");
        }
    }
}
