//! The storage a sink (and the runner's state) writes through.
//!
//! A [`Location`] is parsed offline from the `path` setting and opened at run time. Local
//! folders and `file://` URLs are served by `object_store`'s local file system, whose writes go
//! to a temporary file renamed into place, so a reader never sees half a file; the folder is
//! created when the location is opened. `s3://bucket/prefix` (also `s3a://`), `gs://bucket/prefix`
//! and `az://container/prefix` (also `abfs[s]://container@account.dfs.core.windows.net/prefix`)
//! are served by `object_store`'s cloud stores, configured from the standard environment
//! variables of each cloud (`AWS_*`, `GOOGLE_*`, `AZURE_*`) when the location is opened —
//! parsing makes no network call and reads no credential.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use chorus_core::{Error, ErrorKind, Result};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use tokio::sync::OnceCell;

/// The object stores chorus can write to besides the local file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon S3 and S3-compatible servers (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage and ADLS Gen2 (`az://`, `abfs://`, `abfss://`, `azure://`).
    Azure,
}

impl Cloud {
    fn from_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "s3" | "s3a" => Some(Self::S3),
            "gs" => Some(Self::Gcs),
            "az" | "abfs" | "abfss" | "azure" => Some(Self::Azure),
            _ => None,
        }
    }

    /// The environment variables that configure this cloud's credentials, for messages.
    pub fn credential_hint(self) -> &'static str {
        match self {
            Self::S3 => {
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or a web identity or instance role), AWS_REGION, and AWS_ENDPOINT_URL for S3-compatible servers"
            }
            Self::Gcs => {
                "GOOGLE_SERVICE_ACCOUNT (a key file), GOOGLE_SERVICE_ACCOUNT_KEY (its JSON) or GOOGLE_APPLICATION_CREDENTIALS, or the VM's service account"
            }
            Self::Azure => {
                "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY, a SAS token, or a service principal (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID)"
            }
        }
    }
}

#[derive(Debug)]
enum Place {
    Local(PathBuf),
    Remote {
        cloud: Cloud,
        /// The whole location, for messages: `s3://bucket/prefix`.
        url: String,
        /// The bucket (or container) part: `s3://bucket`.
        bucket_url: String,
        /// The key prefix inside the bucket, without leading or trailing `/`.
        prefix: String,
    },
}

/// A place tables are written to.
#[derive(Debug)]
pub struct Location {
    place: Place,
    store: OnceCell<Arc<dyn ObjectStore>>,
}

impl Location {
    /// Parses a `path` setting: a folder, relative to `base_dir` unless absolute, a `file://`
    /// URL, or an object-store URL. Checks offline that a folder could be created and written,
    /// and that a URL names a bucket and a valid prefix.
    pub fn parse(path: &str, base_dir: &FsPath) -> std::result::Result<Self, String> {
        if path.trim().is_empty() {
            return Err("the path is empty".into());
        }
        // A NUL ends the path early in the operating system's calls, so `out\0/../../x` would
        // write somewhere else than it reads; no folder or URL needs a control character.
        if let Some(c) = path.chars().find(|c| c.is_control()) {
            let shown = match c {
                '\0' => "a NUL byte".to_owned(),
                '\n' => "a newline".to_owned(),
                '\t' => "a tab".to_owned(),
                c => format!("the control character U+{:04X}", u32::from(c)),
            };
            return Err(format!(
                "the path contains {shown}; remove it (check the environment variable it comes from)"
            ));
        }
        let root = if let Some(rest) = path.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if let Some((scheme, _)) = path.split_once("://") {
            return parse_remote(path, &scheme.to_ascii_lowercase()).map(|place| Self {
                place,
                store: OnceCell::new(),
            });
        } else if FsPath::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            base_dir.join(path)
        };
        let root = normalise(&root);
        check_creatable(&root)?;
        Ok(Self {
            place: Place::Local(root),
            store: OnceCell::new(),
        })
    }

    /// The location, for messages and plans: a folder or a URL (never a credential).
    pub fn display(&self) -> String {
        match &self.place {
            Place::Local(root) => root.display().to_string(),
            Place::Remote { url, .. } => url.clone(),
        }
    }

    /// The local root folder, or `None` for an object store.
    pub fn local_root(&self) -> Option<&FsPath> {
        match &self.place {
            Place::Local(root) => Some(root),
            Place::Remote { .. } => None,
        }
    }

    /// The cloud of an object-store location, `None` for a local folder.
    pub fn cloud(&self) -> Option<Cloud> {
        match &self.place {
            Place::Local(_) => None,
            Place::Remote { cloud, .. } => Some(*cloud),
        }
    }

    /// Opens the store: creates a local root folder, or configures a cloud store from the
    /// environment (no request is sent until something is read or written).
    pub async fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        self.store
            .get_or_try_init(|| async {
                match &self.place {
                    Place::Local(root) => {
                        tokio::fs::create_dir_all(root).await.map_err(|e| {
                            Error::io(format!("cannot create {}: {e}", root.display()))
                        })?;
                        let fs = LocalFileSystem::new_with_prefix(root)
                            .map_err(|e| Error::io(format!("cannot open {}: {e}", root.display())))?
                            .with_automatic_cleanup(true);
                        Ok(Arc::new(fs) as Arc<dyn ObjectStore>)
                    }
                    Place::Remote {
                        cloud,
                        url,
                        bucket_url,
                        prefix,
                    } => open_remote(*cloud, url, bucket_url, prefix),
                }
            })
            .await
            .cloned()
    }
}

impl Location {
    /// The store at the root of the bucket (or of the local file system) and the URL of this
    /// location in it, with a trailing `/`, for libraries that address tables by URL (Delta
    /// Lake). Creates a local folder like [`Location::store`].
    pub async fn root_store_and_url(&self) -> Result<(Arc<dyn ObjectStore>, url::Url)> {
        self.store().await?;
        match &self.place {
            Place::Local(root) => {
                let abs = std::path::absolute(root)
                    .map_err(|e| Error::io(format!("cannot resolve {}: {e}", root.display())))?;
                let url = url::Url::from_directory_path(&abs).map_err(|()| {
                    Error::io(format!("{} cannot be written as a URL", abs.display()))
                })?;
                Ok((
                    Arc::new(LocalFileSystem::new()) as Arc<dyn ObjectStore>,
                    url,
                ))
            }
            Place::Remote {
                cloud,
                url,
                bucket_url,
                ..
            } => {
                let store = open_remote(*cloud, url, bucket_url, "")?;
                let parsed = url::Url::parse(&format!("{url}/"))
                    .map_err(|e| Error::internal(format!("cannot parse {url}: {e}")))?;
                Ok((store, parsed))
            }
        }
    }
}

fn parse_remote(path: &str, scheme: &str) -> std::result::Result<Place, String> {
    let Some(cloud) = Cloud::from_scheme(scheme) else {
        return Err(format!(
            "the `{scheme}://` scheme is not supported; use a local folder, a file:// URL, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"
        ));
    };
    let url = url::Url::parse(path).map_err(|e| format!("it is not a valid URL: {e}"))?;
    if url.password().is_some() || (cloud != Cloud::Azure && !url.username().is_empty()) {
        return Err(format!(
            "credentials do not belong in the path; they are read from the environment: {}",
            cloud.credential_hint()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL has a query or fragment; give only scheme://bucket/prefix".into());
    }
    let bucket = url.host_str().unwrap_or_default();
    if bucket.is_empty() {
        return Err(format!(
            "it names no bucket; write {scheme}://<bucket>/<prefix>"
        ));
    }
    let bucket_ok = match cloud {
        Cloud::S3 | Cloud::Gcs => {
            (3..=222).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
        }
        // A container name, or the account host of an abfs[s]://container@account… URL.
        Cloud::Azure => bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c)),
    };
    if !bucket_ok {
        return Err(format!(
            "\"{bucket}\" is not a valid bucket name (lowercase letters, digits, '-' and '.')"
        ));
    }
    let raw_prefix = url.path().trim_matches('/');
    let prefix = percent_decode(raw_prefix);
    if !prefix.is_empty() {
        object_store::path::Path::parse(&prefix)
            .map_err(|e| format!("the prefix \"{prefix}\" is not a valid object path: {e}"))?;
    }
    let user = if url.username().is_empty() {
        String::new()
    } else {
        format!("{}@", url.username())
    };
    let bucket_url = format!("{scheme}://{user}{bucket}");
    let url = if prefix.is_empty() {
        bucket_url.clone()
    } else {
        format!("{bucket_url}/{prefix}")
    };
    Ok(Place::Remote {
        cloud,
        url,
        bucket_url,
        prefix,
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn open_remote(
    cloud: Cloud,
    url: &str,
    bucket_url: &str,
    prefix: &str,
) -> Result<Arc<dyn ObjectStore>> {
    let fail = |e: object_store::Error| {
        Error::config(format!(
            "cannot open {url}: {e}; credentials and settings come from {}",
            cloud.credential_hint()
        ))
    };
    let store: Arc<dyn ObjectStore> = match cloud {
        Cloud::S3 => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(bucket_url)
                .build()
                .map_err(fail)?,
        ),
        Cloud::Gcs => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(bucket_url)
                .build()
                .map_err(fail)?,
        ),
        Cloud::Azure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(bucket_url)
                .build()
                .map_err(fail)?,
        ),
    };
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(PrefixStore::new(
            store,
            object_store::path::Path::from(prefix),
        )))
    }
}

/// A `path` setting as it may appear in a message: the user-info of a URL (where someone put
/// credentials) is replaced by `***`.
pub fn redact_path(path: &str) -> String {
    match path.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) if rest[..at].contains(':') => {
                    format!("{scheme}://***@{}", &rest[at + 1..])
                }
                _ => path.to_owned(),
            }
        }
        None => path.to_owned(),
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

/// Maps an `object_store` error into a chorus error naming what was being done: refused
/// credentials are `Auth`, a cloud store's failure that outlasted its retries is `Transient`,
/// anything else `Io`.
pub fn io_error(what: impl std::fmt::Display, err: object_store::Error) -> Error {
    let kind = match &err {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => ErrorKind::Auth,
        object_store::Error::Generic { store, .. } if *store != "LocalFileSystem" => {
            ErrorKind::Transient
        }
        _ => ErrorKind::Io,
    };
    match kind {
        // Through Error::io, which adds what to do about a full disk or a read-only folder.
        ErrorKind::Io => Error::io(format!("{what}: {err}")),
        _ => Error::new(kind, format!("{what}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_pipeline_folder() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::parse("out/lake", dir.path()).unwrap();
        assert_eq!(loc.local_root().unwrap(), dir.path().join("out/lake"));
        let loc = Location::parse("../out/./lake", &dir.path().join("pipelines")).unwrap();
        assert_eq!(loc.local_root().unwrap(), dir.path().join("out/lake"));
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
        for bad in [
            "out\0/../../escaped",
            "out/la\nke",
            "s3://bucket/a\u{1b}b",
            "out\t",
        ] {
            let err = Location::parse(bad, dir.path()).unwrap_err();
            assert!(err.contains("the path contains"), "{bad:?}: {err}");
        }
        let err = Location::parse("ftp://host/x", dir.path()).unwrap_err();
        assert!(err.contains("`ftp://` scheme"), "{err}");
    }

    #[test]
    fn object_store_urls_are_parsed_offline() {
        let dir = tempfile::tempdir().unwrap();
        for (path, cloud, shown) in [
            ("s3://bucket/lake/", Cloud::S3, "s3://bucket/lake"),
            ("s3a://bucket", Cloud::S3, "s3a://bucket"),
            ("gs://my-bucket/a/b", Cloud::Gcs, "gs://my-bucket/a/b"),
            ("az://container/lake", Cloud::Azure, "az://container/lake"),
            (
                "abfss://lake@acct.dfs.core.windows.net/x",
                Cloud::Azure,
                "abfss://lake@acct.dfs.core.windows.net/x",
            ),
        ] {
            let loc = Location::parse(path, dir.path()).unwrap();
            assert_eq!(loc.cloud(), Some(cloud), "{path}");
            assert_eq!(loc.display(), shown);
            assert!(loc.local_root().is_none());
        }
        for (path, want) in [
            ("s3://", "names no bucket"),
            ("s3://Bucket/x", "not a valid bucket name"),
            ("s3://key:secret@bucket/x", "credentials do not belong"),
            ("s3://bucket/x?versionId=1", "query"),
            ("s3://bucket/a//b", "not a valid object path"),
        ] {
            let err = Location::parse(path, dir.path()).unwrap_err();
            assert!(err.contains(want), "{path}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
        assert_eq!(redact_path("s3://key:secret@bucket/x"), "s3://***@bucket/x");
        assert_eq!(
            redact_path("abfss://c@acct.dfs.core.windows.net/x"),
            "abfss://c@acct.dfs.core.windows.net/x"
        );
    }
}
