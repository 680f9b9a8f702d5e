@testable import FluxApp
import Foundation
import Testing

/// Seeded mutation fuzzing of everything that reads browser bytes: the CBOR decoder and both ceremonies. A crash
/// fails the whole run, so reaching the end is the main assertion; on top, a changed signed byte never verifies and
/// whatever the decoder accepts re-encodes to itself.
///
/// FUZZ_ITERATIONS raises the count (20,000 by default); FUZZ_SEED picks the mutations, and the seed is printed.
/// The keys and signatures are fresh each run (swift-crypto draws them), so a seed replays the mutations, not the bytes.
@Suite struct WebAuthnFuzzTests {
    @Test func mutatedInputsNeverCrashOrVerify() throws {
        // setup
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 20_000
        let seed = environment["FUZZ_SEED"].flatMap { UInt64($0) } ?? 0xF1_0038
        print("WebAuthn fuzz: seed \(seed) (FUZZ_SEED), \(iterations) iterations (FUZZ_ITERATIONS)")
        var random = SeededRandom(seed: seed)
        let party = RelyingParty(id: "example.com", origins: ["https://example.com"])
        let challenge: [UInt8] = [7, 7, 7, 7]
        var targets: [(registration: [UInt8], clientData: [UInt8], assertion: (clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8]), key: [UInt8])] = []
        for algorithm in [SoftwareAuthenticator.Algorithm.es256, .rs256] {
            var authenticator = SoftwareAuthenticator(rpID: party.id, origin: "https://example.com", algorithm: algorithm)
            let registration = authenticator.register(challenge: challenge)
            targets.append((registration.attestationObject, registration.clientDataJSON,
                            authenticator.assert(challenge: challenge, userHandle: nil), authenticator.publicKeyCOSE))
        }
        let blobs = (0..<64).map { _ in WebAuthnDifferentialTests.randomItem(&random, depth: 0).1 }
            + targets.flatMap { [$0.registration, $0.key] }

        // MUT
        var accepted = (cbor: 0, registrations: 0, assertions: 0)
        for _ in 0..<iterations {
            let target = targets[random.next(below: targets.count)]
            switch random.next(below: 4) {
            case 0:
                let bytes = random.next(below: 20) == 0
                    ? (0..<random.next(below: 64)).map { _ in UInt8(random.next(below: 256)) }
                    : random.mutate(blobs[random.next(below: blobs.count)])
                _ = try? CBOR.decode(bytes)
                if let value = try? CBOR.decodeWhole(bytes) {
                    accepted.cbor += 1
                    #expect(try CBOR.decodeWhole(value.encoded()) == value, "\(bytes.hexString)")
                }
            case 1:
                let attestation = random.mutate(target.registration)
                if let registration = try? WebAuthnVerifier.verifyRegistration(
                    clientDataJSON: target.clientData, attestationObject: attestation, challenge: challenge, relyingParty: party) {
                    accepted.registrations += 1
                    #expect((try? COSEKey(bytes: registration.publicKey)) != nil)
                }
            default:
                var parts = target.assertion
                switch random.next(below: 3) {
                case 0: parts.authenticatorData = random.mutate(parts.authenticatorData)
                case 1: parts.signature = random.mutate(parts.signature)
                default: parts.clientDataJSON = random.mutate(parts.clientDataJSON)
                }
                let verified = (try? WebAuthnVerifier.verifyAssertion(
                    clientDataJSON: parts.clientDataJSON, authenticatorData: parts.authenticatorData, signature: parts.signature,
                    challenge: challenge, publicKey: target.key, storedSignCount: 0, relyingParty: party)) != nil
                let changed = parts.clientDataJSON != target.assertion.clientDataJSON
                    || parts.authenticatorData != target.assertion.authenticatorData || parts.signature != target.assertion.signature
                #expect(!(verified && changed), "a mutated assertion verified: \(parts.authenticatorData.hexString) \(parts.signature.hexString)")
                if verified { accepted.assertions += 1 }
            }
        }

        // validate
        print("WebAuthn fuzz: accepted \(accepted.cbor) CBOR items, \(accepted.registrations) registrations, "
            + "\(accepted.assertions) unchanged assertions")
        #expect(accepted.cbor > 0 && accepted.registrations > 0, "the mutations leave some inputs valid")
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): a small generator whose whole state is the seed, so a run replays.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound; `bound` is positive.
    mutating func next(below bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// `bytes` after one to four edits: a flipped bit, a replaced, inserted or deleted byte, a truncation, or a
    /// byte that CBOR reads as a head (long lengths, indefinite lengths, floats, tags, breaks).
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        let heads: [UInt8] = [0x00, 0x18, 0x1B, 0x3B, 0x5B, 0x7B, 0x9B, 0xBB, 0x5F, 0x9F, 0xBF, 0xC0, 0xD8, 0xF7, 0xF8, 0xF9, 0xFB, 0xFF]
        for _ in 0..<1 + next(below: 4) {
            let position = bytes.isEmpty ? 0 : next(below: bytes.count)
            switch next(below: 6) {
            case 0 where !bytes.isEmpty: bytes[position] ^= 1 << UInt8(next(below: 8))
            case 1 where !bytes.isEmpty: bytes[position] = UInt8(next(below: 256))
            case 2: bytes.insert(UInt8(next(below: 256)), at: position)
            case 3 where !bytes.isEmpty: bytes.remove(at: position)
            case 4: bytes = Array(bytes.prefix(position))
            case 5 where !bytes.isEmpty: bytes[position] = heads[next(below: heads.count)]
            default: bytes.append(UInt8(next(below: 256)))
            }
        }
        return bytes
    }
}
