//! The context budget: how much tool output goes back to the model.
//!
//! Two rules. Every tool output is capped (head and tail kept, a visible note in the
//! middle saying how much was cut and why). When the whole prompt nears the context
//! size, the loop shortens the oldest tool outputs first (see [`shorten_old_output`]);
//! when nothing is left to shorten it stops with a clear error. A prompt is never
//! truncated silently.

/// Default cap on one tool output, in bytes (about 4k tokens of code).
pub const DEFAULT_TOOL_OUTPUT_LIMIT: usize = 16 * 1024;

/// What an old tool output is cut down to when the context runs short, in bytes.
pub const SHORTENED_OUTPUT_BYTES: usize = 256;

/// The note that marks an output shortened to fit the context; also how the loop
/// recognises outputs it already shortened.
pub const SHORTENED_MARKER: &str = "[ossa: older tool output shortened";

/// Caps `output` at `limit` bytes, keeping the head and the tail on character
/// boundaries with a note between them. Returns the text and, when it was cut, the
/// original length in bytes.
pub fn cap_output(output: &str, limit: usize) -> (String, Option<usize>) {
    if output.len() <= limit {
        return (output.to_string(), None);
    }
    let head_end = output.floor_char_boundary(limit * 3 / 4);
    let tail_start = output.ceil_char_boundary(output.len() - limit / 4);
    let omitted = tail_start - head_end;
    let capped = format!(
        "{}\n[ossa: {omitted} bytes omitted here; the output was {} bytes and tool outputs are capped at {limit} bytes. Ask for a smaller part, e.g. with offset/limit or a narrower pattern.]\n{}",
        &output[..head_end],
        output.len(),
        &output[tail_start..],
    );
    (capped, Some(output.len()))
}

/// Cuts an old tool output down to its first [`SHORTENED_OUTPUT_BYTES`] bytes plus a
/// note; `None` if it is already short enough or already shortened. Only the loop's own
/// note at the very end marks an output as shortened: a tool that prints the marker text
/// itself is still shortened.
pub fn shorten_old_output(output: &str) -> Option<String> {
    if output.len() <= SHORTENED_OUTPUT_BYTES * 2 || is_shortened(output) {
        return None;
    }
    let head_end = output.floor_char_boundary(SHORTENED_OUTPUT_BYTES);
    Some(format!(
        "{}\n{SHORTENED_MARKER} from {} bytes to fit the context window; call the tool again if you need it.]",
        &output[..head_end],
        output.len()
    ))
}

/// Whether `output` ends with the note [`shorten_old_output`] writes.
fn is_shortened(output: &str) -> bool {
    let Some(last_line) = output.rsplit('\n').next() else {
        return false;
    };
    last_line.starts_with(SHORTENED_MARKER)
        && last_line.ends_with("call the tool again if you need it.]")
        && output.len() <= SHORTENED_OUTPUT_BYTES + last_line.len() + 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_unchanged() {
        assert_eq!(cap_output("abc", 10), ("abc".to_string(), None));
    }

    #[test]
    fn long_output_keeps_head_and_tail_and_says_so() {
        let output = format!("{}{}", "h".repeat(600), "t".repeat(600));
        let (capped, original) = cap_output(&output, 400);
        assert_eq!(original, Some(1200));
        assert!(capped.starts_with(&"h".repeat(300)));
        assert!(capped.ends_with(&"t".repeat(100)));
        assert!(capped.contains("800 bytes omitted"), "{capped}");
    }

    #[test]
    fn capping_never_splits_a_character() {
        let output = "é".repeat(1000);
        let (capped, _) = cap_output(&output, 101);
        assert!(capped.starts_with('é') && capped.ends_with('é'));
    }

    #[test]
    fn shortening_happens_once() {
        let output = "x".repeat(5000);
        let short = shorten_old_output(&output).unwrap();
        assert!(short.len() < 600 && short.contains("from 5000 bytes"));
        assert_eq!(shorten_old_output(&short), None);
        assert_eq!(shorten_old_output("small"), None);
    }

    #[test]
    fn a_tool_that_prints_the_marker_is_still_shortened() {
        // The marker text inside a long output (a log, a file about ossa) is not the
        // loop's own note at the end.
        let output = format!("{SHORTENED_MARKER} from 9 bytes]\n{}", "x".repeat(5000));
        assert!(shorten_old_output(&output).is_some());
        let ends_like_a_note = format!(
            "{}\n{SHORTENED_MARKER} from 1 bytes to fit the context window; call the tool again if you need it.]",
            "y".repeat(5000)
        );
        assert!(shorten_old_output(&ends_like_a_note).is_some());
    }
}
