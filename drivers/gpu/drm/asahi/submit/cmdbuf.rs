// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The SUBMIT command buffer: a flat byte string of headers and payloads, checked whole.
//!
//! SUBMIT copies the user's command buffer into the kernel once and hands it here. The
//! parser walks it header by header (`drm_asahi_cmd_header`: type, payload size, and the
//! render and compute barriers) and either returns every command, typed and checked, or the
//! errno of the first bad one; nothing is queued from a buffer that fails anywhere.
//!
//! The rules, from the 7.2 UAPI header and asahi-driver-facts §7.2-§7.4 and §8:
//!
//! - A header must fit in what is left of the buffer, and so must its payload.
//! - Hardware commands (RENDER, COMPUTE) may be *shorter* than the kernel's struct: the
//!   missing fields read as zero, which is how older userspace stays valid. A payload longer
//!   than the kernel's struct is accepted only if the extra bytes are zero (a newer
//!   userspace that uses none of what this kernel lacks), else `E2BIG`, the rule
//!   `copy_struct_from_user()` applies to extensible structs.
//! - Attachment commands carry whole `drm_asahi_attachment`s (at most `MAX_ATTACHMENTS`),
//!   with `pad` and `flags` zero, and must pass `BARRIER_NONE` for both barriers.
//! - A barrier is `BARRIER_NONE`, 0 (all earlier work on that subqueue), or N for the N-th
//!   command of that subqueue earlier in this buffer.
//! - There is at least one hardware command and at most `MAX_COMMANDS_PER_SUBMISSION`.
//! - RENDER: known flags only; 1 <= width, height <= 16384; 1 <= layers <= 2048; a utile of
//!   32x32, 32x16 or 16x16; 1, 2 or 4 samples. COMPUTE: flags 0.
//!
//! Everything else in a payload is a GPU address or a hardware control word; the firmware
//! and the GPU's MMU confine those to the queue's VM. Timestamp handles are checked later,
//! against the file's timestamp objects.

use kernel::{
    prelude::*,
    uapi, //
};

use crate::params::{
    MAX_ATTACHMENTS,
    MAX_COMMANDS_PER_SUBMISSION, //
};

/// `DRM_ASAHI_BARRIER_NONE`.
pub(crate) const BARRIER_NONE: u16 = uapi::DRM_ASAHI_BARRIER_NONE as u16;

const HEADER_SIZE: usize = core::mem::size_of::<uapi::drm_asahi_cmd_header>();
const ATTACHMENT_SIZE: usize = core::mem::size_of::<uapi::drm_asahi_attachment>();

const RENDER_FLAGS: u32 = uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_VERTEX_SCRATCH
    | uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_PROCESS_EMPTY_TILES
    | uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_NO_VERTEX_CLUSTERING
    | uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_DBIAS_IS_INT;

/// Which subqueue a barrier waits on, and what for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Barrier {
    /// Nothing on that subqueue.
    None,
    /// All work submitted to that subqueue before this SUBMIT.
    Previous,
    /// The command of that subqueue with this 0-based index in this SUBMIT.
    InSubmit(usize),
}

/// The subqueue a set of attachments applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttachmentTarget {
    /// Vertex shaders of later render commands.
    Vertex,
    /// Fragment shaders of later render commands.
    Fragment,
    /// Later compute commands.
    Compute,
}

/// One memory range shaders write: a hint for the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attachment {
    /// GPU address.
    pub(crate) pointer: u64,
    /// Size in bytes.
    pub(crate) size: u64,
}

/// One checked command.
pub(crate) enum Command {
    /// A render pass (vertex and fragment work).
    Render {
        /// The payload, zero-extended.
        cmd: KBox<uapi::drm_asahi_cmd_render>,
        /// Waits on the render subqueue.
        vdm: Barrier,
        /// Waits on the compute subqueue.
        cdm: Barrier,
    },
    /// A compute dispatch.
    Compute {
        /// The payload, zero-extended.
        cmd: uapi::drm_asahi_cmd_compute,
        /// Waits on the render subqueue.
        vdm: Barrier,
        /// Waits on the compute subqueue.
        cdm: Barrier,
    },
    /// Replaces the attachments of one subqueue for the commands after it.
    Attachments {
        /// Which subqueue.
        target: AttachmentTarget,
        /// The attachments, in order.
        list: KVec<Attachment>,
    },
}

/// A checked command buffer.
pub(crate) struct CommandBuffer {
    /// The commands in buffer order.
    pub(crate) commands: KVec<Command>,
    /// How many are RENDER.
    pub(crate) renders: usize,
    /// How many are COMPUTE.
    pub(crate) computes: usize,
}

/// UAPI payload structs that may be filled from any bytes.
///
/// # Safety
///
/// The type consists only of integers (and arrays and structs of them), so every byte
/// pattern, including all zeroes, is a valid value.
unsafe trait Payload: Sized {}

// SAFETY: `drm_asahi_cmd_render` and its sub-structs hold only integers.
unsafe impl Payload for uapi::drm_asahi_cmd_render {}
// SAFETY: `drm_asahi_cmd_compute` and its sub-structs hold only integers.
unsafe impl Payload for uapi::drm_asahi_cmd_compute {}
// SAFETY: `drm_asahi_attachment` holds only integers.
unsafe impl Payload for uapi::drm_asahi_attachment {}
// SAFETY: `drm_asahi_cmd_header` holds only integers.
unsafe impl Payload for uapi::drm_asahi_cmd_header {}

/// Fills `out` from `bytes`: zero-extended if shorter; `E2BIG` if longer and a byte past
/// the struct is not zero.
fn fill<T: Payload>(out: &mut T, bytes: &[u8]) -> Result {
    let size = core::mem::size_of::<T>();
    let (known, extra) = bytes.split_at(bytes.len().min(size));
    if extra.iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    // SAFETY: `out` is a valid `T` of `size` bytes and `known` is at most that long; by
    // `Payload` any bytes make a valid `T`; the two do not overlap (`out` is exclusively
    // borrowed).
    unsafe {
        core::ptr::copy_nonoverlapping(
            known.as_ptr(),
            core::ptr::from_mut(out).cast::<u8>(),
            known.len(),
        )
    };
    Ok(())
}

/// A zeroed payload struct.
fn zeroed<T: Payload>() -> T {
    // SAFETY: By `Payload`, all zeroes is a valid `T`.
    unsafe { core::mem::zeroed() }
}

/// Decodes a barrier index given `earlier` commands of its subqueue so far.
fn barrier(raw: u16, earlier: usize) -> Result<Barrier> {
    match raw {
        BARRIER_NONE => Ok(Barrier::None),
        0 => Ok(Barrier::Previous),
        n if usize::from(n) <= earlier => Ok(Barrier::InSubmit(usize::from(n) - 1)),
        _ => Err(EINVAL),
    }
}

fn check_render(cmd: &uapi::drm_asahi_cmd_render) -> Result {
    if cmd.flags & !RENDER_FLAGS != 0 {
        return Err(EINVAL);
    }
    if !(1..=16384).contains(&cmd.width_px) || !(1..=16384).contains(&cmd.height_px) {
        return Err(EINVAL);
    }
    if !(1..=2048).contains(&cmd.layers) {
        return Err(EINVAL);
    }
    if !matches!(
        (cmd.utile_width_px, cmd.utile_height_px),
        (32, 32) | (32, 16) | (16, 16)
    ) {
        return Err(EINVAL);
    }
    if !matches!(cmd.samples, 1 | 2 | 4) {
        return Err(EINVAL);
    }
    Ok(())
}

fn attachments(payload: &[u8]) -> Result<KVec<Attachment>> {
    if payload.len() % ATTACHMENT_SIZE != 0 {
        return Err(EINVAL);
    }
    let count = payload.len() / ATTACHMENT_SIZE;
    if count > MAX_ATTACHMENTS as usize {
        return Err(EINVAL);
    }
    let mut list = KVec::with_capacity(count, GFP_KERNEL)?;
    for raw in payload.chunks_exact(ATTACHMENT_SIZE) {
        let mut a: uapi::drm_asahi_attachment = zeroed();
        fill(&mut a, raw)?;
        if a.pad != 0 || a.flags != 0 {
            return Err(EINVAL);
        }
        list.push(
            Attachment {
                pointer: a.pointer,
                size: a.size,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(list)
}

/// Parses and checks a whole command buffer.
pub(crate) fn parse(buf: &[u8]) -> Result<CommandBuffer> {
    let mut commands = KVec::new();
    let (mut renders, mut computes) = (0usize, 0usize);
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < HEADER_SIZE {
            return Err(EINVAL);
        }
        let (head, tail) = rest.split_at(HEADER_SIZE);
        let mut h: uapi::drm_asahi_cmd_header = zeroed();
        fill(&mut h, head)?;
        let size = usize::from(h.size);
        if size > tail.len() {
            return Err(EINVAL);
        }
        let (payload, tail) = tail.split_at(size);
        rest = tail;

        let command = match u32::from(h.cmd_type) {
            uapi::drm_asahi_cmd_type_DRM_ASAHI_CMD_RENDER => {
                let vdm = barrier(h.vdm_barrier, renders)?;
                let cdm = barrier(h.cdm_barrier, computes)?;
                let mut cmd = KBox::new(zeroed::<uapi::drm_asahi_cmd_render>(), GFP_KERNEL)?;
                fill(&mut *cmd, payload)?;
                check_render(&cmd)?;
                renders += 1;
                Command::Render { cmd, vdm, cdm }
            }
            uapi::drm_asahi_cmd_type_DRM_ASAHI_CMD_COMPUTE => {
                let vdm = barrier(h.vdm_barrier, renders)?;
                let cdm = barrier(h.cdm_barrier, computes)?;
                let mut cmd: uapi::drm_asahi_cmd_compute = zeroed();
                fill(&mut cmd, payload)?;
                if cmd.flags != 0 {
                    return Err(EINVAL);
                }
                computes += 1;
                Command::Compute { cmd, vdm, cdm }
            }
            t @ (uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_VERTEX_ATTACHMENTS
            | uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_FRAGMENT_ATTACHMENTS
            | uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_COMPUTE_ATTACHMENTS) => {
                if h.vdm_barrier != BARRIER_NONE || h.cdm_barrier != BARRIER_NONE {
                    return Err(EINVAL);
                }
                let target = match t {
                    uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_VERTEX_ATTACHMENTS => {
                        AttachmentTarget::Vertex
                    }
                    uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_FRAGMENT_ATTACHMENTS => {
                        AttachmentTarget::Fragment
                    }
                    _ => AttachmentTarget::Compute,
                };
                Command::Attachments {
                    target,
                    list: attachments(payload)?,
                }
            }
            _ => return Err(EINVAL),
        };
        commands.push(command, GFP_KERNEL)?;
        if renders + computes > MAX_COMMANDS_PER_SUBMISSION as usize {
            return Err(EINVAL);
        }
    }
    if renders + computes == 0 {
        return Err(EINVAL);
    }
    Ok(CommandBuffer {
        commands,
        renders,
        computes,
    })
}

#[kernel::prelude::kunit_tests(asahi_submit_cmdbuf)]
mod tests {
    use super::*;

    const RENDER: u16 = uapi::drm_asahi_cmd_type_DRM_ASAHI_CMD_RENDER as u16;
    const COMPUTE: u16 = uapi::drm_asahi_cmd_type_DRM_ASAHI_CMD_COMPUTE as u16;
    const SET_VERTEX: u16 = uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_VERTEX_ATTACHMENTS as u16;
    const SET_COMPUTE: u16 = uapi::drm_asahi_cmd_type_DRM_ASAHI_SET_COMPUTE_ATTACHMENTS as u16;
    const RENDER_SIZE: usize = core::mem::size_of::<uapi::drm_asahi_cmd_render>();
    const COMPUTE_SIZE: usize = core::mem::size_of::<uapi::drm_asahi_cmd_compute>();
    const NONE: u16 = BARRIER_NONE;

    /// Appends one header and payload.
    fn push(buf: &mut KVec<u8>, ty: u16, vdm: u16, cdm: u16, payload: &[u8]) -> Result {
        for half in [ty, payload.len() as u16, vdm, cdm] {
            buf.extend_from_slice(&half.to_ne_bytes(), GFP_KERNEL)?;
        }
        buf.extend_from_slice(payload, GFP_KERNEL)?;
        Ok(())
    }

    /// A buffer of one command.
    fn one(ty: u16, vdm: u16, cdm: u16, payload: &[u8]) -> Result<KVec<u8>> {
        let mut buf = KVec::new();
        push(&mut buf, ty, vdm, cdm, payload)?;
        Ok(buf)
    }

    /// The bytes of a valid render payload (1920x1080, 32x32 utiles, 1 sample).
    fn render_bytes(flags: u32, len: usize) -> Result<KVec<u8>> {
        let mut r: uapi::drm_asahi_cmd_render = zeroed();
        r.flags = flags;
        r.width_px = 1920;
        r.height_px = 1080;
        r.layers = 1;
        r.utile_width_px = 32;
        r.utile_height_px = 32;
        r.samples = 1;
        r.vdm_ctrl_stream_base = 0x12_0000_0000;
        // SAFETY: `r` is a plain integer struct of `RENDER_SIZE` bytes.
        let raw = unsafe { core::slice::from_raw_parts((&raw const r).cast::<u8>(), RENDER_SIZE) };
        let mut v = KVec::new();
        v.extend_from_slice(&raw[..len.min(RENDER_SIZE)], GFP_KERNEL)?;
        v.resize(len, 0, GFP_KERNEL)?;
        Ok(v)
    }

    fn compute_bytes(flags: u32) -> Result<KVec<u8>> {
        let mut v = KVec::new();
        v.resize(COMPUTE_SIZE, 0, GFP_KERNEL)?;
        v[..4].copy_from_slice(&flags.to_ne_bytes());
        v[8..16].copy_from_slice(&0x13_0000_0000u64.to_ne_bytes());
        Ok(v)
    }

    fn attachment_bytes(pointer: u64, size: u64, pad: u32, flags: u32) -> [u8; ATTACHMENT_SIZE] {
        let mut a = [0u8; ATTACHMENT_SIZE];
        a[..8].copy_from_slice(&pointer.to_ne_bytes());
        a[8..16].copy_from_slice(&size.to_ne_bytes());
        a[16..20].copy_from_slice(&pad.to_ne_bytes());
        a[20..].copy_from_slice(&flags.to_ne_bytes());
        a
    }

    fn err(buf: &[u8]) -> Option<Error> {
        parse(buf).err()
    }

    #[test]
    fn a_mixed_buffer_parses_with_its_barriers() -> Result {
        let mut buf = KVec::new();
        push(
            &mut buf,
            SET_VERTEX,
            NONE,
            NONE,
            &attachment_bytes(0x1000, 0x4000, 0, 0),
        )?;
        push(&mut buf, RENDER, 0, NONE, &render_bytes(0, RENDER_SIZE)?)?;
        push(&mut buf, COMPUTE, 1, 0, &compute_bytes(0)?)?;
        push(&mut buf, RENDER, 1, 1, &render_bytes(0, RENDER_SIZE)?)?;
        let cb = parse(&buf)?;
        assert_eq!((cb.renders, cb.computes, cb.commands.len()), (2, 1, 4));
        match &cb.commands[0] {
            Command::Attachments { target, list } => {
                assert_eq!(*target, AttachmentTarget::Vertex);
                assert_eq!(
                    list[..],
                    [Attachment {
                        pointer: 0x1000,
                        size: 0x4000
                    }]
                );
            }
            _ => return Err(EINVAL),
        }
        match &cb.commands[2] {
            Command::Compute { cmd, vdm, cdm } => {
                assert_eq!(cmd.cdm_ctrl_stream_base, 0x13_0000_0000);
                assert_eq!((*vdm, *cdm), (Barrier::InSubmit(0), Barrier::Previous));
            }
            _ => return Err(EINVAL),
        }
        match &cb.commands[3] {
            Command::Render { cmd, vdm, cdm } => {
                assert_eq!(
                    (cmd.width_px, cmd.vdm_ctrl_stream_base),
                    (1920, 0x12_0000_0000)
                );
                assert_eq!((*vdm, *cdm), (Barrier::InSubmit(0), Barrier::InSubmit(0)));
            }
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    #[test]
    fn short_payloads_read_as_zero_and_long_ones_need_zero_tails() -> Result {
        // A compute payload cut after cdm_ctrl_stream_base: the rest reads zero.
        let buf = one(COMPUTE, NONE, NONE, &compute_bytes(0)?[..16])?;
        match &parse(&buf)?.commands[0] {
            Command::Compute { cmd, .. } => {
                assert_eq!(
                    (cmd.cdm_ctrl_stream_base, cmd.cdm_ctrl_stream_end),
                    (0x13_0000_0000, 0)
                );
            }
            _ => return Err(EINVAL),
        }
        // Longer than the kernel knows: fine while the tail is zero, E2BIG otherwise.
        let mut long = render_bytes(0, RENDER_SIZE + 16)?;
        let buf = one(RENDER, NONE, NONE, &long)?;
        assert!(parse(&buf).is_ok());
        long[RENDER_SIZE + 3] = 1;
        let buf = one(RENDER, NONE, NONE, &long)?;
        assert_eq!(err(&buf), Some(E2BIG));
        Ok(())
    }

    #[test]
    fn framing_errors_are_einval() -> Result {
        let mut good = KVec::new();
        push(&mut good, COMPUTE, NONE, NONE, &compute_bytes(0)?)?;
        // Empty buffer, a cut header, a payload past the end, an unknown type.
        assert_eq!(err(&[]), Some(EINVAL));
        assert_eq!(err(&good[..HEADER_SIZE - 1]), Some(EINVAL));
        assert_eq!(err(&good[..good.len() - 1]), Some(EINVAL));
        let mut unknown = KVec::new();
        push(&mut unknown, 5, NONE, NONE, &[])?;
        assert_eq!(err(&unknown), Some(EINVAL));
        // Trailing bytes that are not a whole header.
        good.extend_from_slice(&[0, 0, 0], GFP_KERNEL)?;
        assert_eq!(err(&good), Some(EINVAL));
        // Attachments only: no hardware command.
        let mut only = KVec::new();
        push(&mut only, SET_COMPUTE, NONE, NONE, &[])?;
        assert_eq!(err(&only), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn barriers_point_only_at_earlier_commands() -> Result {
        for (vdm, cdm, want) in [
            (1, NONE, Some(EINVAL)), // no render before it
            (NONE, 1, Some(EINVAL)), // no compute before it
            (NONE, 2, Some(EINVAL)),
            (0, 0, None),
            (NONE, NONE, None),
        ] {
            let buf = one(COMPUTE, vdm, cdm, &compute_bytes(0)?)?;
            assert_eq!(err(&buf), want);
        }
        // Attachment commands must not carry barriers.
        let mut buf = KVec::new();
        push(&mut buf, SET_VERTEX, 0, NONE, &[])?;
        push(&mut buf, COMPUTE, NONE, NONE, &compute_bytes(0)?)?;
        assert_eq!(err(&buf), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn payload_fields_are_checked() -> Result {
        let buf = one(COMPUTE, NONE, NONE, &compute_bytes(1)?)?;
        assert_eq!(err(&buf), Some(EINVAL));
        let buf = one(RENDER, NONE, NONE, &render_bytes(1 << 3, RENDER_SIZE)?)?;
        assert_eq!(err(&buf), Some(EINVAL));
        let known = uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_DBIAS_IS_INT
            | uapi::drm_asahi_render_flags_DRM_ASAHI_RENDER_PROCESS_EMPTY_TILES;
        let buf = one(RENDER, NONE, NONE, &render_bytes(known, RENDER_SIZE)?)?;
        assert!(parse(&buf).is_ok());
        // A render payload cut before its dimensions has width 0.
        let buf = one(RENDER, NONE, NONE, &render_bytes(0, 64)?)?;
        assert_eq!(err(&buf), Some(EINVAL));
        // Attachments: whole entries, pad and flags zero, at most 16.
        for (payload_len, pad, flags, want) in [
            (ATTACHMENT_SIZE - 1, 0, 0, Some(EINVAL)),
            (ATTACHMENT_SIZE, 1, 0, Some(EINVAL)),
            (ATTACHMENT_SIZE, 0, 1, Some(EINVAL)),
            (ATTACHMENT_SIZE * 16, 0, 0, None),
            (ATTACHMENT_SIZE * 17, 0, 0, Some(EINVAL)),
        ] {
            let mut payload = KVec::new();
            while payload.len() < payload_len {
                payload
                    .extend_from_slice(&attachment_bytes(0x4000, 0x4000, pad, flags), GFP_KERNEL)?;
            }
            payload.truncate(payload_len);
            let mut buf = KVec::new();
            push(&mut buf, SET_COMPUTE, NONE, NONE, &payload)?;
            push(&mut buf, COMPUTE, NONE, NONE, &compute_bytes(0)?)?;
            assert_eq!(err(&buf), want);
        }
        Ok(())
    }

    #[test]
    fn at_most_the_advertised_number_of_commands() -> Result {
        let payload = compute_bytes(0)?;
        let mut buf = KVec::new();
        for _ in 0..MAX_COMMANDS_PER_SUBMISSION {
            push(&mut buf, COMPUTE, NONE, NONE, &payload)?;
        }
        assert_eq!(parse(&buf)?.computes, MAX_COMMANDS_PER_SUBMISSION as usize);
        push(&mut buf, COMPUTE, NONE, NONE, &payload)?;
        assert_eq!(err(&buf), Some(EINVAL));
        Ok(())
    }
}
