// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! One firmware work queue of a user queue: the ring of command pointers the firmware
//! reads, the ring state both sides advance, the firmware's private scratch buffer and the
//! `QueueInfo` descriptor that a RunWorkQueue message names (asahi-driver-facts §5.3).
//!
//! A user queue has three of them (vertex, fragment, compute) sharing one GPU context
//! record and one notifier list ([`super::fw_context`]). Nothing here talks to the
//! firmware: it learns of a work queue only from the first RunWorkQueue message that names
//! its `QueueInfo`, which job submission sends.

use kernel::prelude::*;

use crate::{
    fw::{
        abi::{
            self,
            PriorityFields,
            QueueInfoFields,
            RingStateFields, //
        },
        common::U64,
    },
    mem::{
        object::{
            GpuArray,
            GpuMem,
            GpuObject, //
        },
        KernelHeaps,
    },
    uat::heap::HeapBacking,
};

/// Command pointers per ring (`WQ_SIZE` of the downstream driver).
pub(crate) const RING_ENTRIES: usize = 0x500;
/// Size of the firmware's private per-work-queue buffer ("GPBF").
pub(crate) const FW_BUFFER_SIZE: usize = 0x2c18;

/// The kind of work a work queue carries; also the pipe type of its RunWorkQueue messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PipeType {
    /// Vertex (tiling) work of render commands.
    Vertex = 0,
    /// Fragment work of render commands.
    Fragment = 1,
    /// Compute commands.
    Compute = 2,
}

/// The firmware's scheduling priority of a work queue: 0 is the most urgent, 3 the least.
/// It also selects which of the four pipe channels of a type carries the queue's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FwPriority(u8);

impl FwPriority {
    /// The lowest urgency.
    pub(crate) const LOWEST: u8 = 3;

    /// Priority `level` (0 most urgent ..= 3).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] above [`Self::LOWEST`].
    pub(crate) fn new(level: u8) -> Result<Self> {
        if level > Self::LOWEST {
            return Err(EINVAL);
        }
        Ok(Self(level))
    }

    /// The level (0 ..= 3).
    pub(crate) fn level(self) -> u8 {
        self.0
    }

    /// The six-word tuple `QueueInfo.priority` holds for this level (asahi-driver-facts
    /// §5.3). Compute queues run without preemption: word 0 is forced to 0 and word 5 to 1,
    /// as the downstream driver does unless a debug flag asks otherwise.
    fn words(self, pipe: PipeType) -> (u32, u32, u64, u32, u32, u32) {
        let mut w = match self.0 {
            0 => (0, 0, 0xffff_ffff_ffff_0000, 1, 0, 1),
            1 => (1, 1, 0xffff_ffff_0000_0000, 0, 0, 0),
            2 => (2, 2, 0xffff_0000_0000_0000, 0, 0, 2),
            _ => (3, 3, 0, 0, 0, 3),
        };
        if pipe == PipeType::Compute {
            w.0 = 0;
            w.5 = 1;
        }
        w
    }
}

/// A work queue's objects in the kernel heaps.
///
/// The descriptor goes first on drop: nothing it points to may be reused while it could
/// still be read.
pub(crate) struct WorkQueue<A: abi::FwAbi, B: HeapBacking> {
    /// `QueueInfo`: firmware-private, names everything below.
    info: GpuObject<A::QueueInfo, B>,
    /// Command pointers (shared, uncached).
    ring: GpuArray<u64, B>,
    /// Ring indices (shared, uncached).
    state: GpuObject<A::RingState, B>,
    /// The firmware's scratch buffer (firmware-private).
    _fw_buffer: GpuMem<B>,
    /// What the queue carries.
    pipe: PipeType,
}

impl<A: abi::FwAbi, B: HeapBacking> WorkQueue<A, B> {
    /// Builds an empty work queue of `pipe` at `priority`, tagged `uuid` for the firmware,
    /// whose completions go to the notifier list at `notifier_list` and which runs in the
    /// GPU context record at `gpu_context`.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] when a heap is full, and those of the heap's CPU view.
    pub(crate) fn new(
        heaps: &KernelHeaps<B>,
        pipe: PipeType,
        priority: FwPriority,
        uuid: u32,
        notifier_list: u64,
        gpu_context: u64,
    ) -> Result<Self> {
        let ring = GpuArray::<u64, B>::zeroed(&heaps.shared, RING_ENTRIES)?;
        let state = GpuObject::<A::RingState, B>::new(&heaps.shared, |s| {
            *s.rb_size_mut() = RING_ENTRIES as u32;
            Ok(())
        })?;
        let fw_buffer = GpuMem::new(&heaps.private, FW_BUFFER_SIZE, 0x40)?;
        let info = GpuObject::<A::QueueInfo, B>::new(&heaps.private, |q| {
            q.set_state(state.va());
            q.set_ring(ring.va());
            q.set_notifier_list(notifier_list);
            q.set_gpu_buf(fw_buffer.va());
            q.set_gpu_context(gpu_context);
            // No event slot is assigned until work is queued.
            *q.event_id_mut() = -1;
            *q.unk_4c_mut() = -1;
            *q.unk_54_mut() = -1;
            *q.uuid_mut() = uuid;
            let (p0, p1, p2, p3, p4, p5) = priority.words(pipe);
            let p = q.priority_mut();
            *p.p0_mut() = p0;
            *p.p1_mut() = p1;
            *p.p2_mut() = U64::new(p2);
            *p.p3_mut() = p3;
            *p.p4_mut() = p4;
            *p.p5_mut() = p5;
            Ok(())
        })?;
        Ok(Self {
            info,
            ring,
            state,
            _fw_buffer: fw_buffer,
            pipe,
        })
    }

    /// GPU address of the `QueueInfo` RunWorkQueue messages carry.
    pub(crate) fn info_va(&self) -> u64 {
        self.info.va()
    }

    /// What the queue carries.
    pub(crate) fn pipe(&self) -> PipeType {
        self.pipe
    }

    /// The descriptor as the firmware would read it.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] for the copy.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))] // Submission reads it.
    pub(crate) fn read_info(&self) -> Result<KBox<A::QueueInfo>> {
        let mut v = KBox::init(pin_init::init_zeroed::<A::QueueInfo>(), GFP_KERNEL)?;
        self.info.read(&mut v)?;
        Ok(v)
    }

    /// The ring state as the firmware would read it.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] for the copy.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))] // Submission reads it.
    pub(crate) fn read_state(&self) -> Result<KBox<A::RingState>> {
        let mut v = KBox::init(pin_init::init_zeroed::<A::RingState>(), GFP_KERNEL)?;
        self.state.read(&mut v)?;
        Ok(v)
    }

    /// GPU address and length of the command-pointer ring.
    pub(crate) fn ring(&self) -> (u64, usize) {
        (self.ring.va(), self.ring.len())
    }
}
