//! HTTP failure handling against scripted fake servers (no llama-server needed): retries on
//! refused connections, clear errors for HTTP errors and broken streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

/// Serves each accepted connection with the next canned response (or `/props` → `props`).
async fn fake_server(responses: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut responses = responses.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = if request.starts_with("GET /props") {
                http(
                    200,
                    "application/json",
                    r#"{"model_path":"fake.gguf","default_generation_settings":{"n_ctx":4096}}"#,
                )
            } else if request.starts_with("GET /v1/models") {
                http(404, "text/plain", "no")
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
    format!("http://{addr}")
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
