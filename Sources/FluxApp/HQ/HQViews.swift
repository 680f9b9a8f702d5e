import FluxSecurity
import Foundation
import LeafKit
import NIOCore

/// The Leaf templates of HQ and the portal, compiled into the binary: a deployment is one file, and a template cannot be
/// missing or edited on the server. `#(…)` escapes everything it prints, and so does ``TableRowsTag``, the one tag
/// whose output Leaf leaves alone; Leaf's `#unsafeHTML` is not registered (``tags``).
enum HQViews {
    /// Leaf's tags without `#unsafeHTML`, plus `#tableRows`.
    static var tags: [String: any LeafTag] {
        var tags = LeafKit.defaultTags
        tags["unsafeHTML"] = nil
        tags["tableRows"] = TableRowsTag()
        return tags
    }

    static let templates: [String: String] = [
        "base": """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>#(title) · #(brand)</title>
            <link rel="icon" href="data:,">
            <link rel="stylesheet" href="/assets/flux.css">
            </head>
            <body>
            #if(nav):<nav class="top" aria-label="#(brand)"><strong>#(brand)</strong>#for(item in nav):<a href="#(item.href)">#(item.title)</a>#endfor<span class="who">#(who)</span><button type="button" id="sign-out" data-to="#(signIn)">Sign out</button></nav>#endif
            <main>
            <h1>#(title)</h1>
            #import("body")
            </main>
            <script src="/assets/flux.js" nonce="#(nonce)"></script>
            </body>
            </html>
            """,
        "hq/chart": """
            <figure class="chart">
            <svg role="img" aria-labelledby="#(chart.id)-title" viewBox="0 0 480 #(chart.height)" width="480" height="#(chart.height)">
            <title id="#(chart.id)-title">#(chart.title)</title>
            #for(bar in chart.bars):<text x="0" y="#(bar.textY)" class="label">#(bar.label)</text><rect x="150" y="#(bar.y)" width="#(bar.width)" height="16" class="bar"></rect><text x="#(bar.valueX)" y="#(bar.textY)" class="value">#(bar.value)</text>#endfor
            </svg>
            <figcaption>#(chart.title)</figcaption>
            <table class="fallback"><caption>#(chart.title)</caption><thead><tr><th scope="col">#(chart.labelHeading)</th><th scope="col">Count</th></tr></thead>
            <tbody>#for(bar in chart.bars):<tr><td>#(bar.label)</td><td>#(bar.value)</td></tr>#endfor</tbody></table>
            </figure>
            """,
        "signin": """
            #extend("base"):#export("body"):
            <form id="signin-form" class="card">
            <label>Email <input id="email" type="email" autocomplete="username" maxlength="254" required></label>
            <label>Password <input id="password" type="password" autocomplete="current-password" maxlength="128" required></label>
            <button type="submit">Sign in</button>
            </form>
            <form id="code-form" class="card" hidden>
            <p id="enrol" hidden>Add this key to your authenticator app, then enter the code it shows: <code id="secret"></code></p>
            <label>Code from your authenticator app <input id="code" inputmode="numeric" autocomplete="one-time-code" maxlength="64" required></label>
            <button type="submit">Verify</button>
            </form>
            <div id="recovery" class="card" hidden><p>Keep these recovery codes somewhere safe; each signs you in once without the app.</p><ul id="recovery-codes"></ul><a id="continue" href="#(next)">Continue</a></div>
            <p id="status" role="status" data-next="#(next)"></p>
            #endexport#endextend
            """,
        "hq/dashboard": """
            #extend("base"):#export("body"):
            <div class="tiles">#for(tile in tiles):<a class="tile" href="#(tile.href)"><span class="tile-title">#(tile.title)</span><span class="tile-value"#if(tile.live): data-live="#(tile.live)"#endif>#(tile.value)</span><span class="tile-note">#(tile.note)</span></a>#endfor</div>
            #endexport#endextend
            """,
        "hq/conversations": """
            #extend("base"):#export("body"):
            <form class="filters" method="get">
            <label>From <input type="date" name="from" value="#(filter.from)"></label>
            <label>To <input type="date" name="to" value="#(filter.to)"></label>
            <label>Outcome <select name="outcome"><option value="">any</option>#for(o in outcomes):<option#if(o == filter.outcome): selected#endif>#(o)</option>#endfor</select></label>
            <label>Industry <select name="industry"><option value="">any</option>#for(i in industries):<option#if(i == filter.industry): selected#endif>#(i)</option>#endfor</select></label>
            <label>Locale <select name="locale"><option value="">any</option>#for(l in locales):<option#if(l == filter.locale): selected#endif>#(l)</option>#endfor</select></label>
            <button type="submit">Filter</button>
            <a href="/hq-command/dashboard/conversations/export.csv#(exportQuery)">Export CSV</a>
            </form>
            <div class="tiles kpis">
            <div class="tile"><span class="tile-title">Conversations</span><span class="tile-value" id="kpi-total">#(kpis.total)</span></div>
            <div class="tile"><span class="tile-title">Conversion rate</span><span class="tile-value" id="kpi-conversion">#(kpis.conversion)</span></div>
            <div class="tile"><span class="tile-title">Messages per chat</span><span class="tile-value" id="kpi-messages">#(kpis.messages)</span></div>
            <div class="tile"><span class="tile-title">Tool calls per chat</span><span class="tile-value" id="kpi-tools">#(kpis.tools)</span></div>
            </div>
            <p class="live-note">Live: <span data-live="conversations">#(kpis.allConversations)</span> conversations in all, <span data-live="consultations">#(kpis.allConsultations)</span> consultations.</p>
            <h2>Funnel</h2>
            <table id="funnel"><thead><tr><th scope="col">Stage</th><th scope="col">Conversations</th><th scope="col">Share of total</th></tr></thead>
            <tbody>#for(row in funnel):<tr><td>#(row.label)</td><td>#(row.count)</td><td>#(row.percent)</td></tr>#endfor</tbody></table>
            #for(chart in charts):#extend("hq/chart")#endfor
            <h2>Top industries</h2>
            <ol id="industries">#for(row in topIndustries):<li>#(row.label): #(row.count)</li>#endfor</ol>
            <h2>Latest conversations</h2>
            <table id="recent"><thead><tr><th scope="col">Started</th><th scope="col">Industry</th><th scope="col">Stage</th><th scope="col">Outcome</th><th scope="col">Messages</th><th scope="col">Locale</th><th scope="col"></th></tr></thead>
            <tbody>#for(c in recent):<tr><td>#(c.started)</td><td>#(c.industry)</td><td>#(c.stage)</td><td>#(c.outcome)</td><td>#(c.messages)</td><td>#(c.locale)</td><td><a href="/hq-command/dashboard/conversations/#(c.id)">Open</a></td></tr>#endfor</tbody></table>
            #endexport#endextend
            """,
        "hq/transcript": """
            #extend("base"):#export("body"):
            #if(ticket):<p class="converted" id="ticket">Converted: ticket <a href="/hq-command/signals/#(ticket.id)">#(ticket.name), #(ticket.company)</a> (#(ticket.status))</p>#endif
            <dl class="facts">
            <dt>Session</dt><dd>#(conversation.sessionId)</dd><dt>Started</dt><dd>#(conversation.started)</dd>
            <dt>Locale</dt><dd>#(conversation.locale)</dd><dt>Page</dt><dd>#(conversation.pageUrl)</dd>
            <dt>Industry</dt><dd>#(conversation.industry)</dd><dt>Stage</dt><dd>#(conversation.stage)</dd>
            <dt>Outcome</dt><dd>#(conversation.outcome)</dd><dt>Estimated savings</dt><dd>#(conversation.savings)</dd>
            <dt>Total cost</dt><dd id="total-cost">#(totalCost)</dd>
            </dl>
            <table id="events"><thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Tool</th><th scope="col">Content</th><th scope="col">Latency</th><th scope="col">Tokens in / out / cached</th><th scope="col">Cost</th></tr></thead>
            <tbody>#tableRows(events)</tbody></table>
            #endexport#endextend
            """,
        "hq/signals": """
            #extend("base"):#export("body"):
            <form class="filters" method="get"><label>Status <select name="status"><option value="">any</option>#for(s in statuses):<option#if(s == status): selected#endif>#(s)</option>#endfor</select></label><button type="submit">Filter</button>
            <a href="/hq-command/signals/export.csv">Export CSV</a></form>
            <table id="signals"><thead><tr><th scope="col">Received</th><th scope="col">Name</th><th scope="col">Company</th><th scope="col">Email</th><th scope="col">Status</th><th scope="col">Chat</th></tr></thead>
            <tbody>#for(t in tickets):<tr><td>#(t.created)</td><td><a href="/hq-command/signals/#(t.id)">#(t.name)</a></td><td>#(t.company)</td><td>#(t.email)</td><td>#(t.status)</td><td>#if(t.conversationId):<a href="/hq-command/dashboard/conversations/#(t.conversationId)">chat</a>#endif</td></tr>#endfor</tbody></table>
            #endexport#endextend
            """,
        "hq/signal": """
            #extend("base"):#export("body"):
            <dl class="facts" id="ticket-facts">
            <dt>Received</dt><dd>#(ticket.created)</dd><dt>Name</dt><dd>#(ticket.name)</dd><dt>Company</dt><dd>#(ticket.company)</dd>
            <dt>Email</dt><dd>#(ticket.email)</dd><dt>Phone</dt><dd>#(ticket.phone)</dd><dt>Preferred contact</dt><dd>#(ticket.preferredContact)</dd>
            <dt>Timeframe</dt><dd>#(ticket.timeframe)</dd><dt>Message</dt><dd class="payload">#(ticket.message)</dd>
            <dt>Page</dt><dd>#(ticket.pageUrl)</dd><dt>Insights</dt><dd>#(ticket.insights)</dd><dt>Suggested topics</dt><dd>#(ticket.topics)</dd>
            </dl>
            #if(ticket.conversationId):<p><a href="/hq-command/dashboard/conversations/#(ticket.conversationId)">The FluxAI conversation behind this ticket</a></p>#endif
            <form id="status-form" class="card" data-ticket="#(ticket.id)"><label>Status <select id="status-select">#for(s in statuses):<option#if(s == ticket.status): selected#endif>#(s)</option>#endfor</select></label><button type="submit">Change status</button></form>
            <p id="status" role="status"></p>
            <h2>History</h2>
            <ul id="history">#for(h in history):<li>#(h.time): #(h.action) #(h.detail)</li>#endfor</ul>
            #endexport#endextend
            """,
        "hq/users": """
            #extend("base"):#export("body"):
            <table id="users"><thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Organization</th><th scope="col">Created</th></tr></thead>
            <tbody>#for(u in users):<tr><td>#(u.email)</td><td>#(u.name)</td><td>#(u.role)</td><td>#(u.tenant)</td><td>#(u.created)</td></tr>#endfor</tbody></table>
            <h2>Active sessions</h2>
            <table id="sessions"><thead><tr><th scope="col">Account</th><th scope="col">Device</th><th scope="col">Role</th><th scope="col">Last used</th><th scope="col"></th></tr></thead>
            <tbody>#for(s in sessions):<tr><td>#(s.email)</td><td>#(s.device)</td><td>#(s.role)</td><td>#(s.lastUsed)</td><td><button type="button" class="revoke" data-session="#(s.id)">Revoke</button></td></tr>#endfor</tbody></table>
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "hq/tenants": """
            #extend("base"):#export("body"):
            <table id="tenants"><thead><tr><th scope="col">Organization</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Members</th><th scope="col">Created</th></tr></thead>
            <tbody>#for(t in tenants):<tr><td>#(t.name)</td><td>#(t.kind)</td><td>#(t.status)</td><td>#(t.members)</td><td>#(t.created)</td></tr>#endfor</tbody></table>
            <h2>Setup requests to handle</h2>
            <table id="setup-requests"><thead><tr><th scope="col">Organization</th><th scope="col">Template</th><th scope="col">Contact</th><th scope="col">Status</th><th scope="col">Received</th><th scope="col"></th></tr></thead>
            <tbody>#for(r in requests):<tr><td>#(r.tenant)</td><td>#(r.templateType)</td><td>#(r.contactNumber)</td><td>#(r.status)</td><td>#(r.created)</td><td>#for(n in r.next):<button type="button" class="setup-status" data-request="#(r.id)" data-status="#(n)">#(n)</button> #endfor</td></tr>#endfor</tbody></table>
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "hq/audit": """
            #extend("base"):#export("body"):
            <form class="filters" method="get"><label>Action <input name="action" value="#(action)" maxlength="100"></label><button type="submit">Filter</button></form>
            <table id="audit"><thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Target</th><th scope="col">User agent</th></tr></thead>
            <tbody>#for(e in events):<tr><td>#(e.time)</td><td>#(e.action)</td><td>#(e.actor)</td><td>#(e.target)</td><td>#(e.userAgent)</td></tr>#endfor</tbody></table>
            #endexport#endextend
            """,
        "hq/health": """
            #extend("base"):#export("body"):
            <dl class="facts" id="health">
            <dt>Database</dt><dd>#(health.database)</dd><dt>Database latency</dt><dd>#(health.latency)</dd>
            <dt>Outbox pending</dt><dd>#(health.outboxPending)</dd><dt>Oldest pending mail</dt><dd>#(health.outboxOldest)</dd><dt>Outbox failed</dt><dd>#(health.outboxFailed)</dd>
            <dt>Rate-limit store</dt><dd>#(health.rateLimitStore)</dd><dt>Version</dt><dd>#(health.version)</dd>
            </dl>
            #endexport#endextend
            """,
        "app/onboarding": """
            #extend("base"):#export("body"):
            #if(request):<p id="request-status">Your setup request (#(request.templateType), #(request.contactNumber)) is <strong>#(request.status)</strong>.</p>#endif
            #if(canRequest):<form id="setup-form" class="card">
            <label>Kind of business <select id="templateType">#for(t in templateTypes):<option>#(t)</option>#endfor</select></label>
            <label>Contact number <input id="contactNumber" type="tel" maxlength="32" required></label>
            <button type="submit">Request setup</button>
            </form>#else:#if(isAdmin):#else:<p>Your organization's administrator requests the setup.</p>#endif#endif
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "app/status": """
            #extend("base"):#export("body"):
            <dl class="facts" id="tenant-status">
            <dt>Organization</dt><dd>#(tenant)</dd><dt>Status</dt><dd>#(tenantStatus)</dd><dt>Phone</dt><dd>#(phone)</dd>
            <dt>Setup request</dt><dd>#(setupStatus)</dd><dt>Template</dt><dd>#(template)</dd><dt>Business name</dt><dd>#(businessName)</dd>
            <dt>Language</dt><dd>#(language)</dd><dt>Messages, last 24 hours</dt><dd id="messages-24h">#(messages)</dd><dt>Last message</dt><dd>#(lastMessage)</dd>
            </dl>
            <h2>Workers</h2>
            <table id="workers"><thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Last heartbeat</th><th scope="col">Last error</th></tr></thead>
            <tbody>#for(w in workers):<tr#if(w.stale): class="error"#endif><td>#(w.name)</td><td>#(w.status)#if(w.stale): (silent)#endif</td><td>#(w.heartbeat)</td><td class="payload">#(w.lastError)</td></tr>#endfor</tbody></table>
            #endexport#endextend
            """,
        "app/logs": """
            #extend("base"):#export("body"):
            <form class="filters" method="get"><label>Direction <select name="direction"><option value="">any</option><option#if(direction == "inbound"): selected#endif>inbound</option><option#if(direction == "outbound"): selected#endif>outbound</option></select></label>
            <label>Text <input name="q" value="#(q)" maxlength="100"></label><button type="submit">Filter</button></form>
            <table id="logs"><thead><tr><th scope="col">Time</th><th scope="col">Direction</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Text</th></tr></thead>
            <tbody>#for(e in entries):<tr><td>#(e.time)</td><td>#(e.direction)</td><td>#(e.from)</td><td>#(e.to)</td><td class="payload">#(e.text)</td></tr>#endfor</tbody></table>
            #if(older):<a id="older" href="#(older)">Older messages</a>#endif
            #endexport#endextend
            """,
        "app/team": """
            #extend("base"):#export("body"):
            <table id="members" data-tenant="#(tenantId)"><thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col"></th></tr></thead>
            <tbody>#for(m in members):<tr><td>#(m.email)</td><td>#(m.name)</td><td>#(m.role)</td><td>#(m.since)</td><td>#if(m.removable):<button type="button" class="remove-member" data-user="#(m.userId)">Remove</button>#endif</td></tr>#endfor</tbody></table>
            #if(isAdmin):<h2>Pending invitations</h2>
            <table id="invitations"><thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Expires</th><th scope="col"></th></tr></thead>
            <tbody>#for(i in invitations):<tr><td>#(i.email)</td><td>#(i.role)</td><td>#(i.expires)</td><td><button type="button" class="revoke-invitation" data-invitation="#(i.id)">Revoke</button></td></tr>#endfor</tbody></table>
            <form id="invite-form" class="card"><label>Email <input id="invite-email" type="email" maxlength="254" required></label>
            <label>Role <select id="invite-role"><option value="client_member">member</option><option value="client_admin">admin</option></select></label>
            <button type="submit">Invite</button></form>#endif
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "messages": """
            #extend("base"):#export("body"):
            #if(isStaff):<nav id="tenant-choice" aria-label="Organizations">#for(t in tenants):<a href="#(t.href)"#if(t.current): aria-current="page"#endif>#(t.name)</a> #endfor</nav>#endif
            <div class="chat" id="chat" data-user="#(userId)" data-thread="#(thread)" data-state="connecting">
            <aside><ul id="threads">#for(t in threads):<li><a href="#(t.href)"#if(t.current): aria-current="page"#endif>#(t.title)</a>#if(t.unread > 0): <span class="unread">#(t.unread)</span>#endif</li>#endfor</ul>
            #if(channelTenant != ""):<form id="channel-form" data-tenant="#(channelTenant)"><label>New channel <input id="channel-title" maxlength="100" required></label><button type="submit">Create</button></form>#endif</aside>
            <section>#if(thread != ""):<h2 id="thread-title">#(threadTitle)</h2>
            <p id="presence" class="muted"></p>
            <ol id="messages" aria-live="polite"></ol>
            <p id="typing" class="muted"></p>
            <form id="message-form"><label>Message <textarea id="message-body" maxlength="4000" rows="3" required></textarea></label><button type="submit">Send</button></form>
            #else:<p>No conversation yet: start a channel.</p>#endif
            <p id="connection" class="muted" role="status"></p></section>
            </div>
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "app/files": """
            #extend("base"):#export("body"):
            <p id="usage" class="muted">#(usage)</p>
            <div id="files" data-tenant="#(tenantId)" data-folder="#(folderId)">
            #if(folderName != ""):<p><a href="/app/files">All files</a> / <strong>#(folderName)</strong></p>#endif
            <ul id="folders">#for(f in folders):<li><a href="/app/files?folderId=#(f.id)">#(f.name)/</a></li>#endfor</ul>
            <table id="file-list"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Shared with</th><th scope="col">Updated</th><th scope="col"></th></tr></thead>
            <tbody>#for(f in files):<tr><td><a href="/api/tenants/#(tenantId)/files/#(f.id)/content">#(f.name)</a></td><td>#(f.type)</td><td>#(f.size)</td><td>#(f.visibility)</td><td>#(f.updated)</td>
            <td>#if(f.changeable):<button type="button" class="share-file" data-file="#(f.id)">Share link</button> <button type="button" class="delete-file" data-file="#(f.id)">Delete</button>#endif</td></tr>#endfor</tbody></table>
            <form id="upload-form" class="card"><label>File <input id="upload-file" type="file" required></label>
            <label>Shared with <select id="upload-visibility"><option value="private">only me</option><option value="tenant">my organization</option><option value="staff">the engineers</option></select></label>
            <button type="submit">Upload</button></form>
            #if(folderId == ""):<form id="folder-form" class="card"><label>New folder <input id="folder-name" maxlength="100" required></label><button type="submit">Create</button></form>#endif
            <p>Share link (24 hours): <input id="share-url" readonly size="60"></p>
            </div>
            <p id="status" role="status"></p>
            #endexport#endextend
            """,
        "app/accept": """
            #extend("base"):#export("body"):
            <form id="accept-form" class="card">
            <p>New to Flux? Choose your name and a password. Already have an account? Just accept.</p>
            <label>Name <input id="accept-name" maxlength="100" autocomplete="name"></label>
            <label>Password (10 to 128 characters) <input id="accept-password" type="password" minlength="10" maxlength="128" autocomplete="new-password"></label>
            <button type="submit">Accept the invitation</button>
            </form>
            <p id="status" role="status"></p>
            <p id="accepted" hidden>You are in. <a href="/app/sign-in">Sign in</a></p>
            #endexport#endextend
            """,
        "denied": """
            #extend("base"):#export("body"):
            <p>Your role does not open this page.</p>
            #endexport#endextend
            """,
    ]

    /// Serves ``templates`` to Leaf.
    struct Source: LeafSource {
        struct Missing: Error {}

        func file(template: String, escape: Bool, on eventLoop: any EventLoop) throws -> EventLoopFuture<ByteBuffer> {
            guard let text = HQViews.templates[template] else { return eventLoop.makeFailedFuture(Missing()) }
            return eventLoop.makeSucceededFuture(ByteBuffer(string: text))
        }
    }
}

/// `#tableRows(rows)`: the rows of a long table. Leaf's loop costs about 2 µs per value printed (copying the context and
/// starting a serializer per row, splitting key paths, escaping scalar by scalar): a 200-event transcript spent 40 % of
/// its time there. Each row is a dictionary of `cells`, an array whose items are text or `["text": …, "class": …]`, and
/// an optional `class`. Leaf does not escape this tag's output, so the tag escapes every value itself, text and class
/// alike, with `Sanitize.htmlText` inside double quotes.
struct TableRowsTag: UnsafeUnescapedLeafTag {
    struct Malformed: Error {}

    func render(_ ctx: LeafContext) throws -> LeafData {
        guard ctx.parameters.count == 1, let rows = ctx.parameters[0].array else { throw Malformed() }
        return .string(try Self.html(rows))
    }

    static func html(_ rows: [LeafData]) throws -> String {
        var html = ""
        for row in rows {
            guard let fields = row.dictionary, let cells = fields["cells"]?.array else { throw Malformed() }
            html += fields["class"]?.string.map { "<tr class=\"\(Sanitize.htmlText($0))\">" } ?? "<tr>"
            for cell in cells {
                // Asked by type first: LeafData's accessors try every conversion (building a set each time) when the
                // value is of another type, which cost more than the whole table.
                switch cell.celf {
                case .dictionary:
                    let attributes = cell.dictionary ?? [:]
                    html += attributes["class"]?.string.map { "<td class=\"\(Sanitize.htmlText($0))\">" } ?? "<td>"
                    html += Sanitize.htmlText(attributes["text"]?.string ?? "")
                case .string:
                    html += "<td>" + Sanitize.htmlText(cell.string ?? "")
                default:
                    throw Malformed()
                }
                html += "</td>"
            }
            html += "</tr>"
        }
        return html
    }
}

/// A horizontal bar chart drawn as SVG on the server (no script), with the same figures as a table.
struct BarChart: Encodable, Sendable {
    struct Bar: Encodable, Sendable {
        let label: String
        let value: Int
        let y: Int
        let textY: Int
        let width: Int
        let valueX: Int
    }

    let id: String
    let title: String
    let labelHeading: String
    let bars: [Bar]
    let height: Int

    init(id: String, title: String, labelHeading: String, rows: [(String, Int)]) {
        self.id = id
        self.title = title
        self.labelHeading = labelHeading
        let top = max(rows.map(\.1).max() ?? 0, 1)
        bars = rows.enumerated().map { index, row in
            let width = max(Int((Double(row.1) / Double(top) * 280).rounded()), row.1 > 0 ? 1 : 0)
            return Bar(label: row.0, value: row.1, y: index * 22 + 2, textY: index * 22 + 15, width: width, valueX: 150 + width + 6)
        }
        height = max(rows.count * 22 + 4, 24)
    }
}
