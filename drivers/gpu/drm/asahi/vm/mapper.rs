// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPUVM callbacks of a user VM: each map, unmap and split step goes to the UAT context.
//!
//! GPUVM decides which existing mappings a bind replaces or splits and calls back once per
//! step; the page tables follow it step by step, so the GPU never sees a mapping GPUVM does
//! not know (immediate mode). A split keeps the page-table entries of the surviving pieces
//! and only unmaps the part that goes. Each mapping records its protection, the one thing a
//! split piece needs to stay what it was.
//!
//! Steps cannot allocate their GPUVM nodes (a failure half way would leave GPUVM and the page
//! tables disagreeing), so [`Steps`] carries enough preallocated nodes for one request.

use kernel::{
    drm::gpuvm::{
        DriverGpuVm,
        GpuVaAlloc,
        OpMap,
        OpMapped,
        OpRemap,
        OpRemapped,
        OpUnmap,
        OpUnmapped, //
    },
    prelude::*,
    sync::Arc,
};

use crate::{
    file::AsahiDriver,
    gem::AsahiObject,
    gpu::boot::KernelUatHw,
    uat::{
        context::Vm,
        pte::{
            self,
            Prot,
            PAGE_SIZE, //
        },
    },
};

/// The GPUVM data of a user VM: its UAT context.
pub(crate) struct Mapper {
    /// The page tables the steps change.
    pub(super) ctx: Arc<Vm<KernelUatHw>>,
}

/// Nodes one request may need: one new mapping and a split at each end.
const NODES_PER_REQUEST: usize = 3;

/// The state of one map or unmap request while GPUVM steps through it.
pub(crate) struct Steps {
    /// Preallocated GPUVM nodes; a split gives back the one it did not use.
    nodes: KVec<GpuVaAlloc<Mapper>>,
    /// Protection of the mapping being made.
    prot: Prot,
    /// Whether the new mapping repeats one GPU page of the object.
    single_page: bool,
}

impl Steps {
    /// State for a request that maps with `prot` (`single_page`: one object page repeated),
    /// or only unmaps.
    pub(crate) fn new(prot: Prot, single_page: bool) -> Result<Self> {
        let mut nodes = KVec::with_capacity(NODES_PER_REQUEST, GFP_KERNEL)?;
        for _ in 0..NODES_PER_REQUEST {
            nodes.push(GpuVaAlloc::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self {
            nodes,
            prot,
            single_page,
        })
    }

    /// State for a request that only unmaps (its splits keep their pieces' protection).
    pub(crate) fn for_unmap() -> Result<Self> {
        Self::new(pte::PROT_GPU_SHARED_RO, false)
    }

    fn node(&mut self) -> Result<GpuVaAlloc<Mapper>> {
        self.nodes.pop().ok_or(ENOMEM)
    }
}

impl Mapper {
    /// Maps `count` GPU pages of the step's object from page `first` (or page `first`
    /// repeated) at the step's address.
    fn map_object(
        ctx: &Vm<KernelUatHw>,
        op: &OpMap<'_, Self>,
        first: usize,
        count: usize,
        steps: &Steps,
    ) -> Result {
        let chunks = op.obj().pages().chunk_phys_addrs();
        if steps.single_page {
            let pa = chunks.clone().nth(first).ok_or(EINVAL)?;
            return ctx.map_sg(
                op.addr(),
                core::iter::repeat_n((pa, PAGE_SIZE), count),
                steps.prot,
            );
        }
        // The caller checked that the object covers the range.
        if chunks.clone().skip(first).take(count).count() != count {
            return Err(EINVAL);
        }
        ctx.map_sg(
            op.addr(),
            chunks.skip(first).take(count).map(|pa| (pa, PAGE_SIZE)),
            steps.prot,
        )
    }
}

impl DriverGpuVm for Mapper {
    type Driver = AsahiDriver;
    type Object = AsahiObject;
    type VaData = Prot;
    type VmBoData = ();
    type SmContext<'ctx> = Steps;

    fn sm_step_map<'op, 'ctx>(
        &mut self,
        op: OpMap<'op, Self>,
        steps: &mut Steps,
    ) -> Result<OpMapped<'op, Self>> {
        let node = steps.node()?;
        let first = usize::try_from(op.gem_offset() / PAGE_SIZE)?;
        let count = usize::try_from(op.length() / PAGE_SIZE)?;
        let mapped = Self::map_object(&self.ctx, &op, first, count, steps);
        if let Err(e) = mapped {
            // Nothing was mapped; the node goes back for a later step.
            let _ = steps.nodes.push_within_capacity(node);
            return Err(e);
        }
        Ok(op.insert(node, steps.prot))
    }

    fn sm_step_unmap<'op, 'ctx>(
        &mut self,
        op: OpUnmap<'op, Self>,
        _steps: &mut Steps,
    ) -> Result<OpUnmapped<'op, Self>> {
        let va = op.va();
        self.ctx.unmap(va.addr(), va.length())?;
        let (done, _removed) = op.remove();
        Ok(done)
    }

    fn sm_step_remap<'op, 'ctx>(
        &mut self,
        op: OpRemap<'op, Self>,
        steps: &mut Steps,
    ) -> Result<OpRemapped<'op, Self>> {
        let va = op.va_to_unmap();
        let prot = *va.data();
        // The pieces before and after stay mapped as they are; only the middle goes.
        let start = op.prev().map_or(va.addr(), |p| p.addr() + p.length());
        let end = op.next().map_or(va.addr() + va.length(), |n| n.addr());
        if steps.nodes.len() < 2 {
            return Err(ENOMEM);
        }
        let nodes = [steps.node()?, steps.node()?];
        self.ctx.unmap(start, end - start)?;
        let (done, ret) = op.remap(nodes, prot, prot);
        if let Some(unused) = ret.unused_va {
            // There is room: two nodes were taken just above.
            let _ = steps.nodes.push_within_capacity(unused);
        }
        Ok(done)
    }
}
