//! `ossa complete`: render a conversation for completion, generate one assistant turn with
//! a local GGUF or a server, and show the raw completion and the parsed messages.
//!
//! This is the tool for a model setup that misbehaves: it shows exactly which tokens the
//! model produced (special tokens as their literals), why it stopped, how the harmony
//! parser reads them, and the prefill/decode figures.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_model::{
    Decoded, GenerateRequest, StopReason, TokenId, Tokenizer, Utf8Stream, encode_rendered,
};
use ossa_prompts::{
    Conversation, FinishReason, ParseItem, ParseOptions, RenderOptions, Role, StreamParser,
    render_conversation_for_completion,
};
use serde_json::json;

use super::EXIT_FAILURE;
use super::render::read_input;
use super::session::{self, ModelArgs, RuntimeArgs, SamplingArgs};

/// Arguments of `ossa complete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The conversation JSON (openai-harmony's shape); `-` or nothing reads standard input.
    #[arg(value_name = "CONVERSATION.json|-")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub max_tokens: u32,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Runs `ossa complete`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (source, json_text) = read_input(args.file.as_ref())?;
    let conversation: Conversation = serde_json::from_str(&json_text).with_context(|| {
        format!(
            "{source} is not a conversation in openai-harmony's JSON shape \
             ({{\"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}, ...]}})"
        )
    })?;
    let rendered = render_conversation_for_completion(
        &conversation,
        Role::Assistant,
        &RenderOptions::default(),
    )
    .with_context(|| format!("cannot render the conversation in {source}"))?;
    let flags = session::flag_layer(&args.model, &args.runtime, &args.sampling, None, None);
    let workspace = std::env::current_dir().context("cannot read the current directory")?;
    let config = session::load_config(Some(&workspace), flags)?;
    let sampler = config.sampler();
    sampler.validate()?;
    let backend = session::open_backend(&config, &args.runtime).await?;
    let tokenizer = backend.tokenizer();
    let prompt = encode_rendered(tokenizer, &rendered);

    let request = GenerateRequest {
        sampler,
        max_new_tokens: args.max_tokens,
        ..GenerateRequest::new(&prompt)
    };
    // Ctrl-C stops generation; what was generated so far is still shown.
    let cancel = request.cancel.clone();
    let ctrl_c = super::on_ctrl_c(move || cancel.cancel())?;

    let stream_text = !args.json;
    let mut stdout = std::io::stdout();
    let mut utf8 = Utf8Stream::new();
    let mut write_error = None;
    let mut on_token = |id: TokenId| {
        if !stream_text || write_error.is_some() {
            return;
        }
        let text = match tokenizer.decode(id) {
            Ok(Decoded::Bytes(bytes)) => utf8.push(&bytes),
            Ok(Decoded::Special(token)) => format!("{}{}", utf8.finish(), token.literal()),
            Ok(Decoded::OtherSpecial(literal)) => format!("{}{literal}", utf8.finish()),
            Err(err) => format!("{}<|invalid token {id}: {err}|>", utf8.finish()),
        };
        if let Err(err) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            write_error = Some(err);
        }
    };
    let generation = backend.generate(&request, &mut on_token).await;
    ctrl_c.abort();
    if let Some(err) = write_error {
        return Err(err).context("cannot write the completion to standard output");
    }
    let generation = generation?;

    let raw = ossa_model::decode_to_text(tokenizer, &generation.tokens)?;
    let items = parse(tokenizer, &generation.tokens, generation.stop);
    let problems: Vec<String> = items
        .iter()
        .filter_map(ParseItem::as_error)
        .map(ToString::to_string)
        .collect();
    let messages: Vec<_> = items.iter().filter_map(ParseItem::as_message).collect();
    let info = backend.info();
    let decode_secs = generation.timings.decode.as_secs_f64();

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "backend": info,
            "prompt_tokens": prompt.len(),
            "prompt_reused": generation.prompt_reused,
            "prompt_prefilled": generation.prompt_prefilled,
            "completion": raw,
            "tokens": generation.tokens,
            "stop": generation.stop,
            "messages": messages,
            "parse_errors": problems,
            "timings": {
                "prefill_ms": generation.timings.prefill.as_secs_f64() * 1000.0,
                "decode_ms": decode_secs * 1000.0,
                "decode_tokens_per_second": generation.decode_tokens_per_second(),
            },
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", utf8.finish())?;
        let rule = if std::io::stdout().is_terminal() {
            "──"
        } else {
            "--"
        };
        writeln!(
            out,
            "\n\n{rule} stop: {} · {} tokens in {decode_secs:.2} s ({:.1} tok/s) · prompt {} tokens: {} reused, {} prefilled in {:.2} s",
            stop_name(generation.stop),
            generation.tokens.len(),
            generation.decode_tokens_per_second(),
            prompt.len(),
            generation.prompt_reused,
            generation.prompt_prefilled,
            generation.timings.prefill.as_secs_f64(),
        )?;
        writeln!(
            out,
            "{rule} {} parsed message{}",
            messages.len(),
            if messages.len() == 1 { "" } else { "s" }
        )?;
        for message in &messages {
            writeln!(out, "{}", serde_json::to_string(message)?)?;
        }
    }
    out.flush()?;
    for problem in &problems {
        eprintln!("error: the completion is not well-formed harmony: {problem}");
    }
    if !problems.is_empty() {
        return Ok(EXIT_FAILURE.into());
    }
    Ok(ExitCode::SUCCESS)
}

fn stop_name(stop: StopReason) -> &'static str {
    match stop {
        StopReason::Return => "<|return|> (final answer)",
        StopReason::Call => "<|call|> (tool call)",
        StopReason::EndOfText => "<|endoftext|>",
        StopReason::Length => "length limit",
        StopReason::Cancelled => "cancelled",
    }
}

/// Feeds the completion to the harmony parser; the prompt ended with `<|start|>assistant`.
fn parse(tokenizer: &dyn Tokenizer, tokens: &[TokenId], stop: StopReason) -> Vec<ParseItem> {
    let mut parser = StreamParser::new(Some(Role::Assistant), ParseOptions::lenient());
    for id in tokens {
        // Lenient mode records problems as items instead of returning them.
        let _ = match tokenizer.decode(*id) {
            Ok(Decoded::Special(token)) => parser.push_special(token),
            Ok(Decoded::Bytes(bytes)) => parser.push_bytes(&bytes),
            Ok(Decoded::OtherSpecial(literal)) => parser.push_bytes(literal.as_bytes()),
            Err(_) => parser.push_bytes(format!("<|invalid token {id}|>").as_bytes()),
        };
    }
    let _ = parser.finish(FinishReason::from(stop));
    parser.into_items()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use ossa_model::O200kHarmony;
    use ossa_prompts::SpecialToken;

    use super::*;

    #[test]
    fn completion_tokens_parse_into_messages() {
        let tok = O200kHarmony::new();
        let mut ids = vec![tok.special_id(SpecialToken::Channel)];
        ids.extend(tok.encode_text("analysis"));
        ids.push(tok.special_id(SpecialToken::Message));
        ids.extend(tok.encode_text("Think <|end|> about it."));
        ids.push(tok.special_id(SpecialToken::End));
        ids.push(tok.special_id(SpecialToken::Start));
        ids.extend(tok.encode_text("assistant"));
        ids.push(tok.special_id(SpecialToken::Channel));
        ids.extend(tok.encode_text("final"));
        ids.push(tok.special_id(SpecialToken::Message));
        ids.extend(tok.encode_text("Sunny, 20 °C."));
        ids.push(tok.special_id(SpecialToken::Return));
        let items = parse(&tok, &ids, StopReason::Return);
        let messages: Vec<_> = items.iter().filter_map(ParseItem::as_message).collect();
        assert_eq!(messages.len(), 2, "{items:?}");
        let json = serde_json::to_value(&messages).unwrap();
        assert_eq!(json[0]["channel"], "analysis");
        assert_eq!(json[0]["content"], "Think <|end|> about it.");
        assert_eq!(json[1]["channel"], "final");
        assert_eq!(json[1]["content"], "Sunny, 20 °C.");
        assert_eq!(json[1]["terminator"], "return");
        assert!(items.iter().all(|i| i.as_error().is_none()));

        // Cut short by the length limit: the open message is kept, marked truncated.
        let items = parse(&tok, &ids[..ids.len() - 3], StopReason::Length);
        let last = serde_json::to_value(items.last().and_then(ParseItem::as_message)).unwrap();
        assert_eq!(last["terminator"], "truncated", "{items:?}");
        assert!(last["content"].as_str().unwrap().starts_with("Sunny"));
    }
}
