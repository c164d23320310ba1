//! The one error type of this crate. Every message says what went wrong and what to do.

use std::path::PathBuf;

/// Why a model operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file cannot be read.
    #[error("cannot read model file {path}: {source}; check the path given to --model")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a usable gpt-oss GGUF; it was rejected before llama.cpp saw it.
    #[error("{path} is not a usable gpt-oss GGUF model: {reason}")]
    InvalidModel {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// llama.cpp refused to load the model or to create a context.
    #[error("llama.cpp failed to {action} {path}: {detail}")]
    Load {
        /// What was attempted ("load", "create a context for").
        action: &'static str,
        /// The model file.
        path: PathBuf,
        /// llama.cpp's own explanation (its last error log lines), or the binding's error.
        detail: String,
    },
    /// The vocabulary lacks something harmony needs.
    #[error("the model's vocabulary is not usable for harmony: {0}")]
    Vocabulary(String),
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary (size {vocab_size})")]
    UnknownToken {
        /// The id.
        id: u32,
        /// Size of the vocabulary.
        vocab_size: u32,
    },
    /// The prompt does not fit the context window.
    #[error(
        "the prompt has {prompt} tokens but the context holds {context}; raise --ctx-size or shorten the conversation"
    )]
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Context size.
        context: u32,
    },
    /// An empty prompt was given.
    #[error("the prompt is empty: render a conversation first")]
    EmptyPrompt,
    /// llama.cpp failed while decoding.
    #[error("llama.cpp decode failed: {0}")]
    Decode(String),
    /// The backend's worker is gone (it panicked or was shut down).
    #[error("the model worker stopped unexpectedly: {0}")]
    WorkerGone(String),
    /// The server could not be reached, even after retries.
    #[error("cannot reach {url} after {attempts} attempts: {source}; is the server running?")]
    Connect {
        /// The URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        source: reqwest::Error,
    },
    /// The server answered with an HTTP error.
    #[error("{url} answered HTTP {status}: {body}")]
    Http {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The server's answer was not what the protocol says.
    #[error("unexpected response from {url}: {detail}")]
    Protocol {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Invalid settings given by the caller.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
}
