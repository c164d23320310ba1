//! Host bindings of the `ossa:tool` package (`sandbox/wit/tool.wit`), all in one place.
//!
//! Generated for the `exec-tool` world, a superset of `tool` (same exports, plus the
//! `process` import), so one pre-instantiation type serves every tool; whether a tool may
//! import `process` is decided at load time ([`crate::exec::check_process_import`]).

wasmtime::component::bindgen!({
    world: "exec-tool",
    path: "wit",
    imports: { "ossa:tool/process.run": async },
    exports: { default: async },
});

pub(crate) use self::ExecToolPre as ToolPre;
pub(crate) use self::ossa::tool::process as guest_process;
pub(crate) use self::ossa::tool::types::{ToolError as GuestError, ToolInfo as GuestInfo};
