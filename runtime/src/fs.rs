//! Files for snapshots: positioned reads and writes, fsync and rename through the backend
//! (io_uring ops; plain syscalls under epoll, since regular files are not pollable).
//! Opening is a plain `open(2)`: a short metadata call.

use crate::driver::{uring, Backend};
use crate::proactor;
use io_uring::{opcode, types};
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn is_uring() -> bool {
    proactor::current().driver.borrow().backend() == Backend::Uring
}

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

pub struct File {
    fd: OwnedFd,
}

impl File {
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::with_options(path, OpenOptions::new().read(true))
    }

    /// Creates or truncates for writing.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        File::with_options(
            path,
            OpenOptions::new().write(true).create(true).truncate(true),
        )
    }

    pub fn with_options(path: impl AsRef<Path>, opts: &OpenOptions) -> io::Result<File> {
        Ok(File {
            fd: OwnedFd::from(opts.open(path)?),
        })
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let fd = self.fd.as_raw_fd();
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
        let fd = self.fd.as_raw_fd();
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
        let fd = self.fd.as_raw_fd();
        if is_uring() {
            uring::run_op(opcode::Fsync::new(types::Fd(fd)).build(), None).map(|_| ())
        } else {
            // SAFETY: fsync on a descriptor we own.
            cvt(unsafe { libc::fsync(fd) } as isize).map(|_| ())
        }
    }

    pub fn len(&self) -> io::Result<u64> {
        // SAFETY: fstat writes into a live zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        cvt(unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) } as isize)?;
        Ok(st.st_size as u64)
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Atomically renames `from` to `to` (the last step of writing a snapshot).
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
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
