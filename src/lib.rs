//! Damselfly: a Redis- and memcached-compatible in-memory store, embeddable.
//!
//! ```no_run
//! let server = damselfly::Server::builder().port(0).threads(2).start().unwrap();
//! println!("listening on {}", server.addr());
//! server.shutdown();
//! ```
//!
//! Several servers can run in one process: each owns its proactor pool and shards.

pub mod config;

pub mod logging;
use damselfly_coordinator::config::Config;
use damselfly_coordinator::server::{self, ServerState};
use damselfly_runtime::{BackendChoice, ProactorPool};
use std::net::SocketAddr;
use std::sync::Arc;

pub use damselfly_coordinator::{REDIS_VERSION, VERSION};

/// Options of a server; every parameter of the config registry can be set by name.
pub struct ServerBuilder {
    config: Config,
    errors: Vec<String>,
    /// `user NAME rules...` lines (config file or `--user`), applied at start.
    users: Vec<String>,
    /// Run on the deterministic simulator instead of the OS (see `sim`).
    sim: Option<damselfly_runtime::SimConfig>,
    /// With `sim`: the simulated world to run in (another server's), not a world of its own.
    sim_join: Option<damselfly_runtime::sim::SimWorld>,
}

impl ServerBuilder {
    /// Sets a parameter by its Redis or flag name (`port`, `proactor_threads`, `dbnum`...).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        if name == "user" {
            self.users.push(value.to_string());
            return self;
        }
        if let Err(e) = self.config.set(name, value, true) {
            self.errors.push(format!("{name}: {e}"));
        }
        self
    }
    /// The config file the settings came from: CONFIG REWRITE writes the running
    /// configuration back into it.
    pub fn config_file(self, path: std::path::PathBuf) -> Self {
        self.config.set_file(path);
        self
    }
    pub fn port(self, port: u16) -> Self {
        self.set("port", &port.to_string())
    }
    pub fn bind(self, addr: &str) -> Self {
        self.set("bind", addr)
    }
    pub fn threads(self, n: usize) -> Self {
        self.set("proactor-threads", &n.to_string())
    }
    pub fn backend(self, backend: &str) -> Self {
        self.set("io-backend", backend)
    }

    /// Runs the server on the deterministic simulator: all its proactors on one thread,
    /// virtual time, simulated TCP, every choice drawn from `cfg.seed`. Clients connect with
    /// `damselfly_runtime::net::TcpStream::connect(handle.addr())` from inside
    /// [`ServerHandle::simulate`].
    pub fn sim(mut self, cfg: damselfly_runtime::SimConfig) -> Self {
        self.sim = Some(cfg);
        self
    }

    /// With [`sim`](Self::sim): runs in the simulated world of another server
    /// ([`ServerHandle::sim_world`]): one clock, one network, one seed for both (two nodes).
    pub fn sim_join(mut self, world: damselfly_runtime::sim::SimWorld) -> Self {
        self.sim_join = Some(world);
        self
    }

    /// Starts the proactors, the shards and the listener.
    pub fn start(self) -> std::io::Result<ServerHandle> {
        if !self.errors.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                self.errors.join("; "),
            ));
        }
        let threads = self.config.get_int("proactor-threads") as usize;
        let backend: BackendChoice = self
            .config
            .get("io-backend")
            .unwrap_or_else(|| "auto".into())
            .parse()
            .map_err(|e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let mut pool = ProactorPool::builder().backend(backend).name("damselfly");
        let cores = damselfly_runtime::usable_cores();
        let pin = match self.config.get("proactor-affinity-mode").as_deref() {
            Some("off") => false,
            Some("auto") => threads == 0 || threads == cores,
            _ => true,
        };
        pool = pool.pin(pin);
        if let Some(cfg) = self.sim {
            pool = pool.backend(BackendChoice::Sim).sim(cfg).pin(false);
            if let Some(world) = self.sim_join {
                pool = pool.sim_join(world);
            }
        }
        if threads > 0 {
            pool = pool.threads(threads);
        }
        let pool = pool.build()?;
        let state = Arc::new(ServerState::new(self.config, pool.len(), pool.backend()));
        damselfly_coordinator::families::acl_family::load_startup(&state, &self.users)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let running = server::start(&pool, state)?;
        Ok(ServerHandle {
            pool: Some(pool),
            state: running.state,
            addr: running.addr,
            memcached_addr: running.memcached_addr,
            tls_addr: running.tls_addr,
        })
    }
}

/// A running server. Dropping it shuts it down.
pub struct ServerHandle {
    pool: Option<ProactorPool>,
    state: Arc<ServerState>,
    addr: SocketAddr,
    memcached_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
}

impl ServerHandle {
    /// The address the server listens on (the real port when started with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The memcached listener's address, when `--memcached_port` is set.
    pub fn memcached_addr(&self) -> Option<SocketAddr> {
        self.memcached_addr
    }

    /// The `--tls-port` listener's address, when TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn threads(&self) -> usize {
        self.state.shards
    }

    /// Who can reach the server and what protects it, in words (the startup banner).
    pub fn exposure(&self) -> String {
        self.state.exposure(self.addr)
    }

    pub fn backend(&self) -> damselfly_runtime::Backend {
        self.state.backend
    }

    /// Blocks the calling thread until SHUTDOWN is received or `stop` returns true (checked
    /// every 100 ms).
    pub fn wait(&self, stop: impl Fn() -> bool) {
        loop {
            let deadline = damselfly_runtime::clock::now() + std::time::Duration::from_millis(100);
            if self.state.shutdown.wait_until(Some(deadline)) || stop() {
                return;
            }
        }
    }

    /// On a simulated server: its world, for another server to join
    /// ([`ServerBuilder::sim_join`]).
    pub fn sim_world(&self) -> Option<damselfly_runtime::sim::SimWorld> {
        self.pool.as_ref().and_then(|p| p.sim_world())
    }

    /// The id of the server's proactor pool (for `damselfly_runtime::sim::spawn_on_pool`).
    pub fn pool_id(&self) -> u32 {
        self.pool.as_ref().map_or(0, |p| p.id())
    }

    /// On a simulated server: runs `f` in a fiber of the simulated world with virtual time
    /// flowing, and returns what it returned (a panic in `f` is re-raised here). Everything
    /// `f` does (simulated connections, sleeps, the server's work meanwhile) replays exactly
    /// with the same seed.
    pub fn simulate<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        assert_eq!(
            self.backend(),
            damselfly_runtime::Backend::Sim,
            "simulate needs a server built with ServerBuilder::sim"
        );
        let pool = self.pool.as_ref().expect("running server");
        pool.run_on(0, move || {
            /// Stops time again even when `f` panics: an idle world must not spin on timers.
            struct Pause;
            impl Drop for Pause {
                fn drop(&mut self) {
                    damselfly_runtime::sim::set_time_flowing(false);
                }
            }
            damselfly_runtime::sim::set_time_flowing(true);
            let _pause = Pause;
            f()
        })
    }
}

/// For checks of a server at rest (the simulator's liveness check): per shard, the
/// transactions still queued and the intent locks still held. Call it from inside the
/// server's pool (e.g. in [`ServerHandle::simulate`]); both are 0 on every shard once every
/// command has been answered.
pub fn shard_leftovers() -> Vec<(usize, usize)> {
    damselfly_coordinator::tx::on_all_shards(&|s| s.leftovers())
}

impl ServerHandle {
    /// Saves a snapshot when save points are set (`--save`), as Redis does on SIGTERM.
    /// Returns false when the save failed.
    pub fn save_if_configured(&self) -> bool {
        if self.state.config.get("save").unwrap_or_default().is_empty() {
            return true;
        }
        let Some(pool) = self.pool.as_ref() else {
            return true;
        };
        let state = self.state.clone();
        pool.run_on(0, move || {
            let mut exec = damselfly_coordinator::exec::Exec::now();
            match damselfly_coordinator::snapshot_file::save(&state, &mut exec) {
                Ok(_) => true,
                Err(e) => {
                    log::warn!("Error trying to save the DB on exit: {e}");
                    false
                }
            }
        })
    }

    /// Stops accepting, closes every connection, stops the proactors.
    pub fn shutdown(mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown();
        }
    }
}

pub struct Server;

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            errors: Vec::new(),
            users: Vec::new(),
            sim: None,
            sim_join: None,
        }
    }
}
