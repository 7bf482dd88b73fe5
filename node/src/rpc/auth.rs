//! Bearer-token authentication for the admin RPC, as a tower layer in front of jsonrpsee:
//! a request without `Authorization: Bearer <token>` matching the node's token is answered
//! with HTTP 401 and a JSON-RPC error (code [`super::error::UNAUTHORIZED`]) and never reaches
//! a method. Tokens are compared in constant time (over their SHA-256 digests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};
use zeroize::Zeroizing;

use crate::metrics::Metrics;

/// The layer: holds the digest of the expected token.
#[derive(Clone)]
pub struct BearerAuth {
    expected: Arc<[u8; 32]>,
    metrics: Arc<Metrics>,
}

impl BearerAuth {
    /// Expects `token` (surrounding whitespace ignored).
    pub fn new(token: &str, metrics: Arc<Metrics>) -> Self {
        Self { expected: Arc::new(Sha256::digest(token.trim().as_bytes()).into()), metrics }
    }

    fn allows(&self, header: Option<&http::HeaderValue>) -> bool {
        let Some(value) = header.and_then(|h| h.to_str().ok()) else { return false };
        let Some(token) = value.strip_prefix("Bearer ") else { return false };
        let token = Zeroizing::new(token.trim().to_owned());
        let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        got.iter().zip(self.expected.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl<S> Layer<S> for BearerAuth {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated { inner, auth: self.clone() }
    }
}

/// The service the layer wraps around jsonrpsee's.
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    auth: BearerAuth,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> Service<HttpRequest> for Authenticated<S>
where
    S: Service<HttpRequest, Response = HttpResponse> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        if self.auth.allows(request.headers().get(http::header::AUTHORIZATION)) {
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        }
        self.auth.metrics.rpc_unauthorized();
        tracing::warn!("admin RPC request refused: missing or wrong bearer token");
        let body = format!(
            r#"{{"jsonrpc":"2.0","error":{{"code":{},"message":"unauthorized: send Authorization: Bearer <token from the node's token file>"}},"id":null}}"#,
            super::error::UNAUTHORIZED
        );
        let mut response = HttpResponse::new(HttpBody::from(body));
        *response.status_mut() = http::StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        Box::pin(async move { Ok(response) })
    }
}
