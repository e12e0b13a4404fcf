//! Group commit: the short write transactions of many requests run in one database transaction.
//!
//! Reading a person writes an audit entry in the same transaction as the read, so every page view
//! is a write, and a database has one writer (SQLite) or one audit-chain lock (PostgreSQL) at a
//! time. Committing each view alone costs more than the view itself. A [`WriteBatcher`] takes the
//! pieces of work that arrive while a transaction is running and runs them together in the next
//! one; each caller is answered only after the common commit succeeded. A read is still audited in
//! the transaction that read it, and nothing is shown before its audit entry is durable.
//!
//! The pieces' audit entries are collected as they are recorded and appended to the chain with one
//! statement just before the commit (`audit::DEFERRED`), instead of a read of the chain's head and
//! an insert per piece.
//!
//! Optimistic, without a savepoint per piece (two statements saved on every request): when a piece
//! fails or discards its writes, the whole transaction is rolled back, that piece is answered, and
//! the other pieces run again in the next transaction. So a piece must be safe to run more than
//! once — which it is when all its effects are in the database (a `Fn`, not a `FnOnce`).

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::anyhow;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Backend, Db, Tx, audit};

/// A boxed future borrowing the transaction.
pub type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// What a piece of work decides about its own writes.
pub enum Outcome<T> {
    /// Keep the writes; the caller gets `T` once the batch has committed.
    Keep(T),
    /// Undo this piece's writes and give the caller `T`, e.g. a record that may not be shown,
    /// whose read must then leave no audit entry.
    Discard(T),
}

type Erased = Box<dyn Any + Send>;
type Work =
    Box<dyn for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, anyhow::Result<Outcome<Erased>>> + Send + Sync>;

struct Job {
    work: Work,
    done: oneshot::Sender<anyhow::Result<Erased>>,
}

/// Runs pieces of write work in shared transactions; cheap to clone.
#[derive(Clone)]
pub struct WriteBatcher {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for WriteBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteBatcher")
    }
}

/// At most this many pieces share one transaction, so one commit never waits on a long queue.
const MAX_BATCH: usize = 64;
/// Batching loops on PostgreSQL (each holds one pooled connection while a batch runs).
const POSTGRES_LOOPS: usize = 4;

impl WriteBatcher {
    /// Start the batching task on the current Tokio runtime. It ends when every clone is dropped.
    pub fn start(db: Db) -> WriteBatcher {
        let (jobs, rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        // SQLite has one writer: one loop. PostgreSQL runs several batches at once (their reads in
        // parallel); they meet only at the audit chain's lock, taken just before each commit.
        let loops = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_LOOPS,
        };
        for _ in 0..loops {
            let (db, rx) = (db.clone(), rx.clone());
            tokio::spawn(async move {
                // A panic outside the pieces (they are caught one by one) takes its batch down, never
                // the batcher: the loop is started again.
                loop {
                    match tokio::spawn(run(db.clone(), rx.clone())).await {
                        Ok(()) => break,
                        Err(e) if e.is_panic() => {
                            tracing::error!("a batched transaction panicked; batcher restarted")
                        }
                        Err(_) => break,
                    }
                }
            });
        }
        WriteBatcher { jobs }
    }

    /// Run `work` in a transaction shared with other callers' work; see [`Outcome`].
    pub async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, anyhow::Result<Outcome<T>>>
            + Send
            + Sync
            + 'static,
    {
        let work: Work = Box::new(move |tx: &mut Tx| {
            let piece = work(tx);
            Box::pin(async move {
                Ok(match piece.await? {
                    Outcome::Keep(v) => Outcome::Keep(Box::new(v) as Erased),
                    Outcome::Discard(v) => Outcome::Discard(Box::new(v) as Erased),
                })
            })
        });
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { work, done })
            .await
            .map_err(|_| anyhow!("the write batcher has stopped"))?;
        let value = answer
            .await
            .map_err(|_| anyhow!("the batched transaction failed"))??;
        value
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| anyhow!("batched work returned the wrong type"))
    }
}

/// A future that turns a panic while polling it into an error, so one piece's bug fails only that
/// piece (the other pieces of its batch run again).
struct CatchUnwind<F: ?Sized>(Pin<Box<F>>);

impl<T, F: Future<Output = anyhow::Result<T>> + ?Sized> Future for CatchUnwind<F> {
    type Output = anyhow::Result<T>;
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(_) => std::task::Poll::Ready(Err(anyhow!("batched work panicked"))),
        }
    }
}

async fn run(db: Db, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    // Pieces to run again after a rollback come first, in their order of arrival.
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        // The receiver is shared by the loops; each takes a batch and lets go. A loop with pieces
        // to run again never waits for it: another loop may hold it while waiting for new work.
        let held = if waiting.is_empty() {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(j) => waiting.push_back(j),
                None => return,
            }
            Some(rx)
        } else {
            rx.try_lock().ok()
        };
        if let Some(mut rx) = held {
            while waiting.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => waiting.push_back(j),
                    Err(_) => break,
                }
            }
        }
        let batch: Vec<Job> = waiting.drain(..waiting.len().min(MAX_BATCH)).collect();
        let mut tx = match db.begin().await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a batched transaction");
                for j in batch {
                    let _ = j.done.send(Err(anyhow!("cannot begin a transaction: {e}")));
                }
                continue;
            }
        };
        let mut kept: Vec<(Job, Erased)> = Vec::with_capacity(batch.len());
        let mut pieces = batch.into_iter();
        let mut stopped: Option<(Job, anyhow::Result<Erased>)> = None;
        // The pieces' audit entries, appended by one statement before the commit.
        let entries = Arc::new(std::sync::Mutex::new(Vec::new()));
        for job in pieces.by_ref() {
            let piece = CatchUnwind((job.work)(&mut tx));
            match audit::DEFERRED.scope(entries.clone(), piece).await {
                Ok(Outcome::Keep(v)) => kept.push((job, v)),
                Ok(Outcome::Discard(v)) => {
                    stopped = Some((job, Ok(v)));
                    break;
                }
                Err(e) => {
                    stopped = Some((job, Err(e)));
                    break;
                }
            }
        }
        if let Some((job, answer)) = stopped {
            // Undo everything, answer this piece, run the others again (they have not been answered).
            if let Err(e) = tx.rollback().await {
                tracing::error!(error = %e, "rollback of a batched transaction failed");
            }
            let _ = job.done.send(answer);
            let rest: Vec<Job> = kept.into_iter().map(|(j, _)| j).chain(pieces).collect();
            for j in rest.into_iter().rev() {
                waiting.push_front(j);
            }
            continue;
        }
        let entries = std::mem::take(
            &mut *entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let committed = match audit::append(&mut tx, entries).await {
            Ok(()) => tx.commit().await,
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        };
        match committed {
            Ok(()) => {
                for (job, v) in kept {
                    let _ = job.done.send(Ok(v));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a batched transaction did not commit");
                for (job, _) in kept {
                    let _ = job
                        .done
                        .send(Err(anyhow!("the transaction did not commit: {e}")));
                }
            }
        }
    }
}
