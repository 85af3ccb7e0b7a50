// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's init sequence, and how the driver judges it ready.
//!
//! Order (asahi-driver-facts §4 step 7; agx-firmware-behaviour §4.2): device control's
//! `Initialize` is queued before RTKit boots, without a doorbell; once the GPU endpoints
//! run, INIT carries InitData's address on the firmware endpoint, then the device-control
//! doorbell and a kick follow on the doorbell endpoint. The real driver does not wait for
//! anything after that; we do, the way every later device-control request is judged: the
//! firmware's read index must pass `Initialize` within a second (behaviour §4.4). A
//! firmware that reads InitData and dislikes it panics instead, which RTKit reports.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    io::poll::read_poll_timeout,
    prelude::*,
    sync::Arc,
    time::{
        Delta,
        Instant,
        Monotonic, //
    },
    transmute::AsBytes,
};

use crate::{
    channel::{
        ring::TxToken,
        Channels, //
    },
    event::EventManager,
    fw::{
        abi::{
            self,
            DeviceControlMsgFields, //
        },
        version::FwAbi,
    },
    mem::KernelHeaps,
    uat::heap::HeapBacking,
};

use super::{
    boot::{
        Firmware,
        EP_DOORBELL,
        EP_FIRMWARE, //
    },
    initdata::{
        self,
        Calibration,
        InitData, //
    },
};

/// INIT on the firmware endpoint; bits 43:0 carry InitData's address.
pub(crate) const MSG_INIT: u64 = 0x81 << 48;
/// The part of a kernel address INIT carries (the firmware re-extends the upper half).
const INIT_VA_MASK: u64 = (1 << 44) - 1;
/// TX doorbell on the doorbell endpoint; bits 15:0 name the ring.
pub(crate) const MSG_TX_DOORBELL: u64 = 0x83 << 48;
/// Doorbell id of device control.
pub(crate) const DOORBELL_DEVICE_CONTROL: u64 = 0x11;
/// Doorbell id of the kick (rescan everything).
pub(crate) const DOORBELL_KICK: u64 = 0x10;
/// How long device control gets to consume a message.
pub(crate) const DEVICE_CONTROL_TIMEOUT: Delta = Delta::from_millis(1000);

/// What the firmware is given at INIT, built before the coprocessor boots.
pub(crate) struct Prepared<B: HeapBacking> {
    /// Every ring.
    pub(crate) channels: Channels<B>,
    /// The InitData tree.
    pub(crate) initdata: InitData<B>,
    /// Completion of the queued `Initialize`.
    init_token: TxToken,
}

/// Builds channels and InitData for ABI `A` and queues `Initialize`.
fn prepare_abi<A: abi::FwAbi, B: HeapBacking>(
    heaps: &KernelHeaps<B>,
    events: &Arc<EventManager<B>>,
    cal: &Calibration<'_>,
    oas: u32,
) -> Result<KBox<Prepared<B>>> {
    let mut channels = Channels::new::<A>(heaps, events)?;
    let initdata = initdata::build::<A, B>(heaps, &channels, cal, oas)?;
    let mut msg: A::DeviceControlMsg = pin_init::zeroed();
    msg.set_tag(A::DEVICE_CONTROL_TAG_INITIALIZE);
    let init_token = channels.device_control.push(msg.as_bytes())?;
    // On the heap: probe runs deep in the driver core on a kernel stack of 16 KiB.
    Ok(KBox::new(
        Prepared {
            channels,
            initdata,
            init_token,
        },
        GFP_KERNEL,
    )?)
}

/// Builds what the firmware of ABI `abi` is given at INIT: the one place the ABI picks
/// generated types. Event Flags will be dispatched to `events`.
///
/// # Errors
///
/// Those of building the channels and InitData.
pub(crate) fn prepare<B: HeapBacking>(
    abi: FwAbi,
    heaps: &KernelHeaps<B>,
    events: &Arc<EventManager<B>>,
    cal: &Calibration<'_>,
    oas: u32,
) -> Result<KBox<Prepared<B>>> {
    match abi {
        FwAbi::G13V12_3 => prepare_abi::<abi::G13V12_3, B>(heaps, events, cal, oas),
        FwAbi::G14V12_4 => prepare_abi::<abi::G14V12_4, B>(heaps, events, cal, oas),
        FwAbi::G13V13_5 => prepare_abi::<abi::G13V13_5, B>(heaps, events, cal, oas),
        FwAbi::G14V13_5 => prepare_abi::<abi::G14V13_5, B>(heaps, events, cal, oas),
        FwAbi::G14XV13_5 => prepare_abi::<abi::G14XV13_5, B>(heaps, events, cal, oas),
    }
}

/// The INIT message for InitData at `va`.
pub(crate) const fn init_message(va: u64) -> u64 {
    MSG_INIT | (va & INIT_VA_MASK)
}

/// Sends INIT and the doorbells, then waits until the firmware consumed `Initialize`.
/// Returns how long that took since `t0`.
///
/// # Errors
///
/// Those of sending, [`ETIMEDOUT`] when device control is not consumed in time, [`ENODEV`]
/// when the firmware crashed meanwhile (e.g. it refused InitData), [`EIO`] for a firmware
/// that wrote a torn ring index.
pub(crate) fn start<B: HeapBacking>(
    dev: &Device<Bound>,
    fw: &Firmware<'_>,
    prepared: &mut Prepared<B>,
    t0: Instant<Monotonic>,
) -> Result<Delta> {
    fw.send(EP_FIRMWARE, init_message(prepared.initdata.va()))?;
    fw.send(EP_DOORBELL, MSG_TX_DOORBELL | DOORBELL_DEVICE_CONTROL)?;
    fw.send(EP_DOORBELL, MSG_TX_DOORBELL | DOORBELL_KICK)?;
    let token = prepared.init_token;
    let ring = &mut prepared.channels.device_control;
    read_poll_timeout(
        || {
            fw.health().check()?;
            ring.is_done(token)
        },
        |done| *done,
        Delta::from_millis(5),
        DEVICE_CONTROL_TIMEOUT,
    )
    .inspect_err(|e| {
        if *e == ETIMEDOUT {
            dev_err!(
                dev,
                "GPU firmware did not consume Initialize within {} ms\n",
                DEVICE_CONTROL_TIMEOUT.as_millis()
            );
        } else if *e == ENODEV {
            dev_err!(dev, "GPU firmware crashed during initialisation\n");
        } else {
            dev_err!(dev, "GPU firmware device control failed: {:?}\n", e);
        }
    })?;
    Ok(t0.elapsed())
}
