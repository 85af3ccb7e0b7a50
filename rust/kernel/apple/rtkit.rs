// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Apple RTKit: the IPC protocol of the coprocessors in Apple SoCs.
//!
//! Many blocks of Apple SoCs (GPU, display, NVMe, SMC, ...) are driven by firmware on an ARM
//! coprocessor running Apple's RTKit OS. The host talks to it through a mailbox: a management
//! endpoint for booting and power states, system endpoints (syslog, crash log, ioreport) that
//! ask the host for shared buffers, and application endpoints (from 0x20) that belong to the
//! client driver. The C library implements the protocol; this module lets a Rust driver own
//! an instance and receive its callbacks.
//!
//! C header: [`include/linux/soc/apple/rtkit.h`](srctree/include/linux/soc/apple/rtkit.h)

use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::NonNull, //
};

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    error::{
        from_err_ptr,
        from_result,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    prelude::*,
    types::ForeignOwnable, //
};

/// A buffer the host lends to the coprocessor when a system endpoint asks for one.
///
/// # Safety
///
/// While the value is alive, [`Buffer::cpu_ptr`] must point to `size()` bytes mapped for the
/// CPU that the coprocessor sees at [`Buffer::iova`]: the C library copies crash logs out of
/// it.
pub unsafe trait Buffer: Send + Sync {
    /// The address at which the coprocessor sees the buffer.
    fn iova(&self) -> u64;

    /// The buffer's CPU mapping.
    fn cpu_ptr(&self) -> NonNull<u8>;

    /// Size in bytes.
    fn size(&self) -> usize;
}

/// What a driver does when its coprocessor talks.
#[vtable]
pub trait Operations {
    /// Driver data handed to every callback.
    type Data: ForeignOwnable + Send + Sync;

    /// The driver's shared-buffer type.
    type Buffer: Buffer;

    /// The coprocessor crashed. `crashlog` is the crash log it left, if it could be copied.
    ///
    /// Called in process context from the RTKit worker.
    fn crashed(data: <Self::Data as ForeignOwnable>::Borrowed<'_>, crashlog: Option<&[u8]>);

    /// A message arrived on an application endpoint (0x20 and up).
    ///
    /// Called in process context from the RTKit worker, in arrival order.
    fn recv_message(data: <Self::Data as ForeignOwnable>::Borrowed<'_>, endpoint: u8, message: u64);

    /// Sees a message in interrupt context before it is queued for [`Self::recv_message`].
    ///
    /// Returns `true` if the message was consumed. Must not sleep.
    fn recv_message_early(
        _data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
        _endpoint: u8,
        _message: u64,
    ) -> bool {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A system endpoint asks for a buffer of `size` bytes, at a coprocessor address of the
    /// driver's choice (`iova` is `None`) or at the one it names.
    ///
    /// Without this operation the C library allocates DMA memory itself, which only works for
    /// coprocessors that see physical (DMA) addresses.
    fn shmem_setup(
        _data: <Self::Data as ForeignOwnable>::Borrowed<'_>,
        _size: usize,
        _iova: Option<u64>,
    ) -> Result<Self::Buffer> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The callback table for `T`.
struct OpsTable<T: Operations>(PhantomData<T>);

impl<T: Operations> OpsTable<T> {
    const OPS: bindings::apple_rtkit_ops = bindings::apple_rtkit_ops {
        crashed: Some(Self::crashed),
        recv_message: Some(Self::recv_message),
        recv_message_early: if T::HAS_RECV_MESSAGE_EARLY {
            Some(Self::recv_message_early)
        } else {
            None
        },
        shmem_setup: if T::HAS_SHMEM_SETUP {
            Some(Self::shmem_setup)
        } else {
            None
        },
        shmem_destroy: if T::HAS_SHMEM_SETUP {
            Some(Self::shmem_destroy)
        } else {
            None
        },
    };

    const fn build() -> &'static bindings::apple_rtkit_ops {
        &Self::OPS
    }

    /// # Safety
    ///
    /// `cookie` must be the pointer [`RtKit::new`] registered, and `crashlog` either null or
    /// valid for reads of `size` bytes for the duration of the call.
    unsafe extern "C" fn crashed(cookie: *mut c_void, crashlog: *const c_void, size: usize) {
        // SAFETY: By the function's safety requirements `cookie` came from `into_foreign` and
        // `RtKit` only reclaims it after `apple_rtkit_free`, which ends all callbacks.
        let data = unsafe { T::Data::borrow(cookie) };
        let log = if crashlog.is_null() {
            None
        } else {
            // SAFETY: By the function's safety requirements `crashlog` is valid for `size`
            // bytes while this callback runs.
            Some(unsafe { core::slice::from_raw_parts(crashlog.cast::<u8>(), size) })
        };
        T::crashed(data, log);
    }

    /// # Safety
    ///
    /// `cookie` must be the pointer [`RtKit::new`] registered.
    unsafe extern "C" fn recv_message(cookie: *mut c_void, endpoint: u8, message: u64) {
        // SAFETY: As in `crashed`.
        let data = unsafe { T::Data::borrow(cookie) };
        T::recv_message(data, endpoint, message);
    }

    /// # Safety
    ///
    /// `cookie` must be the pointer [`RtKit::new`] registered.
    unsafe extern "C" fn recv_message_early(
        cookie: *mut c_void,
        endpoint: u8,
        message: u64,
    ) -> bool {
        // SAFETY: As in `crashed`.
        let data = unsafe { T::Data::borrow(cookie) };
        T::recv_message_early(data, endpoint, message)
    }

    /// # Safety
    ///
    /// `cookie` must be the pointer [`RtKit::new`] registered and `bfr` a valid buffer
    /// descriptor that the C library owns for the duration of the call.
    unsafe extern "C" fn shmem_setup(
        cookie: *mut c_void,
        bfr: *mut bindings::apple_rtkit_shmem,
    ) -> crate::ffi::c_int {
        // SAFETY: By the function's safety requirements `bfr` is valid and exclusively ours.
        let bfr = unsafe { &mut *bfr };
        from_result(|| {
            // SAFETY: As in `crashed`.
            let data = unsafe { T::Data::borrow(cookie) };
            let iova = (bfr.iova != 0).then_some(bfr.iova);
            let buf = T::shmem_setup(data, bfr.size, iova)?;
            if buf.size() < bfr.size || iova.is_some_and(|a| a != buf.iova()) {
                return Err(EINVAL);
            }
            bfr.iova = buf.iova();
            bfr.buffer = buf.cpu_ptr().as_ptr().cast();
            bfr.iomem = core::ptr::null_mut();
            bfr.private = KBox::new(buf, GFP_KERNEL)?.into_foreign();
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// `bfr` must be a buffer descriptor that `shmem_setup` filled in.
    unsafe extern "C" fn shmem_destroy(
        _cookie: *mut c_void,
        bfr: *mut bindings::apple_rtkit_shmem,
    ) {
        // SAFETY: By the function's safety requirements `bfr` is valid.
        let bfr = unsafe { &mut *bfr };
        if !bfr.private.is_null() {
            // SAFETY: `private` was set by `shmem_setup` from `KBox::into_foreign` and the C
            // library calls `shmem_destroy` once per buffer.
            drop(unsafe { KBox::<T::Buffer>::from_foreign(bfr.private) });
            bfr.private = core::ptr::null_mut();
        }
    }
}

/// An RTKit instance talking to one coprocessor.
///
/// # Invariants
///
/// `rtk` is a live instance from `apple_rtkit_init` whose cookie is `data`, a pointer from
/// `T::Data::into_foreign` that is reclaimed only after `apple_rtkit_free`.
pub struct RtKit<'bound, T: Operations> {
    rtk: NonNull<bindings::apple_rtkit>,
    data: *mut c_void,
    _p: PhantomData<(&'bound Device<Bound>, T)>,
}

// SAFETY: The C library serialises its own state; the handle may move between threads.
unsafe impl<T: Operations> Send for RtKit<'_, T> {}
// SAFETY: The `&self` methods call C functions that lock internally.
unsafe impl<T: Operations> Sync for RtKit<'_, T> {}

impl<'bound, T: Operations> RtKit<'bound, T> {
    /// Sets up RTKit over `dev`'s mailbox (by name, or else by index) and starts the mailbox.
    ///
    /// The coprocessor is not booted: see [`RtKit::boot`].
    pub fn new(
        dev: &'bound Device<Bound>,
        mbox_name: Option<&CStr>,
        mbox_idx: u32,
        data: T::Data,
    ) -> Result<Self> {
        let cookie = data.into_foreign();
        let idx = i32::try_from(mbox_idx)?;
        // SAFETY:
        // - `dev` is a bound device, valid for the call;
        // - `mbox_name` is null or a valid string;
        // - the ops table is `'static` and `cookie` stays valid until we free the instance.
        let rtk = unsafe {
            bindings::apple_rtkit_init(
                dev.as_raw(),
                cookie,
                mbox_name.map_or(core::ptr::null(), |n| n.as_char_ptr()),
                idx,
                OpsTable::<T>::build(),
            )
        };
        match from_err_ptr(rtk).map(NonNull::new) {
            Ok(Some(rtk)) => Ok(Self {
                rtk,
                data: cookie,
                _p: PhantomData,
            }),
            res => {
                // SAFETY: Initialisation failed, so the C library holds no copy of `cookie`.
                drop(unsafe { T::Data::from_foreign(cookie) });
                Err(res.err().unwrap_or(ENOMEM))
            }
        }
    }

    fn raw(&self) -> *mut bindings::apple_rtkit {
        self.rtk.as_ptr()
    }

    /// Boots the coprocessor: waits for its HELLO, negotiates the protocol version, learns
    /// the endpoint map and brings it to the running power state.
    ///
    /// # Errors
    ///
    /// `ETIME` when the coprocessor does not answer in time, `EINVAL` if it has crashed, and
    /// other errors from the protocol.
    pub fn boot(&mut self) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live.
        to_result(unsafe { bindings::apple_rtkit_boot(self.raw()) })
    }

    /// Wakes a coprocessor that is asleep or was shut down.
    pub fn wake(&mut self) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live.
        to_result(unsafe { bindings::apple_rtkit_wake(self.raw()) })
    }

    /// Shuts the coprocessor down (it can be woken again).
    pub fn shutdown(&mut self) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live.
        to_result(unsafe { bindings::apple_rtkit_shutdown(self.raw()) })
    }

    /// Puts the coprocessor into its quiesced state.
    pub fn quiesce(&mut self) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live.
        to_result(unsafe { bindings::apple_rtkit_quiesce(self.raw()) })
    }

    /// Starts application endpoint `endpoint`.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the coprocessor did not advertise the endpoint or is not running.
    pub fn start_endpoint(&self, endpoint: u8) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live.
        to_result(unsafe { bindings::apple_rtkit_start_ep(self.raw(), endpoint) })
    }

    /// Sends `message` to `endpoint`. With `atomic`, busy-waits for room in the mailbox
    /// instead of sleeping.
    pub fn send_message(&self, endpoint: u8, message: u64, atomic: bool) -> Result {
        // SAFETY: By the type invariant `self.rtk` is live; a null completion is allowed.
        to_result(unsafe {
            bindings::apple_rtkit_send_message(
                self.raw(),
                endpoint,
                message,
                core::ptr::null_mut(),
                atomic,
            )
        })
    }

    /// Whether the coprocessor is up and running.
    pub fn is_running(&self) -> bool {
        // SAFETY: By the type invariant `self.rtk` is live.
        unsafe { bindings::apple_rtkit_is_running(self.raw()) }
    }

    /// Whether the coprocessor has crashed.
    pub fn is_crashed(&self) -> bool {
        // SAFETY: By the type invariant `self.rtk` is live.
        unsafe { bindings::apple_rtkit_is_crashed(self.raw()) }
    }
}

impl<T: Operations> Drop for RtKit<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `self.rtk` is live; it is not used after this.
        unsafe { bindings::apple_rtkit_free(self.raw()) };
        // SAFETY: `apple_rtkit_free` has stopped every callback and destroyed every buffer,
        // so nothing uses the cookie any more.
        drop(unsafe { T::Data::from_foreign(self.data) });
    }
}
