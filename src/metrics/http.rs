//! The metrics listener (`FERRUM_METRICS`), HTTP/1.1 (hyper): `GET /metrics` in Prometheus'
//! text exposition format, and `GET /health` for load balancers ([`super::health`]), served
//! from start-up on (so a replica still syncing answers 503). Any other path is 404, any other
//! method 405. Connections that stall are dropped, so a slow scraper cannot hold resources.

use super::health::{self, Phase};
use super::render;
use crate::admin::Admin;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Longest a scrape connection may stay open.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the metrics address (`host:port`).
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves scrapes and health checks until the task is aborted.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(respond(&req, admin).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
    }
}

async fn respond(req: &Request<Incoming>, admin: Arc<Admin>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/health" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics, health at /health\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    if path == "/health" {
        return health_check(&admin);
    }
    // RocksDB property reads and /proc: blocking, though short.
    let text = tokio::task::spawn_blocking(move || {
        render(admin.shared().map(|s| &**s), Some(&admin.store))
    })
    .await;
    match text {
        Ok(text) => {
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("metrics failed: {e}\n"),
        ),
    }
}

/// `GET /health`: 200 or 503, one line of JSON (see [`health::judge`]).
fn health_check(admin: &Admin) -> Response<Full<Bytes>> {
    let phase = match admin.phase() {
        crate::admin::Phase::Connecting => Phase::Starting,
        crate::admin::Phase::Syncing => Phase::Syncing,
        crate::admin::Phase::Serving if admin.shared().is_some_and(|s| s.limits.draining()) => {
            Phase::Draining
        }
        crate::admin::Phase::Serving => Phase::Serving,
        crate::admin::Phase::Stopping => Phase::Stopping,
    };
    let fleet = &admin.config.fleet;
    // The follow loop confirms the tip at least every mempool poll interval: a window shorter
    // than two of them would turn a quiet, healthy replica stale between rounds.
    let max_age = fleet
        .health_max_lag
        .max(admin.config.poll_interval_mempool * 2);
    let (ok, body) = health::judge(
        phase,
        health::observed(),
        fleet.health_max_lag_blocks,
        max_age,
    );
    let mut r = plain(
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &format!("{body}\n"),
    );
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r
}
