@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

/// The control plane: desired state and its long poll, commands acknowledged once, observed state ordered by
/// sequence, configuration rules, staleness announced once per incident, log retention.
@Suite struct WorkerControlTests {
    struct Desired: Decodable {
        struct Command: Decodable {
            let id: UUID
            let kind: String
        }

        struct Config: Decodable {
            let version: Int64
            let etag: String
            let openingHours: [String: [[String: String]]]
        }

        let version: Int64
        let run: Bool
        let restartGeneration: Int64
        let commands: [Command]
        let config: Config
        let staleAfterSeconds: Int
    }

    struct Setup {
        let tenant: UUID
        let client: SignedIn
        let engineer: SignedIn
        let key: String
    }

    func setup(_ app: Application, _ tester: any TestingApplicationTester, scopes: [String] = ["worker", "heartbeat", "logs:write"]) async throws -> Setup {
        let engineer = try await mintSignedIn(app, role: .engineer)
        let client = try await mintSignedIn(app, role: .clientAdmin)
        let response = try await tester.sendRequest(.POST, "/api/hq/tenants/\(client.tenantID)/api-keys", headers: engineer.bearer) { req in
            try req.content.encode(APIKeyController.CreateBody(name: "bot", scopes: scopes))
        }
        struct Key: Decodable { let key: String }
        return Setup(tenant: client.tenantID, client: client, engineer: engineer, key: try response.content.decode(Key.self).key)
    }

    func desired(_ tester: any TestingApplicationTester, key: String, query: String = "") async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.GET, "/api/portal/worker/desired" + query, headers: ["Authorization": "Bearer \(key)"])
    }

    func report(_ tester: any TestingApplicationTester, key: String, _ body: [String: any Sendable]) async throws -> TestingHTTPResponse {
        var headers = HTTPHeaders([("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")])
        headers.replaceOrAdd(name: .accept, value: "application/json")
        let data = try JSONSerialization.data(withJSONObject: body)
        return try await tester.sendRequest(.POST, "/api/portal/worker/heartbeat", headers: headers, body: ByteBuffer(data: data))
    }

    func command(_ tester: any TestingApplicationTester, _ setup: Setup, _ kind: String, reason: String? = "because") async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/hq/tenants/\(setup.tenant)/worker/commands", headers: setup.engineer.bearer) { req in
            try req.content.encode(WorkerControlController.CommandBody(kind: kind, reason: reason))
        }
    }

    @Test func commandsChangeTheDesiredStateAndAreListedUntilAcknowledged() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let setup = try await setup(app, tester)
            let first = try desired(try await desired(tester, key: setup.key))
            #expect(first.run == false && first.commands.isEmpty && first.staleAfterSeconds == 120)

            #expect(try await command(tester, setup, "start").status == .accepted)
            let restart = try await command(tester, setup, "restart")
            #expect(restart.status == .accepted)
            let started = try desired(try await desired(tester, key: setup.key, query: "?after=\(first.version)"))
            #expect(started.run && started.restartGeneration == 1 && started.version > first.version)
            #expect(started.commands.map(\.kind) == ["start", "restart"])

            // Acknowledged (even in a report too old to change the state): never listed again, counted once.
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "connected", "sequence": 10]).status == .noContent)
            let ids = started.commands.map(\.id.uuidString)
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "starting", "sequence": 5, "acknowledged": ids]).status == .noContent)
            let after = try desired(try await desired(tester, key: setup.key))
            #expect(after.commands.isEmpty && after.version > started.version)
            #expect(try await WorkerProcess.query(on: app.db).first()?.status == "connected")
            #expect(try await WorkerCommand.query(on: app.db).filter(\.$acknowledgedAt != nil).count() == 2)

            // Staff say why; the audit log says who and why.
            let silent = try await command(tester, setup, "stop", reason: "  ")
            #expect(silent.status == .badRequest && errorFields(silent).contains("reason"))
            #expect(errorFields(try await command(tester, setup, "reboot")).contains("kind"))
            let audited = try await AuditEvent.query(on: app.db).filter(\.$action == "worker.restart").first()
            #expect(audited?.actorID == setup.engineer.userID && audited?.metadata?.contains("because") == true)
            // A client cannot command through HQ's API; its own restart needs the admin role.
            let viaHQ = try await tester.sendRequest(.POST, "/api/hq/tenants/\(setup.tenant)/worker/commands", headers: setup.client.bearer) { req in
                try req.content.encode(WorkerControlController.CommandBody(kind: "stop", reason: "x"))
            }
            #expect(viaHQ.status == .forbidden)
        }
    }

    @Test func aLongPollWaitsForAChangeAndWakesAtOnce() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let setup = try await setup(app, tester)
            let control = app.workerControl
            // On PostgreSQL nothing is cached until the listener listens; here that is said directly (what the
            // listener does across replicas is test_workers.py's PostgreSQL test), and said lost, nothing is kept.
            if await !control.signals.caching {
                await control.signals.remember(try await control.desired(for: setup.tenant, on: app.db), for: setup.tenant, at: 0)
                #expect(await control.signals.cached(setup.tenant, at: 0) == nil)
                await control.signals.listening(true)
            }
            let version = try await control.desired(for: setup.tenant, on: app.db).version
            let clock = ContinuousClock()
            let quiet = try await clock.measure {
                let same = try await control.desired(for: setup.tenant, after: version, wait: .milliseconds(300), on: app.db)
                #expect(same.version == version)
            }
            #expect(quiet >= .milliseconds(290))
            // A worker ahead of the state (a database restored from a backup) is answered at once.
            let asked = clock.now
            let ahead = try await control.desired(for: setup.tenant, after: version + 5, wait: .seconds(5), on: app.db)
            #expect(ahead.version == version && clock.now - asked < .seconds(1))
            async let woken = control.desired(for: setup.tenant, after: version, wait: .seconds(20), on: app.db)
            try await Task.sleep(for: .milliseconds(100))
            let started = clock.now
            _ = try await control.issue(.start, tenant: setup.tenant, reason: "", by: nil, on: app.db)
            let state = try await woken
            #expect(state.run && state.version > version && clock.now - started < .seconds(2))
            #expect(await control.signals.waiting == 0)
            // Read once per change: the cached state is what the next poll gets, until the next announcement.
            #expect(await control.signals.cached(setup.tenant, at: await control.signals.generation(of: setup.tenant))?.version == state.version)
            try await control.configurationWritten(for: setup.tenant, on: app.db)
            #expect(await control.signals.cached(setup.tenant, at: await control.signals.generation(of: setup.tenant)) == nil)
        }
    }

    @Test func reportsAreOrderedBySequenceAndChecked() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let setup = try await setup(app, tester)
            let expires = Date().addingTimeInterval(60).formatted(.iso8601)
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "pairing", "sequence": 100,
                                                              "qr": ["payload": "flux-pair:abc", "expiresAt": expires]]).status == .noContent)
            var worker = try #require(try await WorkerProcess.query(on: app.db).first())
            #expect(worker.currentQR(at: Date())?.payload == "flux-pair:abc")
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "connected", "sequence": 101, "pairedNumber": "+39 333"]).status == .noContent)
            // Late and repeated reports change nothing.
            for sequence in [100, 101, 50] {
                #expect(try await report(tester, key: setup.key, ["name": "main", "status": "error", "sequence": sequence, "lastError": "old"]).status == .noContent)
            }
            worker = try #require(try await WorkerProcess.query(on: app.db).first())
            #expect(worker.status == "connected" && worker.pairedNumber == "+39 333" && worker.lastError == nil && worker.currentQR(at: Date()) == nil)

            let bad: [[String: any Sendable]] = [
                ["name": "main", "status": "dancing"], ["name": "a b", "status": "connected"],
                ["name": "main", "status": "pairing", "sequence": 200],
                ["name": "main", "status": "pairing", "qr": ["payload": "x", "expiresAt": Date().addingTimeInterval(3600).formatted(.iso8601)]],
                ["name": "main", "status": "connected", "sequence": -1], ["name": "main", "status": "connected", "pairedNumber": String(repeating: "9", count: 40)],
            ]
            for body in bad {
                #expect(try await report(tester, key: setup.key, body).status == .badRequest, "\(body)")
            }
            #expect(try await WorkerProcess.query(on: app.db).first()?.status == "connected")

            // Scopes: a heartbeat-only key cannot read the desired state, a worker-only key cannot report.
            let narrow = try await self.setup(app, tester, scopes: ["heartbeat"])
            #expect(try await desired(tester, key: narrow.key).status == .forbidden)
            let reader = try await self.setup(app, tester, scopes: ["worker"])
            #expect(try await report(tester, key: reader.key, ["name": "main", "status": "connected"]).status == .forbidden)
            #expect(try await desired(tester, key: "fxk_" + String(repeating: "0", count: 96)).status == .unauthorized)
        }
    }

    @Test func configurationIsCheckedVersionedAndNeverOverwrittenSilently() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let setup = try await setup(app, tester)
            func put(_ hours: WorkerSettings.OpeningHours, version: Int64?, name: String = "Trattoria") async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.PUT, "/api/portal/tenant/current/config", headers: setup.client.bearer) { req in
                    try req.content.encode(WorkerSettings.ConfigInput(templateType: "restaurant", businessName: name, language: "it",
                                                                      openingHours: hours, version: version))
                }
            }
            let interval = { (open: String, close: String) in WorkerSettings.Interval(open: open, close: close) }
            let saved = try await put(["mon": [interval("09:00", "13:00"), interval("14:00", "24:00")], "sun": []], version: 0)
            #expect(saved.status == .ok, "\(saved.body.string)")
            let config = try desired(try await desired(tester, key: setup.key)).config
            #expect(config.version == 1 && config.openingHours["mon"]?.count == 2 && config.openingHours["sun"] == nil)

            // Someone else saved meanwhile: 409, nothing overwritten.
            let stale = try await put(["tue": [interval("08:00", "09:00")]], version: 0, name: "Other")
            #expect(stale.status == .conflict && errorCode(stale) == "stale_version")
            for (hours, field) in [(["mon": [interval("09:00", "13:00"), interval("12:00", "15:00")]], "openingHours.mon[1].open"),
                                   (["mon": [interval("13:00", "09:00")]], "openingHours.mon[0].close"),
                                   (["mon": [interval("25:00", "26:00")]], "openingHours.mon[0].open"),
                                   (["mon": [interval("9:00", "10:00")]], "openingHours.mon[0].open"),
                                   (["funday": [interval("09:00", "10:00")]], "openingHours.funday")] as [(WorkerSettings.OpeningHours, String)] {
                let refused = try await put(hours, version: 1)
                #expect(refused.status == .badRequest && errorFields(refused).contains(field), "\(field): \(refused.body.string)")
            }
            let kept = try desired(try await desired(tester, key: setup.key)).config
            #expect(kept.version == 1 && kept.etag == config.etag)

            // A malformed stored value reads as closed days, never an error.
            let row = try #require(try await TenantConfig.query(on: app.db).filter(\.$tenantID == setup.tenant).first())
            row.openingHours = "{not json"
            try await row.save(on: app.db)
            #expect(try await app.workerControl.desired(for: setup.tenant, on: app.db).config.openingHours.isEmpty)
        }
    }

    @Test func aSilentWorkerIsAnnouncedOnceAndAgainWhenItRecovers() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let setup = try await setup(app, tester)
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "connected", "sequence": 1]).status == .noContent)
            let incidents = app.workerIncidents
            #expect(try await incidents.pass(on: app.db) == 0)
            let later = Date().addingTimeInterval(121)
            #expect(try await incidents.pass(on: app.db, now: later) == 1)
            #expect(try await incidents.pass(on: app.db, now: later.addingTimeInterval(60)) == 0)
            let notices = try await PortalNotification.query(on: app.db).filter(\.$kind == .worker).all()
            #expect(Set(notices.map(\.userID)) == [setup.client.userID, setup.engineer.userID] && notices.allSatisfy { $0.subject == "stale" })
            #expect(notices.first { $0.userID == setup.engineer.userID }?.link == "/hq-command/workers/\(setup.tenant)")
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == "worker.stale").count() == 2)

            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "connected", "sequence": 2]).status == .noContent)
            #expect(try await PortalNotification.query(on: app.db).filter(\.$kind == .worker).filter(\.$subject == "recovered").count() == 2)
            #expect(try await report(tester, key: setup.key, ["name": "main", "status": "connected", "sequence": 3]).status == .noContent)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == "worker.recovered").count() == 2)

            // Staff's own threshold for this organization.
            let settings = try await tester.sendRequest(.PUT, "/api/hq/tenants/\(setup.tenant)/worker/settings", headers: setup.engineer.bearer) { req in
                try req.content.encode(WorkerControlController.SettingsBody(staleAfterSeconds: 600, logRetentionDays: 7))
            }
            #expect(settings.status == .ok)
            struct Overview: Decodable { let staleAfterSeconds: Int; let staleAfterSecondsSet: Int?; let logRetentionDays: Int? }
            let overview = try settings.content.decode(Overview.self)
            #expect(overview.staleAfterSeconds == 600 && overview.staleAfterSecondsSet == 600 && overview.logRetentionDays == 7)
            let page = try await tester.sendRequest(.GET, "/hq-command/workers/\(setup.tenant)", headers: setup.engineer.bearer).body.string
            #expect(page.contains(#"value="600" placeholder="Server default: 120""#))
            #expect(try await incidents.pass(on: app.db, now: Date().addingTimeInterval(300)) == 0)
            #expect(try await incidents.pass(on: app.db, now: Date().addingTimeInterval(601)) == 1)
        }
    }

    @Test func messageLogsAreKeptForTheirOrganizationsPeriod() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let short = try await setup(app, tester)
            let long = try await setup(app, tester)
            try await app.workerControl.settle(tenant: short.tenant, staleAfterSeconds: nil, logRetentionDays: 7, on: app.db)
            for tenant in [short.tenant, long.tenant] {
                for age in [1.0, 10, 100] {
                    let log = MessageLog()
                    log.id = UUID()
                    log.tenantID = tenant
                    log.direction = .inbound
                    log.from = "+39"
                    log.to = "+39"
                    log.text = "\(age)"
                    log.occurredAt = Date().addingTimeInterval(-age * 86_400)
                    try await log.create(on: app.db)
                }
            }
            try await app.workerIncidents.expireLogs(on: app.db)
            let left = Dictionary(grouping: try await MessageLog.query(on: app.db).all(), by: \.tenantID).mapValues { Set($0.map(\.text)) }
            #expect(left[short.tenant] == ["1.0"] && left[long.tenant] == ["1.0", "10.0"])
        }
    }

    private func desired(_ response: TestingHTTPResponse) throws -> Desired {
        #expect(response.status == .ok, "\(response.body.string)")
        return try response.content.decode(Desired.self)
    }
}
