//! The live console: one static page (HTML, CSS and a little script, no external assets)
//! served on the admin address at `/console`. The page holds no data: its script reads the
//! token from the URL fragment (`#token=…`, never sent to the server) or a form, and fetches
//! everything it shows through the admin JSON-RPC with that token, so the console sees exactly
//! what the token may see (an admin key for the committee, sessions and audit panels).

use jsonrpsee::server::{HttpBody, HttpResponse};

/// The page.
pub const PAGE: &str = include_str!("console.html");

/// Where it is served.
pub const PATH: &str = "/console";

/// The page, with headers that keep it from loading anything but itself and its node's RPC.
pub fn response() -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(PAGE));
    let headers = response.headers_mut();
    let set = |h: &mut http::HeaderMap, name: http::header::HeaderName, value: &'static str| {
        h.insert(name, http::HeaderValue::from_static(value));
    };
    set(headers, http::header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(
        headers,
        http::header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'none'; frame-ancestors 'none'",
    );
    set(headers, http::header::REFERRER_POLICY, "no-referrer");
    set(headers, http::header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, http::header::CACHE_CONTROL, "no-store");
    response
}

/// True for a request for the console page.
pub fn wants_console<B>(request: &http::Request<B>) -> bool {
    request.method() == http::Method::GET && matches!(request.uri().path(), "/console" | "/console/")
}
