// SPDX-License-Identifier: GPL-2.0

//! A job queue for GPUs whose firmware schedules the work.
//!
//! Such a GPU takes jobs from rings the driver fills; the driver only has to hold each job
//! back until the fences it depends on have signalled, keep the rings from overflowing, and
//! tell userspace when a job is done. That is what [`JobQueue`] does, and no more: it is not
//! a scheduler (the firmware picks what runs), so it has no run queues, priorities or
//! entities, and its lifetime rules are the driver's own objects'.
//!
//! - **Submission in two steps.** [`JobQueue::prepare`] does everything that can fail
//!   (allocating the job's done fence and its places in the queue); [`PreparedJob::commit`]
//!   cannot fail and returns the done fence, so an ioctl can install it in its out-syncs after
//!   the point of no return. Dropping a [`PreparedJob`] undoes the preparation.
//! - **Dependencies without a sleeping thread.** Jobs start in submission order. For the
//!   oldest waiting job the queue registers a callback on its first pending dependency; the
//!   callback (which may run in interrupt context) only kicks the queue's work item, which
//!   looks again in process context. A dependency that signalled with an error fails the job
//!   with that error; it is not run. The callbacks' memory is allocated without entering
//!   reclaim (reclaim may wait for this queue's fences); without it the queue falls back to
//!   waiting in its work item for its own hardware fences, or fails the job for a dependency.
//! - **Credits.** Each job costs credits (for example ring slots), and jobs only start while
//!   the credits of the started, unfinished jobs fit the queue's capacity.
//! - **Completion in order.** [`JobOps::run`] starts a job and returns the fence the hardware
//!   signals when it is done. The queue signals the job's done fence with that fence's result,
//!   oldest job first, from its work item: done fences of one queue form one fence context
//!   and signal in sequence order, also when a job fails before it runs (its error waits for
//!   the older jobs). Done fences are signalled, and finished jobs dropped, with the queue's
//!   lock released, so a job may hold the last reference to whatever owns the queue.
//! - **Teardown.** Dropping the queue removes its callbacks, cancels or waits out its work
//!   item, waits for the hardware fences of started jobs (oldest first) before their payloads
//!   go, since the hardware may still read them, and then cancels the jobs that never started
//!   (their done fences signal `ECANCELED`). A hardware fence that does not signal within
//!   [`TEARDOWN_TIMEOUT_MS`] leaks its job (it is logged): leaking memory the GPU may still use
//!   is safer than freeing it.
//!
//! Timeouts are left to the driver: firmware that schedules work also reports hung jobs, and
//! the driver then signals the hardware fence with an error. Not done yet: the work item runs
//! on `system_dfl` (not a `WQ_MEM_RECLAIM` queue with a rescuer) and is not annotated with
//! `dma_fence_begin_signalling()`.
//!
//! # Examples
//!
//! A pretend GPU whose "firmware" is the test itself: running a job hands the test the job's
//! hardware fence, and the test signals it.
//!
//! ```
//! use kernel::{
//!     c_str,
//!     dma_buf::dma_fence::{DriverFence, Fence, FenceContext},
//!     drm::jq::{JobOps, JobQueue},
//!     new_mutex,
//!     sync::{aref::ARef, Arc, Mutex},
//!     time::{delay::fsleep, Delta},
//! };
//!
//! struct Gpu {
//!     hw: FenceContext,
//!     started: Arc<Mutex<KVec<(u32, DriverFence)>>>,
//! }
//!
//! impl JobOps for Gpu {
//!     type Job = u32;
//!     fn run(&self, job: &mut u32) -> Result<ARef<Fence>> {
//!         if *job == 13 {
//!             return Err(EIO);
//!         }
//!         let hw = self.hw.allocate(GFP_KERNEL)?.arm();
//!         let fence = hw.get();
//!         self.started.lock().push((*job, hw), GFP_KERNEL)?;
//!         Ok(fence)
//!     }
//! }
//!
//! let started = Arc::pin_init(new_mutex!(KVec::new()), GFP_KERNEL)?;
//! let gpu = Gpu { hw: FenceContext::new(c_str!("test"), c_str!("hw")), started: started.clone() };
//! let q = JobQueue::new(gpu, 2, c_str!("test"), c_str!("queue"))?;
//! let user = FenceContext::new(c_str!("test"), c_str!("user"));
//! let ids = |s: &Arc<Mutex<KVec<(u32, DriverFence)>>>| s.lock().iter().map(|(j, _)| *j).sum::<u32>();
//! let wait_for = |s: &Arc<Mutex<KVec<(u32, DriverFence)>>>, id: u32| {
//!     for _ in 0..2000 {
//!         if s.lock().iter().any(|(j, _)| *j == id) { return true; }
//!         fsleep(Delta::from_millis(1));
//!     }
//!     false
//! };
//! // Takes the hardware fence of started job `id` out, to signal it.
//! let take = |s: &Arc<Mutex<KVec<(u32, DriverFence)>>>, id: u32| -> Result<DriverFence> {
//!     let mut s = s.lock();
//!     let i = s.iter().position(|(j, _)| *j == id).ok_or(ENOENT)?;
//!     Ok(s.remove(i).map_err(|_| EINVAL)?.1)
//! };
//!
//! // Job 1 waits for a fence of userspace's.
//! let dep = user.allocate(GFP_KERNEL)?.arm();
//! let mut deps = KVec::new();
//! deps.push(dep.get(), GFP_KERNEL)?;
//! let done1 = q.prepare(1, deps, 1)?.commit();
//! assert_eq!(done1.context(), q.fence_context());
//! fsleep(Delta::from_millis(20));
//! assert_eq!(ids(&started), 0);
//! dep.signal(Ok(()));
//! assert!(wait_for(&started, 1));
//!
//! // Job 2 runs beside it; job 4 (2 credits) waits until both are done.
//! let done2 = q.prepare(2, KVec::new(), 1)?.commit();
//! let done4 = q.prepare(4, KVec::new(), 2)?.commit();
//! assert!(wait_for(&started, 2));
//! fsleep(Delta::from_millis(20));
//! assert_eq!(ids(&started), 3);
//!
//! // Done fences signal in order: job 2 finishing first is held back behind job 1.
//! take(&started, 2)?.signal(Ok(()));
//! assert_eq!(done2.wait_timeout(false, 2), Err(ETIME));
//! take(&started, 1)?.signal(Ok(()));
//! assert!(done1.wait_timeout(false, 1000).is_ok() && done2.wait_timeout(false, 1000).is_ok());
//! assert_eq!(done2.status(), Some(Ok(())));
//!
//! // A job whose dependency failed ends with that error, but only after the older job 4.
//! assert!(wait_for(&started, 4));
//! let bad = user.allocate(GFP_KERNEL)?.arm();
//! let mut deps = KVec::new();
//! deps.push(bad.get(), GFP_KERNEL)?;
//! let done5 = q.prepare(5, deps, 1)?.commit();
//! bad.signal(Err(EINVAL));
//! assert_eq!(done5.wait_timeout(false, 2), Err(ETIME));
//! // The hardware's error becomes the done fence's.
//! take(&started, 4)?.signal(Err(EIO));
//! assert!(done4.wait_timeout(false, 1000).is_ok() && done5.wait_timeout(false, 1000).is_ok());
//! assert_eq!(done4.status(), Some(Err(EIO)));
//! assert_eq!(done5.status(), Some(Err(EINVAL)));
//! assert!(done4.seqno() < done5.seqno());
//!
//! // A job that fails to start ends with that error.
//! let done13 = q.prepare(13, KVec::new(), 1)?.commit();
//! assert!(done13.wait_timeout(false, 1000).is_ok());
//! assert_eq!(done13.status(), Some(Err(EIO)));
//!
//! // Credits are checked; a dropped preparation leaves nothing behind.
//! assert!(matches!(q.prepare(6, KVec::new(), 0), Err(e) if e == EINVAL));
//! assert!(matches!(q.prepare(6, KVec::new(), 3), Err(e) if e == EINVAL));
//! drop(q.prepare(6, KVec::new(), 1)?);
//!
//! // Teardown cancels what has not started.
//! let never = user.allocate(GFP_KERNEL)?.arm();
//! let mut deps = KVec::new();
//! deps.push(never.get(), GFP_KERNEL)?;
//! let done7 = q.prepare(7, deps, 1)?.commit();
//! drop(q);
//! assert_eq!(done7.status(), Some(Err(ECANCELED)));
//! assert_eq!(ids(&started), 0);
//! drop(never);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    dma_buf::{
        dma_fence::{
            DriverFence,
            Fence,
            FenceAllocation,
            FenceContext, //
        },
        fence_callback::{
            FenceCallback,
            FenceCallbackFn, //
        },
    },
    new_mutex, new_work,
    prelude::*,
    str::CStr,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    time::msecs_to_jiffies,
    workqueue::{
        self,
        Work,
        WorkItem, //
    },
};
use core::{
    mem::ManuallyDrop,
    ptr, //
};

/// How long dropping a queue waits for each started job's hardware fence.
pub const TEARDOWN_TIMEOUT_MS: u32 = 10_000;

/// What a driver's queue does with its jobs.
pub trait JobOps: Send + Sync + 'static {
    /// The driver's data of one job.
    type Job: Send + 'static;

    /// Starts `job`, whose dependencies have all signalled, on the hardware, and returns the
    /// fence the hardware signals when the job is done.
    ///
    /// Called in process context from the queue's work item, in submission order, with the
    /// queue's lock held: it must not call back into the same queue. An error fails the job
    /// (its done fence signals that error, in order) and the queue goes on with the next one.
    fn run(&self, job: &mut Self::Job) -> Result<ARef<Fence>>;
}

/// A job waiting for its dependencies or for credits.
struct Waiting<T: JobOps> {
    job: T::Job,
    /// Dependencies not yet seen signalled; checked from the end.
    deps: KVec<ARef<Fence>>,
    credits: u32,
    done: DriverFence,
}

/// How a job that left the waiting list ends.
enum Outcome {
    /// The hardware runs it; this fence says when it is done.
    Hardware(ARef<Fence>),
    /// It failed before it ran.
    Failed(Error),
}

/// A job that left the waiting list, until its done fence is signalled.
struct Started<T: JobOps> {
    job: T::Job,
    outcome: Outcome,
    /// Credits it holds (0 if it never ran).
    credits: u32,
    done: DriverFence,
}

impl<T: JobOps> Started<T> {
    /// The job's result once it is known.
    fn result(&self) -> Option<Result> {
        match &self.outcome {
            Outcome::Hardware(hw) => hw.status(),
            Outcome::Failed(e) => Some(Err(*e)),
        }
    }
}

/// Kicks the queue's work item; what every callback of the queue does.
struct Kick<T: JobOps>(Arc<Inner<T>>);

impl<T: JobOps> FenceCallbackFn for Kick<T> {
    fn signaled(&self) {
        // Enqueueing is safe from any context; if the work is already queued it looks again
        // anyway, so the returned reference is simply dropped (never the last one: the queue
        // holds its own until its callbacks are gone).
        let _ = workqueue::system_dfl().enqueue(self.0.clone());
    }
}

/// A registered kick on one fence.
type KickCallback<T> = Pin<KBox<FenceCallback<Kick<T>>>>;

struct State<T: JobOps> {
    waiting: KVec<Waiting<T>>,
    started: KVec<Started<T>>,
    /// Places promised to prepared jobs, in both lists.
    reserved: usize,
    /// Credits of the jobs the hardware runs.
    in_flight: u64,
    /// The callback on the dependency the oldest waiting job waits for.
    dep_wait: Option<KickCallback<T>>,
    /// The callback on the oldest started job's hardware fence.
    hw_wait: Option<KickCallback<T>>,
    closed: bool,
}

#[pin_data]
struct Inner<T: JobOps> {
    ops: T,
    fences: FenceContext,
    capacity: u32,
    #[pin]
    state: Mutex<State<T>>,
    #[pin]
    work: Work<Inner<T>>,
}

crate::impl_has_work! {
    impl{T: JobOps} HasWork<Self> for Inner<T> { self.work }
}

impl<T: JobOps> WorkItem for Inner<T> {
    type Pointer = Arc<Inner<T>>;

    fn run(this: Arc<Self>) {
        this.process(&this);
    }
}

/// What one look at the queue found to do.
enum Step<T: JobOps> {
    /// Nothing until a fence signals or a job is submitted.
    Idle,
    /// Something changed; look again.
    Again,
    /// The oldest started job is done: signal it and drop it, unlocked.
    Retire(Started<T>, Result),
    /// No memory for a callback on this hardware fence: wait for it, unlocked.
    WaitFor(ARef<Fence>),
}

/// Whether `slot` holds a callback on `fence`.
fn waits_on<T: JobOps>(slot: &Option<KickCallback<T>>, fence: &Fence) -> bool {
    slot.as_ref()
        .is_some_and(|cb| ptr::eq(cb.fence().as_raw(), fence.as_raw()))
}

impl<T: JobOps> Inner<T> {
    /// Registers a kick on `fence`; `Ok(None)` if it has already signalled.
    fn kick_on(this: &Arc<Self>, fence: &ARef<Fence>) -> Result<Option<KickCallback<T>>> {
        // Never enter reclaim here: reclaim may wait for this queue's done fences.
        let flags = GFP_NOWAIT | __GFP_NOWARN;
        match KBox::pin_init(FenceCallback::new(fence.clone(), Kick(this.clone())), flags) {
            Ok(cb) => Ok(Some(cb)),
            Err(e) if e == ENOENT => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Retires finished jobs and starts ready ones, until nothing more can be done now.
    ///
    /// Only the work item calls this, and a work item never runs twice at once, so done
    /// fences are signalled in order although the lock is dropped to signal them.
    fn process(&self, this: &Arc<Self>) {
        loop {
            let step = {
                let mut st = self.state.lock();
                if st.closed {
                    return;
                }
                match self.retire(this, &mut st) {
                    Step::Idle => self.start(this, &mut st),
                    other => other,
                }
            };
            match step {
                Step::Idle => return,
                Step::Again => {}
                Step::Retire(job, result) => {
                    job.done.signal(result);
                    drop(job.job);
                }
                Step::WaitFor(hw) => {
                    let _ = hw.wait_timeout(false, u64::MAX);
                }
            }
        }
    }

    /// Looks at the oldest started job: retire it if its result is known, else make sure a
    /// callback waits for its hardware fence.
    fn retire(&self, this: &Arc<Self>, st: &mut State<T>) -> Step<T> {
        let Some(oldest) = st.started.first() else {
            st.hw_wait = None;
            return Step::Idle;
        };
        if let Some(result) = oldest.result() {
            st.hw_wait = None;
            return match st.started.remove(0) {
                Ok(job) => {
                    st.in_flight -= u64::from(job.credits);
                    Step::Retire(job, result)
                }
                Err(_) => Step::Idle,
            };
        }
        let Outcome::Hardware(hw) = &oldest.outcome else {
            return Step::Idle;
        };
        if waits_on(&st.hw_wait, hw) {
            return Step::Idle;
        }
        let hw = hw.clone();
        match Self::kick_on(this, &hw) {
            Ok(Some(cb)) => {
                st.hw_wait = Some(cb);
                // Starting more jobs may still be possible.
                Step::Idle
            }
            Ok(None) => Step::Again,
            // The driver's hardware fences always signal (on completion, a fault, a timeout
            // or a firmware crash), so waiting for one ends.
            Err(_) => Step::WaitFor(hw),
        }
    }

    /// Moves the oldest waiting job to the started list: failed if a dependency failed, run
    /// if its dependencies signalled and its credits fit.
    fn start(&self, this: &Arc<Self>, st: &mut State<T>) -> Step<T> {
        let Some(oldest) = st.waiting.first_mut() else {
            st.dep_wait = None;
            return Step::Idle;
        };
        let mut failed = None;
        while let Some(dep) = oldest.deps.last() {
            match dep.status() {
                Some(Ok(())) => {
                    oldest.deps.pop();
                }
                Some(Err(e)) => {
                    failed = Some(e);
                    break;
                }
                None if waits_on(&st.dep_wait, dep) => return Step::Idle,
                None => {
                    let dep = dep.clone();
                    match Self::kick_on(this, &dep) {
                        Ok(Some(cb)) => {
                            st.dep_wait = Some(cb);
                            return Step::Idle;
                        }
                        Ok(None) => {}
                        // A foreign fence may never signal, so the work item does not wait
                        // for it; without memory for the callback the job fails.
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        if failed.is_none() && st.in_flight + u64::from(oldest.credits) > u64::from(self.capacity) {
            // Retiring a running job kicks the queue again.
            return Step::Idle;
        }
        st.dep_wait = None;
        let Ok(mut job) = st.waiting.remove(0) else {
            return Step::Idle;
        };
        let (outcome, credits) = match failed {
            Some(e) => (Outcome::Failed(e), 0),
            None => match self.ops.run(&mut job.job) {
                Ok(hw) => (Outcome::Hardware(hw), job.credits),
                Err(e) => (Outcome::Failed(e), 0),
            },
        };
        st.in_flight += u64::from(credits);
        let started = Started {
            job: job.job,
            outcome,
            credits,
            done: job.done,
        };
        // `prepare` reserved a place in `started` for every job, so this cannot fail.
        if let Err(e) = st.started.push_within_capacity(started) {
            // Unreachable; should it happen, leaking is safer than freeing a running job.
            core::mem::forget(e.0);
        }
        Step::Again
    }
}

/// A queue of jobs for one hardware queue (for example one firmware work queue).
pub struct JobQueue<T: JobOps> {
    inner: Arc<Inner<T>>,
}

/// A job ready to be committed: its done fence is allocated and its places in the queue
/// reserved. Dropping it releases both.
pub struct PreparedJob<'a, T: JobOps> {
    queue: &'a JobQueue<T>,
    job: T::Job,
    deps: KVec<ARef<Fence>>,
    credits: u32,
    done: FenceAllocation<'a>,
}

impl<T: JobOps> Drop for PreparedJob<'_, T> {
    fn drop(&mut self) {
        self.queue.inner.state.lock().reserved -= 1;
    }
}

impl<T: JobOps> PreparedJob<'_, T> {
    /// Queues the job and returns its done fence. Cannot fail.
    pub fn commit(self) -> ARef<Fence> {
        let this = ManuallyDrop::new(self);
        let queue = this.queue;
        // SAFETY: `this` is neither used nor dropped again, so each field is moved out exactly
        // once; its `Drop` (which would release the reservation) is replaced by the
        // `reserved -= 1` below.
        let (job, deps, done) = unsafe {
            (
                ptr::read(&this.job),
                ptr::read(&this.deps),
                ptr::read(&this.done),
            )
        };
        let mut st = queue.inner.state.lock();
        st.reserved -= 1;
        // Armed under the lock, so sequence numbers follow the queue's order.
        let done = done.arm();
        let fence = done.get();
        let waiting = Waiting {
            job,
            deps,
            credits: this.credits,
            done,
        };
        // `prepare` reserved the place, so this cannot fail; should it, the job is dropped
        // unstarted and its done fence signals ECANCELED.
        let refused = st.waiting.push_within_capacity(waiting).err();
        drop(st);
        drop(refused);
        let _ = workqueue::system_dfl().enqueue(queue.inner.clone());
        fence
    }
}

impl<T: JobOps> JobQueue<T> {
    /// A queue whose jobs `ops` runs, with `capacity` credits; its done fences carry the
    /// names `driver_name` and `timeline_name`.
    pub fn new(
        ops: T,
        capacity: u32,
        driver_name: &'static CStr,
        timeline_name: &'static CStr,
    ) -> Result<Self> {
        let inner = Arc::pin_init(
            pin_init!(Inner {
                ops,
                fences: FenceContext::new(driver_name, timeline_name),
                capacity,
                state <- new_mutex!(State {
                    waiting: KVec::new(),
                    started: KVec::new(),
                    reserved: 0,
                    in_flight: 0,
                    dep_wait: None,
                    hw_wait: None,
                    closed: false,
                }),
                work <- new_work!("JobQueue::work"),
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { inner })
    }

    /// The driver's operations.
    pub fn ops(&self) -> &T {
        &self.inner.ops
    }

    /// The fence context of this queue's done fences.
    pub fn fence_context(&self) -> u64 {
        self.inner.fences.id()
    }

    /// Prepares `job`, to run once every fence in `deps` has signalled, costing `credits`.
    ///
    /// `EINVAL` if `credits` is 0 or more than the queue's capacity, `ENOMEM`, or `ENODEV`
    /// once the queue is being torn down.
    pub fn prepare(
        &self,
        job: T::Job,
        deps: KVec<ARef<Fence>>,
        credits: u32,
    ) -> Result<PreparedJob<'_, T>> {
        if credits == 0 || credits > self.inner.capacity {
            return Err(EINVAL);
        }
        let done = self.inner.fences.allocate(GFP_KERNEL)?;
        let mut st = self.inner.state.lock();
        if st.closed {
            return Err(ENODEV);
        }
        // Every job may end up in either list, so both get room for all of them.
        let jobs = st.waiting.len() + st.started.len() + st.reserved + 1;
        let (w, s) = (st.waiting.len(), st.started.len());
        st.waiting.reserve(jobs - w, GFP_KERNEL)?;
        st.started.reserve(jobs - s, GFP_KERNEL)?;
        st.reserved += 1;
        drop(st);
        Ok(PreparedJob {
            queue: self,
            job,
            deps,
            credits,
            done,
        })
    }
}

impl<T: JobOps> Drop for JobQueue<T> {
    fn drop(&mut self) {
        let mut st = self.inner.state.lock();
        st.closed = true;
        // After removal no callback runs or will run, so nothing queues the work again.
        let callbacks = (st.dep_wait.take(), st.hw_wait.take());
        let waiting = core::mem::take(&mut st.waiting);
        let started = core::mem::take(&mut st.started);
        drop(st);
        drop(callbacks);
        // A work item still queued would only see `closed`, but it holds a reference that
        // would drop the driver's `ops` later, from the workqueue; take it back now, or wait
        // for a running one to finish.
        // SAFETY: `work` is an initialised work item of `inner`, which is live.
        let work = unsafe { Work::raw_get(&self.inner.work) };
        // SAFETY: `work` is a valid work_struct; cancelling may sleep, which `drop` allows.
        if unsafe { bindings::cancel_work_sync(work) } {
            // SAFETY: The cancelled work owned one reference, taken by `Arc::into_raw` when
            // it was queued; its `run` would have given it back with `Arc::from_raw`.
            drop(unsafe { Arc::from_raw(Arc::as_ptr(&self.inner)) });
        }
        let timeout = msecs_to_jiffies(TEARDOWN_TIMEOUT_MS) as u64;
        // Oldest first: started jobs (waiting for the hardware), then the ones never started.
        for job in started {
            let result = match &job.outcome {
                Outcome::Failed(e) => Err(*e),
                Outcome::Hardware(hw) => match hw.wait_timeout(false, timeout) {
                    Ok(_) => hw.status().unwrap_or(Err(ECANCELED)),
                    Err(_) => {
                        pr_err!(
                            "jq: hardware fence {}:{} did not signal at teardown; leaking its job\n",
                            hw.context(),
                            hw.seqno()
                        );
                        job.done.signal(Err(ETIMEDOUT));
                        core::mem::forget(job.job);
                        continue;
                    }
                },
            };
            job.done.signal(result);
            drop(job.job);
        }
        // Their done fences signal ECANCELED as they drop.
        drop(waiting);
    }
}
