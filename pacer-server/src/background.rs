//! Work that must not take CPU from the request path (snapshots, password hashing): each job
//! runs on a thread of its own at a lower CPU priority, awaited without blocking a runtime
//! worker. Threads are not pooled: a lowered priority cannot be raised again without a
//! privilege, and the jobs here run for tens of milliseconds or more, which dwarfs a spawn.

/// The lowest CPU priority (nice 19): work that may wait as long as the machine is busy.
pub(crate) const IDLE: i32 = 19;
/// A low CPU priority (nice 10): work a caller waits for, which yields to requests first.
pub(crate) const LOW: i32 = 10;

/// Runs `work` on a new thread named `name` at niceness `nice` and awaits its answer; `None`
/// when no thread could be started or `work` panicked.
pub(crate) async fn run_niced<T: Send + 'static>(
    name: &str,
    nice: i32,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        if let Err(error) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
            tracing::debug!(%error, "a background thread keeps its priority");
        }
        let _ = done.send(work());
    });
    match spawned {
        Ok(_) => answer.await.ok(),
        Err(error) => {
            tracing::warn!(%error, "could not start a background thread");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_at_the_priority_asked_and_answers() {
        let nice = run_niced("pacer-test", LOW, || {
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("priority")
        })
        .await;
        assert_eq!(nice, Some(LOW));
        assert_eq!(run_niced("pacer-test", IDLE, || panic!("boom")).await, None::<()>);
    }
}
