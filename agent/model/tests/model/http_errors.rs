//! The HTTP backend against scripted fake servers (no llama-server or vLLM needed): the
//! request and stream shapes of both protocols, retries on refused connections, clear
//! errors for HTTP errors and broken streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ossa_model::{
    Backend, GenerateRequest, HttpApi, HttpBackend, HttpOptions, ModelError, StopReason,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn fast_options() -> HttpOptions {
    HttpOptions {
        api: Some(HttpApi::LlamaServer),
        attempts: 3,
        backoff: Duration::from_millis(20),
        connect_timeout: Duration::from_secs(2),
        ..HttpOptions::default()
    }
}

const PROPS: &str = r#"{"model_path":"fake.gguf","default_generation_settings":{"n_ctx":4096}}"#;

/// A llama-server: serves each accepted connection with the next canned response
/// (`/props` → [`PROPS`], `/v1/models` → 404).
async fn fake_server(responses: Vec<String>) -> String {
    serve(Some(PROPS), None, responses).await.0
}

/// Serves each accepted connection with the next canned response, or `/props` and
/// `/v1/models` with the given JSON (404 when `None`). Returns the URL and the requests
/// received so far (request line, headers and body).
async fn serve(
    props: Option<&'static str>,
    models: Option<&'static str>,
    responses: Vec<String>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    tokio::spawn(async move {
        let mut responses = responses.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut socket).await;
            log.lock().unwrap().push(request.clone());
            let canned = |json: Option<&str>| match json {
                Some(json) => http(200, "application/json", json),
                None => http(404, "text/plain", "no"),
            };
            let body = if request.starts_with("GET /props") {
                canned(props)
            } else if request.starts_with("GET /v1/models") {
                canned(models)
            } else {
                match responses.next() {
                    Some(r) => r,
                    None => return,
                }
            };
            let _ = socket.write_all(body.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (format!("http://{addr}"), requests)
}

/// One whole HTTP request: the head, then `Content-Length` bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = socket.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

/// The JSON body of a request read by [`read_request`].
fn body_of(request: &str) -> serde_json::Value {
    let (_, body) = request.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

fn http(status: u16, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn sse(events: &[&str]) -> String {
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    http(200, "text/event-stream", &body)
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let err = HttpBackend::connect(
        &format!("http://127.0.0.1:{port}"),
        HttpOptions {
            api: None,
            ..fast_options()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ModelError::Connect { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is the server running?"), "{err}");
    // Two backoffs of 20 ms and 40 ms happened.
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn streams_tokens_and_reads_timings() {
    let url = fake_server(vec![sse(&[
        r#"{"content":"<|channel|>","tokens":[200005],"stop":false}"#,
        r#"{"content":"final","tokens":[17196],"stop":false}"#,
        r#"{"content":"<|return|>","tokens":[200002],"stop":false}"#,
        r#"{"content":"","tokens":[],"stop":true,"stop_type":"eos","timings":{"cache_n":3,"prompt_n":2,"prompt_ms":5.0,"predicted_ms":7.5}}"#,
    ])])
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    assert_eq!(backend.info().model, "fake.gguf");
    assert_eq!(backend.info().context_size, 4096);
    let mut seen = Vec::new();
    let g = backend
        .generate(&GenerateRequest::new(&[1, 2, 3, 4, 5]), &mut |id| {
            seen.push(id)
        })
        .await
        .unwrap();
    assert_eq!(g.tokens, vec![200005, 17196, 200002]);
    assert_eq!(seen, g.tokens);
    assert_eq!(g.stop, StopReason::Return);
    assert_eq!((g.prompt_reused, g.prompt_prefilled), (3, 2));
    assert_eq!(g.timings.decode, Duration::from_micros(7500));
}

#[tokio::test]
async fn llama_server_gets_token_ids_and_cache_prompt() {
    let (url, requests) = serve(
        Some(PROPS),
        None,
        vec![sse(&[
            r#"{"content":"<|return|>","tokens":[200002],"stop":true,"stop_type":"eos"}"#,
        ])],
    )
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let mut request = GenerateRequest::new(&[200006, 1, 2]);
    request.max_new_tokens = 77;
    backend.generate(&request, &mut |_| {}).await.unwrap();
    let requests = requests.lock().unwrap();
    let completion = requests.last().unwrap();
    assert!(completion.starts_with("POST /completion "), "{completion}");
    let body = body_of(completion);
    assert_eq!(body["prompt"], serde_json::json!([200006, 1, 2]));
    assert_eq!(body["cache_prompt"], true);
    assert_eq!(body["n_predict"], 77);
    assert_eq!(body["stream"], true);
    assert!(
        body.get("id_slot").is_none(),
        "no slot unless asked: {body}"
    );
}

/// A kept-alive connection the server closes as it is reused gives no response at all:
/// the request is sent again (several sessions against one server meet this).
#[tokio::test]
async fn a_connection_closed_without_a_response_is_retried() {
    let (url, requests) = serve(
        Some(PROPS),
        None,
        vec![
            String::new(),
            sse(&[r#"{"content":"<|return|>","tokens":[200002],"stop":true,"stop_type":"eos"}"#]),
        ],
    )
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let generation = backend
        .generate(&GenerateRequest::new(&[200006, 1, 2]), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(generation.stop, StopReason::Return);
    let completions = requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("POST /completion"))
        .count();
    assert_eq!(completions, 2);
}

/// Sessions run side by side each pin their requests to a slot of their own; the server's
/// slot count is read from `/props`.
#[tokio::test]
async fn a_pinned_backend_sends_its_slot() {
    const PROPS_WITH_SLOTS: &str = r#"{"model_path":"fake.gguf","total_slots":4,"default_generation_settings":{"n_ctx":4096}}"#;
    let (url, requests) = serve(
        Some(PROPS_WITH_SLOTS),
        None,
        vec![sse(&[
            r#"{"content":"<|return|>","tokens":[200002],"stop":true,"stop_type":"eos"}"#,
        ])],
    )
    .await;
    let options = HttpOptions {
        slot: Some(2),
        ..fast_options()
    };
    let backend = HttpBackend::connect(&url, options).await.unwrap();
    assert_eq!(backend.parallel_slots(), Some(4));
    backend
        .generate(&GenerateRequest::new(&[200006, 1, 2]), &mut |_| {})
        .await
        .unwrap();
    let body = body_of(requests.lock().unwrap().last().unwrap());
    assert_eq!(body["id_slot"], 2);
    assert_eq!(body["cache_prompt"], true);

    let (url, _) = serve(Some(PROPS), None, Vec::new()).await;
    let unknown = HttpBackend::connect(&url, fast_options()).await.unwrap();
    assert_eq!(unknown.parallel_slots(), None);
}

/// vLLM's `/v1/completions`: the request carries token ids and the harmony stop ids; the
/// stream sends `token_ids` per chunk, may leave the stop token out of them (reporting it
/// only as `stop_reason`, as here), and ends with a usage chunk.
#[tokio::test]
async fn vllm_completions_with_token_ids_and_stop_ids() {
    let (url, requests) = serve(
        None,
        Some(r#"{"data":[{"id":"openai/gpt-oss-20b","max_model_len":131072}]}"#),
        vec![sse(&[
            r#"{"choices":[{"index":0,"text":"<|channel|>commentary","token_ids":[200005,12606],"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"text":" to=functions.x<|message|>{}","token_ids":[316,28,200008,12083],"finish_reason":"stop","stop_reason":200012}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"prompt_tokens_details":{"cached_tokens":3}}}"#,
            "[DONE]",
        ])],
    )
    .await;
    let backend = HttpBackend::connect(&format!("{url}/v1"), fast_options())
        .await
        .unwrap();
    assert_eq!(backend.api(), HttpApi::OpenAiCompletions);
    assert_eq!(backend.info().model, "openai/gpt-oss-20b");
    assert_eq!(backend.info().context_size, 131_072);

    let mut request = GenerateRequest::new(&[200006, 1, 2, 3, 4]);
    request.sampler.seed = Some(7);
    let mut seen = Vec::new();
    let g = backend
        .generate(&request, &mut |id| seen.push(id))
        .await
        .unwrap();
    assert_eq!(g.tokens, [200005, 12606, 316, 28, 200008, 12083, 200012]);
    assert_eq!(seen, g.tokens);
    assert_eq!(g.stop, StopReason::Call);
    assert_eq!((g.prompt_reused, g.prompt_prefilled), (3, 2));

    let requests = requests.lock().unwrap();
    let completion = requests.last().unwrap();
    assert!(
        completion.starts_with("POST /v1/completions "),
        "{completion}"
    );
    let body = body_of(completion);
    assert_eq!(body["model"], "openai/gpt-oss-20b");
    assert_eq!(body["prompt"], serde_json::json!([200006, 1, 2, 3, 4]));
    let mut stops: Vec<u64> = body["stop_token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap())
        .collect();
    stops.sort_unstable();
    assert_eq!(
        stops,
        [199_999, 200_002, 200_012],
        "<|endoftext|>, <|return|> and <|call|>"
    );
    assert_eq!(body["skip_special_tokens"], false);
    assert_eq!(body["seed"], 7);
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn http_errors_quote_the_server() {
    let url = fake_server(vec![http(
        400,
        "application/json",
        r#"{"error":{"message":"prompt too long"}}"#,
    )])
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let err = backend
        .generate(&GenerateRequest::new(&[1]), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Http { status: 400, .. }), "{err}");
    assert!(err.to_string().contains("prompt too long"), "{err}");
}

#[tokio::test]
async fn malformed_streams_are_protocol_errors() {
    let url = fake_server(vec![
        sse(&[
            r#"{"content":"x","tokens":[5],"stop":false}"#,
            "this is not json",
        ]),
        sse(&[r#"{"content":"x","tokens":[5],"stop":false}"#]),
    ])
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let err = backend
        .generate(&GenerateRequest::new(&[1]), &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = backend
        .generate(&GenerateRequest::new(&[1]), &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without saying why"), "{err}");
}

#[tokio::test]
async fn invalid_urls_and_ids_are_rejected() {
    let err = HttpBackend::connect("localhost:8080", fast_options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("http://"), "{err}");
    let url = fake_server(vec![]).await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let err = backend
        .generate(&GenerateRequest::new(&[300_000]), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, ModelError::UnknownToken { id: 300_000, .. }),
        "{err}"
    );
}

/// `--temperature`, `--top-p`, `--min-p` and `--seed` reach both protocols unchanged
/// (llama-server additionally gets `top_k: 0` so its own default does not cut the
/// distribution).
#[tokio::test]
async fn sampling_settings_reach_both_protocols() {
    let sampler = ossa_model::SamplerSettings {
        temperature: 0.6,
        top_p: 0.9,
        min_p: 0.05,
        seed: Some(11),
    };
    let as_f32 = |v: &serde_json::Value| v.as_f64().unwrap() as f32;

    let (url, requests) = serve(
        Some(PROPS),
        None,
        vec![sse(&[
            r#"{"content":"<|return|>","tokens":[200002],"stop":true,"stop_type":"eos"}"#,
        ])],
    )
    .await;
    let backend = HttpBackend::connect(&url, fast_options()).await.unwrap();
    let mut request = GenerateRequest::new(&[200006, 1]);
    request.sampler = sampler;
    backend.generate(&request, &mut |_| {}).await.unwrap();
    let body = body_of(requests.lock().unwrap().last().unwrap());
    assert_eq!(as_f32(&body["temperature"]), 0.6);
    assert_eq!(as_f32(&body["top_p"]), 0.9);
    assert_eq!(as_f32(&body["min_p"]), 0.05);
    assert_eq!(body["top_k"], 0);
    assert_eq!(body["seed"], 11);

    let (url, requests) = serve(
        None,
        Some(r#"{"data":[{"id":"openai/gpt-oss-20b","max_model_len":4096}]}"#),
        vec![sse(&[
            r#"{"choices":[{"index":0,"text":"<|return|>","token_ids":[200002],"finish_reason":"stop"}]}"#,
            "[DONE]",
        ])],
    )
    .await;
    let backend = HttpBackend::connect(&format!("{url}/v1"), fast_options())
        .await
        .unwrap();
    backend.generate(&request, &mut |_| {}).await.unwrap();
    let body = body_of(requests.lock().unwrap().last().unwrap());
    assert_eq!(as_f32(&body["temperature"]), 0.6);
    assert_eq!(as_f32(&body["top_p"]), 0.9);
    assert_eq!(as_f32(&body["min_p"]), 0.05);
    assert_eq!(body["seed"], 11);
}

/// A served model whose vocabulary is not o200k_harmony is usable only when its file can be
/// read here (a local llama-server); otherwise the error names the file and what to do.
#[tokio::test]
async fn a_served_model_with_its_own_vocabulary_needs_its_file_here() {
    let models = r#"{"data":[{"id":"fake.gguf","meta":{"n_vocab":1772}}]}"#;
    let (url, _) = serve(Some(PROPS), Some(models), vec![]).await;
    let err = HttpBackend::connect(&url, fast_options())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ModelError::Vocabulary(_)), "{message}");
    assert!(
        message.contains("1772 tokens") && message.contains("'fake.gguf' is not readable here"),
        "{message}"
    );
}
