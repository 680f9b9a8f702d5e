import Foundation

/// Reads environment variables for ``AppConfig/load(from:)``: each group parser takes its variables from
/// here and records what is wrong with them, so every problem is reported together and the boot stops once.
final class ConfigReader {
    private let environment: [String: String]
    private(set) var problems: [ConfigError.Problem] = []
    /// Things worth an operator's attention that do not stop the boot.
    private(set) var warnings: [String] = []

    init(_ environment: [String: String]) {
        self.environment = environment
    }

    /// The variable's value, trimmed; `nil` when unset or blank.
    func value(_ name: String) -> String? {
        guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        return raw
    }

    func problem(_ variable: String, _ message: String) {
        problems.append(.init(variable: variable, message: message))
    }

    func warn(_ message: String) {
        warnings.append(message)
    }

    /// A whole number in `range`, `fallback` when unset; a problem (and `fallback`) when it is anything else.
    func whole(_ name: String, default fallback: Int, in range: ClosedRange<Int>) -> Int {
        guard let raw = value(name) else { return fallback }
        guard let parsed = Int(raw), range.contains(parsed) else {
            problem(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return fallback
        }
        return parsed
    }

    func positive(_ name: String, default fallback: Int, maximum: Int) -> Int {
        whole(name, default: fallback, in: 1...maximum)
    }

    /// A comma-separated list, blanks dropped.
    func list(_ name: String) -> [String] {
        (value(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An outside service's address: https, or plain http on loopback only (test servers).
    static func serviceURL(_ text: String) -> URL? {
        guard let url = URL(string: text), let host = url.host else { return nil }
        return url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1"].contains(host)) ? url : nil
    }
}
