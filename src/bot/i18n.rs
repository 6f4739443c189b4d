//! Every user-visible string, in Chinese and English, in one table. Templates, the commands and
//! the reminders read them from here; nothing user-visible is a scattered literal.

use crate::lang::Lang;

impl Lang {
    /// This language's strings.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

/// The strings of one language. `{…}` marks a placeholder filled by [`fill`].
#[derive(Debug)]
pub struct Text {
    pub bot_name: &'static str,
    /// The commands that act for the person asking.
    pub actions: &'static super::action_text::ActionText,
    // The meeting card.
    pub card_title_one: &'static str,
    pub card_title_many: &'static str,
    pub code_heading: &'static str,
    pub instance_count: &'static str,
    pub status_in_progress: &'static str,
    pub status_upcoming: &'static str,
    pub status_ended: &'static str,
    pub status_unknown: &'static str,
    pub kind_instant: &'static str,
    pub kind_booked: &'static str,
    pub kind_audio: &'static str,
    pub label_start: &'static str,
    pub label_end: &'static str,
    pub label_duration: &'static str,
    pub label_creator: &'static str,
    pub label_kind: &'static str,
    pub label_active: &'static str,
    pub label_attended: &'static str,
    pub untitled: &'static str,
    pub join: &'static str,
    pub refresh: &'static str,
    pub more_not_listed: &'static str,
    pub skipped_codes: &'static str,
    pub duration_hours_minutes: &'static str,
    pub duration_minutes: &'static str,
    pub duration_seconds: &'static str,
    // Answers about one code.
    pub not_found: &'static str,
    pub invalid_code: &'static str,
    pub no_permission: &'static str,
    pub upstream_down: &'static str,
    pub upstream_error: &'static str,
    pub upstream_timeout: &'static str,
    pub upstream_garbled: &'static str,
    pub upstream_paused: &'static str,
    pub throttled: &'static str,
    pub not_authorized: &'static str,
    pub waiting_for_authorisation: &'static str,
    pub no_organisation: &'static str,
    pub misconfigured: &'static str,
    // Answers about the message.
    pub error_title: &'static str,
    pub unknown_command: &'static str,
    pub did_you_mean: &'static str,
    pub missing_code: &'static str,
    pub bad_code: &'static str,
    pub unsupported_message: &'static str,
    // Help.
    pub help_title: &'static str,
    pub help_intro: &'static str,
    pub help_aliases: &'static str,
    pub colon: &'static str,
    pub help_bare_code: &'static str,
    pub help_example: &'static str,
    pub help_meeting: &'static str,
    pub help_help: &'static str,
    pub help_share: &'static str,
    pub help_lang: &'static str,
    pub help_remind: &'static str,
    pub arg_reminder: &'static str,
    pub bad_minutes: &'static str,
    pub arg_code: &'static str,
    pub arg_codes: &'static str,
    pub arg_language: &'static str,
    // Sharing.
    pub share_all_ended: &'static str,
    pub share_no_link: &'static str,
    // Language.
    pub lang_switched: &'static str,
    pub lang_current: &'static str,
    pub bad_language: &'static str,
    // Access.
    pub not_allowed: &'static str,
    // `/remind` and the reminders.
    pub remind_confirm_intro: &'static str,
    pub remind_confirm_item: &'static str,
    pub remind_confirm_daily: &'static str,
    pub remind_confirm_once: &'static str,
    pub remind_how_to_stop: &'static str,
    pub remind_nothing_upcoming: &'static str,
    pub remind_not_found: &'static str,
    pub remind_not_found_single: &'static str,
    pub remind_full: &'static str,
    pub remind_list_title: &'static str,
    pub remind_list_item: &'static str,
    pub remind_list_item_next: &'static str,
    pub remind_list_empty: &'static str,
    pub remind_off_one: &'static str,
    pub remind_off_missing: &'static str,
    pub remind_off_all: &'static str,
    pub remind_no_send_permission: &'static str,
    pub remind_no_store: &'static str,
    pub remind_no_staff_id: &'static str,
    pub remind_not_kept: &'static str,
    // The reminder itself.
    pub reminder_title: &'static str,
    pub reminder_started_title: &'static str,
    pub reminder_heading: &'static str,
    pub reminder_started_heading: &'static str,
    pub reminder_set_by: &'static str,
    pub reminder_set_by_nobody: &'static str,
}

pub const ZH: Text = Text {
    actions: &super::action_text::ZH,
    bot_name: "会议助手",
    card_title_one: "会议 {code}：{first}",
    card_title_many: "{count} 个会议号的查询结果",
    code_heading: "会议号 {code}",
    instance_count: "共 {count} 场",
    status_in_progress: "进行中",
    status_upcoming: "未开始",
    status_ended: "已结束",
    status_unknown: "状态未知",
    kind_instant: "即时会议",
    kind_booked: "预约会议",
    kind_audio: "语音会议",
    label_start: "开始",
    label_end: "结束",
    label_duration: "时长",
    label_creator: "发起人",
    label_kind: "类型",
    label_active: "在会人数",
    label_attended: "参会人数",
    untitled: "（无标题）",
    join: "加入会议",
    refresh: "刷新",
    more_not_listed: "另有 {count} 场未列出。",
    skipped_codes: "一次最多查询 5 个会议号，其余 {count} 个没有查询。",
    duration_hours_minutes: "{hours} 小时 {minutes} 分钟",
    duration_minutes: "{minutes} 分钟",
    duration_seconds: "{seconds} 秒",
    not_found: "没有找到会议号 {code} 的会议。请核对会议号后再试。",
    invalid_code: "钉钉说会议号 {code} 无效。会议号是一串数字，例如 123456789，请核对后再试。",
    no_permission: "机器人还没有 {scope} 权限。请管理员在钉钉开发者后台为应用开通这个权限；如果应用是从服务商安装的，还需要本组织的管理员同意授权这个权限。",
    upstream_down: "钉钉暂时没有响应，请过一分钟再试。",
    upstream_error: "钉钉那边出错了，这次没有查到。请过一分钟再试。",
    upstream_timeout: "钉钉没有及时回答这次查询。请稍后再试。",
    upstream_garbled: "钉钉返回了机器人读不懂的内容。请稍后再试；如果一直这样，请联系管理员查看日志。",
    upstream_paused: "钉钉暂时没有响应，机器人先暂停查询，免得大家空等。请 {seconds} 秒后再试。",
    throttled: "查询太频繁，钉钉暂时限制了访问，请过一分钟再试。",
    not_authorized: "本组织还没有安装或授权这个应用。请管理员先在钉钉中安装并授权它。",
    waiting_for_authorisation: "机器人正在等待钉钉推送本应用的授权信息，暂时无法查询。请过几分钟再试；如果一直这样，请联系管理员。",
    no_organisation: "这条消息没有注明来自哪个组织，机器人不知道该查哪个组织的会议。请在本组织的群聊或单聊中再试；如果一直这样，请联系管理员。",
    misconfigured: "机器人的配置有问题，暂时无法查询。请联系管理员查看日志。",
    error_title: "会议助手",
    unknown_command: "我不认识「{word}」这个命令。",
    did_you_mean: "你是想输入 {suggestion} 吗？",
    missing_code: "请在命令后面加上会议号，例如：/meeting 123456789",
    bad_code: "「{input}」不是有效的会议号。会议号由数字组成，例如 123456789 或 123 456 789。",
    unsupported_message: "我只能读文字消息。请发送文字，例如：/meeting 123456789",
    help_title: "会议助手 · 帮助",
    help_intro: "在群里 @我 并发送下面的命令：",
    help_aliases: "（也可以写作 {aliases}）",
    colon: "：",
    help_bare_code: "直接发送会议号也可以；一次最多 5 个，用空格或逗号隔开。",
    help_example: "例如：@会议助手 /meeting 123456789",
    help_meeting: "查询会议号下的所有会议：标题、状态、时间、发起人和入会链接",
    help_help: "显示这份帮助",
    help_share: "给大家发一张入会卡片：正在进行或下一场要开始的会议，带「加入会议」按钮",
    help_lang: "切换本会话的回复语言：zh 中文，en 英文",
    help_remind: "每场会议开始前几分钟（默认 5 分钟）在这里发入会链接；单独发送 /remind 查看，/remind off <会议号> 取消",
    arg_reminder: "<会议号> [提前分钟数]",
    bad_minutes: "「{input}」不是可以用的提前分钟数。请写 1 到 1440 之间的整数，例如 /remind 123456789 10。",
    arg_code: "会议号",
    arg_codes: "会议号…",
    arg_language: "zh 或 en",
    share_all_ended: "会议号 {code} 下的会议都已结束，现在没有可以加入的会议。",
    share_no_link: "会议号 {code} 的会议「{title}」没有入会链接，请在钉钉会议里用会议号加入。",
    lang_switched: "好的，本会话之后用中文回复。",
    lang_current: "本会话现在用中文回复。要切换，请发送 /lang en 或 /lang zh。",
    bad_language: "我只会中文（zh）和英文（en）。例如：/lang en",
    not_allowed: "抱歉，这个机器人只为指定的群和成员服务。如需使用，请联系管理员。",
    remind_confirm_intro: "好的，会议号 {code} 的以下会议开始前 {minutes} 分钟，我会在这里发入会链接：",
    remind_confirm_item: "{title}：{start}",
    remind_confirm_daily: "之后 {days} 天内，我每天会重新查一次这个会议号，新排的会议也会提醒。",
    remind_confirm_once: "这个提醒在上面的会议都提醒过后结束。",
    remind_how_to_stop: "发送 /remind off {code} 取消。",
    remind_nothing_upcoming: "会议号 {code} 在接下来 7 天内没有未开始的会议，所以没有设置提醒。",
    remind_not_found: "没有找到会议号 {code} 的会议，所以没有设置提醒。请核对会议号后再试。",
    remind_not_found_single: "没有找到会议号 {code} 的会议，所以没有设置提醒。单聊里我只能查到你所在组织的会议；别的组织的会议号，请在那个组织的群里设置提醒。",
    remind_full: "这个会话已经有 {max} 个会议提醒了，不能再加。发送 /remind 查看，发送 /remind off <会议号> 取消一个。",
    remind_list_title: "本会话的会议提醒：",
    remind_list_item: "会议号 {code}：提前 {minutes} 分钟",
    remind_list_item_next: "会议号 {code}：提前 {minutes} 分钟，下一场「{title}」{start}",
    remind_list_empty: "本会话还没有会议提醒。发送 /remind <会议号> [提前几分钟] 设置一个，例如 /remind 123456789 10。",
    remind_off_one: "已取消会议号 {code} 的提醒。",
    remind_off_missing: "本会话没有会议号 {code} 的提醒。发送 /remind 查看已有的提醒。",
    remind_off_all: "已取消本会话的全部 {count} 个会议提醒。",
    remind_no_send_permission: "机器人没有主动发消息的权限，提醒发不出去，所以没有设置。请管理员在钉钉开发者后台为应用开通「企业内机器人发送消息」权限（qyapi_robot_sendmsg），再发一次这个命令。",
    remind_no_store: "这个机器人没有保存数据的地方，不能设置提醒。请联系管理员配置 DINGMEET_DATA_DIR。",
    remind_no_staff_id: "钉钉没有告诉我你是谁，单聊提醒发不出去，所以没有设置。请在群里设置提醒。",
    remind_not_kept: "提醒没能保存下来，请稍后再试。",
    reminder_title: "{title} {minutes} 分钟后开始",
    reminder_started_title: "{title} 已经开始",
    reminder_heading: "{minutes} 分钟后开始",
    reminder_started_heading: "已经开始，现在就加入吧",
    reminder_set_by: "{name} 设置的提醒 · 发送 /remind off {code} 取消",
    reminder_set_by_nobody: "本会话设置的提醒 · 发送 /remind off {code} 取消",
};

pub const EN: Text = Text {
    actions: &super::action_text::EN,
    bot_name: "Meeting Assistant",
    card_title_one: "Meeting {code}: {first}",
    card_title_many: "Results for {count} meeting codes",
    code_heading: "Meeting code {code}",
    instance_count: "{count} in all",
    status_in_progress: "In progress",
    status_upcoming: "Not started",
    status_ended: "Ended",
    status_unknown: "Status unknown",
    kind_instant: "Instant meeting",
    kind_booked: "Scheduled meeting",
    kind_audio: "Audio meeting",
    label_start: "Start",
    label_end: "End",
    label_duration: "Duration",
    label_creator: "Host",
    label_kind: "Type",
    label_active: "In the meeting now",
    label_attended: "Took part",
    untitled: "(untitled)",
    join: "Join meeting",
    refresh: "Refresh",
    more_not_listed: "{count} more not listed.",
    skipped_codes: "At most 5 meeting codes per message; the other {count} were not looked up.",
    duration_hours_minutes: "{hours} h {minutes} min",
    duration_minutes: "{minutes} min",
    duration_seconds: "{seconds} s",
    not_found: "No meeting found for code {code}. Check the code and try again.",
    invalid_code: "DingTalk says meeting code {code} is not valid. A meeting code is digits, like 123456789; check it and try again.",
    no_permission: "The app lacks the {scope} permission. An admin must grant it to the app in the DingTalk developer console; for an app installed from a vendor, this organisation's admin must also approve that permission.",
    upstream_down: "DingTalk is not answering right now. Please try again in a minute.",
    upstream_error: "DingTalk ran into an error of its own and found nothing this time. Please try again in a minute.",
    upstream_timeout: "DingTalk did not answer this lookup in time. Please try again shortly.",
    upstream_garbled: "DingTalk sent an answer the bot cannot read. Please try again later; if it keeps happening, ask an admin to check the logs.",
    upstream_paused: "DingTalk is not answering right now, so the bot has paused lookups rather than keep you waiting. Please try again in {seconds} s.",
    throttled: "Too many lookups: DingTalk is holding us back. Please try again in a minute.",
    not_authorized: "This organisation has not installed or authorised the app yet. An admin must install and authorise it in DingTalk first.",
    waiting_for_authorisation: "The bot is waiting for DingTalk to push this app's authorisation, so it cannot look meetings up yet. Please try again in a few minutes; if this persists, ask an admin.",
    no_organisation: "This message does not say which organisation it comes from, so the bot cannot tell whose meetings to look up. Please ask again from a chat in your organisation; if this persists, ask an admin.",
    misconfigured: "The bot is misconfigured and cannot look meetings up. Please ask an admin to check its logs.",
    error_title: "Meeting Assistant",
    unknown_command: "I don't know the command \"{word}\".",
    did_you_mean: "Did you mean {suggestion}?",
    missing_code: "Add a meeting code after the command, for example: /meeting 123456789",
    bad_code: "\"{input}\" is not a meeting code. Meeting codes are digits, like 123456789 or 123 456 789.",
    unsupported_message: "I can only read text messages. Send text, for example: /meeting 123456789",
    help_title: "Meeting Assistant · Help",
    help_intro: "@-mention me in a group with one of these commands:",
    help_aliases: " (also {aliases})",
    colon: ": ",
    help_bare_code: "A bare meeting code works too; up to 5 at once, separated by spaces or commas.",
    help_example: "Example: @Meeting Assistant /meeting 123456789",
    help_meeting: "list every meeting behind a code: title, status, times, host and join link",
    help_help: "show this help",
    help_share: "post a join card for everyone: the meeting in progress or next to start, with a Join button",
    help_lang: "switch this conversation's reply language: zh Chinese, en English",
    help_remind: "post the join link here a few minutes (default 5) before each meeting of the code; /remind alone lists them, /remind off <code> cancels",
    arg_reminder: "<code> [minutes]",
    bad_minutes: "\"{input}\" is not a usable number of minutes. Give a whole number from 1 to 1440, for example /remind 123456789 10.",
    arg_code: "code",
    arg_codes: "code…",
    arg_language: "zh or en",
    share_all_ended: "Every meeting under code {code} has ended; there is nothing to join now.",
    share_no_link: "The meeting \"{title}\" under code {code} has no join link; join it in DingTalk with the code.",
    lang_switched: "OK, this conversation gets English replies from now on.",
    lang_current: "This conversation gets English replies. To switch, send /lang zh or /lang en.",
    bad_language: "I speak Chinese (zh) and English (en). For example: /lang zh",
    not_allowed: "Sorry, this bot only serves certain groups and people. Ask an admin if you need access.",
    remind_confirm_intro: "OK: I will post the join link here {minutes} minutes before each of these meetings of code {code}:",
    remind_confirm_item: "{title}: {start}",
    remind_confirm_daily: "For the next {days} days I will look the code up again every day, so newly booked meetings are reminded too.",
    remind_confirm_once: "This reminder ends once the meetings above are reminded.",
    remind_how_to_stop: "Send /remind off {code} to cancel it.",
    remind_nothing_upcoming: "Code {code} has no meeting starting in the next 7 days, so no reminder is set.",
    remind_not_found: "No meetings found for code {code}, so no reminder is set. Check the code and try again.",
    remind_not_found_single: "No meetings found for code {code}, so no reminder is set. In a 1:1 chat I can only see your own organisation's meetings; for another organisation's code, set the reminder in one of its groups.",
    remind_full: "This conversation already has {max} meeting reminders, the most it can have. Send /remind to see them and /remind off <code> to cancel one.",
    remind_list_title: "Meeting reminders in this conversation:",
    remind_list_item: "code {code}: {minutes} minutes before",
    remind_list_item_next: "code {code}: {minutes} minutes before; next \"{title}\" at {start}",
    remind_list_empty: "No meeting reminders here yet. Send /remind <code> [minutes before] to set one, for example /remind 123456789 10.",
    remind_off_one: "The reminder for code {code} is cancelled.",
    remind_off_missing: "This conversation has no reminder for code {code}. Send /remind to see the ones it has.",
    remind_off_all: "All {count} meeting reminders of this conversation are cancelled.",
    remind_no_send_permission: "The robot may not post messages on its own, so a reminder could not go out and none is set. Ask an admin to grant the app the robot message permission (qyapi_robot_sendmsg) in the DingTalk developer console, then send this command again.",
    remind_no_store: "This bot has nowhere to keep reminders, so none can be set. Ask an admin to set DINGMEET_DATA_DIR.",
    remind_no_staff_id: "DingTalk did not say who you are, so a 1:1 reminder could not reach you and none is set. Set the reminder in a group instead.",
    remind_not_kept: "The reminder could not be saved. Please try again in a moment.",
    reminder_title: "{title} starts in {minutes} min",
    reminder_started_title: "{title} has started",
    reminder_heading: "starts in {minutes} minutes",
    reminder_started_heading: "has started: join now",
    reminder_set_by: "Reminder set by {name} · send /remind off {code} to stop it",
    reminder_set_by_nobody: "Reminder set in this conversation · send /remind off {code} to stop it",
};

/// Replaces each `{name}` in `template` with its value, in one pass (a value is never itself
/// searched for placeholders); an unknown `{name}` is left as it is.
pub fn fill(template: &str, values: &[(&str, &dyn std::fmt::Display)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(template.len() + 16 * values.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| values.iter().find(|(name, _)| *name == &after[..close]).map(|(_, v)| (close, v)));
        match value {
            Some((close, value)) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "{value}");
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(fill("会议 {code}：{first}", &[("code", &"123"), ("first", &"周会")]), "会议 123：周会");
        assert_eq!(fill("{n} and {n}", &[("n", &2)]), "2 and 2");
        assert_eq!(fill("{a}{b}", &[("a", &"{b}"), ("b", &"x")]), "{b}x", "values are not filled again");
        assert_eq!(fill("{unknown} {x", &[("x", &1)]), "{unknown} {x");
        assert_eq!(fill("", &[]), "");
    }
}
