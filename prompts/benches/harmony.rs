//! Render and parse throughput on a realistic 20-turn agent conversation with 10 tools,
//! side by side with openai-harmony 0.0.8 in the same process.
//!
//! What is compared, honestly:
//! - render: openai-harmony renders to token ids; ossa renders to pieces. Both
//!   "ours: pieces" and "ours: pieces + o200k tokenization" (bpe-openai) are measured;
//!   the second is the like-for-like comparison (and is checked to give the same ids).
//! - parse: both parsers get the same token ids of one completion; ossa maps each id to
//!   a special token or its bytes through a table, as a model backend does.
//!
//! `cargo bench -p ossa-prompts` measures ossa alone. With `--features reference-bench`
//! it adds openai-harmony 0.0.8 and prints the ratios; the reference needs the o200k
//! vocab: TIKTOKEN_ENCODINGS_BASE, or the tiktoken-rs 0.12.1 crate's assets/ in the
//! cargo registry (found automatically).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::Criterion;
use ossa_prompts::{
    Conversation, DeveloperContent, FinishReason, Message, ParseOptions, Piece, RenderOptions,
    Rendered, Role, SpecialToken, StreamParser, SystemContent, ToolDescription,
    render_conversation_for_completion,
};
use serde_json::json;

fn tools() -> Vec<ToolDescription> {
    let path = json!({"type": "string", "description": "Path relative to the workspace root"});
    vec![
        ToolDescription::new(
            "read_file",
            "Reads a UTF-8 text file.",
            Some(
                json!({"type": "object", "properties": {"path": path, "start_line": {"type": "integer", "description": "First line, 1-based", "default": 1}, "max_lines": {"type": "integer", "default": 400}}, "required": ["path"]}),
            ),
        ),
        ToolDescription::new(
            "write_file",
            "Writes a file, replacing it.",
            Some(
                json!({"type": "object", "properties": {"path": path, "content": {"type": "string"}}, "required": ["path", "content"]}),
            ),
        ),
        ToolDescription::new(
            "list_dir",
            "Lists a directory.",
            Some(
                json!({"type": "object", "properties": {"path": path, "depth": {"type": "integer", "default": 1}}}),
            ),
        ),
        ToolDescription::new(
            "grep",
            "Searches files with a regular expression.\nReturns matching lines with their paths.",
            Some(
                json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path, "case_sensitive": {"type": "boolean", "default": true}, "max_results": {"type": "integer", "default": 100}}, "required": ["pattern"]}),
            ),
        ),
        ToolDescription::new(
            "apply_patch",
            "Applies a unified diff to the workspace.",
            Some(
                json!({"type": "object", "properties": {"patch": {"type": "string", "description": "The diff, with ---/+++ headers"}}, "required": ["patch"]}),
            ),
        ),
        ToolDescription::new(
            "run_tests",
            "Runs the test suite.",
            Some(
                json!({"type": "object", "properties": {"filter": {"type": "string", "nullable": true}, "timeout_s": {"type": "number", "default": 120}}}),
            ),
        ),
        ToolDescription::new(
            "search_web",
            "Searches the web.",
            Some(
                json!({"type": "object", "properties": {"query": {"type": "string"}, "topn": {"type": "integer", "default": 5}, "source": {"type": "string", "enum": ["web", "news"], "default": "web"}}, "required": ["query"]}),
            ),
        ),
        ToolDescription::new(
            "get_weather",
            "Gets the weather.",
            Some(
                json!({"type": "object", "properties": {"location": {"type": "string", "description": "City name"}, "unit": {"type": "string", "enum": ["c", "f"], "default": "c"}}, "required": ["location"]}),
            ),
        ),
        ToolDescription::new("git_diff", "Shows the working tree diff.", None),
        ToolDescription::new(
            "git_commit",
            "Commits staged changes.",
            Some(
                json!({"type": "object", "properties": {"message": {"type": "string"}, "files": {"type": "array", "items": {"type": "string"}}, "mode": {"oneOf": [{"type": "string", "enum": ["all", "staged"], "description": "which changes"}, {"type": "null"}], "description": "what to commit", "default": "staged"}}, "required": ["message"]}),
            ),
        ),
    ]
}

const CODE: &str = "fn parse_config(path: &Path) -> Result<Config, Error> {\n    let text = std::fs::read_to_string(path)?;\n    let mut config = Config::default();\n    for (n, line) in text.lines().enumerate() {\n        let Some((key, value)) = line.split_once('=') else {\n            return Err(Error::Syntax { line: n + 1 });\n        };\n        config.set(key.trim(), value.trim())?;\n    }\n    Ok(config)\n}\n";

/// 20 user turns; each: analysis, a preamble, a tool call, its result, then a final
/// answer, like a coding agent's history.
fn conversation() -> Conversation {
    let mut messages = vec![
        Message::from_role_and_content(
            Role::System,
            SystemContent::new().with_conversation_start_date("2025-06-28"),
        ),
        Message::from_role_and_content(
            Role::Developer,
            DeveloperContent::new()
                .with_instructions("You are a coding agent. Use the tools to inspect and change the workspace. Keep answers short and cite files.")
                .with_function_tools(tools()),
        ),
    ];
    let names = ["read_file", "grep", "apply_patch", "run_tests", "list_dir"];
    for turn in 0..20 {
        let tool = names[turn % names.len()];
        messages.push(Message::from_role_and_content(Role::User, format!("Step {turn}: the config parser rejects lines with comments; please fix it and make sure the tests pass.")));
        messages.push(Message::from_role_and_content(Role::Assistant, format!("The user wants comment support in parse_config. I should look at src/config.rs first, then change the loop to skip lines starting with '#', and run the tests. Turn {turn}. Let me call {tool}.")).with_channel("analysis"));
        messages.push(
            Message::from_role_and_content(
                Role::Assistant,
                format!("Checking the parser with {tool}."),
            )
            .with_channel("commentary"),
        );
        messages.push(
            Message::from_role_and_content(
                Role::Assistant,
                format!(
                    "{{\"path\":\"src/config.rs\",\"pattern\":\"split_once\",\"turn\":{turn}}}"
                ),
            )
            .with_channel("commentary")
            .with_recipient(format!("functions.{tool}"))
            .with_content_type("<|constrain|>json"),
        );
        messages.push(
            Message::from_author_and_content(
                ossa_prompts::Author::new(Role::Tool, format!("functions.{tool}")),
                format!(
                    "{{\"ok\":true,\"output\":{}}}",
                    serde_json::to_string(CODE).unwrap()
                ),
            )
            .with_channel("commentary")
            .with_recipient("assistant"),
        );
        messages.push(Message::from_role_and_content(Role::Assistant, format!("Done with step {turn}: comments are skipped in `parse_config` (src/config.rs) and the tests pass.")).with_channel("final"));
    }
    Conversation::from_messages(messages)
}

/// A completion: a long analysis, then a tool call with a patch as JSON arguments.
fn completion_text() -> String {
    let analysis = "We need to handle comment lines. The loop calls split_once('=') on every line, so a line like '# comment' fails with a syntax error. Fix: trim the line, skip it when it is empty or starts with '#'. Also handle inline comments? The tests only cover full-line comments. Keep it minimal. ".repeat(6);
    let patch = format!(
        "--- a/src/config.rs\n+++ b/src/config.rs\n@@ -4,6 +4,10 @@\n{}",
        CODE.replace('\n', "\n+")
    );
    let args = serde_json::to_string(&json!({"patch": patch})).unwrap();
    format!(
        "<|channel|>analysis<|message|>{analysis}<|end|><|start|>assistant<|channel|>commentary to=functions.apply_patch <|constrain|>json<|message|>{args}<|call|>"
    )
}

fn tokenize(rendered: &Rendered) -> Vec<u32> {
    let bpe = bpe_openai::o200k_base();
    let mut ids = Vec::with_capacity(rendered.len_bytes() / 3);
    for piece in rendered.pieces() {
        match piece {
            Piece::Special(t) => ids.push(t.o200k_id()),
            Piece::Text(text) => ids.extend(bpe.encode(text)),
        }
    }
    ids
}

/// The id → piece table a model backend builds once from its vocabulary.
enum TokenPiece {
    Special(SpecialToken),
    Bytes(Vec<u8>),
}

fn vocab_table() -> Vec<TokenPiece> {
    let bpe = &bpe_openai::o200k_base().bpe;
    let mut table: Vec<TokenPiece> = (0..bpe.num_tokens() as u32)
        .map(|id| TokenPiece::Bytes(bpe.token_bytes(id).to_vec()))
        .collect();
    table.resize_with(201_088, || TokenPiece::Bytes(Vec::new()));
    for token in SpecialToken::ALL {
        table[token.o200k_id() as usize] = TokenPiece::Special(token);
    }
    table
}

fn parse_ours(table: &[TokenPiece], ids: &[u32]) -> usize {
    let mut parser = StreamParser::new(Some(Role::Assistant), ParseOptions::lenient());
    for &id in ids {
        let _ = match &table[id as usize] {
            TokenPiece::Special(t) => parser.push_special(*t),
            TokenPiece::Bytes(b) => parser.push_bytes(b),
        };
    }
    let _ = parser.finish(FinishReason::EndOfStream);
    parser.items().len()
}

/// Token ids of completion text with literal special tokens, tokenized with o200k.
fn encode_with_specials(text: &str) -> Vec<u32> {
    let bpe = bpe_openai::o200k_base();
    let mut ids = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = rest.find("<|").unwrap_or(rest.len());
        if next > 0 {
            ids.extend(bpe.encode(&rest[..next]));
            rest = &rest[next..];
            continue;
        }
        let (token, after) = SpecialToken::strip_prefix_of(rest).expect("known special token");
        ids.push(token.o200k_id());
        rest = after;
    }
    ids
}

fn render_ours(conversation: &Conversation) -> Rendered {
    // The reference's Rust API only takes "no config", i.e. no analysis dropping.
    let options = RenderOptions {
        auto_drop_analysis: false,
    };
    render_conversation_for_completion(conversation, Role::Assistant, &options).unwrap()
}

fn main() {
    let conversation = conversation();
    let completion_ids = encode_with_specials(&completion_text());
    let table = vocab_table();
    assert_eq!(parse_ours(&table, &completion_ids), 2);
    eprintln!(
        "conversation: {} messages, {} tokens; completion: {} tokens",
        conversation.messages.len(),
        tokenize(&render_ours(&conversation)).len(),
        completion_ids.len()
    );
    #[cfg(feature = "reference-bench")]
    let reference = reference::Reference::load(&conversation, &completion_ids, &table);
    let mut c = Criterion::default().configure_from_args();
    let mut render = c.benchmark_group("render_20_turns_10_tools");
    render.bench_function("ossa_pieces", |b| {
        b.iter(|| render_ours(black_box(&conversation)))
    });
    render.bench_function("ossa_pieces_and_o200k_tokens", |b| {
        b.iter(|| tokenize(&render_ours(black_box(&conversation))))
    });
    #[cfg(feature = "reference-bench")]
    if let Some(reference) = &reference {
        render.bench_function("openai_harmony_tokens", |b| b.iter(|| reference.render()));
    }
    render.finish();
    let mut parse = c.benchmark_group("parse_completion_tokens");
    parse.bench_function("ossa", |b| {
        b.iter(|| parse_ours(&table, black_box(&completion_ids)))
    });
    #[cfg(feature = "reference-bench")]
    if let Some(reference) = &reference {
        parse.bench_function("openai_harmony", |b| {
            b.iter(|| reference.parse(&completion_ids))
        });
    }
    parse.finish();
    c.final_summary();
    #[cfg(feature = "reference-bench")]
    if let Some(reference) = &reference {
        // `cargo test --benches` runs each benchmark once; ratios only when benching.
        if std::env::args().any(|a| a == "--bench") {
            reference.print_ratios(&conversation, &completion_ids, &table);
        }
    }
    #[cfg(not(feature = "reference-bench"))]
    eprintln!(
        "for the side-by-side with openai-harmony 0.0.8 and the ratios: \
         cargo bench -p ossa-prompts --features reference-bench"
    );
}

#[cfg(feature = "reference-bench")]
mod reference {
    use std::hint::black_box;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use openai_harmony::HarmonyEncoding;
    use openai_harmony::chat::Role as TheirRole;
    use ossa_prompts::Conversation;

    use super::{TokenPiece, parse_ours, render_ours, tokenize};

    pub struct Reference {
        encoding: HarmonyEncoding,
        conversation: openai_harmony::chat::Conversation,
    }

    impl Reference {
        /// Loads openai-harmony and checks that it does the same work with the same
        /// result: identical prompt token ids, the same two parsed messages.
        pub fn load(
            conversation: &Conversation,
            completion_ids: &[u32],
            table: &[TokenPiece],
        ) -> Option<Reference> {
            let Some(dir) = o200k_dir() else {
                eprintln!(
                    "openai-harmony baseline skipped: no o200k_base.tiktoken (set TIKTOKEN_ENCODINGS_BASE)"
                );
                return None;
            };
            // SAFETY: set before any other thread exists; the reference reads it on load.
            unsafe { std::env::set_var("TIKTOKEN_ENCODINGS_BASE", &dir) };
            let encoding = match openai_harmony::load_harmony_encoding(
                openai_harmony::HarmonyEncodingName::HarmonyGptOss,
            ) {
                Ok(encoding) => encoding,
                Err(e) => {
                    eprintln!("openai-harmony baseline skipped: {e:#}");
                    return None;
                }
            };
            let theirs: openai_harmony::chat::Conversation =
                serde_json::from_str(&serde_json::to_string(conversation).unwrap()).unwrap();
            let reference = Reference {
                encoding,
                conversation: theirs,
            };
            assert_eq!(
                tokenize(&render_ours(conversation)),
                reference.render(),
                "prompt token ids differ from openai-harmony"
            );
            assert_eq!(reference.parse(completion_ids).len(), 2);
            assert_eq!(parse_ours(table, completion_ids), 2);
            eprintln!("prompt token ids identical to openai-harmony 0.0.8");
            Some(reference)
        }

        pub fn render(&self) -> Vec<u32> {
            self.encoding
                .render_conversation_for_completion(
                    black_box(&self.conversation),
                    TheirRole::Assistant,
                    None,
                )
                .unwrap()
        }

        pub fn parse(&self, ids: &[u32]) -> Vec<openai_harmony::chat::Message> {
            self.encoding
                .parse_messages_from_completion_tokens(
                    black_box(ids).iter().copied(),
                    Some(TheirRole::Assistant),
                )
                .unwrap()
        }

        pub fn print_ratios(&self, conversation: &Conversation, ids: &[u32], table: &[TokenPiece]) {
            let pieces = median_time(|| drop(black_box(render_ours(conversation))));
            let tokens = median_time(|| drop(black_box(tokenize(&render_ours(conversation)))));
            let theirs = median_time(|| drop(black_box(self.render())));
            let parse_ours_t = median_time(|| {
                black_box(parse_ours(table, ids));
            });
            let parse_theirs = median_time(|| drop(black_box(self.parse(ids))));
            let ratio =
                |ours: Duration, theirs: Duration| theirs.as_secs_f64() / ours.as_secs_f64();
            println!("\nossa vs openai-harmony 0.0.8 (same process, median of 11 rounds):");
            println!(
                "  render, pieces only:        {pieces:>10.1?} vs {theirs:>10.1?}  -> {:.1}x faster",
                ratio(pieces, theirs)
            );
            println!(
                "  render, pieces + o200k ids: {tokens:>10.1?} vs {theirs:>10.1?}  -> {:.1}x faster",
                ratio(tokens, theirs)
            );
            println!(
                "  parse, same token ids:      {parse_ours_t:>10.1?} vs {parse_theirs:>10.1?}  -> {:.1}x faster",
                ratio(parse_ours_t, parse_theirs)
            );
        }
    }

    fn o200k_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("TIKTOKEN_ENCODINGS_BASE") {
            return Some(PathBuf::from(dir));
        }
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        std::fs::read_dir(home.join("registry/src"))
            .ok()?
            .flatten()
            .map(|index| index.path().join("tiktoken-rs-0.12.1/assets"))
            .find(|dir| dir.join("o200k_base.tiktoken").is_file())
    }

    /// Median time per call over several rounds, for the ratio summary.
    fn median_time(mut f: impl FnMut()) -> Duration {
        let mut rounds = Vec::new();
        for _ in 0..11 {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed() < Duration::from_millis(60) {
                f();
                n += 1;
            }
            rounds.push(start.elapsed() / n);
        }
        rounds.sort();
        rounds[rounds.len() / 2]
    }
}
