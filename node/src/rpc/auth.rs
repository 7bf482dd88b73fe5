//! Authentication for the admin RPC, as a tower service in front of jsonrpsee, one per
//! connection (it knows the client's address). A request's bearer token must be the admin
//! token or a named API key ([`super::keys`]); the caller and its address then travel with
//! the request to the methods. A request without valid credentials is answered with HTTP 401
//! (code [`super::error::UNAUTHORIZED`]) and costs its address a token, so guessing is rate
//! limited; an address out of tokens gets HTTP 429 with `Retry-After`.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actors::limiter::LimiterMsg;
use actors::supervisor::Slot;
use jsonrpsee::server::{HttpBody, HttpResponse};
use protocol::limits::Refusal;
use tower::Service;

use super::keys::Keys;
use crate::metrics::Metrics;

/// The client's address, as the connection saw it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// What every connection's guard shares.
#[derive(Clone)]
pub struct Guard {
    /// The keys in force.
    pub keys: Arc<Keys>,
    /// The limiter.
    pub limiter: Slot<LimiterMsg>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The service around jsonrpsee's, for one connection.
#[derive(Clone)]
pub struct Authenticated<S> {
    /// jsonrpsee's service.
    pub inner: S,
    /// Shared parts.
    pub guard: Guard,
    /// The client.
    pub addr: IpAddr,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn json_response(status: http::StatusCode, code: i32, message: &str, data: Option<serde_json::Value>) -> HttpResponse {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(d) = data {
        error["data"] = d;
    }
    let body = serde_json::json!({ "jsonrpc": "2.0", "error": error, "id": null }).to_string();
    let mut response = HttpResponse::new(HttpBody::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// HTTP 429 with `Retry-After` (whole seconds, rounded up) and the refusal in `data`.
pub fn too_many(refusal: &Refusal) -> HttpResponse {
    let mut response = json_response(
        http::StatusCode::TOO_MANY_REQUESTS,
        super::error::LIMITED,
        &refusal.to_string(),
        Some(super::error::limited_data(refusal)),
    );
    if let Some(ms) = refusal.retry_after_ms {
        if let Ok(v) = http::HeaderValue::from_str(&ms.div_ceil(1000).max(1).to_string()) {
            response.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    response
}

fn bearer<B>(request: &http::Request<B>) -> Option<&str> {
    request.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

impl<S, B> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = HttpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The console page is static and holds nothing; what it shows comes through the token.
        if crate::console::wants_console(&request) {
            return Box::pin(async { Ok(crate::console::response()) });
        }
        let caller = bearer(&request).and_then(|t| self.guard.keys.identify(t));
        let addr = self.addr;
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(ClientAddr(addr));
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        }
        let guard = self.guard.clone();
        Box::pin(async move {
            guard.metrics.rpc_unauthorized();
            let limited = match guard.limiter.get() {
                Some(l) => {
                    ractor::call!(l, |reply| LimiterMsg::Unauthenticated { ip: addr, reply }).ok().and_then(Result::err)
                }
                None => None,
            };
            if let Some(refusal) = limited {
                return Ok(too_many(&refusal));
            }
            tracing::warn!(%addr, "admin RPC request refused: missing or unknown bearer token");
            let mut response = json_response(
                http::StatusCode::UNAUTHORIZED,
                super::error::UNAUTHORIZED,
                "unauthorized: send Authorization: Bearer <the node's admin token or an API key>",
                None,
            );
            response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
            Ok(response)
        })
    }
}
