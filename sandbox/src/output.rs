//! Captures a tool's stdout or stderr in memory, up to the policy's output limit.
//!
//! wasmtime-wasi's `MemoryOutputPipe` reports a full buffer through `check-write`, and
//! a guest that waits for write permission then spins until its timeout. This pipe
//! always grants permission and traps on the first write past the limit, flagging the
//! output limit so the call fails as `output-limit` at once.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi_io::bytes::Bytes;

use crate::monitor::CallMonitor;

/// The permit granted to writers; any size works since writes past the limit trap.
const WRITE_PERMIT: usize = 64 * 1024;

/// A capped in-memory sink for one output stream of one call.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    buffer: Arc<Mutex<Vec<u8>>>,
    limit: usize,
    monitor: Arc<CallMonitor>,
}

impl CapturedOutput {
    pub(crate) fn new(limit: usize, monitor: Arc<CallMonitor>) -> Self {
        CapturedOutput {
            buffer: Arc::default(),
            limit,
            monitor,
        }
    }

    /// What was written, lossily decoded.
    pub(crate) fn text(&self) -> String {
        let buffer = self
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&buffer).into_owned()
    }

    /// Appends `bytes`, or flags the output limit and refuses.
    fn append(&self, bytes: &[u8]) -> Result<(), String> {
        let mut buffer = self
            .buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buffer.len().saturating_add(bytes.len()) > self.limit {
            let room = self.limit - buffer.len();
            buffer.extend_from_slice(&bytes[..room]);
            self.monitor.output_limit_hit.store(true, Ordering::SeqCst);
            return Err(format!("output limit of {} KiB reached", self.limit >> 10));
        }
        buffer.extend_from_slice(bytes);
        Ok(())
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes)
            .map_err(|message| StreamError::trap(message.as_str()))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
