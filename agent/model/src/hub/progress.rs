//! Download progress: a trait the downloader reports to, and the terminal bar.

use std::io::IsTerminal as _;

/// Receives a download's progress, file by file.
pub trait Progress: Send {
    /// A transfer of `file` starts: `total` bytes when known, `done` of them already on
    /// disk from an interrupted download (the transfer resumes after them).
    fn start(&mut self, file: &str, total: Option<u64>, done: u64);
    /// `bytes` more bytes arrived.
    fn advance(&mut self, bytes: u64);
    /// The transfer ended (complete, or failed and about to be retried or reported).
    fn finish(&mut self);
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _file: &str, _total: Option<u64>, _done: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

/// The bar: file name, bar, bytes done of the total, speed, time left.
const TEMPLATE: &str =
    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";

/// A progress bar on stderr with size, speed and time left (indicatif), drawn only when
/// stderr is a terminal.
#[derive(Debug, Default)]
pub struct TerminalProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl TerminalProgress {
    /// A bar on stderr, or nothing when stderr is not a terminal.
    pub fn stderr() -> Box<dyn Progress> {
        if std::io::stderr().is_terminal() {
            Box::new(TerminalProgress::default())
        } else {
            Box::new(NoProgress)
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&mut self, file: &str, total: Option<u64>, done: u64) {
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total),
            None => indicatif::ProgressBar::no_length(),
        };
        let style = indicatif::ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        let name = file.rsplit('/').next().unwrap_or(file);
        bar.set_message(if done > 0 {
            format!("{name} (resuming)")
        } else {
            name.to_string()
        });
        bar.set_position(done);
        // Speed and ETA from this transfer's bytes only, not the resumed ones.
        bar.reset_eta();
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid_and_a_resumed_transfer_starts_at_its_offset() {
        indicatif::ProgressStyle::with_template(TEMPLATE).unwrap();
        let mut progress = TerminalProgress::default();
        progress.start("dir/m.gguf", Some(100), 40);
        let bar = progress.bar.clone().unwrap();
        assert_eq!(bar.position(), 40);
        assert_eq!(bar.message(), "m.gguf (resuming)");
        progress.advance(60);
        assert_eq!(bar.position(), 100);
        progress.finish();
        assert!(progress.bar.is_none() && bar.is_finished());
    }
}
