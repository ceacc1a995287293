//! The commit log: where a pipeline's committed state and pending commits live.
//!
//! Each commit is one JSON record, `commits/<seq>.json`, written atomically and only if that
//! sequence number is still free (so two concurrent runs cannot both commit as the same
//! successor). It lists the tables staged by the run and the full state of every stream after
//! it. Publishing the tables follows, then `commits/<seq>.done` marks the record finished. The
//! state of the pipeline is the state of the newest record; a newest record without its
//! `.done` marker is a commit to finish before anything else.
//!
//! A `--shard i/n` worker keeps its log under `shards/<i>-of-<n>/commits/` instead, so workers
//! that share an output commit independently, each with the state of its own accounts.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chorus_core::{Error, Result, Shard, StagedTable, StreamState};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

/// The version of the commit record format.
pub const RECORD_VERSION: u32 = 1;

/// How many committed records are kept.
pub const KEEP_RECORDS: usize = 20;

/// A table one sink staged in a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedTable {
    /// The sink id.
    pub sink: String,
    /// What it staged.
    pub staged: StagedTable,
}

/// One commit: the tables a run staged and the state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitRecord {
    /// The record format version.
    pub version: u32,
    /// Its position in the log.
    pub seq: u64,
    /// The run that wrote it.
    pub run_id: String,
    /// The pipeline name.
    pub pipeline: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The tables to publish.
    pub tables: Vec<CommittedTable>,
    /// The state of every stream after the commit.
    pub state: BTreeMap<String, StreamState>,
    /// The column types of every stream committed so far (see [`crate::contract`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contracts: crate::contract::Contracts,
}

/// The file, beside `commits/`, that says which marts the last mart rebuild left incomplete.
pub const MART_STATUS_FILE: &str = "marts.json";

/// Which marts the last run that rebuilt them left incomplete: a mart is rebuilt from every
/// committed row even when a stream it reads failed, so it lacks that stream's new rows until a
/// later run reads them. `chorus report` reads this to warn on the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MartStatus {
    /// The format version.
    pub version: u32,
    /// The run that rebuilt the marts.
    pub run_id: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Per incomplete mart, the streams that failed in that run.
    pub incomplete: BTreeMap<String, Vec<String>>,
}

impl MartStatus {
    /// Reads the status from the state folder of a local pipeline, if one was written.
    pub fn read_local(state_dir: &std::path::Path) -> Result<Option<Self>> {
        let path = state_dir.join(MART_STATUS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("{}: {e}", path.display()))),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::io(format!(
                "{} is not a mart status chorus wrote: {e}",
                path.display()
            ))
        })
    }
}

/// The newest record and whether it is finished.
#[derive(Debug, Clone)]
pub struct Head {
    /// The record.
    pub record: CommitRecord,
    /// Whether its `.done` marker exists.
    pub done: bool,
}

/// The commit log of one pipeline.
pub struct CommitLog {
    store: Arc<dyn ObjectStore>,
    location: String,
    /// The lane's folder: the root, or `shards/<i>-of-<n>` for a `--shard` worker.
    lane: Path,
    /// `commits` in the lane's folder.
    dir: Path,
}

impl CommitLog {
    /// The log in `store` (the state location's root); `location` is for messages.
    pub fn new(store: Arc<dyn ObjectStore>, location: impl Into<String>) -> Self {
        Self {
            store,
            location: location.into(),
            lane: Path::from(""),
            dir: Path::from("commits"),
        }
    }

    /// The log of one `--shard` worker: its own records and state, beside the others'.
    #[must_use]
    pub fn for_shard(mut self, shard: Shard) -> Self {
        if shard.is_split() {
            self.lane = Path::from_iter([
                "shards".to_owned(),
                format!("{}-of-{}", shard.index(), shard.count()),
            ]);
            self.dir = self.lane.clone().join("commits");
        }
        self
    }

    /// Takes the lease of this log's lane for run `run_id` (see [`crate::lease`]): fails with
    /// exit 75 while another run of the pipeline holds it.
    pub async fn lease(&self, pipeline: &str, run_id: &str) -> Result<crate::lease::Lease> {
        crate::lease::Lease::acquire(
            Arc::clone(&self.store),
            &self.lane,
            &self.location,
            pipeline,
            run_id,
            crate::lease::ttl_from_env(),
        )
        .await
    }

    fn record_path(&self, seq: u64) -> Path {
        self.dir.clone().join(format!("{seq:010}.json"))
    }

    fn done_path(&self, seq: u64) -> Path {
        self.dir.clone().join(format!("{seq:010}.done"))
    }

    async fn sequence_numbers(&self) -> Result<Vec<(u64, bool)>> {
        let metas: Vec<_> = self
            .store
            .list(Some(&self.dir))
            .try_collect()
            .await
            .map_err(|e| {
                Error::io(format!(
                    "failed to list the commit log at {}: {e}",
                    self.location
                ))
            })?;
        let mut records: BTreeMap<u64, bool> = BTreeMap::new();
        for m in metas {
            let Some(name) = m.location.filename() else {
                continue;
            };
            if let Some(seq) = name.strip_suffix(".json").and_then(|n| n.parse().ok()) {
                records.entry(seq).or_insert(false);
            } else if let Some(seq) = name
                .strip_suffix(".done")
                .and_then(|n| n.parse::<u64>().ok())
            {
                records.insert(seq, true);
            }
        }
        Ok(records.into_iter().collect())
    }

    async fn read(&self, seq: u64) -> Result<CommitRecord> {
        let path = self.record_path(seq);
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|e| Error::io(format!("failed to read commit record {path}: {e}")))?
            .bytes()
            .await
            .map_err(|e| Error::io(format!("failed to read commit record {path}: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                chorus_core::ErrorKind::Internal,
                format!("commit record {path} in {} is corrupt: {e}", self.location),
            )
        })
    }

    /// The newest record, if any.
    pub async fn head(&self) -> Result<Option<Head>> {
        match self.sequence_numbers().await?.last() {
            Some(&(seq, done)) => Ok(Some(Head {
                record: self.read(seq).await?,
                done,
            })),
            None => Ok(None),
        }
    }

    /// The committed state of every stream.
    pub async fn state(&self) -> Result<BTreeMap<String, StreamState>> {
        Ok(self
            .head()
            .await?
            .map(|h| h.record.state)
            .unwrap_or_default())
    }

    /// Writes a record atomically, failing if its sequence number is taken.
    pub async fn write(&self, record: &CommitRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::internal(format!("cannot encode the commit record: {e}")))?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(
                &self.record_path(record.seq),
                Bytes::from(json).into(),
                opts,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(Error::new(
                chorus_core::ErrorKind::Transient,
                format!(
                    "another run of pipeline \"{}\" committed first (commit {} exists in {}); nothing of this run was published. Run the pipeline again once that run has finished: it resumes from the state the other run committed",
                    record.pipeline, record.seq, self.location
                ),
            )),
            Err(e) => Err(Error::io(format!(
                "failed to write the commit record to {}: {e}",
                self.location
            ))),
        }
    }

    /// Replaces the record of which marts are incomplete (a plain overwrite: the newest run's
    /// word is the one that counts).
    pub async fn write_mart_status(&self, status: &MartStatus) -> Result<()> {
        let json = serde_json::to_vec_pretty(status)
            .map_err(|e| Error::internal(format!("cannot encode the mart status: {e}")))?;
        self.store
            .put(&Path::from(MART_STATUS_FILE), Bytes::from(json).into())
            .await
            .map(|_| ())
            .map_err(|e| {
                Error::io(format!(
                    "failed to write {MART_STATUS_FILE} to {}: {e}",
                    self.location
                ))
            })
    }

    /// Marks a record finished.
    pub async fn mark_done(&self, seq: u64) -> Result<()> {
        self.store
            .put(&self.done_path(seq), Bytes::from_static(b"").into())
            .await
            .map(|_| ())
            .map_err(|e| {
                Error::io(format!(
                    "failed to mark commit {seq} done in {}: {e}",
                    self.location
                ))
            })
    }

    /// Deletes finished records beyond the newest [`KEEP_RECORDS`].
    pub async fn prune(&self) -> Result<()> {
        let seqs = self.sequence_numbers().await?;
        if seqs.len() <= KEEP_RECORDS {
            return Ok(());
        }
        for (seq, done) in &seqs[..seqs.len() - KEEP_RECORDS] {
            if *done {
                for path in [self.record_path(*seq), self.done_path(*seq)] {
                    match self.store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(Error::io(format!("failed to prune {path}: {e}"))),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_core::Cursor;

    fn record(seq: u64) -> CommitRecord {
        CommitRecord {
            contracts: BTreeMap::new(),
            version: RECORD_VERSION,
            seq,
            run_id: format!("r{seq}"),
            pipeline: "p".into(),
            created_at: Utc::now(),
            tables: vec![],
            state: BTreeMap::from([(
                "s.a".to_owned(),
                StreamState::at(Cursor::Id(seq.to_string())),
            )]),
        }
    }

    #[tokio::test]
    async fn the_newest_record_is_the_state_and_sequence_numbers_are_exclusive() {
        let log = CommitLog::new(Arc::new(object_store::memory::InMemory::new()), "mem");
        assert!(log.head().await.unwrap().is_none());
        log.write(&record(1)).await.unwrap();
        log.mark_done(1).await.unwrap();
        log.write(&record(2)).await.unwrap();
        let head = log.head().await.unwrap().unwrap();
        assert_eq!(head.record.seq, 2);
        assert!(!head.done);
        let err = log.write(&record(2)).await.unwrap_err();
        assert!(err.to_string().contains("committed first"), "{err}");
        assert_eq!(
            log.state().await.unwrap()["s.a"].cursor,
            Some(Cursor::Id("2".into()))
        );
    }

    #[tokio::test]
    async fn prune_keeps_the_newest_records() {
        let log = CommitLog::new(Arc::new(object_store::memory::InMemory::new()), "mem");
        for seq in 1..=25 {
            log.write(&record(seq)).await.unwrap();
            log.mark_done(seq).await.unwrap();
        }
        log.prune().await.unwrap();
        assert_eq!(log.sequence_numbers().await.unwrap().len(), KEEP_RECORDS);
        assert_eq!(log.head().await.unwrap().unwrap().record.seq, 25);
    }

    #[tokio::test]
    async fn each_shard_keeps_its_own_log() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let whole = CommitLog::new(Arc::clone(&store), "mem");
        let one = CommitLog::new(Arc::clone(&store), "mem").for_shard(Shard::new(1, 4).unwrap());
        let two = CommitLog::new(Arc::clone(&store), "mem").for_shard(Shard::new(2, 4).unwrap());
        one.write(&record(1)).await.unwrap();
        two.write(&record(1)).await.unwrap();
        two.write(&record(2)).await.unwrap();
        assert!(whole.head().await.unwrap().is_none());
        assert_eq!(one.head().await.unwrap().unwrap().record.seq, 1);
        assert_eq!(two.head().await.unwrap().unwrap().record.seq, 2);
        assert!(
            store
                .head(&Path::from("shards/2-of-4/commits/0000000002.json"))
                .await
                .is_ok()
        );
    }
}
