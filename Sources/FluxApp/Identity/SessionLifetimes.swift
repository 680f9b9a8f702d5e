import Foundation

/// How long a sign-in lasts. Access tokens are short; the session behind them lives while it is used: each renewal
/// moves its end to `idle` from then, but never past `absolute` from the sign-in, so a stolen refresh cookie that is
/// kept in use still dies on a known date.
public struct SessionLifetimes: Sendable {
    public var accessToken: TimeInterval
    public var idle: TimeInterval
    public var absolute: TimeInterval

    public init(accessToken: TimeInterval = 15 * 60, idle: TimeInterval = 7 * 86_400, absolute: TimeInterval = 30 * 86_400) {
        self.accessToken = accessToken
        self.idle = idle
        self.absolute = absolute
    }

    /// When a session that signed in at `createdAt` ends if it is last renewed at `now`.
    func end(signedInAt createdAt: Date, renewedAt now: Date) -> Date {
        min(now.addingTimeInterval(idle), absoluteEnd(signedInAt: createdAt))
    }

    func absoluteEnd(signedInAt createdAt: Date) -> Date {
        createdAt.addingTimeInterval(absolute)
    }
}
