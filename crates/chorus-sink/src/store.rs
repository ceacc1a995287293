//! The storage a sink (and the runner's state) writes through.
//!
//! A [`Location`] is parsed offline from the `path` setting and opened at run time, when its
//! folder is created. Local folders and `file://` URLs are served by `object_store`'s local
//! file system, whose writes go to a temporary file renamed into place, so a reader never sees
//! half a file.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use chorus_core::{Error, Result};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tokio::sync::OnceCell;

/// A place tables are written to.
#[derive(Debug)]
pub struct Location {
    root: PathBuf,
    store: OnceCell<Arc<dyn ObjectStore>>,
}

impl Location {
    /// Parses a `path` setting: a folder, relative to `base_dir` unless absolute, or a
    /// `file://` URL. Checks offline that it could be created and written.
    pub fn parse(path: &str, base_dir: &FsPath) -> std::result::Result<Self, String> {
        let root = if let Some(rest) = path.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some((scheme, _)) = path.split_once("://") {
            return Err(format!(
                "the `{scheme}://` scheme is not supported by this version of chorus; use a local folder or a file:// URL"
            ));
        } else if FsPath::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            base_dir.join(path)
        };
        if path.trim().is_empty() {
            return Err("the path is empty".into());
        }
        let root = normalise(&root);
        check_creatable(&root)?;
        Ok(Self {
            root,
            store: OnceCell::new(),
        })
    }

    /// The root folder, for messages and plans.
    pub fn display(&self) -> String {
        self.root.display().to_string()
    }

    /// The local root folder.
    pub fn root(&self) -> &FsPath {
        &self.root
    }

    /// Opens the store, creating the root folder on first use.
    pub async fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        self.store
            .get_or_try_init(|| async {
                tokio::fs::create_dir_all(&self.root).await.map_err(|e| {
                    Error::io(format!("cannot create {}: {e}", self.root.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(&self.root)
                    .map_err(|e| Error::io(format!("cannot open {}: {e}", self.root.display())))?
                    .with_automatic_cleanup(true);
                Ok(Arc::new(fs) as Arc<dyn ObjectStore>)
            })
            .await
            .cloned()
    }
}

/// Removes `.` and `a/..` from a path without touching the file system.
fn normalise(path: &FsPath) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Checks that `root` is, or could be created as, a writable folder.
fn check_creatable(root: &FsPath) -> std::result::Result<(), String> {
    let mut current = Some(root);
    while let Some(dir) = current {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                if meta.permissions().readonly() {
                    return Err(format!("{} is read-only", dir.display()));
                }
                return Ok(());
            }
            Ok(_) => {
                return Err(format!("{} is a file, not a folder", dir.display()));
            }
            Err(_) => current = dir.parent(),
        }
    }
    Ok(())
}

/// Maps an `object_store` error into a chorus I/O error naming what was being done.
pub fn io_error(what: impl std::fmt::Display, err: object_store::Error) -> Error {
    Error::io(format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_pipeline_folder() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse("out/lake", dir.path()).unwrap();
        assert_eq!(loc.root(), dir.path().join("out/lake"));
        let loc = Location::parse("../out/./lake", &dir.path().join("pipelines")).unwrap();
        assert_eq!(loc.root(), dir.path().join("out/lake"));
        assert_eq!(
            normalise(FsPath::new("../a/../../b")),
            PathBuf::from("../../b")
        );
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let err = Location::parse("f/lake", dir.path()).unwrap_err();
        assert!(err.ends_with("is a file, not a folder"), "{err}");
        let err = Location::parse("s3://bucket/x", dir.path()).unwrap_err();
        assert!(err.contains("`s3://` scheme"), "{err}");
    }
}
