// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The coprocessor's cache: flushing it, and reusing firmware-cached kernel memory after it.
//!
//! The firmware caches what it reads through the private and GPU-read-only kernel heaps. A
//! freed object there may still sit in that cache, and a later write-back of a stale line
//! would corrupt whatever the memory holds next. So those heaps park their frees
//! ([`crate::uat::heap`]), and [`FwCache::collect_garbage`] returns them only after a flush
//! over their span has completed (shared/ARCHITECTURE.md, "Firmware lifetime": clear ->
//! invalidate -> free; a step that times out leaks instead).
//!
//! One flush (asahi-driver-facts §6.5, steps 3 to 5; agx-firmware-behaviour.md §5): post the
//! range in the kernel's handoff flush slot (64), queue a `FwCtlMsg` naming it, ring `0x84`
//! on the doorbell endpoint, wait up to a second for the ring's read index to pass the
//! message, then check the firmware acknowledged the slot (state 2) and retire it. Flushes
//! are serialised by the channel's lock, so the slot never holds two requests.
//!
//! When the firmware does not complete a flush, the slot stays posted: every later flush then
//! fails with [`EBUSY`] and parked memory is never reused (leaked, never corrupted). A
//! crashed firmware fails every flush with [`ENODEV`].

use kernel::{
    device::{
        Bound,
        Device, //
    },
    io::poll::read_poll_timeout,
    new_mutex,
    prelude::*,
    sync::Mutex,
    time::Delta, //
};

use crate::{
    channel::fw_ctl::{
        FlushMsg,
        FwCtlChannel,
        MAX_FLUSH_PAGES, //
    },
    mem::object::SharedHeap,
    uat::{handoff::FLUSH_KERNEL, heap::HeapBacking, pte::PAGE_SIZE},
};

use super::{
    boot::{
        Firmware,
        KernelUat,
        EP_DOORBELL, //
    },
    KernelHeapBacking,
};

/// FwCtl doorbell on the doorbell endpoint (no channel number).
pub(crate) const MSG_FWCTL_DOORBELL: u64 = 0x84 << 48;
/// How long the firmware gets to complete one flush (facts §5.2: as for device control).
pub(crate) const FLUSH_TIMEOUT: Delta = Delta::from_millis(1000);
/// Time between looks at the ring's read index while waiting.
const FLUSH_POLL: Delta = Delta::from_micros(500);

/// The driver's side of coprocessor-cache flushes.
#[pin_data]
pub(crate) struct FwCache {
    /// The firmware-control ring; holding its lock is holding the kernel flush slot.
    #[pin]
    channel: Mutex<FwCtlChannel<KernelHeapBacking>>,
}

impl FwCache {
    /// Takes over the firmware-control ring.
    pub(crate) fn new(channel: FwCtlChannel<KernelHeapBacking>) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            channel <- new_mutex!(channel),
        })
    }

    /// Flushes `[addr, addr + size)` of the kernel context (both 16 KiB aligned) from the
    /// coprocessor's cache, in requests of at most [`MAX_FLUSH_PAGES`] pages.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for an empty or unaligned range, [`ENODEV`] once the firmware crashed,
    /// [`EBUSY`] while an earlier flush was never completed, [`ETIMEDOUT`] when the
    /// firmware does not complete this one, [`EIO`] when it consumed the request without
    /// acknowledging it or wrote a torn ring index.
    pub(crate) fn flush_kernel(
        &self,
        dev: &Device<Bound>,
        fw: &Firmware<'_>,
        uat: &KernelUat,
        addr: u64,
        size: u64,
    ) -> Result {
        if size == 0 || (addr | size) & (PAGE_SIZE - 1) != 0 {
            return Err(EINVAL);
        }
        let end = addr.checked_add(size).ok_or(EINVAL)?;
        let mut channel = self.channel.lock();
        let mut at = addr;
        while at < end {
            let pages = ((end - at) / PAGE_SIZE).min(MAX_FLUSH_PAGES);
            // In range by the `min` above.
            let pages = u16::try_from(pages).map_err(|_| EINVAL)?;
            flush_one(dev, fw, uat, &mut channel, at, pages)?;
            at += u64::from(pages) * PAGE_SIZE;
        }
        Ok(())
    }

    /// Flushes the span of every free parked in `heaps` so far and returns those frees to
    /// their heap. Returns the bytes made reusable.
    ///
    /// # Errors
    ///
    /// Those of [`FwCache::flush_kernel`] (the heap's batch stays parked), [`ENOMEM`].
    pub(crate) fn collect_garbage(
        &self,
        dev: &Device<Bound>,
        fw: &Firmware<'_>,
        uat: &KernelUat,
        heaps: &[&SharedHeap<KernelHeapBacking>],
    ) -> Result<u64> {
        let mut collected = 0;
        for heap in heaps {
            let Some(batch) = heap.lock().garbage_batch() else {
                continue;
            };
            let start = batch.start & !(PAGE_SIZE - 1);
            let end = batch
                .end
                .checked_next_multiple_of(PAGE_SIZE)
                .ok_or(EINVAL)?;
            self.flush_kernel(dev, fw, uat, start, end - start)?;
            let mut h = heap.lock();
            let before = h.garbage_bytes();
            h.collect_garbage(batch)?;
            collected += before - h.garbage_bytes();
        }
        Ok(collected)
    }
}

/// One request of `pages` pages at `addr`, with the channel (and so the slot) held.
fn flush_one<B: HeapBacking>(
    dev: &Device<Bound>,
    fw: &Firmware<'_>,
    uat: &KernelUat,
    channel: &mut FwCtlChannel<B>,
    addr: u64,
    pages: u16,
) -> Result {
    fw.health().check()?;
    let size = u64::from(pages) * PAGE_SIZE;
    uat.post_flush(FLUSH_KERNEL, addr, size).inspect_err(|e| {
        if *e == EBUSY {
            dev_err!(
                dev,
                "GPU cache flush slot still busy with an earlier flush the firmware never completed\n"
            );
        }
    })?;
    let token = channel.push(&FlushMsg {
        addr,
        slot: FLUSH_KERNEL as u32,
        pages,
    })?;
    fw.send(EP_DOORBELL, MSG_FWCTL_DOORBELL)?;
    read_poll_timeout(
        || {
            fw.health().check()?;
            channel.is_done(token)
        },
        |done| *done,
        FLUSH_POLL,
        FLUSH_TIMEOUT,
    )
    .inspect_err(|e| {
        if *e == ETIMEDOUT {
            dev_err!(
                dev,
                "GPU firmware did not complete the cache flush of {:#x}+{:#x} within {} ms: memory waiting for it stays unused\n",
                addr,
                size,
                FLUSH_TIMEOUT.as_millis()
            );
        }
    })?;
    uat.finish_flush(FLUSH_KERNEL).inspect_err(|_| {
        dev_err!(
            dev,
            "GPU firmware consumed the cache flush of {:#x}+{:#x} without acknowledging it\n",
            addr,
            size
        );
    })
}
