// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The platform driver: binding a GPU node and checking what the bootloader handed over.
//!
//! Probe only checks (binding, device tree, firmware ABI, GPU identity) and hands a checked
//! description to [`GpuManager`], which owns the GPU from then on.

use kernel::{
    device::{
        Bound,
        Core,
        Device, //
    },
    drm,
    of,
    of_reserved_mem::{
        self,
        Region, //
    },
    platform,
    prelude::*,
    sync::Arc, //
};

use crate::{
    dt::{
        self,
        GpuNode, //
    },
    file::{
        AsahiDriver,
        DeviceData, //
    },
    fw::version::FwAbi,
    gpu::GpuManager,
    gpu_id::GpuId,
    hw::{
        self,
        HwConfig, //
    },
    params::Params,
    queue::QueueIds,
    regs::{
        ASC_CTL_SIZE,
        SGX_SIZE, //
    },
    timebase::Timebase,
    timestamps::TimestampWindow,
    uat::tlb,
};

/// What an OF match tells probe.
pub(crate) enum Binding {
    /// A GPU core of the upstream binding, with its description.
    Upstream(&'static HwConfig),
    /// A node of the downstream Asahi binding, which we do not support (SoC name).
    Downstream(&'static str),
}

kernel::of_device_table!(
    OF_TABLE,
    MODULE_OF_TABLE,
    <AsahiPlatformDriver as platform::Driver>::IdInfo,
    [
        (
            of::DeviceId::new(c"apple,agx-g13g"),
            Binding::Upstream(&hw::T8103)
        ),
        (
            of::DeviceId::new(c"apple,agx-g13s"),
            Binding::Upstream(&hw::T6000)
        ),
        (
            of::DeviceId::new(c"apple,agx-g13c"),
            Binding::Upstream(&hw::T6001)
        ),
        (
            of::DeviceId::new(c"apple,agx-g13d"),
            Binding::Upstream(&hw::T6002)
        ),
        (
            of::DeviceId::new(c"apple,agx-g14g"),
            Binding::Upstream(&hw::T8112)
        ),
        (
            of::DeviceId::new(c"apple,agx-g14s"),
            Binding::Upstream(&hw::T6020)
        ),
        (
            of::DeviceId::new(c"apple,agx-g14c"),
            Binding::Upstream(&hw::T6021)
        ),
        (
            of::DeviceId::new(c"apple,agx-g14d"),
            Binding::Upstream(&hw::T6022)
        ),
        // The downstream binding, matched only to tell the user what to boot instead.
        (
            of::DeviceId::new(c"apple,agx-t8103"),
            Binding::Downstream("t8103")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6000"),
            Binding::Downstream("t6000")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6001"),
            Binding::Downstream("t6001")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6002"),
            Binding::Downstream("t6002")
        ),
        (
            of::DeviceId::new(c"apple,agx-t8112"),
            Binding::Downstream("t8112")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6020"),
            Binding::Downstream("t6020")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6021"),
            Binding::Downstream("t6021")
        ),
        (
            of::DeviceId::new(c"apple,agx-t6022"),
            Binding::Downstream("t6022")
        ),
    ]
);

/// The Asahi platform driver.
pub(crate) struct AsahiPlatformDriver;

/// State of a bound GPU, held for as long as the device is bound.
pub(crate) struct AsahiData<'bound> {
    /// The DRM device (dropped first: unplugging it waits for the ioctls in flight and fails
    /// later ones, so none reaches the GPU once it starts going away).
    _drm: drm::driver::Registration<AsahiDriver>,
    /// The GPU, its firmware running.
    _gpu: KBox<GpuManager<'bound>>,
}

/// [`GpuNode`] over a real device-tree node.
struct OfGpuNode<'a>(&'a Device<Bound>);

impl GpuNode for OfGpuNode<'_> {
    fn has_property(&self, name: &CStr) -> bool {
        self.0
            .fwnode()
            .is_some_and(|node| node.property_present(name))
    }

    fn u32_count(&self, name: &CStr) -> Result<usize> {
        self.0
            .fwnode()
            .ok_or(ENODEV)?
            .property_count_elem::<u32>(name)
    }

    fn read_u32x3(&self, name: &CStr) -> Result<[u32; 3]> {
        self.0
            .fwnode()
            .ok_or(ENODEV)?
            .property_read::<[u32; 3]>(name)
            .optional()
            .ok_or(EINVAL)
    }

    fn region(&self, name: &CStr) -> Result<Region> {
        of_reserved_mem::region_by_name(self.0, name)
    }
}

impl platform::Driver for AsahiPlatformDriver {
    type IdInfo = Binding;
    type Data<'bound> = AsahiData<'bound>;
    const OF_ID_TABLE: Option<of::IdTable<Self::IdInfo>> = Some(&OF_TABLE);
    /// Once bound, the GPU's coprocessor runs until the SoC resets and nothing it was given
    /// may be freed: unbinding from userspace would only strand the GPU.
    const SUPPRESS_BIND_ATTRS: bool = true;

    fn probe<'bound>(
        pdev: &'bound platform::Device<Core<'_>>,
        info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let dev: &Device<Bound> = pdev.as_ref();
        let hw = match info {
            Some(Binding::Upstream(hw)) => *hw,
            Some(Binding::Downstream(soc)) => {
                dev_err!(
                    dev,
                    "{} GPU node uses the downstream Asahi binding (apple,agx-{}); boot with \
                     m1n1 1.6 or later and a Linux 7.2 device tree (apple,agx-g13g ..., \
                     gpu/apple,agx.yaml)\n",
                    soc,
                    soc
                );
                return Err(ENODEV);
            }
            None => return Err(ENODEV),
        };

        // Nothing may be mapped for the GPU before its TLB can be told about unmaps.
        tlb::ready().inspect_err(|_| {
            dev_dbg!(dev, "waiting until GPU TLB invalidations can be issued\n")
        })?;

        let desc = dt::parse(&OfGpuNode(dev)).map_err(|e| {
            dev_err!(dev, "{} GPU: {}\n", hw.soc, e);
            e.to_errno()
        })?;

        let abi = FwAbi::select(hw, desc.firmware_abi).ok_or_else(|| {
            dev_err!(
                dev,
                "unsupported GPU/firmware combination: {} (G{}{}) with firmware {}\n",
                hw.soc,
                hw.gpu_gen as u32,
                char::from_u32(hw.gpu_variant as u32).unwrap_or('?'),
                desc.firmware_abi
            );
            ENODEV
        })?;

        let asc = pdev
            .io_request_by_name(c"asc")
            .ok_or(ENODEV)
            .inspect_err(|_| dev_err!(dev, "no 'asc' register block\n"))?
            .iomap_sized::<ASC_CTL_SIZE>()
            .inspect_err(|e| dev_err!(dev, "cannot map 'asc' registers: {:?}\n", e))?;
        let sgx = pdev
            .io_request_by_name(c"sgx")
            .ok_or(ENODEV)
            .inspect_err(|_| dev_err!(dev, "no 'sgx' register block\n"))?
            .iomap_sized::<SGX_SIZE>()
            .inspect_err(|e| dev_err!(dev, "cannot map 'sgx' registers: {:?}\n", e))?;

        let id = GpuId::probe(dev, hw, &sgx)?;

        dev_info!(
            dev,
            "{} GPU, firmware {} (ABI {})\n",
            hw.soc,
            desc.firmware_abi,
            abi.name()
        );

        let gpu = GpuManager::new(dev, hw, abi, &desc.regions, asc, sgx)?;
        if *crate::module_parameters::live_selftests.value() != 0 {
            #[cfg(CONFIG_DRM_ASAHI_SELFTEST)]
            crate::selftest::run(dev, &gpu);
            #[cfg(not(CONFIG_DRM_ASAHI_SELFTEST))]
            dev_warn!(
                dev,
                "live_selftests set, but built without CONFIG_DRM_ASAHI_SELFTEST\n"
            );
        }

        // InitData always asks the firmware for soft faults (initdata::FAULT_CONTROL_SOFT).
        let data = DeviceData {
            params: Params::new(hw, &id, true),
            health: gpu.health().clone(),
            timebase: Timebase::new(),
            uat: gpu.uat().clone(),
            heaps: gpu.heaps().share(),
            abi: gpu.abi(),
            queue_ids: QueueIds::new(),
            timestamps: Arc::pin_init(TimestampWindow::new(), GFP_KERNEL)?,
        };
        let drm = drm::UnregisteredDevice::<AsahiDriver>::new(dev, Ok::<_, Error>(data))?;
        let registration = drm::driver::Registration::new(drm, 0)
            .inspect_err(|e| dev_err!(dev, "cannot register the DRM device: {:?}\n", e))?;
        dev_info!(
            dev,
            "{} GPU (G{}{} {}{}, {} cores) ready for userspace\n",
            hw.soc,
            hw.gpu_gen as u32,
            char::from_u32(hw.gpu_variant as u32).unwrap_or('?'),
            char::from_u32(u32::from(b'A') + (id.revision >> 4)).unwrap_or('?'),
            id.revision & 0xf,
            id.enabled_cores()
        );

        Ok(AsahiData {
            _drm: registration,
            _gpu: gpu,
        })
    }
}
