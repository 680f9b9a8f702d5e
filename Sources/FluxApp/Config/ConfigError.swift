/// Every problem found in the environment at boot, each naming its variable. Messages never contain the
/// value of a secret or of DATABASE_URL (which may carry a password).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public struct Problem: Sendable, Equatable {
        public let variable: String
        public let message: String
    }

    public let problems: [Problem]

    public var description: String {
        (["flux: the configuration is not safe to start with:"] + problems.map { "  - \($0.variable) \($0.message)" })
            .joined(separator: "\n")
    }
}
