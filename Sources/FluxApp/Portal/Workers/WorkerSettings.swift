import Crypto
import FluxSecurity
import Foundation
import Vapor

/// What an organization's assistant is configured to say, as the portal, HQ and the worker read it, with
/// the rules an edit must pass.
enum WorkerSettings {
    static let staleSeconds = 15...86_400
    static let retentionDays = 1...3_650
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let maxIntervalsPerDay = 4

    /// One opening interval of a day, as 24-hour `HH:MM` text (`close` may be `24:00`).
    struct Interval: Content, Equatable {
        let open: String
        let close: String
    }

    /// Weekday (`mon`…`sun`) → the day's intervals in order; a missing or empty day is closed.
    typealias OpeningHours = [String: [Interval]]

    /// The configuration as a worker, the portal and HQ read it.
    struct Config: Content, Equatable {
        let version: Int64
        /// Changes exactly when the configuration does.
        let etag: String
        let templateType: String
        let businessName: String
        let language: String
        let openingHours: OpeningHours
    }

    /// An edit, from the portal or HQ. `version`, when given, is the configuration the editor saw: if it
    /// changed meanwhile the edit is refused with 409 rather than overwriting the newer one.
    struct ConfigInput: Content {
        let templateType: String
        let businessName: String
        let language: String
        let openingHours: OpeningHours
        let version: Int64?
    }

    /// The configuration stored for `config` at `version`. Stored hours that no longer parse read as closed
    /// days rather than failing the worker or the page.
    static func view(_ config: TenantConfig?, version: Int64) -> Config {
        let hours = config.flatMap { try? JSONDecoder().decode(OpeningHours.self, from: Data($0.openingHours.utf8)) } ?? [:]
        let templateType = config?.templateType ?? "other", businessName = config?.businessName ?? ""
        let language = config?.language ?? "en"
        let canonical = [templateType, businessName, language, canonicalHours(hours)].joined(separator: "\u{1F}")
        let digest = SHA256.hash(data: Data(canonical.utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return Config(version: version, etag: "\"\(version)-\(digest)\"", templateType: templateType, businessName: businessName,
                      language: language, openingHours: hours)
    }

    /// The hours as stored: sorted keys and no closed days, so equal hours are equal text.
    static func canonicalHours(_ hours: OpeningHours) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(hours.filter { !$0.value.isEmpty })).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Every problem with `input`, by field (`openingHours.mon[1].close`).
    static func check(_ input: ConfigInput) -> FieldErrors {
        var errors = FieldErrors()
        errors.check("templateType", PortalController.templateTypes.contains(input.templateType),
                     "must be one of \(PortalController.templateTypes.joined(separator: ", "))")
        let name = TextInput.line(input.businessName, maxLength: 200).trimmingCharacters(in: .whitespaces)
        errors.check("businessName", (1...100).contains(name.count), "must be 1 to 100 characters")
        errors.check("language", Messages.locales.contains(input.language), "must be one of \(Messages.locales.joined(separator: ", "))")
        for day in input.openingHours.keys.sorted() where !weekdays.contains(day) {
            errors.add("openingHours.\(TextInput.line(day, maxLength: 20))", "is not a weekday: use mon, tue, wed, thu, fri, sat or sun")
        }
        for day in weekdays {
            let intervals = input.openingHours[day] ?? []
            errors.check("openingHours.\(day)", intervals.count <= maxIntervalsPerDay, "must have at most \(maxIntervalsPerDay) intervals")
            var previousClose: Int?
            for (index, interval) in intervals.prefix(maxIntervalsPerDay).enumerated() {
                let field = "openingHours.\(day)[\(index)]"
                let open = minutes(interval.open, closing: false), close = minutes(interval.close, closing: true)
                errors.check(field + ".open", open != nil, "must be a time from 00:00 to 23:59")
                errors.check(field + ".close", close != nil, "must be a time from 00:01 to 24:00")
                guard let open, let close else { continue }
                errors.check(field + ".close", open < close, "must be after the opening time")
                if let previousClose {
                    errors.check(field + ".open", previousClose <= open, "must not overlap the interval before it")
                }
                previousClose = close
            }
        }
        return errors
    }

    /// `HH:MM` as minutes after midnight; `24:00` only as a closing time.
    static func minutes(_ text: String, closing: Bool) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }), (0...59).contains(minutes)
        else { return nil }
        let total = hours * 60 + minutes
        return (0..<1440).contains(total) || (closing && total == 1440) ? total : nil
    }
}
