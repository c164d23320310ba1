#![allow(clippy::unwrap_used, clippy::expect_used)]
//! ossa-nano (tests/nano): its training episodes are what ossa really runs, tokenized as
//! llama.cpp tokenizes them, and the committed model computes in llama.cpp what its
//! trainer computed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ossa_model::LlamaTokenizer;
use ossa_nano::episodes::Player;
use ossa_nano::tasks::{Generator, Kind, Split};
use ossa_nano::vocab::CheckedTokenizer;

fn nano_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/nano")
}

/// One task of each kind played through ossa's agent loop with the sandboxed tools, as
/// the data generator plays them: each ends as scripted (tool calls succeed, the answer
/// and files are right, every prompt continues the previous one token for token), and
/// llama.cpp tokenizes every text exactly as the vocabulary's own BPE does.
#[test]
fn nano_training_episodes_are_what_ossa_runs() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let vocab = ossa_nano::vocab::learn_from_episodes(300, 0, 50)
            .await
            .unwrap();
        let gguf = dir.path().join("vocab.gguf");
        ossa_tiny_gguf::write_random_with_vocab(
            &ossa_nano::model::spec(),
            &vocab,
            "ossa-nano test vocabulary",
            &gguf,
        )
        .unwrap();
        let model = LlamaTokenizer::from_file(&gguf).unwrap();
        let checked = Arc::new(CheckedTokenizer::new(Arc::new(model), &vocab));
        let player = Player::new(checked.clone());
        let mut generator = Generator::new(1, Split::Heldout);
        for kind in Kind::ALL {
            let task = generator.task(kind);
            if kind == Kind::Exec
                && let Err(why) = ossa_sandbox::exec_support()
            {
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** ossa-nano exec episode NOT RUN: commands cannot be confined here: {why} ***\n"
                );
                continue;
            }
            let played = player
                .play(&task, dir.path())
                .await
                .unwrap_or_else(|err| panic!("{kind:?}: {err:#}"));
            let calls = match kind {
                Kind::SearchOpen => 3,
                _ => 2,
            };
            assert_eq!(played.targets.len(), calls, "{kind:?}");
            assert!(played.tokens.len() > 2000, "{kind:?}: the real prompt is long");
        }
        let agreement = checked.agreement();
        assert_eq!(agreement.mismatches, 0, "{agreement:?}");
        assert!(agreement.texts > 20, "{agreement:?}");
    });
}

/// llama.cpp, through ossa's backend, computes the logits the trainer computed for a
/// held-out sequence (its ~3,400 tokens cross the sliding window and use every expert).
/// The tolerance covers llama.cpp's f16 KV cache; a wrong sink, mask, rope or routing
/// detail moves logits by whole units and changes the argmax.
#[test]
fn nano_computes_in_llama_cpp_what_its_trainer_computed() {
    let parity = ossa_nano::model::parity(
        &nano_dir().join("ossa-nano.gguf"),
        &nano_dir().join("reference"),
    )
    .unwrap();
    let _ = writeln!(std::io::stderr(), "ossa-nano parity: {parity:?}");
    assert_eq!(parity.positions, 16);
    assert_eq!(parity.argmax_mismatches, 0, "{parity:?}");
    assert!(
        parity.max_abs_diff < 0.01 * parity.logit_std.max(1.0),
        "{parity:?}"
    );
}
