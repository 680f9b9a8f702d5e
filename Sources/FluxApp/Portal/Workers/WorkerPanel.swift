import Foundation

/// What the worker panel (`Resources/Views/worker-panel.leaf`) shows, in the portal's status page and in
/// HQ's worker page: the same facts, with staff's extra controls when `staff` is set. Its script
/// (`workers.js`) refreshes it from the same JSON the API answers, with the words in `labels`.
struct WorkerPanel: Encodable {
    struct Worker: Encodable {
        let name, state, stateLabel, stateClass, lastSeen, pairedNumber, lastError, version, configStatus: String
        let qrImage, qrExpires: String?
    }

    struct Day: Encodable {
        let key, name: String
        let intervals: [Interval]
    }

    struct Interval: Encodable {
        let index: Int
        let open, close, openLabel, closeLabel: String
    }

    struct Choice: Encodable {
        let value, label: String
        let selected: Bool
    }

    struct Command: Encodable {
        let kind, reason, issuedAt: String
        let done: Bool
    }

    struct Log: Encodable {
        let time, direction, from, to, text: String
    }

    let tenantId: String
    let staff: Bool
    /// A client admin may restart and configure; a member only looks.
    let canEdit: Bool
    let run: Bool
    let workers: [Worker]
    let configVersion: Int64
    let businessName: String
    let templates: [Choice]
    let languages: [Choice]
    let days: [Day]
    /// Staff's own values, empty for the server's default (shown as the placeholder).
    let staleAfterSeconds, defaultStaleAfter: String
    let logRetentionDays: String
    let commands: [Command]
    let logs: [Log]
    /// What staff searched the logs for (`?q=`).
    let logQuery: String
    let hasWorkers, hasCommands, hasLogs: Bool
    /// The state and day names the script needs, as JSON (printed escaped into a data attribute).
    let labels: String

    static let shownIntervals = 2

    init(overview: WorkerControlController.Overview, defaultStaleSeconds: Int, staff: Bool, canEdit: Bool, logs: [TenantOperationsController.LogView],
         logQuery: String = "", locale: String) {
        let text = { (key: String, arguments: [String]) in Messages.shared.text(key, locale: locale, arguments) }
        tenantId = overview.tenantId.uuidString
        self.staff = staff
        self.canEdit = canEdit
        run = overview.run
        let config = overview.config
        workers = overview.workers.map { worker in
            let configStatus = worker.configVersion.map {
                text($0 == config.version ? "worker.config.current" : "worker.config.pending", [String(config.version)])
            }
            return Worker(name: worker.name, state: worker.state, stateLabel: text("worker.state." + worker.state, []), stateClass: Self.stateClass(worker.state),
                          lastSeen: PageSite.time(worker.lastSeen), pairedNumber: worker.pairedNumber ?? "—", lastError: worker.lastError ?? "—",
                          version: worker.version ?? "—", configStatus: configStatus ?? "—",
                          qrImage: worker.qr?.image, qrExpires: worker.qr.map { PageSite.time($0.expiresAt) })
        }
        configVersion = config.version
        businessName = config.businessName
        templates = PortalController.templateTypes.map { Choice(value: $0, label: text("worker.template." + $0, []), selected: $0 == config.templateType) }
        languages = Messages.locales.map { Choice(value: $0, label: text("worker.language." + $0, []), selected: $0 == config.language) }
        days = WorkerSettings.weekdays.map { day in
            let intervals = config.openingHours[day] ?? [], name = text("worker.day." + day, [])
            return Day(key: day, name: name, intervals: (0..<Self.shownIntervals).map { index in
                Interval(index: index, open: index < intervals.count ? intervals[index].open : "", close: index < intervals.count ? intervals[index].close : "",
                         openLabel: text("worker.config.opensLabel", [name, String(index + 1)]),
                         closeLabel: text("worker.config.closesLabel", [name, String(index + 1)]))
            })
        }
        staleAfterSeconds = overview.staleAfterSecondsSet.map(String.init) ?? ""
        defaultStaleAfter = text("worker.settings.defaultValue", [String(defaultStaleSeconds)])
        logRetentionDays = overview.logRetentionDays.map(String.init) ?? ""
        commands = overview.commands.map {
            Command(kind: text("worker.command." + $0.kind.rawValue, []), reason: $0.reason, issuedAt: PageSite.time($0.issuedAt), done: $0.acknowledgedAt != nil)
        }
        self.logs = logs.prefix(10).map {
            Log(time: PageSite.time($0.occurredAt), direction: $0.direction.rawValue, from: $0.from, to: $0.to, text: $0.text)
        }
        self.logQuery = logQuery
        hasWorkers = !workers.isEmpty
        hasCommands = !commands.isEmpty
        hasLogs = !self.logs.isEmpty
        let states = WorkerProcess.Status.allCases.map(\.rawValue) + ["stale"]
        var words = Dictionary(uniqueKeysWithValues: states.map { ("state." + $0, text("worker.state." + $0, [])) })
        words["config.current"] = text("worker.config.current", ["{0}"])
        words["config.pending"] = text("worker.config.pending", ["{0}"])
        labels = (try? JSONEncoder().encode(words)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The badge colour of a state.
    static func stateClass(_ state: String) -> String {
        switch state {
        case "connected", "running": "good"
        case "starting", "pairing": "info"
        case "degraded", "stopped": "warn"
        default: "bad"
        }
    }
}
