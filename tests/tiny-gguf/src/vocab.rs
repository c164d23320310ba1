//! Vocabularies for the tiny models: a small byte-level BPE learned from a toy corpus, and
//! the full o200k_harmony vocabulary with merges derived from the o200k_base ranks.
//!
//! Token strings use GPT-2's byte-to-unicode alphabet (space is `Ġ`, newline `Ċ`), which is
//! what llama.cpp's `gpt2` tokenizer model expects in `tokenizer.ggml.tokens`.

use std::collections::{BTreeMap, HashMap};

/// `tokenizer.ggml.token_type` values.
pub const TOKEN_TYPE_NORMAL: i32 = 1;
/// A control token (the harmony specials and the reserved ids).
pub const TOKEN_TYPE_CONTROL: i32 = 3;

/// First special id of o200k_harmony; the tiny vocabulary keeps the same relative layout.
pub const O200K_FIRST_SPECIAL: u32 = 199_998;
/// Number of entries of o200k_harmony (ids 0..201088).
pub const O200K_HARMONY_SIZE: u32 = 201_088;
/// Number of special slots the tiny vocabulary carries (o200k ids 199998..200014).
pub const TINY_SPECIAL_SLOTS: u32 = 16;

/// A tokenizer vocabulary ready to be written as GGUF metadata.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Token strings (GPT-2 alphabet for ordinary tokens, literal text for specials).
    pub tokens: Vec<String>,
    /// One `token_type` per token.
    pub types: Vec<i32>,
    /// `"left right"` merges in priority order.
    pub merges: Vec<String>,
    /// Id of the first special token (`<|startoftext|>`); the others follow in o200k order.
    pub first_special: u32,
}

impl Vocabulary {
    /// The id of a special token given by its o200k_harmony id.
    pub fn special_id(&self, o200k_id: u32) -> u32 {
        self.first_special + (o200k_id - O200K_FIRST_SPECIAL)
    }
}

/// The literal of the o200k_harmony special token with this id.
pub fn special_literal(o200k_id: u32) -> String {
    match o200k_id {
        199_998 => "<|startoftext|>".into(),
        199_999 => "<|endoftext|>".into(),
        200_002 => "<|return|>".into(),
        200_003 => "<|constrain|>".into(),
        200_005 => "<|channel|>".into(),
        200_006 => "<|start|>".into(),
        200_007 => "<|end|>".into(),
        200_008 => "<|message|>".into(),
        200_012 => "<|call|>".into(),
        other => format!("<|reserved_{other}|>"),
    }
}

/// GPT-2's reversible byte → printable unicode character table.
pub fn byte_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let b = b as u32;
        let code = if printable(b) {
            b
        } else {
            let c = next;
            next += 1;
            c
        };
        *slot = char::from_u32(code).unwrap_or('\u{fffd}');
    }
    table
}

fn to_gpt2(table: &[char; 256], bytes: &[u8]) -> String {
    bytes.iter().map(|b| table[usize::from(*b)]).collect()
}

/// A toy English and harmony corpus for the tiny BPE.
const CORPUS: &str = "The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun. \
A user asks the assistant a question, and the assistant thinks step by step before it answers. \
<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI. \
Knowledge cutoff: 2024-06 Current date: 2025-06-28 Reasoning: high \
# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>\
<|start|>developer<|message|># Instructions Always answer in short sentences. \
# Tools ## functions namespace functions { type get_weather = (_: { location: string }) => any; }<|end|>\
<|start|>user<|message|>What is the weather in Tokyo today? Please read the file and run the tests.<|end|>\
<|start|>assistant<|channel|>analysis<|message|>The user wants the weather. We should call the tool.<|end|>\
<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"location\": \"Tokyo\"}<|call|>\
<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"sunny\": true, \"temperature\": 20}<|end|>\
<|start|>assistant<|channel|>final<|message|>It is sunny and 20 degrees in Tokyo.<|return|> \
fn main() { println!(\"hello world\"); } let x = 42; return the answer; the developer writes code. \
The tool output is JSON. The final answer is short. Think about the problem, then answer the user.";

/// Splits text roughly the way the o200k pre-tokenizer does (an optional space, then a run
/// of letters, of digits or of other symbols), so learned merges resemble real ones.
fn pre_split(text: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Letter,
        Digit,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphabetic() {
            Class::Letter
        } else if c.is_numeric() {
            Class::Digit
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut words = Vec::new();
    let mut start = 0;
    let mut prev: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let cls = class(c);
        let boundary = match prev {
            None => false,
            Some(p) if p == cls => false,
            // The last space of a run joins the word that follows it.
            Some(Class::Space) if text[start..i].ends_with(' ') => {
                if i - start > 1 {
                    words.push(&text[start..i - 1]);
                    start = i - 1;
                }
                false
            }
            Some(_) => true,
        };
        if boundary {
            words.push(&text[start..i]);
            start = i;
        }
        prev = Some(cls);
    }
    if start < text.len() {
        words.push(&text[start..]);
    }
    words
}

/// Learns `n_merges` byte-level BPE merges from the toy corpus (deterministic: ties break
/// on the byte strings), then appends 16 harmony special slots in o200k order.
pub fn tiny(n_merges: usize) -> Vocabulary {
    let mut words: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    for word in pre_split(CORPUS) {
        *words.entry(word.as_bytes().to_vec()).or_default() += 1;
    }
    learn(&words, n_merges, |_, _| true)
}

/// Learns up to `n_merges` byte-level BPE merges from pre-tokenized `words` (each with how
/// often it occurs), merging only the pairs `allow` accepts (given the bytes of the left
/// and right token), then appends 16 harmony special slots in o200k order. Deterministic:
/// ties break on the byte strings.
pub fn learn(
    words: &BTreeMap<Vec<u8>, u64>,
    n_merges: usize,
    allow: impl Fn(&[u8], &[u8]) -> bool,
) -> Vocabulary {
    let table = byte_to_unicode();
    let mut token_bytes: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut words: Vec<(Vec<u32>, u64)> = words
        .iter()
        .map(|(word, n)| (word.iter().map(|b| u32::from(*b)).collect(), *n))
        .collect();
    let mut merges = Vec::with_capacity(n_merges);
    for _ in 0..n_merges {
        let mut counts: HashMap<(u32, u32), u64> = HashMap::new();
        for (word, n) in &words {
            for pair in word.windows(2) {
                *counts.entry((pair[0], pair[1])).or_default() += n;
            }
        }
        let best = counts
            .iter()
            .filter(|((a, b), _)| allow(&token_bytes[*a as usize], &token_bytes[*b as usize]))
            .max_by(|(a, na), (b, nb)| {
                na.cmp(nb).then_with(|| {
                    // Prefer the lexicographically smaller pair on ties.
                    let ka = (&token_bytes[a.0 as usize], &token_bytes[a.1 as usize]);
                    let kb = (&token_bytes[b.0 as usize], &token_bytes[b.1 as usize]);
                    kb.cmp(&ka)
                })
            });
        let Some((&(left, right), _)) = best else {
            break;
        };
        let new_id = token_bytes.len() as u32;
        let mut merged = token_bytes[left as usize].clone();
        merged.extend_from_slice(&token_bytes[right as usize]);
        merges.push(format!(
            "{} {}",
            to_gpt2(&table, &token_bytes[left as usize]),
            to_gpt2(&table, &token_bytes[right as usize])
        ));
        token_bytes.push(merged);
        for (word, _) in &mut words {
            if word.len() < 2 {
                continue;
            }
            let mut out = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == left && word[i + 1] == right {
                    out.push(new_id);
                    i += 2;
                } else {
                    out.push(word[i]);
                    i += 1;
                }
            }
            *word = out;
        }
    }
    let first_special = token_bytes.len() as u32;
    let mut tokens: Vec<String> = token_bytes.iter().map(|b| to_gpt2(&table, b)).collect();
    let mut types = vec![TOKEN_TYPE_NORMAL; tokens.len()];
    for slot in 0..TINY_SPECIAL_SLOTS {
        tokens.push(special_literal(O200K_FIRST_SPECIAL + slot));
        types.push(TOKEN_TYPE_CONTROL);
    }
    Vocabulary {
        tokens,
        types,
        merges,
        first_special,
    }
}

/// Byte-pair encoding with a [`Vocabulary`]'s merges, the way llama.cpp's `gpt2` tokenizer
/// applies them to one pre-tokenized chunk: repeatedly merge the adjacent pair of lowest
/// merge rank (leftmost first).
#[derive(Debug, Clone)]
pub struct Encoder {
    /// (left id, right id) → (rank, merged id).
    merges: HashMap<(u32, u32), (usize, u32)>,
}

impl Encoder {
    /// The encoder of `vocab`'s byte tokens and merges.
    pub fn new(vocab: &Vocabulary) -> Encoder {
        let ids: HashMap<&str, u32> = vocab
            .tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.as_str(), id as u32))
            .collect();
        let merges = vocab
            .merges
            .iter()
            .enumerate()
            .filter_map(|(rank, merge)| {
                let (left, right) = merge.split_once(' ')?;
                let merged = ids.get(format!("{left}{right}").as_str())?;
                Some(((*ids.get(left)?, *ids.get(right)?), (rank, *merged)))
            })
            .collect();
        Encoder { merges }
    }

    /// The ids of one pre-tokenized chunk (byte tokens have the byte's value as id).
    pub fn encode_chunk(&self, chunk: &[u8]) -> Vec<u32> {
        let mut ids: Vec<u32> = chunk.iter().map(|b| u32::from(*b)).collect();
        loop {
            let best = ids
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| {
                    self.merges
                        .get(&(pair[0], pair[1]))
                        .map(|(rank, merged)| (*rank, i, *merged))
                })
                .min();
            let Some((_, i, merged)) = best else {
                return ids;
            };
            ids[i] = merged;
            ids.remove(i + 1);
        }
    }
}

/// The o200k_harmony vocabulary: the 199,998 o200k_base tokens (id = rank), then the
/// harmony specials and reserved ids up to 201,087. Merges are derived from the ranks:
/// for each multi-byte token, byte-pair merging its bytes with only lower-ranked tokens
/// ends in exactly two parts, and that pair is its merge, in rank order.
pub fn o200k_harmony() -> Vocabulary {
    let table = byte_to_unicode();
    let bpe = &bpe_openai::o200k_base().bpe;
    let n = bpe.num_tokens() as u32;
    let all: Vec<&[u8]> = (0..n).map(|id| bpe.token_bytes(id)).collect();
    let ranks: HashMap<&[u8], u32> = all
        .iter()
        .enumerate()
        .map(|(i, b)| (*b, i as u32))
        .collect();
    let mut merges = Vec::with_capacity(all.len());
    for (rank, bytes) in all.iter().enumerate() {
        if bytes.len() < 2 {
            continue;
        }
        if let Some((left, right)) = split_by_lower_ranks(bytes, rank as u32, &ranks) {
            merges.push(format!(
                "{} {}",
                to_gpt2(&table, left),
                to_gpt2(&table, right)
            ));
        }
    }
    let mut tokens: Vec<String> = all.iter().map(|b| to_gpt2(&table, b)).collect();
    let mut types = vec![TOKEN_TYPE_NORMAL; tokens.len()];
    for id in n..O200K_HARMONY_SIZE {
        tokens.push(special_literal(id));
        types.push(TOKEN_TYPE_CONTROL);
    }
    Vocabulary {
        tokens,
        types,
        merges,
        first_special: n,
    }
}

/// Runs tiktoken's merge loop on `bytes` using only tokens ranked below `rank`; returns the
/// two parts it stops at, or `None` when it does not stop at two.
fn split_by_lower_ranks<'a>(
    bytes: &'a [u8],
    rank: u32,
    ranks: &HashMap<&[u8], u32>,
) -> Option<(&'a [u8], &'a [u8])> {
    // Part boundaries as byte offsets into `bytes`.
    let mut bounds: Vec<usize> = (0..=bytes.len()).collect();
    loop {
        let mut best: Option<(u32, usize)> = None;
        for i in 0..bounds.len() - 2 {
            let candidate = &bytes[bounds[i]..bounds[i + 2]];
            if let Some(&r) = ranks.get(candidate)
                && r < rank
                && best.is_none_or(|(br, _)| r < br)
            {
                best = Some((r, i));
            }
        }
        match best {
            Some((_, i)) => {
                bounds.remove(i + 1);
            }
            None => break,
        }
    }
    (bounds.len() == 3).then(|| (&bytes[..bounds[1]], &bytes[bounds[1]..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_alphabet_maps_space_and_newline() {
        let t = byte_to_unicode();
        assert_eq!(t[usize::from(b' ')], 'Ġ');
        assert_eq!(t[usize::from(b'\n')], 'Ċ');
        assert_eq!(t[usize::from(b'a')], 'a');
        let unique: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(unique.len(), 256);
    }

    #[test]
    fn tiny_vocab_has_the_harmony_layout() {
        let v = tiny(200);
        assert_eq!(v.tokens.len(), 472);
        assert_eq!(v.merges.len(), 200);
        assert_eq!(v.first_special, 456);
        assert_eq!(v.tokens[v.special_id(200_006) as usize], "<|start|>");
        assert_eq!(v.tokens[464], "<|start|>");
        assert_eq!(v.tokens[460], "<|return|>");
        assert_eq!(v.tokens[470], "<|call|>");
        assert_eq!(v.types[470], TOKEN_TYPE_CONTROL);
        // Every merge joins two existing tokens into another existing token.
        let set: std::collections::HashSet<&str> = v.tokens.iter().map(String::as_str).collect();
        for m in &v.merges {
            let (a, b) = m.split_once(' ').unwrap();
            assert!(set.contains(a) && set.contains(b) && set.contains(format!("{a}{b}").as_str()));
        }
        assert_eq!(tiny(200).merges, v.merges, "training is deterministic");
    }

    #[test]
    fn pre_split_keeps_a_leading_space_with_the_word() {
        assert_eq!(
            pre_split("hi  there, 42"),
            vec!["hi", " ", " there", ",", " 42"]
        );
    }
}
