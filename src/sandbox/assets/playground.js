// dingmeet playground: sends what you type through the sandbox (signed callback → bot) and shows
// what the bot posted to the simulated DingTalk, rendered as DingTalk renders its markdown subset;
// interactive cards are redrawn in place when the bot updates them, and their Refresh button
// goes the real way (the simulator calls the bot back).
// Every piece of text reaches the page through textContent or text nodes, never as HTML. One file
// (over 400 lines) because it is served as one asset, with no build step.
'use strict';

(() => {
  const TEXT = {
    zh: {
      tag: 'dingmeet 沙盒 · 模拟的钉钉',
      groupSub: '群聊 · @机器人提问',
      singleSub: '与机器人单聊',
      send: '发送',
      codesTitle: '预置会议号',
      codesHint: '点一下填入输入框，再按发送。',
      alsoTitle: '还可以试试',
      robot: '机器人',
      groupHead: '群聊 · 回调发往 {url}',
      singleHead: '单聊 · 回调发往 {url}',
      empty: '输入 {example} 并发送，或点右侧的会议号。每条消息都会签名后回调给机器人，机器人的回复经会话 Webhook 或互动卡片回到这里。',
      noMention: '真实群聊里机器人只收到 @ 它的消息；这条已按 @ 了它发送。',
      answered: '回调应答 HTTP {status}',
      badAnswer: '机器人对回调的应答：HTTP {status} {body}',
      sendFailed: '没发出去：{error}',
      refused: '钉钉拒收了机器人的回复（{via}）：{error}',
      viaWebhook: '会话 Webhook',
      viaOpenapi: '机器人 OpenAPI',
      openapiNote: '经机器人 OpenAPI 发送',
      unsupported: '[{type} 消息]',
      image: '[图片]',
      online: '已连接',
      offline: '与沙盒断开，重试中…',
      streamMode: 'stream 模式：消息经模拟的 Stream 网关推送给机器人（WebSocket），不走 HTTP 回调。',
      pushed: 'Stream 推送 {id}',
      clockReal: '正常时间',
      clockFast: '一分钟一周',
      cardNote: '互动卡片',
      cardUpdated: '互动卡片 · 已更新 {n} 次',
      pressFailed: '按钮没按成：{error}',
      movesTitle: '场景控制',
      movesHint: '预约的会议按时开始、结束，有人入会、离会：钉钉把这些会议事件推给机器人，卡片随即原地更新，不用再去查。',
      moveStart: '开始',
      moveEnd: '结束',
      moveJoin: '入会',
      moveLeave: '离会',
      moveRename: '改标题',
      movePeople: '{n} 人在会',
      renamePrompt: '新的会议标题',
      moveFailed: '没改成：{error}',
      statusUpcoming: '未开始',
      statusLive: '进行中',
      statusEnded: '已结束',
    },
    en: {
      tag: 'dingmeet sandbox · simulated DingTalk',
      groupSub: 'Group · @-mention the robot',
      singleSub: '1:1 chat with the robot',
      send: 'Send',
      codesTitle: 'Seeded meeting codes',
      codesHint: 'Click one to put it in the box, then send.',
      alsoTitle: 'Also try',
      robot: 'Robot',
      groupHead: 'Group · callbacks go to {url}',
      singleHead: '1:1 · callbacks go to {url}',
      empty: 'Type {example} and send, or click a code on the right. Each message is signed and posted to the bot; its reply comes back here through the session webhook, or as an interactive card.',
      noMention: 'In a real group the robot only receives messages that @-mention it; this one was sent as if you had.',
      answered: 'callback answered HTTP {status}',
      badAnswer: 'The bot answered the callback with HTTP {status} {body}',
      sendFailed: 'Not sent: {error}',
      refused: 'DingTalk refused the bot\'s reply ({via}): {error}',
      viaWebhook: 'session webhook',
      viaOpenapi: 'robot OpenAPI',
      openapiNote: 'sent through the robot OpenAPI',
      unsupported: '[{type} message]',
      image: '[image]',
      online: 'connected',
      offline: 'lost the sandbox, retrying…',
      streamMode: 'stream mode: messages reach the bot over the simulated Stream gateway (WebSocket), not as HTTP callbacks.',
      pushed: 'pushed over the Stream as {id}',
      clockReal: 'real time',
      clockFast: 'a week a minute',
      cardNote: 'interactive card',
      cardUpdated: 'interactive card · updated {n}×',
      pressFailed: 'The button press failed: {error}',
      movesTitle: 'Scenario',
      movesHint: 'A booked meeting starts and ends on time, people join and leave: DingTalk pushes each as a meeting event to the bot, which updates its cards in place at once, without a lookup.',
      moveStart: 'Start',
      moveEnd: 'End',
      moveJoin: 'Join',
      moveLeave: 'Leave',
      moveRename: 'Rename',
      movePeople: '{n} in the meeting',
      renamePrompt: 'The meeting\'s new title',
      moveFailed: 'Not changed: {error}',
      statusUpcoming: 'upcoming',
      statusLive: 'in progress',
      statusEnded: 'ended',
    },
  };
  const EXAMPLES = ['/share 123456789', '123 456 789', '/meeting 123456789, 246813579', '/meting 123', '/lang en', '/remind 111222333 10', '/remind', '/meeting new 产品评审', '/today', '/meeting end', '/help'];
  const LINK_SCHEMES = ['http:', 'https:', 'dingtalk:'];

  const $ = (id) => document.getElementById(id);
  const state = {
    info: null,
    t: TEXT.zh,
    chat: 'group',
    after: 0,
    nodes: { group: [], single: [] },
    unread: { group: 0, single: 0 },
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
  }

  // DingTalk shows the last two characters of a Chinese name, or a Latin name's initials.
  function initials(name) {
    const chars = Array.from(name || '?');
    if (/[\u3400-\u9fff]/.test(name)) return chars.slice(-2).join('');
    const words = name.split(/[\s_-]+/).filter(Boolean);
    if (words.length > 1) return (words[0][0] + words[1][0]).toUpperCase();
    const capitals = chars.filter((c) => c >= 'A' && c <= 'Z');
    return (capitals.length > 1 ? capitals.slice(0, 2) : chars.slice(0, 2)).join('').toUpperCase();
  }

  function avatar(name, className) {
    return el('span', 'avatar ' + className, initials(name));
  }

  function safeUrl(text) {
    try {
      const url = new URL(text);
      return LINK_SCHEMES.includes(url.protocol) ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(text, href) {
    const url = safeUrl(href);
    if (!url) return document.createTextNode(text);
    const a = el('a', '', text);
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  // --- DingTalk's markdown subset: headings, quotes, bold, italic, links, images, lists ---------

  function inline(parent, text, mentions) {
    const pattern = /\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|!\[([^\]]*)\]\(([^)\s]+)\)|\[([^\]]+)\]\(([^)\s]+)\)|@([^\s@]+)/g;
    let last = 0;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      if (m[1] !== undefined) {
        const strong = el('strong');
        inline(strong, m[1], mentions);
        parent.append(strong);
      } else if (m[2] !== undefined) {
        const em = el('em');
        inline(em, m[2], mentions);
        parent.append(em);
      } else if (m[4] !== undefined) {
        parent.append(link(m[3] || state.t.image, m[4]));
      } else if (m[6] !== undefined) {
        parent.append(link(m[5], m[6]));
      } else if (mentions.has(m[7])) {
        parent.append(el('span', 'mention', '@' + m[7]));
      } else {
        parent.append(m[0]);
      }
      last = pattern.lastIndex;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  // Plain text (a person's message, a text reply): only @-mentions stand out.
  function plain(parent, text, mentions) {
    const pattern = /@([^\s@]+)/g;
    let last = 0;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      if (!mentions.has(m[1])) continue;
      if (m.index > last) parent.append(text.slice(last, m.index));
      parent.append(el('span', 'mention', m[0]));
      last = pattern.lastIndex;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function markdown(source, mentions) {
    const root = el('div', 'md');
    let paragraph = null;
    let list = null;
    let quote = null;
    for (const line of source.replace(/\r\n?/g, '\n').split('\n')) {
      let m;
      if (/^\s*$/.test(line)) {
        paragraph = list = quote = null;
      } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
        paragraph = list = quote = null;
        const heading = el('h' + m[1].length);
        inline(heading, m[2], mentions);
        root.append(heading);
      } else if ((m = /^>\s?(.*)$/.exec(line))) {
        paragraph = list = null;
        if (quote) quote.append(el('br'));
        else root.append((quote = el('blockquote')));
        inline(quote, m[1], mentions);
      } else if ((m = /^\s*(?:[-+*]|(\d+)\.)\s+(.*)$/.exec(line))) {
        paragraph = quote = null;
        const tag = m[1] === undefined ? 'UL' : 'OL';
        if (!list || list.tagName !== tag) {
          root.append((list = el(tag.toLowerCase())));
          if (tag === 'OL') list.start = Number(m[1]);
        }
        const item = el('li');
        inline(item, m[2], mentions);
        list.append(item);
      } else {
        list = quote = null;
        if (paragraph) paragraph.append(el('br'));
        else root.append((paragraph = el('p')));
        inline(paragraph, line, mentions);
      }
    }
    return root;
  }

  // --- Messages -------------------------------------------------------------------------------

  function push(chat, node) {
    state.nodes[chat].push(node);
    if (chat === state.chat) {
      const list = $('messages');
      list.append(node);
      list.scrollTop = list.scrollHeight;
    } else {
      state.unread[chat] += 1;
      showBadges();
    }
  }

  function notice(chat, text) {
    push(chat, el('li', 'notice', text));
  }

  function mentionSet(names) {
    return new Set((names || []).filter(Boolean));
  }

  function mine(chat, text) {
    const info = state.info;
    const item = el('li', 'msg me');
    const body = el('div', 'body');
    const bubble = el('div', 'bubble');
    plain(bubble, text, mentionSet(chat === 'group' ? info.mentionNames : []));
    const meta = el('div', 'meta');
    body.append(bubble, meta);
    item.append(avatar(info.senderNick, 'user-avatar'), body);
    push(chat, item);
    return meta;
  }

  function theirs(reply) {
    const t = state.t;
    const item = el('li', 'msg bot');
    const body = el('div', 'body');
    const name = el('div', 'name', state.info.botName);
    name.append(el('span', 'robot-tag', t.robot));
    const mentions = mentionSet(reply.atUserIds);
    let bubble;
    if (reply.msgtype === 'text') {
      bubble = el('div', 'bubble');
      plain(bubble, reply.text, mentions);
    } else if (reply.msgtype === 'interactive' && reply.card) {
      bubble = card(reply, mentions);
    } else if (['markdown', 'actionCard', 'link'].includes(reply.msgtype)) {
      bubble = el('div', 'card');
      bubble.dataset.msgtype = reply.msgtype;
      if (reply.title) bubble.title = reply.title;
      if (reply.msgtype === 'link') bubble.append(el('div', 'link-title', reply.title || ''));
      bubble.append(markdown(reply.text, mentions));
      if (reply.buttons.length) {
        const actions = el('div', reply.buttonsHorizontal ? 'actions horizontal' : 'actions');
        for (const button of reply.buttons) {
          const a = link(button.title, button.url);
          if (a.classList) a.classList.add('action');
          actions.append(a);
        }
        bubble.append(actions);
      }
    } else {
      bubble = el('div', 'bubble', fill(t.unsupported, { type: reply.msgtype || '?' }));
    }
    body.append(name, bubble);
    if (reply.via === 'openapi') body.append(el('div', 'meta', t.openapiNote));
    if (reply.card) {
      const note = reply.card.updates ? fill(t.cardUpdated, { n: reply.card.updates }) : t.cardNote;
      body.append(el('div', 'meta card-meta', note));
      item.dataset.outTrackId = reply.card.outTrackId;
    }
    item.append(avatar(state.info.botName, 'bot-avatar'), body);
    return item;
  }

  // An interactive card (the markdown-with-buttons template): its markdown, its Join links and
  // its buttons that call the bot back.
  function card(reply, mentions) {
    const bubble = el('div', 'card');
    bubble.dataset.msgtype = 'interactive';
    bubble.append(markdown(reply.text, mentions));
    if (reply.buttons.length || reply.card.actions.length) {
      const actions = el('div', 'actions horizontal');
      for (const button of reply.buttons) {
        const a = link(button.title, button.url);
        if (a.classList) a.classList.add('action');
        actions.append(a);
      }
      for (const action of reply.card.actions) {
        const button = el('button', 'action callback', action.title);
        button.type = 'button';
        button.dataset.action = action.id;
        button.addEventListener('click', () => press(reply.chat, reply.card.outTrackId, action.id, button));
        actions.append(button);
      }
      bubble.append(actions);
    }
    return bubble;
  }

  // Redraws the card `node` stands for with `fresh`, where it is (in the list and on screen).
  function replace(chat, old, fresh) {
    const list = state.nodes[chat];
    list[list.indexOf(old)] = fresh;
    if (old.isConnected) old.replaceWith(fresh);
    fresh.classList.add('updated');
    setTimeout(() => fresh.classList.remove('updated'), 1500);
  }

  function show(reply) {
    if (!reply.chat) return;
    if (!reply.delivered) {
      const via = reply.via === 'openapi' ? state.t.viaOpenapi : state.t.viaWebhook;
      notice(reply.chat, fill(state.t.refused, { via, error: reply.error || '?' }));
      return;
    }
    if (reply.card) {
      const old = state.nodes[reply.chat].find((node) => node.dataset && node.dataset.outTrackId === reply.card.outTrackId);
      if (old) {
        replace(reply.chat, old, theirs(reply));
        return;
      }
    }
    push(reply.chat, theirs(reply));
  }

  // A card's callback button: the simulator calls the bot back (over its Stream or to the card
  // callback it registered); the card's update then arrives like any other.
  async function press(chat, outTrackId, action, button) {
    button.disabled = true;
    try {
      const response = await postJson('/api/press', { outTrackId, action });
      const answer = await response.json();
      if (!response.ok) notice(chat, fill(state.t.pressFailed, { error: answer.error || response.status }));
      else if (answer.status !== undefined && answer.status !== 200) {
        notice(chat, fill(state.t.pressFailed, { error: 'HTTP ' + answer.status }));
      }
    } catch (err) {
      notice(chat, fill(state.t.pressFailed, { error: err.message }));
    } finally {
      setTimeout(() => { button.disabled = false; }, 1000);
    }
  }

  // --- Talking to the sandbox -----------------------------------------------------------------

  function postJson(path, body) {
    return fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  async function send(text) {
    const chat = state.chat;
    const t = state.t;
    const meta = mine(chat, text);
    try {
      const response = await postJson('/api/send', { text, chat });
      const answer = await response.json();
      if (!response.ok) {
        notice(chat, fill(t.sendFailed, { error: answer.error || response.status }));
        return;
      }
      meta.textContent = answer.streamMessageId
        ? fill(t.pushed, { id: answer.streamMessageId })
        : fill(t.answered, { status: answer.status });
      if (answer.status !== 200) {
        meta.classList.add('bad');
        notice(chat, fill(t.badAnswer, { status: answer.status, body: answer.body }));
      }
      if (answer.hint === 'no_mention') notice(chat, t.noMention);
    } catch (err) {
      notice(chat, fill(t.sendFailed, { error: err.message }));
    }
  }

  function setStatus(online) {
    const status = $('status');
    status.textContent = online ? state.t.online : state.t.offline;
    status.classList.toggle('offline', !online);
  }

  async function poll() {
    let backoff = 500;
    for (;;) {
      try {
        const response = await fetch('/api/replies?after=' + state.after);
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const answer = await response.json();
        setStatus(true);
        backoff = 500;
        for (const reply of answer.replies) {
          state.after = Math.max(state.after, reply.seq);
          show(reply);
        }
        state.after = Math.max(state.after, answer.latest);
      } catch (_) {
        setStatus(false);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  // --- The page -------------------------------------------------------------------------------

  function prefix() {
    return state.chat === 'group' ? '@' + state.info.botName + ' ' : '';
  }

  function insert(text) {
    const input = $('input');
    input.value = prefix() + text;
    input.focus();
  }

  function showBadges() {
    for (const item of document.querySelectorAll('.chat-item')) {
      const badge = item.querySelector('.badge');
      const count = state.unread[item.dataset.chat];
      badge.hidden = count === 0;
      badge.textContent = String(count);
    }
  }

  function open(chat) {
    const info = state.info;
    const t = state.t;
    const mention = '@' + info.botName + ' ';
    const input = $('input');
    if (chat === 'single' && input.value.startsWith(mention)) input.value = input.value.slice(mention.length);
    if (chat === 'group' && state.chat === 'single' && input.value && !input.value.startsWith('@')) {
      input.value = mention + input.value;
    }
    state.chat = chat;
    state.unread[chat] = 0;
    for (const item of document.querySelectorAll('.chat-item')) {
      item.classList.toggle('active', item.dataset.chat === chat);
    }
    showBadges();
    $('conv-title').textContent = chat === 'group' ? info.groupTitle : info.botName;
    $('conv-sub').textContent = fill(chat === 'group' ? t.groupHead : t.singleHead, { url: info.callbackUrl });
    input.placeholder = prefix() + '/meeting 123456789';
    const list = $('messages');
    list.replaceChildren(...state.nodes[chat]);
    list.scrollTop = list.scrollHeight;
  }

  function codeButton(label, about, onClick) {
    const item = el('li');
    const button = el('button', 'code');
    button.type = 'button';
    button.append(el('span', 'code-num', label));
    if (about) button.append(el('span', 'code-about', about));
    button.addEventListener('click', onClick);
    item.append(button);
    return item;
  }

  async function start() {
    let info;
    for (let backoff = 500; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        const response = await fetch('/api/sandbox');
        if (response.ok) {
          info = await response.json();
          break;
        }
      } catch (_) {
        /* retried below */
      }
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
    state.info = info;
    state.t = TEXT[info.lang] || TEXT.zh;
    state.after = info.latest;
    document.documentElement.lang = info.lang;
    const t = state.t;
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t[node.dataset.i18n];
    $('group-name').textContent = info.groupTitle;
    $('single-name').textContent = info.botName;
    $('group-avatar').textContent = state.t === TEXT.zh ? '群' : 'G';
    $('single-avatar').textContent = initials(info.botName);
    $('codes').replaceChildren(
      ...info.codes.map((c) => codeButton(c.code, c.about, () => insert('/meeting ' + c.code))),
    );
    $('examples').replaceChildren(...EXAMPLES.map((text) => codeButton(text, '', () => insert(text))));
    for (const chat of ['group', 'single']) {
      const example = (chat === 'group' ? '@' + info.botName + ' ' : '') + '/meeting 123456789';
      state.nodes[chat].push(el('li', 'notice', fill(t.empty, { example })));
      if (info.mode === 'stream') state.nodes[chat].push(el('li', 'notice', t.streamMode));
    }
    for (const item of document.querySelectorAll('.chat-item')) {
      item.addEventListener('click', () => open(item.dataset.chat));
    }
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('input');
      const text = input.value.trim();
      if (!text) return;
      input.value = '';
      send(text);
    });
    open('group');
    startClock();
    startMoves();
    document.body.dataset.ready = 'true';
    poll();
  }

  // The simulated clock: what time it is there, and buttons to run it fast or jump it ahead, so
  // reminders set with /remind arrive in the chat while you watch.
  function showClock(clock) {
    const time = new Date(clock.nowMs).toLocaleString(state.info.lang === 'en' ? 'en-GB' : 'zh-CN', { hour12: false });
    $('sim-time').textContent = time;
    for (const button of document.querySelectorAll('.clock-button[data-speed]')) {
      button.classList.toggle('active', Number(button.dataset.speed) === clock.speed);
    }
  }

  async function changeClock(body) {
    try {
      const response = await postJson('/api/clock', body);
      if (response.ok) showClock(await response.json());
    } catch (_) {
      /* the next tick shows the clock again */
    }
  }

  function startClock() {
    for (const button of document.querySelectorAll('.clock-button')) {
      button.addEventListener('click', () =>
        changeClock(button.dataset.speed ? { speed: Number(button.dataset.speed) } : { advanceSecs: Number(button.dataset.advance) }),
      );
    }
    const tick = async () => {
      try {
        const response = await fetch('/api/clock');
        if (response.ok) showClock(await response.json());
      } catch (_) {
        /* shown as offline by the reply poll */
      }
      setTimeout(tick, 1000);
    };
    tick();
  }

  // The scenario controls: booked meetings to start, join, leave, end or rename, each told to the
  // bot as DingTalk's meeting event, so a card comes alive.
  function statusLabel(status) {
    const t = state.t;
    return status === 2 ? t.statusLive : status === 1 ? t.statusEnded : t.statusUpcoming;
  }

  function showMoves(meetings) {
    const t = state.t;
    $('moves').replaceChildren(
      ...meetings.map((m) => {
        const item = el('li', 'move');
        item.dataset.conferenceId = m.conferenceId;
        item.dataset.status = String(m.status);
        const head = el('div', 'move-head');
        head.append(el('span', 'code-num', m.code), el('span', 'move-status', statusLabel(m.status)));
        item.append(head, el('div', 'code-about move-title', m.title || ''));
        if (m.status === 2) item.append(el('div', 'code-about move-people', fill(t.movePeople, { n: m.activeNum })));
        const buttons = el('div', 'move-buttons');
        const control = (action, label, enabled) => {
          const button = el('button', 'clock-button move-' + action, label);
          button.type = 'button';
          button.disabled = !enabled;
          button.addEventListener('click', () => {
            let title;
            if (action === 'rename') {
              title = window.prompt(t.renamePrompt, m.title || '');
              if (!title) return;
            }
            moveMeeting({ code: m.code, conferenceId: m.conferenceId, action, title });
          });
          buttons.append(button);
        };
        control('start', t.moveStart, m.status === 0 || m.status === undefined || m.status === null);
        control('join', t.moveJoin, m.status === 2);
        control('leave', t.moveLeave, m.status === 2 && m.activeNum > 0);
        control('end', t.moveEnd, m.status === 2);
        control('rename', t.moveRename, true);
        item.append(buttons);
        return item;
      }),
    );
    $('moves-section').hidden = meetings.length === 0;
  }

  async function moveMeeting(body) {
    try {
      const response = await postJson('/api/meetings', body);
      const answer = await response.json();
      if (response.ok) showMoves(answer);
      else notice(state.chat, fill(state.t.moveFailed, { error: answer.error || response.status }));
    } catch (err) {
      notice(state.chat, fill(state.t.moveFailed, { error: err.message }));
    }
  }

  // Looked at every few seconds: a test or `dingmeet send` may move meetings too.
  async function startMoves() {
    try {
      const response = await fetch('/api/meetings');
      if (response.ok) showMoves(await response.json());
    } catch (_) {
      /* the controls stay as they were */
    }
    setTimeout(startMoves, 2000);
  }

  start();
})();
