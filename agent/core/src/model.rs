//! What the loop needs from a model: tokenize a rendered prompt, tell what a generated
//! token is, and generate. Implemented over `ossa-model`'s backends
//! ([`crate::backend::ModelBackend`]) and by the replay backend ([`crate::replay`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ossa_prompts::{Rendered, SpecialToken};

use crate::event::{ModelRecord, SamplerRecord, StepUsage, StopKind};

/// What a generated token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPiece {
    /// A structural harmony token.
    Special(SpecialToken),
    /// Ordinary bytes (possibly part of a UTF-8 sequence). Special tokens outside the
    /// harmony set decode to their literal name here.
    Bytes(Vec<u8>),
}

/// One finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated ids, the stop token included.
    pub tokens: Vec<u32>,
    /// Why it stopped.
    pub stop: StopKind,
    /// Counts and timings.
    pub usage: StepUsage,
}

/// A request to stop generating, shared between the loop and whoever cancels (Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A fresh, unset flag.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the current generation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag before the next turn.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// The shared flag, for backends that poll an `AtomicBool`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

/// A model as the loop drives it.
pub trait Model: Send {
    /// Token ids for a rendered prompt: special tokens as their ids, text encoded as
    /// ordinary text (never as special tokens).
    fn tokenize(&self, rendered: &Rendered) -> anyhow::Result<Vec<u32>>;

    /// What token `id` stands for.
    fn piece(&self, id: u32) -> TokenPiece;

    /// Generates from `prompt` until `<|return|>`, `<|call|>`, end of text, `max_tokens`
    /// or `cancel`; `on_token` sees every id (and what it stands for) as it is sampled. Blocking.
    fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: u32,
        on_token: &mut dyn FnMut(u32, &TokenPiece),
        cancel: &Cancel,
    ) -> anyhow::Result<Generation>;

    /// The context window in tokens, if the backend has one.
    fn context_size(&self) -> Option<usize>;

    /// What to record about this model in the transcript header.
    fn record(&self) -> ModelRecord;

    /// The sampler settings, for the transcript header.
    fn sampler(&self) -> SamplerRecord;
}

/// The completion as harmony text, special tokens written literally.
pub fn literal_text(model: &dyn Model, tokens: &[u32]) -> String {
    let mut bytes = Vec::new();
    for &id in tokens {
        match model.piece(id) {
            TokenPiece::Special(token) => bytes.extend_from_slice(token.literal().as_bytes()),
            TokenPiece::Bytes(piece) => bytes.extend_from_slice(&piece),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Turns text into ordinary token ids and ids back into pieces: what the replay backend
/// needs of a vocabulary.
pub trait Codec: Send + Sync {
    /// Ordinary (non-special) token ids for `text`.
    fn encode_text(&self, text: &str) -> anyhow::Result<Vec<u32>>;
    /// The id of a harmony special token.
    fn special_id(&self, token: SpecialToken) -> u32;
    /// What token `id` stands for.
    fn piece(&self, id: u32) -> TokenPiece;
}

/// Token ids for a rendered prompt: special pieces as their ids, text pieces encoded one
/// by one as ordinary text (so text can never produce a special id).
pub fn tokenize_rendered(codec: &dyn Codec, rendered: &Rendered) -> anyhow::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for piece in rendered.pieces() {
        match piece {
            ossa_prompts::Piece::Special(token) => ids.push(codec.special_id(token)),
            ossa_prompts::Piece::Text(text) => ids.extend(codec.encode_text(text)?),
        }
    }
    Ok(ids)
}
