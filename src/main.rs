//! The damselfly server binary: a thin wrapper over `damselfly::Server`.

use damselfly::config::{help_text, parse_args, Invocation};
use std::sync::atomic::{AtomicBool, Ordering};

#[global_allocator]
static GLOBAL: damselfly_coordinator::alloc_count::CountingMiMalloc =
    damselfly_coordinator::alloc_count::CountingMiMalloc;

static SIGNALED: AtomicBool = AtomicBool::new(false);

extern "C" {
    /// mimalloc's `mi_option_set_default`: sets an option unless the environment set it.
    fn mi_option_set_default(option: libc::c_int, value: libc::c_long);
    /// mimalloc's `mi_option_is_enabled`.
    fn mi_option_is_enabled(option: libc::c_int) -> bool;
}

/// `mi_option_allow_thp` in the mimalloc release the `libmimalloc-sys` crate of Cargo.lock
/// builds (2.2.x/2.3.x: the 38th option).
const MI_OPTION_ALLOW_THP: libc::c_int = 37;

/// Keeps the heap off transparent huge pages. Where THP is `madvise` (the usual default),
/// mimalloc asks for them on its arenas, whose 2 MiB pages then fill slowly: with 1M keys,
/// RSS before a save was lower with THP off in every run measured, and during a BGSAVE
/// under writes it grew no faster beyond the noise (docs/persistence.md). mimalloc reserves
/// its first arena before `main` runs, so the option alone would come too late for it: the
/// process turns THP off for every mapping, as mimalloc itself does when
/// `MIMALLOC_ALLOW_THP=0` is set at start. `MIMALLOC_ALLOW_THP=1` keeps huge pages.
fn no_huge_pages() {
    // SAFETY: mimalloc's options table is initialised when the library loads, before main;
    // setting and reading an option are plain loads and stores, and the option index is in
    // range for the linked mimalloc (see MI_OPTION_ALLOW_THP).
    let allowed = unsafe {
        mi_option_set_default(MI_OPTION_ALLOW_THP, 0);
        mi_option_is_enabled(MI_OPTION_ALLOW_THP)
    };
    if !allowed {
        // SAFETY: PR_SET_THP_DISABLE takes no pointers; it only sets a flag of this process.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALED.store(true, Ordering::SeqCst);
}

fn main() {
    no_huge_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match parse_args(&args) {
        Ok(Invocation::Run(s)) => s,
        Ok(Invocation::Help) => {
            print!("{}", help_text());
            return;
        }
        Ok(Invocation::Version) => {
            println!(
                "damselfly {} (redis {})",
                damselfly::VERSION,
                damselfly::REDIS_VERSION
            );
            return;
        }
        Ok(Invocation::CommandsMarkdown) => {
            print!(
                "{}",
                damselfly_coordinator::registry::Registry::get().markdown()
            );
            return;
        }
        Err(e) => {
            eprintln!("damselfly: {e}");
            std::process::exit(2);
        }
    };
    let last = |name: &str| {
        settings
            .iter()
            .rev()
            .find(|(n, _)| n.replace('_', "-") == name)
            .map(|(_, v)| v.clone())
    };
    let json = match last("log-format").as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            eprintln!("damselfly: log-format must be text or json, not '{other}'");
            std::process::exit(2);
        }
    };
    damselfly::logging::init(&last("loglevel").unwrap_or_else(|| "notice".into()), json);

    let mut builder = damselfly::Server::builder();
    if let Some(file) = args.first().filter(|a| !a.starts_with('-')) {
        // Absolute: CONFIG REWRITE finds the file whatever the working directory becomes.
        let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.into());
        builder = builder.config_file(path);
    }
    for (name, value) in &settings {
        builder = builder.set(name, value);
    }
    let server = match builder.start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("damselfly: cannot start: {e}");
            std::process::exit(1);
        }
    };
    // SAFETY: installs an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    log::info!(
        "damselfly {} (redis {}): {} threads, {}, listening on {} ({})",
        damselfly::VERSION,
        damselfly::REDIS_VERSION,
        server.threads(),
        server.backend(),
        server.addr(),
        server.exposure()
    );
    if let Some(addr) = server.tls_addr() {
        log::info!("RESP over TLS on {addr}");
    }
    if let Some(addr) = server.memcached_addr() {
        log::info!("memcached text protocol on {addr}");
    }
    server.wait(|| SIGNALED.load(Ordering::SeqCst));
    if SIGNALED.load(Ordering::SeqCst) {
        log::info!("Received SIGTERM or SIGINT: saving the final snapshot if save points are set");
        server.save_if_configured();
    }
    log::info!("shutting down");
    server.shutdown();
}
