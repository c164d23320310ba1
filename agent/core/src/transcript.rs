//! Transcripts: one JSONL file per session, one [`Event`] per line, each line written
//! with a single `write` as it happens, so a process killed mid-run leaves every
//! completed event readable.
//!
//! The first line is the `session_started` header. A hand-written cassette is the same
//! format without the header and with only `user_message` and `completion` lines; blank
//! lines and lines starting with `#` are comments.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::{
    Completion, Event, SessionHeader, TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, ToolResult,
};
use crate::sink::EventSink;
use crate::time::rfc3339_now;

/// One line of a transcript: the event plus when it was written.
#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(flatten)]
    event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
}

/// Why a transcript could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a valid event.
    #[error("{path}:{line}: not a transcript event: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        reason: String,
    },
    /// The header names another format or version.
    #[error(
        "{path} is `{format}` version {version}; this ossa reads `{TRANSCRIPT_FORMAT}` version {TRANSCRIPT_VERSION}"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The format it names.
        format: String,
        /// The version it names.
        version: u32,
    },
    /// There is nothing to replay.
    #[error(
        "{path} has no events (expected a transcript or a cassette with `user_message` and `completion` lines)"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// A transcript or cassette read back from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The file it was read from.
    pub path: PathBuf,
    /// The header (absent in hand-written cassettes).
    pub header: Option<SessionHeader>,
    /// Every event after the header, in order.
    pub events: Vec<Event>,
    /// The last line was cut mid-write (the recording process was killed); it was ignored.
    pub truncated_tail: bool,
}

impl Transcript {
    /// Reads a transcript or a cassette.
    pub fn read(path: &Path) -> Result<Transcript, TranscriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| TranscriptError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Transcript::parse(path, &text)
    }

    /// Parses transcript text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Transcript, TranscriptError> {
        let mut header = None;
        let mut events = Vec::new();
        let mut truncated_tail = false;
        let lines: Vec<&str> = text.split('\n').collect();
        for (index, raw) in lines.iter().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed: Line = match serde_json::from_str(line) {
                Ok(parsed) => parsed,
                // Only the very last line may be incomplete: a writer killed mid-line.
                Err(err) if index + 1 == lines.len() && err.is_eof() => {
                    truncated_tail = true;
                    continue;
                }
                Err(err) => {
                    return Err(TranscriptError::BadLine {
                        path: path.to_path_buf(),
                        line: index + 1,
                        reason: err.to_string(),
                    });
                }
            };
            match parsed.event {
                Event::SessionStarted(h) if header.is_none() && events.is_empty() => {
                    if h.format != TRANSCRIPT_FORMAT || h.version != TRANSCRIPT_VERSION {
                        return Err(TranscriptError::Version {
                            path: path.to_path_buf(),
                            format: h.format,
                            version: h.version,
                        });
                    }
                    header = Some(*h);
                }
                event => events.push(event),
            }
        }
        if header.is_none() && events.is_empty() {
            return Err(TranscriptError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Transcript {
            path: path.to_path_buf(),
            header,
            events,
            truncated_tail,
        })
    }

    /// The user messages, in order.
    pub fn user_messages(&self) -> impl Iterator<Item = &str> {
        self.events.iter().filter_map(|event| match event {
            Event::UserMessage(message) => Some(message.text.as_str()),
            _ => None,
        })
    }

    /// The completions, in order.
    pub fn completions(&self) -> impl Iterator<Item = &Completion> {
        self.events.iter().filter_map(|event| match event {
            Event::Completion(completion) => Some(completion),
            _ => None,
        })
    }

    /// The tool results, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.events.iter().filter_map(|event| match event {
            Event::ToolResult(result) => Some(result),
            _ => None,
        })
    }

    /// The last final answer, if any.
    pub fn final_answer(&self) -> Option<&str> {
        self.events.iter().rev().find_map(|event| match event {
            Event::FinalAnswer(answer) => Some(answer.text.as_str()),
            _ => None,
        })
    }
}

/// Writes events to a transcript file as they happen.
#[derive(Debug)]
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
}

impl TranscriptWriter {
    /// Creates a new transcript; refuses to overwrite an existing file.
    pub fn create(path: &Path) -> anyhow::Result<TranscriptWriter> {
        use anyhow::Context as _;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory {}", parent.display()))?;
        }
        let file = OpenOptions::new().write(true).create_new(true).open(path).with_context(|| {
            format!(
                "cannot create the transcript {} (if it exists, choose another --transcript path)",
                path.display()
            )
        })?;
        Ok(TranscriptWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing transcript to append to it (resuming a session).
    pub fn append(path: &Path) -> anyhow::Result<TranscriptWriter> {
        use anyhow::Context as _;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the transcript {} to append", path.display()))?;
        Ok(TranscriptWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl EventSink for TranscriptWriter {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        if !event.is_recorded() {
            return Ok(());
        }
        let line = Line {
            event: event.clone(),
            ts: Some(rfc3339_now()),
        };
        let mut text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        text.push('\n');
        // One write per line: after a kill, the file ends at a line boundary or with one
        // partial line, which the reader ignores.
        self.file.write_all(text.as_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::event::{FinalAnswer, UserMessage};

    #[test]
    fn a_cassette_parses_with_comments_and_blank_lines() {
        let text = "# a test\n\n{\"type\":\"user_message\",\"text\":\"hi\"}\n{\"type\":\"completion\",\"text\":\"<|channel|>final<|message|>yo<|return|>\"}\n";
        let transcript = Transcript::parse(Path::new("c.jsonl"), text).unwrap();
        assert!(transcript.header.is_none());
        assert_eq!(transcript.user_messages().collect::<Vec<_>>(), ["hi"]);
        assert_eq!(transcript.completions().count(), 1);
        assert!(!transcript.truncated_tail);
    }

    #[test]
    fn a_partial_last_line_is_ignored_but_a_bad_middle_line_is_an_error() {
        let good = "{\"type\":\"user_message\",\"text\":\"hi\"}\n";
        let cut = format!("{good}{{\"type\":\"final_answer\",\"tu");
        let transcript = Transcript::parse(Path::new("t.jsonl"), &cut).unwrap();
        assert!(transcript.truncated_tail);
        assert_eq!(transcript.events.len(), 1);

        let bad = format!("{good}{{\"type\":\"nope\"}}\n{good}");
        let err = Transcript::parse(Path::new("t.jsonl"), &bad).unwrap_err();
        assert!(err.to_string().starts_with("t.jsonl:2:"), "{err}");
    }

    #[test]
    fn writer_appends_one_line_per_recorded_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions/s.jsonl");
        let mut writer = TranscriptWriter::create(&path).unwrap();
        writer
            .emit(&Event::UserMessage(UserMessage {
                text: "task".into(),
            }))
            .unwrap();
        writer
            .emit(&Event::Delta(crate::event::Delta {
                channel: None,
                recipient: None,
                text: "x".into(),
            }))
            .unwrap();
        writer
            .emit(&Event::FinalAnswer(FinalAnswer {
                turn: 1,
                text: "done".into(),
            }))
            .unwrap();
        let transcript = Transcript::read(&path).unwrap();
        assert_eq!(transcript.events.len(), 2);
        assert_eq!(transcript.final_answer(), Some("done"));
        assert!(
            TranscriptWriter::create(&path).is_err(),
            "must not overwrite"
        );
        let mut appended = TranscriptWriter::append(&path).unwrap();
        appended
            .emit(&Event::UserMessage(UserMessage {
                text: "more".into(),
            }))
            .unwrap();
        assert_eq!(Transcript::read(&path).unwrap().user_messages().count(), 2);
    }
}
