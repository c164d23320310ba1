//! `ossa-nano`: makes ossa-nano's vocabulary, training data and GGUF.
//!
//! ```text
//! ossa-nano vocab --out DIR              # DIR/vocab.json and DIR/vocab.gguf
//! ossa-nano data --dir DIR --train N --heldout M [--seed S]
//! ossa-nano pack --dir DIR --weights WDIR --out nano.gguf
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use clap::{Parser, Subcommand};
use ossa_model::{LlamaTokenizer, Tokenizer};
use ossa_nano::episodes::{Episode, Player, prefix_messages, prefix_tokens};
use ossa_nano::model::{hyperparameters, load_vocabulary, pack, save_vocabulary, spec};
use ossa_nano::tasks::{Generator, Kind, Split};
use ossa_nano::vocab::CheckedTokenizer;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "ossa-nano",
    about = "ossa-nano's vocabulary, training data and GGUF"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Learns the vocabulary from rendered episodes: DIR/vocab.json and DIR/vocab.gguf (the
    /// vocabulary in a model with random weights, for llama.cpp's tokenizer).
    Vocab {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1500)]
        merges: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Plays tasks through ossa's agent loop and writes DIR/train.jsonl, DIR/heldout.jsonl
    /// and DIR/config.json for the trainer.
    Data {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        train: usize,
        #[arg(long)]
        heldout: usize,
        /// Episodes sharing one prefix (date and workspace path): the trainer's batch.
        #[arg(long, default_value_t = 32)]
        group: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Check every Nth short training text against llama.cpp's tokenizer (held-out
        /// texts and the prompts' long texts are all checked).
        #[arg(long, default_value_t = 1)]
        check_every: u64,
    },
    /// Compares llama.cpp's logits for MODEL with the trainer's reference logits in DIR
    /// (reference.json, reference.bin).
    Parity {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        reference: PathBuf,
    },
    /// Packs the trainer's weights (WDIR/weights.json, WDIR/weights.bin) and DIR's
    /// vocabulary into a GGUF.
    Pack {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start tokio: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Vocab { out, merges, seed } => make_vocab(&out, merges, seed).await,
        Command::Data {
            dir,
            train,
            heldout,
            group,
            seed,
            check_every,
        } => make_data(&dir, train, heldout, group, seed, check_every).await,
        Command::Parity { model, reference } => {
            let parity = ossa_nano::model::parity(&model, &reference)?;
            println!(
                "{} positions: max |llama.cpp - trainer| = {:.2e} (trainer logits' std {:.3}), argmax differs at {}",
                parity.positions, parity.max_abs_diff, parity.logit_std, parity.argmax_mismatches
            );
            Ok(())
        }
        Command::Pack { dir, weights, out } => {
            let vocab = load_vocabulary(&dir.join("vocab.json"))?;
            pack(&weights, &vocab, "ossa-nano", &out)?;
            println!("{}", out.display());
            Ok(())
        }
    }
}

async fn make_vocab(out: &Path, merges: usize, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let vocab = ossa_nano::vocab::learn_from_episodes(merges, seed, 2000).await?;
    save_vocabulary(&vocab, &out.join("vocab.json"))?;
    let gguf = out.join("vocab.gguf");
    ossa_tiny_gguf::write_random_with_vocab(&spec(), &vocab, "ossa-nano vocabulary", &gguf)?;
    println!(
        "{} tokens ({} merges) in {}",
        vocab.tokens.len(),
        vocab.merges.len(),
        out.display()
    );
    Ok(())
}

async fn make_data(
    dir: &Path,
    train: usize,
    heldout: usize,
    group: usize,
    seed: u64,
    check_every: u64,
) -> anyhow::Result<()> {
    let vocab = load_vocabulary(&dir.join("vocab.json"))?;
    let model = LlamaTokenizer::from_file(&dir.join("vocab.gguf"))?;
    let checked = Arc::new(CheckedTokenizer::new(Arc::new(model), &vocab));
    let player = Arc::new(Player::new(checked.clone()));
    let scratch = tempfile::tempdir()?;
    let today = ossa_agent::time::today();
    for (split, count, name) in [
        (Split::Heldout, heldout, "heldout.jsonl"),
        (Split::Train, train, "train.jsonl"),
    ] {
        let mut generator = Generator::new(seed, split);
        checked.check_every(match split {
            Split::Heldout => 1,
            Split::Train => check_every,
        });
        let path = dir.join(name);
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        let started = Instant::now();
        let mut done = 0;
        let mut skipped = 0;
        let mut suffix_tokens = 0;
        while done < count {
            let date = generator.date();
            let workspace = generator.workspace();
            let mut episodes = Vec::new();
            let mut records = None;
            let size = group.min(count - done);
            let mut plays = tokio::task::JoinSet::new();
            for i in 0..size {
                let kind = Kind::ALL[(done + i) % Kind::ALL.len()];
                let task = generator.task(kind);
                let player = player.clone();
                let scratch = scratch.path().to_path_buf();
                plays.spawn(async move { (i, kind, player.play(&task, &scratch).await) });
            }
            let mut results = plays.join_all().await;
            results.sort_by_key(|(i, ..)| *i);
            for (_, kind, played) in results {
                let played = match played {
                    Ok(played) => played,
                    Err(err) => {
                        skipped += 1;
                        ensure!(
                            skipped <= 20 + count / 100,
                            "too many unusable episodes; the last: {err:#}"
                        );
                        eprintln!("skipped an episode ({kind:?}): {err:#}");
                        continue;
                    }
                };
                // The session's own prefix is what this crate renders for its date and
                // workspace: so prefixes rendered for other dates and paths are real too.
                let (system, developer) =
                    prefix_messages(&played.records, &today, &played.workspace);
                let own = prefix_tokens(checked.as_ref(), system, developer)?;
                ensure!(
                    played.tokens.starts_with(&own),
                    "the agent's prompt does not start with the rendered system and developer messages"
                );
                let cut = own.len();
                suffix_tokens += played.tokens.len() - cut;
                episodes.push(Episode {
                    tokens: played.tokens[cut..].to_vec(),
                    targets: played
                        .targets
                        .iter()
                        .map(|[a, b]| [a - cut, b - cut])
                        .collect(),
                    kind,
                });
                records.get_or_insert(played.records);
            }
            done += size;
            let records = records.context("no episode")?;
            let (system, developer) = prefix_messages(&records, &date, &workspace);
            let prefix = prefix_tokens(checked.as_ref(), system, developer)?;
            serde_json::to_writer(&mut out, &json!({ "prefix": prefix, "episodes": episodes }))?;
            out.write_all(b"\n")?;
            if done % 320 < group || done == count {
                eprintln!(
                    "{name}: {done}/{count} episodes, {skipped} skipped, prefix {} tokens, suffix {:.0} tokens on average, {:.1} episodes/s",
                    prefix.len(),
                    suffix_tokens as f64 / done as f64,
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        out.flush()?;
    }
    let agreement = checked.agreement();
    eprintln!(
        "tokenizer check: {} texts, {} tokens, {} where llama.cpp and the vocabulary's BPE disagree",
        agreement.texts, agreement.tokens, agreement.mismatches
    );
    ensure!(
        agreement.mismatches == 0,
        "llama.cpp tokenizes differently from the vocabulary's BPE, e.g. {:?}",
        agreement.examples
    );
    let pad = checked.special_id(ossa_prompts::SpecialToken::EndOfText);
    let config = json!({
        "vocab_size": checked.vocab_size(),
        "pad_id": pad,
        "model": hyperparameters(&spec()),
        "seed": seed,
    });
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
    Ok(())
}
