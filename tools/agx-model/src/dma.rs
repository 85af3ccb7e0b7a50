// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's view of system memory: physical-address reads and writes into UML's RAM.
//!
//! UML shares its physical memory with the backend as one vhost-user region whose guest
//! address is the kernel's physical address (linux-7.2:arch/um/drivers/virtio_uml.c
//! `vhost_user_set_mem_table`), so a DMA address the kernel hands out is usable here as is.
//! Only the part of RAM mapped from the shared file is visible: the kernel image is not
//! (same comment in virtio_uml.c); an access there is refused like any other address outside
//! the region.
//!
//! All multi-byte values are little-endian, as on the real SoC.

use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};

use crate::strict::{Checked, Violation};

/// Guest physical memory, once the frontend has shared it.
#[derive(Clone, Default)]
pub struct Dma {
    mem: Option<GuestMemoryAtomic<GuestMemoryMmap>>,
}

impl std::fmt::Debug for Dma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dma")
            .field("mapped", &self.mem.is_some())
            .finish()
    }
}

impl Dma {
    /// Installs (or replaces) the frontend's memory.
    pub fn set_memory(&mut self, mem: GuestMemoryAtomic<GuestMemoryMmap>) {
        self.mem = Some(mem);
    }

    /// Whether memory is available.
    pub fn mapped(&self) -> bool {
        self.mem.is_some()
    }

    fn refuse(what: &str, addr: u64, len: usize, e: impl std::fmt::Display) -> Violation {
        Violation::Dma(format!(
            "{what} of {len} bytes at physical 0x{addr:x} outside shared guest RAM: {e}"
        ))
    }

    /// Reads `buf.len()` bytes at physical `addr`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Checked<()> {
        let mem = self
            .mem
            .as_ref()
            .ok_or_else(|| Self::refuse("read", addr, buf.len(), "no memory shared yet"))?;
        mem.memory()
            .read_slice(buf, GuestAddress(addr))
            .map_err(|e| Self::refuse("read", addr, buf.len(), e))
    }

    /// Writes `data` at physical `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Checked<()> {
        let mem = self
            .mem
            .as_ref()
            .ok_or_else(|| Self::refuse("write", addr, data.len(), "no memory shared yet"))?;
        mem.memory()
            .write_slice(data, GuestAddress(addr))
            .map_err(|e| Self::refuse("write", addr, data.len(), e))
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Checked<u64> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, addr: u64, value: u64) -> Checked<()> {
        self.write(addr, &value.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_inside_ram_only() {
        let mut dma = Dma::default();
        assert!(matches!(dma.read_u64(0), Err(Violation::Dma(_))));
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0x1000), 0x1000)]).unwrap();
        dma.set_memory(GuestMemoryAtomic::new(gm));
        dma.write_u64(0x1008, 0x4b1d_0000_0000_0002).unwrap();
        assert_eq!(dma.read_u64(0x1008).unwrap(), 0x4b1d_0000_0000_0002);
        assert!(matches!(dma.write_u64(0x0, 1), Err(Violation::Dma(_))));
        assert!(matches!(dma.read_u64(0x1ffc), Err(Violation::Dma(_))));
    }
}
