//! Host bindings of the `ossa:tool` world (`sandbox/wit/tool.wit`), all in one place.

wasmtime::component::bindgen!({
    world: "tool",
    path: "wit",
    exports: { default: async },
});

pub(crate) use self::ossa::tool::types::{ToolError as GuestError, ToolInfo as GuestInfo};
