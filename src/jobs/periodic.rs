//! The one loop every periodic job runs on: an interval, the shared shutdown signal, and logging of a
//! failed run (the next run tries again).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// When the first run happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At once, then every interval.
    Now,
    /// After one interval.
    AfterInterval,
}

/// What shutdown does to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A run in progress finishes; no new one starts.
    FinishRun,
    /// A run in progress is dropped at once (it must leave nothing half-written).
    AbandonRun,
    /// A run in progress finishes, then one last run with [`Tick::Final`].
    FinalRun,
}

/// How a periodic job is scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Named in the logs.
    pub name: &'static str,
    /// Time between the end of one run and the start of the next.
    pub interval: Duration,
    pub start: Start,
    pub stop: Stop,
}

impl Schedule {
    pub const fn new(name: &'static str, interval: Duration, start: Start, stop: Stop) -> Self {
        Self {
            name,
            interval,
            start,
            stop,
        }
    }
}

/// Which run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Scheduled,
    /// The last run, at shutdown ([`Stop::FinalRun`]).
    Final,
}

/// Run `job` on `schedule` until `shutdown` turns true (or its sender is dropped). A failed run is
/// logged and the next one comes at the usual time.
pub async fn periodic<F, Fut, E>(schedule: Schedule, shutdown: watch::Receiver<bool>, job: F)
where
    F: FnMut(Tick) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    run_with(schedule, shutdown, job, tokio::time::sleep).await;
}

/// [`periodic`] with the wait between runs supplied by the caller (tests drive it by hand).
async fn run_with<F, Fut, E, S, SFut>(
    schedule: Schedule,
    mut shutdown: watch::Receiver<bool>,
    mut job: F,
    mut sleep: S,
) where
    F: FnMut(Tick) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
    S: FnMut(Duration) -> SFut,
    SFut: Future<Output = ()>,
{
    let mut wait_first = schedule.start == Start::AfterInterval;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if wait_first {
            let stopped = tokio::select! {
                () = sleep(schedule.interval) => false,
                _ = shutdown.changed() => true,
            };
            if stopped || *shutdown.borrow() {
                break;
            }
        }
        wait_first = true;
        let done = match schedule.stop {
            Stop::AbandonRun => tokio::select! {
                done = job(Tick::Scheduled) => Some(done),
                _ = shutdown.changed() => None,
            },
            Stop::FinishRun | Stop::FinalRun => Some(job(Tick::Scheduled).await),
        };
        match done {
            Some(done) => log_failure(schedule.name, done),
            None => break,
        }
    }
    if schedule.stop == Stop::FinalRun {
        log_failure(schedule.name, job(Tick::Final).await);
    }
}

fn log_failure<E: std::error::Error + 'static>(name: &str, done: Result<(), E>) {
    if let Err(e) = done {
        let error = crate::error::Chain(&e);
        tracing::warn!(job = name, %error, "periodic job failed; the next run tries again");
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::sync::{mpsc, Semaphore};

    use super::*;

    const INTERVAL: Duration = Duration::from_secs(600);

    type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

    /// The loop under test, driven by hand: its clock, its runs, its shutdown signal.
    struct Harness {
        stop: watch::Sender<bool>,
        /// Each run's tick, when it starts.
        runs: mpsc::UnboundedReceiver<Tick>,
        /// Each wait's length, when it starts; it ends on `tick_clock`.
        waits: mpsc::UnboundedReceiver<Duration>,
        clock: Arc<Semaphore>,
        /// A run lasts until this lets it end (`None`: at once).
        gate: Option<Arc<Semaphore>>,
        finished: Arc<AtomicUsize>,
    }

    impl Harness {
        /// The loop (to await alongside the test's driver) and its harness. Every second run fails.
        fn new(start: Start, stop: Stop, gated: bool) -> (impl Future<Output = ()>, Self) {
            let (stop_tx, shutdown) = watch::channel(false);
            let (run_tx, runs) = mpsc::unbounded_channel();
            let (wait_tx, waits) = mpsc::unbounded_channel();
            let clock = Arc::new(Semaphore::new(0));
            let gate = gated.then(|| Arc::new(Semaphore::new(0)));
            let finished = Arc::new(AtomicUsize::new(0));
            let (c, g, f) = (Arc::clone(&clock), gate.clone(), Arc::clone(&finished));
            let sleep = move |d| -> Boxed<()> {
                let (clock, wait_tx) = (Arc::clone(&c), wait_tx.clone());
                Box::pin(async move {
                    let _ = wait_tx.send(d);
                    pass(&clock).await;
                })
            };
            let job = move |tick| -> Boxed<Result<(), std::io::Error>> {
                let (run_tx, gate, finished) = (run_tx.clone(), g.clone(), Arc::clone(&f));
                Box::pin(async move {
                    let _ = run_tx.send(tick);
                    if let Some(gate) = gate {
                        pass(&gate).await;
                    }
                    match finished.fetch_add(1, Ordering::SeqCst) + 1 {
                        n if n % 2 == 0 => Err(std::io::Error::other(format!("run {n} failed"))),
                        _ => Ok(()),
                    }
                })
            };
            let schedule = Schedule::new("test", INTERVAL, start, stop);
            let task = run_with(schedule, shutdown, job, sleep);
            let h = Self {
                stop: stop_tx,
                runs,
                waits,
                clock,
                gate,
                finished,
            };
            (task, h)
        }

        /// Wait for the loop to start waiting, then let the wait end.
        async fn tick_clock(&mut self) {
            assert_eq!(self.waits.recv().await, Some(INTERVAL));
            self.clock.add_permits(1);
        }

        fn nothing_more(&mut self) -> bool {
            self.runs.try_recv().is_err() && self.waits.try_recv().is_err()
        }
    }

    async fn pass(s: &Semaphore) {
        if let Ok(p) = s.acquire().await {
            p.forget();
        }
    }

    #[tokio::test]
    async fn runs_at_once_then_every_interval_through_failures_until_shutdown() {
        let (task, mut h) = Harness::new(Start::Now, Stop::FinishRun, false);
        let driver = async {
            assert_eq!(
                h.runs.recv().await,
                Some(Tick::Scheduled),
                "first run at once"
            );
            h.tick_clock().await;
            assert_eq!(
                h.runs.recv().await,
                Some(Tick::Scheduled),
                "after one interval"
            );
            // The second run failed: the loop goes on.
            h.tick_clock().await;
            assert_eq!(
                h.runs.recv().await,
                Some(Tick::Scheduled),
                "after a failure too"
            );
            // Shut down while waiting for the fourth run.
            assert_eq!(h.waits.recv().await, Some(INTERVAL));
            let _ = h.stop.send(true);
        };
        tokio::join!(task, driver);
        assert_eq!(h.finished.load(Ordering::SeqCst), 3);
        assert!(h.nothing_more(), "no run after shutdown");
    }

    #[tokio::test]
    async fn waits_an_interval_first_and_runs_a_final_time_at_shutdown() {
        let (task, mut h) = Harness::new(Start::AfterInterval, Stop::FinalRun, false);
        let driver = async {
            assert_eq!(h.waits.recv().await, Some(INTERVAL));
            assert!(
                h.runs.try_recv().is_err(),
                "no run before the first interval"
            );
            h.clock.add_permits(1);
            assert_eq!(h.runs.recv().await, Some(Tick::Scheduled));
            let _ = h.stop.send(true);
            assert_eq!(
                h.runs.recv().await,
                Some(Tick::Final),
                "a final run at shutdown"
            );
        };
        tokio::join!(task, driver);
        assert!(h.runs.try_recv().is_err(), "exactly one final run");
    }

    #[tokio::test]
    async fn a_final_run_happens_even_when_stopped_before_the_first() {
        let (task, mut h) = Harness::new(Start::AfterInterval, Stop::FinalRun, false);
        let _ = h.stop.send(true);
        task.await;
        assert_eq!(h.runs.try_recv(), Ok(Tick::Final));
        assert!(h.nothing_more(), "no wait, no other run");
    }

    #[tokio::test]
    async fn shutdown_abandons_or_lets_finish_the_run_in_progress() {
        for (mode, finishes) in [(Stop::AbandonRun, 0), (Stop::FinishRun, 1)] {
            let (task, mut h) = Harness::new(Start::Now, mode, true);
            let driver = async {
                assert_eq!(h.runs.recv().await, Some(Tick::Scheduled));
                let _ = h.stop.send(true);
                if let (1, Some(gate)) = (finishes, &h.gate) {
                    gate.add_permits(1);
                }
            };
            // An abandoned run never ends by itself: the loop must not wait for it.
            let both = async { tokio::join!(task, driver) };
            tokio::time::timeout(Duration::from_secs(10), both)
                .await
                .expect("the loop stopped");
            assert_eq!(h.finished.load(Ordering::SeqCst), finishes, "{mode:?}");
            assert!(h.nothing_more(), "{mode:?}: no wait, no second run");
        }
    }

    #[tokio::test]
    async fn a_dropped_shutdown_sender_stops_the_job() {
        let (task, mut h) = Harness::new(Start::Now, Stop::FinishRun, false);
        let (stop, _) = watch::channel(false);
        let stop = std::mem::replace(&mut h.stop, stop);
        let driver = async {
            assert_eq!(h.runs.recv().await, Some(Tick::Scheduled));
            assert_eq!(h.waits.recv().await, Some(INTERVAL));
            drop(stop);
        };
        tokio::join!(task, driver);
        assert!(h.nothing_more());
    }
}
