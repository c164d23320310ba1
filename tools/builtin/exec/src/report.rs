//! A finished command as the text the model reads: how it ended, how long it took,
//! and its output (beginning and end when the middle was left out). Plain text, no JSON.

use ossa_tool_sdk::process::{Completed, Exit};

/// The model's view of a command that ran.
pub fn format_completed(completed: &Completed) -> String {
    let mut out = match completed.exit {
        Exit::Code(code) => format!("Exit code: {code}\n"),
        Exit::Signal(signal) => format!("Killed by signal {signal}{}\n", signal_name(signal)),
        Exit::TimedOut => format!(
            "Timed out after {}: the command and every process it started were killed.\n",
            seconds(completed.timeout_ms)
        ),
    };
    out.push_str(&format!("Wall time: {}\n", seconds(completed.duration_ms)));
    let empty = completed.head.is_empty() && completed.tail.is_empty();
    out.push_str(match (&completed.exit, empty) {
        (_, true) => "Output: (none)\n",
        (Exit::TimedOut, false) => "Output (until it was stopped):\n",
        _ => "Output:\n",
    });
    if empty {
        return out;
    }
    out.push_str(&completed.head);
    if completed.omitted_bytes > 0 {
        if !completed.head.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "[… {} bytes ({} lines) of output left out …]\n",
            completed.omitted_bytes, completed.omitted_lines
        ));
        out.push_str(&completed.tail);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The model's view of a program that could not be started, shaped like a shell's.
pub fn format_spawn_failure(program: &str, reason: &str) -> String {
    format!("Exit code: 127\nOutput:\n{program}: cannot run: {reason}\n")
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        3 => " (SIGQUIT)",
        4 => " (SIGILL)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        24 => " (SIGXCPU)",
        25 => " (SIGXFSZ: a file grew past the size limit)",
        31 => " (SIGSYS)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(exit: Exit, head: &str, tail: &str, omitted: u64) -> Completed {
        Completed {
            exit,
            head: head.to_owned(),
            tail: tail.to_owned(),
            omitted_bytes: omitted,
            omitted_lines: omitted / 10,
            duration_ms: 1234,
            timeout_ms: 30_000,
        }
    }

    #[test]
    fn exit_code_and_output() {
        assert_eq!(
            format_completed(&completed(Exit::Code(0), "hi\n", "", 0)),
            "Exit code: 0\nWall time: 1.2 s\nOutput:\nhi\n"
        );
        assert_eq!(
            format_completed(&completed(Exit::Code(3), "", "", 0)),
            "Exit code: 3\nWall time: 1.2 s\nOutput: (none)\n"
        );
    }

    #[test]
    fn the_cut_is_marked() {
        assert_eq!(
            format_completed(&completed(Exit::Code(1), "first", "last\n", 500)),
            "Exit code: 1\nWall time: 1.2 s\nOutput:\nfirst\n\
             [… 500 bytes (50 lines) of output left out …]\nlast\n"
        );
    }

    #[test]
    fn timeouts_and_signals_say_so() {
        let text = format_completed(&completed(Exit::TimedOut, "partial", "", 0));
        assert!(text.starts_with("Timed out after 30 s: the command and every process"));
        assert!(
            text.ends_with("Output (until it was stopped):\npartial\n"),
            "{text}"
        );
        let text = format_completed(&completed(Exit::Signal(9), "", "", 0));
        assert!(text.starts_with("Killed by signal 9 (SIGKILL)\n"), "{text}");
    }

    #[test]
    fn spawn_failures_read_like_a_shell() {
        assert_eq!(
            format_spawn_failure("pytest", "not found in PATH"),
            "Exit code: 127\nOutput:\npytest: cannot run: not found in PATH\n"
        );
    }
}
