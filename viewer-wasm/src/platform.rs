//! The browser services the viewer uses, each wrapped so a missing or refusing service is a
//! quiet `None`: `localStorage`, the async clipboard, `fetch`, downloads, the address bar.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::dom;

#[wasm_bindgen]
extern "C" {
    // Not in web-sys's stable set; absent outside secure contexts, hence `catch`.
    #[wasm_bindgen(js_namespace = ["navigator", "clipboard"], js_name = writeText, catch)]
    fn clipboard_write_text(text: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_namespace = ["navigator", "clipboard"], js_name = readText, catch)]
    fn clipboard_read_text() -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_namespace = ["navigator", "permissions"], js_name = query, catch)]
    fn permissions_query(descriptor: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

fn storage() -> Option<web_sys::Storage> {
    dom::window()?.local_storage().ok().flatten()
}

pub fn load(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

pub fn store(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

pub fn remove(key: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(key);
    }
}

/// Replaces the address bar's fragment without reloading or adding a history entry.
pub fn replace_fragment(fragment: &str) {
    let Some(w) = dom::window() else { return };
    let Ok(path) = w.location().pathname() else {
        return;
    };
    if let Ok(h) = w.history() {
        let url = format!("{path}{fragment}");
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&url));
    }
}

/// A Unix time as a date for people (`2027-05-04`).
pub fn date_text(unix_seconds: i64) -> String {
    let d = js_sys::Date::new(&JsValue::from_f64(unix_seconds as f64 * 1000.0));
    String::from(d.to_iso_string())
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// Copies `text` to the local clipboard where the browser allows it; failures are ignored
/// (the clipboard panel always has the text).
pub fn write_clipboard(text: &str) {
    if let Ok(p) = clipboard_write_text(text) {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(p).await;
        });
    }
}

/// The local clipboard's text. Without a gesture it is read only where the person already
/// allowed it (`clipboard-read` granted), so no permission prompt appears out of the blue.
pub async fn read_clipboard(gesture: bool) -> Option<String> {
    if !gesture {
        let descriptor = js_sys::Object::new();
        js_sys::Reflect::set(&descriptor, &"name".into(), &"clipboard-read".into()).ok()?;
        let status = JsFuture::from(permissions_query(&descriptor).ok()?)
            .await
            .ok()?;
        let state = js_sys::Reflect::get(&status, &"state".into()).ok()?;
        if state.as_string().as_deref() != Some("granted") {
            return None;
        }
    }
    JsFuture::from(clipboard_read_text().ok()?)
        .await
        .ok()?
        .as_string()
}

/// `GET api/targets` (relative to the page): `{"targets":["desk",…]}`. `None` when the
/// gateway has no such endpoint or it failed.
pub async fn fetch_targets() -> Option<Vec<String>> {
    let w = dom::window()?;
    let url = web_sys::Url::new_with_base("api/targets", &w.location().href().ok()?).ok()?;
    let resp: web_sys::Response = JsFuture::from(w.fetch_with_str(&url.href()))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    if !resp.ok() {
        return None;
    }
    let json = JsFuture::from(resp.json().ok()?).await.ok()?;
    let list: js_sys::Array = js_sys::Reflect::get(&json, &"targets".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_string())
            .filter(|t| certs::session_file::TargetName::parse(t).is_ok())
            .take(500)
            .collect(),
    )
}

/// The bytes of a file the person chose or dropped; a file larger than any session file may be
/// is refused before it is read.
pub async fn read_file(file: web_sys::File) -> Result<Vec<u8>, String> {
    let max = certs::session_file::Limits::default().max_bytes;
    if file.size() > max as f64 {
        return Err(format!(
            "it is {} bytes; a session file is at most {max}",
            file.size()
        ));
    }
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|_| "the browser could not read it".to_owned())?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// Offers `text` as a download named `name`.
pub fn download(name: &str, text: &str) {
    let Some(doc) = dom::document() else { return };
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/plain");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = doc.create_element("a").and_then(|e| {
        e.dyn_into::<web_sys::HtmlAnchorElement>()
            .map_err(JsValue::from)
    }) {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    // Revoked a little later: the download starts asynchronously.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = dom::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 10_000);
    }
}
