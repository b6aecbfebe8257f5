//! The HTTP endpoint of `govstream run`/`demo`: `/` (the live status page) and `/status.json`
//! (`crate::status_page`), `/metrics`, `/healthz`, `/readyz` (HTTP/1.1 over hyper; the bodies
//! come from `crate::metrics` and `crate::progress`).
//!
//! Nothing a client does can stop the server or pin its resources for long:
//! - a request's head must arrive within [`Limits::header_read_timeout`] (a keep-alive
//!   connection waiting for its next request counts too), else the connection is closed;
//! - every connection is shut down at [`Limits::connection_deadline`] (gracefully: an in-flight
//!   response is finished, then it is dropped at most one header timeout later);
//! - at most [`Limits::max_connections`] connections are served at once (see [`serve_listener`]);
//! - request heads are limited to [`MAX_BUF_BYTES`];
//! - an accept error (e.g. `EMFILE`) is logged and the loop goes on after a short pause.

use crate::metrics::{render, LabelSet, Timeliness};
use crate::progress::Progress;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Time a client has to send a complete request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Age at which any connection is shut down.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Read buffer limit per connection (hyper's minimum is 8 KiB): bounds a request head.
pub const MAX_BUF_BYTES: usize = 64 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) before the next one.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning per this interval about connections refused at the limit.
const REFUSED_WARN_INTERVAL: Duration = Duration::from_secs(10);

const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The endpoint's protection limits; [`Limits::default`] uses the constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub connection_deadline: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            connection_deadline: CONNECTION_DEADLINE,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// What the routes read.
struct Endpoint {
    progress: Arc<Progress>,
    timeliness: Arc<Timeliness>,
    labels: LabelSet,
}

/// Binds `listen`, logs the address and serves `/metrics`, `/healthz` and `/readyz` with the
/// default [`Limits`] until the task is dropped. Returns only if binding fails.
pub async fn serve(
    listen: String,
    progress: Arc<Progress>,
    timeliness: Arc<Timeliness>,
    labels: LabelSet,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(&listen).await?;
    tracing::info!(address = %listener.local_addr()?, "metrics endpoint listening");
    match serve_listener(listener, progress, timeliness, labels, Limits::default()).await {}
}

/// Serves on an already bound listener until the task is dropped (it never returns).
///
/// Connection limit: a connection accepted while `limits.max_connections` others are being
/// served is closed at once, without a response, rather than queued: an overloaded or attacked
/// endpoint fails fast and visibly (a failed scrape, a warning in the log) instead of piling up
/// waiting clients. Slots free up within the header timeout, as idle clients are dropped then.
pub async fn serve_listener(
    listener: TcpListener,
    progress: Arc<Progress>,
    timeliness: Arc<Timeliness>,
    labels: LabelSet,
    limits: Limits,
) -> Infallible {
    let endpoint = Arc::new(Endpoint {
        progress,
        timeliness,
        labels,
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused = 0u64;
    let mut last_warn: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed; retrying");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            refused += 1;
            if last_warn.is_none_or(|t| t.elapsed() >= REFUSED_WARN_INTERVAL) {
                tracing::warn!(
                    limit = limits.max_connections,
                    refused,
                    "metrics endpoint: connection limit reached; closing new connections"
                );
                last_warn = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            serve_connection(stream, endpoint, limits).await;
            tracing::trace!(%peer, "metrics endpoint: connection closed");
            drop(permit);
        });
    }
}

/// One connection, for at most `connection_deadline` plus one header timeout.
async fn serve_connection(stream: TcpStream, endpoint: Arc<Endpoint>, limits: Limits) {
    let service = service_fn(move |req: Request<Incoming>| {
        let response = respond(&endpoint, &req);
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUF_BYTES);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "metrics endpoint: connection error");
            }
        }
        _ = tokio::time::sleep(limits.connection_deadline) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.header_read_timeout, conn).await;
        }
    }
}

fn respond(endpoint: &Endpoint, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let body = render(&endpoint.progress, &endpoint.timeliness, &endpoint.labels);
            let mut r = text(StatusCode::OK, body);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            r
        }
        "/" => {
            let mut r = text(StatusCode::OK, crate::status_page::PAGE.to_owned());
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        "/status.json" => {
            let body = crate::status_page::status_json(&endpoint.progress, &endpoint.timeliness)
                .to_string();
            let mut r = text(StatusCode::OK, body);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match endpoint.progress.readiness() {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "see / (status page), /status.json, /metrics, /healthz, /readyz\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    /// Bound on every wait in these tests, so a broken server fails them instead of hanging.
    const WAIT: Duration = Duration::from_secs(20);

    struct Server {
        addr: SocketAddr,
        progress: Arc<Progress>,
        task: JoinHandle<Infallible>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn start(limits: Limits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let progress = Arc::new(Progress::default());
        let task = tokio::spawn(serve_listener(
            listener,
            progress.clone(),
            Arc::new(Timeliness::default()),
            LabelSet::new(&[], 100),
            limits,
        ));
        Server {
            addr,
            progress,
            task,
        }
    }

    struct Reply {
        status: u16,
        head: String,
        body: String,
    }

    /// One response at the start of `raw`, if complete (a reply to HEAD has no body).
    fn parse(raw: &[u8], head_only: bool) -> Option<(Reply, usize)> {
        let text = String::from_utf8_lossy(raw);
        let end = text.find("\r\n\r\n")?;
        let head = text[..end].to_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let len = if head_only { 0 } else { len };
        let body = raw.get(end + 4..end + 4 + len)?;
        let body = String::from_utf8_lossy(body).into_owned();
        Some((Reply { status, head, body }, end + 4 + len))
    }

    /// Sends one request on `s` and reads exactly one response, leaving the connection open.
    async fn exchange(s: &mut TcpStream, method: &str, path: &str) -> Reply {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            if let Some((reply, _)) = parse(&raw, method == "HEAD") {
                return reply;
            }
            let n = timeout(WAIT, s.read(&mut buf))
                .await
                .expect("no response in time")
                .unwrap();
            assert!(
                n > 0,
                "connection closed before a full response: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> Reply {
        let mut s = TcpStream::connect(addr).await.unwrap();
        exchange(&mut s, "GET", path).await
    }

    /// Reads until the server closes the connection; returns what it sent.
    async fn read_until_closed(s: &mut TcpStream) -> String {
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match timeout(WAIT, s.read(&mut buf))
                .await
                .expect("server did not close the connection")
            {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&raw).into_owned(),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[tokio::test]
    async fn the_status_page_and_its_json() {
        let server = start(Limits::default()).await;
        let r = get(server.addr, "/").await;
        assert_eq!(r.status, 200);
        assert!(r
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/html"));
        assert!(r.body.contains("/status.json"));
        let r = get(server.addr, "/status.json").await;
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["ready"], false);
        assert!(v.pointer("/windows/month/counties").is_some(), "{v}");
    }

    #[tokio::test]
    async fn slow_client_is_dropped_and_others_are_served() {
        let server = start(Limits {
            header_read_timeout: Duration::from_secs(2),
            ..Limits::default()
        })
        .await;
        let mut slow = TcpStream::connect(server.addr).await.unwrap();
        slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();

        let r = get(server.addr, "/metrics").await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains(&format!("content-type: {METRICS_CONTENT_TYPE}")),
            "{}",
            r.head
        );
        assert!(
            r.body
                .contains("# TYPE govstream_consumer_lag_records gauge"),
            "{}",
            r.body
        );

        // The slow connection was still open while the other client was served ...
        let mut probe = [0u8; 64];
        match slow.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("slow connection answered or closed too early: {other:?}"),
        }
        // ... and the server closes it after the header timeout, without serving it.
        let sent = read_until_closed(&mut slow).await;
        assert!(!sent.contains(" 200 "), "slow client was served: {sent}");
    }

    #[tokio::test]
    async fn readyz_follows_readiness() {
        let server = start(Limits::default()).await;
        let r = get(server.addr, "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(
            r.body,
            "not ready: joining consumer groups and restoring state\n"
        );

        server
            .progress
            .set_broker_problem(Some("all brokers down".into()));
        let r = get(server.addr, "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "not ready: kafka: all brokers down\n");
        server.progress.set_broker_problem(None);

        for stage in 0..3 {
            let r = get(server.addr, "/readyz").await;
            assert_eq!(r.status, 503, "ready before stage {stage}");
            server.progress.stage_ready(stage);
        }
        let r = get(server.addr, "/readyz").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "ready\n");
    }

    #[tokio::test]
    async fn healthz_unknown_paths_and_methods() {
        let server = start(Limits::default()).await;
        let r = get(server.addr, "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

        let r = get(server.addr, "/healthz?verbose=1").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

        let r = get(server.addr, "/nope").await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (
                404,
                "see / (status page), /status.json, /metrics, /healthz, /readyz\n"
            )
        );

        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let r = exchange(&mut s, "HEAD", "/healthz").await;
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        let r = exchange(&mut s, "POST", "/metrics").await;
        assert_eq!(r.status, 405);
        assert!(r.head.to_ascii_lowercase().contains("allow: get, head"));
    }

    #[tokio::test]
    async fn connection_limit_closes_extra_connections() {
        let server = start(Limits {
            header_read_timeout: Duration::from_secs(30),
            connection_deadline: Duration::from_secs(60),
            max_connections: 2,
        })
        .await;
        // Two keep-alive connections, each proven accepted (it got a response), held open.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            assert_eq!(exchange(&mut s, "GET", "/healthz").await.status, 200);
            held.push(s);
        }

        // A third one is closed at once, unserved.
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        let sent = read_until_closed(&mut third).await;
        assert!(sent.is_empty(), "third connection got: {sent}");

        // The held ones still work.
        for s in &mut held {
            assert_eq!(exchange(s, "GET", "/healthz").await.status, 200);
        }

        // Once they go, the server serves again (it notices the close asynchronously).
        drop(held);
        let mut served = None;
        for _ in 0..200 {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .is_ok()
            {
                let sent = read_until_closed_or_reply(&mut s).await;
                if !sent.is_empty() {
                    served = Some(sent);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = served.expect("server never served again after the held connections closed");
        assert!(sent.starts_with("HTTP/1.1 200 OK\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\nok\n"), "{sent}");
    }

    /// Reads one full response, or returns "" if the server closes the connection first.
    async fn read_until_closed_or_reply(s: &mut TcpStream) -> String {
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            if let Some((_, len)) = parse(&raw, false) {
                return String::from_utf8_lossy(&raw[..len]).into_owned();
            }
            match timeout(WAIT, s.read(&mut buf))
                .await
                .expect("neither a response nor a close")
            {
                Ok(0) | Err(_) => return String::new(),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    }
}
