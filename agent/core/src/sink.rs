//! Where events go: anything that implements [`EventSink`] (printers, the transcript
//! writer, a test collector). The loop hands every event to one sink.

use crate::event::Event;

/// Consumes the loop's events in order.
pub trait EventSink: Send {
    /// Handles one event. An error ends the session: a transcript that cannot be
    /// written, or a closed stdout, is not something to carry on silently past.
    fn emit(&mut self, event: &Event) -> std::io::Result<()>;
}

/// Every sink in the list gets every event, in list order.
impl EventSink for Vec<Box<dyn EventSink>> {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        for sink in self.iter_mut() {
            sink.emit(event)?;
        }
        Ok(())
    }
}

/// Keeps every event in memory (tests, and the chat's `/save`).
#[derive(Debug, Default, Clone)]
pub struct Collector {
    /// The events received so far.
    pub events: Vec<Event>,
}

impl EventSink for Collector {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        self.events.push(event.clone());
        Ok(())
    }
}

/// Calls a closure for every event (front ends that keep their own state).
pub struct FnSink<F>(pub F);

impl<F> EventSink for FnSink<F>
where
    F: FnMut(&Event) -> std::io::Result<()> + Send,
{
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        (self.0)(event)
    }
}
