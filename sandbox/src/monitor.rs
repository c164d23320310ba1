//! What one call did that the host must know about afterwards: limits that fired,
//! accesses refused, bytes written. Shared by the store's hooks (file system wrapper,
//! output pipes, memory limiter, socket check) and read when the call ends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use wasmtime::ResourceLimiter;

/// At most this many refused accesses are kept for the log; a tool that probes in a
/// loop would otherwise grow the list without bound.
const MAX_VIOLATIONS: usize = 20;

/// Per-call record, shared between the store's hooks.
#[derive(Debug, Default)]
pub(crate) struct CallMonitor {
    write_limit: u64,
    written: AtomicU64,
    pub(crate) write_limit_hit: AtomicBool,
    pub(crate) output_limit_hit: AtomicBool,
    pub(crate) timed_out: AtomicBool,
    violations: Mutex<Vec<String>>,
}

impl CallMonitor {
    pub(crate) fn new(write_limit: u64) -> Self {
        CallMonitor {
            write_limit,
            ..CallMonitor::default()
        }
    }

    /// Counts `bytes` about to be written. `false` (and the write-limit flag) when
    /// they would exceed the per-call limit; the caller must then refuse the write.
    pub(crate) fn charge_write(&self, bytes: u64) -> bool {
        let before = self.written.fetch_add(bytes, Ordering::SeqCst);
        if before.saturating_add(bytes) > self.write_limit {
            self.write_limit_hit.store(true, Ordering::SeqCst);
            false
        } else {
            true
        }
    }

    pub(crate) fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::SeqCst).min(self.write_limit)
    }

    /// Records an access the sandbox refused.
    pub(crate) fn violation(&self, what: String) {
        let mut violations = self
            .violations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if violations.len() < MAX_VIOLATIONS {
            violations.push(what);
        }
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(crate) fn flag(flag: &AtomicBool) -> bool {
        flag.load(Ordering::SeqCst)
    }
}

/// Limits the store's memories, tables and instances, and remembers when a memory
/// limit refused a growth so the failure can say so.
pub(crate) struct Limiter {
    memory_limit: usize,
    memory_limit_hit: bool,
}

/// Table elements per table: plenty for Rust, Python or JS components.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl Limiter {
    pub(crate) fn new(memory_limit: usize) -> Self {
        Limiter {
            memory_limit,
            memory_limit_hit: false,
        }
    }

    pub(crate) fn memory_limit_hit(&self) -> bool {
        self.memory_limit_hit
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_limit_hit = true;
            // A trap rather than a failed `memory.grow`: most guests abort on allocation
            // failure anyway, and the trap ends the call at the point that matters.
            return Err(wasmtime::format_err!(
                "memory limit of {} MiB reached (the tool asked for {} MiB)",
                self.memory_limit >> 20,
                desired.div_ceil(1 << 20)
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn write_budget_is_enforced() {
        let monitor = CallMonitor::new(10);
        assert!(monitor.charge_write(6));
        assert!(monitor.charge_write(4));
        assert!(!CallMonitor::flag(&monitor.write_limit_hit));
        assert!(!monitor.charge_write(1));
        assert!(CallMonitor::flag(&monitor.write_limit_hit));
        assert_eq!(monitor.bytes_written(), 10);
    }

    #[test]
    fn violations_are_capped() {
        let monitor = CallMonitor::new(0);
        for n in 0..100 {
            monitor.violation(format!("v{n}"));
        }
        assert_eq!(monitor.violations().len(), MAX_VIOLATIONS);
    }
}
