//! Routes llama.cpp and ggml logs through `tracing` (target `llama.cpp`) instead of stderr,
//! and keeps the latest warnings and errors: when llama.cpp fails to load a model the Rust
//! error says only "null result", and the reason is in those lines.
//!
//! Levels are shifted one step down: llama.cpp's INFO (the model metadata dump, hundreds of
//! lines per load) becomes DEBUG, its DEBUG becomes TRACE. Show them with
//! `OSSA_LOG=llama.cpp=debug`.

use std::collections::VecDeque;
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use llama_cpp_sys_2::{
    GGML_LOG_LEVEL_CONT, GGML_LOG_LEVEL_DEBUG, GGML_LOG_LEVEL_ERROR, GGML_LOG_LEVEL_INFO,
    GGML_LOG_LEVEL_WARN, ggml_log_level,
};

/// How many warning/error lines to keep.
const KEEP: usize = 32;

struct Recent {
    /// (sequence number, line)
    lines: VecDeque<(u64, String)>,
    next_seq: u64,
    /// A line being assembled from CONT fragments.
    partial: String,
}

static RECENT: Mutex<Recent> = Mutex::new(Recent {
    lines: VecDeque::new(),
    next_seq: 0,
    partial: String::new(),
});
/// Level of the last fragment, for CONT fragments.
static LAST_LEVEL: AtomicI32 = AtomicI32::new(GGML_LOG_LEVEL_INFO as i32);

/// Installs the callback for llama.cpp and ggml. Called once, before the backend starts.
pub(crate) fn install() {
    // SAFETY: the callback is a plain function valid for the whole process; the user-data
    // pointer is unused.
    unsafe {
        llama_cpp_sys_2::llama_log_set(Some(forward), std::ptr::null_mut());
        llama_cpp_sys_2::ggml_log_set(Some(forward), std::ptr::null_mut());
    }
}

/// A marker for "lines logged from now on".
pub(crate) fn mark() -> u64 {
    RECENT.lock().map(|r| r.next_seq).unwrap_or(0)
}

/// Warning and error lines logged since `mark`, joined with "; " (empty if none).
pub(crate) fn since(mark: u64) -> String {
    let Ok(recent) = RECENT.lock() else {
        return String::new();
    };
    recent
        .lines
        .iter()
        .filter(|(seq, _)| *seq >= mark)
        .map(|(_, line)| line.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

unsafe extern "C" fn forward(level: ggml_log_level, text: *const c_char, _user: *mut c_void) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    let level = if level == GGML_LOG_LEVEL_CONT {
        LAST_LEVEL.load(Ordering::Relaxed) as ggml_log_level
    } else {
        LAST_LEVEL.store(level as i32, Ordering::Relaxed);
        level
    };
    let keep = level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR;
    // Fragments without a newline are joined until the line ends.
    let line = {
        let Ok(mut recent) = RECENT.lock() else {
            return;
        };
        recent.partial.push_str(&text);
        if !recent.partial.ends_with('\n') {
            return;
        }
        let line = recent.partial.trim_end().to_string();
        recent.partial.clear();
        if keep && !line.is_empty() {
            let seq = recent.next_seq;
            recent.next_seq += 1;
            recent.lines.push_back((seq, line.clone()));
            while recent.lines.len() > KEEP {
                recent.lines.pop_front();
            }
        }
        line
    };
    if line.is_empty() {
        return;
    }
    match level {
        GGML_LOG_LEVEL_ERROR => tracing::error!(target: "llama.cpp", "{line}"),
        GGML_LOG_LEVEL_WARN if expected_for_gpt_oss(&line) => {
            tracing::debug!(target: "llama.cpp", "{line}");
        }
        GGML_LOG_LEVEL_WARN => tracing::warn!(target: "llama.cpp", "{line}"),
        GGML_LOG_LEVEL_INFO => tracing::debug!(target: "llama.cpp", "{line}"),
        GGML_LOG_LEVEL_DEBUG => tracing::trace!(target: "llama.cpp", "{line}"),
        _ => tracing::trace!(target: "llama.cpp", "{line}"),
    }
}

/// Warnings llama.cpp prints on every load of a gpt-oss model, about what it does on
/// purpose (retyping the harmony markers, dropping `<|end|>` from the stop set) or what
/// ossa asked for (a full-size SWA cache, a context below the training length). They are
/// logged at DEBUG so real warnings stand out.
fn expected_for_gpt_oss(line: &str) -> bool {
    const EXPECTED: [&str; 4] = [
        "attribute to USER_DEFINED",
        "removing '<|end|>' token from EOG list",
        "using full-size SWA cache",
        "the full capacity of the model will not be utilized",
    ];
    EXPECTED.iter().any(|e| line.contains(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_known_gpt_oss_load_messages_are_quiet() {
        assert!(expected_for_gpt_oss(
            "load: setting token '<|start|>' (464) attribute to USER_DEFINED (16), old attributes: 8"
        ));
        assert!(!expected_for_gpt_oss(
            "load: missing pre-tokenizer type, using: 'default'"
        ));
    }
}
