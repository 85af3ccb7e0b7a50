//! `vk-memory-test`: the smallest Vulkan client that proves Mesa opened our GPU.
//!
//! Runs inside the simulated Mac (`make sim-mesa`) on Debian's unmodified Mesa. It loads the
//! system Vulkan loader, picks the device whose driver is honeykrisp (Mesa's asahi Vulkan
//! driver, which only accepts a platform-bus DRM device named `asahi`), creates a logical
//! device with one queue, and then exercises what a Vulkan application does first with memory:
//! it allocates host-visible, host-coherent memory, maps it, writes through the mapping, unmaps,
//! maps again and reads the data back.
//!
//! Each allocation is a GEM object created, bound into the device's VM and mapped through
//! GEM_MMAP_OFFSET by Mesa, so a wrong mmap offset, a shared page between two objects or a
//! mapping that does not survive an unmap shows up here as a data mismatch. Two allocations
//! with different patterns are checked, so aliasing between objects is caught too.
//!
//! Prints `vk-memory-test: ok (<device name>, <bytes> bytes in <n> allocations read back)` and
//! exits 0, or prints `vk-memory-test: FAIL <what>` and exits 1.

use std::ffi::CStr;
use std::process::ExitCode;

use ash::vk;

/// `VK_DRIVER_ID_MESA_HONEYKRISP`: newer than the Vulkan headers ash 0.38 was made from.
const DRIVER_ID_MESA_HONEYKRISP: vk::DriverId = vk::DriverId::from_raw(26);

/// Bytes per allocation: several 16 KiB GPU pages, so a mapping spans more than one GEM chunk.
const ALLOCATION_SIZE: u64 = 4 * 16384 + 16384;

/// Allocations made and checked against each other.
const ALLOCATIONS: usize = 2;

/// Why the test failed.
#[derive(Debug)]
enum Failure {
    /// The Vulkan loader could not be loaded.
    Loader(ash::LoadingError),
    /// A Vulkan call returned an error.
    Vulkan(&'static str, vk::Result),
    /// No physical device is driven by honeykrisp.
    NoHoneykrisp(Vec<String>),
    /// The device has no queue family or no host-visible coherent memory type.
    Missing(&'static str),
    /// Data read back differs from what was written.
    Mismatch {
        /// Allocation index.
        allocation: usize,
        /// Byte offset of the first difference.
        offset: usize,
        /// Byte written there.
        wrote: u8,
        /// Byte read back.
        read: u8,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loader(e) => write!(f, "cannot load the Vulkan loader: {e}"),
            Self::Vulkan(call, r) => write!(f, "{call} returned {r:?}"),
            Self::NoHoneykrisp(found) => {
                write!(f, "no honeykrisp device; found: [{}]", found.join(", "))
            }
            Self::Missing(what) => write!(f, "the device has no {what}"),
            Self::Mismatch {
                allocation,
                offset,
                wrote,
                read,
            } => write!(
                f,
                "allocation {allocation} byte {offset:#x}: wrote {wrote:#04x}, read {read:#04x}"
            ),
        }
    }
}

/// Turns a Vulkan result into a [`Failure`] naming the call.
trait Call<T> {
    fn call(self, name: &'static str) -> Result<T, Failure>;
}

impl<T> Call<T> for ash::prelude::VkResult<T> {
    fn call(self, name: &'static str) -> Result<T, Failure> {
        self.map_err(|r| Failure::Vulkan(name, r))
    }
}

/// The byte written at `offset` of allocation `allocation`: differs between allocations and
/// along each one, so both aliasing and shifted mappings are seen.
fn pattern(allocation: usize, offset: usize) -> u8 {
    let word = (offset / 4) as u32;
    // Every byte of the salt differs between allocations, so every byte of the pattern does.
    let salt = u32::from_ne_bytes([(allocation as u8).wrapping_add(1); 4]);
    let mixed = word.wrapping_mul(0x9e37_79b1) ^ salt;
    mixed.to_le_bytes()[offset % 4]
}

/// The physical device driven by honeykrisp, with its name.
fn pick_device(instance: &ash::Instance) -> Result<(vk::PhysicalDevice, String), Failure> {
    // SAFETY: `instance` is a live instance.
    let devices =
        unsafe { instance.enumerate_physical_devices() }.call("vkEnumeratePhysicalDevices")?;
    let mut found = Vec::new();
    for device in devices {
        let mut driver = vk::PhysicalDeviceDriverProperties::default();
        let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
        // SAFETY: `device` came from this instance; `props` chains a driver-properties struct.
        unsafe { instance.get_physical_device_properties2(device, &mut props) };
        let name = cstr_lossy(props.properties.device_name_as_c_str());
        let driver_name = cstr_lossy(driver.driver_name_as_c_str());
        if driver.driver_id == DRIVER_ID_MESA_HONEYKRISP && driver_name == "Honeykrisp" {
            return Ok((device, name));
        }
        found.push(format!("{name} ({driver_name})"));
    }
    Err(Failure::NoHoneykrisp(found))
}

fn cstr_lossy(s: Result<&CStr, std::ffi::FromBytesUntilNulError>) -> String {
    s.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<unterminated>".into())
}

/// Allocates, fills, remaps and checks the memory on `device`.
fn check_memory(
    instance: &ash::Instance,
    physical: vk::PhysicalDevice,
    device: &ash::Device,
) -> Result<(), Failure> {
    let wanted = vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
    // SAFETY: `physical` came from `instance`.
    let props = unsafe { instance.get_physical_device_memory_properties(physical) };
    let type_index = (0..props.memory_type_count)
        .find(|&i| {
            props.memory_types[i as usize]
                .property_flags
                .contains(wanted)
        })
        .ok_or(Failure::Missing("host-visible coherent memory type"))?;
    let info = vk::MemoryAllocateInfo::default()
        .allocation_size(ALLOCATION_SIZE)
        .memory_type_index(type_index);
    let len = ALLOCATION_SIZE as usize;

    let mut memories = Vec::new();
    let result = (|| {
        for _ in 0..ALLOCATIONS {
            // SAFETY: `info` is a valid allocation request for `device`.
            let memory = unsafe { device.allocate_memory(&info, None) }.call("vkAllocateMemory")?;
            memories.push(memory);
        }
        for (a, &memory) in memories.iter().enumerate() {
            // SAFETY: `memory` is host-visible and not mapped; the whole range is mapped.
            let ptr = unsafe {
                device.map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
            }
            .call("vkMapMemory")?;
            // SAFETY: the mapping is `len` bytes long and nothing else refers to it.
            let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) };
            for (offset, byte) in bytes.iter_mut().enumerate() {
                *byte = pattern(a, offset);
            }
            // SAFETY: `memory` is mapped and `bytes` is not used after this.
            unsafe { device.unmap_memory(memory) };
        }
        for (a, &memory) in memories.iter().enumerate() {
            // SAFETY: as above.
            let ptr = unsafe {
                device.map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
            }
            .call("vkMapMemory")?;
            // SAFETY: the mapping is `len` bytes long; it is only read.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
            let mismatch = bytes
                .iter()
                .enumerate()
                .find(|&(offset, &byte)| byte != pattern(a, offset))
                .map(|(offset, &read)| Failure::Mismatch {
                    allocation: a,
                    offset,
                    wrote: pattern(a, offset),
                    read,
                });
            // SAFETY: `memory` is mapped and `bytes` is not used after this.
            unsafe { device.unmap_memory(memory) };
            if let Some(m) = mismatch {
                return Err(m);
            }
        }
        Ok(())
    })();
    for memory in memories {
        // SAFETY: `memory` is unmapped and no GPU work uses it.
        unsafe { device.free_memory(memory, None) };
    }
    result
}

/// Creates a device with one queue on `physical`, checks memory, and tears it all down.
fn run_device(instance: &ash::Instance, physical: vk::PhysicalDevice) -> Result<(), Failure> {
    // SAFETY: `physical` came from `instance`.
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical) };
    let family = families
        .iter()
        .position(|f| f.queue_count > 0)
        .ok_or(Failure::Missing("queue family"))? as u32;
    let priorities = [1.0f32];
    let queue_info = [vk::DeviceQueueCreateInfo::default()
        .queue_family_index(family)
        .queue_priorities(&priorities)];
    let device_info = vk::DeviceCreateInfo::default().queue_create_infos(&queue_info);
    // SAFETY: `device_info` names one existing queue family of `physical`.
    let device =
        unsafe { instance.create_device(physical, &device_info, None) }.call("vkCreateDevice")?;
    let result = (|| {
        // SAFETY: queue 0 of `family` was requested at device creation.
        let queue = unsafe { device.get_device_queue(family, 0) };
        check_memory(instance, physical, &device)?;
        // SAFETY: `queue` belongs to `device`; nothing else uses it concurrently.
        unsafe { device.queue_wait_idle(queue) }.call("vkQueueWaitIdle")?;
        // SAFETY: `device` is live and used by this thread only.
        unsafe { device.device_wait_idle() }.call("vkDeviceWaitIdle")
    })();
    // SAFETY: every object made from `device` is gone and it is idle (or failed).
    unsafe { device.destroy_device(None) };
    result
}

fn run() -> Result<String, Failure> {
    // SAFETY: loading the system's Vulkan loader runs its initialisers; it is a trusted library.
    let entry = unsafe { ash::Entry::load() }.map_err(Failure::Loader)?;
    let app = vk::ApplicationInfo::default()
        .application_name(c"vk-memory-test")
        .api_version(vk::API_VERSION_1_2);
    let instance_info = vk::InstanceCreateInfo::default().application_info(&app);
    // SAFETY: `instance_info` is valid and asks for no layers or extensions.
    let instance =
        unsafe { entry.create_instance(&instance_info, None) }.call("vkCreateInstance")?;
    let result = pick_device(&instance).and_then(|(physical, name)| {
        run_device(&instance, physical)?;
        Ok(name)
    });
    // SAFETY: every device made from `instance` is destroyed.
    unsafe { instance.destroy_instance(None) };
    result
}

fn main() -> ExitCode {
    match run() {
        Ok(name) => {
            println!(
                "vk-memory-test: ok ({name}, {} bytes in {ALLOCATIONS} allocations read back)",
                ALLOCATION_SIZE as usize * ALLOCATIONS
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("vk-memory-test: FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn patterns_differ_between_allocations_and_along_one() {
        let first: Vec<u8> = (0..4096).map(|o| pattern(0, o)).collect();
        let second: Vec<u8> = (0..4096).map(|o| pattern(1, o)).collect();
        assert!(first.iter().zip(&second).all(|(a, b)| a != b));
        assert!(first.windows(2).any(|w| w[0] != w[1]));
        assert!(first[..2048] != first[2048..]);
    }
}
