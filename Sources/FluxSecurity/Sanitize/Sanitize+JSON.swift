import Foundation

extension Sanitize {
    /// Bounds on client JSON: past the size, depth or element count it is refused; longer strings are cut.
    public struct JSONLimits: Sendable {
        public var maxBytes = 64 * 1024
        public var maxDepth = 8
        public var maxStringLength = 4_000
        public var maxElements = 1_000

        /// The defaults: 64 KiB, depth 8, strings of 4,000 characters, 1,000 values.
        public init() {}
    }

    /// Why JSON was refused.
    public enum JSONRejection: Error, Sendable, Equatable {
        case tooLarge, tooDeep, tooManyElements, malformed
    }

    /// Keys some JavaScript consumers treat as the object's prototype: dropped so stored JSON cannot
    /// pollute a prototype when it is merged into an object later.
    static let prototypeKeys: Set<String> = ["__proto__", "constructor", "prototype"]

    /// Deep-cleans client JSON before it is stored or passed on: bounded size, depth and element count
    /// (throws ``JSONRejection``), prototype keys removed, strings stripped of control characters (newlines
    /// and tabs kept) and bounded. Returns the cleaned JSON, keys sorted.
    public static func json(_ data: Data, limits: JSONLimits = JSONLimits()) throws(JSONRejection) -> Data {
        guard data.count <= limits.maxBytes else { throw .tooLarge }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw .malformed
        }
        var elements = 0
        let cleaned = try clean(parsed, depth: 0, elements: &elements, limits: limits)
        do {
            return try JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .fragmentsAllowed])
        } catch {
            throw .malformed
        }
    }

    private static func clean(_ value: Any, depth: Int, elements: inout Int, limits: JSONLimits) throws(JSONRejection) -> Any {
        guard depth <= limits.maxDepth else { throw .tooDeep }
        elements += 1
        guard elements <= limits.maxElements else { throw .tooManyElements }
        switch value {
        case let object as [String: Any]:
            var result: [String: Any] = [:]
            for (key, child) in object where !prototypeKeys.contains(key) {
                result[bounded(removingControlCharacters(key, keepNewlines: false), 200)] =
                    try clean(child, depth: depth + 1, elements: &elements, limits: limits)
            }
            return result
        case let array as [Any]:
            var result: [Any] = []
            for child in array { result.append(try clean(child, depth: depth + 1, elements: &elements, limits: limits)) }
            return result
        case let string as String:
            return bounded(removingControlCharacters(string, keepNewlines: true), limits.maxStringLength)
        default:
            return value
        }
    }
}
