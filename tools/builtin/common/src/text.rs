//! Telling text from binary, and keeping long lines short.

use std::borrow::Cow;

/// How much of a file is inspected to tell text from binary (as git does).
pub const BINARY_PROBE_BYTES: usize = 8 * 1024;

/// True when the first [`BINARY_PROBE_BYTES`] of `bytes` contain a NUL, which text
/// files never do.
pub fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_PROBE_BYTES)].contains(&0)
}

/// `line` cut to `max_chars` characters with `… [line cut]` appended, so one minified
/// line cannot fill the context.
pub fn clip(line: &str, max_chars: usize) -> Cow<'_, str> {
    match line.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}… [line cut]", &line[..cut])),
        None => Cow::Borrowed(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_means_a_nul_near_the_start() {
        assert!(looks_binary(b"PNG\0\x01"));
        assert!(!looks_binary("text, même accentué\n".as_bytes()));
        let mut late = vec![b'a'; BINARY_PROBE_BYTES];
        late.push(0);
        assert!(!looks_binary(&late));
    }

    #[test]
    fn long_lines_are_cut_on_a_character() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééé", 2), "éé… [line cut]");
    }
}
