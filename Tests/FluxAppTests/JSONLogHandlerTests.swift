@testable import FluxApp
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite struct JSONLogHandlerTests {
    private func capture(_ body: (inout Logger) -> Void) throws -> [[String: Any]] {
        let lines = NIOLockedValueBox<[String]>([])
        var logger = Logger(label: "flux.test") { label in
            JSONLogHandler(label: label, level: .info) { line in lines.withLockedValue { $0.append(line) } }
        }
        body(&logger)
        return try lines.withLockedValue { $0 }.map { line in
            #expect(!line.contains("\n"))
            return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func eachEventIsOneJSONObjectWithTheStandardFields() throws {
        let entries = try capture { logger in
            logger[metadataKey: "request-id"] = "req-1"
            logger.info("hello", metadata: ["count": .stringConvertible(3), "ratio": .stringConvertible(0.5),
                                            "tags": .array(["a", "b"]), "who": .dictionary(["id": "7"])])
        }
        #expect(entries.count == 1)
        let entry = entries[0]
        #expect(entry["message"] as? String == "hello")
        #expect(entry["level"] as? String == "info")
        #expect(entry["logger"] as? String == "flux.test")
        #expect(entry["request_id"] as? String == "req-1")
        #expect(entry["count"] as? Int == 3)
        #expect(entry["ratio"] as? Double == 0.5)
        #expect(entry["tags"] as? [String] == ["a", "b"])
        #expect((entry["who"] as? [String: String]) == ["id": "7"])
        let ts = try #require(entry["ts"] as? String)
        #expect(abs(try Date(ts, strategy: .iso8601).timeIntervalSinceNow) < 5)
    }

    @Test func hostileTextStaysInsideItsString() throws {
        let entries = try capture { logger in
            logger.warning("line one\nline two \"quoted\" \\ \u{0}\u{1b}[31m", metadata: ["field": "}\n{\"level\":\"critical\""])
        }
        #expect(entries.count == 1)
        #expect(entries[0]["message"] as? String == "line one\nline two \"quoted\" \\ \u{0}\u{1b}[31m")
        #expect(entries[0]["field"] as? String == "}\n{\"level\":\"critical\"")
        #expect(entries[0]["level"] as? String == "warning")
    }

    @Test func eventsBelowTheLevelAreDropped() throws {
        let entries = try capture { logger in
            logger.debug("quiet")
            logger.error("loud")
        }
        #expect(entries.map { $0["message"] as? String } == ["loud"])
        #expect((entries[0]["source"] as? String)?.contains("JSONLogHandlerTests") == true)
    }
}
