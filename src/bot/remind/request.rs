//! What `/remind` was asked: set (a code and how many minutes before), list, or cancel. The
//! words are read by the command parser (`commands`); the reminders act on this.

use crate::bot::room_code::RoomCode;

/// A `/remind` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemindRequest {
    /// `/remind`: this conversation's reminders.
    List,
    /// `/remind <code> [minutes]`.
    Set { code: RoomCode, minutes: u32 },
    /// `/remind off [code]`: one code's reminder, or (`None`) all of this conversation's.
    Off(Option<RoomCode>),
}
