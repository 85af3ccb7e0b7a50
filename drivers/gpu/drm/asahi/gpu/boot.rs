// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Booting the GPU coprocessor: releasing the ASC and bringing RTKit up.
//!
//! The firmware image is already resident (the bootloader left it there); the kernel only
//! releases the ASC coprocessor, waits for the firmware to announce itself in the handoff
//! region, and boots the RTKit protocol over the ASC mailbox until the GPU's two application
//! endpoints run. Sequence and timeouts: shared/research/agx-firmware-behaviour.md §2-§4
//! (jannau/linux:drivers/gpu/drm/asahi/{gpu,mmu,regs}.rs; linux-7.2:drivers/soc/apple/rtkit.c).
//!
//! RTKit's system endpoints ask the host for buffers (the GPU firmware asks for its crash-log
//! buffer). The firmware sees memory only through the UAT, so each buffer is a block of
//! naturally aligned 16 KiB chunks mapped firmware-shared in the kernel upper half.

use kernel::{
    apple::rtkit::{
        self,
        RtKit, //
    },
    contig_pages::ContigPages,
    device::{
        self,
        Bound,
        Device, //
    },
    io::{
        mem::IoMem,
        poll::read_poll_timeout,
        Io, //
    },
    new_mutex, page,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
};

use crate::{
    channel::{
        event::EventChannel,
        fw_log::FwLog,
        stats::StatsChannel, //
    },
    gpu::{
        crash::{
            self,
            CrashSummary,
            FwHealth, //
        },
        KernelHeapBacking, //
    },
    region_mem::{
        RegionMem,
        RootTable, //
    },
    regs::{
        self,
        ASC_CTL_SIZE, //
    },
    uat::{
        context::{
            MachineUat,
            Uat, //
        },
        pte::{
            self,
            PROT_FW_SHARED_RW, //
        },
    },
};

/// Endpoint of the firmware's control messages (init; its "look at the rings" doorbell).
pub(crate) const EP_FIRMWARE: u8 = 0x20;
/// Endpoint of the host's doorbells.
pub(crate) const EP_DOORBELL: u8 = 0x21;
/// The one message the firmware sends on [`EP_FIRMWARE`].
const MSG_RX_DOORBELL: u64 = 0x42 << 48;

/// Kernel upper-half window for buffers RTKit asks for.
const RTKIT_VA_START: u64 = 0xffff_ffae_0000_0000;
/// End (exclusive) of that window.
const RTKIT_VA_END: u64 = 0xffff_ffae_1000_0000;

/// How long the firmware gets to write its handoff magic after the coprocessor starts.
const FIRMWARE_START_TIMEOUT: Delta = Delta::from_millis(1000);

/// The UAT with the bootloader's regions as its shared memory.
pub(crate) type KernelUatHw = MachineUat<RootTable, RegionMem>;

/// The GPU MMU over the bootloader's regions.
pub(crate) type KernelUat = Uat<KernelUatHw>;

/// State the RTKit callbacks need.
#[pin_data]
pub(crate) struct FwShared {
    dev: ARef<device::Device>,
    uat: Arc<KernelUat>,
    /// Next free address of the RTKit buffer window (never reused: the firmware asks for a
    /// handful of buffers per boot).
    #[pin]
    next_va: Mutex<u64>,
    /// The firmware log, drained on every host doorbell.
    #[pin]
    fw_log: Mutex<FwLog<KernelHeapBacking>>,
    /// The event ring, drained on every host doorbell.
    #[pin]
    events: Mutex<EventChannel<KernelHeapBacking>>,
    /// The statistics ring, drained on every host doorbell.
    #[pin]
    stats: Mutex<StatsChannel<KernelHeapBacking>>,
    /// Whether the firmware crashed.
    health: Arc<FwHealth>,
}

/// A buffer lent to the firmware. RTKit lets go of it when the driver unbinds, but the
/// firmware keeps running, so it is never freed (see shared/ARCHITECTURE.md, "Firmware
/// lifetime"), only, were the coprocessor never started, unmapped and freed.
pub(crate) struct FwBuffer {
    /// The memory; freed by `drop` only after it was unmapped.
    pages: core::mem::ManuallyDrop<ContigPages>,
    cpu: core::ptr::NonNull<u8>,
    va: u64,
    size: usize,
    uat: Arc<KernelUat>,
}

// SAFETY: `cpu` only names memory inside `pages`, which may be shared between threads; the
// driver never accesses the buffer through it (the C library reads crash logs).
unsafe impl Send for FwBuffer {}
// SAFETY: As for `Send`.
unsafe impl Sync for FwBuffer {}

// SAFETY: `pages` stays allocated and mapped at `va` for `size` bytes until drop, and `cpu`
// is its linear-map address, valid for at least `size` bytes while `pages` lives.
unsafe impl rtkit::Buffer for FwBuffer {
    fn iova(&self) -> u64 {
        self.va
    }

    fn cpu_ptr(&self) -> core::ptr::NonNull<u8> {
        self.cpu
    }

    fn size(&self) -> usize {
        self.size
    }
}

impl Drop for FwBuffer {
    fn drop(&mut self) {
        if self.uat.coprocessor_started() {
            pr_info!(
                "keeping the firmware's {} KiB buffer at {:#x}: the coprocessor still runs\n",
                self.size >> 10,
                self.va
            );
            return;
        }
        match self.uat.unmap_kernel(self.va, self.size as u64) {
            // SAFETY: Unmapped and invalidated: nothing reaches the block any more, and
            // `pages` is not used after this.
            Ok(_) => unsafe { core::mem::ManuallyDrop::drop(&mut self.pages) },
            Err(e) => pr_err!(
                "cannot unmap RTKit buffer at {:#x} ({:?}); leaking it\n",
                self.va,
                e
            ),
        }
    }
}

/// The driver's RTKit callbacks.
pub(crate) struct FwOps;

#[vtable]
impl rtkit::Operations for FwOps {
    type Data = Pin<KBox<FwShared>>;
    type Buffer = FwBuffer;

    fn crashed(data: Pin<&FwShared>, crashlog: Option<&[u8]>) {
        if !data.health.mark_crashed() {
            return;
        }
        // RTKit has printed every section already; this is the line a user reads.
        match crashlog.map(crash::decode) {
            Some(Ok(CrashSummary {
                panic: Some(panic),
                pc,
            })) => {
                dev_err!(data.dev, "GPU firmware crashed: {}\n", panic);
                if let Some(pc) = pc {
                    dev_err!(data.dev, "GPU firmware crashed at PC {:#x}\n", pc);
                }
            }
            Some(Ok(_)) => dev_err!(
                data.dev,
                "GPU firmware crashed (no panic text in its log)\n"
            ),
            Some(Err(e)) => dev_err!(
                data.dev,
                "GPU firmware crashed; its crash log is unreadable ({:?})\n",
                e
            ),
            None => dev_err!(
                data.dev,
                "GPU firmware crashed; no crash log could be copied\n"
            ),
        }
        dev_err!(
            data.dev,
            "GPU marked dead: later requests fail with ENODEV (reboot to recover)\n"
        );
    }

    fn recv_message(data: Pin<&FwShared>, endpoint: u8, message: u64) {
        if endpoint == EP_FIRMWARE && message == MSG_RX_DOORBELL {
            // KTrace is off (Globals) and not read.
            if let Err(e) = data.events.lock().drain(&data.dev) {
                dev_err!(data.dev, "cannot read the event ring: {:?}\n", e);
            }
            if let Err(e) = data.fw_log.lock().drain(&data.dev) {
                dev_err!(data.dev, "cannot read the firmware log: {:?}\n", e);
            }
            if let Err(e) = data.stats.lock().drain(&data.dev) {
                dev_err!(data.dev, "cannot read the statistics ring: {:?}\n", e);
            }
            return;
        }
        dev_warn!(
            data.dev,
            "unexpected firmware message on endpoint {:#x}: {:#x}\n",
            endpoint,
            message
        );
    }

    fn shmem_setup(data: Pin<&FwShared>, size: usize, iova: Option<u64>) -> Result<FwBuffer> {
        if iova.is_some() {
            // Buffers at firmware-chosen addresses are never requested by the GPU firmware.
            dev_err!(
                data.dev,
                "firmware asked to map a buffer at its own address\n"
            );
            return Err(EINVAL);
        }
        let chunk = 1usize << pte::PAGE_SHIFT;
        let size = size
            .checked_next_multiple_of(chunk)
            .ok_or(EINVAL)?
            .max(chunk);
        let order = (size / page::PAGE_SIZE)
            .next_power_of_two()
            .trailing_zeros();
        let pages = ContigPages::alloc(order, GFP_KERNEL | __GFP_ZERO)?;
        let cpu = core::ptr::NonNull::new(pages.as_ptr()).ok_or(ENOMEM)?;
        let mut next = data.next_va.lock();
        let va = *next;
        let end = va.checked_add(size as u64).ok_or(ENOMEM)?;
        if end > RTKIT_VA_END {
            return Err(ENOMEM);
        }
        data.uat
            .map_kernel(va, pages.phys_addr(), size as u64, PROT_FW_SHARED_RW)?;
        *next = end;
        Ok(FwBuffer {
            pages: core::mem::ManuallyDrop::new(pages),
            cpu,
            va,
            size,
            uat: data.uat.clone(),
        })
    }
}

/// A running GPU firmware.
pub(crate) struct Firmware<'bound> {
    /// RTKit, running, with both GPU endpoints started.
    rtkit: RtKit<'bound, FwOps>,
    /// Whether it crashed.
    health: Arc<FwHealth>,
}

impl Firmware<'_> {
    /// Sends `message` to the GPU endpoint `endpoint` (may sleep).
    ///
    /// # Errors
    ///
    /// [`ENODEV`] once the firmware crashed, otherwise those of the mailbox.
    pub(crate) fn send(&self, endpoint: u8, message: u64) -> Result {
        self.health.check()?;
        self.rtkit.send_message(endpoint, message, false)
    }

    /// Whether the firmware still runs.
    pub(crate) fn health(&self) -> &FwHealth {
        &self.health
    }
}

/// Sets up RTKit over the ASC mailbox, before the coprocessor runs.
///
/// This is where probe defers when the mailbox driver is not there yet, so it comes before
/// anything the firmware could react to.
pub(crate) fn new_rtkit<'bound>(
    dev: &'bound Device<Bound>,
    uat: &Arc<KernelUat>,
    fw_log: FwLog<KernelHeapBacking>,
    events: EventChannel<KernelHeapBacking>,
    stats: StatsChannel<KernelHeapBacking>,
    health: Arc<FwHealth>,
) -> Result<RtKit<'bound, FwOps>> {
    let shared = KBox::pin_init(
        try_pin_init!(FwShared {
            dev: dev.into(),
            uat: uat.clone(),
            next_va <- new_mutex!(RTKIT_VA_START),
            fw_log <- new_mutex!(fw_log),
            events <- new_mutex!(events),
            stats <- new_mutex!(stats),
            health,
        }? Error),
        GFP_KERNEL,
    )?;
    RtKit::<FwOps>::new(dev, None, 0, shared).inspect_err(|e| {
        if *e != EPROBE_DEFER {
            dev_err!(dev, "cannot set up RTKit: {:?}\n", e);
        }
    })
}

/// Checks that the coprocessor has not been started since the last reset.
///
/// Once started it runs, and uses what it was given, until the SoC resets; a second probe
/// (after an unbind or a module reload) must not hand it new tables or buffers.
///
/// # Errors
///
/// [`EBUSY`] when the coprocessor already runs.
pub(crate) fn check_not_started(dev: &Device<Bound>, asc: &IoMem<'_, ASC_CTL_SIZE>) -> Result {
    if asc.read(regs::ASC_CPU_CONTROL).run() {
        dev_err!(
            dev,
            "GPU coprocessor is already running (the driver was bound before since the last \
             reset); it cannot be taken over, reboot to use the GPU\n"
        );
        return Err(EBUSY);
    }
    Ok(())
}

/// Releases the coprocessor and waits for its firmware to announce itself in the handoff
/// region. Returns when the coprocessor was released, for the boot-time measurement.
///
/// # Errors
///
/// [`EIO`] when the firmware does not write its handoff magic within a second.
pub(crate) fn start_coprocessor(
    dev: &Device<Bound>,
    asc: &IoMem<'_, ASC_CTL_SIZE>,
    uat: &KernelUat,
) -> Result<Instant<Monotonic>> {
    // From here on the firmware may use everything the UAT reaches until the SoC resets.
    uat.mark_coprocessor_started();
    let t0 = Instant::<Monotonic>::now();
    asc.update(regs::ASC_CPU_CONTROL, |r| r.with_run(true));
    read_poll_timeout(
        || Ok(uat.firmware_ready()),
        |ready| *ready,
        Delta::from_millis(10),
        FIRMWARE_START_TIMEOUT,
    )
    .map_err(|_| {
        dev_err!(
            dev,
            "GPU firmware did not start: no handoff magic after 1 s\n"
        );
        EIO
    })?;
    Ok(t0)
}

/// Boots RTKit and starts the GPU's endpoints.
///
/// # Errors
///
/// The RTKit errors (`ETIME` when the coprocessor does not answer, `EINVAL` for a protocol
/// it cannot speak) or those of the endpoint starts.
pub(crate) fn boot_rtkit<'bound>(
    dev: &Device<Bound>,
    mut rtkit: RtKit<'bound, FwOps>,
    health: Arc<FwHealth>,
    t0: Instant<Monotonic>,
) -> Result<Firmware<'bound>> {
    rtkit
        .boot()
        .inspect_err(|e| dev_err!(dev, "RTKit boot failed: {:?}\n", e))?;
    for ep in [EP_FIRMWARE, EP_DOORBELL] {
        rtkit
            .start_endpoint(ep)
            .inspect_err(|e| dev_err!(dev, "cannot start endpoint {:#x}: {:?}\n", ep, e))?;
    }
    dev_info!(dev, "RTKit up in {} ms\n", t0.elapsed().as_millis());
    Ok(Firmware { rtkit, health })
}
