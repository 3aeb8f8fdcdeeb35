//! Temporary outputs that must not outlive an interrupt. Writers register the temporary
//! file or directory they are filling; on Ctrl-C or SIGTERM, `main` calls [`cleanup`]
//! before exiting, so an interrupted run leaves neither a partial output nor litter.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

static TEMPS: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Keeps `path` registered until dropped.
#[must_use]
pub struct Registration(u64);

/// Registers a temporary file or directory to remove if the process is interrupted.
pub fn register(path: PathBuf) -> Registration {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    lock().push((id, path));
    Registration(id)
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock().retain(|(id, _)| *id != self.0);
    }
}

/// Removes every registered temporary. Called from the signal handler thread.
pub fn cleanup() {
    for (_, path) in lock().drain(..) {
        let _ = crate::atomic::remove_tree(&path);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(u64, PathBuf)>> {
    // A panic while holding the lock must not stop the cleanup.
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

// Tested end to end (tests/cli.rs): a real SIGINT during `package` leaves nothing behind.
