//! Files for snapshots: positioned reads and writes, fsync and rename through the backend
//! (io_uring ops; plain syscalls under epoll, since regular files are not pollable; the
//! simulator's in-memory files under `sim`, see `sim/fs.rs`).
//! Opening is a plain `open(2)`: a short metadata call.

use crate::driver::{uring, Backend};
use crate::proactor;
use io_uring::{opcode, types};
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

fn is_uring() -> bool {
    proactor::current().driver.borrow().backend() == Backend::Uring
}

/// True on a simulated pool's thread: files go to the simulator's store.
fn is_sim() -> bool {
    crate::sim::active()
}

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

pub struct File {
    inner: Inner,
}

enum Inner {
    Fd(OwnedFd),
    /// A file of the simulator's store, by path.
    Sim(PathBuf),
}

impl File {
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        if is_sim() && crate::sim::fs::holds(path) {
            return Ok(File {
                inner: Inner::Sim(path.to_path_buf()),
            });
        }
        File::with_options(path, OpenOptions::new().read(true))
    }

    /// Creates or truncates for writing.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        if is_sim() {
            return Ok(File {
                inner: Inner::Sim(crate::sim::fs::create(path.as_ref())?),
            });
        }
        File::with_options(
            path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )
    }

    /// Opens with `opts` on the real file system (also under `sim`).
    pub fn with_options(path: impl AsRef<Path>, opts: &OpenOptions) -> io::Result<File> {
        Ok(File {
            inner: Inner::Fd(OwnedFd::from(opts.open(path)?)),
        })
    }

    fn fd(&self) -> Result<i32, &Path> {
        match &self.inner {
            Inner::Fd(fd) => Ok(fd.as_raw_fd()),
            Inner::Sim(path) => Err(path),
        }
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(path) => return crate::sim::fs::read_at(path, buf, offset),
        };
        let len = buf.len().min(u32::MAX as usize);
        if is_uring() {
            let e = opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), len as u32)
                .offset(offset)
                .build();
            // `buf` stays borrowed by this fiber until the completion.
            uring::run_op(e, None).map(|n| n as usize)
        } else {
            // SAFETY: `buf` is a live exclusive buffer of at least `len` bytes.
            cvt(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, offset as i64) })
        }
    }

    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(path) => return crate::sim::fs::write_at(path, buf, offset),
        };
        let len = buf.len().min(u32::MAX as usize);
        if is_uring() {
            let e = opcode::Write::new(types::Fd(fd), buf.as_ptr(), len as u32)
                .offset(offset)
                .build();
            // `buf` stays borrowed by this fiber until the completion.
            uring::run_op(e, None).map(|n| n as usize)
        } else {
            // SAFETY: `buf` is a live buffer of at least `len` bytes.
            cvt(unsafe { libc::pwrite(fd, buf.as_ptr().cast(), len, offset as i64) })
        }
    }

    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write_at(buf, offset)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    /// Reads until `buf` is full or end of file; returns the bytes read.
    pub fn read_full_at(&self, buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], offset)?;
            if n == 0 {
                break;
            }
            done += n;
            offset += n as u64;
        }
        Ok(done)
    }

    pub fn fsync(&self) -> io::Result<()> {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(path) => return crate::sim::fs::fsync(path),
        };
        if is_uring() {
            uring::run_op(opcode::Fsync::new(types::Fd(fd)).build(), None).map(|_| ())
        } else {
            // SAFETY: fsync on a descriptor we own.
            cvt(unsafe { libc::fsync(fd) } as isize).map(|_| ())
        }
    }

    pub fn len(&self) -> io::Result<u64> {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(path) => return crate::sim::fs::len(path),
        };
        // SAFETY: fstat writes into a live zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        cvt(unsafe { libc::fstat(fd, &mut st) } as isize)?;
        Ok(st.st_size as u64)
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Atomically renames `from` to `to` (the last step of writing a snapshot).
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    if is_sim() && crate::sim::fs::holds(from.as_ref()) {
        return crate::sim::fs::rename(from.as_ref(), to.as_ref());
    }
    if !is_uring() {
        return std::fs::rename(from, to);
    }
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
    };
    let (from, to) = (c(from.as_ref())?, c(to.as_ref())?);
    let e = opcode::RenameAt::new(
        types::Fd(libc::AT_FDCWD),
        from.as_ptr(),
        types::Fd(libc::AT_FDCWD),
        to.as_ptr(),
    )
    .build();
    // The CStrings live on this fiber's stack until the completion.
    uring::run_op(e, None).map(|_| ())
}

/// True when `path` names a file (or directory), here or in the simulator's store.
pub fn exists(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    (is_sim() && crate::sim::fs::holds(path)) || path.exists()
}

/// Removes a file.
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if is_sim() && crate::sim::fs::holds(path) {
        return crate::sim::fs::remove(path);
    }
    std::fs::remove_file(path)
}

/// The paths of the entries of `dir` (under `sim`, the store's files there too).
pub fn read_dir(dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut out: Vec<PathBuf> = if is_sim() {
        crate::sim::fs::list(dir)
    } else {
        Vec::new()
    };
    match std::fs::read_dir(dir) {
        Ok(entries) => out.extend(entries.flatten().map(|e| e.path())),
        Err(e) if out.is_empty() => return Err(e),
        Err(_) => {}
    }
    out.sort();
    out.dedup();
    Ok(out)
}
