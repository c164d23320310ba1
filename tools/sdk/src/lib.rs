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

    /// Other names models use for parameters, as `(alias, canonical)` pairs, e.g.
    /// `("file_path", "path")`. The schema declares only the canonical names; the
    /// aliases travel in it under the root key [`ALIASES_KEY`], which the host takes
    /// out and hands to the agent, which renames an alias key to its canonical name
    /// (when the canonical key is absent) before validating and calling. [`parse_args`]
    /// does the same for direct calls.
    const ALIASES: &'static [(&'static str, &'static str)] = &[];

    /// Runs the tool once. The returned text is what the model reads.
    fn call(args: Self::Args) -> Result<String, ToolError>;
}

/// The root key of a parameters schema that carries [`Tool::ALIASES`], as an object
/// `{"alias": "canonical", ...}`.
pub const ALIASES_KEY: &str = "x-ossa-aliases";

/// The `describe` export for `T`; `version` is the tool crate's version.
#[doc(hidden)]
pub fn __describe<T: Tool>(version: &str) -> bindings::ToolInfo {
    bindings::ToolInfo {
        name: T::NAME.to_owned(),
        description: T::DESCRIPTION.to_owned(),
        parameters_schema: tool_schema::<T>().to_string(),
        version: version.to_owned(),
    }
}

/// The parameters schema `describe` reports for `T`: [`parameters_schema`] of its
/// arguments plus its aliases under [`ALIASES_KEY`] (absent when it has none).
pub fn tool_schema<T: Tool>() -> serde_json::Value {
    let mut schema = parameters_schema::<T::Args>();
    if let (Some(root), false) = (schema.as_object_mut(), T::ALIASES.is_empty()) {
        let aliases = T::ALIASES
            .iter()
            .map(|(alias, canonical)| ((*alias).to_owned(), (*canonical).into()))
            .collect();
        root.insert(ALIASES_KEY.to_owned(), serde_json::Value::Object(aliases));
    }
    schema
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
    parse_args_with_aliases(args_json, &[])
}

/// [`parse_args`], first renaming each alias key of `aliases` (`(alias, canonical)`
/// pairs, see [`Tool::ALIASES`]) to its canonical name when the canonical key is absent.
pub fn parse_args_with_aliases<A: DeserializeOwned>(
    args_json: &str,
    aliases: &[(&str, &str)],
) -> Result<A, ToolError> {
    let invalid = |err: serde_json::Error| {
        ToolError::InvalidArgs(format!(
            "the arguments are not valid for this tool: {err}. Send one JSON object that \
             matches the tool's parameters."
        ))
    };
    let text = if args_json.trim().is_empty() {
        "{}"
    } else {
        args_json
    };
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
    if let Some(object) = value.as_object_mut() {
        for (alias, canonical) in aliases {
            if !object.contains_key(*canonical)
                && let Some(argument) = object.remove(*alias)
            {
                object.insert((*canonical).to_owned(), argument);
            }
        }
    }
    serde_json::from_value(value).map_err(invalid)
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
    #[derive(Deserialize, JsonSchema, Debug, PartialEq)]
    struct Args {
        /// The file.
        path: String,
        /// First line.
        line_start: Option<u32>,
    }

    struct Open;

    impl Tool for Open {
        type Args = Args;
        const NAME: &'static str = "open";
        const DESCRIPTION: &'static str = "Opens.";
        const ALIASES: &'static [(&'static str, &'static str)] =
            &[("file_path", "path"), ("start_line", "line_start")];
        fn call(args: Args) -> Result<String, ToolError> {
            Ok(args.path)
        }
    }

    struct Plain;

    impl Tool for Plain {
        type Args = Args;
        const NAME: &'static str = "plain";
        const DESCRIPTION: &'static str = "Plain.";
        fn call(args: Args) -> Result<String, ToolError> {
            Ok(args.path)
        }
    }

    #[test]
    fn aliases_travel_in_the_schema_only_when_declared() {
        let schema = tool_schema::<Open>();
        assert_eq!(
            schema[ALIASES_KEY],
            json!({"file_path": "path", "start_line": "line_start"})
        );
        assert_eq!(schema["required"], json!(["path"]));
        assert!(tool_schema::<Plain>().get(ALIASES_KEY).is_none());
    }

    #[test]
    fn aliases_are_renamed_unless_the_canonical_name_is_there() {
        let parse = |json: &str| parse_args_with_aliases::<Args>(json, Open::ALIASES);
        assert_eq!(
            parse(r#"{"file_path": "a.rs", "start_line": 3}"#).unwrap(),
            Args {
                path: "a.rs".into(),
                line_start: Some(3)
            }
        );
        assert_eq!(
            parse(r#"{"path": "a.rs", "file_path": "b.rs"}"#)
                .unwrap()
                .path,
            "a.rs"
        );
        // Without aliases the alias is an unknown key and the canonical one is missing.
        let err = parse_args::<Args>(r#"{"file_path": "a.rs"}"#).unwrap_err();
        assert!(
            matches!(&err, ToolError::InvalidArgs(m) if m.contains("missing field `path`")),
            "{err:?}"
        );
        assert!(matches!(parse("[1]"), Err(ToolError::InvalidArgs(_))));
        assert!(matches!(parse("{"), Err(ToolError::InvalidArgs(_))));
    }
}
