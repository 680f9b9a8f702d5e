@testable import FluxApp
import AsyncHTTPClient
import Fluent
import SQLKit
import Foundation
import NIOCore
import NIOPosix
import Testing
import VaporTesting

/// The portal's WebSocket with real clients on a real port.
@Suite struct RealtimeTests {
    static let upgrade: HTTPHeaders = [
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    ]

    /// A direct conversation between a new client admin and a new engineer.
    func conversation(_ app: Application) async throws -> (client: SignedIn, engineer: SignedIn, thread: UUID) {
        let client = try await mintSignedIn(app, role: .clientAdmin)
        let engineer = try await mintSignedIn(app, role: .engineer)
        let created = try await app.testing().sendRequest(.POST, "/api/portal/conversations", headers: client.bearer) { req in
            try req.content.encode(MessagingController.CreateBody(kind: "direct", title: nil, participantIds: [engineer.userID], tenantId: nil))
        }
        #expect(created.status == .created)
        return (client, engineer, try created.content.decode(MessagingController.ThreadView.self).id)
    }

    func post(_ app: Application, _ by: SignedIn, _ thread: UUID, _ text: String) async throws -> MessagingController.MessageView {
        let response = try await app.testing().sendRequest(.POST, "/api/portal/conversations/\(thread)/messages", headers: by.bearer) { req in
            try req.content.encode(["body": text])
        }
        #expect(response.status == .created)
        return try response.content.decode(MessagingController.MessageView.self)
    }

    @Test func thePingIntervalIsASettingAndABadOneStopsTheBoot() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("flux-ping-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        #expect(try AppConfig.load(from: ["DATA_DIR": data]).realtimePingSeconds == 20)
        #expect(try AppConfig.load(from: ["DATA_DIR": data, "REALTIME_PING_SECONDS": "5"]).realtimePingSeconds == 5)
        for bad in ["0", "-5", "often", "3601"] {
            do {
                _ = try AppConfig.load(from: ["DATA_DIR": data, "REALTIME_PING_SECONDS": bad])
                Issue.record("REALTIME_PING_SECONDS=\(bad) was accepted")
            } catch {
                #expect(error.problems.map(\.variable) == ["REALTIME_PING_SECONDS"])
            }
        }
    }

    @Test func theUpgradeIsRefusedWithoutASessionFromAForeignPageOrWithoutWebSocket() async throws {
        try await withFlux(environment: ["PUBLIC_URL": "https://portal.example.com"]) { app, _ in
            let tester = try app.testing()
            let client = try await mintSignedIn(app, role: .clientMember)
            var anonymous = Self.upgrade
            anonymous.add(name: .origin, value: "https://portal.example.com")
            let unauthenticated = try await tester.sendRequest(.GET, "/api/portal/realtime", headers: anonymous)
            #expect(unauthenticated.status == .unauthorized && errorCode(unauthenticated) == "unauthenticated")

            // The browser sends its cookie to a socket any site opens: only Flux's own origin may use it.
            for origin in [nil, "https://evil.example", "https://portal.example.com.evil.example"] {
                var headers = Self.upgrade
                headers.add(name: .cookie, value: "access=\(client.accessToken)")
                if let origin { headers.add(name: .origin, value: origin) }
                let response = try await tester.sendRequest(.GET, "/api/portal/realtime", headers: headers)
                #expect(response.status == .forbidden && errorCode(response) == "origin_refused", "\(origin ?? "no origin")")
            }
            let plain = try await tester.sendRequest(.GET, "/api/portal/realtime", headers: client.bearer)
            #expect(plain.status == .upgradeRequired && errorCode(plain) == "upgrade_required")
        }
    }

    @Test func messagesReceiptsTypingAndPresenceReachTheOtherSide() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, engineer, thread) = try await conversation(app)
                let clientSocket = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                let engineerSocket = try await TestSocket.connect(port: port, headers: engineer.bearer, on: app)
                #expect(try await clientSocket.subscribe([thread])["type"] as? String == "subscribed")
                let subscribed = try await engineerSocket.subscribe([thread])
                // The snapshot shows who was already there, per person.
                let room = try #require((subscribed["presence"] as? [[String: Any]])?.first)
                #expect(room["threadId"] as? String == thread.uuidString && room["online"] as? Int == 2)
                let present = room["users"] as? [[String: Any]] ?? []
                #expect(present.contains { $0["userId"] as? String == client.userID.uuidString && $0["status"] as? String == "online" && $0["connections"] as? Int == 1 })
                try await clientSocket.presence(of: engineer.userID, "online")

                let sent = try await post(app, client, thread, "Is the bridge back?")
                let created = try await engineerSocket.event("message.created")
                #expect(created["threadId"] as? String == thread.uuidString)
                #expect(created.data["body"] as? String == "Is the bridge back?" && created.data["seq"] as? Int == sent.seq)
                // The hub timed the fan-out (until both sockets had written the event).
                let metrics = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/metrics").get()
                #expect(metrics.body.map { String(buffer: $0) }?.contains("flux_realtime_fanout_duration_seconds_count") == true)

                let receipt = try await app.testing().sendRequest(.POST, "/api/portal/conversations/\(thread)/read", headers: engineer.bearer) { req in
                    try req.content.encode(["seq": sent.seq])
                }
                #expect(receipt.status == .ok)
                let read = try await clientSocket.event("message.read")
                #expect(read.data["userId"] as? String == engineer.userID.uuidString && read.data["seq"] as? Int == sent.seq)

                let edited = try await app.testing().sendRequest(.PATCH, "/api/portal/messages/\(sent.id)", headers: client.bearer) { req in
                    try req.content.encode(["body": "Is the bridge back up?"])
                }
                #expect(edited.status == .ok)
                #expect(try await engineerSocket.event("message.edited").data["body"] as? String == "Is the bridge back up?")
                #expect(try await app.testing().sendRequest(.DELETE, "/api/portal/messages/\(sent.id)", headers: client.bearer).status == .noContent)
                let deleted = try await engineerSocket.event("message.deleted")
                #expect(deleted.data["body"] as? String == "" && deleted.data["deletedAt"] != nil)

                try engineerSocket.send(["type": "typing", "threadId": thread.uuidString])
                #expect(try await clientSocket.event("typing").data["userId"] as? String == engineer.userID.uuidString)
                try engineerSocket.send(["type": "presence", "status": "away"])
                try await clientSocket.presence(of: engineer.userID, "away")
                await engineerSocket.close()
                try await clientSocket.presence(of: engineer.userID, "offline")

                // Event numbers only grow.
                let ids = clientSocket.frames.compactMap { $0["id"] as? Int }
                #expect(ids == ids.sorted() && Set(ids).count == ids.count)
                await clientSocket.close()
            }
        }
    }

    @Test func joinsAreAnnouncedTogetherNotOneFrameEach() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, _, thread) = try await conversation(app)
                let watcher = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                try await watcher.subscribe([thread])
                var others: [TestSocket] = []
                var engineers: [SignedIn] = []
                for _ in 0..<10 {
                    let engineer = try await mintSignedIn(app, role: .engineer)
                    engineers.append(engineer)
                    others.append(try await TestSocket.connect(port: port, headers: engineer.bearer, on: app))
                }
                // Connected first, then all subscribing at once: the joins fall within one or two intervals.
                for socket in others { try socket.send(["type": "subscribe", "threadIds": [thread.uuidString]]) }
                // Ten joins inside one presence interval reach the watcher as few events, not ten.
                let deadline = ContinuousClock.now + .seconds(10)
                let joined = Set(engineers.map(\.userID.uuidString))
                var announced = Set<String>()
                while !announced.isSuperset(of: joined), ContinuousClock.now < deadline {
                    announced = Set(watcher.frames.filter { $0["type"] as? String == "presence" }
                        .flatMap { ($0.data["changes"] as? [[String: Any]]) ?? [] }.compactMap { $0["userId"] as? String })
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(announced.isSuperset(of: joined))
                #expect(watcher.frames.filter { $0["type"] as? String == "presence" }.count < 10)
                // Presence frames are not events: they carry no number, so a client never resumes from one.
                #expect(watcher.frames.filter { $0["type"] as? String == "presence" }.allSatisfy { $0["id"] == nil })
                for socket in others { await socket.close() }
                await watcher.close()
            }
        }
    }

    @Test func presenceIsPerPersonAndPastARoomSizeCountsWithTheListOnRequest() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, engineer, thread) = try await conversation(app)
                let watcher = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                try await watcher.subscribe([thread])
                // One person on three sockets is one person with three connections, online while any socket is.
                var tabs: [TestSocket] = []
                for _ in 0..<3 {
                    let tab = try await TestSocket.connect(port: port, headers: engineer.bearer, on: app)
                    try await tab.subscribe([thread])
                    tabs.append(tab)
                }
                _ = try await watcher.next { frame in
                    ((frame.data["changes"] as? [[String: Any]]) ?? []).contains {
                        $0["userId"] as? String == engineer.userID.uuidString && $0["connections"] as? Int == 3
                    }
                }
                try tabs[0].send(["type": "presence", "status": "away"])
                await tabs[1].close()
                _ = try await watcher.next { frame in
                    ((frame.data["changes"] as? [[String: Any]]) ?? []).contains {
                        $0["userId"] as? String == engineer.userID.uuidString && $0["connections"] as? Int == 2 && $0["status"] as? String == "online"
                    }
                }
                #expect(!watcher.frames.contains { frame in
                    ((frame.data["changes"] as? [[String: Any]]) ?? []).contains { $0["userId"] as? String == engineer.userID.uuidString && $0["status"] as? String != "online" }
                })

                // Past the list limit, people other replicas hold (told as PostgreSQL would tell them): counts only.
                for notice in try Self.crowdNotices(RealtimePresence.listLimit, in: thread) {
                    await app.realtime.hub.receive(notice: notice)
                }
                let counted = try await watcher.next { $0["type"] as? String == "presence" && $0.data["changes"] == nil }
                #expect(counted.data["online"] as? Int == RealtimePresence.listLimit + 2)
                let late = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                let room = try #require((try await late.subscribe([thread])["presence"] as? [[String: Any]])?.first)
                #expect(room["users"] == nil && room["online"] as? Int == RealtimePresence.listLimit + 2)
                try late.send(["type": "presence.list", "threadId": thread.uuidString])
                let list = try await late.next { $0["type"] as? String == "presence.list" }
                #expect((list["users"] as? [[String: Any]])?.count == RealtimePresence.listLimit + 2)

                // That replica stopped refreshing: its people are dropped and the room is listed again.
                await app.realtime.upkeep(now: Date().addingTimeInterval(RealtimeHub.presenceTimeout + 1))
                let shrunk = try await watcher.next { $0["type"] as? String == "presence" && $0.data["online"] as? Int == 2 }
                let gone = ((shrunk.data["changes"] as? [[String: Any]]) ?? []).filter { $0["status"] as? String == "offline" }
                #expect(gone.count == RealtimePresence.listLimit)
                for tab in tabs { await tab.close() }
                await watcher.close()
                await late.close()
            }
        }
    }

    /// The notices another replica would send for `count` people online in `thread`.
    static func crowdNotices(_ count: Int, in thread: UUID) throws -> [String] {
        let replica = UUID()
        let people = (0..<count).map { _ in RealtimePresence.Notice.Slot(userId: UUID(), name: "Guest", connections: RealtimePresence.Connections(online: 1, away: 0)) }
        return try stride(from: 0, to: count, by: 10).map { start in
            let notice = RealtimePresence.Notice(replica: replica, threadId: thread, users: Array(people[start..<min(start + 10, count)]))
            return RealtimeHub.presencePrefix + String(decoding: try JSONEncoder().encode(notice), as: UTF8.self)
        }
    }

    @Test func aFloodOfCommandsIsRateLimited() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, _, thread) = try await conversation(app)
                let watcher = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                try await watcher.subscribe([thread])
                // Past a burst of 20 commands, the socket is told to slow down.
                for _ in 0..<30 { try watcher.send(["type": "nonsense"]) }
                let refused = try await watcher.next { ($0["error"] as? [String: Any])?["code"] as? String == "rate_limited" }
                #expect(refused["type"] as? String == "error")
                await watcher.close()
            }
        }
    }

    @Test func subscriptionsAreAuthorizedAndBadCommandsAnswered() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, _, thread) = try await conversation(app)
                let colleague = try await mintSignedIn(app, role: .clientMember, tenant: client.tenantID)
                let stranger = try await mintSignedIn(app, role: .clientAdmin)
                for outsider in [colleague, stranger] {
                    let socket = try await TestSocket.connect(port: port, headers: outsider.bearer, on: app)
                    let refused = try await socket.subscribe([thread])
                    #expect((refused["error"] as? [String: Any])?["code"] as? String == "not_found")
                    try socket.send(["type": "typing", "threadId": thread.uuidString])
                    #expect(try await socket.next { $0["type"] as? String == "error" }["error"].map { ($0 as! [String: Any])["code"] as? String } == "not_subscribed")
                    _ = try await post(app, client, thread, "private")
                    try socket.send(["type": "nonsense"])
                    #expect(try await socket.next { $0["type"] as? String == "error" }["error"].map { ($0 as! [String: Any])["code"] as? String } == "unknown_command")
                    // Nothing of the conversation reached the outsider.
                    #expect(!socket.frames.contains { $0["threadId"] as? String == thread.uuidString })
                    await socket.close()
                }
                let socket = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                try await socket.socket.send("not json")
                #expect(try await socket.next { $0["type"] as? String == "error" }["error"].map { ($0 as! [String: Any])["code"] as? String } == "invalid_input")
                // A session revoked after the upgrade ends the socket as the revocation is seen, not at the next upkeep.
                try await app.identity.revocations.revoke([client.sessionID], reason: "test", on: app.db)
                try await socket.socket.onClose.get()
                #expect(socket.socket.closeCode == .unknown(4401))
            }
        }
    }

    @Test func aClientThatReconnectsResumesWithNothingLost() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, engineer, thread) = try await conversation(app)
                var socket = try await TestSocket.connect(port: port, headers: engineer.bearer, on: app)
                try await socket.subscribe([thread])
                _ = try await post(app, client, thread, "one")
                let seen = try #require(try await socket.event("message.created")["id"] as? Int)
                await socket.close()
                for text in ["two", "three", "four"] { _ = try await post(app, client, thread, text) }

                socket = try await TestSocket.connect(port: port, headers: engineer.bearer, on: app)
                try await socket.subscribe([thread], after: Int64(seen))
                var bodies: [String] = []
                for _ in 0..<3 { bodies.append(try await socket.event("message.created").data["body"] as! String) }
                #expect(bodies == ["two", "three", "four"])
                _ = try await post(app, client, thread, "five")
                #expect(try await socket.event("message.created").data["body"] as? String == "five")
                await socket.close()

                // Events past retention are dropped; a client that far behind is told to reload.
                await app.realtime.upkeep(now: Date().addingTimeInterval(RealtimeHub.retention + 60))
                socket = try await TestSocket.connect(port: port, headers: engineer.bearer, on: app)
                try await socket.subscribe([thread], after: Int64(seen))
                #expect(try await socket.next { $0["type"] as? String == "reset" }["type"] as? String == "reset")
                // Numbers are never handed out again, even after retention emptied the log.
                let newest = try #require(try await socket.subscribe([thread])["last"] as? Int)
                _ = try await post(app, client, thread, "six")
                #expect(try #require(try await socket.event("message.created")["id"] as? Int) > newest)
                await socket.close()
            }
        }
    }

    @Test func aClientThatStopsReadingIsCutOffWithoutSlowingOthers() async throws {
        try await withFlux { app, _ in
            try await app.asyncBoot()
            try await serving(app) { port in
                let (client, engineer, thread) = try await conversation(app)
                let reader = try await TestSocket.connect(port: port, headers: client.bearer, on: app)
                try await reader.subscribe([thread])
                let stalled = try await StalledClient.connect(port: port, token: engineer.accessToken, subscribing: thread, on: app)
                // Subscribed once the reader sees it there.
                try await reader.presence(of: engineer.userID, "online")

                struct Big: Encodable, Sendable { let body: String }
                let payload = Big(body: String(repeating: "x", count: 4_000))
                var published = 0
                let before = reader.count
                while await app.realtime.hub.connectionCount == 2, published < 6_000 {
                    try await app.realtime.hub.publish(.messageEdited, thread: thread, data: payload, on: app.db)
                    published += 1
                    // The reader is a client on this loaded machine too, sharing the server's event loops: it is
                    // kept within 64 frames (256 KB) of the publisher, so it never falls the 1 MiB behind that
                    // would cut it off as well, while the stalled client, which reads nothing, does. A server
                    // that made the reader wait for the stalled client fails the checks below.
                    let deadline = ContinuousClock.now + .seconds(5)
                    while reader.count - before < published - 64, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(1))
                    }
                }
                #expect(await app.realtime.hub.connectionCount == 1, "the stalled client was never cut off (\(published) events)")
                // The reader got every event, in order, while the other stalled.
                func received() -> [Int] { reader.frames.filter { $0["type"] as? String == "message.edited" }.compactMap { $0["id"] as? Int } }
                let deadline = ContinuousClock.now + .seconds(30)
                while received().count < published, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(!reader.socket.isClosed, "the reader was cut off too")
                #expect(received().count == published)
                #expect(received() == received().sorted())
                try await stalled.close()
                await reader.close()
            }
        }
    }

    @Test(.enabled(if: TestDatabase.serverURL != nil, "replicas share PostgreSQL"))
    func twoInstancesOnOnePostgreSQLDeliverToEachOthersClients() async throws {
        try await withFlux { app, config in
            try await app.asyncBoot()
            try await withAnotherInstance(config) { other in
                for hub in [app.realtime.hub, other.realtime.hub] {
                    for _ in 0..<500 where !(await hub.isListening) { try await Task.sleep(for: .milliseconds(10)) }
                    #expect(await hub.isListening)
                }
                try await serving(app) { portA in
                    try await serving(other) { portB in
                        let (client, engineer, thread) = try await conversation(app)
                        let onA = try await TestSocket.connect(port: portA, headers: client.bearer, on: app)
                        let onB = try await TestSocket.connect(port: portB, headers: engineer.bearer, on: other)
                        try await onA.subscribe([thread])
                        try await onB.subscribe([thread])
                        _ = try await post(app, client, thread, "sent through A")
                        #expect(try await onB.event("message.created").data["body"] as? String == "sent through A")
                        let response = try await other.testing().sendRequest(.POST, "/api/portal/conversations/\(thread)/messages",
                                                                               headers: engineer.bearer) { req in
                            try req.content.encode(["body": "sent through B"])
                        }
                        #expect(response.status == .created)
                        #expect(try await onA.next { $0.data["body"] as? String == "sent through B" }["type"] as? String == "message.created")
                        // Presence crosses replicas too: B's client sees A's client go away.
                        try onA.send(["type": "presence", "status": "away"])
                        try await onB.presence(of: client.userID, "away")
                        // A session revoked through A closes its socket on B as B hears of the revocation.
                        try await app.identity.revocations.revoke([engineer.sessionID], reason: "test", on: app.db)
                        try await onB.socket.onClose.get()
                        #expect(onB.socket.closeCode == .unknown(4401))
                        await onA.close()
                    }
                }
            }
        }
    }
}

/// A WebSocket client that upgrades, subscribes, and then never reads: the slow consumer.
struct StalledClient {
    let channel: any Channel

    static func connect(port: Int, token: String, subscribing thread: UUID, on app: Application) async throws -> StalledClient {
        let channel = try await ClientBootstrap(group: app.eventLoopGroup)
            .channelOption(ChannelOptions.autoRead, value: false)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: port).get()
        let request = channel.allocator.buffer(string: """
            GET /api/portal/realtime HTTP/1.1\r
            Host: 127.0.0.1:\(port)\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
            Sec-WebSocket-Version: 13\r
            Authorization: Bearer \(token)\r
            \r

            """)
        try await channel.writeAndFlush(request)
        // The socket exists once the hub counts it; only then does a frame go (sent with the request, the
        // server would read it as HTTP).
        let before = await app.realtime.hub.connectionCount
        for _ in 0..<500 where await app.realtime.hub.connectionCount == before { try await Task.sleep(for: .milliseconds(10)) }
        // One masked text frame (clients must mask), short enough for a one-byte length.
        let command = Array(#"{"type":"subscribe","threadIds":["\#(thread.uuidString)"]}"#.utf8)
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame = channel.allocator.buffer(bytes: [0x81, 0x80 | UInt8(command.count)] + mask)
        frame.writeBytes(command.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        try await channel.writeAndFlush(frame)
        return StalledClient(channel: channel)
    }

    func close() async throws {
        try await channel.close()
    }
}
