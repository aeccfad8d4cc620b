//! Browser plumbing with ownership: listeners and timers that are removed when dropped, the
//! panic latch that turns every callback into a no-op, and element lookup.

use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, EventTarget, HtmlElement, Window};

static POISONED: AtomicBool = AtomicBool::new(false);

/// After a panic the shared state may be half-updated: every callback checks this first.
pub fn poisoned() -> bool {
    POISONED.load(Ordering::SeqCst)
}

/// Installs the hook that sets the latch and says so in the console and the page.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        POISONED.store(true, Ordering::SeqCst);
        let text = format!("vncgate viewer stopped after an internal error: {info}");
        web_sys::console::error_1(&text.as_str().into());
        if let Some(m) = document().and_then(|d| d.get_element_by_id("message")) {
            m.set_text_content(Some(
                "The viewer stopped after an internal error (details in the browser console). Reload the page to reconnect.",
            ));
            let _ = m.remove_attribute("hidden");
        }
    }));
}

pub fn window() -> Option<Window> {
    web_sys::window()
}

pub fn document() -> Option<Document> {
    window().and_then(|w| w.document())
}

/// The element with `id`, as type `T`.
pub fn by_id<T: JsCast>(id: &str) -> Result<T, JsValue> {
    document()
        .and_then(|d| d.get_element_by_id(id))
        .ok_or_else(|| JsValue::from_str(&format!("the page has no #{id} element")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} is not the expected kind of element")))
}

pub fn show(el: &Element, visible: bool) {
    if visible {
        let _ = el.remove_attribute("hidden");
    } else {
        let _ = el.set_attribute("hidden", "");
    }
}

pub fn set_text(el: &Element, text: &str) {
    el.set_text_content(Some(text));
}

/// A JavaScript exception or rejection in words: an `Error`'s message, a string, or its
/// debug form.
pub fn describe(e: &wasm_bindgen::JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// A warning in the browser's console: something the page could not do, not shown to the
/// person because it goes on.
pub fn warn(text: &str) {
    web_sys::console::warn_1(&text.into());
}

/// Milliseconds from a monotonic clock (for measuring, not for dates).
pub fn now_ms() -> f64 {
    window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// A DOM listener, removed from its target on drop.
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// Adds `f` as a listener for `kind` on `target`; it does nothing after a panic. Listeners
/// are not passive, so they may call `preventDefault`.
pub fn listen(
    target: &EventTarget,
    kind: &'static str,
    mut f: impl FnMut(web_sys::Event) + 'static,
) -> Option<Listener> {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
        if !poisoned() {
            f(e);
        }
    });
    let options = web_sys::AddEventListenerOptions::new();
    options.set_passive(false);
    target
        .add_event_listener_with_callback_and_add_event_listener_options(
            kind,
            closure.as_ref().unchecked_ref(),
            &options,
        )
        .ok()?;
    Some(Listener {
        target: target.clone(),
        kind,
        closure,
    })
}

/// A `setTimeout` or `setInterval`, cleared on drop.
pub struct Timer {
    id: i32,
    repeat: bool,
    _closure: Closure<dyn FnMut()>,
}

impl Timer {
    /// Calls `f` once after `ms`.
    pub fn once(ms: u32, f: impl FnMut() + 'static) -> Option<Self> {
        Self::new(ms, false, f)
    }

    /// Calls `f` every `ms`.
    pub fn every(ms: u32, f: impl FnMut() + 'static) -> Option<Self> {
        Self::new(ms, true, f)
    }

    fn new(ms: u32, repeat: bool, mut f: impl FnMut() + 'static) -> Option<Self> {
        let closure = Closure::<dyn FnMut()>::new(move || {
            if !poisoned() {
                f();
            }
        });
        let w = window()?;
        let cb = closure.as_ref().unchecked_ref();
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        let id = if repeat {
            w.set_interval_with_callback_and_timeout_and_arguments_0(cb, ms)
        } else {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(cb, ms)
        }
        .ok()?;
        Some(Self {
            id,
            repeat,
            _closure: closure,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(w) = window() {
            if self.repeat {
                w.clear_interval_with_handle(self.id);
            } else {
                w.clear_timeout_with_handle(self.id);
            }
        }
    }
}

/// Focuses an element without scrolling the page to it.
pub fn focus(el: &HtmlElement) {
    let _ = el.focus();
}

/// A `ResizeObserver` on one element, disconnected on drop.
pub struct ResizeWatch {
    observer: web_sys::ResizeObserver,
    _closure: Closure<dyn FnMut()>,
}

impl ResizeWatch {
    /// Calls `f` whenever `el` changes size (and once at the start).
    pub fn new(el: &Element, mut f: impl FnMut() + 'static) -> Option<Self> {
        let closure = Closure::<dyn FnMut()>::new(move || {
            if !poisoned() {
                f();
            }
        });
        let observer = web_sys::ResizeObserver::new(closure.as_ref().unchecked_ref()).ok()?;
        observer.observe(el);
        Some(Self {
            observer,
            _closure: closure,
        })
    }
}

impl Drop for ResizeWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}
