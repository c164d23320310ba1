//! The vocabulary of a loaded GGUF, made injection-proof.
//!
//! llama.cpp retypes `<|start|>`, `<|end|>`, `<|message|>`, `<|channel|>` and
//! `<|constrain|>` to USER_DEFINED for gpt-oss, and user-defined tokens are split out of any
//! text even with `parse_special = false` (llama.cpp's tokenizer partitions text on them
//! before BPE, whatever the flag says). So before tokenizing,
//! [`LlamaTokenizer::encode_text`] cuts every occurrence of such a literal right after its
//! leading `<|`: no piece then holds a whole literal. Under the o200k pre-tokenizer a `<|`
//! followed by a letter already ends a pre-token, so the ids equal a plain BPE of the text.
//!
//! When the vocabulary is o200k_harmony (every real gpt-oss GGUF), text is encoded by
//! bpe-openai instead: the same ids, linear time, and no special tokens at all.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token_type::LlamaTokenAttr;
use ossa_prompts::SpecialToken;

use crate::ModelError;
use crate::tokenizer::{Decoded, TokenId, Tokenizer};

/// The tokenizer of a model loaded by llama.cpp.
pub struct LlamaTokenizer {
    model: Arc<LlamaModel>,
    specials: [TokenId; SpecialToken::ALL.len()],
    by_id: HashMap<TokenId, SpecialToken>,
    /// Texts llama.cpp always splits out (USER_DEFINED tokens), with the byte offset to cut at.
    always_split: Vec<(String, usize)>,
    vocab_size: u32,
    /// Set when the vocabulary is o200k_harmony (every real gpt-oss): text is then encoded by
    /// bpe-openai, which gives the same ids (checked token by token at load, and against
    /// openai-harmony in the tests) about 25 times faster than llama.cpp's tokenizer, whose
    /// 512 KiB base64 run takes about a second.
    o200k: Option<&'static bpe_openai::Tokenizer>,
}

impl std::fmt::Debug for LlamaTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("specials", &self.specials)
            .finish()
    }
}

impl LlamaTokenizer {
    /// The tokenizer of the GGUF at `path`, reading only its vocabulary (no weights: fast
    /// even for a 12 GiB model). For replaying transcripts recorded on that model.
    pub fn from_file(path: &Path) -> Result<LlamaTokenizer, ModelError> {
        let backend = super::shared_backend()?;
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model =
            LlamaModel::load_from_file(backend, path, &params).map_err(|err| ModelError::Load {
                action: "read the vocabulary of",
                path: path.to_path_buf(),
                detail: err.to_string(),
            })?;
        LlamaTokenizer::new(Arc::new(model))
    }

    /// Looks up the harmony special tokens and the always-split texts of `model`.
    pub fn new(model: Arc<LlamaModel>) -> Result<LlamaTokenizer, ModelError> {
        let vocab = model.vocab();
        let vocab_size = u32::try_from(vocab.n_tokens())
            .map_err(|_| ModelError::Vocabulary("negative vocabulary size".into()))?;
        let mut specials = [0; SpecialToken::ALL.len()];
        let mut by_id = HashMap::new();
        for (slot, token) in specials.iter_mut().zip(SpecialToken::ALL) {
            let ids = vocab.tokenize(token.literal().as_bytes(), false, true);
            let id = match ids.as_slice() {
                [one]
                    if vocab
                        .text(*one)
                        .is_some_and(|t| t.to_bytes() == token.literal().as_bytes()) =>
                {
                    one.0 as TokenId
                }
                _ => {
                    return Err(ModelError::Vocabulary(format!(
                        "it has no {} token; is this a gpt-oss (harmony) model?",
                        token.literal()
                    )));
                }
            };
            *slot = id;
            by_id.insert(id, token);
        }
        let mut always_split = Vec::new();
        for tok in vocab.tokens() {
            if !vocab.attr(tok).contains(LlamaTokenAttr::UserDefined) {
                continue;
            }
            let Some(text) = vocab.text(tok).and_then(|t| t.to_str().ok()) else {
                continue;
            };
            // Cut after a leading "<|", else after the first character.
            let cut = if text.starts_with("<|") && text.len() > 2 {
                2
            } else {
                text.chars().next().map_or(0, char::len_utf8)
            };
            if cut > 0 && cut < text.len() {
                always_split.push((text.to_string(), cut));
            }
        }
        let o200k = is_o200k_harmony(&model, &specials).then(bpe_openai::o200k_base);
        Ok(LlamaTokenizer {
            model,
            specials,
            by_id,
            always_split,
            vocab_size,
            o200k,
        })
    }

    /// Encodes text with llama.cpp's own tokenizer, made injection-proof by cutting
    /// always-split literals (see the module docs). [`Tokenizer::encode_text`] uses this
    /// unless the vocabulary is o200k_harmony.
    pub fn encode_text_with_llama_cpp(&self, text: &str) -> Vec<TokenId> {
        let vocab = self.model.vocab();
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut buf = Vec::new();
        let mut start = 0;
        let cuts = self.cut_points(text);
        for end in cuts.into_iter().chain([text.len()]) {
            if end <= start {
                continue;
            }
            // tokenize_into appends to the buffer.
            buf.clear();
            vocab.tokenize_into(&text.as_bytes()[start..end], &mut buf, false, false);
            ids.extend(buf.iter().map(|t| t.0 as TokenId));
            start = end;
        }
        ids
    }

    /// True when text is encoded by bpe-openai's o200k_base rather than llama.cpp.
    pub fn uses_o200k_encoder(&self) -> bool {
        self.o200k.is_some()
    }

    /// Byte offsets at which `text` must be cut so no piece contains a whole always-split
    /// literal.
    fn cut_points(&self, text: &str) -> Vec<usize> {
        let mut cuts = Vec::new();
        for (literal, cut) in &self.always_split {
            let mut from = 0;
            while let Some(pos) = text[from..].find(literal.as_str()) {
                cuts.push(from + pos + cut);
                from += pos + 1;
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }
}

/// Whether the model's vocabulary is o200k_harmony: the size, the special ids and every
/// ordinary token's bytes match the o200k_base ranks.
fn is_o200k_harmony(model: &LlamaModel, specials: &[TokenId]) -> bool {
    let vocab = model.vocab();
    if u32::try_from(vocab.n_tokens()) != Ok(crate::O200K_HARMONY_VOCAB_SIZE) {
        return false;
    }
    if !SpecialToken::ALL
        .iter()
        .zip(specials)
        .all(|(token, id)| token.o200k_id() == *id)
    {
        return false;
    }
    let bpe = &bpe_openai::o200k_base().bpe;
    let mut buf = Vec::new();
    (0..bpe.num_tokens() as u32).all(|id| {
        buf.clear();
        vocab.token_to_piece_into(LlamaToken(id as i32), &mut buf, false, None);
        buf == bpe.token_bytes(id)
    })
}

impl Tokenizer for LlamaTokenizer {
    fn special_id(&self, token: SpecialToken) -> TokenId {
        let index = SpecialToken::ALL
            .iter()
            .position(|t| *t == token)
            .unwrap_or_default();
        self.specials[index]
    }

    fn encode_text(&self, text: &str) -> Vec<TokenId> {
        match self.o200k {
            // bpe-openai knows no special tokens: markers in the text stay text.
            Some(bpe) => bpe.encode(text),
            None => self.encode_text_with_llama_cpp(text),
        }
    }

    fn decode(&self, id: TokenId) -> Result<Decoded, ModelError> {
        if id >= self.vocab_size {
            return Err(ModelError::UnknownToken {
                id,
                vocab_size: self.vocab_size,
            });
        }
        if let Some(token) = self.by_id.get(&id) {
            return Ok(Decoded::Special(*token));
        }
        let vocab = self.model.vocab();
        let tok = LlamaToken(id as i32);
        let attr = vocab.attr(tok);
        let bytes = vocab.token_to_piece(tok, true, None);
        if attr.contains(LlamaTokenAttr::Control) || attr.contains(LlamaTokenAttr::UserDefined) {
            return Ok(Decoded::OtherSpecial(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        Ok(Decoded::Bytes(bytes))
    }

    fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    fn special_token(&self, id: TokenId) -> Option<SpecialToken> {
        self.by_id.get(&id).copied()
    }
}
