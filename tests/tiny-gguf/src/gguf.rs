//! A minimal GGUF (version 3) writer: metadata key/values, then aligned tensor data.
//!
//! Only what the generator needs. The layout follows ggml's `gguf.cpp`: header, key/values,
//! tensor infos (offsets relative to the data section), padding to the alignment, data.

use std::io::{self, Write};

/// The alignment of the data section and of every tensor in it (GGUF's default).
pub const ALIGNMENT: u64 = 32;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `GGUF_TYPE_UINT16` (llama.cpp's `split.no` and `split.count`).
    U16(u16),
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_INT32`.
    I32(i32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL`.
    Bool(bool),
    /// `GGUF_TYPE_STRING`.
    Str(String),
    /// An array of strings.
    StrArray(Vec<String>),
    /// An array of `int32`.
    I32Array(Vec<i32>),
}

impl Value {
    fn type_id(&self) -> u32 {
        match self {
            Value::U16(_) => 2,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::StrArray(_) | Value::I32Array(_) => 9,
        }
    }
}

/// The ggml tensor types the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorType {
    /// 32-bit float.
    F32,
    /// IEEE half float.
    F16,
    /// Microscaling FP4: blocks of 32 values, one E8M0 scale byte and 16 bytes of nibbles.
    Mxfp4,
}

impl TensorType {
    /// ggml's `enum ggml_type` value.
    pub fn ggml_id(self) -> u32 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
            TensorType::Mxfp4 => 39,
        }
    }

    /// Bytes taken by `n` elements (`n` must be a multiple of 32 for MXFP4).
    pub fn byte_size(self, n: u64) -> u64 {
        match self {
            TensorType::F32 => 4 * n,
            TensorType::F16 => 2 * n,
            TensorType::Mxfp4 => n / 32 * 17,
        }
    }
}

/// One tensor: name, dimensions in ggml order (first = fastest), type and encoded data.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// ggml `ne`: the first dimension varies fastest.
    pub dims: Vec<u64>,
    /// Storage type of `data`.
    pub ty: TensorType,
    /// Encoded bytes; `ty.byte_size(product of dims)` long.
    pub data: Vec<u8>,
}

/// Writes a complete GGUF file.
pub fn write(out: &mut impl Write, kvs: &[(String, Value)], tensors: &[Tensor]) -> io::Result<()> {
    let mut header = Vec::new();
    header.extend_from_slice(b"GGUF");
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    header.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        put_str(&mut header, key);
        header.extend_from_slice(&value.type_id().to_le_bytes());
        put_value(&mut header, value);
    }
    let mut offset = 0u64;
    for tensor in tensors {
        put_str(&mut header, &tensor.name);
        header.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
        for dim in &tensor.dims {
            header.extend_from_slice(&dim.to_le_bytes());
        }
        header.extend_from_slice(&tensor.ty.ggml_id().to_le_bytes());
        header.extend_from_slice(&offset.to_le_bytes());
        offset = align(offset + tensor.data.len() as u64);
    }
    pad_to_alignment(&mut header);
    out.write_all(&header)?;
    for tensor in tensors {
        out.write_all(&tensor.data)?;
        let padding = align(tensor.data.len() as u64) - tensor.data.len() as u64;
        out.write_all(&vec![0u8; padding as usize])?;
    }
    out.flush()
}

fn align(n: u64) -> u64 {
    n.div_ceil(ALIGNMENT) * ALIGNMENT
}

fn pad_to_alignment(buf: &mut Vec<u8>) {
    let target = align(buf.len() as u64) as usize;
    buf.resize(target, 0);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => buf.push(u8::from(*v)),
        Value::Str(s) => put_str(buf, s),
        Value::StrArray(items) => {
            buf.extend_from_slice(&8u32.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_str(buf, item);
            }
        }
        Value::I32Array(items) => {
            buf.extend_from_slice(&5u32.to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                buf.extend_from_slice(&item.to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_spec() {
        let kvs = vec![("a".to_string(), Value::U32(7))];
        let tensors = vec![Tensor {
            name: "t".into(),
            dims: vec![3],
            ty: TensorType::F32,
            data: vec![1; 12],
        }];
        let mut out = Vec::new();
        write(&mut out, &kvs, &tensors).unwrap();
        assert_eq!(&out[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(out[8..16].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(out[16..24].try_into().unwrap()), 1);
        // Data section is aligned, and the tensor is padded to the alignment.
        assert_eq!(out.len() % ALIGNMENT as usize, 0);
        let data_start = out.len() - 32;
        assert_eq!(&out[data_start..data_start + 12], &[1; 12]);
    }
}
