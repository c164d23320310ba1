//! An example ossa tool, the starting point of tools/README.md: counts the lines,
//! words and characters of a text file in the workspace and lists its most common
//! words. Install it with `ossa tools add <word_count.wasm> --workspace read`.

use std::collections::HashMap;

use ossa_tool_sdk::{Tool, ToolError, display_path, resolve_path};
use schemars::JsonSchema;
use serde::Deserialize;

/// Arguments of `word_count`.
#[derive(Deserialize, JsonSchema)]
struct Args {
    /// Path of a text file, relative to the workspace root.
    path: String,
    /// How many of the most common words to list. Default 5.
    top: Option<usize>,
}

struct WordCount;

impl Tool for WordCount {
    type Args = Args;
    const NAME: &'static str = "word_count";
    const DESCRIPTION: &'static str = "Counts the lines, words and characters of a text file \
        in the workspace and lists its most common words with their counts.";

    fn call(args: Args) -> Result<String, ToolError> {
        let path = resolve_path(&args.path)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|err| ToolError::io(&display_path(&path), &err))?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(word.to_lowercase()).or_default() += 1;
        }
        let mut common: Vec<(String, usize)> = counts.into_iter().collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        common.truncate(args.top.unwrap_or(5));
        let words: usize = text.split_whitespace().count();
        let mut out = format!(
            "{}: {} lines, {words} words, {} characters\n",
            display_path(&path),
            text.lines().count(),
            text.chars().count()
        );
        for (word, count) in common {
            out.push_str(&format!("{count:>6} {word}\n"));
        }
        Ok(out)
    }
}

ossa_tool_sdk::export_tool!(WordCount);
