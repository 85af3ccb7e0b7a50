// SPDX-License-Identifier: GPL-2.0

//! DRM GEM objects backed by naturally aligned chunks of pages.
//!
//! shmem-backed objects ([`super::shmem`]) take their pages one at a time from the page cache, so
//! nothing makes two neighbouring pages physically contiguous. A device whose MMU page is larger
//! than the CPU page (Apple's GPU maps 16 KiB pages, also under 4 KiB kernels) needs each device
//! page to be one physically contiguous, naturally aligned block. Objects of this type are backed
//! by a [`ChunkedPages`] of the driver's chunk order, allocated and zeroed when the object is
//! created. The CPU sees ordinary pages: userspace maps them through the object's mmap offset
//! (write-combined if the driver asks), and dma-buf export hands out a scatterlist of them.
//!
//! The backing is neither swappable nor allocated lazily: that is the price of the guarantee.
//! Importing a foreign dma-buf is not supported, as its pages give no such guarantee; a buffer
//! this device exported resolves to the original object when it is imported back.
//!
//! C header: [`include/drm/drm_gem.h`](srctree/include/drm/drm_gem.h)

use crate::{
    alloc::flags::{
        __GFP_ZERO, //
        GFP_KERNEL_ACCOUNT,
    },
    container_of,
    contig_pages::ChunkedPages,
    drm::{
        driver,
        gem,
        private::Sealed,
        Device,
        DeviceContext,
        Registered, //
    },
    mm::virt::{
        flags as vm_flags,
        VmaNew, //
    },
    page::PAGE_SIZE,
    prelude::*,
    sync::aref::ARef,
    types::Opaque, //
};
use core::{
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull, //
};
use gem::{
    BaseObjectPrivate,
    DriverObject,
    IntoGEMObject, //
};

/// How a chunk-backed GEM object is created; see [`Object::new`].
pub struct ObjectConfig<'a, T: DriverObject, C: DeviceContext = Registered> {
    /// Each chunk of the backing is `2^chunk_order` CPU pages, naturally aligned in physical
    /// memory. The object size must be a multiple of the chunk size.
    pub chunk_order: u32,

    /// Whether userspace mappings are write-combined rather than cached.
    pub map_wc: bool,

    /// Whether the object may be exported as a dma-buf. An object that shares another
    /// object's reservation (and so belongs to one context) usually may not.
    pub exportable: bool,

    /// Reuse the DMA reservation of another object, which the new one keeps a reference to.
    pub parent_resv_obj: Option<&'a Object<T, C>>,
}

/// A GEM object backed by naturally aligned chunks of pages.
///
/// # Invariants
///
/// - `obj` is a valid, initialised `struct drm_gem_object` for the lifetime of this object, and
///   its size is `pages.size()`.
/// - Any type invariants of `C` apply to the parent DRM device for this GEM object.
#[repr(C)]
#[pin_data]
pub struct Object<T: DriverObject, C: DeviceContext = Registered> {
    #[pin]
    obj: Opaque<bindings::drm_gem_object>,
    pages: ChunkedPages,
    map_wc: bool,
    exportable: bool,
    /// Parent object that owns this object's DMA reservation object.
    parent_resv_obj: Option<ARef<Object<T, C>>>,
    #[pin]
    inner: T,
    _ctx: PhantomData<C>,
}

super::impl_aref_for_gem_obj! {
    impl<T, C> for Object<T, C>
    where
        T: DriverObject,
        C: DeviceContext
}

// SAFETY: All GEM objects are thread-safe, and the backing may be used from any thread.
unsafe impl<T: DriverObject, C: DeviceContext> Send for Object<T, C> {}

// SAFETY: All GEM objects are thread-safe, and the backing may be used from any thread.
unsafe impl<T: DriverObject, C: DeviceContext> Sync for Object<T, C> {}

impl<T: DriverObject, C: DeviceContext> Object<T, C> {
    /// User mappings keep the object alive through DRM's generic open and close operations.
    /// There is no fault handler: [`Object::mmap`] inserts every page up front.
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(bindings::drm_gem_vm_open),
        close: Some(bindings::drm_gem_vm_close),
        ..pin_init::zeroed()
    };

    /// `drm_gem_object_funcs` vtable of chunk-backed objects.
    const VTABLE: bindings::drm_gem_object_funcs = bindings::drm_gem_object_funcs {
        free: Some(Self::free_callback),
        open: Some(super::open_callback::<T>),
        close: Some(super::close_callback::<T>),
        print_info: None,
        export: Some(Self::export_callback),
        pin: None,
        unpin: None,
        get_sg_table: Some(Self::get_sg_table_callback),
        vmap: None,
        vunmap: None,
        mmap: Some(Self::mmap_callback),
        status: None,
        rss: None,
        vm_ops: &Self::VM_OPS,
        evict: None,
    };

    /// Creates an object of `size` bytes with a zeroed backing.
    ///
    /// The memory is charged to the calling task's memory cgroup.
    ///
    /// # Errors
    ///
    /// - [`EINVAL`] when `size` is not a multiple of the chunk size or the chunk order is too
    ///   large.
    /// - [`ENOMEM`] when the backing cannot be allocated, [`ERESTARTSYS`] when a signal
    ///   interrupted a large allocation (see [`ChunkedPages::alloc`]).
    pub fn new(
        dev: &Device<T::Driver, C>,
        size: usize,
        config: ObjectConfig<'_, T, C>,
        args: T::Args,
    ) -> Result<ARef<Self>> {
        let chunk_size = PAGE_SIZE.checked_shl(config.chunk_order).ok_or(EINVAL)?;
        if size % chunk_size != 0 {
            return Err(EINVAL);
        }
        let pages = ChunkedPages::alloc(
            size / chunk_size,
            config.chunk_order,
            GFP_KERNEL_ACCOUNT | __GFP_ZERO,
        )?;
        let new: Pin<KBox<Self>> = KBox::try_pin_init(
            try_pin_init!(Self {
                obj <- Opaque::init_zeroed(),
                pages,
                map_wc: config.map_wc,
                exportable: config.exportable,
                parent_resv_obj: config.parent_resv_obj.map(|p| p.into()),
                inner <- T::new(dev, size, args),
                _ctx: PhantomData::<C>,
            }),
            GFP_KERNEL,
        )?;

        // SAFETY: `new.as_raw()` is valid by the initialisation above.
        unsafe { (*new.as_raw()).funcs = &Self::VTABLE };

        // SAFETY: The object is zeroed and not yet shared, `dev` is a valid DRM device, and
        // `size` is a multiple of the chunk size and so of `PAGE_SIZE`.
        unsafe { bindings::drm_gem_private_object_init(dev.as_raw(), new.as_raw(), size) };

        // SAFETY: We never move out of `self`.
        let new = KBox::into_raw(unsafe { Pin::into_inner_unchecked(new) });

        // SAFETY: We take over the initial reference of `drm_gem_private_object_init()`;
        // `new` comes from `KBox::into_raw` and so is not null.
        let obj = unsafe { ARef::from_raw(NonNull::new_unchecked(new)) };

        if let Some(parent) = config.parent_resv_obj {
            // SAFETY: The new object is not yet visible outside this function, so it is safe
            // to change its reservation pointer; the parent outlives it (we hold a reference).
            unsafe { (*obj.as_raw()).resv = parent.raw_dma_resv() };
        }

        Ok(obj)
    }

    /// Returns the `Device` that owns this GEM object.
    pub fn dev(&self) -> &Device<T::Driver, C> {
        // SAFETY: `dev` was set in `Self::new()` by `drm_gem_private_object_init()` and lives
        // as long as the object.
        unsafe { Device::from_raw((*self.as_raw()).dev) }
    }

    /// Returns the object's backing, for mapping it into the device.
    pub fn pages(&self) -> &ChunkedPages {
        &self.pages
    }

    /// Returns the object whose reservation this one shares, if any.
    pub fn parent_resv_obj(&self) -> Option<&Self> {
        self.parent_resv_obj.as_deref()
    }

    /// Returns whether the object may be exported as a dma-buf.
    pub fn is_exportable(&self) -> bool {
        self.exportable
    }

    /// Maps the whole backing into a new user mapping, prefaulted.
    fn mmap(&self, vma: &VmaNew) -> Result {
        // Private writable mappings would need copy-on-write of device memory.
        if vma.flags() & vm_flags::SHARED == 0 && vma.flags() & vm_flags::MAYWRITE != 0 {
            return Err(EINVAL);
        }
        vma.set_dontexpand();
        vma.set_dontdump();
        if self.map_wc {
            // SAFETY: A new mapping (`VmaNew`) may have its protection set before any page is
            // inserted; nothing else can see the mapping yet.
            unsafe {
                (*vma.as_ptr()).vm_page_prot =
                    bindings::pgprot_writecombine(bindings::vm_get_page_prot(vma.flags()));
            }
        }
        let vma = vma.set_mixedmap();
        // DRM finds the object by the exact start of its offset range and has checked that the
        // mapping is no larger than the object, so page `i` of the mapping is page `i` here.
        let mut addr = vma.start();
        let mut index = 0;
        while addr < vma.end() {
            let page = self.pages.page(index).ok_or(EINVAL)?;
            vma.vm_insert_page(addr, &page)?;
            addr += PAGE_SIZE;
            index += 1;
        }
        Ok(())
    }

    /// Returns `self` for a raw object of this type.
    ///
    /// # Safety
    ///
    /// `obj` must be the `drm_gem_object` of a live `Object<T, C>`.
    unsafe fn from_raw_obj<'a>(obj: *mut bindings::drm_gem_object) -> &'a Self {
        // SAFETY: By the safety requirements `obj` is inside a live `Self`.
        unsafe { <Self as IntoGEMObject>::from_raw(obj) }
    }

    extern "C" fn mmap_callback(
        obj: *mut bindings::drm_gem_object,
        vma: *mut bindings::vm_area_struct,
    ) -> core::ffi::c_int {
        // SAFETY: DRM only calls this for objects with our vtable, so `obj` is in a `Self`.
        let this = unsafe { Self::from_raw_obj(obj) };
        // SAFETY: DRM calls `mmap` from the `mmap` file operation on a mapping being set up,
        // with the mmap lock held for writing.
        let vma = unsafe { VmaNew::from_raw(vma) };
        match this.mmap(vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    extern "C" fn export_callback(
        obj: *mut bindings::drm_gem_object,
        flags: core::ffi::c_int,
    ) -> *mut bindings::dma_buf {
        // SAFETY: DRM only calls this for objects with our vtable, so `obj` is in a `Self`.
        let this = unsafe { Self::from_raw_obj(obj) };
        if !this.exportable {
            return EINVAL.to_ptr();
        }
        // SAFETY: `obj` is a valid GEM object of this device, and `get_sg_table` is set.
        unsafe { bindings::drm_gem_prime_export(obj, flags) }
    }

    extern "C" fn get_sg_table_callback(
        obj: *mut bindings::drm_gem_object,
    ) -> *mut bindings::sg_table {
        // SAFETY: DRM only calls this for objects with our vtable, so `obj` is in a `Self`.
        let this = unsafe { Self::from_raw_obj(obj) };
        let Ok(count) = u32::try_from(this.pages.num_pages()) else {
            return EINVAL.to_ptr();
        };
        // SAFETY: The page array is valid for `count` entries while the object lives, and
        // `drm_prime_pages_to_sg()` only reads it; the device pointer is valid.
        unsafe {
            bindings::drm_prime_pages_to_sg((*obj).dev, this.pages.as_raw_pages().cast_mut(), count)
        }
    }

    extern "C" fn free_callback(obj: *mut bindings::drm_gem_object) {
        // SAFETY: DRM calls `free` once, when the last reference to an object with our vtable
        // is gone; the base object is the first field of a `Self` we allocated with `KBox`.
        let this = unsafe { container_of!(Opaque::cast_from(obj), Self, obj) }.cast_mut();

        // SAFETY: The object is valid and no longer used; this tears down DRM's state.
        unsafe { bindings::drm_gem_object_release(obj) };

        // SAFETY: We are recovering the `KBox` of `Self::new()`; nothing refers to it now. The
        // backing pages are released here (those still mapped by userspace stay until unmapped).
        let _ = unsafe { KBox::from_raw(this) };
    }
}

impl<T: DriverObject, C: DeviceContext> Deref for Object<T, C> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T: DriverObject, C: DeviceContext> Sealed for Object<T, C> {}

impl<T: DriverObject, C: DeviceContext> gem::IntoGEMObject for Object<T, C> {
    fn as_raw(&self) -> *mut bindings::drm_gem_object {
        self.obj.get()
    }

    unsafe fn from_raw<'a>(obj: *mut bindings::drm_gem_object) -> &'a Self {
        // SAFETY: The safety contract of `from_raw()` guarantees that `obj` is contained in a
        // `Self`, as its first field.
        unsafe { &*container_of!(Opaque::cast_from(obj), Self, obj) }
    }
}

impl<T: DriverObject, C: DeviceContext> driver::AllocImpl for Object<T, C> {
    type Driver = T::Driver;

    // The defaults serve PRIME: `drm_gem_prime_import()` resolves this device's own buffers
    // and, without `gem_prime_import_sg_table`, refuses foreign ones with EINVAL.
    const ALLOC_OPS: driver::AllocOps = driver::AllocOps {
        gem_create_object: None,
        prime_handle_to_fd: None,
        prime_fd_to_handle: None,
        gem_prime_import: None,
        gem_prime_import_sg_table: None,
        dumb_create: None,
        dumb_map_offset: None,
    };
}
