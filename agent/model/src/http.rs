//! Remote engines over HTTP, driven with token-id prompts so ossa still owns every token.
//!
//! Two protocols:
//! * llama-server's native `POST /completion` with `"prompt": [ids]`, `"cache_prompt": true`
//!   (the server keeps the KV cache of its slot and reports `cache_n` reused tokens) and
//!   streamed token ids;
//! * the OpenAI-compatible `POST /v1/completions` of vLLM and SGLang with `"prompt": [ids]`
//!   and `"stop_token_ids"` for `<|return|>`, `<|call|>` and `<|endoftext|>`. Token ids come
//!   back from `return_token_ids` (vLLM) or, failing that, are recovered from the text
//!   (`skip_special_tokens: false` keeps the harmony markers in it).
//!
//! Several sessions against one llama-server (`ossa eval --parallel N`) each pin their
//! requests to a slot of their own with [`HttpOptions::slot`] (`"id_slot"`): the slot keeps
//! that session's KV cache between its requests, where llama-server's own choice (the idle
//! slot whose cached prompt is most similar) can hand a session's slot to another session
//! that shares only the system prompt, evicting the first session's conversation (which
//! then has to be prefilled again, or copied back from llama-server's host-memory prompt
//! cache, `--cache-ram`, where it has one).
//!
//! Prompts are tokenized locally with [`O200kHarmony`], the vocabulary of every gpt-oss.
//! Connection failures are retried with exponential backoff; once tokens have streamed, a
//! failure is reported, never retried (the caller has already seen the tokens).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ossa_prompts::SpecialToken;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ModelError;
use crate::backend::{
    Backend, BackendInfo, BackendKind, GenerateRequest, Generation, StopReason, Timings,
    check_prompt,
};
use crate::o200k::{O200K_HARMONY_VOCAB_SIZE, O200kHarmony};
use crate::tokenizer::{TokenId, Tokenizer};

/// Which protocol the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpApi {
    /// llama-server's `/completion`.
    LlamaServer,
    /// OpenAI-compatible `/v1/completions` (vLLM, SGLang, llama-server too).
    OpenAiCompletions,
}

/// Connection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// The protocol; `None` detects it (`/props` answers on llama-server only).
    pub api: Option<HttpApi>,
    /// Model name for `/v1/completions`; `None` takes the first of `/v1/models`.
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Longest silence allowed while waiting for the next bytes (prefill of a long prompt
    /// on a slow server can take minutes).
    pub idle_timeout: Duration,
    /// Attempts for a request that cannot connect (1 = no retry).
    pub attempts: u32,
    /// First retry delay; doubles on each retry.
    pub backoff: Duration,
    /// Context size to report when the server does not say.
    pub context_size: Option<u32>,
    /// llama-server only: the slot every request of this backend goes to (`"id_slot"`),
    /// so one session's prompts keep reusing that slot's KV cache. `None` lets the server
    /// choose. A pinned request waits while its slot is busy, so pin at most one
    /// concurrent session to a slot ([`Backend::parallel_slots`] says how many there are).
    pub slot: Option<u32>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            api: None,
            model: None,
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            attempts: 5,
            backoff: Duration::from_millis(250),
            context_size: None,
            slot: None,
        }
    }
}

/// A gpt-oss served by a remote engine.
pub struct HttpBackend {
    client: reqwest::Client,
    base: String,
    api: HttpApi,
    model: String,
    context_size: u32,
    options: HttpOptions,
    /// o200k_harmony, or the served model's own vocabulary read from its file (a model
    /// with a vocabulary of its own, such as ossa-nano, served by a local llama-server).
    tokenizer: Arc<dyn Tokenizer>,
    /// llama-server's `total_slots`, when it reports it.
    slots: Option<u32>,
}

impl std::fmt::Debug for HttpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend")
            .field("base", &self.base)
            .field("api", &self.api)
            .field("model", &self.model)
            .field("context_size", &self.context_size)
            .field("vocab_size", &self.tokenizer.vocab_size())
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// Longest error body quoted in an error message.
const MAX_BODY: usize = 600;

impl HttpBackend {
    /// Connects to `url` (e.g. `http://127.0.0.1:8080`, or `…/v1` for an OpenAI-compatible
    /// server), detects the protocol, the model and the context size, and checks that the
    /// model uses the o200k_harmony vocabulary when the server says.
    pub async fn connect(url: &str, options: HttpOptions) -> Result<HttpBackend, ModelError> {
        let mut base = url.trim().trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ModelError::InvalidSetting(format!(
                "--server takes an http:// or https:// URL, not '{url}'"
            )));
        }
        let mut api = options.api;
        if let Some(stripped) = base.strip_suffix("/v1") {
            base = stripped.to_string();
            api = api.or(Some(HttpApi::OpenAiCompletions));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.idle_timeout)
            .build()
            .map_err(|e| ModelError::InvalidSetting(format!("cannot build an HTTP client: {e}")))?;
        let mut backend = HttpBackend {
            client,
            base,
            api: api.unwrap_or(HttpApi::LlamaServer),
            model: String::new(),
            context_size: options.context_size.unwrap_or(131_072),
            options,
            tokenizer: Arc::new(O200kHarmony::new()),
            slots: None,
        };
        let props = match api {
            Some(HttpApi::OpenAiCompletions) => None,
            _ => match backend.get_json("/props").await {
                Ok(props) => Some(props),
                // Nobody listening: no point in trying the other protocol.
                Err(err @ ModelError::Connect { .. }) => return Err(err),
                Err(_) => None,
            },
        };
        match props {
            Some(props) => {
                backend.api = HttpApi::LlamaServer;
                backend.model = props["model_path"]
                    .as_str()
                    .or_else(|| props["model_alias"].as_str())
                    .unwrap_or("llama-server")
                    .to_string();
                if let Some(n) = props["default_generation_settings"]["n_ctx"].as_u64() {
                    backend.context_size = n as u32;
                }
                backend.slots = props["total_slots"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok());
            }
            None => {
                backend.api = HttpApi::OpenAiCompletions;
                let models = backend.get_json("/v1/models").await?;
                let first = &models["data"][0];
                backend.model = match &backend.options.model {
                    Some(name) => name.clone(),
                    None => first["id"].as_str().map(str::to_string).ok_or_else(|| {
                        ModelError::Protocol {
                            url: backend.url("/v1/models"),
                            detail: "no model listed; pass the model name".into(),
                        }
                    })?,
                };
                if let Some(n) = first["max_model_len"].as_u64() {
                    backend.context_size = n as u32;
                }
            }
        }
        // llama-server lists the vocabulary size of its model under /v1/models.
        if let Ok(models) = backend.get_json("/v1/models").await
            && let Some(n_vocab) = models["data"][0]["meta"]["n_vocab"].as_u64()
            && n_vocab != u64::from(O200K_HARMONY_VOCAB_SIZE)
        {
            backend.tokenizer = backend.served_vocabulary(n_vocab)?;
        }
        Ok(backend)
    }

    /// The vocabulary of a served model that does not use o200k_harmony (`n_vocab` ids):
    /// read from the model's file when the server runs on this machine (llama-server
    /// reports its path), as `ossa replay` reads a recorded model's.
    fn served_vocabulary(&self, n_vocab: u64) -> Result<Arc<dyn Tokenizer>, ModelError> {
        let unusable = |why: String| {
            ModelError::Vocabulary(format!(
                "the server's model has {n_vocab} tokens, not o200k_harmony's {O200K_HARMONY_VOCAB_SIZE}, {why}: serve a gpt-oss model, or run the server on this machine"
            ))
        };
        let path = std::path::Path::new(&self.model);
        if self.api != HttpApi::LlamaServer || !path.is_file() {
            return Err(unusable(format!(
                "and its file '{}' is not readable here",
                self.model
            )));
        }
        #[cfg(feature = "llama")]
        {
            let tokenizer = crate::llama::LlamaTokenizer::from_file(path)?;
            if u64::from(tokenizer.vocab_size()) != n_vocab {
                return Err(unusable(format!(
                    "and '{}' holds {} tokens",
                    self.model,
                    tokenizer.vocab_size()
                )));
            }
            Ok(Arc::new(tokenizer))
        }
        #[cfg(not(feature = "llama"))]
        Err(unusable(
            "and this build cannot read GGUF vocabularies (built without llama.cpp)".into(),
        ))
    }

    /// The protocol in use.
    pub fn api(&self) -> HttpApi {
        self.api
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.options.api_key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    async fn get_json(&self, path: &str) -> Result<Value, ModelError> {
        let url = self.url(path);
        let response = self
            .send_with_retries(&url, || self.authorized(self.client.get(&url)))
            .await?;
        response.json().await.map_err(|e| ModelError::Protocol {
            url,
            detail: format!("not JSON: {e}"),
        })
    }

    /// Sends a request, retrying failures that got no response (connection refused or
    /// closed, timeouts) and 503 (model still loading) with exponential backoff. Other
    /// HTTP errors are returned at once with the body.
    async fn send_with_retries(
        &self,
        url: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ModelError> {
        let attempts = self.options.attempts.max(1);
        let mut delay = self.options.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match make().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response)
                    if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE
                        && attempt < attempts => {}
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    let body = truncate(body.trim());
                    return Err(ModelError::Http {
                        url: url.to_string(),
                        status,
                        body,
                    });
                }
                // No response at all: refused, timed out, or a kept-alive connection the
                // server closed just as it was reused (llama-server closes idle ones; with
                // several sessions, one is always about to be reused). Nothing was
                // generated for this request, so sending it again is safe.
                Err(err)
                    if (err.is_connect() || err.is_timeout() || err.is_request())
                        && attempt < attempts =>
                {
                    tracing::debug!(%url, attempt, "cannot connect: {err}; retrying in {delay:?}");
                }
                Err(source) => {
                    return Err(ModelError::Connect {
                        url: url.to_string(),
                        attempts: attempt,
                        source,
                    });
                }
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }

    fn request_body(&self, request: &GenerateRequest<'_>) -> Value {
        let s = &request.sampler;
        let seed = s.seed.map_or(json!(-1), |seed| json!(seed));
        match self.api {
            HttpApi::LlamaServer => {
                let mut body = json!({
                    "prompt": request.prompt,
                    "n_predict": request.max_new_tokens,
                    "stream": true,
                    "cache_prompt": true,
                    "return_tokens": true,
                    "temperature": s.temperature,
                    "top_p": s.top_p,
                    "min_p": s.min_p,
                    // llama-server's defaults (top_k 40, …) would change the distribution.
                    "top_k": 0,
                    "seed": seed,
                });
                if let Some(slot) = self.options.slot {
                    body["id_slot"] = json!(slot);
                }
                body
            }
            HttpApi::OpenAiCompletions => {
                let stops: Vec<TokenId> = [
                    SpecialToken::Return,
                    SpecialToken::Call,
                    SpecialToken::EndOfText,
                ]
                .into_iter()
                .map(|t| self.tokenizer.special_id(t))
                .collect();
                let mut body = json!({
                    "model": self.model,
                    "prompt": request.prompt,
                    "max_tokens": request.max_new_tokens,
                    "stream": true,
                    "stream_options": {"include_usage": true},
                    "temperature": s.temperature,
                    "top_p": s.top_p,
                    "min_p": s.min_p,
                    "stop_token_ids": stops,
                    "skip_special_tokens": false,
                    "include_stop_str_in_output": true,
                    "return_token_ids": true,
                });
                if let Some(seed) = s.seed {
                    body["seed"] = json!(seed);
                }
                body
            }
        }
    }
}

/// What the stream told us so far.
#[derive(Default)]
struct StreamState {
    tokens: Vec<TokenId>,
    /// Text, for servers that send no token ids.
    text: String,
    got_ids: bool,
    finish: Option<String>,
    /// vLLM's `stop_reason`: the stop token id.
    stop_token: Option<TokenId>,
    reused: Option<u32>,
    prefilled: Option<u32>,
    prefill_ms: Option<f64>,
    decode_ms: Option<f64>,
    done: bool,
}

impl StreamState {
    fn timings(&mut self, t: &Value) {
        if let Some(n) = t["cache_n"].as_u64() {
            self.reused = Some(n as u32);
        }
        if let Some(n) = t["prompt_n"].as_u64() {
            self.prefilled = Some(n as u32);
        }
        self.prefill_ms = t["prompt_ms"].as_f64().or(self.prefill_ms);
        self.decode_ms = t["predicted_ms"].as_f64().or(self.decode_ms);
    }
}

#[async_trait::async_trait]
impl Backend for HttpBackend {
    fn tokenizer(&self) -> &dyn Tokenizer {
        self.tokenizer.as_ref()
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: match self.api {
                HttpApi::LlamaServer => BackendKind::LlamaServer,
                HttpApi::OpenAiCompletions => BackendKind::OpenAiCompletions,
            },
            model: self.model.clone(),
            model_path: None,
            model_sha256: None,
            context_size: self.context_size,
        }
    }

    fn parallel_slots(&self) -> Option<u32> {
        self.slots
    }

    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError> {
        request.sampler.validate()?;
        check_prompt(request.prompt, O200K_HARMONY_VOCAB_SIZE)?;
        let path = match self.api {
            HttpApi::LlamaServer => "/completion",
            HttpApi::OpenAiCompletions => "/v1/completions",
        };
        let url = self.url(path);
        let body = self.request_body(request);
        let start = Instant::now();
        let response = tokio::select! {
            r = self.send_with_retries(&url, || self.authorized(self.client.post(&url).json(&body))) => r?,
            () = request.cancel.cancelled() => {
                return Ok(cancelled(request, Vec::new(), start));
            }
        };
        let mut first_token_at = None;
        let mut state = StreamState::default();
        let mut stream = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        while !state.done {
            let chunk = tokio::select! {
                c = stream.next() => c,
                () = request.cancel.cancelled() => {
                    // Dropping the stream closes the connection; the server stops.
                    let tokens = std::mem::take(&mut state.tokens);
                    return Ok(cancelled(request, tokens, start));
                }
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk.map_err(|e| ModelError::Protocol {
                url: url.clone(),
                detail: format!("the stream broke after {} tokens: {e}", state.tokens.len()),
            })?;
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let before = state.tokens.len();
                self.handle_line(line.trim(), &url, &mut state)?;
                for id in &state.tokens[before..] {
                    first_token_at.get_or_insert_with(Instant::now);
                    on_token(*id);
                }
            }
        }
        self.finish(request, state, &url, start, first_token_at, on_token)
    }
}

fn cancelled(request: &GenerateRequest<'_>, tokens: Vec<TokenId>, start: Instant) -> Generation {
    Generation {
        tokens,
        stop: StopReason::Cancelled,
        prompt_reused: 0,
        prompt_prefilled: request.prompt.len() as u32,
        timings: Timings {
            prefill: Duration::ZERO,
            decode: start.elapsed(),
        },
    }
}

impl HttpBackend {
    fn handle_line(
        &self,
        line: &str,
        url: &str,
        state: &mut StreamState,
    ) -> Result<(), ModelError> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            if let Some(err) = line.strip_prefix("error:") {
                return Err(ModelError::Protocol {
                    url: url.to_string(),
                    detail: format!("the server reported an error: {}", err.trim()),
                });
            }
            return Ok(());
        };
        if data == "[DONE]" {
            state.done = true;
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| ModelError::Protocol {
            url: url.to_string(),
            detail: format!("a stream event is not JSON ({e}): {}", truncate(data)),
        })?;
        if let Some(err) = v.get("error") {
            return Err(ModelError::Protocol {
                url: url.to_string(),
                detail: format!("the server reported an error: {err}"),
            });
        }
        if let Some(t) = v.get("timings") {
            state.timings(t);
        }
        match self.api {
            HttpApi::LlamaServer => {
                if let Some(ids) = v["tokens"].as_array() {
                    state.got_ids = true;
                    state.tokens.extend(
                        ids.iter()
                            .filter_map(|id| id.as_u64())
                            .map(|id| id as TokenId),
                    );
                }
                if v["stop"].as_bool() == Some(true) {
                    state.finish = v["stop_type"].as_str().map(str::to_string);
                    state.done = true;
                }
            }
            HttpApi::OpenAiCompletions => {
                if let Some(usage) = v.get("usage").filter(|u| !u.is_null()) {
                    if let Some(cached) = usage["prompt_tokens_details"]["cached_tokens"].as_u64() {
                        state.reused = state.reused.or(Some(cached as u32));
                    }
                    if let (Some(prompt), None) = (usage["prompt_tokens"].as_u64(), state.prefilled)
                    {
                        let reused = u64::from(state.reused.unwrap_or(0));
                        state.prefilled = Some(prompt.saturating_sub(reused) as u32);
                    }
                }
                let choice = &v["choices"][0];
                if let Some(ids) = choice["token_ids"].as_array() {
                    state.got_ids = true;
                    state.tokens.extend(
                        ids.iter()
                            .filter_map(|id| id.as_u64())
                            .map(|id| id as TokenId),
                    );
                } else if let Some(text) = choice["text"].as_str() {
                    state.text.push_str(text);
                }
                if let Some(reason) = choice["finish_reason"].as_str() {
                    state.finish = Some(reason.to_string());
                }
                if let Some(id) = choice["stop_reason"].as_u64() {
                    state.stop_token = Some(id as TokenId);
                }
            }
        }
        Ok(())
    }

    fn finish(
        &self,
        request: &GenerateRequest<'_>,
        mut state: StreamState,
        url: &str,
        start: Instant,
        first_token_at: Option<Instant>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError> {
        if !state.got_ids && !state.text.is_empty() {
            // No ids from the server: recover them from the text, markers included.
            state.tokens = encode_with_markers(self.tokenizer.as_ref(), &state.text);
            for id in &state.tokens {
                on_token(*id);
            }
        }
        let last_stop = state
            .tokens
            .last()
            .and_then(|id| crate::backend::stop_reason_for(self.tokenizer.as_ref(), *id));
        if last_stop.is_none()
            && let Some(id) = state.stop_token
            && crate::backend::stop_reason_for(self.tokenizer.as_ref(), id).is_some()
        {
            state.tokens.push(id);
            on_token(id);
        }
        let stop = match state
            .tokens
            .last()
            .and_then(|id| crate::backend::stop_reason_for(self.tokenizer.as_ref(), *id))
        {
            Some(reason) => reason,
            None => match state.finish.as_deref() {
                Some("limit" | "length") => StopReason::Length,
                Some(other) => {
                    return Err(ModelError::Protocol {
                        url: url.to_string(),
                        detail: format!(
                            "generation stopped ('{other}') without a stop token in the output; \
                             start llama-server with --special, or use a server that returns token ids"
                        ),
                    });
                }
                None => {
                    return Err(ModelError::Protocol {
                        url: url.to_string(),
                        detail: format!(
                            "the stream ended after {} tokens without saying why",
                            state.tokens.len()
                        ),
                    });
                }
            },
        };
        let elapsed = start.elapsed();
        let prefill = state
            .prefill_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .or_else(|| first_token_at.map(|t| t.duration_since(start)))
            .unwrap_or_default();
        let decode = state
            .decode_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .unwrap_or_else(|| elapsed.saturating_sub(prefill));
        let prompt_len = request.prompt.len() as u32;
        let reused = state.reused.unwrap_or(0).min(prompt_len);
        Ok(Generation {
            tokens: state.tokens,
            stop,
            prompt_reused: reused,
            prompt_prefilled: state.prefilled.unwrap_or(prompt_len - reused),
            timings: Timings { prefill, decode },
        })
    }
}

/// Encodes text in which harmony markers stand for their special tokens (the text a server
/// returns with `skip_special_tokens: false`).
fn encode_with_markers(tokenizer: &dyn Tokenizer, text: &str) -> Vec<TokenId> {
    let mut ids = Vec::new();
    let mut rest = text;
    let mut plain_start = 0;
    let mut offset = 0;
    while let Some(pos) = rest.find("<|") {
        let at = offset + pos;
        if let Some((token, after)) = SpecialToken::strip_prefix_of(&text[at..]) {
            ids.extend(tokenizer.encode_text(&text[plain_start..at]));
            ids.push(tokenizer.special_id(token));
            plain_start = text.len() - after.len();
            offset = plain_start;
            rest = after;
        } else {
            offset = at + 2;
            rest = &text[offset..];
        }
    }
    ids.extend(tokenizer.encode_text(&text[plain_start..]));
    ids
}

/// At most [`MAX_BODY`] bytes of a server's answer, cut on a character boundary.
fn truncate(s: &str) -> String {
    if s.len() <= MAX_BODY {
        return s.to_string();
    }
    format!("{}…", &s[..s.floor_char_boundary(MAX_BODY)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_server_text_become_specials() {
        let tok = O200kHarmony::new();
        let text = "<|channel|>final<|message|>Hi <|x|> there<|return|>";
        let ids = encode_with_markers(&tok, text);
        assert_eq!(ids[0], 200_005);
        assert_eq!(*ids.last().unwrap(), 200_002);
        assert_eq!(crate::tokenizer::decode_to_text(&tok, &ids).unwrap(), text);
        assert_eq!(ids.iter().filter(|id| **id >= 199_998).count(), 3);
    }
}
