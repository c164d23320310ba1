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
pub use paths::{WORKSPACE, WORKSPACE_DIR_ENV, display_path, resolve_path, workspace_dir};
pub use schema::parameters_schema;

pub use schemars::{self, JsonSchema};
pub use serde;
pub use serde_json;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The generated bindings of the `ossa:tool` world. Tools do not need them directly.
///
/// With the `process` feature they are those of the `exec-tool` world, which adds the
/// `process` import. A component imports it only if it calls [`process::run`]: unused
/// imports are left out of the component, so other tools built in the same workspace
/// (where features are unified) do not import it.
#[doc(hidden)]
pub mod bindings {
    #[cfg(not(feature = "process"))]
    wit_bindgen::generate!({
        world: "tool",
        path: "../../sandbox/wit",
        pub_export_macro: true,
        export_macro_name: "__export_tool_world",
        default_bindings_module: "ossa_tool_sdk::bindings",
        runtime_path: "ossa_tool_sdk::__wit_bindgen::rt",
    });
    #[cfg(feature = "process")]
    wit_bindgen::generate!({
        world: "exec-tool",
        path: "../../sandbox/wit",
        pub_export_macro: true,
        export_macro_name: "__export_tool_world",
        default_bindings_module: "ossa_tool_sdk::bindings",
        runtime_path: "ossa_tool_sdk::__wit_bindgen::rt",
    });
}

/// Running commands on the host (feature `process`): the capability of the built-in
/// `exec` tool. A component that calls [`process::run`] imports `ossa:tool/process`
/// and loads only under a policy with an `[exec]` grant.
#[cfg(feature = "process")]
pub mod process {
    pub use crate::bindings::ossa::tool::process::{Command, Completed, Exit, RunError, run};
}

/// The root key of a parameters schema under which a tool lists its argument aliases
/// (`{"alias": "canonical"}`). The host removes it from the schema the model sees.
pub const ALIASES_KEY: &str = "x-ossa-aliases";

/// One tool: its name and description for the model, its arguments, and what it does.
pub trait Tool {
    /// The arguments object. Field doc comments become the property descriptions in the
    /// schema the model sees; `Option` fields are optional.
    type Args: DeserializeOwned + JsonSchema;

    /// The name the model calls the tool by (`[a-zA-Z0-9_-]{1,64}`).
    const NAME: &'static str;

    /// What the tool does, for the model: when to use it and what it returns.
    const DESCRIPTION: &'static str;

    /// Other names models use for some arguments, as `(alias, canonical name)` pairs.
    /// `describe` lists them in the schema under [`ALIASES_KEY`]; the agent renames an
    /// alias to its canonical name before validating and calling, and the SDK does the
    /// same when parsing (for direct calls).
    const ALIASES: &'static [(&'static str, &'static str)] = &[];

    /// Runs the tool once. The returned text is what the model reads.
    fn call(args: Self::Args) -> Result<String, ToolError>;
}

/// The parameters schema of `T` with its aliases under [`ALIASES_KEY`].
pub fn schema_with_aliases<T: Tool>() -> serde_json::Value {
    let mut schema = parameters_schema::<T::Args>();
    if let (false, serde_json::Value::Object(root)) = (T::ALIASES.is_empty(), &mut schema) {
        let aliases = T::ALIASES
            .iter()
            .map(|(alias, canonical)| ((*alias).to_owned(), (*canonical).into()))
            .collect();
        root.insert(ALIASES_KEY.to_owned(), serde_json::Value::Object(aliases));
    }
    schema
}

/// The `describe` export for `T`; `version` is the tool crate's version.
#[doc(hidden)]
pub fn __describe<T: Tool>(version: &str) -> bindings::ToolInfo {
    bindings::ToolInfo {
        name: T::NAME.to_owned(),
        description: T::DESCRIPTION.to_owned(),
        parameters_schema: schema_with_aliases::<T>().to_string(),
        version: version.to_owned(),
    }
}

/// The `call` export for `T`: parses the arguments and converts the error.
#[doc(hidden)]
pub fn __call<T: Tool>(args_json: &str) -> Result<String, bindings::ToolError> {
    let args =
        parse_args_with_aliases::<T::Args>(args_json, T::ALIASES).map_err(ToolError::into_wit)?;
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

/// [`parse_args`] after renaming each alias key to its canonical name (when the
/// canonical name is not also present).
pub fn parse_args_with_aliases<A: DeserializeOwned>(
    args_json: &str,
    aliases: &[(&str, &str)],
) -> Result<A, ToolError> {
    if aliases.is_empty() {
        return parse_args(args_json);
    }
    match serde_json::from_str::<serde_json::Value>(args_json) {
        Ok(serde_json::Value::Object(mut object)) => {
            for (alias, canonical) in aliases {
                if !object.contains_key(*canonical)
                    && let Some(value) = object.remove(*alias)
                {
                    object.insert((*canonical).to_owned(), value);
                }
            }
            parse_args(&serde_json::Value::Object(object).to_string())
        }
        _ => parse_args(args_json),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Arguments.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// The command.
        command: String,
    }

    struct WithAliases;

    impl Tool for WithAliases {
        type Args = Args;
        const NAME: &'static str = "t";
        const DESCRIPTION: &'static str = "T.";
        const ALIASES: &'static [(&'static str, &'static str)] =
            &[("cmd", "command"), ("commands", "command")];
        fn call(args: Args) -> Result<String, ToolError> {
            Ok(args.command)
        }
    }

    #[test]
    fn aliases_are_listed_in_the_schema() {
        let schema = schema_with_aliases::<WithAliases>();
        assert_eq!(
            schema[ALIASES_KEY],
            json!({"cmd": "command", "commands": "command"})
        );
        assert_eq!(schema["required"], json!(["command"]));
    }

    #[test]
    fn aliases_are_renamed_when_parsing() {
        let aliases = WithAliases::ALIASES;
        let parsed: Args = parse_args_with_aliases(r#"{"cmd": "ls"}"#, aliases).unwrap();
        assert_eq!(parsed.command, "ls");
        // The canonical name wins over an alias.
        let parsed: Args =
            parse_args_with_aliases(r#"{"command": "a", "cmd": "b"}"#, aliases).unwrap();
        assert_eq!(parsed.command, "a");
        assert!(parse_args_with_aliases::<Args>(r#"{"other": 1}"#, aliases).is_err());
    }
}
