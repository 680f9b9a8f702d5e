import Crypto
import Foundation
import NIOPosix
import Vapor

/// bcrypt at cost 12 on one thread pool per process, one thread short of the core count, so a flood of logins
/// queues there while the event loops keep a core for everything else (health checks, signed-in pages).
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

    func hash(_ password: String) async throws -> String {
        let input = Self.prepared(password)
        return try await Self.pool.runIfActive { try Bcrypt.hash(input, cost: Self.cost) }
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) the dummy is checked and `false` returned.
    func verify(_ password: String, against hash: String?) async throws -> Bool {
        let input = Self.prepared(password)
        let stored = hash ?? Self.dummyHash
        let matches = try await Self.pool.runIfActive { try Bcrypt.verify(input, created: stored) }
        return hash != nil && matches
    }

    static func prepared(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}
