// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Firmware log lines: a `RawFwLogMsg` {type 2, index} in the sub-ring of the line's level and
//! the text in the payload array at `payload[0x100 * sub + index]` (facts §3.3, §5.1). The
//! payload is written before the entry and the entry before `write_ptr`, the order the driver
//! relies on when it drains on the next `0x42`.

use std::mem::size_of;

use zerocopy::{FromZeros, IntoBytes};

use super::channels::{Channel, ENTRIES};
use super::generated::abi::{FwAbi, RawFwLogMsgFields, RawFwLogPayloadMsgFields};
use super::generated::common::U64;
use super::gpumem::{self, FwBus};
use crate::strict::Checked;

/// `RawFwLogMsg.msg_type` of a log entry.
pub const MSG_TYPE_ENTRY: u32 = 2;
/// `RawFwLogPayloadMsg.msg_type` of a payload.
pub const MSG_TYPE_PAYLOAD: u32 = 3;

/// One line to post.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// Sub-ring (the level: 0 debug .. 5 crit).
    pub sub: u32,
    /// Sequence number.
    pub seq: u32,
    /// Firmware time, 24 MHz ticks.
    pub timestamp: u64,
    /// Text (truncated to fit with its NUL).
    pub text: &'a str,
}

/// Posts `line`; returns false (and traces it) when the sub-ring is full, as the firmware
/// then drops the line.
pub fn post<A: FwAbi>(
    bus: &mut dyn FwBus,
    ch: &mut Channel,
    payload_buf: u64,
    line: Line<'_>,
) -> Checked<bool> {
    let sub = line.sub;
    let index = ch.pos[sub as usize];
    let next = (index + 1) % ch.entries;
    if ch.host_ptr(bus, sub)? == next {
        bus.fw_trace(format!("fw log sub={sub} full, line dropped"));
        return Ok(false);
    }
    let mut p = A::RawFwLogPayloadMsg::new_zeroed();
    *p.msg_type_mut() = MSG_TYPE_PAYLOAD;
    *p.seq_no_mut() = line.seq;
    *p.timestamp_mut() = U64::new(line.timestamp);
    let text = line.text.as_bytes();
    let room = p.msg().len() - 1;
    let n = text.len().min(room);
    p.msg_mut()[..n].copy_from_slice(&text[..n]);
    let slot = u64::from(ENTRIES * sub + index);
    let payload_va = payload_buf + slot * size_of::<A::RawFwLogPayloadMsg>() as u64;
    gpumem::write(bus, payload_va, p.as_bytes(), "FW log payload")?;

    let mut e = A::RawFwLogMsg::new_zeroed();
    *e.msg_type_mut() = MSG_TYPE_ENTRY;
    *e.msg_index_mut() = U64::new(index.into());
    gpumem::write(bus, ch.entry_va(sub, index), e.as_bytes(), "FW log entry")?;
    ch.publish(bus, sub, next)?;
    bus.fw_trace(format!(
        "fw log sub={sub} index={index} seq={} text={:?}",
        line.seq,
        String::from_utf8_lossy(&text[..n])
    ));
    Ok(true)
}
