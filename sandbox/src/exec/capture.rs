//! A command's output kept in bounded memory: the first half of the budget as it
//! arrives, then a ring of the last half; what falls out of the ring is only counted.

/// The output of a command as kept: its beginning, its end, and a count of the middle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedText {
    /// The beginning (everything when nothing was left out).
    pub head: String,
    /// The end, when the middle was left out; empty otherwise.
    pub tail: String,
    /// Bytes left out between `head` and `tail`.
    pub omitted_bytes: u64,
    /// Line breaks in those bytes.
    pub omitted_lines: u64,
    /// Bytes the command wrote in all.
    pub total_bytes: u64,
}

/// Collects output chunks within `budget` bytes: a head that fills first, then a ring
/// buffer of the most recent bytes. Chunks are copied with `memcpy` and what falls out
/// of the ring is counted with `memchr`, so a flood costs little CPU.
#[derive(Debug)]
pub(crate) struct OutputCapture {
    head: Vec<u8>,
    head_limit: usize,
    ring: Vec<u8>,
    /// Index of the oldest byte in `ring` once it is full.
    ring_start: usize,
    omitted_bytes: u64,
    omitted_lines: u64,
    total_bytes: u64,
}

impl OutputCapture {
    pub(crate) fn new(budget: usize) -> Self {
        let head_limit = budget / 2;
        let tail_limit = budget - head_limit;
        OutputCapture {
            head: Vec::with_capacity(head_limit),
            head_limit,
            ring: Vec::with_capacity(tail_limit),
            ring_start: 0,
            omitted_bytes: 0,
            omitted_lines: 0,
            total_bytes: 0,
        }
    }

    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        self.total_bytes += bytes.len() as u64;
        let to_head = (self.head_limit - self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        bytes = &bytes[to_head..];
        let capacity = self.ring.capacity();
        if bytes.is_empty() || capacity == 0 {
            self.omit(bytes);
            return;
        }
        // Only the last `capacity` bytes of this chunk can survive.
        if bytes.len() > capacity {
            let (dropped, kept) = bytes.split_at(bytes.len() - capacity);
            self.omit(dropped);
            bytes = kept;
        }
        // Fill the ring while it has room.
        let room = capacity - self.ring.len();
        let filling = room.min(bytes.len());
        self.ring.extend_from_slice(&bytes[..filling]);
        bytes = &bytes[filling..];
        // Then overwrite the oldest bytes, at most twice around the end.
        while !bytes.is_empty() {
            let run = (capacity - self.ring_start).min(bytes.len());
            let slot = self.ring_start..self.ring_start + run;
            let lines = memchr::memchr_iter(b'\n', &self.ring[slot.clone()]).count();
            self.omitted_bytes += run as u64;
            self.omitted_lines += lines as u64;
            self.ring[slot].copy_from_slice(&bytes[..run]);
            self.ring_start = (self.ring_start + run) % capacity;
            bytes = &bytes[run..];
        }
    }

    fn omit(&mut self, bytes: &[u8]) {
        self.omitted_bytes += bytes.len() as u64;
        self.omitted_lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
    }

    /// The captured text, decoded (invalid UTF-8 replaced; a character cut at the
    /// head's end or the tail's start is dropped rather than garbled).
    pub(crate) fn finish(mut self) -> CapturedText {
        self.ring.rotate_left(self.ring_start);
        let (head, tail) = if self.omitted_bytes == 0 {
            let mut all = self.head;
            all.extend_from_slice(&self.ring);
            (String::from_utf8_lossy(&all).into_owned(), String::new())
        } else {
            (
                String::from_utf8_lossy(trim_cut_end(&self.head)).into_owned(),
                String::from_utf8_lossy(trim_cut_start(&self.ring)).into_owned(),
            )
        };
        CapturedText {
            head,
            tail,
            omitted_bytes: self.omitted_bytes,
            omitted_lines: self.omitted_lines,
            total_bytes: self.total_bytes,
        }
    }
}

/// `bytes` without an incomplete UTF-8 sequence at its end.
fn trim_cut_end(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(err) if err.error_len().is_none() => &bytes[..err.valid_up_to()],
        _ => bytes,
    }
}

/// `bytes` without UTF-8 continuation bytes at its start.
fn trim_cut_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take(3)
        .take_while(|&&byte| byte & 0xC0 == 0x80)
        .count();
    &bytes[skip..]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut capture = OutputCapture::new(16);
        capture.push(b"hello ");
        capture.push(b"world\n");
        let text = capture.finish();
        assert_eq!(text.head, "hello world\n");
        assert_eq!((text.tail.as_str(), text.omitted_bytes), ("", 0));
    }

    #[test]
    fn the_middle_is_counted_and_left_out() {
        let mut capture = OutputCapture::new(8);
        for line in 0..10 {
            capture.push(format!("{line}\n").as_bytes());
        }
        let text = capture.finish();
        assert_eq!(text.head, "0\n1\n");
        assert_eq!(text.tail, "8\n9\n");
        assert_eq!((text.omitted_bytes, text.omitted_lines), (12, 6));
        assert_eq!(text.total_bytes, 20);
    }

    #[test]
    fn one_huge_chunk_keeps_its_ends() {
        let mut capture = OutputCapture::new(4);
        let chunk: Vec<u8> = (0..100u8).collect();
        capture.push(&chunk);
        let text = capture.finish();
        assert_eq!(text.head.as_bytes(), [0, 1]);
        assert_eq!(text.tail.as_bytes(), [98, 99]);
        assert_eq!(text.omitted_bytes, 96);
    }

    #[test]
    fn characters_cut_at_the_edges_are_dropped() {
        // Head: `a` and the first byte of `é`; tail: the last byte of `é` and `b`.
        let mut capture = OutputCapture::new(4);
        capture.push("aéxxxxxxxxéb".as_bytes());
        let text = capture.finish();
        assert_eq!(text.head, "a");
        assert_eq!(text.tail, "b");
    }

    #[test]
    fn the_ring_keeps_the_latest_bytes_across_many_chunks() {
        let mut capture = OutputCapture::new(10);
        let mut all = Vec::new();
        for n in 0..1000u32 {
            let chunk = format!("{n},");
            all.extend_from_slice(chunk.as_bytes());
            capture.push(chunk.as_bytes());
        }
        let text = capture.finish();
        assert_eq!(text.head.as_bytes(), &all[..5]);
        assert_eq!(text.tail.as_bytes(), &all[all.len() - 5..]);
        assert_eq!(text.omitted_bytes as usize, all.len() - 10);
        assert_eq!(text.total_bytes as usize, all.len());
    }
}
