//! From a producing task to an [`EventStream`]: a connector that walks accounts, pages and
//! checkpoints in ordinary async code sends its events into a [`Tx`], and [`events`] turns
//! that task into the stream the runner reads, with backpressure of two events.

use std::future::Future;

use chorus_core::{EventStream, Result, StreamEvent};
use futures::FutureExt;

/// Where a producing task sends its events.
pub type Tx = tokio::sync::mpsc::Sender<Result<StreamEvent>>;

/// Sends one event; false once the reader has gone.
pub async fn send(tx: &Tx, event: StreamEvent) -> bool {
    tx.send(Ok(event)).await.is_ok()
}

/// Runs `produce` on a task and streams what it sends, then its error if it fails. A panic in
/// the task is an error too: without it the stream would simply end, and a run would commit
/// what it read so far as if it were everything.
pub fn events<F, Fut>(produce: F) -> EventStream
where
    F: FnOnce(Tx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let fut = produce(tx.clone());
    tokio::spawn(async move {
        let outcome = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                chorus_core::Error::internal(format!(
                    "the stream's reader panicked ({what}); this is a bug in chorus, please report it"
                ))
            }
        };
        let _ = tx.send(Err(error)).await;
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_reader_ends_its_stream_with_an_error() {
        let mut stream = events(|_tx| async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        });
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("panicked (boom)"), "{err}");
        assert!(stream.next().await.is_none());
    }
}
