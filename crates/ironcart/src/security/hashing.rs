//! Password hashing on a fixed set of threads of its own.
//!
//! Argon2id is meant to be slow: ~15 ms of a core and 19 MiB per hash. Run on
//! tokio's blocking pool, a login flood would spread hashes over as many threads
//! as it likes, take every core from the rest of the API, and leave a freed 19
//! MiB block in the allocator's arena of each thread that ever hashed (the
//! resident set reached 1.26 GB after a flood). Here hashes run on
//! `threads` dedicated threads, by default one fewer than the cores, so at least
//! one core stays with the API; each thread keeps one [`HashMemory`] and reuses it.
//! The threads run at a lower priority ([`HASHING_NICENESS`]), so under a flood the
//! scheduler favours the rest of the API. A caller waits at most `wait` for a free
//! thread, then gets [`Busy`].

use std::sync::Arc;
use std::time::Duration;

use ironcart_security::HashMemory;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Work for a hashing thread.
type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// Every hashing thread is busy, and none came free within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password hashing thread is busy")]
pub struct Busy;

/// How many threads hash, and how long a caller waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingSettings {
    pub threads: usize,
    pub wait: Duration,
}

impl Default for HashingSettings {
    /// One thread per core but one (at least one thread), and a 2-second wait.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            threads: cores.saturating_sub(1).max(1),
            wait: Duration::from_secs(2),
        }
    }
}

/// The nice value of the hashing threads. When the cores are contended (a login
/// flood), the scheduler gives the API's threads about nine tenths of them; an idle
/// machine still hashes at full speed.
pub const HASHING_NICENESS: i32 = 10;

/// Lowers the calling thread's priority to [`HASHING_NICENESS`]. On Linux the nice
/// value of `setpriority(PRIO_PROCESS, 0)` belongs to the calling thread alone.
fn lower_priority() {
    if let Err(err) = rustix::process::setpriority_process(None, HASHING_NICENESS) {
        tracing::warn!(error = %err, "cannot lower the priority of a password hashing thread");
    }
}

/// The hashing threads. They stop when the pool is dropped.
pub struct HashingPool {
    jobs: flume::Sender<Job>,
    /// One permit per thread: a job is only queued once a thread is free for it.
    free: Arc<Semaphore>,
    settings: HashingSettings,
}

impl std::fmt::Debug for HashingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingPool")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HashingPool {
    /// Starts the threads.
    pub fn start(settings: HashingSettings) -> std::io::Result<Self> {
        let threads = settings.threads.max(1);
        let (jobs, queue) = flume::unbounded::<Job>();
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = HashMemory::new();
                    while let Ok(job) = queue.recv() {
                        job(&mut memory);
                    }
                })?;
        }
        Ok(Self {
            jobs,
            free: Arc::new(Semaphore::new(threads)),
            settings: HashingSettings {
                threads,
                ..settings
            },
        })
    }

    /// Runs `work` on a hashing thread, once one is free. The thread stays taken
    /// until `work` ends, even if the caller stops waiting for the result, so no
    /// more than `threads` hashes ever run at once.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        F: FnOnce(&mut HashMemory) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.wait_for_thread().await?;
        let (result, outcome) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = result.send(work(memory));
            drop(permit);
        });
        self.jobs.send(job).map_err(|_| Busy)?;
        outcome.await.map_err(|_| Busy)
    }

    async fn wait_for_thread(&self) -> Result<OwnedSemaphorePermit, Busy> {
        tokio::time::timeout(self.settings.wait, self.free.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)
    }

    pub fn settings(&self) -> HashingSettings {
        self.settings
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn hashing_threads_yield_the_cores_to_the_api_and_only_they_do() {
        let nice = || rustix::process::getpriority_process(None).unwrap();
        let caller = nice();
        let pool = HashingPool::start(HashingSettings::default()).unwrap();
        assert_eq!(
            pool.run(move |_| nice()).await,
            Ok(HASHING_NICENESS.max(caller))
        );
        assert_eq!(nice(), caller, "the caller's own thread keeps its priority");
    }

    #[tokio::test]
    async fn callers_beyond_the_threads_wait_then_are_refused() {
        let pool = Arc::new(
            HashingPool::start(HashingSettings {
                threads: 1,
                wait: Duration::from_millis(100),
            })
            .unwrap(),
        );
        let running = Arc::new(AtomicUsize::new(0));
        let slow = |running: Arc<AtomicUsize>| {
            move |_: &mut HashMemory| {
                let at_once = running.fetch_add(1, Ordering::SeqCst) + 1;
                std::thread::sleep(Duration::from_millis(300));
                running.fetch_sub(1, Ordering::SeqCst);
                at_once
            }
        };
        let first = tokio::spawn({
            let (pool, running) = (pool.clone(), running.clone());
            async move { pool.run(slow(running)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(slow(running.clone())).await, Err(Busy));
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(pool.run(|_| 7).await, Ok(7), "free again afterwards");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_keeps_its_thread_until_the_work_ends() {
        let pool = HashingPool::start(HashingSettings {
            threads: 1,
            wait: Duration::from_millis(50),
        })
        .unwrap();
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            pool.run(|_| std::thread::sleep(Duration::from_millis(300))),
        )
        .await;
        assert!(abandoned.is_err());
        assert_eq!(pool.run(|_| ()).await, Err(Busy), "still hashing");
    }

    #[test]
    fn by_default_one_core_is_left_to_the_api() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = HashingSettings::default().threads;
        assert!(threads >= 1 && (threads < cores || cores == 1));
    }
}
