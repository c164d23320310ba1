//! Reads a GGUF file's metadata in safe Rust and checks that it is a gpt-oss model
//! llama.cpp can run, before llama.cpp sees it.
//!
//! Some defects make llama.cpp abort the whole process (`GGML_ASSERT`) instead of returning
//! an error: no `expert_count`, an unknown rope scaling type, F16 biases (aborts at the
//! first decode). [`inspect_gpt_oss`] turns those, and every other defect it can see, into
//! a [`ModelError::InvalidModel`] that names the problem.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::ModelError;

/// Upper bounds that keep a malformed header from allocating without limit.
const MAX_STRING: u64 = 64 << 20;
const MAX_ARRAY: u64 = 1 << 28;
const MAX_ENTRIES: u64 = 1 << 24;
/// ggml's `GGML_MAX_DIMS`.
const MAX_DIMS: u32 = 4;
/// llama.cpp's `LLAMA_MAX_LAYERS` and `LLAMA_MAX_EXPERTS` (exceeding them aborts).
const MAX_LAYERS: u32 = 512;
const MAX_EXPERTS: u32 = 1024;

/// A metadata value. Arrays keep their element type and length, and their elements
/// only when they are integers (per-layer hyperparameters).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// An unsigned integer of any width.
    Uint(u64),
    /// A signed integer of any width.
    Int(i64),
    /// A float of any width.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// An array.
    Array {
        /// GGUF type code of the elements.
        elem_type: u32,
        /// Number of elements.
        len: u64,
        /// The elements, when they are integers.
        ints: Option<Vec<i64>>,
    },
}

/// A metadata entry: GGUF type code and value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaEntry {
    /// GGUF type code (4 = uint32, 5 = int32, 6 = float32, 8 = string, 9 = array, …).
    pub type_code: u32,
    /// The value.
    pub value: MetaValue,
}

/// One tensor's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// ggml `ne` (first dimension fastest).
    pub dims: Vec<u64>,
    /// ggml type code.
    pub ggml_type: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata by key.
    pub metadata: BTreeMap<String, MetaEntry>,
    /// Tensor descriptions, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Size of the file in bytes.
    pub file_size: u64,
}

const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STR: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

struct Reader<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut buf = [0u8; N];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| format!("header ends early at byte {} ({e})", self.pos))?;
        self.pos += N as u64;
        Ok(buf)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u64()?;
        if len > MAX_STRING {
            return Err(format!("a string at byte {} claims {len} bytes", self.pos));
        }
        let mut buf = vec![0u8; len as usize];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| format!("header ends early at byte {} ({e})", self.pos))?;
        self.pos += len;
        String::from_utf8(buf)
            .map_err(|_| format!("a string before byte {} is not UTF-8", self.pos))
    }
    fn skip(&mut self, n: u64) -> Result<(), String> {
        let copied = std::io::copy(&mut (&mut self.inner).take(n), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
        if copied != n {
            return Err(format!("header ends early at byte {}", self.pos + copied));
        }
        self.pos += n;
        Ok(())
    }

    fn scalar(&mut self, type_code: u32) -> Result<MetaValue, String> {
        Ok(match type_code {
            T_U8 => MetaValue::Uint(u64::from(self.bytes::<1>()?[0])),
            T_I8 => MetaValue::Int(i64::from(i8::from_le_bytes(self.bytes::<1>()?))),
            T_U16 => MetaValue::Uint(u64::from(u16::from_le_bytes(self.bytes::<2>()?))),
            T_I16 => MetaValue::Int(i64::from(i16::from_le_bytes(self.bytes::<2>()?))),
            T_U32 => MetaValue::Uint(u64::from(self.u32()?)),
            T_I32 => MetaValue::Int(i64::from(i32::from_le_bytes(self.bytes::<4>()?))),
            T_F32 => MetaValue::Float(f64::from(f32::from_le_bytes(self.bytes::<4>()?))),
            T_BOOL => MetaValue::Bool(self.bytes::<1>()?[0] != 0),
            T_STR => MetaValue::Str(self.string()?),
            T_U64 => MetaValue::Uint(self.u64()?),
            T_I64 => MetaValue::Int(i64::from_le_bytes(self.bytes::<8>()?)),
            T_F64 => MetaValue::Float(f64::from_le_bytes(self.bytes::<8>()?)),
            other => return Err(format!("unknown metadata type {other}")),
        })
    }

    fn value(&mut self, type_code: u32) -> Result<MetaValue, String> {
        if type_code != T_ARRAY {
            return self.scalar(type_code);
        }
        let elem_type = self.u32()?;
        let len = self.u64()?;
        if len > MAX_ARRAY {
            return Err(format!("an array claims {len} elements"));
        }
        let width = match elem_type {
            T_U8 | T_I8 | T_BOOL => Some(1),
            T_U16 | T_I16 => Some(2),
            T_U32 | T_I32 | T_F32 => Some(4),
            T_U64 | T_I64 | T_F64 => Some(8),
            T_STR => None,
            other => return Err(format!("arrays of type {other} are not supported")),
        };
        let is_int = !matches!(elem_type, T_F32 | T_F64 | T_BOOL | T_STR);
        let mut ints = None;
        match width {
            Some(_) if is_int && len <= 4096 => {
                let mut values = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    values.push(match self.scalar(elem_type)? {
                        MetaValue::Uint(v) => v as i64,
                        MetaValue::Int(v) => v,
                        _ => 0,
                    });
                }
                ints = Some(values);
            }
            Some(w) => self.skip(w * len)?,
            None => {
                for _ in 0..len {
                    let n = self.u64()?;
                    if n > MAX_STRING {
                        return Err(format!("a string in an array claims {n} bytes"));
                    }
                    self.skip(n)?;
                }
            }
        }
        Ok(MetaValue::Array {
            elem_type,
            len,
            ints,
        })
    }
}

/// Reads the header (metadata and tensor descriptions) of a GGUF file.
pub fn read_header(path: &Path) -> Result<GgufHeader, ModelError> {
    let invalid = |reason: String| ModelError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| ModelError::ModelFile {
        path: path.to_path_buf(),
        source,
    })?;
    let file_size = file
        .metadata()
        .map_err(|source| ModelError::ModelFile {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 20, file),
        pos: 0,
    };
    parse(&mut r, file_size).map_err(invalid)
}

fn parse<R: Read>(r: &mut Reader<R>, file_size: u64) -> Result<GgufHeader, String> {
    if r.bytes::<4>().ok().as_ref() != Some(b"GGUF") {
        return Err("it does not start with the GGUF magic bytes (is it a GGUF file?)".into());
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(format!(
            "GGUF version {version} is not supported (2 or 3 are)"
        ));
    }
    let n_tensors = r.u64()?;
    let n_kv = r.u64()?;
    if n_tensors > MAX_ENTRIES || n_kv > MAX_ENTRIES {
        return Err(format!(
            "implausible counts: {n_tensors} tensors, {n_kv} metadata keys"
        ));
    }
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = r.string()?;
        let type_code = r.u32()?;
        let value = r
            .value(type_code)
            .map_err(|e| format!("metadata key '{key}': {e}"))?;
        if metadata
            .insert(key.clone(), MetaEntry { type_code, value })
            .is_some()
        {
            return Err(format!("metadata key '{key}' appears twice"));
        }
    }
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        let name = r.string()?;
        let n_dims = r.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!("tensor '{name}' has {n_dims} dimensions"));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(r.u64()?);
        }
        let ggml_type = r.u32()?;
        let offset = r.u64()?;
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
        });
    }
    let alignment = match metadata.get("general.alignment") {
        None => 32,
        Some(MetaEntry {
            type_code: T_U32,
            value: MetaValue::Uint(a),
        }) if *a > 0 && a.is_power_of_two() => *a,
        Some(_) => return Err("general.alignment must be a power-of-two uint32".into()),
    };
    let data_offset = r.pos.div_ceil(alignment) * alignment;
    let header = GgufHeader {
        version,
        metadata,
        tensors,
        data_offset,
        file_size,
    };
    check_tensor_data(&header, alignment)?;
    Ok(header)
}

/// Bytes of a tensor of ggml type `ty` and shape `dims`, or why it is invalid.
fn tensor_bytes(ty: u32, dims: &[u64]) -> Result<u64, String> {
    if ty >= llama_cpp_sys_2::GGML_TYPE_COUNT {
        return Err(format!("unknown ggml type {ty}"));
    }
    // SAFETY: pure table lookups, valid for every type below GGML_TYPE_COUNT.
    let (block, size) = unsafe {
        (
            llama_cpp_sys_2::ggml_blck_size(ty),
            llama_cpp_sys_2::ggml_type_size(ty),
        )
    };
    if block <= 0 || size == 0 {
        return Err(format!("ggml type {ty} is no longer supported"));
    }
    let block = block as u64;
    if !dims[0].is_multiple_of(block) {
        return Err(format!(
            "row length {} is not a multiple of the block size {block}",
            dims[0]
        ));
    }
    let mut n: u64 = 1;
    for d in dims {
        n = n
            .checked_mul(*d)
            .ok_or_else(|| "element count overflows".to_string())?;
    }
    (n / block)
        .checked_mul(size as u64)
        .ok_or_else(|| "byte size overflows".to_string())
}

fn check_tensor_data(header: &GgufHeader, alignment: u64) -> Result<(), String> {
    let data_len = header.file_size.saturating_sub(header.data_offset);
    let mut seen = HashMap::new();
    for t in &header.tensors {
        if seen.insert(t.name.as_str(), ()).is_some() {
            return Err(format!("tensor '{}' appears twice", t.name));
        }
        let bytes =
            tensor_bytes(t.ggml_type, &t.dims).map_err(|e| format!("tensor '{}': {e}", t.name))?;
        if !t.offset.is_multiple_of(alignment) {
            return Err(format!(
                "tensor '{}' is not aligned to {alignment} bytes",
                t.name
            ));
        }
        let end = t.offset.saturating_add(bytes);
        if end > data_len {
            return Err(format!(
                "tensor '{}' needs bytes up to {} of the data section but the file holds {data_len}: \
                 the file is truncated (download it again)",
                t.name, end
            ));
        }
    }
    Ok(())
}

/// The hyperparameters of a gpt-oss GGUF that passed [`inspect_gpt_oss`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptOssSummary {
    /// The file.
    pub path: PathBuf,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Embedding width.
    pub n_embd: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads.
    pub n_head_kv: u32,
    /// Width of one head.
    pub head_dim: u32,
    /// Experts per layer.
    pub n_expert: u32,
    /// Experts used per token.
    pub n_expert_used: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Context length the model was trained for.
    pub n_ctx_train: u32,
    /// Sliding window of the SWA layers.
    pub n_swa: u32,
    /// Size of the file (of all parts, for a split model).
    pub file_size: u64,
}

impl GptOssSummary {
    /// F16 KV-cache bytes per token of context with every layer full-size
    /// (ossa keeps `swa_full` on so prefix reuse is exact).
    pub fn kv_bytes_per_token(&self) -> u64 {
        u64::from(self.n_layer) * 2 * u64::from(self.n_head_kv) * u64::from(self.head_dim) * 2
    }
}

/// Reads and checks a gpt-oss GGUF: the metadata llama.cpp requires (with the exact types
/// it requires), the tensors it will look up (present, right shape, right type), and that
/// the data is all there.
pub fn inspect_gpt_oss(path: &Path) -> Result<GptOssSummary, ModelError> {
    if !path.is_file() {
        return Err(ModelError::ModelFile {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (download a gpt-oss GGUF, e.g. ggml-org/gpt-oss-20b-GGUF)",
            ),
        });
    }
    let header = with_split_parts(path, read_header(path)?)?;
    check_gpt_oss(&header, path).map_err(|reason| ModelError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    })
}

/// The paths of a split model's parts, first part first, given the first part's path and
/// header; `None` when the file is a whole model. A split model (`gguf-split`, as
/// gpt-oss-120b ships) carries `split.count` and `split.no` in every part and all other
/// metadata in the first; llama.cpp finds parts 2..n by the first part's name,
/// `NAME-00001-of-0000n.gguf`, so the same rule is applied here.
pub fn split_parts(path: &Path, header: &GgufHeader) -> Result<Option<Vec<PathBuf>>, ModelError> {
    let invalid = |reason: String| ModelError::InvalidModel {
        path: path.to_path_buf(),
        reason,
    };
    let count = match header.metadata.get("split.count") {
        None => return Ok(None),
        Some(MetaEntry {
            value: MetaValue::Uint(n),
            ..
        }) if *n <= u64::from(u16::MAX) => *n as u16,
        Some(_) => return Err(invalid("metadata key 'split.count' is not a uint16".into())),
    };
    if count <= 1 {
        return Ok(None);
    }
    let index = split_index(header).map_err(&invalid)?;
    if index != 0 {
        return Err(invalid(format!(
            "it is part {} of a split model of {count} parts: give the first part \
             (the file ending in -00001-of-{count:05}.gguf)",
            index + 1
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = format!("-00001-of-{count:05}.gguf");
    let Some(prefix) = name.strip_suffix(&suffix).filter(|p| !p.is_empty()) else {
        return Err(invalid(format!(
            "it is the first part of a split model of {count} parts but is not named \
             NAME{suffix}, the name llama.cpp finds the other parts by"
        )));
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    Ok(Some(
        (1..=count)
            .map(|i| dir.join(format!("{prefix}-{i:05}-of-{count:05}.gguf")))
            .collect(),
    ))
}

fn split_index(header: &GgufHeader) -> Result<u64, String> {
    match header.metadata.get("split.no") {
        Some(MetaEntry {
            value: MetaValue::Uint(n),
            ..
        }) => Ok(*n),
        Some(_) => Err("metadata key 'split.no' is not a uint16".into()),
        None => Err("metadata key 'split.no' is missing from a split model's part".into()),
    }
}

/// For a split model, `first`'s header with every part's tensors added (each part's data
/// checked against its own size); otherwise `first` unchanged.
fn with_split_parts(path: &Path, mut first: GgufHeader) -> Result<GgufHeader, ModelError> {
    let Some(parts) = split_parts(path, &first)? else {
        return Ok(first);
    };
    let count = parts.len();
    let mut names: HashMap<String, ()> =
        first.tensors.iter().map(|t| (t.name.clone(), ())).collect();
    for (index, part) in parts.iter().enumerate().skip(1) {
        if !part.is_file() {
            return Err(ModelError::ModelFile {
                path: part.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "part {} of {count} of the split model is missing: download every part \
                         (ossa pull does)",
                        index + 1
                    ),
                ),
            });
        }
        let header = read_header(part)?;
        let invalid = |reason: String| ModelError::InvalidModel {
            path: part.clone(),
            reason,
        };
        let found = split_index(&header).map_err(&invalid)?;
        if found != index as u64 {
            return Err(invalid(format!(
                "its split.no is {found}, expected {index} from its name"
            )));
        }
        for tensor in header.tensors {
            if names.insert(tensor.name.clone(), ()).is_some() {
                return Err(invalid(format!(
                    "tensor '{}' is also in another part",
                    tensor.name
                )));
            }
            first.tensors.push(tensor);
        }
        first.file_size += header.file_size;
    }
    Ok(first)
}

struct Meta<'a>(&'a BTreeMap<String, MetaEntry>);

impl Meta<'_> {
    fn get(&self, key: &str) -> Option<&MetaEntry> {
        self.0.get(key)
    }
    fn u32_opt(&self, key: &str) -> Result<Option<u32>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaEntry {
                type_code: T_U32,
                value: MetaValue::Uint(v),
            }) => Ok(Some(*v as u32)),
            Some(e) => Err(format!(
                "metadata key '{key}' has type {} but llama.cpp requires uint32",
                type_name(e.type_code)
            )),
        }
    }
    fn u32(&self, key: &str) -> Result<u32, String> {
        self.u32_opt(key)?
            .ok_or_else(|| format!("required metadata key '{key}' is missing"))
    }
    /// A uint32, or a per-layer array whose values must all agree for ossa's checks.
    fn u32_or_array(&self, key: &str) -> Result<Option<u32>, String> {
        match self.get(key) {
            Some(MetaEntry {
                value: MetaValue::Array { ints, len, .. },
                ..
            }) => {
                let first = ints.as_ref().and_then(|v| v.first().copied());
                match (first, len) {
                    (Some(v), _) if v >= 0 => Ok(Some(v as u32)),
                    _ => Err(format!("metadata array '{key}' is empty or not integers")),
                }
            }
            _ => self.u32_opt(key),
        }
    }
    fn f32(&self, key: &str) -> Result<f32, String> {
        match self.get(key) {
            None => Err(format!("required metadata key '{key}' is missing")),
            Some(MetaEntry {
                type_code: T_F32,
                value: MetaValue::Float(v),
            }) => Ok(*v as f32),
            Some(e) => Err(format!(
                "metadata key '{key}' has type {} but llama.cpp requires float32",
                type_name(e.type_code)
            )),
        }
    }
    fn str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaEntry {
                value: MetaValue::Str(s),
                ..
            }) => Ok(Some(s)),
            Some(e) => Err(format!(
                "metadata key '{key}' has type {} but should be a string",
                type_name(e.type_code)
            )),
        }
    }
    fn array_len(&self, key: &str, elem: u32) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(MetaEntry {
                value: MetaValue::Array { elem_type, len, .. },
                ..
            }) if *elem_type == elem => Ok(Some(*len)),
            Some(_) => Err(format!(
                "metadata key '{key}' should be an array of {}",
                type_name(elem)
            )),
        }
    }
}

fn type_name(code: u32) -> &'static str {
    match code {
        T_U8 => "uint8",
        T_I8 => "int8",
        T_U16 => "uint16",
        T_I16 => "int16",
        T_U32 => "uint32",
        T_I32 => "int32",
        T_F32 => "float32",
        T_BOOL => "bool",
        T_STR => "string",
        T_ARRAY => "array",
        T_U64 => "uint64",
        T_I64 => "int64",
        T_F64 => "float64",
        _ => "unknown",
    }
}

fn check_gpt_oss(h: &GgufHeader, path: &Path) -> Result<GptOssSummary, String> {
    let m = Meta(&h.metadata);
    match m.str("general.architecture")? {
        Some("gpt-oss") => {}
        Some(other) => {
            return Err(format!(
                "its architecture is '{other}'; ossa runs gpt-oss models only"
            ));
        }
        None => return Err("metadata key 'general.architecture' is missing".into()),
    }
    let a = |k: &str| format!("gpt-oss.{k}");
    let n_layer = m.u32(&a("block_count"))?;
    let n_ctx_train = m.u32(&a("context_length"))?;
    let n_embd = m.u32(&a("embedding_length"))?;
    let n_head = m
        .u32_or_array(&a("attention.head_count"))?
        .ok_or("required metadata key 'gpt-oss.attention.head_count' is missing")?;
    let n_head_kv = m
        .u32_or_array(&a("attention.head_count_kv"))?
        .unwrap_or(n_head);
    m.f32(&a("attention.layer_norm_rms_epsilon"))?;
    let n_swa = m.u32(&a("attention.sliding_window"))?;
    let n_ff_exp = m
        .u32_or_array(&a("expert_feed_forward_length"))?
        .ok_or("required metadata key 'gpt-oss.expert_feed_forward_length' is missing")?;
    let n_expert = m.u32(&a("expert_count"))?;
    let n_expert_used = m.u32(&a("expert_used_count"))?;
    let key_length = m.u32_opt(&a("attention.key_length"))?;
    m.u32_opt(&a("attention.value_length"))?;
    let rope_dims = m.u32_opt(&a("rope.dimension_count"))?;
    if let Some(kind) = m.str(&a("rope.scaling.type"))?
        && !["none", "linear", "yarn", "longrope"].contains(&kind)
    {
        return Err(format!(
            "rope scaling type '{kind}' is unknown (llama.cpp would abort)"
        ));
    }
    if n_layer == 0 || n_layer > MAX_LAYERS {
        return Err(format!("block_count {n_layer} is outside 1..={MAX_LAYERS}"));
    }
    if n_embd == 0 || n_head == 0 || n_head_kv == 0 || !n_head.is_multiple_of(n_head_kv) {
        return Err(format!(
            "embedding_length {n_embd}, head_count {n_head} and head_count_kv {n_head_kv} are inconsistent"
        ));
    }
    if n_expert == 0 || n_expert > MAX_EXPERTS {
        return Err(format!(
            "expert_count {n_expert} is outside 1..={MAX_EXPERTS}"
        ));
    }
    if n_expert_used == 0 || n_expert_used > n_expert {
        return Err(format!(
            "expert_used_count {n_expert_used} must be in 1..=expert_count ({n_expert})"
        ));
    }
    let head_dim = rope_dims.or(key_length).unwrap_or(n_embd / n_head);

    // Tokenizer: gpt-oss uses the byte-level BPE (gpt2) model with merges.
    match m.str("tokenizer.ggml.model")? {
        Some("gpt2") => {}
        Some(other) => {
            return Err(format!(
                "tokenizer model is '{other}'; gpt-oss uses byte-level BPE ('gpt2')"
            ));
        }
        None => return Err("metadata key 'tokenizer.ggml.model' is missing".into()),
    }
    let n_vocab = m
        .array_len("tokenizer.ggml.tokens", T_STR)?
        .ok_or("metadata key 'tokenizer.ggml.tokens' is missing")?;
    if n_vocab == 0 || n_vocab > u64::from(u32::MAX >> 1) {
        return Err(format!("vocabulary size {n_vocab} is implausible"));
    }
    m.array_len("tokenizer.ggml.merges", T_STR)?
        .ok_or("metadata key 'tokenizer.ggml.merges' is missing")?;
    if let Some(len) = m.array_len("tokenizer.ggml.token_type", T_I32)?
        && len != n_vocab
    {
        return Err(format!("token_type has {len} entries for {n_vocab} tokens"));
    }
    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.eot_token_id",
    ] {
        if let Some(id) = m.u32_opt(key)?
            && u64::from(id) >= n_vocab
        {
            return Err(format!(
                "{key} = {id} is outside the vocabulary ({n_vocab})"
            ));
        }
    }

    check_tensors(
        h,
        &Shape {
            e: u64::from(n_embd),
            v: n_vocab,
            q: u64::from(n_head) * u64::from(head_dim),
            kv: u64::from(n_head_kv) * u64::from(head_dim),
            h: u64::from(n_head),
            x: u64::from(n_expert),
            f: u64::from(n_ff_exp),
            layers: n_layer,
        },
    )?;

    Ok(GptOssSummary {
        path: path.to_path_buf(),
        name: m.str("general.name")?.map(str::to_string),
        n_layer,
        n_embd,
        n_head,
        n_head_kv,
        head_dim,
        n_expert,
        n_expert_used,
        n_vocab: n_vocab as u32,
        n_ctx_train,
        n_swa,
        file_size: h.file_size,
    })
}

struct Shape {
    e: u64,
    v: u64,
    q: u64,
    kv: u64,
    h: u64,
    x: u64,
    f: u64,
    layers: u32,
}

/// ggml's F32 type code; biases, norms and sinks must use it.
const GGML_F32: u32 = 0;

fn check_tensors(h: &GgufHeader, s: &Shape) -> Result<(), String> {
    let by_name: HashMap<&str, &TensorInfo> =
        h.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    // (name, expected dims, must be F32, required)
    let mut expected: Vec<(String, Vec<u64>, bool, bool)> = vec![
        ("token_embd.weight".into(), vec![s.e, s.v], false, true),
        ("output_norm.weight".into(), vec![s.e], true, true),
        ("output.weight".into(), vec![s.e, s.v], false, true),
    ];
    for i in 0..s.layers {
        let n = |x: &str| format!("blk.{i}.{x}");
        let fused = by_name.contains_key(n("attn_qkv.weight").as_str());
        expected.extend([
            (n("attn_norm.weight"), vec![s.e], true, true),
            (n("post_attention_norm.weight"), vec![s.e], true, true),
            (n("attn_output.weight"), vec![s.q, s.e], false, true),
            (n("attn_output.bias"), vec![s.e], true, true),
            (n("attn_sinks.weight"), vec![s.h], true, true),
            (n("ffn_gate_inp.weight"), vec![s.e, s.x], false, true),
            (n("ffn_gate_inp.bias"), vec![s.x], true, true),
            (n("ffn_gate_exps.weight"), vec![s.e, s.f, s.x], false, true),
            (n("ffn_up_exps.weight"), vec![s.e, s.f, s.x], false, true),
            (n("ffn_down_exps.weight"), vec![s.f, s.e, s.x], false, true),
            (n("ffn_gate_exps.bias"), vec![s.f, s.x], true, true),
            (n("ffn_up_exps.bias"), vec![s.f, s.x], true, true),
            (n("ffn_down_exps.bias"), vec![s.e, s.x], true, true),
        ]);
        if fused {
            let all = s.q + 2 * s.kv;
            expected.push((n("attn_qkv.weight"), vec![s.e, all], false, true));
            expected.push((n("attn_qkv.bias"), vec![all], true, false));
        } else {
            for (part, width) in [("q", s.q), ("k", s.kv), ("v", s.kv)] {
                expected.push((
                    n(&format!("attn_{part}.weight")),
                    vec![s.e, width],
                    false,
                    true,
                ));
                expected.push((n(&format!("attn_{part}.bias")), vec![width], true, false));
            }
        }
    }
    for (name, dims, must_be_f32, required) in expected {
        let Some(t) = by_name.get(name.as_str()) else {
            if required {
                return Err(format!("tensor '{name}' is missing"));
            }
            continue;
        };
        if t.dims != dims {
            return Err(format!(
                "tensor '{name}' has shape {:?}, expected {dims:?}",
                t.dims
            ));
        }
        if must_be_f32 && t.ggml_type != GGML_F32 {
            return Err(format!(
                "tensor '{name}' is stored as ggml type {} but must be F32 \
                 (llama.cpp aborts on the first decode otherwise)",
                t.ggml_type
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(n_tensors.to_le_bytes());
        b.extend(n_kv.to_le_bytes());
        b
    }

    #[test]
    fn absurd_sizes_are_refused_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_header(&write(dir.path(), "counts.gguf", &header(0, 1 << 40))).unwrap_err();
        assert!(err.to_string().contains("implausible counts"), "{err}");
        let mut b = header(0, 1);
        b.extend((1u64 << 40).to_le_bytes());
        let err = read_header(&write(dir.path(), "string.gguf", &b)).unwrap_err();
        assert!(err.to_string().contains("claims"), "{err}");
        let mut b = header(0, 1);
        b.extend(1u64.to_le_bytes());
        b.push(b'k');
        b.extend(42u32.to_le_bytes());
        let err = read_header(&write(dir.path(), "type.gguf", &b)).unwrap_err();
        assert!(
            err.to_string().contains("unknown metadata type 42"),
            "{err}"
        );
    }

    #[test]
    fn a_split_model_is_checked_across_its_parts() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ossa_tiny_gguf::Spec::tiny();
        let parts = ossa_tiny_gguf::write_split(&spec, dir.path(), "tiny", 3).unwrap();
        let whole = dir.path().join("whole.gguf");
        ossa_tiny_gguf::write(&spec, &whole).unwrap();

        let split = inspect_gpt_oss(&parts[0]).unwrap();
        let single = inspect_gpt_oss(&whole).unwrap();
        assert_eq!(split.n_layer, single.n_layer);
        assert_eq!(split.n_vocab, single.n_vocab);
        let total: u64 = parts
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(split.file_size, total);
        assert_eq!(
            split_parts(&parts[0], &read_header(&parts[0]).unwrap())
                .unwrap()
                .unwrap(),
            parts
        );

        // A later part is not a model by itself.
        let err = inspect_gpt_oss(&parts[1]).unwrap_err().to_string();
        assert!(err.contains("part 2 of a split model of 3"), "{err}");
        // A missing part is named.
        std::fs::remove_file(&parts[2]).unwrap();
        let err = inspect_gpt_oss(&parts[0]).unwrap_err().to_string();
        assert!(
            err.contains("tiny-00003-of-00003.gguf") && err.contains("part 3 of 3"),
            "{err}"
        );
        // The first part under another name cannot find its siblings.
        let renamed = dir.path().join("renamed.gguf");
        std::fs::rename(&parts[0], &renamed).unwrap();
        let err = inspect_gpt_oss(&renamed).unwrap_err().to_string();
        assert!(err.contains("-00001-of-00003.gguf"), "{err}");
    }

    #[test]
    fn the_tiny_model_passes_with_its_hyperparameters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        ossa_tiny_gguf::write(&ossa_tiny_gguf::Spec::tiny(), &path).unwrap();
        let s = inspect_gpt_oss(&path).unwrap();
        assert_eq!(
            (
                s.n_layer,
                s.n_embd,
                s.n_head,
                s.n_head_kv,
                s.head_dim,
                s.n_expert,
                s.n_expert_used
            ),
            (2, 64, 8, 2, 16, 4, 2)
        );
        assert_eq!((s.n_vocab, s.n_ctx_train, s.n_swa), (472, 131_072, 128));
        let h = read_header(&path).unwrap();
        assert_eq!(h.tensors.len(), 41);
        assert_eq!(h.data_offset % 32, 0);
    }
}
