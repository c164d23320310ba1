//! `wasi:filesystem/types` as wasmtime-wasi implements it, plus three guards the
//! policy needs and WASI does not have:
//!
//! - **Write limit.** Every byte written (direct writes, write/append streams, file
//!   growth through `set-size`) and every created entry is charged to the call's
//!   budget; the write that would exceed it fails as if the disk were full, and the
//!   call fails as `write-limit`. The sandbox has no disk quota otherwise.
//! - **Refusals are recorded.** wasmtime-wasi answers accesses outside the grants
//!   (`..` out of a mount, symlinks leading out, writes through read-only mounts) with
//!   `not-permitted`; each refused open or change is recorded, and the call fails as
//!   `denied` whatever the tool returns, so a tool cannot probe its boundaries
//!   quietly. (Refused metadata probes are not: they reveal nothing.)
//! - **No symlinks out.** WASI lets a guest create a symlink whose target lies
//!   outside the mount; the guest cannot follow it, but host programs would (an
//!   editor, git, ossa itself). Such symlinks are refused.
//!
//! Everything else is delegated unchanged. The linker registers this implementation
//! over wasmtime-wasi's (see `host.rs`).

use std::path::{Component, Path};
use std::sync::Arc;

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError,
    StreamResult,
};
use wasmtime_wasi_io::bytes::Bytes;

use crate::monitor::CallMonitor;

/// What creating one directory entry costs against the write limit: about an inode,
/// so that a tool cannot fill the disk with empty files either.
const ENTRY_COST: u64 = 512;

/// Marker for the linker (see [`HasData`]).
pub(crate) struct GuardedFilesystem;

impl HasData for GuardedFilesystem {
    type Data<'a> = GuardedFs<'a>;
}

/// wasmtime-wasi's filesystem view plus the call's monitor.
pub(crate) struct GuardedFs<'a> {
    pub(crate) inner: WasiFilesystemCtxView<'a>,
    pub(crate) monitor: &'a Arc<CallMonitor>,
}

impl GuardedFs<'_> {
    /// Records `not-permitted` answers as refused accesses.
    fn watch<T>(&self, what: impl FnOnce() -> String, result: FsResult<T>) -> FsResult<T> {
        if let Err(err) = &result
            && matches!(err.downcast_ref(), Some(ErrorCode::NotPermitted))
        {
            self.monitor.violation(what());
        }
        result
    }

    /// Charges a write; past the limit the write fails as if the disk were full. The
    /// guest keeps running (so a tool like apply_patch can clean up) but cannot write
    /// more, and the call fails as `write-limit` whatever it returns.
    fn charge(&self, bytes: u64) -> FsResult<()> {
        if self.monitor.charge_write(bytes) {
            Ok(())
        } else {
            Err(ErrorCode::InsufficientSpace.into())
        }
    }

    /// Wraps a write or append stream so its bytes are charged too.
    fn meter(&mut self, stream: Resource<DynOutputStream>) -> FsResult<Resource<DynOutputStream>> {
        let inner = self.inner.table.delete(stream)?;
        let metered: DynOutputStream = Box::new(MeteredStream {
            inner,
            monitor: Arc::clone(self.monitor),
        });
        Ok(self.inner.table.push(metered)?)
    }
}

/// True when a symlink at `link` (relative to a mount root) with `target` would
/// resolve outside the mount.
fn symlink_escapes(link: &str, target: &str) -> bool {
    let target = Path::new(target);
    if target.has_root() {
        return true;
    }
    // The link's directory depth below the root is where `target` is resolved from.
    let mut depth = Path::new(link)
        .parent()
        .map(|parent| {
            parent
                .components()
                .fold(0i64, |depth, component| match component {
                    Component::Normal(_) => depth + 1,
                    Component::ParentDir => depth - 1,
                    _ => depth,
                })
        })
        .unwrap_or(0);
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

impl types::Host for GuardedFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDescriptor for GuardedFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        self.inner.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.inner.sync_data(fd).await
    }

    async fn get_flags(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorFlags> {
        self.inner.get_flags(fd).await
    }

    async fn get_type(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorType> {
        self.inner.get_type(fd).await
    }

    async fn set_size(
        &mut self,
        fd: Resource<types::Descriptor>,
        size: types::Filesize,
    ) -> FsResult<()> {
        let current = self.inner.stat(Resource::new_borrow(fd.rep())).await?.size;
        if size > current {
            self.charge(size - current)?;
        }
        let result = self.inner.set_size(fd, size).await;
        self.watch(
            || "resize a file through a read-only mount".to_owned(),
            result,
        )
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let result = self.inner.set_times(fd, atim, mtim).await;
        self.watch(
            || "change file times through a read-only mount".to_owned(),
            result,
        )
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.inner.read(fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        self.charge(buf.len() as u64)?;
        let result = self.inner.write(fd, buf, offset).await;
        self.watch(
            || "write a file through a read-only mount".to_owned(),
            result,
        )
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        self.inner.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        self.inner.sync(fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.charge(ENTRY_COST)?;
        let what = format!("create directory {path:?}");
        let result = self.inner.create_directory_at(fd, path).await;
        self.watch(|| what, result)
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        self.inner.stat(fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        // Probes (stat, readlink, metadata hash) are not recorded: listing a directory
        // that holds a symlink leading out is normal, and wasmtime-wasi answers without
        // revealing anything outside.
        self.inner.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let what = format!("change the times of {path:?}");
        let result = self
            .inner
            .set_times_at(fd, path_flags, path, atim, mtim)
            .await;
        self.watch(|| what, result)
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.charge(ENTRY_COST)?;
        let what = format!("hard-link {old_path:?} as {new_path:?}");
        let result = self
            .inner
            .link_at(fd, old_path_flags, old_path, new_descriptor, new_path)
            .await;
        self.watch(|| what, result)
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        if oflags.contains(types::OpenFlags::CREATE) {
            self.charge(ENTRY_COST)?;
        }
        let writing = oflags.intersects(types::OpenFlags::CREATE | types::OpenFlags::TRUNCATE)
            || flags.contains(types::DescriptorFlags::WRITE);
        let what = if writing {
            format!("open {path:?} for writing")
        } else {
            format!("open {path:?}")
        };
        let result = self
            .inner
            .open_at(fd, path_flags, path, oflags, flags)
            .await;
        self.watch(|| what, result)
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        self.inner.readlink_at(fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let what = format!("remove directory {path:?}");
        let result = self.inner.remove_directory_at(fd, path).await;
        self.watch(|| what, result)
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let what = format!("rename {old_path:?} to {new_path:?}");
        let result = self.inner.rename_at(fd, old_path, new_fd, new_path).await;
        self.watch(|| what, result)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        let what =
            format!("create symlink {dest_path:?} -> {src_path:?} pointing outside the mount");
        if symlink_escapes(&dest_path, &src_path) {
            self.monitor.violation(what);
            return Err(ErrorCode::NotPermitted.into());
        }
        self.charge(ENTRY_COST)?;
        let result = self.inner.symlink_at(fd, src_path, dest_path).await;
        self.watch(|| what, result)
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let what = format!("remove {path:?}");
        let result = self.inner.unlink_file_at(fd, path).await;
        self.watch(|| what, result)
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.inner.read_via_stream(fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let result = self.inner.write_via_stream(fd, offset);
        let stream = self.watch(
            || "write a file through a read-only mount".to_owned(),
            result,
        )?;
        self.meter(stream)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let result = self.inner.append_via_stream(fd);
        let stream = self.watch(
            || "append to a file through a read-only mount".to_owned(),
            result,
        )?;
        self.meter(stream)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.inner.is_same_object(a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        self.inner.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        self.inner.metadata_hash_at(fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for GuardedFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        self.inner.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

/// A file output stream whose bytes count against the write limit.
struct MeteredStream {
    inner: DynOutputStream,
    monitor: Arc<CallMonitor>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for MeteredStream {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for MeteredStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if !self.monitor.charge_write(bytes.len() as u64) {
            let full = std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "write limit of the tool reached",
            );
            return Err(StreamError::LastOperationFailed(full.into()));
        }
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::symlink_escapes;

    #[test]
    fn escaping_symlinks_are_recognised() {
        assert!(symlink_escapes("leak", "/etc/passwd"));
        assert!(symlink_escapes("leak", "../outside"));
        assert!(symlink_escapes("a/leak", "../../outside"));
        assert!(symlink_escapes("a/leak", "b/../../../x"));
        assert!(!symlink_escapes("a/leak", "../inside"));
        assert!(!symlink_escapes("leak", "sub/file"));
        assert!(!symlink_escapes("a/b/leak", "../../c"));
    }
}
