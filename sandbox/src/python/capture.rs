//! The interpreter's stdout and stderr, captured in memory with a cap that keeps the
//! head and the tail: a cell that prints a million lines shows its first and last
//! ones and how much was left out, and is never stopped for printing.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi_io::bytes::Bytes;

/// The permit granted to writers: any size works, writes never block or fail.
const WRITE_PERMIT: usize = 1 << 20;

/// A capped sink shared by the interpreter's WASI context (which writes) and the
/// session (which takes what was written after each cell). Clones share the buffer,
/// so stdout and stderr can also be merged into one.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<HeadTail>>,
}

/// What a capture held, taken at the end of a cell or command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Captured {
    /// The text, with a line in place of what was left out.
    pub(crate) text: String,
    /// How many bytes were left out.
    pub(crate) left_out: u64,
}

struct HeadTail {
    /// Bytes kept from the start, and from the end.
    half: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    left_out: u64,
}

impl Capture {
    /// A capture keeping at most `limit` bytes (half from the start, half from the end).
    pub(crate) fn new(limit: usize) -> Self {
        Capture {
            inner: Arc::new(Mutex::new(HeadTail {
                half: limit / 2,
                head: Vec::new(),
                tail: VecDeque::new(),
                left_out: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HeadTail> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends bytes, keeping the head and the tail.
    pub(crate) fn write(&self, bytes: &[u8]) {
        self.lock().push(bytes);
    }

    /// Takes what was written since the last call.
    pub(crate) fn take(&self) -> Captured {
        self.lock().take()
    }
}

impl HeadTail {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.half.saturating_sub(self.head.len());
        let to_head = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        if bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.half {
            self.left_out += (self.tail.len() + bytes.len() - self.half) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.half..]);
        } else {
            self.tail.extend(bytes);
            let excess = self.tail.len().saturating_sub(self.half);
            self.tail.drain(..excess);
            self.left_out += excess as u64;
        }
    }

    fn take(&mut self) -> Captured {
        let left_out = std::mem::take(&mut self.left_out);
        let head = std::mem::take(&mut self.head);
        let tail: Vec<u8> = std::mem::take(&mut self.tail).into();
        let mut text = String::from_utf8_lossy(&head).into_owned();
        if left_out > 0 {
            text.push_str(&format!("\n[… {left_out} bytes left out …]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&tail));
        Captured { text, left_out }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        Capture::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Capture::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `text` with at most `limit` bytes: its head and tail around a line saying how much
/// was left out (for texts the guest returns rather than prints).
pub(crate) fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let capture = Capture::new(limit);
    capture.write(text.as_bytes());
    capture.take().text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole_and_taken_once() {
        let capture = Capture::new(100);
        capture.write(b"hello ");
        capture.write(b"world\n");
        assert_eq!(
            capture.take(),
            Captured {
                text: "hello world\n".to_owned(),
                left_out: 0
            }
        );
        assert_eq!(capture.take(), Captured::default());
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let capture = Capture::new(20);
        for line in 0..1000 {
            capture.write(format!("{line:04}\n").as_bytes());
        }
        let captured = capture.take();
        assert_eq!(captured.left_out, 5000 - 20);
        assert_eq!(
            captured.text,
            "0000\n0001\n\n[… 4980 bytes left out …]\n0998\n0999\n"
        );
        // One big write is cut the same way.
        let capture = Capture::new(20);
        capture.write("x".repeat(5000).as_bytes());
        let captured = capture.take();
        assert_eq!(captured.left_out, 4980);
        assert!(captured.text.starts_with(&"x".repeat(10)));
    }

    #[test]
    fn clipping_a_returned_text() {
        assert_eq!(clip("short", 10), "short");
        let long = clip(&"a".repeat(100), 10);
        assert_eq!(long, "aaaaa\n[… 90 bytes left out …]\naaaaa");
    }
}
