//! A small HTTP/1.1 server on hyper for the demo services: bind, tell the
//! caller the port (tests bind port 0), serve a handler until dropped.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A request as the handlers see it: method, path, headers and whole body.
#[derive(Debug)]
pub struct Call {
    /// `GET`, `POST`, …
    pub method: hyper::Method,
    /// The path, without the query.
    pub path: String,
    /// The request headers.
    pub headers: hyper::HeaderMap,
    /// The whole body (small: the services read webhooks and nothing larger).
    pub body: Bytes,
}

/// A response: status, content type and body.
pub type Reply = (StatusCode, &'static str, String);

/// `text/plain` content type.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// `application/json` content type.
pub const JSON: &str = "application/json";
/// The Prometheus text format's content type.
pub const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A running server; it stops when the handle is dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ties a background task (a cache refresher) to the server's lifetime.
    pub(crate) fn also(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds `listen` and serves `handler` on a task of the current runtime.
/// The bound port is written to `port_file` if given (atomically, so that
/// a script polling for it never reads half a number).
pub async fn serve<H, F>(listen: &str, port_file: Option<&Path>, handler: H) -> io::Result<Server>
where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = port_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", addr.port()))?;
        std::fs::rename(&tmp, path)?;
    }
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, most likely: let some close.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let handler = Arc::clone(&handler);
                    async move { Ok::<_, Infallible>(respond(&*handler, req).await) }
                });
                // A client that hangs up mid-request is not the server's problem.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server {
        addr,
        tasks: vec![task],
    })
}

async fn respond<H, F>(handler: &H, req: Request<Incoming>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let call = Call {
        method: parts.method,
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    };
    let (status, content_type, text) = handler(call).await;
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(text)))
        .expect("a valid response")
}
