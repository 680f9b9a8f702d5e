import Foundation
import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that writes one JSON object per line:
/// `{"ts":"…","level":"info","message":"…","request_id":"…",…metadata}`.
public struct JSONLogHandler: LogHandler {
    /// Where finished lines go; one call per line, so lines from many threads never interleave.
    public typealias Sink = @Sendable (String) -> Void

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: Sink

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil,
                sink: @escaping Sink = JSONLogHandler.standardOutput) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }

        var line = JSONLine()
        line.append("ts", .string(Self.timestamp()))
        line.append("level", .string(event.level.rawValue))
        line.append("message", .string(event.message.description))
        line.append("logger", .string(label))
        // Vapor names it "request-id"; one spelling keeps log queries simple.
        if let requestID = merged.removeValue(forKey: "request-id") { line.append("request_id", requestID) }
        for key in merged.keys.sorted() { line.append(key, merged[key]!) }
        if event.level >= .error { line.append("source", .string("\(event.file):\(event.line)")) }
        sink(line.finish())
    }

    private static func timestamp() -> String {
        Date().formatted(timestampStyle)
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let outputLock = NIOLock()

    /// Writes each line to standard output and flushes, so lines reach a pipe or journald at once.
    public static let standardOutput: Sink = { line in
        let bytes = Array((line + "\n").utf8)
        outputLock.withLock {
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { if errno == EINTR { continue } else { return } }
                    offset += written
                }
            }
        }
    }
}

/// A minimal, ordered JSON object writer for log lines.
private struct JSONLine {
    private var text = "{"

    mutating func append(_ key: String, _ value: Logger.MetadataValue) {
        if text.count > 1 { text += "," }
        Self.appendString(key, to: &text)
        text += ":"
        Self.appendValue(value, to: &text)
    }

    mutating func finish() -> String { text + "}" }

    private static func appendValue(_ value: Logger.MetadataValue, to text: inout String) {
        switch value {
        case .string(let string):
            appendString(string, to: &text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as any BinaryInteger: text += "\(number)"
            case let number as Double where number.isFinite: text += "\(number)"
            case let flag as Bool: text += flag ? "true" : "false"
            default: appendString(convertible.description, to: &text)
            }
        case .array(let values):
            text += "["
            for (index, element) in values.enumerated() {
                if index > 0 { text += "," }
                appendValue(element, to: &text)
            }
            text += "]"
        case .dictionary(let dictionary):
            text += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                appendString(key, to: &text)
                text += ":"
                appendValue(dictionary[key]!, to: &text)
            }
            text += "}"
        }
    }

    private static func appendString(_ string: String, to text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029:
                text += String(format: "\\u%04x", scalar.value)
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
