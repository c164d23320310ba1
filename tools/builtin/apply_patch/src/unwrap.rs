//! Takes the patch text out of whatever the model wrapped it in.
//!
//! Models send the V4A text raw, as a JSON object or string (`{"input": "*** Begin
//! Patch…"}`), as a shell heredoc (`apply_patch <<'EOF'` … `EOF`, which Codex accepts
//! because models emit it), or inside a Markdown code fence. All of these are peeled
//! here, repeatedly, until the text starts with the patch marker or nothing more can be
//! peeled. CRLF line ends become LF.

use ossa_tool_sdk::serde_json::{self, Value};

/// The marker that starts every patch.
pub const BEGIN: &str = "*** Begin Patch";

/// The V4A text inside the patch argument, with line ends normalised.
pub fn unwrap_input(input: &str) -> String {
    let mut text = input.replace("\r\n", "\n");
    // Each round peels one layer; a handful is more than any real wrapping.
    for _ in 0..4 {
        let trimmed = text.trim();
        if trimmed.starts_with(BEGIN) {
            return trimmed.to_owned();
        }
        let peeled = peel_json(trimmed)
            .or_else(|| peel_heredoc(trimmed))
            .or_else(|| peel_fence(trimmed));
        match peeled {
            Some(inner) => text = inner.replace("\r\n", "\n"),
            None => break,
        }
    }
    text.trim().to_owned()
}

/// `{"input": "…"}` (or `"patch"`), or a JSON string literal.
fn peel_json(text: &str) -> Option<String> {
    if !(text.starts_with('{') || text.starts_with('"')) {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    match value {
        Value::String(inner) => Some(inner),
        Value::Object(map) => ["input", "patch"]
            .iter()
            .find_map(|key| map.get(*key).and_then(Value::as_str).map(str::to_owned)),
        _ => None,
    }
}

/// A first line containing `<<EOF`, `<<'EOF'` or `<<"EOF"` (any marker word, any
/// command before it) and a last line equal to the marker.
fn peel_heredoc(text: &str) -> Option<String> {
    let (first, rest) = text.split_once('\n')?;
    let after = first.split_once("<<")?.1.trim_start_matches('-').trim();
    let marker = after.trim_matches(|c| c == '\'' || c == '"');
    if marker.is_empty()
        || !marker
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let body = rest.trim_end();
    let (inner, last) = body.rsplit_once('\n').unwrap_or(("", body));
    (last.trim() == marker).then(|| inner.to_owned())
}

/// A Markdown code fence: a first line starting with three backticks and a last line
/// of three backticks.
fn peel_fence(text: &str) -> Option<String> {
    let (first, rest) = text.split_once('\n')?;
    if !first.starts_with("```") {
        return None;
    }
    let body = rest.trim_end();
    let (inner, last) = body.rsplit_once('\n').unwrap_or(("", body));
    (last.trim() == "```").then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "*** Begin Patch\n*** Delete File: a\n*** End Patch";

    #[test]
    fn raw_text_passes_through() {
        assert_eq!(unwrap_input(&format!("\n{PATCH}\n\n")), PATCH);
        assert_eq!(unwrap_input(&PATCH.replace('\n', "\r\n")), PATCH);
    }

    #[test]
    fn json_wrappers_are_peeled() {
        let object = serde_json::json!({ "input": PATCH }).to_string();
        assert_eq!(unwrap_input(&object), PATCH);
        let string = serde_json::json!(PATCH).to_string();
        assert_eq!(unwrap_input(&string), PATCH);
    }

    #[test]
    fn heredocs_and_fences_are_peeled() {
        assert_eq!(
            unwrap_input(&format!("apply_patch <<'EOF'\n{PATCH}\nEOF\n")),
            PATCH
        );
        assert_eq!(unwrap_input(&format!("<<EOF\n{PATCH}\nEOF")), PATCH);
        assert_eq!(unwrap_input(&format!("```diff\n{PATCH}\n```")), PATCH);
        let nested = format!("```\napply_patch <<\"PATCH\"\n{PATCH}\nPATCH\n```");
        assert_eq!(unwrap_input(&nested), PATCH);
    }

    #[test]
    fn unrelated_text_is_left_alone() {
        assert_eq!(unwrap_input("  hello\n"), "hello");
    }
}
