//! The process-wide wasmtime setup: one engine, one linker, the epoch ticker and the
//! artifact cache; and loading a component into a [`Tool`].

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;

use crate::bindings;
use crate::cache::{ArtifactCache, sha256_hex};
use crate::exec::{ProcessHost, ProcessView, imports_process};
use crate::guarded_fs::{GuardedFilesystem, GuardedFs};
use crate::policy::{MAX_MEMORY_MIB, PolicyError, ToolPolicy};
use crate::tool::{State, Tool, ToolInfo};

/// How often the epoch advances. Deadlines are checked at this granularity, and a
/// busy guest yields to the async runtime this often.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Tool instances that can exist at once (concurrent calls across all tools). Each
/// slot reserves address space (not memory) for the largest memory a policy allows.
const POOL_INSTANCES: u32 = 32;
/// Core instances per component: a Rust tool has a handful; componentize-py and
/// componentize-js components have a few dozen.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Size of a component's or core module's instance metadata (not its linear memory).
const MAX_INSTANCE_METADATA: usize = 4 << 20;
/// Wasm stack per call; deeper recursion traps as `stack-overflow`. The async fiber
/// stack must hold this plus the host functions it calls.
const MAX_WASM_STACK: usize = 1 << 20;
const ASYNC_STACK: usize = 4 << 20;
/// Dirty memory (and table) bytes per pool slot kept resident between calls, when the
/// kernel can tell which pages were written (see `engine_config`); a slot's pages past
/// this are discarded as before. A `read_file` call dirties less than 256 KiB.
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;
/// Wasm frames kept in a trap's backtrace (wasmtime's default is 20).
pub(crate) const BACKTRACE_FRAMES: usize = 128;

/// Runs tools. Create one per process and share it: it owns the compiled-code cache,
/// the instance pool and the thread that drives deadlines.
///
/// Defaults, all deny: a tool sees no files, no environment variables, no arguments
/// but its name, no network, an empty stdin; its stdout and stderr are captured
/// (capped) for the log. Each grant comes from the tool's [`ToolPolicy`].
#[derive(Clone)]
pub struct ToolHost {
    pub(crate) shared: Arc<HostShared>,
}

pub(crate) struct HostShared {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    pub(crate) cache: ArtifactCache,
}

/// The host could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the tool sandbox: {0}")]
pub struct HostError(String);

/// A component could not be loaded as a tool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The bytes are not a valid component, or compiling or caching it failed.
    #[error("{0}")]
    Compile(String),
    /// The component imports interfaces ossa does not provide, or does not export the
    /// `ossa:tool` world.
    #[error("{0}")]
    Interface(String),
    /// `describe` failed or returned something unusable.
    #[error("{0}")]
    Describe(String),
}

impl ToolHost {
    /// Starts the engine and the epoch ticker, with compiled components cached in
    /// `cache_dir` (created with mode 0700 if missing). The directory must belong to the
    /// harness: never one a tool can write.
    pub fn new(cache_dir: &Path) -> Result<Self, HostError> {
        let engine = Engine::new(&engine_config()).map_err(|err| HostError(format!("{err:#}")))?;
        let linker = linker(&engine).map_err(|err| HostError(format!("{err:#}")))?;
        let cache =
            ArtifactCache::open(cache_dir, &engine).map_err(|err| HostError(err.to_string()))?;
        start_ticker(&engine)?;
        Ok(ToolHost {
            shared: Arc::new(HostShared {
                engine,
                linker,
                cache,
            }),
        })
    }

    /// Where compiled components are cached.
    pub fn cache_dir(&self) -> &Path {
        self.shared.cache.dir()
    }

    /// Loads a component as a tool with `policy`: validates and compiles it (or maps
    /// the cached compilation), checks it exports the `ossa:tool` world and imports
    /// only WASI, and asks it to describe itself (cached too). The policy's grants do
    /// not apply to `describe`, which runs with none.
    pub async fn load(&self, wasm: Vec<u8>, policy: ToolPolicy) -> Result<Tool, LoadError> {
        let sha256 = sha256_hex(&wasm);
        self.load_with_digest(wasm, sha256, policy).await
    }

    /// [`ToolHost::load`] with the SHA-256 already known (built-in tools carry it).
    pub(crate) async fn load_with_digest(
        &self,
        wasm: Vec<u8>,
        sha256: String,
        policy: ToolPolicy,
    ) -> Result<Tool, LoadError> {
        policy.validate()?;
        if !looks_like_component(&wasm) {
            return Err(LoadError::Compile(
                "the file is not a WebAssembly component (a core module or another file?); \
                 build tools for wasm32-wasip2, which produces components"
                    .to_owned(),
            ));
        }
        let shared = Arc::clone(&self.shared);
        let digest = sha256.clone();
        let (component, cached) = tokio::task::spawn_blocking(move || {
            shared.cache.load_or_compile(&shared.engine, &wasm, &digest)
        })
        .await
        .map_err(|err| LoadError::Compile(format!("compilation was interrupted: {err}")))?
        .map_err(|err| LoadError::Compile(err.to_string()))?;
        tracing::debug!(%sha256, cached, "component ready");
        let component_type = component.component_type();
        let imports_process = imports_process(
            component_type
                .imports(&self.shared.engine)
                .map(|(name, _)| name),
        );
        if imports_process && policy.exec.is_none() {
            return Err(LoadError::Interface(
                "the component imports ossa:tool/process (running commands on the host), \
                 which only a tool granted exec may import: add an [exec] table to its \
                 policy (mode = \"confined\" to run commands, \"off\" to refuse them), or \
                 use a tool that does not run commands"
                    .to_owned(),
            ));
        }
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(&component)
            .map_err(|err| {
                LoadError::Interface(format!(
                    "the component needs imports ossa does not provide (tools may import WASI 0.2, \
                 and ossa:tool/process with an exec grant): {err:#}"
                ))
            })?;
        let pre = bindings::ToolPre::new(instance_pre).map_err(|err| {
            LoadError::Interface(format!(
                "the component does not export the ossa:tool world (`describe` and `call`, see \
                 sandbox/wit/tool.wit): {err:#}"
            ))
        })?;
        let info = self.describe(&pre, &sha256).await?;
        Ok(Tool::new(
            Arc::clone(&self.shared),
            pre,
            info,
            sha256,
            policy,
            imports_process,
        ))
    }

    /// The tool's description, from the cache or by calling `describe`.
    async fn describe(
        &self,
        pre: &bindings::ToolPre<State>,
        sha256: &str,
    ) -> Result<ToolInfo, LoadError> {
        let info_path = self.shared.cache.info_path(sha256);
        if let Ok(text) = std::fs::read_to_string(&info_path)
            && let Ok(info) = serde_json::from_str::<ToolInfo>(&text)
            && info.validate().is_ok()
        {
            return Ok(info);
        }
        let info = crate::tool::describe(&self.shared, pre)
            .await
            .map_err(LoadError::Describe)?;
        info.validate().map_err(LoadError::Describe)?;
        if let Ok(json) = serde_json::to_vec_pretty(&info)
            && let Err(err) = self.shared.cache.write_file(&info_path, &json)
        {
            tracing::warn!(%err, "cannot cache the tool description");
        }
        Ok(info)
    }
}

fn looks_like_component(wasm: &[u8]) -> bool {
    // Magic, then version 0x0d and layer 1 (a core module has layer 0).
    wasm.len() >= 8 && wasm[..4] == *b"\0asm" && wasm[6..8] == [1, 0]
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Tools are WASI 0.2 components called one export at a time; the component-model
    // async machinery (a task per host call, a worker fiber unwound with an error,
    // and a backtrace under RUST_BACKTRACE, when the store is dropped) cost about 8 µs
    // per call for nothing. Components that use the async ABI (none of ossa's do) no
    // longer validate.
    config.concurrency_support(false);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(ASYNC_STACK);
    // Deep enough to recognise a runaway recursion (see `tool.rs`).
    config.wasm_backtrace_max_frames(NonZeroUsize::new(BACKTRACE_FRAMES));
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * CORE_INSTANCES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_memories(POOL_INSTANCES * 4)
        .max_memories_per_component(16)
        .total_tables(POOL_INSTANCES * 16)
        .max_tables_per_component(64)
        .total_stacks(POOL_INSTANCES)
        .max_component_instance_size(MAX_INSTANCE_METADATA)
        .max_core_instance_size(MAX_INSTANCE_METADATA)
        .max_memory_size((MAX_MEMORY_MIB as usize) << 20);
    // Reset a slot's memory and tables by copying back only the pages the last call
    // dirtied (found with the PAGEMAP_SCAN ioctl, Linux 6.7+) instead of discarding them
    // with madvise and faulting them in again on the next call: about a third of a warm
    // call. The contents after reset are the same either way (the module's initial
    // image). Without the ioctl, keeping memory resident would mean a memset of that
    // much memory per call, so the default applies.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// WASI 0.2 with the guarded file system in place of wasmtime-wasi's.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    linker.allow_shadowing(true);
    wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<State, GuardedFilesystem>(
        &mut linker,
        |state| GuardedFs {
            inner: WasiFilesystemCtxView {
                ctx: state.wasi.filesystem(),
                table: &mut state.table,
            },
            monitor: &state.monitor,
        },
    )?;
    linker.allow_shadowing(false);
    // Linked for every component; `ToolHost::load` refuses components that import it
    // without an exec grant.
    bindings::guest_process::add_to_linker::<State, ProcessHost>(&mut linker, |state| {
        ProcessView {
            call: state.exec.as_ref(),
        }
    })?;
    Ok(linker)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub(crate) fn start_ticker(engine: &Engine) -> Result<(), HostError> {
    let weak = engine.weak();
    thread::Builder::new()
        .name("ossa-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|err| HostError(format!("cannot start the deadline thread: {err}")))
}
