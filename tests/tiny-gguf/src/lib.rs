//! Tiny random gpt-oss GGUF models for ossa's tests and benchmarks.
//!
//! Two vocabularies on the same 2-layer gpt-oss architecture (attention sinks, alternating
//! sliding-window layers, a softmax-routed mixture of MXFP4 experts):
//! * [`VocabKind::Tiny`]: 256 byte tokens, a small BPE learned from a toy corpus and the 16
//!   harmony special slots in o200k order (472 tokens, about 270 KiB);
//! * [`VocabKind::O200kHarmony`]: the full 201,088-token o200k_harmony vocabulary, merges
//!   derived from the o200k_base ranks, so llama.cpp's tokenization can be compared with
//!   openai-harmony's ids (about 55 MiB: the embedding and output matrices dominate).
//!
//! Weights are seeded normals; a seed gives byte-identical files. [`Faults`] writes
//! deliberately broken files to test that loaders reject them cleanly.
#![deny(missing_docs)]

use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub mod gguf;
pub mod numeric;
pub mod vocab;

use gguf::{Tensor, TensorType, Value};
use numeric::Rng;

/// Bumped whenever the generator's output for a given [`Spec`] changes, so cached files
/// are regenerated.
pub const GENERATOR_VERSION: u32 = 1;

/// Which vocabulary the model carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VocabKind {
    /// Byte tokens, `merges` learned merges, then 16 harmony special slots.
    Tiny {
        /// Number of BPE merges to learn (ids 256..256 + merges).
        merges: usize,
    },
    /// The full o200k_harmony vocabulary (201,088 tokens).
    O200kHarmony,
}

/// Deliberate defects, for testing that a loader rejects a file cleanly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Metadata keys or tensor names to leave out.
    pub drop: Vec<String>,
    /// `u32` metadata keys to write as `i32` instead.
    pub as_i32: Vec<String>,
    /// Write biases as F16 (llama.cpp loads such a file and then aborts on first decode).
    pub f16_biases: bool,
}

/// Everything that determines the generated file.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The vocabulary.
    pub vocab: VocabKind,
    /// Number of transformer blocks.
    pub layers: u32,
    /// Embedding width (a multiple of 32 for MXFP4 experts).
    pub embd: u32,
    /// Number of experts per layer.
    pub experts: u32,
    /// Experts used per token.
    pub experts_used: u32,
    /// Query heads.
    pub heads: u32,
    /// Key/value heads.
    pub kv_heads: u32,
    /// Width of one head.
    pub head_dim: u32,
    /// Expert feed-forward width (a multiple of 32 for MXFP4 experts).
    pub ff: u32,
    /// Sliding-window size of the SWA layers.
    pub swa: u32,
    /// `context_length` written to the metadata.
    pub ctx_train: u32,
    /// Storage of the expert matrices.
    pub expert_type: TensorType,
    /// Storage of the attention, embedding and output matrices.
    pub weight_type: TensorType,
    /// Seed of every weight.
    pub seed: u64,
    /// Deliberate defects (none by default).
    pub faults: Faults,
}

impl Spec {
    /// The 2-layer model with the tiny byte-level BPE vocabulary (472 tokens).
    pub fn tiny() -> Spec {
        Spec {
            vocab: VocabKind::Tiny { merges: 200 },
            layers: 2,
            embd: 64,
            experts: 4,
            experts_used: 2,
            heads: 8,
            kv_heads: 2,
            head_dim: 16,
            ff: 64,
            swa: 128,
            ctx_train: 131_072,
            expert_type: TensorType::Mxfp4,
            weight_type: TensorType::F16,
            seed: 42,
            faults: Faults::default(),
        }
    }

    /// The same architecture with the full o200k_harmony vocabulary.
    pub fn o200k() -> Spec {
        Spec {
            vocab: VocabKind::O200kHarmony,
            ..Spec::tiny()
        }
    }

    /// A short, stable name for the file: the vocabulary plus a digest of the spec.
    pub fn file_name(&self) -> String {
        let vocab = match self.vocab {
            VocabKind::Tiny { .. } => "tiny",
            VocabKind::O200kHarmony => "o200k",
        };
        let digest = Sha256::digest(format!("{GENERATOR_VERSION} {self:?}").as_bytes());
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        format!("gpt-oss-{vocab}-{hex}.gguf")
    }
}

/// Generates the model and writes it to `path` (overwriting it).
pub fn write(spec: &Spec, path: &Path) -> io::Result<()> {
    let (kvs, tensors) = build(spec)?;
    let file = fs::File::create(path)?;
    gguf::write(&mut BufWriter::new(file), &kvs, &tensors)
}

/// Returns the path of the model for `spec` inside `dir`, generating it first if it is not
/// there yet. Safe to call from concurrent processes: the file is written under a
/// temporary name and renamed into place.
pub fn ensure(spec: &Spec, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join(spec.file_name());
    if path.is_file() {
        return Ok(path);
    }
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        "{}.{}.{:?}.tmp",
        spec.file_name(),
        std::process::id(),
        std::thread::current().id()
    ));
    write(spec, &tmp)?;
    fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The file name of part `index` (1-based) of `count` in llama.cpp's split convention
/// (`gguf-split`): `STEM-00001-of-00003.gguf`.
pub fn split_file_name(stem: &str, index: u16, count: u16) -> String {
    format!("{stem}-{index:05}-of-{count:05}.gguf")
}

/// Generates the model for `spec` as a multi-part GGUF the way llama.cpp's `gguf-split`
/// writes one: `parts` files `STEM-0000i-of-0000n.gguf` in `dir`, the tensors spread over
/// them in order, all metadata in the first part, and the `split.no`, `split.count` and
/// `split.tensors.count` keys in every part. llama.cpp loads such a model when given the
/// first part. Returns the paths, first part first.
pub fn write_split(spec: &Spec, dir: &Path, stem: &str, parts: u16) -> io::Result<Vec<PathBuf>> {
    let (kvs, tensors) = build(spec)?;
    if parts == 0 || usize::from(parts) > tensors.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot split {} tensors into {parts} parts", tensors.len()),
        ));
    }
    fs::create_dir_all(dir)?;
    let split_keys = |index: u16| {
        vec![
            ("split.no".to_string(), Value::U16(index)),
            ("split.count".to_string(), Value::U16(parts)),
            (
                "split.tensors.count".to_string(),
                Value::I32(tensors.len() as i32),
            ),
        ]
    };
    let per_part = tensors.len().div_ceil(usize::from(parts));
    let mut paths = Vec::with_capacity(usize::from(parts));
    for (index, chunk) in tensors.chunks(per_part).enumerate() {
        let index = index as u16;
        let mut part_kvs = if index == 0 { kvs.clone() } else { Vec::new() };
        part_kvs.extend(split_keys(index));
        let path = dir.join(split_file_name(stem, index + 1, parts));
        let file = fs::File::create(&path)?;
        gguf::write(&mut BufWriter::new(file), &part_kvs, chunk)?;
        paths.push(path);
    }
    if paths.len() != usize::from(parts) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} tensors fill only {} of {parts} parts",
                tensors.len(),
                paths.len()
            ),
        ));
    }
    Ok(paths)
}

fn check(spec: &Spec) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    if spec.expert_type == TensorType::Mxfp4
        && (!spec.embd.is_multiple_of(32) || !spec.ff.is_multiple_of(32))
    {
        return invalid(format!(
            "MXFP4 experts need embd and ff to be multiples of 32 (got {} and {})",
            spec.embd, spec.ff
        ));
    }
    if spec.weight_type == TensorType::Mxfp4 {
        return invalid("attention/embedding weights must be F16 or F32".into());
    }
    if spec.experts_used == 0 || spec.experts_used > spec.experts {
        return invalid("experts_used must be in 1..=experts".into());
    }
    if spec.heads == 0 || spec.kv_heads == 0 || !spec.heads.is_multiple_of(spec.kv_heads) {
        return invalid("heads must be a non-zero multiple of kv_heads".into());
    }
    Ok(())
}

type Model = (Vec<(String, Value)>, Vec<Tensor>);

fn build(spec: &Spec) -> io::Result<Model> {
    check(spec)?;
    let vocab = match spec.vocab {
        VocabKind::Tiny { merges } => vocab::tiny(merges),
        VocabKind::O200kHarmony => vocab::o200k_harmony(),
    };
    let name = format!("ossa tiny gpt-oss ({})", spec.file_name());
    let kvs = metadata(spec, &vocab, &name);
    let tensors = random_tensors(spec, vocab.tokens.len() as u64);
    Ok((kvs, tensors))
}

/// Writes a gpt-oss GGUF with `vocab`, the hyperparameters of `spec` and the given
/// tensors (trained weights, for instance), named `name` in `general.name`. The tensors
/// must be the set [`tensor_plan`] lists, in any order.
pub fn write_model(
    spec: &Spec,
    vocab: &vocab::Vocabulary,
    name: &str,
    tensors: &[Tensor],
    path: &Path,
) -> io::Result<()> {
    check(spec)?;
    let expected = tensor_plan(spec, vocab.tokens.len() as u64);
    for (want, dims, ..) in &expected {
        match tensors.iter().find(|t| &t.name == want) {
            Some(t) if &t.dims == dims => {}
            Some(t) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tensor {want} has dims {:?}, expected {dims:?}", t.dims),
                ));
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tensor {want} is missing"),
                ));
            }
        }
    }
    if tensors.len() != expected.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} tensors given, the model has {}",
                tensors.len(),
                expected.len()
            ),
        ));
    }
    let kvs = metadata(spec, vocab, name);
    let file = fs::File::create(path)?;
    gguf::write(&mut BufWriter::new(file), &kvs, tensors)
}

/// Writes a model with `vocab` and seeded random weights: the vocabulary is what matters
/// (a tokenizer to load), the weights only make it a loadable model.
pub fn write_random_with_vocab(
    spec: &Spec,
    vocab: &vocab::Vocabulary,
    name: &str,
    path: &Path,
) -> io::Result<()> {
    let tensors = random_tensors(spec, vocab.tokens.len() as u64);
    write_model(spec, vocab, name, &tensors, path)
}

/// The metadata of a gpt-oss GGUF with the hyperparameters of `spec` and `vocab`.
fn metadata(spec: &Spec, vocab: &vocab::Vocabulary, name: &str) -> Vec<(String, Value)> {
    let arch = "gpt-oss";
    let u32_kv = |key: &str, v: u32| (format!("{arch}.{key}"), Value::U32(v));
    let f32_kv = |key: &str, v: f32| (format!("{arch}.{key}"), Value::F32(v));
    let mut kvs: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::Str(arch.into())),
        ("general.name".into(), Value::Str(name.to_string())),
        (
            "general.file_type".into(),
            // llama_ftype: MOSTLY_MXFP4_MOE (38), MOSTLY_F16 (1), ALL_F32 (0).
            Value::U32(match (spec.expert_type, spec.weight_type) {
                (TensorType::Mxfp4, _) => 38,
                (_, TensorType::F16) | (TensorType::F16, _) => 1,
                _ => 0,
            }),
        ),
        u32_kv("block_count", spec.layers),
        u32_kv("context_length", spec.ctx_train),
        u32_kv("embedding_length", spec.embd),
        u32_kv("feed_forward_length", spec.ff),
        u32_kv("attention.head_count", spec.heads),
        u32_kv("attention.head_count_kv", spec.kv_heads),
        u32_kv("attention.key_length", spec.head_dim),
        u32_kv("attention.value_length", spec.head_dim),
        f32_kv("attention.layer_norm_rms_epsilon", 1e-5),
        u32_kv("attention.sliding_window", spec.swa),
        u32_kv("expert_feed_forward_length", spec.ff),
        u32_kv("expert_count", spec.experts),
        u32_kv("expert_used_count", spec.experts_used),
        f32_kv("rope.freq_base", 150_000.0),
        (
            format!("{arch}.rope.scaling.type"),
            Value::Str("yarn".into()),
        ),
        f32_kv("rope.scaling.factor", 32.0),
        u32_kv("rope.scaling.original_context_length", 4096),
        ("tokenizer.ggml.model".into(), Value::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::Str("gpt-4o".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::StrArray(vocab.tokens.clone()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::I32Array(vocab.types.clone()),
        ),
        (
            "tokenizer.ggml.merges".into(),
            Value::StrArray(vocab.merges.clone()),
        ),
        (
            "tokenizer.ggml.bos_token_id".into(),
            Value::U32(vocab.special_id(199_998)),
        ),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(vocab.special_id(200_002)),
        ),
        (
            "tokenizer.ggml.padding_token_id".into(),
            Value::U32(vocab.special_id(199_999)),
        ),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        (
            "tokenizer.chat_template".into(),
            Value::Str(
                "{% for m in messages %}<|start|>{{ m.role }}<|channel|>final<|message|>\
                 {{ m.content }}<|end|>{% endfor %}<|start|>assistant"
                    .into(),
            ),
        ),
    ];
    kvs.retain(|(key, _)| !spec.faults.drop.contains(key));
    for (key, value) in &mut kvs {
        if let Value::U32(v) = value
            && spec.faults.as_i32.contains(key)
        {
            *value = Value::I32(*v as i32);
        }
    }

    kvs
}

/// The tensors of the model: name, ggml dims, storage, and the standard deviation of its
/// random initialisation (`None`: a norm of ones).
pub fn tensor_plan(spec: &Spec, n_vocab: u64) -> Vec<(String, Vec<u64>, TensorType, Option<f32>)> {
    let e = u64::from(spec.embd);
    let q = u64::from(spec.heads * spec.head_dim);
    let kv = u64::from(spec.kv_heads * spec.head_dim);
    let x = u64::from(spec.experts);
    let f = u64::from(spec.ff);
    let h = u64::from(spec.heads);
    let bias_type = if spec.faults.f16_biases {
        TensorType::F16
    } else {
        TensorType::F32
    };
    let fan_in = |dims: &[u64]| 1.0 / (dims[0] as f32).sqrt();

    // (name, ggml dims, type, std or None for a norm of ones)
    let mut plan: Vec<(String, Vec<u64>, TensorType, Option<f32>)> = vec![
        (
            "token_embd.weight".into(),
            vec![e, n_vocab],
            spec.weight_type,
            Some(1.0),
        ),
        ("output_norm.weight".into(), vec![e], TensorType::F32, None),
        (
            "output.weight".into(),
            vec![e, n_vocab],
            spec.weight_type,
            Some(fan_in(&[e])),
        ),
    ];
    for layer in 0..spec.layers {
        let b = |name: &str| format!("blk.{layer}.{name}");
        let w = |dims: Vec<u64>| {
            let std = fan_in(&dims);
            (dims, std)
        };
        let (dq, sq) = w(vec![e, q]);
        let (dk, sk) = w(vec![e, kv]);
        let (dv, sv) = w(vec![e, kv]);
        let (dout, sout) = w(vec![q, e]);
        let (dgate, sgate) = w(vec![e, f, x]);
        let (dup, sup) = w(vec![e, f, x]);
        let (ddown, sdown) = w(vec![f, e, x]);
        plan.extend([
            (b("attn_norm.weight"), vec![e], TensorType::F32, None),
            (
                b("post_attention_norm.weight"),
                vec![e],
                TensorType::F32,
                None,
            ),
            (b("attn_q.weight"), dq, spec.weight_type, Some(sq)),
            (b("attn_q.bias"), vec![q], bias_type, Some(0.1)),
            (b("attn_k.weight"), dk, spec.weight_type, Some(sk)),
            (b("attn_k.bias"), vec![kv], bias_type, Some(0.1)),
            (b("attn_v.weight"), dv, spec.weight_type, Some(sv)),
            (b("attn_v.bias"), vec![kv], bias_type, Some(0.1)),
            (b("attn_output.weight"), dout, spec.weight_type, Some(sout)),
            (b("attn_output.bias"), vec![e], bias_type, Some(0.1)),
            (b("attn_sinks.weight"), vec![h], TensorType::F32, Some(1.0)),
            (
                b("ffn_gate_inp.weight"),
                vec![e, x],
                TensorType::F32,
                Some(fan_in(&[e])),
            ),
            (b("ffn_gate_inp.bias"), vec![x], bias_type, Some(0.1)),
            (
                b("ffn_gate_exps.weight"),
                dgate,
                spec.expert_type,
                Some(sgate),
            ),
            (b("ffn_up_exps.weight"), dup, spec.expert_type, Some(sup)),
            (
                b("ffn_down_exps.weight"),
                ddown,
                spec.expert_type,
                Some(sdown),
            ),
            (b("ffn_gate_exps.bias"), vec![f, x], bias_type, Some(0.1)),
            (b("ffn_up_exps.bias"), vec![f, x], bias_type, Some(0.1)),
            (b("ffn_down_exps.bias"), vec![e, x], bias_type, Some(0.1)),
        ]);
    }
    plan.retain(|(name, ..)| !spec.faults.drop.contains(name));

    plan
}

fn random_tensors(spec: &Spec, n_vocab: u64) -> Vec<Tensor> {
    tensor_plan(spec, n_vocab)
        .into_iter()
        .map(|(name, dims, ty, std)| {
            let n: u64 = dims.iter().product();
            let values = match std {
                Some(std) => Rng::new(spec.seed, &name).normals(n as usize, std),
                None => vec![1.0; n as usize],
            };
            let data = match ty {
                TensorType::F32 => numeric::encode_f32(&values),
                TensorType::F16 => numeric::encode_f16(&values),
                TensorType::Mxfp4 => numeric::encode_mxfp4(&values),
            };
            Tensor {
                name,
                dims,
                ty,
                data,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.gguf");
        let b = dir.path().join("b.gguf");
        let c = dir.path().join("c.gguf");
        write(&Spec::tiny(), &a).unwrap();
        write(&Spec::tiny(), &b).unwrap();
        write(
            &Spec {
                seed: 7,
                ..Spec::tiny()
            },
            &c,
        )
        .unwrap();
        let (a, b, c) = (
            fs::read(a).unwrap(),
            fs::read(b).unwrap(),
            fs::read(c).unwrap(),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() < 400 * 1024, "tiny model is {} bytes", a.len());
    }

    #[test]
    fn tensor_count_and_faults() {
        let (kvs, tensors) = build(&Spec::tiny()).unwrap();
        assert_eq!(tensors.len(), 3 + 19 * 2);
        assert!(kvs.iter().any(|(k, _)| k == "gpt-oss.expert_count"));
        let broken = Spec {
            faults: Faults {
                drop: vec!["gpt-oss.expert_count".into(), "output.weight".into()],
                as_i32: vec!["gpt-oss.block_count".into()],
                f16_biases: true,
            },
            ..Spec::tiny()
        };
        let (kvs, tensors) = build(&broken).unwrap();
        assert!(!kvs.iter().any(|(k, _)| k == "gpt-oss.expert_count"));
        assert!(kvs.contains(&("gpt-oss.block_count".into(), Value::I32(2))));
        assert_eq!(tensors.len(), 3 + 19 * 2 - 1);
        let bias = tensors
            .iter()
            .find(|t| t.name == "blk.0.attn_q.bias")
            .unwrap();
        assert_eq!(bias.ty, TensorType::F16);
        assert_ne!(Spec::tiny().file_name(), broken.file_name());
    }

    #[test]
    fn split_parts_carry_the_split_keys_and_every_tensor_once() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_split(&Spec::tiny(), dir.path(), "m", 3).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "m-00001-of-00003.gguf",
                "m-00002-of-00003.gguf",
                "m-00003-of-00003.gguf"
            ]
        );
        let tensor_count = |bytes: &[u8]| u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        let kv_count = |bytes: &[u8]| u64::from_le_bytes(bytes[16..24].try_into().unwrap());
        let files: Vec<Vec<u8>> = paths.iter().map(|p| fs::read(p).unwrap()).collect();
        let (kvs, tensors) = build(&Spec::tiny()).unwrap();
        assert_eq!(
            files.iter().map(|f| tensor_count(f)).sum::<u64>(),
            tensors.len() as u64
        );
        assert_eq!(kv_count(&files[0]), kvs.len() as u64 + 3);
        assert_eq!(kv_count(&files[1]), 3);
        assert!(write_split(&Spec::tiny(), dir.path(), "m", 0).is_err());
    }

    #[test]
    fn rejects_shapes_mxfp4_cannot_hold() {
        let err = build(&Spec {
            embd: 48,
            ..Spec::tiny()
        })
        .unwrap_err();
        assert!(err.to_string().contains("multiples of 32"), "{err}");
    }
}
