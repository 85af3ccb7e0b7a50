// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware side of a user queue: its GPU context record, its completion notifier and
//! the three work queues that share them (asahi-driver-facts §7.1).
//!
//! Built at QUEUE_CREATE, before the firmware knows of the queue; job submission hands the
//! work queues' descriptors to the firmware. Generic over the firmware ABI like the rest of
//! the firmware-facing code ([`crate::fw`]); [`FwQueue`] erases the ABI for the DRM side,
//! which picks it once per device.
//!
//! The tiled vertex buffer a render queue also needs is job submission's (it grows with
//! what the firmware reports), so it is not made here.

use kernel::prelude::*;

use crate::{
    fw::abi::{
        self,
        GpuContextDataFields,
        LinkedListHeadFields,
        NotifierFields,
        NotifierListFields, //
    },
    mem::{
        object::GpuObject,
        KernelHeaps, //
    },
    uat::heap::HeapBacking,
};

use super::work_queue::{
    FwPriority,
    PipeType,
    WorkQueue, //
};

/// A user queue's firmware objects, erased over the ABI.
pub(crate) trait FwQueue: Send + Sync {
    /// The `QueueInfo` addresses of the vertex, fragment and compute work queues.
    fn work_queue_infos(&self) -> [u64; 3];
}

/// A user queue's firmware objects for ABI `A`.
///
/// The work queues go first on drop: they point at everything else.
pub(crate) struct FwContext<A: abi::FwAbi, B: HeapBacking> {
    /// Vertex, fragment and compute, in [`PipeType`] order.
    work_queues: [WorkQueue<A, B>; 3],
    /// Completion notifier (firmware-private).
    _notifier: GpuObject<A::Notifier, B>,
    /// The notifier's threshold (shared).
    _threshold: GpuObject<A::Threshold, B>,
    /// Head of the notifier list the work queues complete into (shared).
    notifier_list: GpuObject<A::NotifierList, B>,
    /// GPU context record the three work queues share (shared).
    gpu_context: GpuObject<A::GpuContextData, B>,
}

impl<A: abi::FwAbi, B: HeapBacking> FwContext<A, B> {
    /// Builds the objects of queue `uuid` at `priority`.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] when a heap is full, and those of the heap's CPU view.
    pub(crate) fn new(heaps: &KernelHeaps<B>, uuid: u32, priority: FwPriority) -> Result<Self> {
        let gpu_context = GpuObject::<A::GpuContextData, B>::new(&heaps.shared, |c| {
            *c.unk_0_mut() = 0xff;
            *c.unk_1_mut() = 0xff;
            *c.unk_5_mut() = 1;
            *c.unk_1e_mut() = 0xff;
            *c.unk_23_mut() = 2;
            Ok(())
        })?;
        // An empty firmware list links its head to itself.
        let notifier_list = GpuObject::<A::NotifierList, B>::zeroed(&heaps.shared)?;
        let mut head = KBox::init(pin_init::init_zeroed::<A::NotifierList>(), GFP_KERNEL)?;
        head.list_head_mut().set_prev(notifier_list.va());
        head.list_head_mut().set_next(notifier_list.va());
        notifier_list.write(&head)?;
        let threshold = GpuObject::<A::Threshold, B>::zeroed(&heaps.shared)?;
        let notifier = GpuObject::<A::Notifier, B>::new(&heaps.private, |n| {
            n.set_threshold(threshold.va());
            *n.generation_mut() = uuid;
            *n.unk_10_mut() = 0x50;
            if let Some(buf) = n.unk_buf_mut() {
                *buf = [0xff; 8];
            }
            Ok(())
        })?;
        let wq = |pipe| {
            WorkQueue::new(
                heaps,
                pipe,
                priority,
                uuid,
                notifier_list.va(),
                gpu_context.va(),
            )
        };
        let work_queues = [
            wq(PipeType::Vertex)?,
            wq(PipeType::Fragment)?,
            wq(PipeType::Compute)?,
        ];
        Ok(Self {
            work_queues,
            _notifier: notifier,
            _threshold: threshold,
            notifier_list,
            gpu_context,
        })
    }

    /// The work queue carrying `pipe`.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))] // Submission uses it.
    pub(crate) fn work_queue(&self, pipe: PipeType) -> &WorkQueue<A, B> {
        &self.work_queues[pipe as usize]
    }

    /// GPU address of the shared GPU context record.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))] // Submission uses it.
    pub(crate) fn gpu_context_va(&self) -> u64 {
        self.gpu_context.va()
    }

    /// GPU address of the notifier list head.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))] // Submission uses it.
    pub(crate) fn notifier_list_va(&self) -> u64 {
        self.notifier_list.va()
    }
}

impl<A: abi::FwAbi, B: HeapBacking + Send + Sync> FwQueue for FwContext<A, B> {
    fn work_queue_infos(&self) -> [u64; 3] {
        [
            self.work_queues[0].info_va(),
            self.work_queues[1].info_va(),
            self.work_queues[2].info_va(),
        ]
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_queue_fw_context)]
mod tests {
    use super::*;
    use crate::{
        fw::abi::{
            PriorityFields,
            QueueInfoFields,
            RingStateFields, //
        },
        mem::{
            class_accepts,
            test_backing::MemBacking, //
        },
    };

    /// Builds a queue's objects for `A` and checks what the firmware reads in them.
    fn check<A: abi::FwAbi>() -> Result {
        let heaps = KernelHeaps::new(MemBacking::new)?;
        let ctx = FwContext::<A, MemBacking>::new(&heaps, 7, FwPriority::new(2)?)?;
        for (pipe, p0, p5) in [
            (PipeType::Vertex, 2, 2),
            (PipeType::Fragment, 2, 2),
            (PipeType::Compute, 0, 1),
        ] {
            let wq = ctx.work_queue(pipe);
            assert_eq!(wq.pipe(), pipe);
            let info = wq.read_info()?;
            for p in <A::QueueInfo as QueueInfoFields<A>>::POINTER_FIELDS {
                let mut w = [0u8; 8];
                w.copy_from_slice(&kernel::transmute::AsBytes::as_bytes(&*info)[p.offset..][..8]);
                let va = u64::from_le_bytes(w);
                assert!(va != 0, "{} is null", p.name);
                assert!(
                    class_accepts(p.class, va),
                    "{} = {:#x} in the wrong heap",
                    p.name,
                    va
                );
            }
            assert_eq!(info.ring(), wq.ring().0);
            assert_eq!(wq.ring().1, RING_ENTRIES_FOR_TEST);
            assert_eq!(info.gpu_context(), ctx.gpu_context_va());
            assert_eq!(info.notifier_list(), ctx.notifier_list_va());
            assert_eq!(*info.event_id(), -1);
            assert_eq!(*info.uuid(), 7);
            let prio = info.priority();
            assert_eq!(
                (*prio.p0(), *prio.p1(), prio.p2().get()),
                (p0, 2, 0xffff_0000_0000_0000)
            );
            assert_eq!(*prio.p5(), p5);
            let state = wq.read_state()?;
            assert_eq!(*state.rb_size(), RING_ENTRIES_FOR_TEST as u32);
            assert_eq!(
                (*state.cpu_wptr(), *state.gpu_rptr(), *state.gpu_doneptr()),
                (0, 0, 0)
            );
        }
        // The three work queues are distinct objects.
        let infos = ctx.work_queue_infos();
        assert!(infos[0] != infos[1] && infos[1] != infos[2] && infos[0] != infos[2]);
        Ok(())
    }

    const RING_ENTRIES_FOR_TEST: usize = super::super::work_queue::RING_ENTRIES;

    #[test]
    fn queue_objects_are_what_the_firmware_reads() -> Result {
        check::<abi::G13V12_3>()?;
        check::<abi::G14V12_4>()?;
        check::<abi::G13V13_5>()?;
        check::<abi::G14V13_5>()?;
        check::<abi::G14XV13_5>()
    }

    #[test]
    fn firmware_priorities_stop_at_three() {
        assert_eq!(FwPriority::new(4).err(), Some(EINVAL));
        assert!(matches!(FwPriority::new(3), Ok(p) if p.level() == 3));
    }
}
