/// A secret read from the environment. Its descriptions are redacted so that interpolating it into a log
/// line, an error or `flux doctor` output can never print the value.
public struct SecretValue: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself: read it only where it is used as key material or compared.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
