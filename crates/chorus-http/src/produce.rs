//! From a producing task to an [`EventStream`]: a connector that walks accounts, pages and
//! checkpoints in ordinary async code sends its events into a [`Tx`], and [`events`] turns
//! that task into the stream the runner reads, with backpressure of two events.

use std::future::Future;

use chorus_core::{EventStream, Result, StreamEvent};

/// Where a producing task sends its events.
pub type Tx = tokio::sync::mpsc::Sender<Result<StreamEvent>>;

/// Sends one event; false once the reader has gone.
pub async fn send(tx: &Tx, event: StreamEvent) -> bool {
    tx.send(Ok(event)).await.is_ok()
}

/// Runs `produce` on a task and streams what it sends, then its error if it fails.
pub fn events<F, Fut>(produce: F) -> EventStream
where
    F: FnOnce(Tx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let fut = produce(tx.clone());
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            let _ = tx.send(Err(e)).await;
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }))
}
