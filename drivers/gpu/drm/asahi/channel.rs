// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's channels: every ring of asahi-driver-facts §5.1, created once at boot.
//!
//! Driver to firmware (TX): twelve pipe rings (vertex, fragment, compute at four
//! priorities), device control and firmware control (cache flushes). Firmware to driver
//! (RX): events, the firmware log (six sub-rings, one per log level, with a payload array),
//! kernel trace and statistics. Ring states are shared (uncached) objects; rings the
//! firmware only reads live in the private heap, rings it writes in the shared one.
//!
//! Entry sizes come from the ABI's generated structures, so one [`Channels::new`] serves
//! every firmware version; what the firmware sees of them is written into RuntimePointers
//! and FwStatus by [`Channels::publish`].

pub(crate) mod event;
pub(crate) mod fw_ctl;
pub(crate) mod fw_log;
pub(crate) mod ring;
pub(crate) mod stats;

use core::mem::size_of;

use kernel::{
    prelude::*,
    sync::Arc, //
};

use crate::{
    event::EventManager,
    fw::abi::{
        self,
        DeviceControlRingFields,
        EventRingFields,
        FwCtlRingFields,
        FwLogRingFields,
        FwStatusFields,
        KTraceRingFields,
        PipeChannelsFields,
        PipeRingFields,
        RuntimePointersFields,
        StatsRingFields, //
    },
    mem::{
        object::GpuMem,
        KernelHeaps, //
    },
    uat::heap::HeapBacking,
};

use self::ring::{
    RingLayout,
    RingSeen,
    RxRing,
    TxRing,
    FWCTL_STATE_READ,
    FWCTL_STATE_WRITE, //
};
use self::{
    event::EventChannel,
    fw_ctl::FwCtlChannel,
    fw_log::FwLog,
    stats::StatsChannel, //
};

/// Entries in every ring but KTrace.
pub(crate) const RING_ENTRIES: u32 = 0x100;
/// Entries in the KTrace ring.
pub(crate) const KTRACE_ENTRIES: u32 = 0x200;
/// Firmware-log sub-rings (debug, info, notice, warn, error, critical).
pub(crate) const FW_LOG_SUBRINGS: usize = 6;
/// Pipe priorities.
pub(crate) const PIPE_PRIORITIES: usize = 4;
/// Rings in all (12 pipes, device control, firmware control, event, firmware log, KTrace,
/// statistics; the log's sub-rings count as one channel).
pub(crate) const CHANNEL_COUNT: usize = 3 * PIPE_PRIORITIES + 6;

/// Alignment of ring states and entries (a cache line of the coprocessor and more).
const RING_ALIGN: u64 = 0x80;

/// A driver-to-firmware ring in GPU memory.
pub(crate) type Tx<B> = TxRing<GpuMem<B>, GpuMem<B>>;
/// A firmware-to-driver ring in GPU memory (sub-rings share their memory).
pub(crate) type Rx<B> = RxRing<Arc<GpuMem<B>>, Arc<GpuMem<B>>>;

/// Every channel of the firmware.
pub(crate) struct Channels<B: HeapBacking> {
    /// Pipe rings by priority: vertex, fragment, compute.
    pub(crate) pipes: KVec<[Tx<B>; 3]>,
    /// Device control.
    pub(crate) device_control: Tx<B>,
    /// Firmware control (cache flushes); taken by the cache flusher once the firmware runs.
    pub(crate) fw_ctl: Option<FwCtlChannel<B>>,
    /// Events (completion, faults); taken by whoever drains it (the RTKit callbacks).
    pub(crate) event: Option<EventChannel<B>>,
    /// The firmware log; taken by whoever drains it (the RTKit callbacks).
    pub(crate) fw_log: Option<FwLog<B>>,
    /// Kernel trace.
    pub(crate) ktrace: Rx<B>,
    /// Statistics; taken by whoever drains it (the RTKit callbacks).
    pub(crate) stats: Option<StatsChannel<B>>,
}

fn tx<B: HeapBacking>(
    heaps: &KernelHeaps<B>,
    state_size: usize,
    layout: RingLayout,
    ring_in_private: bool,
) -> Result<Tx<B>> {
    let state = GpuMem::new(&heaps.shared, state_size, RING_ALIGN)?;
    let ring_heap = if ring_in_private {
        &heaps.private
    } else {
        &heaps.shared
    };
    let entries = GpuMem::new(ring_heap, layout.entries_size(), RING_ALIGN)?;
    TxRing::new(state, entries, layout)
}

fn rx<B: HeapBacking>(
    heaps: &KernelHeaps<B>,
    state_size: usize,
    layout: RingLayout,
) -> Result<Rx<B>> {
    let state = Arc::new(
        GpuMem::new(&heaps.shared, state_size, RING_ALIGN)?,
        GFP_KERNEL,
    )?;
    let entries = Arc::new(
        GpuMem::new(&heaps.shared, layout.entries_size(), RING_ALIGN)?,
        GFP_KERNEL,
    )?;
    RxRing::new(state, entries, layout)
}

impl<B: HeapBacking> Channels<B> {
    /// Creates every ring, empty, with ABI `A`'s entry sizes; event Flags go to `events`.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] and the heaps' errors.
    pub(crate) fn new<A: abi::FwAbi>(
        heaps: &KernelHeaps<B>,
        events: &Arc<EventManager<B>>,
    ) -> Result<Self> {
        let state = size_of::<A::ChannelState>();
        let mut pipes = KVec::with_capacity(PIPE_PRIORITIES, GFP_KERNEL)?;
        let pipe = RingLayout::channel(RING_ENTRIES, size_of::<A::RunWorkQueueMsg>());
        for _ in 0..PIPE_PRIORITIES {
            pipes.push(
                [
                    tx(heaps, state, pipe, true)?,
                    tx(heaps, state, pipe, true)?,
                    tx(heaps, state, pipe, true)?,
                ],
                GFP_KERNEL,
            )?;
        }
        let device_control = tx(
            heaps,
            state,
            RingLayout::channel(RING_ENTRIES, size_of::<A::DeviceControlMsg>()),
            true,
        )?;
        let fw_ctl = tx(
            heaps,
            size_of::<A::FwCtlChannelState>(),
            RingLayout {
                read_off: FWCTL_STATE_READ,
                write_off: FWCTL_STATE_WRITE,
                ..RingLayout::channel(RING_ENTRIES, size_of::<A::FwCtlMsg>())
            },
            false,
        )?;
        let event = rx(
            heaps,
            state,
            RingLayout::channel(RING_ENTRIES, size_of::<A::EventMsg>()),
        )?;

        let log = RingLayout::channel(RING_ENTRIES, size_of::<A::RawFwLogMsg>());
        let log_state = Arc::new(
            GpuMem::new(&heaps.shared, size_of::<A::FwLogChannelState>(), RING_ALIGN)?,
            GFP_KERNEL,
        )?;
        let log_entries = Arc::new(
            GpuMem::new(
                &heaps.shared,
                log.entries_size() * FW_LOG_SUBRINGS,
                RING_ALIGN,
            )?,
            GFP_KERNEL,
        )?;
        let mut fw_log = KVec::with_capacity(FW_LOG_SUBRINGS, GFP_KERNEL)?;
        for i in 0..FW_LOG_SUBRINGS {
            fw_log.push(
                RxRing::new(
                    log_state.clone(),
                    log_entries.clone(),
                    log.sub_ring(i, state),
                )?,
                GFP_KERNEL,
            )?;
        }
        let fw_log_payload = GpuMem::new(
            &heaps.shared,
            size_of::<A::RawFwLogPayloadMsg>() * RING_ENTRIES as usize * FW_LOG_SUBRINGS,
            RING_ALIGN,
        )?;
        let ktrace = rx(
            heaps,
            state,
            RingLayout::channel(KTRACE_ENTRIES, size_of::<A::RawKTraceMsg>()),
        )?;
        let stats = rx(
            heaps,
            state,
            RingLayout::channel(RING_ENTRIES, size_of::<A::StatsMsg>()),
        )?;
        Ok(Self {
            pipes,
            device_control,
            fw_ctl: Some(FwCtlChannel::new::<A>(fw_ctl)),
            event: Some(EventChannel::new::<A>(event, events.clone())),
            fw_log: Some(FwLog::new::<A>(fw_log, fw_log_payload)),
            ktrace,
            stats: Some(StatsChannel::new::<A>(stats)),
        })
    }

    /// Writes where every ring is into RuntimePointers (and the log payload array).
    pub(crate) fn publish<A: abi::FwAbi>(&self, rp: &mut A::RuntimePointers) {
        for (p, rings) in rp.pipes_mut().iter_mut().zip(self.pipes.iter()) {
            let [v, f, c] = rings;
            p.vtx_mut().set_state(v.state().va());
            p.vtx_mut().set_ring(v.entries().va());
            p.frag_mut().set_state(f.state().va());
            p.frag_mut().set_ring(f.entries().va());
            p.comp_mut().set_state(c.state().va());
            p.comp_mut().set_ring(c.entries().va());
        }
        let dc = rp.device_control_mut();
        dc.set_state(self.device_control.state().va());
        dc.set_ring(self.device_control.entries().va());
        if let Some(event) = &self.event {
            let ev = rp.event_mut();
            ev.set_state(event.ring.state().va());
            ev.set_ring(event.ring.entries().va());
        }
        if let Some(log) = &self.fw_log {
            if let Some(first) = log.rings.first() {
                let fl = rp.fw_log_mut();
                fl.set_state(first.state().va());
                fl.set_ring(first.entries().va());
            }
            rp.set_fwlog_buf(log.payload.va());
        }
        let kt = rp.ktrace_mut();
        kt.set_state(self.ktrace.state().va());
        kt.set_ring(self.ktrace.entries().va());
        if let Some(stats) = &self.stats {
            let st = rp.stats_mut();
            st.set_state(stats.ring.state().va());
            st.set_ring(stats.ring.entries().va());
        }
    }

    /// Has every ring record its indexes into the [`RingSeen`] that `seen` returns for its
    /// name (m1n1's names: `TA_n`, `3D_n`, `CL_n` for the pipes of priority n).
    ///
    /// # Errors
    ///
    /// Those of `seen`.
    pub(crate) fn watch(
        &mut self,
        mut seen: impl FnMut(&'static str) -> Result<Arc<RingSeen>>,
    ) -> Result {
        const PIPES: [[&str; 3]; PIPE_PRIORITIES] = [
            ["TA_0", "3D_0", "CL_0"],
            ["TA_1", "3D_1", "CL_1"],
            ["TA_2", "3D_2", "CL_2"],
            ["TA_3", "3D_3", "CL_3"],
        ];
        const LOG: [&str; FW_LOG_SUBRINGS] = [
            "FWLog.debug",
            "FWLog.info",
            "FWLog.notice",
            "FWLog.warn",
            "FWLog.error",
            "FWLog.crit",
        ];
        for (rings, names) in self.pipes.iter_mut().zip(PIPES) {
            for (ring, name) in rings.iter_mut().zip(names) {
                ring.watch(seen(name)?);
            }
        }
        self.device_control.watch(seen("DevCtrl")?);
        if let Some(c) = self.fw_ctl.as_mut() {
            c.ring.watch(seen("FWCtl")?);
        }
        if let Some(e) = self.event.as_mut() {
            e.ring.watch(seen("Event")?);
        }
        if let Some(l) = self.fw_log.as_mut() {
            for (ring, name) in l.rings.iter_mut().zip(LOG) {
                ring.watch(seen(name)?);
            }
        }
        self.ktrace.watch(seen("KTrace")?);
        if let Some(s) = self.stats.as_mut() {
            s.ring.watch(seen("Stats")?);
        }
        Ok(())
    }

    /// Writes where the firmware-control ring is into FwStatus.
    pub(crate) fn publish_fw_ctl<A: abi::FwAbi>(&self, status: &mut A::FwStatus) {
        if let Some(fw_ctl) = &self.fw_ctl {
            let c = status.fwctl_channel_mut();
            c.set_state(fw_ctl.ring.state().va());
            c.set_ring(fw_ctl.ring.entries().va());
        }
    }
}
