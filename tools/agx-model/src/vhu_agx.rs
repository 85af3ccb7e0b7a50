// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The vhost-user backend: moves virtio_pcidev requests between UML's virtqueues and the
//! [`Device`].
//!
//! Queue 0 carries requests; each chain is parsed ([`crate::pcidev`]), served, and returned
//! with the read data. After every batch, and whenever UML posts new interrupt buffers on
//! queue 1, the interrupts the device raised are written into those buffers as `MSI` messages.
//! Interrupts wait in order while UML has no buffer posted.
//!
//! UML busy-waits for each read's answer (linux-7.2:arch/um/drivers/virtio_pcidev.c
//! `virtio_pcidev_send_cmd`), so requests are served in the worker thread without deferral.
//!
//! GPU firmware work (INIT, ring scans) is not done inside a request: the device signals the
//! backend's work eventfd ([`WORK_EVENT`], registered with the daemon's epoll loop by
//! [`crate::start_backend`]) and the work runs as its own event, after the request that
//! latched it has been answered, followed by an interrupt flush.
//!
//! What the firmware does on its own clock (the timed injected faults) runs from a timerfd
//! ([`TIMER_EVENT`], registered the same way): after every event the backend arms it for the
//! device's [`Device::timer_deadline`].
//!
//! In the binary ([`OnViolation::Exit`]) a failing event handler ends the process with
//! [`crate::EXIT_BACKEND`]: the vhost-user library would otherwise stop the worker thread
//! silently, leave UML waiting for answers, and the process would later exit 0.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::{debug, warn};
use thiserror::Error as ThisError;
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackendMut, VringRwLock, VringT};
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_queue::{QueueOwnedT, QueueT};
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};
use vmm_sys_util::timerfd::TimerFd;

use crate::mmio::Device;
use crate::pcidev::{self, Request, CMD_QUEUE, IRQ_MSG_SIZE, IRQ_QUEUE};
use crate::strict::Violation;

/// Number of virtqueues (cmd, irq).
pub const NUM_QUEUES: usize = 2;
/// Largest queue UML creates (`MAX_SUPPORTED_QUEUE_SIZE` in virtio_uml.c).
pub const QUEUE_SIZE: usize = 256;
/// Epoll data of the GPU firmware's work event (above the queues and the exit event).
pub const WORK_EVENT: u16 = NUM_QUEUES as u16 + 1;
/// Epoll data of the firmware's timer (timed injected faults).
pub const TIMER_EVENT: u16 = NUM_QUEUES as u16 + 2;

/// Backend errors.
#[derive(Debug, ThisError)]
pub enum Error {
    /// The frontend has not sent its memory table yet.
    #[error("guest memory not configured yet")]
    NoMemoryConfigured,
    /// Event for a queue or source the device does not have.
    #[error("event {0} for an unknown source")]
    UnknownEvent(u16),
    /// Event without `EPOLLIN`.
    #[error("unexpected epoll event set {0:?}")]
    UnexpectedEventSet(EventSet),
    /// The avail ring could not be read.
    #[error("cannot iterate the avail ring: {0}")]
    AvailRing(virtio_queue::Error),
    /// A descriptor chain could not be read or written.
    #[error("bad descriptor chain: {0}")]
    Chain(virtio_queue::Error),
    /// Guest memory I/O through a chain failed.
    #[error("descriptor I/O failed: {0}")]
    ChainIo(io::Error),
    /// An interrupt buffer too small for a message.
    #[error("interrupt buffer of {0} bytes is smaller than {IRQ_MSG_SIZE}")]
    IrqBufferTooSmall(usize),
    /// Returning a chain to the used ring failed.
    #[error("cannot add to the used ring: {0}")]
    AddUsed(virtio_queue::Error),
    /// Signalling the frontend failed.
    #[error("cannot signal the used queue: {0}")]
    Signal(io::Error),
    /// Creating the exit event failed.
    #[error("cannot create the exit event: {0}")]
    ExitEvent(io::Error),
    /// A strict-mode violation (the report has been printed already when aborting).
    #[error("strict mode violation: {0}")]
    Strict(Violation),
    /// The firmware's timer could not be created, armed or read.
    #[error("firmware timer: {0}")]
    Timer(io::Error),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::other(e)
    }
}

type Result<T> = std::result::Result<T, Error>;

/// What the backend does on a strict-mode violation (and on any other handler error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnViolation {
    /// Print the report and end the process with [`crate::EXIT_STRICT`]; any other handler
    /// error ends it with [`crate::EXIT_BACKEND`] (the binary).
    Exit,
    /// Return the error from the event handler (tests).
    Return,
}

/// The AGX vhost-user backend.
pub struct VhostUserAgxBackend {
    device: Arc<Mutex<Device>>,
    mem: Option<GuestMemoryAtomic<GuestMemoryMmap>>,
    event_idx: bool,
    pending_irqs: VecDeque<u32>,
    on_violation: OnViolation,
    exit_consumer: EventConsumer,
    exit_notifier: EventNotifier,
    work_consumer: EventConsumer,
    timer: TimerFd,
    /// The deadline the timer is armed for (not yet read).
    armed: Option<Instant>,
}

impl VhostUserAgxBackend {
    /// A backend serving `device`.
    pub fn new(device: Arc<Mutex<Device>>, on_violation: OnViolation) -> Result<Self> {
        let (exit_consumer, exit_notifier) =
            new_event_consumer_and_notifier(EventFlag::NONBLOCK).map_err(Error::ExitEvent)?;
        let (work_consumer, work_notifier) =
            new_event_consumer_and_notifier(EventFlag::NONBLOCK).map_err(Error::ExitEvent)?;
        device
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_work_notifier(work_notifier);
        Ok(VhostUserAgxBackend {
            device,
            mem: None,
            event_idx: false,
            pending_irqs: VecDeque::new(),
            on_violation,
            exit_consumer,
            exit_notifier,
            work_consumer,
            timer: TimerFd::new().map_err(|e| Error::Timer(e.into()))?,
            armed: None,
        })
    }

    /// The firmware's timerfd; register it with the daemon's epoll loop as [`TIMER_EVENT`].
    pub fn timer_event_fd(&self) -> RawFd {
        self.timer.as_raw_fd()
    }

    /// Runs what the firmware scheduled (the [`TIMER_EVENT`] handler).
    pub fn run_timers(&mut self) -> Result<()> {
        // Only an expired timer is read (the read blocks otherwise): a one-shot timer that
        // fired is no longer armed; a stale event for a timer re-armed since is skipped.
        let expired = !self.timer.is_armed().map_err(|e| Error::Timer(e.into()))?;
        if self.armed.is_some() && expired {
            self.armed = None;
            self.timer.wait().map_err(|e| Error::Timer(e.into()))?;
        }
        let r = self.lock_device().run_timers(Instant::now());
        r.map_err(|v| self.violation(v))
    }

    /// Arms (or disarms) the timer for the device's next deadline.
    fn arm_timer(&mut self) -> Result<()> {
        let want = self.lock_device().timer_deadline();
        if want == self.armed {
            return Ok(());
        }
        match want {
            Some(at) => {
                // A zero duration would disarm the timer: a due deadline fires at once.
                let d = at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_micros(1));
                self.timer.reset(d, None)
            }
            None => self.timer.clear(),
        }
        .map_err(|e| Error::Timer(e.into()))?;
        self.armed = want;
        Ok(())
    }

    /// The eventfd the device signals when the GPU firmware has work; register it with the
    /// daemon's epoll loop as [`WORK_EVENT`].
    pub fn work_event_fd(&self) -> RawFd {
        self.work_consumer.as_raw_fd()
    }

    /// Runs the GPU firmware's latched work (the [`WORK_EVENT`] handler).
    pub fn run_gpu_work(&mut self) -> Result<()> {
        // Spurious wake-ups (the counter already drained) are harmless: the work is latched
        // in the device, not in the counter.
        let _ = self.work_consumer.consume();
        let r = self.lock_device().run_gpu_work();
        r.map_err(|v| self.violation(v))
    }

    /// The device (shared with whoever reports on it).
    pub fn device(&self) -> &Arc<Mutex<Device>> {
        &self.device
    }

    fn lock_device(&self) -> MutexGuard<'_, Device> {
        // A panic while holding the lock already ended the serving thread; the state is still
        // the best there is for the report.
        self.device.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn violation(&self, v: Violation) -> Error {
        if self.on_violation == OnViolation::Exit {
            let report = self.lock_device().report(&v);
            eprint!("{report}");
            std::process::exit(crate::EXIT_STRICT);
        }
        Error::Strict(v)
    }

    /// Serves every request waiting on the command queue. Returns whether any was served.
    pub fn process_cmd_queue(&mut self, vring: &VringRwLock) -> Result<bool> {
        let mem = self.mem.as_ref().ok_or(Error::NoMemoryConfigured)?.memory();
        let chains: Vec<_> = vring
            .get_mut()
            .get_queue_mut()
            .iter(mem.clone())
            .map_err(Error::AvailRing)?
            .collect();
        if chains.is_empty() {
            return Ok(false);
        }
        for chain in chains {
            let head = chain.head_index();
            let mut reader = chain.clone().reader(chain.memory()).map_err(Error::Chain)?;
            let mut bytes = vec![0u8; reader.available_bytes()];
            reader.read_exact(&mut bytes).map_err(Error::ChainIo)?;
            let served = Request::parse(&bytes).and_then(|req| {
                let mut dev = self.lock_device();
                pcidev::serve(&mut dev, &req)
            });
            let out = match served {
                Ok(out) => out,
                Err(v) => return Err(self.violation(v)),
            };
            let mut len = 0;
            if !out.is_empty() {
                let mut writer = chain.clone().writer(chain.memory()).map_err(Error::Chain)?;
                let n = out.len().min(writer.available_bytes());
                if n < out.len() {
                    warn!("read answer of {} bytes truncated to {n}", out.len());
                }
                writer.write_all(&out[..n]).map_err(Error::ChainIo)?;
                len = n as u32;
            }
            vring.add_used(head, len).map_err(Error::AddUsed)?;
        }
        vring.signal_used_queue().map_err(Error::Signal)?;
        Ok(true)
    }

    /// Writes pending interrupts into the buffers UML posted on the interrupt queue.
    pub fn flush_irqs(&mut self, vring: &VringRwLock) -> Result<()> {
        let new = self.lock_device().take_irqs();
        self.pending_irqs.extend(new);
        let usable = {
            let state = vring.get_ref();
            state.get_queue().ready() && state.is_enabled()
        };
        if self.pending_irqs.is_empty() || !usable {
            return Ok(());
        }
        let mem = self.mem.as_ref().ok_or(Error::NoMemoryConfigured)?.memory();
        let mut delivered = false;
        while let Some(&hwirq) = self.pending_irqs.front() {
            let Some(chain) = vring
                .get_mut()
                .get_queue_mut()
                .pop_descriptor_chain(mem.clone())
            else {
                debug!("{} interrupts wait for buffers", self.pending_irqs.len());
                break;
            };
            let mut writer = chain.clone().writer(chain.memory()).map_err(Error::Chain)?;
            if writer.available_bytes() < IRQ_MSG_SIZE {
                return Err(Error::IrqBufferTooSmall(writer.available_bytes()));
            }
            writer
                .write_all(&pcidev::irq_message(hwirq))
                .map_err(Error::ChainIo)?;
            vring
                .add_used(chain.head_index(), IRQ_MSG_SIZE as u32)
                .map_err(Error::AddUsed)?;
            self.pending_irqs.pop_front();
            delivered = true;
        }
        if delivered {
            vring.signal_used_queue().map_err(Error::Signal)?;
        }
        Ok(())
    }

    fn handle(&mut self, device_event: u16, evset: EventSet, vrings: &[VringRwLock]) -> Result<()> {
        if evset != EventSet::IN {
            return Err(Error::UnexpectedEventSet(evset));
        }
        match usize::from(device_event) {
            CMD_QUEUE => self.serve_cmd_queue(&vrings[CMD_QUEUE])?,
            IRQ_QUEUE => {}
            e if e == usize::from(WORK_EVENT) => self.run_gpu_work()?,
            e if e == usize::from(TIMER_EVENT) => self.run_timers()?,
            _ => return Err(Error::UnknownEvent(device_event)),
        }
        self.flush_irqs(&vrings[IRQ_QUEUE])?;
        self.arm_timer()
    }

    fn serve_cmd_queue(&mut self, vring: &VringRwLock) -> Result<()> {
        if self.event_idx {
            // Standard event-index loop: keep going until no new requests arrived while
            // notifications were disabled.
            loop {
                vring.disable_notification().map_err(Error::AvailRing)?;
                self.process_cmd_queue(vring)?;
                if !vring.enable_notification().map_err(Error::AvailRing)? {
                    break;
                }
            }
        } else {
            self.process_cmd_queue(vring)?;
        }
        Ok(())
    }
}

impl VhostUserBackendMut for VhostUserAgxBackend {
    type Vring = VringRwLock;
    type Bitmap = ();

    fn num_queues(&self) -> usize {
        NUM_QUEUES
    }

    fn max_queue_size(&self) -> usize {
        QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1) | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        VhostUserProtocolFeatures::REPLY_ACK
    }

    fn set_event_idx(&mut self, enabled: bool) {
        self.event_idx = enabled;
    }

    fn update_memory(&mut self, mem: GuestMemoryAtomic<GuestMemoryMmap>) -> io::Result<()> {
        self.lock_device().set_memory(mem.clone());
        self.mem = Some(mem);
        Ok(())
    }

    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        Some((
            self.exit_consumer.try_clone().ok()?,
            self.exit_notifier.try_clone().ok()?,
        ))
    }

    fn handle_event(
        &mut self,
        device_event: u16,
        evset: EventSet,
        vrings: &[VringRwLock],
        _thread_id: usize,
    ) -> io::Result<()> {
        let r = self.handle(device_event, evset, vrings);
        if let (Err(e), OnViolation::Exit) = (&r, self.on_violation) {
            eprintln!("agx-model: backend failed: {e}");
            std::process::exit(crate::EXIT_BACKEND);
        }
        Ok(r?)
    }
}
