//! The one loop every periodic job runs on: an interval, the shared shutdown signal, and logging of a
//! failed run (the next run tries again).

use std::fmt::Display;
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
    E: Display,
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
    E: Display,
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

fn log_failure<E: Display>(name: &str, done: Result<(), E>) {
    if let Err(e) = done {
        tracing::warn!(job = name, error = %e, "periodic job failed; the next run tries again");
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    use tokio::sync::{mpsc, Semaphore};

    use super::*;

    const INTERVAL: Duration = Duration::from_secs(600);

    type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

    fn schedule(start: Start, stop: Stop) -> Schedule {
        Schedule {
            name: "test",
            interval: INTERVAL,
            start,
            stop,
        }
    }

    /// A clock moved by hand: every wait is reported when it starts, and ends on `advance`.
    struct Clock {
        permits: Arc<Semaphore>,
        started: mpsc::UnboundedReceiver<Duration>,
        tx: mpsc::UnboundedSender<Duration>,
    }

    impl Clock {
        fn new() -> Self {
            let (tx, started) = mpsc::unbounded_channel();
            Self {
                permits: Arc::new(Semaphore::new(0)),
                started,
                tx,
            }
        }

        fn sleep(&self) -> impl FnMut(Duration) -> Boxed<()> {
            let (permits, tx) = (Arc::clone(&self.permits), self.tx.clone());
            move |d| {
                let (permits, tx) = (Arc::clone(&permits), tx.clone());
                Box::pin(async move {
                    let _ = tx.send(d);
                    if let Ok(p) = permits.acquire().await {
                        p.forget();
                    }
                })
            }
        }

        /// Wait for the job's loop to start waiting, then let the wait end.
        async fn advance(&mut self) {
            assert_eq!(self.started.recv().await, Some(INTERVAL));
            self.permits.add_permits(1);
        }
    }

    /// A job that reports each run, fails every second one, and lasts until `gate` lets it end.
    fn job(
        runs: mpsc::UnboundedSender<Tick>,
        gate: Option<Arc<Semaphore>>,
    ) -> impl FnMut(Tick) -> Boxed<Result<(), String>> {
        let mut n = 0;
        move |tick| {
            n += 1;
            let (runs, gate, n) = (runs.clone(), gate.clone(), n);
            Box::pin(async move {
                let _ = runs.send(tick);
                if let Some(gate) = gate {
                    if let Ok(p) = gate.acquire().await {
                        p.forget();
                    }
                }
                if n % 2 == 0 {
                    Err(format!("run {n} failed"))
                } else {
                    Ok(())
                }
            })
        }
    }

    #[tokio::test]
    async fn runs_at_once_then_every_interval_through_failures_until_shutdown() {
        let (stop, shutdown) = watch::channel(false);
        let (tx, mut runs) = mpsc::unbounded_channel();
        let mut clock = Clock::new();
        let task = run_with(
            schedule(Start::Now, Stop::FinishRun),
            shutdown,
            job(tx, None),
            clock.sleep(),
        );
        let driver = async {
            assert_eq!(
                runs.recv().await,
                Some(Tick::Scheduled),
                "first run at once"
            );
            clock.advance().await;
            assert_eq!(
                runs.recv().await,
                Some(Tick::Scheduled),
                "after one interval"
            );
            // The second run failed: the loop goes on.
            clock.advance().await;
            assert_eq!(
                runs.recv().await,
                Some(Tick::Scheduled),
                "after a failure too"
            );
            // Shut down while waiting for the fourth run.
            assert_eq!(clock.started.recv().await, Some(INTERVAL));
            let _ = stop.send(true);
        };
        tokio::join!(task, driver);
        assert!(runs.try_recv().is_err(), "no run after shutdown");
    }

    #[tokio::test]
    async fn waits_an_interval_first_and_runs_a_final_time_at_shutdown() {
        let (stop, shutdown) = watch::channel(false);
        let (tx, mut runs) = mpsc::unbounded_channel();
        let mut clock = Clock::new();
        let task = run_with(
            schedule(Start::AfterInterval, Stop::FinalRun),
            shutdown,
            job(tx, None),
            clock.sleep(),
        );
        let driver = async {
            assert_eq!(clock.started.recv().await, Some(INTERVAL));
            assert!(runs.try_recv().is_err(), "no run before the first interval");
            clock.permits.add_permits(1);
            assert_eq!(runs.recv().await, Some(Tick::Scheduled));
            let _ = stop.send(true);
            assert_eq!(
                runs.recv().await,
                Some(Tick::Final),
                "a final run at shutdown"
            );
        };
        tokio::join!(task, driver);
        assert!(runs.try_recv().is_err(), "exactly one final run");
    }

    #[tokio::test]
    async fn a_final_run_happens_even_when_stopped_before_the_first() {
        let (stop, shutdown) = watch::channel(false);
        let (tx, mut runs) = mpsc::unbounded_channel();
        let mut clock = Clock::new();
        let _ = stop.send(true);
        run_with(
            schedule(Start::AfterInterval, Stop::FinalRun),
            shutdown,
            job(tx, None),
            clock.sleep(),
        )
        .await;
        assert_eq!(runs.try_recv(), Ok(Tick::Final));
        assert!(runs.try_recv().is_err());
        assert!(clock.started.try_recv().is_err(), "no wait");
    }

    #[tokio::test]
    async fn shutdown_abandons_or_lets_finish_the_run_in_progress() {
        for (stop_mode, finishes) in [(Stop::AbandonRun, false), (Stop::FinishRun, true)] {
            let (stop, shutdown) = watch::channel(false);
            let (tx, mut runs) = mpsc::unbounded_channel();
            let gate = Arc::new(Semaphore::new(0));
            let finished = Arc::new(Mutex::new(false));
            let mut clock = Clock::new();
            let mut inner = job(tx, Some(Arc::clone(&gate)));
            let flag = Arc::clone(&finished);
            let tracked = move |tick| {
                let run = inner(tick);
                let flag = Arc::clone(&flag);
                async move {
                    let done = run.await;
                    *flag.lock().expect("flag") = true;
                    done
                }
            };
            let task = run_with(
                schedule(Start::Now, stop_mode),
                shutdown,
                tracked,
                clock.sleep(),
            );
            let driver = async {
                assert_eq!(runs.recv().await, Some(Tick::Scheduled));
                let _ = stop.send(true);
                if finishes {
                    gate.add_permits(1);
                }
            };
            // An abandoned run never ends by itself: the loop must not wait for it.
            let both = async { tokio::join!(task, driver) };
            tokio::time::timeout(Duration::from_secs(10), both)
                .await
                .expect("the loop stopped");
            assert_eq!(*finished.lock().expect("flag"), finishes, "{stop_mode:?}");
            assert!(runs.try_recv().is_err(), "{stop_mode:?}: no second run");
            assert!(
                clock.started.try_recv().is_err(),
                "{stop_mode:?}: no wait after shutdown"
            );
        }
    }

    #[tokio::test]
    async fn a_dropped_shutdown_sender_stops_the_job() {
        let (stop, shutdown) = watch::channel(false);
        let (tx, mut runs) = mpsc::unbounded_channel();
        let mut clock = Clock::new();
        let task = run_with(
            schedule(Start::Now, Stop::FinishRun),
            shutdown,
            job(tx, None),
            clock.sleep(),
        );
        let driver = async {
            assert_eq!(runs.recv().await, Some(Tick::Scheduled));
            assert_eq!(clock.started.recv().await, Some(INTERVAL));
            drop(stop);
        };
        tokio::join!(task, driver);
        assert!(runs.try_recv().is_err());
    }
}
