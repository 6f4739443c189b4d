//! What `/remind` and its reminders say, in Chinese and English. `{…}` marks a placeholder
//! filled by [`crate::bot::i18n::fill`].

use crate::lang::Lang;

#[derive(Debug)]
pub(super) struct RemindText {
    pub(super) confirm_intro: &'static str,
    pub(super) confirm_item: &'static str,
    pub(super) confirm_daily: &'static str,
    pub(super) confirm_once: &'static str,
    pub(super) how_to_stop: &'static str,
    pub(super) nothing_upcoming: &'static str,
    pub(super) not_found: &'static str,
    pub(super) not_found_single: &'static str,
    pub(super) full: &'static str,
    pub(super) list_title: &'static str,
    pub(super) list_item: &'static str,
    pub(super) list_item_next: &'static str,
    pub(super) list_empty: &'static str,
    pub(super) off_one: &'static str,
    pub(super) off_missing: &'static str,
    pub(super) off_all: &'static str,
    pub(super) no_send_permission: &'static str,
    pub(super) no_store: &'static str,
    pub(super) no_staff_id: &'static str,
    pub(super) not_kept: &'static str,
    // The reminder itself.
    pub(super) reminder_title: &'static str,
    pub(super) started_title: &'static str,
    pub(super) reminder_heading: &'static str,
    pub(super) started_heading: &'static str,
    pub(super) reminder_set_by: &'static str,
    pub(super) reminder_set_by_nobody: &'static str,
    pub(super) untitled: &'static str,
}

pub(super) fn text(lang: Lang) -> &'static RemindText {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

const ZH: RemindText = RemindText {
    confirm_intro: "好的，会议号 {code} 的以下会议开始前 {minutes} 分钟，我会在这里发入会链接：",
    confirm_item: "{title}：{start}",
    confirm_daily: "之后 {days} 天内，我每天会重新查一次这个会议号，新排的会议也会提醒。",
    confirm_once: "这个提醒在上面的会议都提醒过后结束。",
    how_to_stop: "发送 /remind off {code} 取消。",
    nothing_upcoming: "会议号 {code} 在接下来 7 天内没有未开始的会议，所以没有设置提醒。",
    not_found: "没有找到会议号 {code} 的会议，所以没有设置提醒。请核对会议号后再试。",
    not_found_single: "没有找到会议号 {code} 的会议，所以没有设置提醒。单聊里我只能查到你所在组织的会议；别的组织的会议号，请在那个组织的群里设置提醒。",
    full: "这个会话已经有 {max} 个会议提醒了，不能再加。发送 /remind 查看，发送 /remind off <会议号> 取消一个。",
    list_title: "本会话的会议提醒：",
    list_item: "会议号 {code}：提前 {minutes} 分钟",
    list_item_next: "会议号 {code}：提前 {minutes} 分钟，下一场「{title}」{start}",
    list_empty: "本会话还没有会议提醒。发送 /remind <会议号> [提前几分钟] 设置一个，例如 /remind 123456789 10。",
    off_one: "已取消会议号 {code} 的提醒。",
    off_missing: "本会话没有会议号 {code} 的提醒。发送 /remind 查看已有的提醒。",
    off_all: "已取消本会话的全部 {count} 个会议提醒。",
    no_send_permission: "机器人没有主动发消息的权限，提醒发不出去，所以没有设置。请管理员在钉钉开发者后台为应用开通「企业内机器人发送消息」权限（qyapi_robot_sendmsg），再发一次这个命令。",
    no_store: "这个机器人没有保存数据的地方，不能设置提醒。请联系管理员配置 DINGMEET_DATA_DIR。",
    no_staff_id: "钉钉没有告诉我你是谁，单聊提醒发不出去，所以没有设置。请在群里设置提醒。",
    not_kept: "提醒没能保存下来，请稍后再试。",
    reminder_title: "{title} {minutes} 分钟后开始",
    started_title: "{title} 已经开始",
    reminder_heading: "{minutes} 分钟后开始",
    started_heading: "已经开始，现在就加入吧",
    reminder_set_by: "{name} 设置的提醒 · 发送 /remind off {code} 取消",
    reminder_set_by_nobody: "本会话设置的提醒 · 发送 /remind off {code} 取消",
    untitled: "（无标题）",
};

const EN: RemindText = RemindText {
    confirm_intro: "OK: I will post the join link here {minutes} minutes before each of these meetings of code {code}:",
    confirm_item: "{title}: {start}",
    confirm_daily: "For the next {days} days I will look the code up again every day, so newly booked meetings are reminded too.",
    confirm_once: "This reminder ends once the meetings above are reminded.",
    how_to_stop: "Send /remind off {code} to cancel it.",
    nothing_upcoming: "Code {code} has no meeting starting in the next 7 days, so no reminder is set.",
    not_found: "No meetings found for code {code}, so no reminder is set. Check the code and try again.",
    not_found_single: "No meetings found for code {code}, so no reminder is set. In a 1:1 chat I can only see your own organisation's meetings; for another organisation's code, set the reminder in one of its groups.",
    full: "This conversation already has {max} meeting reminders, the most it can have. Send /remind to see them and /remind off <code> to cancel one.",
    list_title: "Meeting reminders in this conversation:",
    list_item: "code {code}: {minutes} minutes before",
    list_item_next: "code {code}: {minutes} minutes before; next \"{title}\" at {start}",
    list_empty: "No meeting reminders here yet. Send /remind <code> [minutes before] to set one, for example /remind 123456789 10.",
    off_one: "The reminder for code {code} is cancelled.",
    off_missing: "This conversation has no reminder for code {code}. Send /remind to see the ones it has.",
    off_all: "All {count} meeting reminders of this conversation are cancelled.",
    no_send_permission: "The robot may not post messages on its own, so a reminder could not go out and none is set. Ask an admin to grant the app the robot message permission (qyapi_robot_sendmsg) in the DingTalk developer console, then send this command again.",
    no_store: "This bot has nowhere to keep reminders, so none can be set. Ask an admin to set DINGMEET_DATA_DIR.",
    no_staff_id: "DingTalk did not say who you are, so a 1:1 reminder could not reach you and none is set. Set the reminder in a group instead.",
    not_kept: "The reminder could not be saved. Please try again in a moment.",
    reminder_title: "{title} starts in {minutes} min",
    started_title: "{title} has started",
    reminder_heading: "starts in {minutes} minutes",
    started_heading: "has started: join now",
    reminder_set_by: "Reminder set by {name} · send /remind off {code} to stop it",
    reminder_set_by_nobody: "Reminder set in this conversation · send /remind off {code} to stop it",
    untitled: "(untitled)",
};
