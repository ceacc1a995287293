//! The lease: at most one run of a pipeline's lane at a time.
//!
//! A run takes the lease before it touches anything (finishing a pending commit, cleaning
//! staging, reading state), so a second run of the same pipeline — started by an impatient
//! orchestrator, a cron overlap or a human — exits 75 before it can delete the first run's
//! staged files. Each `--shard` worker has a lane, and so a lease, of its own.
//!
//! The lease is a series of generation objects, `lease/<gen>.json` in the state location. Taking
//! it is creating the next generation with a conditional create (`If-None-Match: *` on S3, a
//! create-if-absent on a local folder), which exactly one of several racing runs wins; no store
//! needs a compare-and-swap. The newest generation says who holds the lease and until when. Its
//! holder renews it every [`Lease::ttl`] / 3 and marks it released when the run ends. A newer
//! run takes the lease over when the newest generation is released, has expired, or was
//! written by a process on this machine that is no longer running (so a run killed with
//! `kill -9` is followed at once by the next one, without waiting for the expiry). Before it
//! commits, the holder checks that no newer generation exists (a fence: a run paused for longer
//! than the expiry must not commit over the run that took over).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_core::{Error, ErrorKind, Result};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

/// How long a lease lasts without renewal, unless `CHORUS_LEASE_TTL_SECS` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The environment variable that sets the lease's expiry in seconds.
pub const TTL_ENV: &str = "CHORUS_LEASE_TTL_SECS";

/// The folder of the lease generations, beside `commits/`.
const DIR: &str = "lease";

/// The lease's expiry: [`TTL_ENV`] when set to a whole number of seconds (at least 1), else
/// [`DEFAULT_TTL`].
pub fn ttl_from_env() -> Duration {
    std::env::var(TTL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(DEFAULT_TTL, Duration::from_secs)
}

/// Which process wrote a lease generation: enough to tell, on the same machine, whether it
/// still runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// The host name.
    pub host: String,
    /// The kernel's boot id, if known: a reboot ends every process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The pid namespace, if known: pids are only comparable within one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
    /// The process id.
    pub pid: u32,
    /// When the process started, in clock ticks since boot, if known: tells a reused pid apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl Process {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: read_trimmed("/proc/sys/kernel/hostname")
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "unknown".into()),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
            pid,
            start_ticks: start_ticks(pid),
        }
    }

    /// Whether `self` (a lease's writer) is known to be gone, judged from `here`: only a
    /// process on the same machine, boot and pid namespace can be judged; any other is
    /// presumed alive until its lease expires.
    fn is_gone(&self, here: &Process) -> bool {
        if self.host != here.host || self.boot_id.is_none() || self.pid_ns.is_none() {
            return false;
        }
        if self.boot_id != here.boot_id {
            // Same host, another boot: the machine restarted since.
            return true;
        }
        if self.pid_ns != here.pid_ns {
            return false;
        }
        if self.pid == here.pid {
            // Our own pid, but we hold no lease yet: an earlier process that had this pid (a
            // restarted container is pid 1 again) — unless it also started when we did.
            return self.start_ticks != here.start_ticks;
        }
        match start_ticks(self.pid) {
            None => true,
            Some(now) => self.start_ticks.is_some_and(|then| then != now),
        }
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Field 22 of `/proc/<pid>/stat`: when the process started; `None` when it does not exist.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// One generation of the lease: who took it and until when it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    /// The format version.
    pub version: u32,
    /// The pipeline.
    pub pipeline: String,
    /// The run that holds it.
    pub run_id: String,
    /// The process of that run.
    pub process: Process,
    /// When the run took it.
    pub acquired_at: DateTime<Utc>,
    /// When it lapses unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Whether the run has ended and given it up.
    #[serde(default)]
    pub released: bool,
}

impl Holder {
    /// Why this generation no longer holds the lease, if it does not.
    fn lapsed(&self, now: DateTime<Utc>, here: &Process) -> Option<&'static str> {
        if self.released {
            Some("released")
        } else if now >= self.expires_at {
            Some("expired")
        } else if self.process.is_gone(here) {
            Some("its process is gone")
        } else {
            None
        }
    }
}

/// The lease of one pipeline lane, held by this run until [`Lease::release`] (or the process
/// ends, after which it lapses).
pub struct Lease {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    location: String,
    generation: u64,
    holder: Holder,
    ttl: Duration,
    renewer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("dir", &self.dir)
            .field("generation", &self.generation)
            .field("run_id", &self.holder.run_id)
            .finish_non_exhaustive()
    }
}

fn generation_path(dir: &Path, generation: u64) -> Path {
    dir.clone().join(format!("{generation:020}.json"))
}

fn to_bytes(holder: &Holder) -> Result<Bytes> {
    serde_json::to_vec_pretty(holder)
        .map(Bytes::from)
        .map_err(|e| Error::internal(format!("cannot encode the lease: {e}")))
}

impl Lease {
    /// Takes the lease of the lane whose folder in `store` is `lane` (the state location's root,
    /// or a `--shard` worker's folder) for run `run_id`, or fails with a transient error (exit
    /// 75) naming the run that holds it. `location` names the state location in messages.
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        lane: &Path,
        location: &str,
        pipeline: &str,
        run_id: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let dir = lane.clone().join(DIR);
        let here = Process::current();
        let io = |what: &str, e: object_store::Error| {
            let message = format!(
                "failed to {what} the pipeline's lease, beside its commit log in {location}: {e}"
            );
            match e {
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. } => {
                    Error::new(ErrorKind::Auth, message)
                }
                // With what to do about a full or read-only disk.
                _ => Error::io(message),
            }
        };
        let generations = list_generations(&store, &dir)
            .await
            .map_err(|e| io("list", e))?;
        let newest = generations.last().copied();
        if let Some(generation) = newest {
            match read_holder(&store, &generation_path(&dir, generation)).await {
                Ok(Some(holder)) => {
                    let now = Utc::now();
                    match holder.lapsed(now, &here) {
                        None => return Err(busy(&holder, location)),
                        // A released lease is the normal case; only a lapsed one is news.
                        Some("released") => {}
                        Some(why) => tracing::info!(
                            run_id = %holder.run_id,
                            generation,
                            "Taking over the lease of pipeline {pipeline:?}: {why}."
                        ),
                    }
                }
                // Deleted since the listing (a newer generation exists) or never readable:
                // let the conditional create decide.
                Ok(None) => {}
                Err(e) => return Err(io("read", e)),
            }
        }
        let generation = newest.map_or(1, |g| g + 1);
        let now = Utc::now();
        let holder = Holder {
            version: 1,
            pipeline: pipeline.to_owned(),
            run_id: run_id.to_owned(),
            process: here,
            acquired_at: now,
            expires_at: now + ttl,
            released: false,
        };
        let path = generation_path(&dir, generation);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match store.put_opts(&path, to_bytes(&holder)?.into(), opts).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                // Another run took this generation first: it holds the lease.
                return Err(match read_holder(&store, &path).await {
                    Ok(Some(winner)) => busy(&winner, location),
                    _ => Error::new(
                        ErrorKind::Transient,
                        format!(
                            "another run of pipeline \"{pipeline}\" took its lease in {location} at the same moment; nothing of this run was read or written. Run the pipeline again once that run has finished"
                        ),
                    ),
                });
            }
            Err(e) => return Err(io("take", e)),
        }
        // Older generations are history: drop them (best effort; the newest one counts).
        for old in generations {
            let _ = store.delete(&generation_path(&dir, old)).await;
        }
        let mut lease = Lease {
            store,
            dir,
            location: location.to_owned(),
            generation,
            holder,
            ttl,
            renewer: None,
        };
        lease.renewer = Some(lease.spawn_renewer());
        Ok(lease)
    }

    /// How long the lease lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The generation this run holds.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn spawn_renewer(&self) -> JoinHandle<()> {
        let store = Arc::clone(&self.store);
        let path = generation_path(&self.dir, self.generation);
        let mut holder = self.holder.clone();
        let ttl = self.ttl;
        tokio::spawn(async move {
            let every = (ttl / 3).max(Duration::from_millis(100));
            loop {
                tokio::time::sleep(every).await;
                holder.expires_at = Utc::now() + ttl;
                let Ok(bytes) = to_bytes(&holder) else { return };
                if let Err(e) = store.put(&path, bytes.into()).await {
                    tracing::warn!(error = %e, "Could not renew the pipeline's lease; it lapses unless a later renewal succeeds.");
                }
            }
        })
    }

    /// Fails (exit 75) when another run has taken the lease over since this run took it: this
    /// run must not commit then.
    pub async fn check(&self) -> Result<()> {
        let generations = list_generations(&self.store, &self.dir)
            .await
            .map_err(|e| {
                Error::io(format!(
                    "failed to list the lease in {}: {e}",
                    self.location
                ))
            })?;
        let Some(&newest) = generations.last() else {
            return Ok(());
        };
        if newest <= self.generation {
            return Ok(());
        }
        let by = match read_holder(&self.store, &generation_path(&self.dir, newest)).await {
            Ok(Some(h)) => format!("run {} on {}", h.run_id, h.process.host),
            _ => "another run".to_owned(),
        };
        Err(Error::new(
            ErrorKind::Transient,
            format!(
                "this run's lease of pipeline \"{}\" lapsed (it was not renewed for {} s) and {by} took it over; nothing of this run was published. Run the pipeline again once that run has finished",
                self.holder.pipeline,
                self.ttl.as_secs()
            ),
        ))
    }

    /// Gives the lease up, so the next run need not wait for it to expire.
    pub async fn release(mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        let mut holder = self.holder.clone();
        holder.released = true;
        holder.expires_at = Utc::now();
        let path = generation_path(&self.dir, self.generation);
        // Only our own generation, and only while it is the newest: never resurrect a lease
        // another run took over.
        if self.check().await.is_err() {
            return;
        }
        if let Ok(bytes) = to_bytes(&holder)
            && let Err(e) = self.store.put(&path, bytes.into()).await
        {
            tracing::warn!(error = %e, "Could not release the pipeline's lease; it expires on its own.");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
    }
}

fn busy(holder: &Holder, location: &str) -> Error {
    let p = &holder.process;
    Error::new(
        ErrorKind::Transient,
        format!(
            "another run of pipeline \"{}\" is running (run {} on host {}, pid {}, since {}); nothing of this run was read or written. Run the pipeline again once that run has finished; if that run died, its lease in {location} lapses at {}",
            holder.pipeline,
            holder.run_id,
            p.host,
            p.pid,
            holder.acquired_at.format("%Y-%m-%dT%H:%M:%SZ"),
            holder.expires_at.format("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
}

async fn list_generations(
    store: &Arc<dyn ObjectStore>,
    dir: &Path,
) -> std::result::Result<Vec<u64>, object_store::Error> {
    let metas: Vec<_> = store.list(Some(dir)).try_collect().await?;
    let mut generations: Vec<u64> = metas
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
        .collect();
    generations.sort_unstable();
    Ok(generations)
}

/// The holder in a generation object; `None` when it is gone or unreadable (a torn or foreign
/// file must not lock a pipeline forever).
async fn read_holder(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
) -> std::result::Result<Option<Holder>, object_store::Error> {
    let bytes = match store.get(path).await {
        Ok(r) => r.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Arc<dyn ObjectStore> {
        Arc::new(object_store::memory::InMemory::new())
    }

    async fn take(store: &Arc<dyn ObjectStore>, run: &str, ttl: Duration) -> Result<Lease> {
        Lease::acquire(Arc::clone(store), &Path::from(""), "mem", "p", run, ttl).await
    }

    #[tokio::test]
    async fn a_second_run_is_refused_while_the_first_holds_the_lease() {
        let store = mem();
        let first = take(&store, "r1", Duration::from_secs(60)).await.unwrap();
        let err = take(&store, "r2", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(err.to_string().contains("run r1 on host"), "{err}");
        first.check().await.unwrap();
        first.release().await;
        let second = take(&store, "r2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(second.generation(), 2);
        // The older generation was dropped.
        assert_eq!(
            list_generations(&store, &Path::from(DIR)).await.unwrap(),
            vec![2]
        );
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_its_holder_may_not_commit() {
        let store = mem();
        let first = take(&store, "r1", Duration::from_secs(60)).await.unwrap();
        // Make the lease look expired, as if its holder stopped renewing it.
        let mut stale = first.holder.clone();
        stale.expires_at = Utc::now() - chrono::Duration::seconds(1);
        stale.process.host = "elsewhere".into();
        let path = generation_path(&first.dir, first.generation);
        store
            .put(&path, to_bytes(&stale).unwrap().into())
            .await
            .unwrap();
        let second = take(&store, "r2", Duration::from_secs(60)).await.unwrap();
        let err = first.check().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient);
        assert!(err.to_string().contains("took it over"), "{err}");
        // Releasing the stale lease does not free the new holder's.
        first.release().await;
        assert!(take(&store, "r3", Duration::from_secs(60)).await.is_err());
        second.check().await.unwrap();
    }

    #[tokio::test]
    async fn a_lease_of_a_process_that_is_gone_is_taken_over_at_once() {
        let store = mem();
        let first = take(&store, "r1", Duration::from_secs(3600)).await.unwrap();
        let mut dead = first.holder.clone();
        // A pid no process has, on this machine.
        dead.process.pid = u32::MAX - 7;
        dead.process.start_ticks = Some(1);
        store
            .put(
                &generation_path(&first.dir, first.generation),
                to_bytes(&dead).unwrap().into(),
            )
            .await
            .unwrap();
        drop(first);
        let here = Process::current();
        if here.boot_id.is_some() && here.pid_ns.is_some() {
            take(&store, "r2", Duration::from_secs(3600)).await.unwrap();
        } else {
            // Without /proc nothing can be judged: the lease holds until it expires.
            assert!(take(&store, "r2", Duration::from_secs(3600)).await.is_err());
        }
    }

    #[tokio::test]
    async fn a_live_process_on_another_host_is_presumed_alive() {
        let here = Process::current();
        let mut there = here.clone();
        there.host = format!("{}-other", here.host);
        there.pid = u32::MAX - 7;
        assert!(!there.is_gone(&here));
        // The same pid and start as ours is this very process.
        assert!(!here.is_gone(&here));
    }

    #[tokio::test]
    async fn the_lease_is_renewed_while_held() {
        let store = mem();
        let lease = take(&store, "r1", Duration::from_millis(300))
            .await
            .unwrap();
        let path = generation_path(&lease.dir, lease.generation);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let holder = read_holder(&store, &path).await.unwrap().unwrap();
        assert!(holder.expires_at > Utc::now(), "renewed: {holder:?}");
        assert!(take(&store, "r2", Duration::from_secs(60)).await.is_err());
        lease.release().await;
        let holder = read_holder(&store, &path).await.unwrap().unwrap();
        assert!(holder.released);
    }

    #[tokio::test]
    async fn a_torn_lease_file_does_not_lock_the_pipeline() {
        let store = mem();
        store
            .put(
                &generation_path(&Path::from(DIR), 4),
                Bytes::from_static(b"{\"vers").into(),
            )
            .await
            .unwrap();
        let lease = take(&store, "r1", Duration::from_secs(60)).await.unwrap();
        assert_eq!(lease.generation(), 5);
    }
}
