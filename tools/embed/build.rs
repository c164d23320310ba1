//! Builds the guest workspace in `tools/` for `wasm32-wasip2` and generates
//! `components.rs`, which embeds the built-in tools and names the test components.
//!
//! The nested cargo gets its own target directory (`<target>/wasm/<checkout>`, so it never waits
//! on the lock of the build that runs this script) and a scrubbed environment: the
//! variables cargo sets for build scripts (target triple, profile, rustflags, the
//! clippy wrapper) describe the host build and must not leak into the guest build.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

/// (tool name, crate artifact name) of the built-in tools, in the order they are listed:
/// the first five as before, then the rest of gpt-oss's `repo_browser` tools.
const BUILTINS: [(&str, &str); 9] = [
    ("read_file", "ossa_tool_read_file"),
    ("write_file", "ossa_tool_write_file"),
    ("list_dir", "ossa_tool_list_dir"),
    ("grep", "ossa_tool_grep"),
    ("apply_patch", "ossa_tool_apply_patch"),
    ("print_tree", "ossa_tool_print_tree"),
    ("search", "ossa_tool_search"),
    ("open_file", "ossa_tool_open_file"),
    ("exec", "ossa_tool_exec"),
];

/// (constant name, crate artifact name) of components used only by tests.
const TEST_COMPONENTS: [(&str, &str); 2] =
    [("WORD_COUNT", "word_count"), ("ATTACK", "ossa_attack_tool")];

/// Paths under the repository whose changes require rebuilding the guests.
const GUEST_SOURCES: [&str; 7] = [
    "tools/Cargo.toml",
    "tools/Cargo.lock",
    "tools/sdk",
    "tools/builtin",
    "tools/examples",
    "tools/attack",
    "sandbox/wit",
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("cargo::error={}", message.replace('\n', " "));
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    let guests = manifest_dir
        .parent()
        .ok_or("tools/embed has no parent directory")?;
    let repo = guests.parent().ok_or("tools/ has no parent directory")?;
    for source in GUEST_SOURCES {
        println!("cargo::rerun-if-changed={}", repo.join(source).display());
    }

    // One directory per guest workspace: two checkouts sharing a target directory (git
    // worktrees) would otherwise embed whichever checkout built the guests last, since a
    // fresh build does not copy its artifacts out again.
    let checkout = Sha256::digest(guests.as_os_str().as_encoded_bytes());
    let target_dir = cargo_target_dir(&out_dir)
        .unwrap_or_else(|| out_dir.clone())
        .join("wasm")
        .join(format!(
            "{:02x}{:02x}{:02x}{:02x}",
            checkout[0], checkout[1], checkout[2], checkout[3]
        ));
    build_guests(guests, &target_dir)?;
    let built = target_dir.join("wasm32-wasip2").join("release");

    let mut generated = String::from(
        "/// The built-in tools, in listing order.\npub static BUILTINS: &[Component] = &[\n",
    );
    for (name, artifact) in BUILTINS {
        let copy = copy_component(&built, artifact, &out_dir)?;
        let bytes =
            fs::read(&copy).map_err(|err| format!("cannot read {}: {err}", copy.display()))?;
        let digest = Sha256::digest(&bytes);
        let sha256 = digest.iter().fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        let _ = writeln!(
            generated,
            "    Component {{ name: {name:?}, wasm: include_bytes!({:?}), sha256: {sha256:?} }},",
            copy.display().to_string()
        );
    }
    generated.push_str("];\n\n/// Paths of components built for tests: the example custom tool and the attack tool.\npub mod test_components {\n");
    for (constant, artifact) in TEST_COMPONENTS {
        let copy = copy_component(&built, artifact, &out_dir)?;
        let _ = writeln!(
            generated,
            "    /// `{artifact}.wasm`, built from tools/.\n    pub const {constant}: &str = {:?};",
            copy.display().to_string()
        );
    }
    generated.push_str("}\n");
    let destination = out_dir.join("components.rs");
    fs::write(&destination, generated)
        .map_err(|err| format!("cannot write {}: {err}", destination.display()))
}

fn env_var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

/// The `target` directory of the host build: the nearest ancestor of `OUT_DIR` that
/// cargo marked with `CACHEDIR.TAG`, or else the directory above the profile directory
/// (`OUT_DIR` is `<target>/<profile>/build/<package>-<hash>/out`). Cargo writes the tag
/// only when it creates `target/` itself, so a script that made `target/` first (as
/// scripts/llama-server.sh does) leaves it out.
fn cargo_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| {
            let build = out_dir.ancestors().nth(2)?;
            (build.file_name()? == "build").then_some(build.parent()?.parent()?)
        })
        .map(Path::to_path_buf)
}

fn build_guests(guests: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        // --locked: the guests build from tools/Cargo.lock exactly (after changing their
        // dependencies, run cargo once in tools/ to update it).
        .args([
            "build",
            "--release",
            "--locked",
            "--workspace",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(guests);
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if leaks_into_nested_cargo(name) {
            command.env_remove(name);
        }
    }
    let output = command
        .output()
        .map_err(|err| format!("cannot run cargo to build the tool components: {err}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed")
    {
        "\nInstall the target with: rustup target add wasm32-wasip2"
    } else {
        ""
    };
    Err(format!(
        "building the tool components in {} failed:\n{stderr}{hint}",
        guests.display()
    ))
}

/// Variables cargo sets for this build script (or the user set for the host build)
/// that would change what the nested guest build does.
fn leaks_into_nested_cargo(name: &str) -> bool {
    const KEEP: [&str; 3] = ["CARGO_HOME", "CARGO_NET_OFFLINE", "CARGO_HTTP_TIMEOUT"];
    const DROP: [&str; 13] = [
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
        "MAKEFLAGS",
        "MFLAGS",
    ];
    (name.starts_with("CARGO_") && !KEEP.contains(&name) && !name.starts_with("CARGO_REGISTRIES_"))
        || name.starts_with("__CARGO")
        || DROP.contains(&name)
}

/// Copies `<artifact>.wasm` into `OUT_DIR`, so the embedded bytes cannot change under
/// a later guest build for another profile.
fn copy_component(built: &Path, artifact: &str, out_dir: &Path) -> Result<PathBuf, String> {
    let source = built.join(format!("{artifact}.wasm"));
    let destination = out_dir.join(format!("{artifact}.wasm"));
    fs::copy(&source, &destination).map_err(|err| {
        format!(
            "cannot copy {} to {}: {err}",
            source.display(),
            destination.display()
        )
    })?;
    Ok(destination)
}
