import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Vapor

/// bcrypt at cost 12 on one thread pool per process, one thread short of the core count, so a flood of logins
/// queues there while the event loops keep a core for everything else (health checks, signed-in pages).
///
/// The queue is bounded: past ``maxInFlight`` hashes waiting or running, a request is refused at once with
/// `503 busy` and `Retry-After`, instead of waiting behind a flood until its client gives up.
///
/// bcrypt reads only the first 72 bytes of its input and stops at a NUL byte, so every password is first
/// reduced to base64(SHA-256(password)): 44 ASCII bytes that depend on all of its (up to 128) characters.
struct PasswordHasher: Sendable {
    static let cost = 12
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount - 1))
        pool.start()
        return pool
    }()

    /// A bcrypt hash of cost 12 of a random string: verified when an account does not exist, so an unknown
    /// email costs the same time as a wrong password.
    private static let dummyHash = "$2b$12$T7dzB6gQo3pUtbqj6G390.al.5kddfSMmdgR/K0MF9winUzvPwGSy"

    /// About five seconds of work on one hashing thread at cost 12.
    let maxInFlight: Int
    private let inFlight = NIOLockedValueBox(0)

    init(maxInFlight: Int = 16 * max(1, System.coreCount - 1)) {
        self.maxInFlight = maxInFlight
    }

    static let busy = AppError(.serviceUnavailable, code: "busy", message: "Too many sign-ins at once. Try again in a few seconds.",
                               headers: ["Retry-After": "2"], shed: true)

    func hash(_ password: String) async throws -> String {
        let input = Self.prepared(password)
        return try await bounded { try Bcrypt.hash(input, cost: Self.cost) }
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) the dummy is checked and `false` returned.
    func verify(_ password: String, against hash: String?) async throws -> Bool {
        let input = Self.prepared(password)
        let stored = hash ?? Self.dummyHash
        let matches = try await bounded { try Bcrypt.verify(input, created: stored) }
        return hash != nil && matches
    }

    /// Refuses now, with ``busy``, when a hash would be refused: a caller with reads to do before its hash
    /// (a sign-in looks the account up first) does not spend them on a request that cannot finish. Under a
    /// login flood this keeps each refusal as cheap as a plain route.
    func requireCapacity() throws {
        if inFlight.withLockedValue({ $0 >= maxInFlight }) { throw Self.busy }
    }

    private func bounded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let admitted = inFlight.withLockedValue { count in
            guard count < maxInFlight else { return false }
            count += 1
            return true
        }
        guard admitted else { throw Self.busy }
        defer { inFlight.withLockedValue { $0 -= 1 } }
        return try await Self.pool.runIfActive {
            Self.yieldToEventLoops()
            return try work()
        }
    }

    /// Hashing runs at nice 10, below the event loops: when it shares a core with them (a busy or small
    /// machine), a flood of sign-ins slows other sign-ins rather than every request. Set on each hash, as the
    /// pool's threads cannot be reached otherwise: one system call beside a quarter second of bcrypt, and
    /// lowering a thread's priority needs no privilege. On Linux a nice value belongs to a thread, and
    /// `who` 0 names the calling one.
    private static func yieldToEventLoops() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }

    static func prepared(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}
