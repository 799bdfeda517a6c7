//! Connections the server can afford: at most [`MAX_CONNECTIONS`] open at once (one more is
//! answered 503 and closed), and a connection on which nothing has been answered for a while
//! is closed — whether it sent nothing, a header line now and then, or a body too slowly.
//!
//! The clock of a connection starts when it is accepted and again whenever a response is
//! written; reading does not reset it. It allows [`HEADER_TIMEOUT`] to send a request's head,
//! plus the request deadline (`--timeout`, after which the request itself gets 504).

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once; well below the usual limit of 1,024 open files.
pub const MAX_CONNECTIONS: usize = 512;

/// Time a client has to send a request's head, on a new connection or after a response.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection over the limit gets before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 57\r\n\r\n{\"error\": \"too many connections; try again in a moment\"}\n";

/// A TCP listener that hands out [`Guarded`] connections, at most [`MAX_CONNECTIONS`] at once.
pub struct Limited {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    /// How long a connection may go without a response.
    idle: Duration,
}

impl Limited {
    /// `request_timeout` is the server's `--timeout`.
    pub fn new(inner: TcpListener, request_timeout: Duration) -> Self {
        Limited { inner, slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)), idle: HEADER_TIMEOUT + request_timeout }
    }
}

impl Listener for Limited {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(c) => c,
                Err(_) => {
                    // Out of file descriptors or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => return (Guarded::new(stream, permit, self.idle), addr),
                Err(_) => {
                    // The answer fits the empty send buffer of a new socket. What the client
                    // sent is read (for at most a second) so that closing does not reset the
                    // connection before the client has read the answer.
                    let _ = stream.try_write(BUSY);
                    tokio::spawn(tokio::time::timeout(Duration::from_secs(1), async move {
                        let mut buf = [0u8; 4096];
                        while stream.readable().await.is_ok() {
                            match stream.try_read(&mut buf) {
                                Ok(0) => break,
                                Ok(_) => {}
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                                Err(_) => break,
                            }
                        }
                    }));
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection holding its slot, closed (reads fail with `TimedOut`) when no response has been
/// written for its idle time.
pub struct Guarded {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, idle: Duration) -> Self {
        Guarded { stream, _slot: slot, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no request in time")));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let next = Instant::now() + self.idle;
            self.deadline.as_mut().reset(next);
        }
        written
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            let next = Instant::now() + self.idle;
            self.deadline.as_mut().reset(next);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
