//! The HTTP backend against a real llama-server (built from the llama-cpp-python 0.3.36
//! sdist by scripts/llama-server.sh; path in OSSA_LLAMA_SERVER) serving the tiny model with
//! the o200k_harmony vocabulary. Without OSSA_LLAMA_SERVER at build time the test is listed
//! as ignored, with the reason; with OSSA_REQUIRE_LLAMA_SERVER=1 (CI) a missing server is a
//! failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::server;

use std::time::Duration;

use ossa_model::{
    Backend, BackendKind, GenerateRequest, HttpApi, HttpBackend, HttpOptions, SamplerSettings,
    StopReason,
};

fn greedy(prompt: &[u32], max: u32) -> GenerateRequest<'_> {
    GenerateRequest {
        sampler: SamplerSettings::greedy(),
        max_new_tokens: max,
        ..GenerateRequest::new(prompt)
    }
}

/// CI sets OSSA_REQUIRE_LLAMA_SERVER=1: there, an ignored llama-server test is a failure.
#[test]
fn the_llama_server_test_runs_where_it_is_required() {
    let required = std::env::var("OSSA_REQUIRE_LLAMA_SERVER").is_ok_and(|v| v == "1");
    assert!(
        !required || cfg!(ossa_llama_server),
        "OSSA_REQUIRE_LLAMA_SERVER=1 but OSSA_LLAMA_SERVER was not set when the tests were built"
    );
}

#[test]
#[cfg_attr(
    not(ossa_llama_server),
    ignore = "needs llama-server: build it with scripts/llama-server.sh and export OSSA_LLAMA_SERVER"
)]
fn http_backend_drives_a_real_llama_server() {
    let Some(binary) = server::llama_server_binary("llama_server test") else {
        return;
    };
    let server = server::Server::start(&binary, &common::o200k_model_path(), 2048, 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Native /completion.
        let native = HttpBackend::connect(&server.url, HttpOptions::default())
            .await
            .unwrap();
        assert_eq!(native.api(), HttpApi::LlamaServer);
        let info = native.info();
        assert_eq!(info.kind, BackendKind::LlamaServer);
        assert_eq!(info.context_size, 2048);
        let tok = native.tokenizer();
        let p = common::prompt(tok, "What is the weather in Tokyo?");
        let mut streamed = Vec::new();
        let first = native
            .generate(&greedy(&p, 16), &mut |id| streamed.push(id))
            .await
            .unwrap();
        assert_eq!(first.tokens, streamed);
        assert!(!first.tokens.is_empty());
        assert!(first.tokens.len() <= 16);
        if first.stop == StopReason::Length {
            assert_eq!(first.tokens.len(), 16);
        }
        assert_eq!(
            first.prompt_prefilled as usize + first.prompt_reused as usize,
            p.len()
        );

        // Same model in-process, same greedy prompt: the same tokens.
        let local = common::o200k_backend();
        local.reset_cache().unwrap();
        let mine = local.generate(&greedy(&p, 16), &mut |_| {}).await.unwrap();
        assert_eq!(
            mine.tokens, first.tokens,
            "llama-server and ossa disagree on greedy tokens"
        );

        // The server's prompt cache: extend the conversation, only the new part is prefilled.
        let mut next = p.clone();
        next.extend(&first.tokens);
        next.extend(common::prompt(tok, "And tomorrow?"));
        let second = native
            .generate(&greedy(&next, 8), &mut |_| {})
            .await
            .unwrap();
        assert!(
            second.prompt_reused as usize >= p.len(),
            "reused {}",
            second.prompt_reused
        );
        assert!(second.prompt_prefilled as usize <= next.len() - p.len() + 1);

        // Cancellation mid-stream.
        let long = GenerateRequest {
            sampler: SamplerSettings {
                temperature: 0.7,
                seed: Some(5),
                ..Default::default()
            },
            max_new_tokens: 1500,
            ..GenerateRequest::new(&p)
        };
        let cancel = long.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
        });
        let g = native.generate(&long, &mut |_| {}).await.unwrap();
        assert!(
            matches!(
                g.stop,
                StopReason::Cancelled
                    | StopReason::Return
                    | StopReason::Call
                    | StopReason::EndOfText
            ),
            "{:?}",
            g.stop
        );

        // OpenAI-compatible /v1/completions on the same server.
        let openai = HttpBackend::connect(&format!("{}/v1", server.url), HttpOptions::default())
            .await
            .unwrap();
        assert_eq!(openai.api(), HttpApi::OpenAiCompletions);
        assert_eq!(openai.info().kind, BackendKind::OpenAiCompletions);
        let mut streamed = Vec::new();
        let via_openai = openai
            .generate(&greedy(&p, 16), &mut |id| streamed.push(id))
            .await
            .unwrap();
        assert_eq!(via_openai.tokens, streamed);
        assert_eq!(via_openai.stop, first.stop);
        let text = |ids: &[u32]| ossa_model::decode_to_text(tok, ids).unwrap();
        assert_eq!(text(&via_openai.tokens), text(&first.tokens));
    });
    drop(server);
}

/// Two sessions pinned to their own slots of a two-slot server (as `ossa eval --parallel
/// 2` runs them): each keeps its conversation cached while the other runs. (Whether a
/// pinned request really lands in its slot cannot be told from outside: llama-server's
/// host-memory prompt cache, `--cache-ram`, restores an evicted prompt too.)
#[test]
#[cfg_attr(
    not(ossa_llama_server),
    ignore = "needs llama-server: build it with scripts/llama-server.sh and export OSSA_LLAMA_SERVER"
)]
fn pinned_sessions_keep_their_own_slot_cache() {
    let Some(binary) = server::llama_server_binary("pinned slots test") else {
        return;
    };
    let server = server::Server::start_with_slots(&binary, &common::o200k_model_path(), 4096, 1, 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pinned = |slot| {
            HttpBackend::connect(
                &server.url,
                HttpOptions {
                    slot: Some(slot),
                    ..HttpOptions::default()
                },
            )
        };
        let a = pinned(0).await.unwrap();
        let b = pinned(1).await.unwrap();
        assert_eq!(a.parallel_slots(), Some(2));
        let tok = a.tokenizer();
        let pa = common::prompt(tok, "What is the weather in Tokyo? Say it in a few words.");
        let pb = common::prompt(tok, "Write two lines about the sea and the wind.");
        let first = a.generate(&greedy(&pa, 8), &mut |_| {}).await.unwrap();
        b.generate(&greedy(&pb, 8), &mut |_| {}).await.unwrap();
        let mut next = pa.clone();
        next.extend(&first.tokens);
        next.extend(common::prompt(tok, "And tomorrow?"));
        let second = a.generate(&greedy(&next, 4), &mut |_| {}).await.unwrap();
        assert!(
            second.prompt_reused as usize >= pa.len(),
            "slot 0 kept session A: reused {} of {}",
            second.prompt_reused,
            next.len()
        );
    });
    drop(server);
}
