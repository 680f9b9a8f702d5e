@testable import FluxApp
import FluxSecurity
import Foundation
import Testing

/// Flux against independent implementations in Python, as a second opinion on the same bytes: PyPI `cbor2` for
/// CBOR and PyPI `webauthn` (py_webauthn) for whole ceremonies. Both come from Tests/integration/requirements.txt,
/// which scripts/test installs; a missing python3 or package fails these tests rather than skipping them.
@Suite struct WebAuthnDifferentialTests {
    // MARK: - CBOR against cbor2

    /// Refusals that are Flux's choice, where cbor2 decodes: floats, tags, indefinite lengths and simple values,
    /// integers past Int64, deeper nesting or larger containers, map keys other than integers and text, and
    /// repeated keys (cbor2 keeps the last).
    static let deliberateRefusals: [CBOR.DecodingError.Kind] = [
        .unsupported, .integerOutOfRange, .tooDeep, .tooManyItems, .invalidKey, .duplicateKey,
    ]

    @Test func cborVerdictsMatchCbor2() throws {
        // setup
        var random = SeededRandom(seed: 0xC0B0_2026)
        var inputs: [[UInt8]] = []
        for _ in 0..<400 {
            let (_, bytes) = Self.randomItem(&random, depth: 0)
            inputs.append(bytes)
            for _ in 0..<2 { inputs.append(random.mutate(bytes)) }
        }
        inputs += ["1bffffffffffffffff", "fb3ff199999999999a", "c11a514b67b0", "9f01ff", "a2010201f6", "a14001", "f7",
                   "62c328", "5bffffffffffffffff", "1c"].map(CBORTests.bytes)

        // MUT
        let python = try Self.python(Self.cbor2Script, input: inputs.map(\.hexString))

        // validate
        let verdicts = try #require(python as? [[String: Any]])
        try #require(verdicts.count == inputs.count)
        var deliberate: [String: Int] = [:]
        for (bytes, reference) in zip(inputs, verdicts) {
            let accepted = reference["ok"] as? Bool == true
            do {
                let flux = try CBOR.decode(bytes)
                #expect(accepted, "Flux accepts what cbor2 refuses (\(reference["error"] ?? "")): \(bytes.hexString)")
                #expect(reference["value"] as? String == Self.canonical(flux.value), "values differ: \(bytes.hexString)")
                #expect(reference["consumed"] as? Int == flux.consumed, "lengths differ: \(bytes.hexString)")
            } catch {
                guard accepted else { continue }
                #expect(Self.deliberateRefusals.contains(error.kind),
                        "cbor2 accepts what Flux refuses as \(error.kind): \(bytes.hexString)")
                deliberate["\(error.kind)", default: 0] += 1
            }
        }
        print("CBOR differential: \(inputs.count) inputs; cbor2 accepted and Flux refused on purpose: \(deliberate)")
    }

    /// A random well-formed item of the kinds Flux decodes, and its encoding; heads are sometimes wider than they
    /// need to be (well-formed, just not preferred).
    static func randomItem(_ random: inout SeededRandom, depth: Int) -> (CBOR, [UInt8]) {
        func head(_ major: UInt8, _ argument: UInt64) -> [UInt8] {
            guard random.next(below: 6) == 0 else { return CBOR.head(major, argument) }
            let widths = [(24, 1, UInt64(0xFF)), (25, 2, 0xFFFF), (26, 4, 0xFFFF_FFFF), (27, 8, UInt64.max)].filter { argument <= $0.2 }
            let (info, width, _) = widths[random.next(below: widths.count)]
            return [major << 5 | UInt8(info)] + CBOR.bigEndian(argument, width: width)
        }
        let kind = depth >= 4 ? random.next(below: 5) : random.next(below: 7)
        switch kind {
        case 0:
            let edges: [Int64] = [0, 23, 24, 255, 256, 65535, 65536, 1 << 32, .max, -1, -24, -25, -256, -257, .min]
            let value = random.next(below: 3) == 0 ? edges[random.next(below: edges.count)] : Int64(bitPattern: random.next())
                >> random.next(below: 64)
            return (.integer(value), value >= 0 ? head(0, UInt64(value)) : head(1, UInt64(-1 - value)))
        case 1:
            let bytes = (0..<random.next(below: 40)).map { _ in UInt8(random.next(below: 256)) }
            return (.bytes(bytes), head(2, UInt64(bytes.count)) + bytes)
        case 2:
            let text = String(String.UnicodeScalarView((0..<random.next(below: 12)).compactMap { _ in
                Unicode.Scalar(UInt32([0x7F, 0x7FF, 0xFFFF, 0x10FFFF][random.next(below: 4)] & UInt32(random.next(below: 0x110000))))
            }))
            return (.text(text), head(3, UInt64(text.utf8.count)) + Array(text.utf8))
        case 3:
            let value = [CBOR.bool(false), .bool(true), .null][random.next(below: 3)]
            return (value, value.encoded())
        case 4:
            return (.text("fmt"), head(3, 3) + Array("fmt".utf8))
        case 5:
            let items = (0..<random.next(below: 6)).map { _ in randomItem(&random, depth: depth + 1) }
            return (.array(items.map(\.0)), head(4, UInt64(items.count)) + items.flatMap(\.1))
        default:
            var keys: [CBOR] = []
            var bytes: [UInt8] = []
            var entries: [CBOR.Entry] = []
            for _ in 0..<random.next(below: 6) {
                let key: CBOR = random.next(below: 2) == 0
                    ? .integer(Int64(random.next(below: 40)) - 20) : .text(["fmt", "alg", "x", "authData", "é"][random.next(below: 5)])
                guard !keys.contains(key) else { continue }
                keys.append(key)
                let (value, valueBytes) = randomItem(&random, depth: depth + 1)
                entries.append(CBOR.Entry(key: key, value: value))
                bytes += key.encoded() + valueBytes
            }
            return (.map(entries), head(5, UInt64(entries.count)) + bytes)
        }
    }

    /// One line per item that both sides can write identically; the Python script writes the same form.
    static func canonical(_ value: CBOR) -> String {
        switch value {
        case .integer(let value): "i(\(value))"
        case .bytes(let bytes): "b(\(bytes.hexString))"
        case .text(let text): "t(\(Array(text.utf8).hexString))"
        case .array(let items): "a[" + items.map(canonical).joined(separator: ",") + "]"
        case .map(let entries): "m{" + entries.map { canonical($0.key) + ":" + canonical($0.value) }.joined(separator: ",") + "}"
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        }
    }

    static let cbor2Script = #"""
    import io, json, sys
    import cbor2

    def canonical(v):
        if v is True: return "true"
        if v is False: return "false"
        if v is None: return "null"
        if type(v) is int: return "i(%d)" % v
        if type(v) is bytes: return "b(%s)" % v.hex()
        if type(v) is str: return "t(%s)" % v.encode("utf-8").hex()
        if type(v) is list: return "a[" + ",".join(canonical(i) for i in v) + "]"
        if type(v) is dict: return "m{" + ",".join(canonical(k) + ":" + canonical(x) for k, x in v.items()) + "}"
        return "X(%s)" % type(v).__name__

    out = []
    for h in json.load(sys.stdin):
        stream = io.BytesIO(bytes.fromhex(h))
        try:
            value = cbor2.CBORDecoder(stream).decode()
            out.append({"ok": True, "value": canonical(value), "consumed": stream.tell()})
        except Exception as e:
            out.append({"ok": False, "error": type(e).__name__})
    json.dump(out, sys.stdout)
    """#

    // MARK: - Ceremonies against py_webauthn

    /// One registration or assertion, as py_webauthn takes it (`reference`) and as Flux verifies it (`flux`, which
    /// returns what it accepted in the form the Python script prints).
    struct Ceremony {
        let name: String
        let reference: [String: Any]
        /// Why Flux refuses what py_webauthn accepts, when that is on purpose.
        var deliberate: String?
        let flux: () throws -> [String: String]
    }

    @Test func ceremonyVerdictsMatchPyWebAuthn() throws {
        // setup
        var random = SeededRandom(seed: 0x5EED_0038)
        let party = RelyingParty(id: "flux.example", origins: ["https://flux.example"])
        var ceremonies: [Ceremony] = []
        for algorithm in [SoftwareAuthenticator.Algorithm.es256, .rs256] {
            let genuine = SoftwareAuthenticator(rpID: party.id, origin: "https://flux.example", algorithm: algorithm)
            let registrationVariants: [(String, (inout SoftwareAuthenticator) -> Void)] = [
                ("valid", { _ in }), ("origin", { $0.origin = "https://flux.example.evil" }),
                ("type", { $0.clientDataType = "webauthn.get" }), ("rpId", { $0.rpID = "example" }),
                ("format", { $0.attestationFormat = "packed" }),
            ] + (0..<12).map { _ in
                let flags = UInt8(random.next(below: 256))
                return ("flags \(flags)", { $0.flags = flags })
            }
            for (name, change) in registrationVariants {
                var authenticator = genuine
                change(&authenticator)
                ceremonies.append(Self.registration("\(algorithm) registration \(name)", authenticator, challenge: [1, 2, 3, 4], party: party))
            }
            ceremonies.append(Self.registration("\(algorithm) registration challenge", genuine, challenge: [9, 9, 9, 9], sent: [1, 2, 3, 4], party: party))
            var crossOrigin = genuine
            crossOrigin.crossOrigin = true
            var embedded = Self.registration("\(algorithm) registration crossOrigin", crossOrigin, challenge: [1, 2, 3, 4], party: party)
            embedded.deliberate = "py_webauthn does not read crossOrigin; Flux, never embedded in another site's frame, refuses it"
            ceremonies.append(embedded)

            let key = genuine.publicKeyCOSE
            let assertionVariants: [(String, UInt32, (inout SoftwareAuthenticator) -> Void, (inout [[UInt8]]) -> Void)] = [
                ("valid", 0, { _ in }, { _ in }), ("origin", 0, { $0.origin = "http://flux.example" }, { _ in }),
                ("type", 0, { $0.clientDataType = "webauthn.create" }, { _ in }), ("rpId", 0, { $0.rpID = "other.example" }, { _ in }),
                ("sign count", 5, { _ in }, { _ in }), ("sign count equal", 1, { _ in }, { _ in }),
                ("challenge", 0, { _ in }, { $0[3] = [5, 6, 7] }),
            ] + (0..<12).map { _ in
                let flags = UInt8(random.next(below: 256) & 0x7F) // no ED: an extensions map would have to follow
                return ("flags \(flags)", 0, { $0.flags = flags }, { _ in })
            } + (0..<8).map { _ in
                let (position, mask) = (random.next(below: 1 << 16), UInt8(1 + random.next(below: 255)))
                return ("signature byte \(position)", 0, { _ in }, { $0[2][position % $0[2].count] ^= mask })
            } + (0..<4).map { _ in
                let position = random.next(below: 37)
                return ("authData byte \(position)", 0, { _ in }, { $0[1][position] ^= 0x20 })
            }
            for (name, stored, change, corrupt) in assertionVariants {
                var authenticator = genuine
                change(&authenticator)
                let response = authenticator.assert(challenge: [1, 2, 3], userHandle: [42])
                var parts = [response.clientDataJSON, response.authenticatorData, response.signature, [1, 2, 3]]
                corrupt(&parts)
                ceremonies.append(Self.assertion("\(algorithm) assertion \(name)", authenticator, parts: parts, key: key, stored: stored, party: party))
            }
        }

        // MUT
        let python = try Self.python(Self.webauthnScript, input: ceremonies.map(\.reference))

        // validate
        let verdicts = try #require(python as? [[String: Any]])
        try #require(verdicts.count == ceremonies.count)
        var accepted = 0
        for (ceremony, reference) in zip(ceremonies, verdicts) {
            let referenceAccepts = reference["ok"] as? Bool == true
            do {
                let facts = try ceremony.flux()
                accepted += 1
                #expect(referenceAccepts, "\(ceremony.name): Flux accepts, py_webauthn refuses: \(reference["error"] ?? "")")
                #expect(reference["facts"] as? [String: String] == facts, "\(ceremony.name): the verified facts differ")
            } catch {
                #expect(!referenceAccepts || ceremony.deliberate != nil, "\(ceremony.name): py_webauthn accepts, Flux refuses: \(error)")
                if let deliberate = ceremony.deliberate {
                    #expect(referenceAccepts, "\(ceremony.name): expected py_webauthn to accept (\(deliberate))")
                }
            }
        }
        #expect(accepted >= 6, "the valid ceremonies and the harmless flag sets verify")
        print("WebAuthn differential: \(ceremonies.count) ceremonies, \(accepted) accepted by both, "
            + "deliberate differences: \(Set(ceremonies.compactMap(\.deliberate)))")
    }

    static func registration(
        _ name: String, _ authenticator: SoftwareAuthenticator, challenge: [UInt8], sent: [UInt8]? = nil, party: RelyingParty
    ) -> Ceremony {
        let response = authenticator.register(challenge: sent ?? challenge)
        let id = Base64URL.encode(response.credentialID)
        let reference: [String: Any] = [
            "kind": "registration", "challenge": challenge.hexString, "rp_id": party.id, "origins": party.origins,
            "credential": ["id": id, "rawId": id, "type": "public-key", "response": [
                "clientDataJSON": Base64URL.encode(response.clientDataJSON),
                "attestationObject": Base64URL.encode(response.attestationObject),
            ]],
        ]
        return Ceremony(name: name, reference: reference) {
            let registration = try WebAuthnVerifier.verifyRegistration(
                clientDataJSON: response.clientDataJSON, attestationObject: response.attestationObject,
                challenge: challenge, relyingParty: party)
            return [
                "credentialID": registration.credentialID.hexString, "publicKey": registration.publicKey.hexString,
                "signCount": "\(registration.signCount)", "backupEligible": "\(registration.backupEligible)",
                "backedUp": "\(registration.backedUp)",
            ]
        }
    }

    /// `parts` are clientDataJSON, authenticatorData, signature and the challenge the server expects.
    static func assertion(
        _ name: String, _ authenticator: SoftwareAuthenticator, parts: [[UInt8]], key: [UInt8], stored: UInt32, party: RelyingParty
    ) -> Ceremony {
        let id = Base64URL.encode(authenticator.credentialID)
        let reference: [String: Any] = [
            "kind": "authentication", "challenge": parts[3].hexString, "rp_id": party.id, "origins": party.origins,
            "public_key": key.hexString, "sign_count": Int(stored),
            "credential": ["id": id, "rawId": id, "type": "public-key", "response": [
                "clientDataJSON": Base64URL.encode(parts[0]), "authenticatorData": Base64URL.encode(parts[1]),
                "signature": Base64URL.encode(parts[2]), "userHandle": Base64URL.encode(authenticator.userHandle ?? []),
            ]],
        ]
        return Ceremony(name: name, reference: reference) {
            let assertion = try WebAuthnVerifier.verifyAssertion(
                clientDataJSON: parts[0], authenticatorData: parts[1], signature: parts[2], challenge: parts[3],
                publicKey: key, storedSignCount: stored, relyingParty: party)
            return ["signCount": "\(assertion.signCount)", "backedUp": "\(assertion.backedUp)"]
        }
    }

    static let webauthnScript = #"""
    import json, sys
    import webauthn

    out = []
    for case in json.load(sys.stdin):
        try:
            if case["kind"] == "registration":
                r = webauthn.verify_registration_response(
                    credential=case["credential"], expected_challenge=bytes.fromhex(case["challenge"]),
                    expected_rp_id=case["rp_id"], expected_origin=case["origins"], require_user_verification=True)
                facts = {"credentialID": r.credential_id.hex(), "publicKey": r.credential_public_key.hex(),
                         "signCount": str(r.sign_count), "backupEligible": str(r.credential_device_type == "multi_device").lower(),
                         "backedUp": str(r.credential_backed_up).lower()}
            else:
                a = webauthn.verify_authentication_response(
                    credential=case["credential"], expected_challenge=bytes.fromhex(case["challenge"]),
                    expected_rp_id=case["rp_id"], expected_origin=case["origins"],
                    credential_public_key=bytes.fromhex(case["public_key"]),
                    credential_current_sign_count=case["sign_count"], require_user_verification=True)
                facts = {"signCount": str(a.new_sign_count), "backedUp": str(a.credential_backed_up).lower()}
            out.append({"ok": True, "facts": facts})
        except Exception as e:
            out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)
    """#

    // MARK: - Running Python

    /// What `script` prints as JSON after reading `input` as JSON on stdin; fails the test when python3 or the
    /// packages it imports are missing.
    static func python(_ script: String, input: Any) throws -> Any {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flux-webauthn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputFile = directory.appendingPathComponent("input.json")
        try JSONSerialization.data(withJSONObject: input).write(to: inputFile)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0,
                     "python3 failed (see stderr); install the packages with pip install -r Tests/integration/requirements.txt")
        return try JSONSerialization.jsonObject(with: data)
    }
}
