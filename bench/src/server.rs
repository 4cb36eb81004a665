//! Starting and stopping the servers under test on free loopback ports.
//!
//! A command line is a template with `{port}`; it runs as `sh -c "exec [taskset -c CPUS]
//! CMD"`, so the child's PID is the server's own (both `sh` and `taskset` exec).

use std::io;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::Protocol;
use crate::info::BlockingClient;

/// The default peer for a protocol.
pub fn default_peer(proto: Protocol) -> &'static str {
    match proto {
        Protocol::Redis => {
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
             --enable-debug-command local --daemonize no --loglevel warning"
        }
        Protocol::MemcacheText => "memcached -p {port} -l 127.0.0.1 -U 0 -m 4096 -u root",
    }
}

/// A port nobody listens on right now (the OS picks it; it is released before use).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running server, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct ServerProc {
    pub name: String,
    pub port: u16,
    pub pid: u32,
    child: Child,
}

impl ServerProc {
    /// Starts `template` on a free port, optionally pinned to `cpus` (taskset list), and
    /// waits until it answers.
    pub fn start(
        name: &str,
        template: &str,
        proto: Protocol,
        cpus: Option<&str>,
    ) -> io::Result<ServerProc> {
        let port = free_port()?;
        let cmd = template.replace("{port}", &port.to_string());
        let pin = cpus.map(|c| format!("taskset -c {c} ")).unwrap_or_default();
        let log = std::env::temp_dir().join(format!("damselfly-bench-{name}-{port}.log"));
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {pin}{cmd}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        let mut s = ServerProc {
            name: name.to_string(),
            port,
            pid: child.id(),
            child,
        };
        if let Err(e) = s.wait_ready(proto, Duration::from_secs(15)) {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(io::Error::other(format!(
                "{name} ({cmd}) did not come up: {e}\n{}",
                tail.lines().rev().take(10).collect::<Vec<_>>().join("\n")
            )));
        }
        Ok(s)
    }

    fn wait_ready(&mut self, proto: Protocol, limit: Duration) -> io::Result<()> {
        let start = Instant::now();
        let mut last_err = io::Error::other("timeout");
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("exited with {status}")));
            }
            match probe(self.port, proto) {
                Ok(()) => return Ok(()),
                Err(e) => last_err = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(last_err)
    }

    pub fn client(&self) -> io::Result<BlockingClient> {
        BlockingClient::connect("127.0.0.1", self.port)
    }

    /// Stops the server and waits for it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) with a PID we spawned and have not reaped yet.
            unsafe {
                libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connects and sends a no-op request (PING or `version`); any reply means "ready".
pub fn probe(port: u16, proto: Protocol) -> io::Result<()> {
    let mut c = BlockingClient::connect("127.0.0.1", port)?;
    c.set_read_timeout(Duration::from_secs(2))?;
    match proto {
        Protocol::Redis => {
            c.command(&[b"PING"])?;
        }
        Protocol::MemcacheText => {
            c.send_raw(b"version\r\n")?;
            c.read_line()?;
        }
    }
    Ok(())
}
