-- wrk script for bench/load.sh: DingTalk robot callbacks, correctly signed, each with its own
-- msgId, conversation and sender, asking "/meeting 123456789" and replying on a session webhook
-- opened in the simulator.
--
--   wrk -s bench/callback.lua http://127.0.0.1:PORT/dingtalk/callback -- PLAN_FILE RUN_ID [LIMIT]
--
-- PLAN_FILE (written by bench/load.sh) holds one "key value" pair a line:
--   timestamp <ms>       the signed timestamp (DingTalk's sign covers only the timestamp, so one
--   sign <base64>        signature serves every request while it is inside the bot's window)
--   robot <code>         robotCode / chatbotCorpId source
--   corp <corpId>
--   text <words>         what the person typed after the @-mention
--   webhook <url>        session webhooks to reply on, used in turn (any number of lines)
-- RUN_ID makes msgIds and senders unique across runs: each reply @-mentions its own sender
-- "RUN_ID-<thread>-<n>", so the simulator can count replies per message. With LIMIT, each wrk
-- thread stops after that many answers (a warm-up of a known size).
--
-- At the end it prints one line "wrk-result {json}" for the script to read, and exits non-zero
-- (through load.sh's check) when any response was not 2xx or any socket error happened.

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

local plan = { webhooks = {} }
local run_id = "run"
local counter = 0
local headers
local template

local function read_plan(path)
   local file = assert(io.open(path, "r"), "cannot open the plan file " .. tostring(path))
   for line in file:lines() do
      local key, value = line:match("^(%S+)%s+(.*)$")
      if key == "webhook" then
         table.insert(plan.webhooks, value)
      elseif key then
         plan[key] = value
      end
   end
   file:close()
   assert(plan.timestamp and plan.sign, "the plan has no timestamp or sign")
   assert(#plan.webhooks > 0, "the plan has no session webhook")
end

-- A JSON string literal (the plan's values are ASCII or plain UTF-8 without control characters).
local function quote(s)
   return '"' .. s:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
   end) .. '"'
end

function init(args)
   read_plan(args[1])
   run_id = args[2] or run_id
   local limit = tonumber(args[3] or "")
   if limit then
      -- Defined only with a limit: wrk reads every answer into Lua when `response` exists.
      local answered = 0
      response = function()
         answered = answered + 1
         if answered >= limit then
            wrk.thread:stop()
         end
      end
   end
   headers = {
      ["Content-Type"] = "application/json; charset=utf-8",
      ["timestamp"] = plan.timestamp,
      ["sign"] = plan.sign,
   }
   local expires = tonumber(plan.timestamp) + 5400000
   local robot = plan.robot or "dingsimulatedapp0001"
   local corp = plan.corp or "dingc5344d64bd47d252"
   local text = plan.text or "/meeting 123456789"
   -- DingTalk's field order and shapes (see crates/dingtalk-sim/src/sender/build.rs); %s slots: conversation id twice,
   -- msgId, sender staff id, sender id, session webhook.
   template = '{"senderPlatform":"Win","conversationId":%s,'
      .. '"atUsers":[{"dingtalkId":"$:LWCP_v1:$benchbot"}],'
      .. '"chatbotCorpId":' .. quote(corp) .. ',"chatbotUserId":"$:LWCP_v1:$benchbot",'
      .. '"openThreadId":%s,"msgId":%s,"senderNick":"张三","isAdmin":true,'
      .. '"senderStaffId":%s,"sessionWebhookExpiredTime":' .. string.format("%d", expires) .. ','
      .. '"createAt":' .. plan.timestamp .. ',"senderCorpId":' .. quote(corp) .. ','
      .. '"conversationType":"2","senderId":%s,"conversationTitle":"bench","isInAtList":true,'
      .. '"sessionWebhook":%s,"text":{"content":' .. quote(" " .. text) .. '},'
      .. '"robotCode":' .. quote(robot) .. ',"msgtype":"text"}'
end

function request()
   counter = counter + 1
   local n = string.format("%s-%d-%d", run_id, thread_id, counter)
   local conversation = quote("cidBench" .. n .. "=")
   local webhook = plan.webhooks[(counter - 1) % #plan.webhooks + 1]
   local body = string.format(template, conversation, conversation, quote("msg" .. n), quote(n),
      quote("$:LWCP_v1:$" .. n), quote(webhook))
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'wrk-result {"requests":%d,"duration_us":%d,"bytes":%d,"non_2xx":%d,'
         .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, errors.status,
      errors.connect, errors.read, errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
