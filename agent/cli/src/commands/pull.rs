//! `ossa pull REPO[:QUANT|FILE]`: download a model from the Hugging Face Hub into the
//! shared Hub cache, and [`fetch`], which `--hf` uses to do the same before loading.
//!
//! The path to load is printed on stdout (the first part of a split model), so
//! `ossa run --model "$(ossa pull ggml-org/gpt-oss-20b-GGUF)"` works; the progress bar and
//! a summary go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_model::hub::{GPT_OSS_20B, GPT_OSS_120B, Hub, HubRef, PulledModel, TerminalProgress};

use super::session::parse_hub_ref;
use crate::config::{self, ModelChoice};

/// What to say when no model is named anywhere.
pub const NO_MODEL: &str = "no model given: pass --hf ggml-org/gpt-oss-20b-GGUF (downloaded \
     once into the Hugging Face cache), --model PATH.gguf, --server URL or --replay FILE, or \
     set one in the config, e.g. `[model] hf = \"ggml-org/gpt-oss-20b-GGUF\"` in \
     ~/.config/ossa/config.toml (see `ossa config show`)";

/// Arguments of `ossa pull`.
#[derive(Debug, clap::Args)]
#[command(after_help = PULL_HELP)]
pub struct Args {
    /// The model: OWNER/NAME, optionally with :QUANT (a tag in the file name, e.g. :Q4_K_M)
    /// or :FILE (default: model.hf from the config).
    #[arg(value_name = "REPO[:QUANT|FILE]", value_parser = parse_hub_ref)]
    pub model: Option<HubRef>,
    /// The workspace whose .ossa/config.toml may name the model (default: the current
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

const PULL_HELP: &str = "gpt-oss on the Hub: ggml-org/gpt-oss-20b-GGUF (one 12 GiB file) and \
ggml-org/gpt-oss-120b-GGUF (three parts, fetched together).

Files go to the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else \
~/.cache/huggingface/hub), shared with huggingface_hub and llama.cpp. An interrupted \
download resumes where it stopped; every file is checked against the sha256 the Hub \
publishes. HF_TOKEN is sent for private or gated repositories, HF_ENDPOINT selects a \
mirror, and with HF_HUB_OFFLINE=1 only the cache is used.";

/// Runs `ossa pull`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reference = match args.model {
        Some(reference) => reference,
        None => {
            let workspace = super::session::workspace_dir(args.workspace.as_deref())?;
            let config = super::session::load_config(Some(&workspace), config::Layer::default())?;
            match config.model() {
                Some(ModelChoice::Hf(reference)) => reference.clone(),
                _ => {
                    return Err(super::UsageError(format!(
                        "name the model to download, e.g. `ossa pull {GPT_OSS_20B}` or `ossa pull \
                         {GPT_OSS_120B}` (or set `[model] hf = ...` in the config)"
                    ))
                    .into());
                }
            }
        }
    };
    let pulled = pull(&reference).await?;
    let size: u64 = pulled
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "{reference}: {} file{} ({}) at commit {}{}",
        pulled.files.len(),
        if pulled.files.len() == 1 { "" } else { "s" },
        indicatif::BinaryBytes(size),
        &pulled.commit[..pulled.commit.len().min(12)],
        if pulled.from_cache_only {
            ", from the cache"
        } else {
            ""
        }
    );
    for part in pulled.files.iter().skip(1) {
        eprintln!("  with {}", part.display());
    }
    println!("{}", pulled.model_path().display());
    Ok(ExitCode::SUCCESS)
}

/// Downloads (or finds in the cache) the model `reference` names, with a progress bar on
/// a terminal.
pub async fn pull(reference: &HubRef) -> anyhow::Result<PulledModel> {
    let hub = Hub::from_env()?;
    let mut progress = TerminalProgress::stderr();
    hub.pull(reference, progress.as_mut())
        .await
        .with_context(|| format!("cannot get {reference} from the Hugging Face Hub"))
}

/// The local path of the model `reference` names (the first part of a split model),
/// downloading what the cache lacks.
pub async fn fetch(reference: &HubRef) -> anyhow::Result<PathBuf> {
    Ok(pull(reference).await?.model_path().to_path_buf())
}
