//! ossa-nano's vocabulary: byte-level BPE whose merges never cross a character class, so
//! a name is the same tokens in prose, in JSON and in a path, and copying it is copying
//! tokens. Chunks are split as llama.cpp's `gpt-4o` pre-tokenizer splits them (the o200k
//! pattern, through bpe-openai); [`CheckedTokenizer`] proves llama.cpp agrees on every
//! text it encodes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ossa_model::{Decoded, ModelError, TokenId, Tokenizer};
use ossa_prompts::{Conversation, Piece, RenderOptions, SpecialToken, render_conversation};
use ossa_tiny_gguf::vocab::{Encoder, Vocabulary, learn};

use crate::episodes::prefix_messages;
use crate::tasks::{Generator, Kind, Split};

/// The class of a byte for merging: merges only join bytes of one class.
fn class(b: u8) -> Option<u8> {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Some(0),
        b'0'..=b'9' => Some(1),
        b' ' => Some(2),
        b'\n' => Some(3),
        b'!'..=b'~' => Some(4),
        _ => None,
    }
}

/// Whether a merge of `left` and `right` stays inside one character class.
pub fn same_class(left: &[u8], right: &[u8]) -> bool {
    let first = left.first().and_then(|b| class(*b));
    first.is_some() && left.iter().chain(right).all(|b| class(*b) == first)
}

/// The chunks llama.cpp's `gpt-4o` pre-tokenizer splits `text` into.
pub fn chunks(text: &str) -> impl Iterator<Item = &str> {
    bpe_openai::o200k_base().split(text)
}

/// Learns `n_merges` class-preserving merges from `texts` (each with a weight).
pub fn learn_vocabulary<'a>(
    texts: impl IntoIterator<Item = (&'a str, u64)>,
    n_merges: usize,
) -> Vocabulary {
    let mut words: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for (text, weight) in texts {
        for chunk in chunks(text) {
            *words.entry(chunk.as_bytes().to_vec()).or_default() += weight;
        }
    }
    learn(&words, n_merges, same_class)
}

/// The text of every piece of a rendered conversation, specials left out.
fn texts_of(conversation: &Conversation) -> anyhow::Result<Vec<String>> {
    let rendered = render_conversation(conversation, &RenderOptions::default())?;
    Ok(rendered
        .pieces()
        .filter_map(|piece| match piece {
            Piece::Text(text) => Some(text.to_string()),
            Piece::Special(_) => None,
        })
        .collect())
}

/// Learns the vocabulary from `episodes` training tasks as ossa renders them: the system
/// and developer messages of `ossa run` (weighed by how many episodes carry them, for a
/// few dates and workspace paths), the requests, file contents, tool-output-like lines
/// and the scripted completions.
pub async fn learn_from_episodes(
    merges: usize,
    seed: u64,
    episodes: u64,
) -> anyhow::Result<Vocabulary> {
    let scratch = tempfile::tempdir()?;
    let tools = ossa_wiring::SandboxTools::open(
        scratch.path(),
        ossa_agent::event::Toolset::Native,
        &ossa_wiring::ExecOptions::default(),
    )
    .await?;
    let records = ossa_agent::ToolExecutor::tools(&tools).to_vec();
    let mut generator = Generator::new(seed, Split::Train);
    let mut corpus: Vec<(String, u64)> = Vec::new();
    const PREFIXES: u64 = 20;
    for _ in 0..PREFIXES {
        let (system, developer) =
            prefix_messages(&records, &generator.date(), &generator.workspace());
        let conversation = Conversation::from_messages([system, developer]);
        let weight = (episodes / PREFIXES).max(1);
        corpus.extend(texts_of(&conversation)?.into_iter().map(|t| (t, weight)));
    }
    for i in 0..episodes as usize {
        let task = generator.task(Kind::ALL[i % Kind::ALL.len()]);
        corpus.push((task.request.clone(), 1));
        for (path, content) in &task.files {
            corpus.push((format!("{path}:1:{content}"), 1));
        }
        let hit = task.files.last().map(|(p, _)| format!("{p}:1:x"));
        for step in 0..3 {
            for piece in task
                .completion(step, hit.as_deref())
                .map(|text| ossa_agent::literal_pieces(&text))
                .unwrap_or_default()
            {
                if let Decoded::Bytes(bytes) = piece {
                    corpus.push((String::from_utf8_lossy(&bytes).into_owned(), 1));
                }
            }
        }
    }
    Ok(learn_vocabulary(
        corpus.iter().map(|(t, w)| (t.as_str(), *w)),
        merges,
    ))
}

/// Encodes text with the vocabulary's own BPE (what the training pipeline would use
/// without llama.cpp).
pub fn encode(encoder: &Encoder, text: &str) -> Vec<TokenId> {
    chunks(text)
        .flat_map(|chunk| encoder.encode_chunk(chunk.as_bytes()))
        .collect()
}

/// How the two encoders compared.
#[derive(Debug, Default, Clone)]
pub struct Agreement {
    /// Texts encoded.
    pub texts: u64,
    /// Tokens produced by llama.cpp.
    pub tokens: u64,
    /// Texts on which the two disagreed, with the first few examples.
    pub mismatches: u64,
    /// Up to five disagreeing texts.
    pub examples: Vec<String>,
}

/// A tokenizer that encodes with the vocabulary's own BPE and checks that llama.cpp's
/// tokenizer (the model's) gives the same ids.
pub struct CheckedTokenizer {
    model: Arc<dyn Tokenizer>,
    encoder: Encoder,
    agreement: Mutex<Agreement>,
    /// Long texts already encoded (the system and developer messages recur in every
    /// prompt); each distinct text is still checked once.
    cache: Mutex<HashMap<String, Vec<TokenId>>>,
    /// Texts encoded so far, and how often one is also encoded by llama.cpp.
    seen: AtomicU64,
    check_every: AtomicU64,
}

impl CheckedTokenizer {
    /// Checks `model`'s encoding against `vocab`'s BPE.
    pub fn new(model: Arc<dyn Tokenizer>, vocab: &Vocabulary) -> CheckedTokenizer {
        CheckedTokenizer {
            model,
            encoder: Encoder::new(vocab),
            agreement: Mutex::default(),
            cache: Mutex::default(),
            seen: AtomicU64::new(0),
            check_every: AtomicU64::new(1),
        }
    }

    /// From now on compares every `n`th short text; every distinct long text (the system
    /// and developer messages) is always compared. llama.cpp's tokenizer compiles its
    /// pre-tokenizer regex on every call, which makes a full check the bottleneck.
    pub fn check_every(&self, n: u64) {
        self.check_every.store(n, Ordering::Relaxed);
    }

    /// The comparison so far.
    pub fn agreement(&self) -> Agreement {
        self.agreement
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Tokenizer for CheckedTokenizer {
    fn special_id(&self, token: SpecialToken) -> TokenId {
        self.model.special_id(token)
    }

    fn encode_text(&self, text: &str) -> Vec<TokenId> {
        let cacheable = text.len() >= 256;
        if cacheable
            && let Some(ids) = self
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(text)
        {
            return ids.clone();
        }
        let ours = encode(&self.encoder, text);
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let every = self.check_every.load(Ordering::Relaxed).max(1);
        if cacheable || n.is_multiple_of(every) {
            let ids = self.model.encode_text(text);
            let mut agreement = self
                .agreement
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            agreement.texts += 1;
            agreement.tokens += ids.len() as u64;
            if ours != ids {
                agreement.mismatches += 1;
                if agreement.examples.len() < 5 {
                    agreement.examples.push(text.chars().take(200).collect());
                }
            }
        }
        let ids = ours;
        if cacheable {
            self.cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(text.to_string(), ids.clone());
        }
        ids
    }

    fn decode(&self, id: TokenId) -> Result<Decoded, ModelError> {
        self.model.decode(id)
    }

    fn vocab_size(&self) -> u32 {
        self.model.vocab_size()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merges_stay_inside_a_class() {
        assert!(same_class(b"ka", b"vu"));
        assert!(same_class(b"\":", b"\""));
        assert!(!same_class(b" ", b"kavu"));
        assert!(!same_class(b"/", b"kavu"));
        assert!(!same_class(b"ka", b"1"));
    }

    #[test]
    fn a_name_is_the_same_tokens_in_prose_json_and_paths() {
        let texts = [
            ("Read the file and tell me what kavu says.", 50),
            ("{\"path\":\"dir/kavu.txt\"} kavu kavu", 50),
        ];
        let vocab = learn_vocabulary(texts, 60);
        let encoder = Encoder::new(&vocab);
        let alone = encode(&encoder, "kavu");
        assert!(alone.len() < 4, "{alone:?}");
        for context in ["what kavu says", "{\"path\":\"kavu\"}", "dir/kavu.txt"] {
            let ids = encode(&encoder, context);
            assert!(
                ids.windows(alone.len()).any(|w| w == alone.as_slice()),
                "{context}: {ids:?} lacks {alone:?}"
            );
        }
    }
}
