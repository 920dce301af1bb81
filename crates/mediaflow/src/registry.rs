//! Who listens to a pipeline's events, and delivering one event to them. Runs on the
//! pipeline's dispatcher lane, never on a worker: handlers are user code.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use mediaflow_graph::ElementId;

use crate::events::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every event of the pipeline.
    All,
    /// Events raised by one element.
    Element(ElementId),
    /// Events raised on the pipeline itself, and unhandled element errors.
    Pipeline,
}

pub(crate) type Handler = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

pub(crate) struct Listener {
    pub(crate) id: u64,
    pub(crate) scope: Scope,
    pub(crate) event_type: Option<&'static str>,
    /// Returns false when it wants to be removed (its receiver was dropped).
    pub(crate) handler: Handler,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) next_id: u64,
    pub(crate) listeners: Vec<Listener>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a plain container update).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Calls every handler that wants `event`, with no lock held while they run.
pub(crate) fn deliver(registry: &Mutex<Registry>, scope: Scope, event: &Event) {
    let handlers = matching(&lock(registry), scope, event);
    for (id, handler) in handlers {
        let keep = catch_unwind(AssertUnwindSafe(|| handler(event))).unwrap_or_else(|_| {
            tracing::error!(event = event.type_name(), "an event handler panicked");
            true
        });
        if !keep {
            lock(registry).listeners.retain(|l| l.id != id);
        }
    }
}

fn matching(registry: &Registry, scope: Scope, event: &Event) -> Vec<(u64, Handler)> {
    let wants = |l: &&Listener| l.event_type.is_none_or(|t| t == event.type_name());
    let mut handlers: Vec<(u64, Handler)> = registry
        .listeners
        .iter()
        .filter(|l| l.scope == Scope::All || l.scope == scope)
        .filter(wants)
        .map(|l| (l.id, l.handler.clone()))
        .collect();
    // An element error nobody on the element listens for goes to the pipeline.
    let handled = registry
        .listeners
        .iter()
        .any(|l| l.scope == scope && wants(&l));
    if matches!(event, Event::Error(_)) && !handled {
        handlers.extend(
            registry
                .listeners
                .iter()
                .filter(|l| l.scope == Scope::Pipeline)
                .filter(wants)
                .map(|l| (l.id, l.handler.clone())),
        );
    }
    handlers
}

/// Drops the handlers of a released element (after the events raised before its
/// release were delivered: this runs in order on the same lane).
pub(crate) fn forget(registry: &Mutex<Registry>, element: ElementId) {
    let removed: Vec<Listener> = {
        let mut registry = lock(registry);
        let (gone, kept) = std::mem::take(&mut registry.listeners)
            .into_iter()
            .partition(|l| l.scope == Scope::Element(element));
        registry.listeners = kept;
        gone
    };
    // Handlers may own handles: drop them with no lock held.
    drop(removed);
}
