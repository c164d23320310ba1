//! Write an ossa tool in Rust.
//!
//! A tool is a WebAssembly component exporting the `ossa:tool` world
//! (`sandbox/wit/tool.wit`). This crate hides the bindings: describe the arguments as a
//! struct deriving `Deserialize` and `JsonSchema`, implement [`Tool`], and call
//! [`export_tool!`]. The SDK parses the model's JSON into the struct, derives the JSON
//! Schema the model sees from it, and turns errors into the WIT `tool-error`.
//!
//! ```ignore
//! use ossa_tool_sdk::{JsonSchema, Tool, ToolError, serde::Deserialize};
//!
//! /// Arguments of `shout`.
//! #[derive(Deserialize, JsonSchema)]
//! struct Args {
//!     /// The text to shout.
//!     text: String,
//! }
//!
//! struct Shout;
//!
//! impl Tool for Shout {
//!     type Args = Args;
//!     const NAME: &'static str = "shout";
//!     const DESCRIPTION: &'static str = "Returns the text in capital letters.";
//!     fn call(args: Args) -> Result<String, ToolError> {
//!         Ok(args.text.to_uppercase())
//!     }
//! }
//!
//! ossa_tool_sdk::export_tool!(Shout);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` in
//! `target/wasm32-wasip2/release/` is the component to give to `ossa tools add`.
#![deny(missing_docs)]

// The generated bindings name this crate by its path, also from inside it.
extern crate self as ossa_tool_sdk;

mod error;
mod paths;
mod schema;

use serde::de::DeserializeOwned;

pub use error::ToolError;
pub use paths::{WORKSPACE, display_path, resolve_path};
pub use schema::parameters_schema;

pub use schemars::{self, JsonSchema};
pub use serde;
pub use serde_json;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The generated bindings of the `ossa:tool` world. Tools do not need them directly.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "tool",
        path: "../../sandbox/wit",
        pub_export_macro: true,
        export_macro_name: "__export_tool_world",
        default_bindings_module: "ossa_tool_sdk::bindings",
        runtime_path: "ossa_tool_sdk::__wit_bindgen::rt",
    });
}

/// One tool: its name and description for the model, its arguments, and what it does.
pub trait Tool {
    /// The arguments object. Field doc comments become the property descriptions in the
    /// schema the model sees; `Option` fields are optional.
    type Args: DeserializeOwned + JsonSchema;

    /// The name the model calls the tool by (`[a-zA-Z0-9_-]{1,64}`).
    const NAME: &'static str;

    /// What the tool does, for the model: when to use it and what it returns.
    const DESCRIPTION: &'static str;

    /// Runs the tool once. The returned text is what the model reads.
    fn call(args: Self::Args) -> Result<String, ToolError>;
}

/// The `describe` export for `T`; `version` is the tool crate's version.
#[doc(hidden)]
pub fn __describe<T: Tool>(version: &str) -> bindings::ToolInfo {
    bindings::ToolInfo {
        name: T::NAME.to_owned(),
        description: T::DESCRIPTION.to_owned(),
        parameters_schema: parameters_schema::<T::Args>().to_string(),
        version: version.to_owned(),
    }
}

/// The `call` export for `T`: parses the arguments and converts the error.
#[doc(hidden)]
pub fn __call<T: Tool>(args_json: &str) -> Result<String, bindings::ToolError> {
    let args = parse_args::<T::Args>(args_json).map_err(ToolError::into_wit)?;
    T::call(args).map_err(ToolError::into_wit)
}

/// Parses the model's arguments. An empty string counts as `{}` because models call
/// argument-less tools that way.
pub fn parse_args<A: DeserializeOwned>(args_json: &str) -> Result<A, ToolError> {
    let text = if args_json.trim().is_empty() {
        "{}"
    } else {
        args_json
    };
    serde_json::from_str(text).map_err(|err| {
        ToolError::InvalidArgs(format!(
            "the arguments are not valid for this tool: {err}. Send one JSON object that \
             matches the tool's parameters."
        ))
    })
}

/// Exports a [`Tool`] as the component's `ossa:tool` world. Use it once per crate.
#[macro_export]
macro_rules! export_tool {
    ($tool:ty) => {
        struct __OssaToolExport;

        impl $crate::bindings::Guest for __OssaToolExport {
            fn describe() -> $crate::bindings::ToolInfo {
                $crate::__describe::<$tool>(env!("CARGO_PKG_VERSION"))
            }

            fn call(
                args_json: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::bindings::ToolError> {
                $crate::__call::<$tool>(&args_json)
            }
        }

        $crate::bindings::__export_tool_world!(__OssaToolExport with_types_in $crate::bindings);
    };
}
