// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Job submission (DRM_IOCTL_ASAHI_SUBMIT).
//!
//! SUBMIT turns a user command buffer into firmware work on one of the file's queues. It is
//! built in layers, each checked on its own: [`cmdbuf`] parses and checks the command buffer
//! as the UAPI defines it, before anything is looked up or allocated for the firmware.
//!
//! The job queue (`kernel::drm::jq`) holds each job back until its in-syncs signal, and the
//! done fence it returns is what the out-syncs receive.

pub(crate) mod cmdbuf;
