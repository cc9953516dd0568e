-- Rendered by mailplane; edits are overwritten.
-- Dovecot's push_notification Lua driver: after each delivery transaction, POST one
-- form-encoded report per new message to mailplane (live_events/push.py). The URL and the
-- client secret come from plugin settings (mailplane_push_url, mailplane_push_secret).
-- The username is Dovecot's own (the authenticated or delivered-to user): a mailbox
-- user cannot make its reports speak for another mailbox.

local function escape(value)
  return (tostring(value or ""):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- Lua 5.3 numbers from Dovecot may be floats ("1.0"): counts and uids go as integers.
local function integer(value)
  return string.format("%d", math.floor(tonumber(value) or 0))
end

function dovecot_lua_notify_begin_txn(user)
  return { user = user, messages = {} }
end

function dovecot_lua_notify_event_message_new(ctx, event)
  table.insert(ctx.messages, {
    folder = event.mailbox,
    uid = event.uid,
    uidvalidity = event.uid_validity,
    from = event.from,
    subject = event.subject,
  })
end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or #ctx.messages == 0 then
    return
  end
  local url = ctx.user:plugin_getenv("mailplane_push_url")
  local secret = ctx.user:plugin_getenv("mailplane_push_secret")
  if url == nil or url == "" then
    return
  end
  -- The delivery waits for the report: a hung API may cost it one second, no more (and a
  -- stopped API nothing: the connection is refused at once). Mail flows either way.
  local client = dovecot.http.client({ timeout = 1000, max_attempts = 1 })
  for _, msg in ipairs(ctx.messages) do
    local mbox = ctx.user:mailbox(msg.folder)
    mbox:sync()
    local status = mbox:status(dovecot.storage.STATUS_UNSEEN, dovecot.storage.STATUS_MESSAGES)
    mbox:free()
    local body = "user=" .. escape(ctx.user.username)
      .. "&folder=" .. escape(msg.folder)
      .. "&uid=" .. integer(msg.uid)
      .. "&uidvalidity=" .. integer(msg.uidvalidity)
      .. "&from=" .. escape(msg.from)
      .. "&subject=" .. escape(msg.subject)
      .. "&unseen=" .. integer(status.unseen)
      .. "&exists=" .. integer(status.messages)
    local request = client:request({ url = url, method = "POST" })
    request:add_header("Authorization", "Bearer " .. secret)
    request:add_header("Content-Type", "application/x-www-form-urlencoded")
    request:set_payload(body)
    local response = request:submit()
    if response:status() >= 300 then
      dovecot.i_warning("mailplane push: HTTP " .. tostring(response:status()))
    end
  end
end
