@testable import FluxApp
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Installs Flux's JSON log handler for the whole test process (swift-log allows one bootstrap per process)
/// and keeps every line, so tests can read what Flux logged for their own request ids.
final class LogCapture: Sendable {
    static let shared = LogCapture()
    private let lines = NIOLockedValueBox<[String]>([])

    private init() {
        let lines = self.lines
        LoggingSystem.bootstrap { label in
            JSONLogHandler(label: label, level: .trace) { line in lines.withLockedValue { $0.append(line) } }
        }
    }

    /// Every captured line, parsed, that mentions `requestID`.
    func entries(forRequestID requestID: String) -> [[String: Any]] {
        lines.withLockedValue { $0 }.filter { $0.contains(requestID) }.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// Every captured line, raw.
    var all: [String] { lines.withLockedValue { $0 } }
}
