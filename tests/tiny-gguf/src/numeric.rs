//! Seeded random numbers and the number formats GGUF stores (F16, MXFP4).
//!
//! The generator keeps its own RNG rather than depending on `rand`, so a given seed gives
//! the same file whatever crate versions the lockfile resolves to.

/// xoshiro256** seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed`, decorrelated per `stream` (e.g. a tensor name).
    pub fn new(seed: u64, stream: &str) -> Rng {
        // FNV-1a over the stream name, mixed into the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in stream.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut x = seed ^ h;
        let mut s = [0u64; 4];
        for slot in &mut s {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *slot = z ^ (z >> 31);
        }
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// `n` samples of a normal distribution with mean 0 and standard deviation `std`.
    pub fn normals(&mut self, n: usize, std: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            // Box-Muller: two independent normals per pair of uniforms.
            let r = (-2.0 * self.unit().ln()).sqrt();
            let theta = std::f64::consts::TAU * self.unit();
            out.push((r * theta.cos()) as f32 * std);
            out.push((r * theta.sin()) as f32 * std);
        }
        out.truncate(n);
        out
    }
}

/// IEEE 754 binary16 bits for `x`, rounded to nearest even.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x007f_ffff;
    if exp == 0xff {
        let nan = if mant != 0 { 0x0200 } else { 0 };
        return sign | 0x7c00 | nan;
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x0080_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rounded = (m + half - 1 + ((m >> shift) & 1)) >> shift;
        return sign | rounded as u16;
    }
    let half_mant = mant >> 13;
    let rem = mant & 0x1fff;
    let mut out = ((e as u32) << 10) | half_mant;
    if rem > 0x1000 || (rem == 0x1000 && half_mant & 1 == 1) {
        // A carry into the exponent is the correct result (rounds up to the next binade).
        out += 1;
    }
    sign | out as u16
}

/// Little-endian F32 bytes.
pub fn encode_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian F16 bytes.
pub fn encode_f16(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| f32_to_f16_bits(*v).to_le_bytes())
        .collect()
}

/// ggml's E2M1 code points, doubled (ggml's `kvalues_mxfp4`).
const MXFP4_VALUES: [f32; 16] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 0.0, -1.0, -2.0, -3.0, -4.0, -6.0, -8.0, -12.0,
];

/// MXFP4 blocks (`len` a multiple of 32), following ggml's `quantize_row_mxfp4_ref`:
/// per block an E8M0 scale byte, then 16 bytes whose low nibbles hold values 0..16 and
/// high nibbles values 16..32.
pub fn encode_mxfp4(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 17);
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let e: u8 = if amax > 0.0 {
            (amax.log2().floor() - 2.0 + 127.0).clamp(1.0, 254.0) as u8
        } else {
            0
        };
        // ggml_e8m0_to_fp32_half: 2^(e - 127) / 2, the scale of the doubled code points.
        let d = 2f32.powi(i32::from(e) - 128);
        out.push(e);
        for j in 0..16 {
            let lo = best_index(block[j], d);
            let hi = best_index(block[j + 16], d);
            out.push(lo | (hi << 4));
        }
    }
    out
}

fn best_index(x: f32, d: f32) -> u8 {
    let mut best = 0u8;
    let mut best_err = f32::INFINITY;
    for (i, v) in MXFP4_VALUES.iter().enumerate() {
        let err = (v * d - x).abs();
        if err < best_err {
            best_err = err;
            best = i as u8;
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn f16_known_values() {
        assert_eq!(f32_to_f16_bits(0.0), 0x0000);
        assert_eq!(f32_to_f16_bits(-0.0), 0x8000);
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(1e6), 0x7c00);
        assert_eq!(f32_to_f16_bits(0.333_333_34), 0x3555);
        // Smallest subnormal, 2^-24.
        assert_eq!(f32_to_f16_bits(5.960_464_5e-8), 0x0001);
        assert_eq!(f32_to_f16_bits(f32::NAN) & 0x7c00, 0x7c00);
    }

    #[test]
    fn rng_is_deterministic_and_streams_differ() {
        let a = Rng::new(7, "x").normals(5, 1.0);
        let b = Rng::new(7, "x").normals(5, 1.0);
        let c = Rng::new(7, "y").normals(5, 1.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let many = Rng::new(1, "s").normals(20_000, 2.0);
        let mean = many.iter().sum::<f32>() / many.len() as f32;
        let var = many.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / many.len() as f32;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.1, "std {}", var.sqrt());
    }

    #[test]
    fn mxfp4_round_trips_representable_values() {
        // 0.5 * (code point) with scale byte 127 - 1 + ... : choose values exactly on the grid.
        let mut block = [0.0f32; 32];
        for (i, v) in block.iter_mut().enumerate() {
            *v = MXFP4_VALUES[i % 16] * 0.5;
        }
        let bytes = encode_mxfp4(&block);
        assert_eq!(bytes.len(), 17);
        let d = 2f32.powi(i32::from(bytes[0]) - 128);
        for j in 0..16 {
            let lo = MXFP4_VALUES[usize::from(bytes[1 + j] & 0x0f)] * d;
            let hi = MXFP4_VALUES[usize::from(bytes[1 + j] >> 4)] * d;
            assert_eq!(lo, block[j]);
            assert_eq!(hi, block[j + 16]);
        }
    }
}
