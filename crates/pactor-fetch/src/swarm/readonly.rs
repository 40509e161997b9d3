//! Read-only storage for seeding a file pactor does not own.
//!
//! librqbit's filesystem storage opens every file read-write (and creates
//! it), which a seeder running as an unprivileged user with read-only access
//! to a pacman CacheDir cannot do, and must not do. This storage opens the
//! one file of a single-file torrent `O_RDONLY`, serves reads with `pread`,
//! refuses every write, accepts `ensure_file_length` only when the length
//! already matches and never deletes anything.
//!
//! It counts the bytes it reads, so that a caller can see whether adding a
//! torrent hashed the whole file or only spot-checked it.

use std::any::TypeId;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, bail, Context};
use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

/// Makes a [`ReadOnlyStorage`] for one file.
#[derive(Clone)]
pub(crate) struct ReadOnlyFactory {
    path: PathBuf,
    read: Arc<AtomicU64>,
}

impl ReadOnlyFactory {
    /// Storage for the file at `path`; bytes read are added to `read`.
    pub(crate) fn new(path: PathBuf, read: Arc<AtomicU64>) -> ReadOnlyFactory {
        ReadOnlyFactory { path, read }
    }
}

impl StorageFactory for ReadOnlyFactory {
    type Storage = ReadOnlyStorage;

    fn create(
        &self,
        _shared: &ManagedTorrentShared,
        _metadata: &TorrentMetadata,
    ) -> anyhow::Result<ReadOnlyStorage> {
        Ok(ReadOnlyStorage {
            path: self.path.clone(),
            file: RwLock::new(None),
            read: self.read.clone(),
        })
    }

    /// librqbit's JSON session store (the fastresume bitfields) refuses
    /// torrents whose storage is not its filesystem storage, only because
    /// it records their output folder for re-adding at start. pactor never
    /// lets it re-add anything (`Swarm::start` empties its torrent list),
    /// so this storage answers for that type too.
    fn is_type_id(&self, type_id: TypeId) -> bool {
        type_id == TypeId::of::<Self>() || type_id == TypeId::of::<FilesystemStorageFactory>()
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// One file, opened read-only.
pub(crate) struct ReadOnlyStorage {
    path: PathBuf,
    /// `None` before `init` and after `take`.
    file: RwLock<Option<Arc<File>>>,
    read: Arc<AtomicU64>,
}

impl ReadOnlyStorage {
    fn file(&self, file_id: usize) -> anyhow::Result<Arc<File>> {
        if file_id != 0 {
            bail!(
                "{}: no file {file_id} in a single-file torrent",
                self.path.display()
            );
        }
        self.file
            .read()
            .map_err(|_| anyhow!("{}: lock poisoned", self.path.display()))?
            .clone()
            .with_context(|| format!("{} is not open", self.path.display()))
    }

    fn refuse(&self) -> anyhow::Error {
        anyhow!(
            "{} is seeded read-only: not writing to it",
            self.path.display()
        )
    }
}

impl TorrentStorage for ReadOnlyStorage {
    fn init(
        &mut self,
        _shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<()> {
        match metadata.file_infos.as_slice() {
            [one] if !one.attrs.padding => {}
            _ => bail!(
                "{}: only single-file torrents are seeded",
                self.path.display()
            ),
        }
        let file = File::open(&self.path)
            .with_context(|| format!("opening {} read-only", self.path.display()))?;
        *self
            .file
            .write()
            .map_err(|_| anyhow!("{}: lock poisoned", self.path.display()))? = Some(Arc::new(file));
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        self.file(file_id)?
            .read_exact_at(buf, offset)
            .with_context(|| format!("reading {} at {offset}", self.path.display()))?;
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn pwrite_all(&self, _file_id: usize, _offset: u64, _buf: &[u8]) -> anyhow::Result<()> {
        Err(self.refuse())
    }

    fn pwrite_all_vectored(
        &self,
        _file_id: usize,
        _offset: u64,
        _bufs: [std::io::IoSlice<'_>; 2],
    ) -> anyhow::Result<usize> {
        Err(self.refuse())
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, file_id: usize, length: u64) -> anyhow::Result<()> {
        let found = self
            .file(file_id)?
            .metadata()
            .with_context(|| format!("reading the size of {}", self.path.display()))?
            .len();
        if found != length {
            bail!(
                "{} is {found} bytes, its torrent says {length}; not resizing a seeded file",
                self.path.display()
            );
        }
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        let file = self
            .file
            .write()
            .map_err(|_| anyhow!("{}: lock poisoned", self.path.display()))?
            .take();
        Ok(Box::new(ReadOnlyStorage {
            path: self.path.clone(),
            file: RwLock::new(file),
            read: self.read.clone(),
        }))
    }
}
