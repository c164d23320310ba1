//! The model's shape and its files: the vocabulary file, the hyperparameters the trainer
//! reads, and the GGUF packed from the trained weights.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use ossa_tiny_gguf::gguf::{Tensor, TensorType};
use ossa_tiny_gguf::vocab::Vocabulary;
use ossa_tiny_gguf::{Faults, Spec, VocabKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// ossa-nano's shape: gpt-oss's architecture (sinks, alternating sliding-window and full
/// attention, softmax-routed experts with biases, YaRN RoPE as the 20b's GGUF says) at
/// about 2 M parameters, every tensor in F32.
pub fn spec() -> Spec {
    Spec {
        vocab: VocabKind::Tiny { merges: 0 },
        layers: 4,
        embd: 128,
        experts: 4,
        experts_used: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: 32,
        ff: 256,
        swa: 128,
        ctx_train: 131_072,
        expert_type: TensorType::F32,
        weight_type: TensorType::F32,
        seed: 0,
        faults: Faults::default(),
    }
}

/// The hyperparameters as GGUF keys (without the `gpt-oss.` prefix), for the trainer.
pub fn hyperparameters(spec: &Spec) -> serde_json::Value {
    json!({
        "block_count": spec.layers,
        "embedding_length": spec.embd,
        "attention.head_count": spec.heads,
        "attention.head_count_kv": spec.kv_heads,
        "attention.key_length": spec.head_dim,
        "expert_count": spec.experts,
        "expert_used_count": spec.experts_used,
        "expert_feed_forward_length": spec.ff,
        "attention.sliding_window": spec.swa,
        "rope.freq_base": 150_000.0,
        "rope.scaling.factor": 32.0,
        "rope.scaling.original_context_length": 4096,
        "attention.layer_norm_rms_epsilon": 1e-5,
        "context_length": spec.ctx_train,
    })
}

/// The vocabulary as a file (tokens, types, merges).
#[derive(Debug, Serialize, Deserialize)]
pub struct VocabularyFile {
    tokens: Vec<String>,
    types: Vec<i32>,
    merges: Vec<String>,
    first_special: u32,
}

/// Writes `vocab` to `path` as JSON.
pub fn save_vocabulary(vocab: &Vocabulary, path: &Path) -> anyhow::Result<()> {
    let file = VocabularyFile {
        tokens: vocab.tokens.clone(),
        types: vocab.types.clone(),
        merges: vocab.merges.clone(),
        first_special: vocab.first_special,
    };
    std::fs::write(path, serde_json::to_vec(&file)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a vocabulary written by [`save_vocabulary`].
pub fn load_vocabulary(path: &Path) -> anyhow::Result<Vocabulary> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: VocabularyFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a vocabulary file", path.display()))?;
    Ok(Vocabulary {
        tokens: file.tokens,
        types: file.types,
        merges: file.merges,
        first_special: file.first_special,
    })
}

#[derive(Deserialize)]
struct WeightsIndex {
    tensors: Vec<TensorEntry>,
}

#[derive(Deserialize)]
struct TensorEntry {
    name: String,
    dims: Vec<u64>,
    offset: usize,
    count: usize,
}

/// Packs the trainer's export (`weights.json` and `weights.bin` in `dir`) with `vocab`
/// into the GGUF at `out`.
pub fn pack(dir: &Path, vocab: &Vocabulary, name: &str, out: &Path) -> anyhow::Result<()> {
    let index_path = dir.join("weights.json");
    let index: WeightsIndex = serde_json::from_slice(
        &std::fs::read(&index_path)
            .with_context(|| format!("cannot read {}", index_path.display()))?,
    )
    .with_context(|| format!("{} is not a weights index", index_path.display()))?;
    let data = std::fs::read(dir.join("weights.bin"))
        .with_context(|| format!("cannot read {}", dir.join("weights.bin").display()))?;
    let mut tensors = Vec::with_capacity(index.tensors.len());
    for entry in index.tensors {
        let bytes = entry.count * 4;
        let Some(raw) = data.get(entry.offset..entry.offset + bytes) else {
            bail!("{} lies outside weights.bin", entry.name);
        };
        ensure!(
            entry.dims.iter().product::<u64>() == entry.count as u64,
            "{}: dims {:?} do not hold {} values",
            entry.name,
            entry.dims,
            entry.count
        );
        tensors.push(Tensor {
            name: entry.name,
            dims: entry.dims,
            ty: TensorType::F32,
            data: raw.to_vec(),
        });
    }
    ossa_tiny_gguf::write_model(&spec(), vocab, name, &tensors, out)
        .with_context(|| format!("cannot write {}", out.display()))
}

/// The logits the trainer computed for one held-out sequence, at a few positions.
#[derive(Debug, Deserialize)]
struct ReferenceIndex {
    tokens: Vec<u32>,
    positions: Vec<usize>,
    vocab_size: usize,
}

/// How llama.cpp's logits compare with the trainer's.
#[derive(Debug, Clone, PartialEq)]
pub struct Parity {
    /// Positions compared.
    pub positions: usize,
    /// Largest absolute difference of a logit.
    pub max_abs_diff: f32,
    /// The spread of the trainer's logits (standard deviation over all compared values),
    /// to read the difference against.
    pub logit_std: f32,
    /// Positions where the two argmaxes differ.
    pub argmax_mismatches: usize,
}

/// Runs the GGUF at `model` through ossa's llama.cpp backend on the reference sequence in
/// `dir` (`reference.json`, `reference.bin`, written by train.py) and compares the logits.
pub fn parity(model: &Path, dir: &Path) -> anyhow::Result<Parity> {
    let index: ReferenceIndex = serde_json::from_slice(
        &std::fs::read(dir.join("reference.json"))
            .with_context(|| format!("cannot read {}", dir.join("reference.json").display()))?,
    )?;
    let raw = std::fs::read(dir.join("reference.bin"))?;
    let expected: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    ensure!(
        expected.len() == index.positions.len() * index.vocab_size,
        "reference.bin holds {} values, not {} positions × {}",
        expected.len(),
        index.positions.len(),
        index.vocab_size
    );
    let options = ossa_model::LlamaOptions {
        threads: Some(1),
        ctx_size: Some((index.tokens.len() as u32 + 64).next_multiple_of(256)),
        gpu_layers: ossa_model::GpuLayers::None,
        progress: false,
        ..ossa_model::LlamaOptions::default()
    };
    let backend = ossa_model::LlamaCppBackend::load(model, &options)?;
    let mut max_abs_diff = 0f32;
    let mut argmax_mismatches = 0;
    let (mut sum, mut sum_sq) = (0f64, 0f64);
    let mut order: Vec<usize> = (0..index.positions.len()).collect();
    order.sort_by_key(|i| index.positions[*i]);
    for i in order {
        let position = index.positions[i];
        ensure!(
            position < index.tokens.len(),
            "position {position} is past the sequence"
        );
        let (logits, _) = backend.logits_after_prefill(&index.tokens[..=position])?;
        let want = &expected[i * index.vocab_size..(i + 1) * index.vocab_size];
        ensure!(
            logits.len() == want.len(),
            "llama.cpp gave {} logits",
            logits.len()
        );
        for (a, b) in logits.iter().zip(want) {
            max_abs_diff = max_abs_diff.max((a - b).abs());
            sum += f64::from(*b);
            sum_sq += f64::from(*b) * f64::from(*b);
        }
        if ossa_model::argmax(&logits) != ossa_model::argmax(want) {
            argmax_mismatches += 1;
        }
    }
    let n = expected.len() as f64;
    let logit_std = ((sum_sq / n) - (sum / n).powi(2)).max(0.0).sqrt() as f32;
    Ok(Parity {
        positions: index.positions.len(),
        max_abs_diff,
        logit_std,
        argmax_mismatches,
    })
}
